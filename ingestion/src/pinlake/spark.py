"""The one place that builds a Spark session.

Delta Lake extensions and catalog, the persistent Hive catalog (embedded Derby metastore and
warehouse under ``PINLAKE_HOME``), a UTC session time zone and the Maven-resolved jars
(``spark.jars``; nothing is downloaded at start-up). The dbt ``local`` target in ``profiles.yml``
sets the same keys from the same environment variables; ``tests/ingestion/test_spark_conf.py``
checks that the two never drift apart.

The metastore is decided here, once (:func:`metastore_connection`): the embedded Derby database
under ``PINLAKE_HOME`` (the zero-setup default), the home's shared metastore server while
``pinlake services up --metastore`` runs it (:mod:`pinlake.services.metastore`), or the JDBC URL
of ``PINLAKE_METASTORE_URL`` (PostgreSQL in production). :func:`session_env` carries the
decision to child processes (dbt's ``local`` target reads it through ``PINLAKE_METASTORE_*``), so
a parent and its children always use the same metastore.

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

Ctrl-C (SIGINT) in a process that holds a session cancels its Spark jobs and ends the command
with one line (:func:`interrupt_spark`), not PySpark's own handler and the py4j tracebacks it
caused (it cancels from inside the py4j call that the signal interrupted).

The driver JVM maps the class-data archive ``make setup`` wrote for its class path, when there is
one (:mod:`pinlake.spark_cds`, :func:`driver_cds_options`): it starts on less CPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from pinlake.blank_free import blank_free_path
from pinlake.config import Settings, get_settings, java_executable, local_master_url, spark_home
from pinlake.console import PINLAKE
from pinlake.errors import INTERRUPTED, TERMINATED, PinlakeError, causes
from pinlake.location import (
    HOME_FORBIDDEN,
    HOME_NAMED,
    aws_file,
    aws_key_pair,
    aws_profile_check,
    s3_endpoint,
    spark_path_problem,
)
from pinlake.loopback import no_proxy_env

if TYPE_CHECKING:
    from types import FrameType

    from pyspark import SparkContext
    from pyspark.sql import SparkSession


class SparkSetupError(PinlakeError):
    """The Spark/Delta environment is not usable (missing jars, Java, a locked metastore)."""


#: Derby's JDBC drivers (embedded, network client) and PostgreSQL's.
EMBEDDED_DRIVER = "org.apache.derby.jdbc.EmbeddedDriver"
CLIENT_DRIVER = "org.apache.derby.jdbc.ClientDriver"
POSTGRES_DRIVER = "org.postgresql.Driver"


@dataclass(frozen=True)
class MetastoreConnection:
    """Where the Hive metastore of a Spark session lives.

    ``kind``: ``embedded`` (Derby in the session's own JVM: one process at a time), ``server``
    (this home's Derby network server, shared) or ``external`` (a JDBC URL from
    ``PINLAKE_METASTORE_URL``, e.g. PostgreSQL; shared). ``driver_jar``: the JDBC driver to put
    on the driver's class path (None: pyspark ships it). ``user``/``password``: Hive's defaults
    (``APP``/``mine``) unless set.
    """

    kind: Literal["embedded", "server", "external"]
    url: str
    driver: str
    driver_jar: str | None = None
    user: str = "APP"
    password: str = "mine"

    @property
    def shared(self) -> bool:
        """True when several processes may use it at once (not embedded Derby)."""
        return self.kind != "embedded"

    @property
    def location(self) -> str:
        """Where it is, for people: an embedded database's folder (the ``databaseName``
        attribute or the name before the first ``;`` of a ``jdbc:derby:`` URL, Derby's
        "Database connection URL" syntax), else the URL as :func:`redact_url` shows it."""
        if self.kind != "embedded":
            return redact_url(self.url)
        name, *attributes = self.url.removeprefix("jdbc:derby:").split(";")
        for attribute in attributes:
            key, _, value = attribute.partition("=")
            if key.strip() == "databaseName":
                return value
        return name


def redact_url(url: str) -> str:
    """``url`` with its secrets shown as ``***``: the value of any ``password=`` attribute or
    parameter (Derby's ``;password=``, a JDBC driver's ``?password=`` / ``&password=``, any
    case) and the password of a ``user:password@`` part. For messages and status lines: a JDBC
    URL may carry the metastore's password."""
    url = re.sub(r"(?i)(password=)[^;&]*", r"\1***", url)
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)


def embedded_metastore_url(settings: Settings) -> str:
    """The embedded Derby database of the home (created on first use)."""
    from pinlake.run_folder import metastore_database_dir

    return f"jdbc:derby:;databaseName={metastore_database_dir(settings)};create=true"


def embedded_metastore_exists(settings: Settings) -> bool | None:
    """Whether the home's embedded Derby database exists (its folder), or None when the
    session would use another metastore (:func:`metastore_connection`: a shared or external
    one, which only a session can ask). Starts nothing."""
    connection = metastore_connection(settings)
    if connection.kind != "embedded" or connection.url != embedded_metastore_url(settings):
        return None
    from pinlake.run_folder import metastore_database_dir

    return metastore_database_dir(settings).is_dir()


def metastore_connection(settings: Settings) -> MetastoreConnection:
    """The metastore this process's Spark session uses, decided in this order:
    ``settings.metastore_url`` (an embedded ``jdbc:derby:`` URL, the network ``jdbc:derby://``
    one or ``jdbc:postgresql:``; what :func:`session_env` passes to a child), else this
    home's metastore server if it runs, else the embedded database.

    Raises :class:`SparkSetupError` for a URL of another database, or when the client driver's
    jar has not been resolved (``make setup``).
    """
    from pinlake import run_folder

    user = settings.metastore_user or "APP"
    password = (
        settings.metastore_password.get_secret_value() if settings.metastore_password else "mine"
    )
    url = settings.metastore_url or run_folder.running_metastore_url(settings)
    try:
        if url is None or (url.startswith("jdbc:derby:") and not url.startswith("jdbc:derby://")):
            return MetastoreConnection(
                "embedded", url or embedded_metastore_url(settings), EMBEDDED_DRIVER
            )
        if url.startswith("jdbc:derby://"):
            ours = url == run_folder.metastore_url(settings) or not settings.metastore_url
            kind = "server" if ours else "external"
            jar = str(run_folder.metastore_client_jar(settings, "derbyclient"))
            return MetastoreConnection(kind, url, CLIENT_DRIVER, jar, user, password)
        if url.startswith("jdbc:postgresql:"):
            jar = str(run_folder.metastore_client_jar(settings, "postgresql"))
            return MetastoreConnection("external", url, POSTGRES_DRIVER, jar, user, password)
    except PinlakeError as exc:
        raise SparkSetupError(str(exc)) from exc
    raise SparkSetupError(
        f"PINLAKE_METASTORE_URL={redact_url(url)!r}: use jdbc:derby:… (embedded), "
        "jdbc:derby://… (a Derby network server) or jdbc:postgresql://…"
    )


def metastore_env(settings: Settings) -> dict[str, str]:
    """The variables through which dbt's ``local`` target (profiles.yml) uses
    :func:`metastore_connection`'s metastore: ``PINLAKE_METASTORE_JDBC_URL``,
    ``PINLAKE_METASTORE_DRIVER`` and ``PINLAKE_SPARK_CLASSPATH`` (with the driver's jar); user
    and password come from the settings' own variables (``PINLAKE_METASTORE_USER`` / ``_PASSWORD``,
    Hive's ``APP``/``mine`` when unset). A pinlake child process decides again from the same
    settings and the same home, and so uses the same metastore."""
    ms = metastore_connection(settings)
    return {
        "PINLAKE_METASTORE_JDBC_URL": ms.url,
        "PINLAKE_METASTORE_DRIVER": ms.driver,
        "PINLAKE_SPARK_CLASSPATH": _classpath(settings, ms),
    }


#: The master when ``PINLAKE_SPARK_MASTER`` is not set and no cluster of the home runs.
LOCAL_MASTER = "local[2]"


def spark_master(settings: Settings) -> str:
    """The master URL of this process's Spark session, decided in this order:
    ``settings.spark_master`` (``PINLAKE_SPARK_MASTER``, used as given), else this home's
    standalone cluster while it runs (``spark://127.0.0.1:<port>``, ``pinlake services up
    --spark-cluster``, :mod:`pinlake.services.spark_cluster`), else :data:`LOCAL_MASTER`.
    :func:`session_env` passes the decision to dbt's ``local`` target
    (``PINLAKE_SPARK_MASTER_URL``)."""
    if settings.spark_master:
        return settings.spark_master
    from pinlake.run_folder import running_master_url

    return running_master_url(settings) or LOCAL_MASTER


def derby_classpath(settings: Settings) -> str:
    """The driver class path of a session on a Derby metastore, embedded or a server: pinlake's
    jars (``<jars_dir>/spark/*``), then Derby's network client jar once ``make setup`` has
    resolved it. The embedded metastore does not need the client; it is there so that both
    kinds have one class path, and with it one class-data archive (:mod:`pinlake.spark_cds`):
    the Thrift server and the sessions on the shared metastore start on it too."""
    from pinlake import run_folder

    try:
        client = run_folder.metastore_client_jar(settings, "derbyclient")
    except PinlakeError:
        return settings.spark_classpath  # not resolved: a server metastore says so itself
    return f"{settings.spark_classpath}:{client}"


def _classpath(settings: Settings, ms: MetastoreConnection) -> str:
    if ms.driver == POSTGRES_DRIVER:
        return f"{settings.spark_classpath}:{ms.driver_jar}"
    return derby_classpath(settings)


def driver_classpath(settings: Settings) -> str:
    """The driver's extra class path (``spark.driver.extraClassPath``) for
    :func:`metastore_connection`'s metastore: :func:`derby_classpath` for Derby (embedded or
    a server), pinlake's jars and PostgreSQL's driver jar for PostgreSQL."""
    return _classpath(settings, metastore_connection(settings))


def driver_cds_options(settings: Settings, classpath: str | None = None) -> str:
    """The driver JVM's options for its class-data archive (:mod:`pinlake.spark_cds`), given its
    extra class path (default: :func:`driver_classpath`): ``"-XX:SharedArchiveFile=<archive>"
    -Xlog:…=off`` (the path quoted: :func:`java_option`), or ``""`` when that class path has
    none, or when the JVM is to write one (``-XX:ArchiveClassesAtExit`` in
    ``PINLAKE_JVM_OPTIONS``: a JVM that writes an archive maps none of its own)."""
    from pinlake import spark_cds

    if "-XX:ArchiveClassesAtExit" in settings.jvm_options:
        return ""
    archive = spark_cds.mapped_archive(settings, classpath or driver_classpath(settings))
    if archive is None:
        return ""
    return f"{java_option(f'-XX:SharedArchiveFile={archive}')} {spark_cds.QUIET}"


#: The time zone of every Spark session pinlake opens (``spark.sql.session.timeZone``, the JVMs'
#: ``user.timezone``; profiles.yml says the same) and of every Python process that reads their
#: rows (:func:`use_session_time_zone`, ``TZ`` in :func:`session_env`).
SESSION_TIME_ZONE = "UTC"


def use_session_time_zone() -> None:
    """Make this Python process's local time zone the sessions' (:data:`SESSION_TIME_ZONE`):
    ``TZ`` and :func:`time.tzset`.

    PySpark turns a ``TIMESTAMP`` into a naive :class:`datetime.datetime` in the process's local
    zone (``pyspark.sql.types.TimestampType.fromInternal``: ``datetime.fromtimestamp``), while
    the sessions compute in UTC; from a shell with ``TZ=America/Los_Angeles`` every timestamp
    ``pinlake export`` and ``dbt show`` gave was 7 or 8 hours early, and in 19 rows of
    ``pins.csv`` its year disagreed with ``post_year`` beside it (helper-68). pinlake's own
    times are durations or carry their offset, so nothing else it shows moves."""
    os.environ["TZ"] = SESSION_TIME_ZONE
    time.tzset()


def conf_dir(settings: Settings) -> str:
    """The ``SPARK_CONF_DIR`` of pinlake's sessions: pinlake's conf/ (spark-env.sh, log4j2),
    through :func:`blank_free_path`. The shell's is kept only when it is that folder (the
    Makefile's lint gives it through such a link): another one, a data engineer's for another
    Spark, brought its spark-defaults.conf (an event log in a folder that does not exist: a
    168-line traceback) and left out pinlake's spark-env.sh, whose JDK line then reached the
    terminal and whose class-data archive went unused (helper-68)."""
    own = settings.log4j_config.parent
    given = os.environ.get("SPARK_CONF_DIR")
    if given and Path(given).resolve() == own.resolve():
        return blank_free_path(given)
    return blank_free_path(str(own))


#: The variables of :func:`launcher_env` that are pinlake's whatever the shell says (a shell set
#: up for another Spark: README, "A shell set up for other tools").
SHELL_REPLACED = frozenset(
    {"SPARK_HOME", "SPARK_CONF_DIR", "PYSPARK_SUBMIT_ARGS", "PYSPARK_PYTHON", "SPARK_LOCAL_IP"}
    | {"NO_PROXY", "no_proxy"}
)

#: A shell's variables for another Hadoop or Spark install that Spark's launcher puts on every
#: JVM's class path (``AbstractCommandBuilder.buildClassPath``): its ``core-site.xml``'s
#: ``fs.defaultFS`` (an HDFS name node) became the session's, and land stopped in a traceback
#: ("Call From … to <namenode>:8020 failed on connection exception"); another Hadoop's jars
#: beside the wheel's. A Hive client's ``HIVE_CONF_DIR`` and ``HIVE_HOME``, where the metastore
#: client looks for a hive-site.xml (Hive 2.3's ``HiveConf.findConfigFile``): its
#: ``hive.metastore.uris`` took every session to that remote metastore, which pinlake's databases
#: would have been created in ("Unable to instantiate SessionHiveMetaStoreClient" when it could
#: not be reached). And ``SPARK_LOCAL_DIRS``, which overrides the driver's scratch folder
#: (``spark.local.dir``, :func:`scratch_conf`): another machine's ``/mnt/…`` failed the driver's
#: start ("Failed to create directory …/blockmgr-…", then py4j's "Connection refused"). pinlake's
#: Spark runs without them: conf/spark-env.sh unsets them for every
#: launch with pinlake's conf (sessions, dbt's ``local`` target, the Thrift server, the lint's
#: templater), :func:`pinlake.services.spark_cluster.daemon_env` for the standalone daemons and
#: their executors.
SHELL_DROPPED = (
    "HADOOP_CONF_DIR",
    "YARN_CONF_DIR",
    "SPARK_DIST_CLASSPATH",
    "HIVE_CONF_DIR",
    "HIVE_HOME",
    "SPARK_LOCAL_DIRS",
)

#: A Spark Connect user's variables, which make PySpark's ``SparkSession.builder`` open a Spark
#: Connect session (to ``SPARK_REMOTE``, or a local Connect server) instead of the driver JVM
#: pinlake configures (``pyspark.sql.session.SparkSession.Builder.getOrCreate``): ``land``
#: stopped in a traceback (``CANNOT_CONFIGURE_SPARK_CONNECT_MASTER``; with
#: ``SPARK_API_MODE=connect``, grpcio-status "must be installed"). :func:`get_spark` removes
#: them from its process, :func:`session_env` from a child's (dbt's ``local`` target opens its
#: session with the same builder).
SPARK_CONNECT_VARIABLES = (
    "SPARK_REMOTE",
    "SPARK_CONNECT_MODE_ENABLED",
    "SPARK_LOCAL_REMOTE",
    "SPARK_API_MODE",
)


def launcher_env(settings: Settings) -> dict[str, str]:
    """What Spark's launcher needs in the environment of a process that opens a session (set by
    :func:`get_spark`, carried to dbt by :func:`session_env`): ``SPARK_HOME``, always the
    pyspark wheel's (:func:`pinlake.config.spark_home`), and ``PYSPARK_SUBMIT_ARGS``,
    ``SPARK_CONF_DIR`` (pinlake's conf/, with its spark-env.sh; :func:`conf_dir`), the empty
    folder that spark-env.sh puts on the class path instead
    (:func:`pinlake.spark_cds.launcher_env`) and, for profiles.yml,
    ``PINLAKE_SPARK_CDS_OPTIONS`` (:func:`driver_cds_options`).

    PySpark launches ``$SPARK_HOME/bin/spark-submit`` when the variable is set
    (``pyspark.find_spark_home``), and a data engineer's shell often sets it for another Spark
    install: pinlake's jars, Delta's included, are for the wheel's Spark, so the shell's is
    replaced (``pinlake land`` from such a shell failed: ``…/bin/spark-submit: No such file
    or directory``). The Spark cluster and the Thrift server set the same home. For the same
    reason ``PYSPARK_SUBMIT_ARGS`` is PySpark's own default, ``pyspark-shell``: a notebook
    user's ``--packages io.delta:delta-spark_2.13:4.0.0 pyspark-shell`` had Spark's Ivy fetch
    a second Delta onto the class path beside pinlake's. ``PYSPARK_PYTHON`` is this
    virtualenv's Python (a conda shell's other Python failed every Python worker: helper-69),
    ``NO_PROXY`` names loopback (:func:`pinlake.loopback.no_proxy_env`: the AWS SDK of
    ``s3a://`` follows the shell's proxy for any other host), and ``SPARK_LOCAL_IP`` is
    loopback, as every service pinlake starts (a shell's other address left the driver unable
    to bind: helper-68)."""
    from pinlake import spark_cds

    return {
        "SPARK_HOME": str(spark_home()),
        "PYSPARK_SUBMIT_ARGS": "pyspark-shell",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        **no_proxy_env(os.environ),
        "SPARK_CONF_DIR": conf_dir(settings),
        **spark_cds.launcher_env(settings),
        "PINLAKE_SPARK_CDS_OPTIONS": driver_cds_options(settings),
    }


def session_env(settings: Settings) -> dict[str, str]:
    """Environment for a child process that opens a Spark session or runs dbt (its ``local``
    target is a Spark session: profiles.yml reads these variables): :meth:`Settings.child_env`
    plus this process's Spark decisions, so that the child agrees with it: the metastore
    (:func:`metastore_env`), the launcher's folders and the driver's class-data archive
    (:func:`launcher_env`), the master (``PINLAKE_SPARK_MASTER_URL``, :func:`spark_master`)
    and the sessions' time zone (``TZ``, :func:`use_session_time_zone`), without a Spark
    Connect user's variables (:data:`SPARK_CONNECT_VARIABLES`). For dbt's ``local`` target,
    this process's scratch folder (:func:`scratch_dir`, :func:`scratch_settings`:
    ``PINLAKE_SPARK_LOCAL_DIR``, ``PINLAKE_SPARK_TMPDIR_OPTION``; :func:`make_scratch_dir`
    creates it before a dbt run): dbt-spark's driver left its scratch in ``/tmp`` when killed.
    """
    env = settings.child_env()
    for name in SPARK_CONNECT_VARIABLES:  # a classic session, as this process opens
        env.pop(name, None)
    scratch = scratch_settings(scratch_dir(settings))
    return {
        **env,
        **metastore_env(settings),
        **launcher_env(settings),
        "PINLAKE_SPARK_MASTER_URL": spark_master(settings),
        "TZ": SESSION_TIME_ZONE,  # the rows it reads: use_session_time_zone
        # dbt's local target: this process's scratch folder (scratch_conf), as a session here
        # would use; the driver of a pinlake child has its own (get_spark)
        "PINLAKE_SPARK_LOCAL_DIR": scratch.local_dir,
        "PINLAKE_SPARK_TMPDIR_OPTION": scratch.tmpdir_option,
    }


#: The jar ``make setup`` compiles jvm/hadoop into, in ``<jars_dir>/spark`` (Makefile:
#: ``HADOOP_LOCAL_JAR``).
LOCAL_FILE_SYSTEM_JAR = "pinlake-hadoop-local.jar"
#: The jar ``make setup`` compiles jvm/aws-sdk-slf4j into (Makefile: ``AWS_SDK_SLF4J_JAR``): the
#: SLF4J 1.x binding the AWS SDK bundle (hadoop-aws's, for ``s3a://``) looks for, answering with
#: Spark's SLF4J 2. Without it the SDK's first S3 call prints ``SLF4J: Failed to load class
#: "org.slf4j.impl.StaticLoggerBinder"`` and every SDK log event, errors too, goes nowhere
#: (aws/aws-sdk-java-v2 issue 5312).
AWS_SDK_SLF4J_JAR = "pinlake-aws-sdk-slf4j.jar"
#: pinlake's own jars on every Spark class path → the jvm/ folder each is compiled from.
OWN_JARS = {LOCAL_FILE_SYSTEM_JAR: "jvm/hadoop", AWS_SDK_SLF4J_JAR: "jvm/aws-sdk-slf4j"}
#: Hadoop's local file system for ``file:`` paths, through both of its APIs (``FileSystem`` and
#: ``FileContext``, which Delta's log store and checkpoint files use): pinlake's classes
#: (jvm/hadoop, in :data:`LOCAL_FILE_SYSTEM_JAR` on the Spark class path), which set permissions
#: and read a path's link status through Java NIO where Hadoop without its native library forks
#: ``chmod`` and ``readlink``, about four processes per Delta commit (bench/README.md).
LOCAL_FILE_SYSTEM = {
    "spark.hadoop.fs.file.impl": "pinlake.hadoop.NioLocalFileSystem",
    "spark.hadoop.fs.AbstractFileSystem.file.impl": "pinlake.hadoop.NioLocalFs",
}


def java_option(option: str) -> str:
    """``option`` (one JVM option, e.g. ``-Dkey=<a path>``) quoted as Spark reads a list of
    them: ``"…"``, with ``\\`` and ``"`` escaped by a backslash. Spark splits
    ``spark.driver/executor.extraJavaOptions`` at blanks outside quotes (its launcher's
    ``CommandBuilderUtils.parseOptionString``, a worker's ``Utils.splitCommandString``): a home
    or a clone whose path held a space made the driver JVM take the path's second part for its
    main class ("Could not find or load main class …"). Options that hold a path are always
    quoted (profiles.yml quotes the same ones the same way)."""
    return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spark_conf(settings: Settings, metastore: bool = True) -> dict[str, str]:
    """Every Spark setting pinlake relies on, as strings (what profiles.yml sets too).

    ``metastore=False``: the same session with an in-memory catalog instead of the Hive
    metastore (tables are then addressed by path, ``delta.`<path>```).

    The master is :func:`spark_master`'s. On a cluster the executors run in JVMs of their own:
    they get the driver's class path (Delta, the Kafka connector, hadoop-aws) and its UTC and
    logging options through the ``spark.executor.*`` keys (ignored by a ``local`` master).
    """
    home = settings.home
    ms = metastore_connection(settings)
    classpath = _classpath(settings, ms)
    jvm_options = f" {settings.jvm_options}" if settings.jvm_options else ""
    cds = driver_cds_options(settings, classpath)
    cds_options = f" {cds}" if cds else ""
    log4j = java_option(f"-Dlog4j2.configurationFile={settings.log4j_config}")
    conf = {
        "spark.master": spark_master(settings),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        "spark.executor.extraJavaOptions": (
            f"-Duser.timezone={SESSION_TIME_ZONE} {log4j}{jvm_options}"
        ),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": f"{home}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": ms.url,
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": ms.driver,
        "spark.hadoop.javax.jdo.option.ConnectionUserName": ms.user,
        "spark.hadoop.javax.jdo.option.ConnectionPassword": ms.password,
        "spark.driver.extraJavaOptions": (
            f"{java_option(f'-Dderby.stream.error.file={home}/metastore/derby.log')}"
            f" -Duser.timezone={SESSION_TIME_ZONE} {log4j}{cds_options}{jvm_options}"
        ),
        # each Hive session's folder (Hive's default: <java.io.tmpdir>/<session id>_resources,
        # left in /tmp by every session), in the home; empty ones are pruned (get_spark)
        "spark.hadoop.hive.downloaded.resources.dir": (
            f"{hive_resources_dir(settings)}/${{hive.session.id}}_resources"
        ),
        "spark.sql.session.timeZone": SESSION_TIME_ZONE,
        **codegen_conf(settings.spark_codegen),
        **shape_conf(settings.spark_adaptive, settings.spark_partitions),
        **LOCAL_FILE_SYSTEM,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    if not metastore:
        conf["spark.sql.catalogImplementation"] = "in-memory"
        for key in [k for k in conf if k.startswith("spark.hadoop.javax.jdo.")]:
            del conf[key]
    return conf


def session_conf(settings: Settings, metastore: bool = True) -> dict[str, str]:
    """The whole configuration of a session this process opens: :func:`spark_conf` with this
    process's scratch folder (:func:`scratch_conf`, :func:`scratch_dir`). :func:`get_spark`
    builds its session with it, and dbt's ``local`` target in a child of this process renders
    the same (profiles.yml, from :func:`session_env`)."""
    return scratch_conf(spark_conf(settings, metastore), scratch_dir(settings))


def hive_resources_dir(settings: Settings) -> Path:
    """``<home>/tmp/hive-resources``: where each Spark session with the Hive catalog gets the
    folder Hive makes for the resources a session downloads (``hive.downloaded.resources.dir``,
    Hive's ``SessionState``; one empty folder per session, which neither Hive nor Spark
    removes)."""
    return settings.home / "tmp" / "hive-resources"


def prune_hive_resources(settings: Settings, older_than: float = 3600.0) -> int:
    """Remove the empty session folders in :func:`hive_resources_dir` last changed more than
    ``older_than`` seconds ago (a session that runs keeps its own); returns how many. Never
    raises."""
    removed = 0
    cutoff = time.time() - older_than
    with contextlib.suppress(OSError):
        for folder in hive_resources_dir(settings).glob("*_resources"):
            with contextlib.suppress(OSError):
                if folder.stat().st_mtime < cutoff:
                    folder.rmdir()  # only when empty
                    removed += 1
    return removed


def scratch_dir(settings: Settings, pid: int | None = None) -> Path:
    """``<home>/tmp/spark-scratch/<pid>``: the scratch folder of the driver JVM that process
    ``pid`` (default: this one) starts (:func:`scratch_conf`)."""
    return settings.home / "tmp" / "spark-scratch" / str(os.getpid() if pid is None else pid)


def make_scratch_dir(settings: Settings) -> Path:
    """Create :func:`scratch_dir` (this process's) and return it: a driver's ``java.io.tmpdir``
    must exist before its JVM starts (a session here, dbt's ``local`` target in a child).
    Raises :class:`OSError` when it cannot."""
    scratch = scratch_dir(settings)
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch


def scratch_conf(conf: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """``conf`` with the driver JVM's scratch files in ``scratch``: ``spark.local.dir`` (Spark's
    ``spark-*`` and ``blockmgr-*`` folders, shuffle and spill files among them; an executor of a
    cluster keeps its worker's own, which Spark's standalone worker, YARN and Kubernetes set)
    and ``java.io.tmpdir`` (``artifacts-*`` and what else the JVM writes there). A JVM that
    ends runs the shutdown hook that deletes them; one that is killed (:func:`kill_driver`, a
    start cut short: :func:`_start`) runs none, and left them in ``/tmp`` for good: they are
    removed after the kill, and those of processes that have ended by the next session's start
    (:func:`prune_scratch_dirs`). ``spark.local.dir`` is a comma-separated list and Spark splits
    Java options at blanks: for a home whose path holds a comma it is the system's temporary
    folder (:func:`tempfile.gettempdir`, Spark's default when ``java.io.tmpdir`` is that), and
    the option is quoted (:func:`java_option`). Unset, Spark reads ``java.io.tmpdir`` as that
    list (``Utils.getConfiguredLocalDirs``): a home ``/tmp/co,mma/home`` put its folders in
    ``/tmp/co`` and in ``mma/home/…`` under the working directory."""
    found = scratch_settings(scratch)
    conf = {**conf, "spark.local.dir": found.local_dir}
    options = f"{conf.get('spark.driver.extraJavaOptions', '')} {found.tmpdir_option}"
    conf["spark.driver.extraJavaOptions"] = options.strip()
    return conf


class ScratchSettings(NamedTuple):
    """:func:`scratch_settings`: ``local_dir``, the value of ``spark.local.dir``;
    ``tmpdir_option``, the quoted ``-Djava.io.tmpdir=<scratch>`` option that ends the
    driver's Java options."""

    local_dir: str
    tmpdir_option: str


def scratch_settings(scratch: Path) -> ScratchSettings:
    """The two values :func:`scratch_conf` adds for ``scratch``: ``spark.local.dir`` (the
    system's temporary folder for a path holding a comma) and the driver's ``java.io.tmpdir``
    option. The one rule for both kinds of session, pinlake's and dbt's ``local`` target
    (:func:`session_env` passes them to profiles.yml), and the standalone workers."""
    import tempfile

    local = tempfile.gettempdir() if "," in str(scratch) else str(scratch)
    return ScratchSettings(local, java_option(f"-Djava.io.tmpdir={scratch}"))


def prune_scratch_dirs(settings: Settings) -> int:
    """Remove the scratch folders (:func:`scratch_dir`) of the home's processes that have
    ended, whatever they hold (a killed driver JVM's files); returns how many. A folder of a
    process that runs is kept (a pid reused by another process keeps it until that one ends).
    Never raises."""
    import shutil

    import psutil

    removed = 0
    with contextlib.suppress(OSError):
        for folder in scratch_dir(settings).parent.iterdir():
            if folder.name.isdigit() and not psutil.pid_exists(int(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)
                removed += not folder.exists()
    return removed


def codegen_conf(enabled: bool) -> dict[str, str]:
    """Spark's code generation on (``enabled``: Spark's defaults, stated) or off
    (``Settings.spark_codegen``, ``PINLAKE_SPARK_CODEGEN``), as Spark settings:

    - ``spark.sql.codegen.wholeStage``: whole-stage code generation, one Java class compiled
      (Janino) per stage of a query; ``false`` runs each operator on its own;
    - ``spark.sql.codegen.factoryMode``: the code generators of expressions (projections,
      predicates, orderings), which the plan of every statement asks for, Delta's commits
      included. ``FALLBACK`` (Spark's default) compiles them and falls back to interpreted
      evaluation only when compiling fails; ``NO_CODEGEN`` always evaluates them interpreted.
      Spark's SQLConf marks this key internal, made for its test suites; the interpreted
      evaluation it selects is the same code as the fallback the default uses.

    Both modes give the same results (Spark's interpreted and compiled evaluation are tested
    against each other); only the cost differs: compiling pays off on large data and costs more
    than it saves on small data (bench/bench_codegen.py)."""
    return {
        "spark.sql.codegen.wholeStage": "true" if enabled else "false",
        "spark.sql.codegen.factoryMode": "FALLBACK" if enabled else "NO_CODEGEN",
    }


def shape_conf(adaptive: bool, partitions: int) -> dict[str, str]:
    """How Spark shapes a query's stages (``Settings.spark_adaptive``, ``PINLAKE_SPARK_ADAPTIVE``;
    ``Settings.spark_partitions``, ``PINLAKE_SPARK_PARTITIONS``), as Spark settings:

    - ``spark.sql.adaptive.enabled``: adaptive query execution (Spark's default: on), which
      plans a query again between its stages (coalescing shuffle partitions, switching joins);
    - ``spark.sql.shuffle.partitions``: ``partitions``, the tasks of a shuffle's next stage;
    - ``spark.databricks.delta.snapshotPartitions``: half of them, at least one, the tasks of
      Delta's state reconstruction (a table's snapshot: its log's actions, partitioned by path;
      Delta's default, 50, made each commit run 50 tasks on small tables).

    The defaults (on, 4 and 2) suit a laptop's cores; on small data (the test suite: hundreds
    of statements over a few thousand rows) off and 1 cost less: land and ``dbt build`` of 10k
    events, three interleaved runs, 144 against 161 CPU-s (medians; bench/README.md). The
    results are the same either way."""
    return {
        "spark.sql.adaptive.enabled": "true" if adaptive else "false",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.databricks.delta.snapshotPartitions": str(max(1, partitions // 2)),
    }


def s3a_conf(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Hadoop S3A settings (``fs.s3a.*``) for ``s3a://`` paths (the topics bucket on S3,
    Delta tables on S3), from the standard AWS variables boto3 reads too (default:
    ``os.environ``); ``{}`` when none is set (then S3A's own defaults and credential chain,
    e.g. an instance role, apply).

    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` → ``fs.s3a.endpoint`` with path-style
    access (what S3-compatible servers such as ``pinlake services up --s3`` serve) and TLS as
    its scheme says; ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` → ``fs.s3a.endpoint.region``;
    ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``) → the key
    settings with the simple (temporary) credentials provider. Without that pair, the profile
    boto3 signs the bucket's requests with (``AWS_PROFILE``, else ``default``), which S3A's
    default chain does not read (``land`` then failed with ``NoAuthWithAWSException`` after
    ``sink`` had written with the profile): where boto3 takes its keys from the shared
    credentials file (``AWS_SHARED_CREDENTIALS_FILE``, else ``~/.aws/credentials``), Hadoop's
    ``ProfileAWSCredentialsProvider`` on that file, then the instance role; where boto3 takes
    them elsewhere (:func:`_profile_credentials`: ``credential_process``, SSO, an assumed role,
    keys in the config file, which that provider does not read), the keys boto3 resolves now,
    as temporary or simple credentials (valid as long as they are: each :func:`get_spark`
    resolves them again). Hadoop's names: hadoop-aws "Connecting to an Amazon S3 Bucket through
    the S3A Connector" and "Authenticating with S3".

    :func:`get_spark` sets them on the session's Hadoop configuration at run time, never as
    ``spark.hadoop.*`` start-up options: those would put the secret on the JVM's command line.
    """
    env = os.environ if environ is None else environ
    conf: dict[str, str] = {}
    _, endpoint = s3_endpoint(env) or (None, None)
    if endpoint:
        conf["fs.s3a.endpoint"] = endpoint
        conf["fs.s3a.path.style.access"] = "true"
        conf["fs.s3a.connection.ssl.enabled"] = str(not endpoint.startswith("http://")).lower()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region or endpoint:
        conf["fs.s3a.endpoint.region"] = region or "us-east-1"
    pair, token = aws_key_pair(env), env.get("AWS_SESSION_TOKEN")
    resolved = (*pair, token) if pair else _profile_credentials(env)
    if resolved is not None:
        key, secret, token = resolved
        conf["fs.s3a.access.key"] = key
        conf["fs.s3a.secret.key"] = secret
        if token:
            conf["fs.s3a.session.token"] = token
        provider = "Temporary" if token else "Simple"
        conf["fs.s3a.aws.credentials.provider"] = (
            f"org.apache.hadoop.fs.s3a.{provider}AWSCredentialsProvider"
        )
        return conf
    credentials_file = aws_file(env, "AWS_SHARED_CREDENTIALS_FILE")
    # the provider refuses to start on a file that does not exist (and with it the whole chain)
    if credentials_file is not None and credentials_file.is_file():
        conf["fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.auth.ProfileAWSCredentialsProvider,"
            "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"
        )
        conf["fs.s3a.auth.profile.file"] = str(credentials_file)
        conf["fs.s3a.auth.profile.name"] = env.get("AWS_PROFILE") or "default"
    return conf


#: boto3's credential providers :func:`_profile_credentials` leaves out: the environment's key
#: pair (:func:`s3a_conf` reads ``environ``'s) and the two instance roles (S3A's IAM provider
#: asks for them itself; here they would cost a network timeout where there is no instance).
_NOT_RESOLVED = ("env", "container-role", "iam-role")


def _profile_credentials(env: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """The keys ``(access key, secret key, session token or None)`` boto3 signs with for the
    profile of ``env`` (``AWS_PROFILE``, else ``default``) where Hadoop's profile provider cannot
    read them: a ``credential_process`` (run now), SSO (its cached token), an assumed role, or
    keys in the config file (``AWS_CONFIG_FILE``, else ``~/.aws/config``). None where boto3 would
    take them from the credentials file or an instance role, or finds none, or where neither AWS
    file exists (botocore is then not imported). botocore's errors (a profile it cannot read, a
    process that fails) are left to boto3's client to name (``sink``; :mod:`pinlake.bucket`):
    None here too."""
    config = aws_file(env, "AWS_CONFIG_FILE")
    credentials = aws_file(env, "AWS_SHARED_CREDENTIALS_FILE")
    if not any(path is not None and path.is_file() for path in (config, credentials)):
        return None
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session()
    session.set_config_variable("profile", env.get("AWS_PROFILE") or "default")
    session.set_config_variable("config_file", str(config or os.devnull))
    session.set_config_variable("credentials_file", str(credentials or os.devnull))
    try:
        resolver = session.get_component("credential_provider")
        for name in _NOT_RESOLVED:
            resolver.remove(name)
        found = resolver.load_credentials()  # boto3's chain, in its order
    except botocore.exceptions.BotoCoreError:
        return None
    # from the credentials file: Hadoop's profile provider reads that file itself (s3a_conf)
    if found is None or found.method == "shared-credentials-file":
        return None
    frozen = found.get_frozen_credentials()
    return frozen.access_key, frozen.secret_key, frozen.token


def check_jars(settings: Settings) -> None:
    """Raise :class:`SparkSetupError` (naming ``make setup``) when Delta's jars or one of
    pinlake's own jars (:data:`OWN_JARS`) are missing from ``settings.jars_dir``: no session
    starts without them."""
    spark_jars = settings.jars_dir / "spark"
    if not any(spark_jars.glob("delta-spark_*.jar")):
        raise SparkSetupError(
            # a setup with PINLAKE_JARS_DIR and a command without it (helper-91)
            f"Delta jars not found in {spark_jars}: run `make setup` (resolves jvm/pom.xml), "
            "or set PINLAKE_JARS_DIR to the folder `make setup` filled"
        )
    for jar, source in OWN_JARS.items():
        if not (spark_jars / jar).is_file():
            raise SparkSetupError(
                f"{jar} not found in {spark_jars}: run `make setup` (compiles {source})"
            )


def _session_runs() -> bool:
    """Whether this process holds a Spark session already (``getOrCreate`` returns it): only
    when PySpark was imported (a session needs it), so a start does not import it early."""
    if "pyspark.sql" not in sys.modules:
        return False
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() is not None


def check_master(
    master: str, timeout: float = 3.0, run_dir: Path | None = None, home_master: str | None = None
) -> None:
    """Raise :class:`SparkSetupError` when ``master`` is a standalone master
    (``spark://host:port[,host:port…]``) none of whose addresses takes a TCP connection within
    ``timeout`` seconds: Spark's driver waited a minute for it, then its failure printed 137
    lines of JVM errors and Python tracebacks (helper-56). Other masters are not checked. An
    address on loopback whose port nothing listens on is not connected to
    (:func:`pinlake.loopback.nothing_listens`: the connect could take the port from the master
    that starts next). ``run_dir``: the home's run folder, for the command the line names
    (:func:`pinlake.run_folder.up_hint`), or, while the home's own master runs at another
    address, that address (helper-109's kind: a typo in the variable was told to start what
    runs). ``home_master``: the URL of the master ``services up --spark-cluster`` starts for
    this home; a ``master`` that is not it is not said to be started by that command (helper-113:
    told so for spark://127.0.0.1:47999, while that command starts this home's at another
    port)."""
    import socket

    from pinlake.loopback import nothing_listens
    from pinlake.run_folder import SPARK_MASTER, recorded_while_running, up_hint

    if not master.startswith("spark://"):
        return
    up_command = (
        up_hint(run_dir, "--spark-cluster")
        if run_dir is not None
        else f"{PINLAKE} services up --spark-cluster"
    )
    addresses = master.removeprefix("spark://").split(",")
    for address in addresses:
        host, _, port = address.rpartition(":")
        if nothing_listens(f"spark://{address}") is not None:
            continue
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            return
        except (OSError, ValueError):
            continue
    port = recorded_while_running(run_dir, SPARK_MASTER, "port") if run_dir else None
    if port is not None and local_master_url(port) != master:
        raise SparkSetupError(
            f"the Spark master {master} does not answer: this home's master runs at "
            f"{local_master_url(port)}: check PINLAKE_SPARK_MASTER"
        )
    if home_master is not None and master != home_master:
        raise SparkSetupError(
            f"the Spark master {master} does not answer: is it running? (`{PINLAKE} services "
            f"status`; `{up_command}` starts this home's at {home_master}, not there: check "
            "PINLAKE_SPARK_MASTER)"
        )
    raise SparkSetupError(
        f"the Spark master {master} does not answer: is it running? (`{PINLAKE} services status`;"
        f" `{up_command}` starts this home's)"
    )


def get_spark(
    settings: Settings | None = None,
    app_name: str = "pinlake",
    metastore: bool = True,
    keep_sigint: bool = False,
) -> SparkSession:
    """Return the process's Spark session, creating it with :func:`spark_conf` if needed.

    A process has one session: the first call decides whether it uses the metastore. Once it
    has started, Ctrl-C cancels its jobs and raises KeyboardInterrupt (:func:`interrupt_spark`);
    with ``keep_sigint`` the SIGINT handler that was in place before the start is put back
    instead (a caller that stops gracefully: the stream stage). Either way PySpark's own
    handler, which its context sets, is live while the session starts: a Ctrl-C then raises
    KeyboardInterrupt from here, after the JVMs launched were killed (:func:`_start`).
    """
    settings = settings or get_settings()
    check_jars(settings)
    if not _session_runs():
        check_spark_home(settings)
        check_master(
            spark_master(settings),
            run_dir=settings.run_dir,
            home_master=local_master_url(settings.spark_cluster.port),
        )
        if metastore:
            check_metastore_free(settings)
    settings.ensure_dirs()
    use_session_time_zone()
    for key in SPARK_CONNECT_VARIABLES:  # the driver JVM below, not a Spark Connect session
        os.environ.pop(key, None)
    for key, value in launcher_env(settings).items():
        # the others stay as a caller set them (a parent's session_env)
        replaced = key in SHELL_REPLACED
        os.environ[key] = value if replaced else os.environ.get(key, value)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    scratch = scratch_dir(settings)
    for key, value in session_conf(settings, metastore).items():
        builder = builder.config(key, value)
    if metastore:
        builder = builder.enableHiveSupport()
    prune_hive_resources(settings)
    prune_scratch_dirs(settings)
    make_scratch_dir(settings)
    from pinlake.console import console

    # a process started with SIGINT ignored (a shell's background job) keeps ignoring it, as
    # dbt and every other command do; PySpark's context would set a handler of its own
    previous = signal.getsignal(signal.SIGINT)
    # a spinner on a terminal (nothing in a log): the driver JVM takes seconds to start
    with console.status(f"[bold]starting Spark ({spark_master(settings)})…"):
        spark = _start(builder, scratch)
    main = threading.current_thread() is threading.main_thread()
    if main and previous is not None and (keep_sigint or previous is signal.SIG_IGN):
        signal.signal(signal.SIGINT, previous)
    else:
        interrupt_spark(spark.sparkContext)
    spark.sparkContext.setLogLevel("ERROR")
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    s3a = s3a_conf()
    # what it set before and the environment no longer gives (another test's keys, keys
    # exchanged for a profile) would sign new file systems' requests; a spark-defaults.conf's
    # settings stay
    for key in _S3A_APPLIED - s3a.keys():
        hadoop.unset(key)
    for key, value in s3a.items():  # S3 file systems opened from now on use them
        hadoop.set(key, value)
    _S3A_APPLIED.clear()
    _S3A_APPLIED.update(s3a)
    return spark


#: The ``fs.s3a.*`` settings :func:`get_spark` last set on this process's session.
_S3A_APPLIED: set[str] = set()


_PY4J = os.sep + "py4j" + os.sep


#: The scratch folder (:func:`scratch_dir`) of each driver JVM this process started, by the
#: JVM's pid: :func:`kill_driver` removes it after the kill.
_SCRATCH: dict[int, Path] = {}


def _start(builder: SparkSession.Builder, scratch: Path) -> SparkSession:
    """``builder.getOrCreate()`` for a driver JVM whose scratch folder is ``scratch``
    (:func:`scratch_conf`); if it fails or is interrupted (Ctrl-C while the driver JVM
    starts), the JVMs it launched are killed, and their scratch folder removed, before the
    error goes on. PySpark leaves them otherwise: a JVM that misses its connection-info file
    keeps its py4j server thread and runs on, orphaned, holding its memory and the home's
    embedded metastore."""
    import psutil

    me = psutil.Process()
    before = {child.pid for child in me.children()}
    try:
        spark = builder.getOrCreate()
    except BaseException:
        launched = [child.pid for child in me.children() if child.pid not in before]
        for pid in launched:
            _kill_tree(pid)
        if launched:
            _remove_scratch(launched[0], scratch)
        raise
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is not None:
        _SCRATCH.setdefault(proc.pid, scratch)
    return spark


def _remove_scratch(pid: int, scratch: Path | None) -> None:
    """Once process ``pid`` (a killed driver JVM) has ended (up to 5 s; a zombie has: its
    parent's ``Popen`` still reaps it), remove ``scratch``, its scratch folder, when there is
    one; never raises."""
    import shutil

    import psutil

    if scratch is None:
        return
    deadline = time.monotonic() + 5
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
    shutil.rmtree(scratch, ignore_errors=True)


def _kill_tree(pid: int) -> None:
    """SIGKILL process ``pid`` and its descendants, children first (gone ones are skipped)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for member in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.Error):
                member.kill()


def kill_driver(spark: SparkSession) -> None:
    """SIGKILL the driver JVM of ``spark`` (the process PySpark launched for its gateway, and
    its children) without asking it anything: a JVM ended so runs no shutdown hooks, which log
    the stack traces of every job and streaming query they cut short (nor the one that deletes
    its scratch files: its scratch folder, :func:`scratch_conf`, is removed once it has
    ended). For a stop that must not wait (a second Ctrl-C): whatever was cut short is the
    caller's to replay. Every later call into the session fails (py4j's records of them are
    the caller's to drop: :func:`_quiet_interrupted_py4j`). PySpark's accumulator server, whose
    connection from the JVM the kill breaks, is told first that it is shut down and to report
    no broken request: its handler read the connection's end and printed an ``EOFError``
    traceback ("Exception occurred during processing of request", socketserver's
    ``handle_error``; helper-53's trial)."""
    server = getattr(spark.sparkContext, "_accumulatorServer", None)
    if server is not None:
        server.server_shutdown = True  # its handlers stop polling (pyspark.accumulators)
        server.handle_error = lambda _request, _address: None
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is not None:
        _kill_tree(proc.pid)
        _remove_scratch(proc.pid, _SCRATCH.pop(proc.pid, None))


def _quiet_interrupted_py4j(record: logging.LogRecord) -> bool:
    """Root-logger filter: drop py4j's records of a call that a Ctrl-C broke, keep every other
    record. py4j logs them to the root logger with a traceback: "KeyboardInterrupt while
    sending command.", and "Exception while sending command." of a reentrant read (PySpark's
    own SIGINT handler, live while the session starts, calls the JVM from inside the call the
    signal interrupted). Once :data:`~pinlake.errors.INTERRUPTED` or
    :data:`~pinlake.errors.TERMINATED` is set every py4j record is dropped: the JVM is ending
    too (SIGTERM sent to the process group, by ``timeout``, systemd or a scheduler, reaches it)."""
    if _PY4J not in record.pathname:
        return True
    if INTERRUPTED.is_set() or TERMINATED.is_set():
        return False
    error = record.exc_info[1] if record.exc_info else None
    return not any(
        isinstance(e, KeyboardInterrupt) or "reentrant call" in str(e) for e in causes(error)
    )


#: The loggers py4j logs to: the root logger (``logging.exception``) and its modules' own. A
#: logger's filter sees only the records logged on it, not those of its children.
PY4J_LOGGERS = ("", "py4j", "py4j.java_gateway", "py4j.clientserver", "py4j.protocol")


def quiet_py4j() -> None:
    """Keep py4j's chatter out of the user's terminal and logs (idempotent).

    - py4j's INFO records are not logged: the ``py4j`` logger is set to WARNING unless a level
      was set for it. py4j logs a line at INFO for each connection it closes ("Closing down
      clientserver connection", from a connection's ``__del__``), and a process whose root logger
      is at INFO (Airflow configures it so, with a handler on the stderr of that moment: a task's
      log, or in a test session a captured stream that is closed later, and then Python's
      logging prints "--- Logging error ---" and a stack) shows them; its warnings still show.
    - :func:`_quiet_interrupted_py4j` is added to every logger py4j logs to: a Ctrl-C that
      lands in a py4j call, the session's start included, leaves no py4j traceback on the
      terminal ("Exception occurred while shutting down connection" of the broken call's socket
      included).
    """
    py4j = logging.getLogger("py4j")
    if py4j.level == logging.NOTSET:
        py4j.setLevel(logging.WARNING)
    for name in PY4J_LOGGERS:
        logger = logging.getLogger(name)
        if _quiet_interrupted_py4j not in logger.filters:
            logger.addFilter(_quiet_interrupted_py4j)


#: Seconds a Ctrl-C waits for Spark to take its jobs' cancel before KeyboardInterrupt.
CANCEL_TIMEOUT = 10.0


def interrupt_spark(context: SparkContext) -> None:
    """Make Ctrl-C (SIGINT) in this process cancel ``context``'s jobs and raise
    KeyboardInterrupt at once (the CLI prints one line and exits 130).

    PySpark's own handler (``SparkContext.__init__``) calls ``cancelAllJobs`` from inside the
    py4j call that the signal interrupted: py4j then logs two tracebacks (a reentrant read, a
    KeyboardInterrupt) to the root logger. Here the jobs are cancelled on a thread of their own
    (a py4j connection of its own; at most :data:`CANCEL_TIMEOUT` s are waited for it), then
    KeyboardInterrupt is raised, and the interrupted call's log records are dropped
    (:func:`_quiet_interrupted_py4j`). A terminal's Ctrl-C reaches the driver JVM too (one
    process group), which then ends: whatever fails after it is reported as the interrupt
    (:data:`pinlake.errors.INTERRUPTED`). Only the main thread can set a signal handler:
    elsewhere (an Airflow worker thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return

    def cancel() -> None:
        try:
            context.cancelAllJobs()
        except Exception as exc:  # the JVM may be going away too (a terminal's Ctrl-C)
            logging.getLogger(__name__).debug("cancelAllJobs after Ctrl-C: %s", exc)

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        INTERRUPTED.set()
        canceller = threading.Thread(target=cancel, name="spark-cancel-jobs", daemon=True)
        canceller.start()
        # before the interrupted call's connection is torn down by the KeyboardInterrupt
        canceller.join(CANCEL_TIMEOUT)
        raise KeyboardInterrupt

    quiet_py4j()
    signal.signal(signal.SIGINT, on_sigint)


#: The option of every driver of a home (:func:`spark_conf`, profiles.yml), before its path.
_DERBY_LOG = "-Dderby.stream.error.file="
#: The ``spark-submit`` argument of a driver that does not use the metastore (the stream stage's:
#: ``get_spark(metastore=False)``), in its JVM's command line.
_IN_MEMORY = "spark.sql.catalogImplementation=in-memory"


def metastore_holders(settings: Settings) -> list[str]:
    """The other Spark drivers on this machine that use the home's embedded metastore, each as
    ``"pid <n>, the Spark driver of <what started it>"``: JVMs whose command line holds the option
    :func:`spark_conf` gives every driver of the home (``-Dderby.stream.error.file=<home>/
    metastore/derby.log``, a relative path read from the JVM's folder: dbt run by hand with
    the default home; pinlake commands, dbt's ``local`` target, Airflow tasks), but this
    process's own and those with an in-memory catalog (the stream stage's). What started it:
    its parent's command line (``pinlake land``, ``dbt run …``), at most 60 characters (a longer
    one cut to 59 and ``…``). Never
    raises."""
    return [_holder(pid, started_by) for pid, started_by in _holders(settings).items()]


def _holder(pid: int, started_by: str) -> str:
    """A driver holding the metastore as the messages name it: ``pid <n>, the Spark driver of
    <what started it>`` (the pid is the JVM's, which ``ps`` shows as ``java``: helper-86 took
    ``pid 1541 (hold.py …)`` for the script's)."""
    return f"pid {pid}, the Spark driver of {started_by}"


def _holders(settings: Settings) -> dict[int, str]:
    """:func:`metastore_holders` by pid: what started each (``pinlake land``, ``java``)."""
    import psutil

    log = (settings.home / "metastore" / "derby.log").resolve()
    me = os.getpid()
    found: dict[int, str] = {}
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["ppid"] == me or _IN_MEMORY in cmdline:
            continue
        logs = [a.removeprefix(_DERBY_LOG) for a in cmdline if a.startswith(_DERBY_LOG)]
        if not logs:
            continue
        try:
            folder = Path(process.cwd())  # a relative path is read from the JVM's folder
        except (psutil.Error, OSError):
            folder = Path("/")  # cannot be read: absolute paths still match
        if (folder / logs[0]).resolve() != log:
            continue
        started_by = "a command whose line cannot be read"
        with contextlib.suppress(psutil.Error, IndexError):
            words = psutil.Process(process.info["ppid"]).cmdline()
            if Path(words[0]).name.startswith("python"):
                words = words[1:]  # python <script> …: the script's name
            line = " ".join([Path(words[0]).name, *words[1:]])
            started_by = line if len(line) <= 60 else line[:59] + "…"  # helper-87: cut unseen
        found[process.info["pid"]] = started_by
    return found


#: Hive's words when the embedded Derby metastore could not be opened; with another driver of
#: the home running, two commands started at once (helper-56: two ``land``, two ``dbt run``).
_HIVE_CLIENT_FAILED = (
    "Unable to instantiate org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient"
)


def _gateway_exited(settings: Settings) -> str:
    """Why the driver JVM ended before PySpark could talk to it: no ``java`` (``JAVA_HOME``'s
    or on ``PATH``, as Spark's launcher looks), or the JVM's own refusal, which it printed
    (an option it does not take, a master it does not know), and, when ``settings`` give the
    JVMs options of their own (``PINLAKE_JVM_OPTIONS``), that variable: the printed refusal
    named an option and not where it came from (helper-113)."""
    if java_executable() is None:
        return "Spark could not start: Java 17+ is needed (no java on PATH or in JAVA_HOME)"
    mine = (
        f" (PINLAKE_JVM_OPTIONS={settings.jvm_options!r} are among its options: check them if "
        "it names one)"
        if settings.jvm_options
        else ""
    )
    return f"Spark's driver JVM could not start: its error is above{mine}"


def _embedded_metastore(settings: Settings) -> bool:
    """Whether the home's sessions use the embedded Derby metastore; False when that cannot be
    told (a shared one's client jar missing: its own error is not this one's)."""
    try:
        return not metastore_connection(settings).shared
    except PinlakeError:
        return False


def _metastore_in_use(settings: Settings, holders: list[str]) -> SparkSetupError:
    """The one line for the home's embedded metastore held by another driver: ``holders``
    (:func:`metastore_holders`), or the commands that may hold it when none was found."""
    from pinlake.run_folder import up_hint

    return SparkSetupError(
        f"the metastore in {settings.metastore_dir} is in use by another process "
        f"({'; '.join(holders) or 'dbt, pinlake or Airflow on the same PINLAKE_HOME'})"
        f": wait for it or use another PINLAKE_HOME "
        f"(`{up_hint(settings.run_dir, '--metastore')}` lets them share it)"
    )


#: How long (s) :func:`check_metastore_free` waits for the other drivers of the home to end
#: before it refuses: a command's driver JVM ends after the command's Python (its shutdown hooks
#: run once the Python is gone), so the next step of a pipeline can find it still exiting; and
#: a second command used to wait, started, as long as Hive's retries lasted (about 20 s:
#: ``hive.hmshandler.retry.attempts`` × ``retry.interval``), so two short commands both passed.
METASTORE_GRACE = 30.0


def check_spark_home(settings: Settings) -> None:
    """Raise :class:`SparkSetupError` (one line, before any JVM starts) when the home's path
    holds a character Spark's paths or the metastore's Derby URL cannot
    (:func:`pinlake.location.spark_path_problem`, :data:`~pinlake.location.HOME_FORBIDDEN`): its
    warehouse, metastore and checkpoints are there. A home ``…/w[bold]x:x:y/h`` took ``source
    init`` and ``produce``, then ``land`` failed on the metastore ("Unable to instantiate
    SessionHiveMetaStoreClient"), and ``…/w[bold]x/h`` with a Python traceback and about 590
    lines of Hadoop's usage text (helper-89). :func:`get_spark`, ``pinlake dbt`` on the
    ``local`` target, ``land``; the CLI refuses such a home for every command."""
    if problem := spark_path_problem(settings.home.absolute(), HOME_NAMED, HOME_FORBIDDEN):
        raise SparkSetupError(problem)


def _shared_metastore_down(settings: Settings) -> SparkSetupError:
    """The one line for a shared metastore that does not answer: the home's own server when it
    runs at another URL than the session's (check ``PINLAKE_METASTORE_URL``), else the commands
    that show and start it."""
    from pinlake.run_folder import running_metastore_url, up_hint

    url = metastore_connection(settings).url
    home = running_metastore_url(settings)
    if home is not None and home != url:
        return SparkSetupError(  # helper-109's kind: not "start" what runs
            f"the shared metastore at {redact_url(url)} does not answer: this home's runs at "
            f"{home}: check PINLAKE_METASTORE_URL"
        )
    return SparkSetupError(
        f"the shared metastore does not answer: is it running? (`{PINLAKE} services "
        f"status`; `{up_hint(settings.run_dir, '--metastore')}` starts it)"
    )


def _shared_metastore_stopped(settings: Settings) -> bool:
    """Whether the home's sessions use a shared metastore whose JDBC URL
    (``jdbc:derby://host:port/…``, ``jdbc:postgresql://…``) names a port on this machine that
    nothing listens on (:func:`pinlake.loopback.nothing_listens`); False for the embedded one,
    another host, no port, or a metastore that cannot be told (a client jar missing: its own
    error comes later)."""
    from urllib.parse import urlsplit

    from pinlake.loopback import nothing_listens

    try:
        connection = metastore_connection(settings)
    except PinlakeError:
        return False
    if not connection.shared:
        return False
    url = connection.url.removeprefix("jdbc:")
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is not None and nothing_listens(url) is not None


def check_metastore_free(settings: Settings) -> None:
    """Refuse, before a driver JVM starts, a session of the home's embedded Derby metastore
    that another driver of the home holds (:func:`metastore_holders`; Derby admits one JVM at
    a time) once :data:`METASTORE_GRACE` seconds have not seen it end: the line
    :func:`spark_errors` gives when the second JVM fails on Derby's lock, without a JVM
    started to wait and fail (:func:`get_spark`; :func:`pinlake.lakehouse.dbt.run_dbt` for
    dbt's ``local`` target, whose session dbt-spark starts). A shared metastore admits many
    drivers; one on this machine that nothing listens on is refused in
    :func:`_shared_metastore_down`'s line (helper-110: ``land`` with the server down ended
    after 30 s in a 60-line traceback, "Unable to instantiate SessionHiveMetaStoreClient").
    Raises SparkSetupError."""
    import psutil
    from rich.markup import escape

    from pinlake.console import console

    if not _embedded_metastore(settings):
        if _shared_metastore_stopped(settings):
            raise _shared_metastore_down(settings)
        return
    holders = _holders(settings)
    processes = []
    for pid in holders:
        with contextlib.suppress(psutil.Error):  # ended since
            processes.append(psutil.Process(pid))
    if not processes:
        return
    named = "; ".join(_holder(p.pid, holders[p.pid]) for p in processes)
    waiting = f"waiting up to {METASTORE_GRACE:.0f} s for the metastore, which {named} holds…"
    with console.status(escape(waiting)):  # a spinner on a terminal (nothing in a log)
        _, alive = psutil.wait_procs(processes, timeout=METASTORE_GRACE)
    if alive:
        left = [_holder(p.pid, holders[p.pid]) for p in alive]
        raise _metastore_in_use(settings, left)


@contextmanager
def spark_errors(settings: Settings) -> Iterator[None]:
    """Turn the usual environment failures of a Spark job into one readable line."""
    try:
        yield
    except PinlakeError:
        raise
    except Exception as exc:  # py4j / pyspark errors carry the JVM message in str()
        text = str(exc)
        if "Error connecting to server" in text:  # Derby's network client
            raise _shared_metastore_down(settings) from exc
        if _HIVE_CLIENT_FAILED in text and _shared_metastore_stopped(settings):
            raise _shared_metastore_down(settings) from exc  # it stopped while the job ran
        derby = "Another instance of Derby" in text or "Failed to start database" in text
        if derby or (_HIVE_CLIENT_FAILED in text and _embedded_metastore(settings)):
            holders = metastore_holders(settings)
            if holders or derby:
                raise _metastore_in_use(settings, holders) from exc
            raise SparkSetupError(
                f"the metastore in {settings.metastore_dir} could not be opened (Hive: "
                f"{_HIVE_CLIENT_FAILED}) and no other pinlake or dbt driver of this home was "
                f"found: its log is {settings.metastore_dir / 'derby.log'}"
            ) from exc
        if "JAVA_GATEWAY_EXITED" in text or "Java gateway process exited" in text:
            raise SparkSetupError(_gateway_exited(settings)) from exc
        refused = s3a_refusal(text)
        if refused:
            raise PinlakeError(refused) from exc
        raise


#: Hadoop S3A's refusal of a path (``S3AUtils.translateException``): no credentials from any
#: provider of its chain, or S3's 403.
_S3A_REFUSED = re.compile(r"java\.nio\.file\.AccessDeniedException: (s3a://\S+?): ([^\n]*)")
#: A Java exception's class name before its message (``software.amazon…SdkClientException: ``).
_JAVA_CLASS = re.compile(r"\b(?:[a-z0-9_]+\.)+[A-Z]\w*(?:Exception|Error): ")


def s3a_refusal(text: str) -> str | None:
    """One line for a Spark job's error text (a ``Py4JJavaError``'s, with the JVM's stack) in
    which S3A refused a path (``java.nio.file.AccessDeniedException: s3a://…``), else None: the
    path, S3A's reason (no credentials from its providers, or S3's 403), and where S3A reads
    credentials (:func:`s3a_conf`) and how to check the profile. ``land`` printed the 234-line
    traceback (helper-71: a profile defined in ``~/.aws/config`` alone, which S3A did not read
    then)."""
    match = _S3A_REFUSED.search(text)
    if match is None:
        return None
    path, reason = match.groups()
    reason = _JAVA_CLASS.sub("", reason).strip()
    profile = os.environ.get("AWS_PROFILE") or "<name>"
    return (
        f"Spark's s3a:// was refused {path}: {reason[:400]}. S3A signs with AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the keys of AWS_PROFILE's profile "
        "(or default) in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else "
        "~/.aws/credentials), else those boto3 resolves for it from the config file "
        "(credential_process, SSO, keys there), else the instance role; none answered here: "
        f"{aws_profile_check(profile)}"
    )
