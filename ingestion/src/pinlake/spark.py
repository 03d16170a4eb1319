"""The one place that builds a Spark session.

Delta Lake extensions and catalog, the persistent Hive catalog (embedded Derby metastore and
warehouse under ``PINLAKE_HOME``), a UTC session time zone and the Maven-resolved jars
(``spark.jars``; nothing is downloaded at start-up). The dbt ``local`` target in ``profiles.yml``
sets the same keys from the same environment variables; ``tests/ingestion/test_spark_conf.py``
checks that the two never drift apart.

Embedded Derby admits one JVM at a time: a process that holds a session holds the metastore.
The continuous stream query (:mod:`pinlake.lakehouse.stream`) must run beside everything else, so
it asks for a session without the metastore (``metastore=False``: an in-memory catalog) and writes
its Delta tables by path.
pinlake commands open the session late and never stop it: the driver JVM, and with it the
embedded Derby metastore lock, ends when the Python process exits. That is why the pipeline runs
each Spark step and dbt in a process of its own (:mod:`pinlake.pipeline`).

Start-up chatter stays off the terminal (errors do not): ``conf/log4j2.properties`` gives PySpark's
driver logger the root's level, so Spark's ``Setting default log level to "WARN"`` banner is not
printed, and ``conf/spark-env.sh`` (found through ``SPARK_CONF_DIR``) drops the JDK's
``WARNING: Using incubator modules: jdk.incubator.vector`` line from the driver's stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pinlake.config import Settings, get_settings
from pinlake.errors import PinlakeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkSetupError(PinlakeError):
    """The Spark/Delta environment is not usable (missing jars, Java, a locked metastore)."""


def spark_conf(settings: Settings, metastore: bool = True) -> dict[str, str]:
    """Every Spark setting pinlake relies on, as strings (what profiles.yml sets too).

    ``metastore=False``: the same session with an in-memory catalog instead of the Hive
    metastore (tables are then addressed by path, ``delta.`<path>```).
    """
    home = settings.home
    conf = {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraClassPath": settings.spark_classpath,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{home}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={home}/metastore/metastore_db;create=true"
        ),
        "spark.driver.extraJavaOptions": (
            f"-Dderby.stream.error.file={home}/metastore/derby.log -Duser.timezone=UTC "
            f"-Dlog4j2.configurationFile={settings.log4j_config}"
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "4",
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if not metastore:
        conf["spark.sql.catalogImplementation"] = "in-memory"
        del conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    return conf


def _check_jars(settings: Settings) -> None:
    spark_jars = settings.jars_dir / "spark"
    if not any(spark_jars.glob("delta-spark_*.jar")):
        raise SparkSetupError(
            f"Delta jars not found in {spark_jars}: run `make setup` (resolves jvm/pom.xml)"
        )


def get_spark(
    settings: Settings | None = None, app_name: str = "pinlake", metastore: bool = True
) -> SparkSession:
    """Return the process's Spark session, creating it with :func:`spark_conf` if needed.

    A process has one session: the first call decides whether it uses the metastore.
    """
    settings = settings or get_settings()
    _check_jars(settings)
    settings.ensure_dirs()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_CONF_DIR", str(settings.log4j_config.parent))
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf(settings, metastore).items():
        builder = builder.config(key, value)
    if metastore:
        builder = builder.enableHiveSupport()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def spark_errors(settings: Settings) -> Iterator[None]:
    """Turn the usual environment failures of a Spark job into one readable line."""
    try:
        yield
    except PinlakeError:
        raise
    except Exception as exc:  # py4j / pyspark errors carry the JVM message in str()
        text = str(exc)
        if "Another instance of Derby" in text or "Failed to start database" in text:
            raise SparkSetupError(
                f"the metastore in {settings.metastore_dir} is in use by another process "
                "(dbt, pinlake or Airflow on the same PINLAKE_HOME); wait for it or use another"
            ) from exc
        if "JAVA_GATEWAY_EXITED" in text or "Java gateway process exited" in text:
            raise SparkSetupError("Spark could not start: is Java 17+ installed?") from exc
        raise
