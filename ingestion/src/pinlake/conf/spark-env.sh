# Sourced by Spark's launcher scripts (bin/load-spark-env.sh, via spark-submit) when
# SPARK_CONF_DIR is this folder; pinlake.spark.get_spark sets it.
#
# Spark 4's launcher always starts the driver JVM with --add-modules=jdk.incubator.vector
# (org.apache.spark.launcher.JavaModuleOptions; no setting turns it off) and the JDK then prints
# "WARNING: Using incubator modules: jdk.incubator.vector" on stderr while it boots (no JVM option
# silences it). Drop exactly that line from the driver's stderr; everything else (log4j errors,
# stack traces, JVM failures) passes through unchanged.
exec 2> >(grep --line-buffered -v -x -F 'WARNING: Using incubator modules: jdk.incubator.vector' >&2)

# Spark's launcher puts SPARK_CONF_DIR (this folder) on the driver's class path, and the JDK maps
# a class-data archive only for a class path without a non-empty folder (pinlake.spark_cds): once
# the launcher has read this file, hand it the empty folder pinlake names instead. The logging
# configuration goes by -Dlog4j2.configurationFile, so nothing here is needed on the class path.
if [ -n "${PINLAKE_SPARK_CLASSPATH_CONF_DIR:-}" ]; then
  export SPARK_CONF_DIR="$PINLAKE_SPARK_CLASSPATH_CONF_DIR"
fi
