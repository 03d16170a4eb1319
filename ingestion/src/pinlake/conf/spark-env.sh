# Sourced by Spark's launcher scripts (bin/load-spark-env.sh, via spark-submit) when
# SPARK_CONF_DIR is this folder; pinlake.spark.get_spark sets it.
#
# Spark 4's launcher always starts the driver JVM with --add-modules=jdk.incubator.vector
# (org.apache.spark.launcher.JavaModuleOptions; no setting turns it off) and the JDK then prints
# "WARNING: Using incubator modules: jdk.incubator.vector" on stderr while it boots (no JVM option
# silences it). Drop exactly that line from the driver's stderr; everything else (log4j errors,
# stack traces, JVM failures) passes through unchanged.
quiet=(-e 'WARNING: Using incubator modules: jdk.incubator.vector')
# A shell's JAVA_TOOL_OPTIONS, _JAVA_OPTIONS and JDK_JAVA_OPTIONS (a company's trust store, an
# IDE's encoding) apply to the launcher's and the driver's JVM, and each JVM says so on stderr:
# two "Picked up JAVA_TOOL_OPTIONS: ..." lines before every command's output. The options stay;
# exactly those notices, with this shell's values, are dropped too.
if [ -n "${JAVA_TOOL_OPTIONS:-}" ]; then quiet+=(-e "Picked up JAVA_TOOL_OPTIONS: $JAVA_TOOL_OPTIONS"); fi
if [ -n "${_JAVA_OPTIONS:-}" ]; then quiet+=(-e "Picked up _JAVA_OPTIONS: $_JAVA_OPTIONS"); fi
if [ -n "${JDK_JAVA_OPTIONS:-}" ]; then quiet+=(-e "NOTE: Picked up JDK_JAVA_OPTIONS: $JDK_JAVA_OPTIONS"); fi
exec 2> >(grep --line-buffered -v -x -F "${quiet[@]}" >&2)
unset quiet

# A shell's Hadoop for another cluster (its core-site.xml's fs.defaultFS, an HDFS name node,
# became the session's) and another Hadoop's jars: Spark's launcher puts these on the class path
# once this file has run; a Hive client's hive-site.xml (its remote metastore became the
# sessions'); another machine's scratch folders, which override the driver's own. pinlake's
# Spark runs without them (pinlake.spark.SHELL_DROPPED).
unset HADOOP_CONF_DIR YARN_CONF_DIR SPARK_DIST_CLASSPATH HIVE_CONF_DIR HIVE_HOME SPARK_LOCAL_DIRS

# Spark's launcher puts SPARK_CONF_DIR (this folder) on the driver's class path, and the JDK maps
# a class-data archive only for a class path without a non-empty folder (pinlake.spark_cds): once
# the launcher has read this file, hand it the empty folder pinlake names instead. The logging
# configuration goes by -Dlog4j2.configurationFile, so nothing here is needed on the class path.
if [ -n "${PINLAKE_SPARK_CLASSPATH_CONF_DIR:-}" ]; then
  export SPARK_CONF_DIR="$PINLAKE_SPARK_CLASSPATH_CONF_DIR"
fi
