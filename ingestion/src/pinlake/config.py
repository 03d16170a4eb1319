"""One typed settings object for every pinlake component.

Everything a component writes lives under ``PINLAKE_HOME`` (default ``./.pinlake``): the source
database, the topics bucket, the Spark warehouse and Hive metastore, pid files and logs. Two
different homes never share state, so tests and a user's demo can run side by side.

Settings come from environment variables with the ``PINLAKE_`` prefix (``PINLAKE_HOME``,
``PINLAKE_SOURCE_URL``, ``PINLAKE_KAFKA__BOOTSTRAP_SERVERS`` ...); CLI options only override them.
Build it with :func:`get_settings` (never at import time).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from pinlake.location import Location

#: The three source tables / topics, in the order the original producer posted them.
TABLES: tuple[str, ...] = ("pin", "geo", "user")
#: The longest topic name Kafka accepts (``org.apache.kafka.common.internals.Topic``).
TOPIC_NAME_MAX = 249


def topic_name(prefix: str, table: str) -> str:
    """The batch topic of a table, e.g. ``pinterest.pin`` (the original ``<UserId>.pin``)."""
    return f"{prefix}.{table}"


def stream_name(prefix: str, table: str) -> str:
    """The stream (Kinesis-style) topic of a table, e.g. ``streaming-pinterest-pin``."""
    return f"streaming-{prefix}-{table}"


def error_message(error: ErrorDetails) -> str:
    """The text of one pydantic error (an item of ``ValidationError.errors()``): a validator's
    own ``ValueError`` text, without the "Value error, " pydantic puts before it in ``msg``;
    pydantic's ``msg`` for its own checks ("Input should be a valid integer")."""
    cause = error.get("ctx", {}).get("error")
    return str(cause) if error["type"] == "value_error" and cause is not None else error["msg"]


#: Repository root (the dbt project): ``ingestion/src/pinlake/config.py`` -> four levels up.
REPO_ROOT = Path(__file__).resolve().parents[3]


@cache
def spark_home() -> Path:
    """The pyspark package's folder: the wheel is a Spark home (``bin/spark-submit``,
    ``bin/spark-class``, ``jars/``). Found without importing pyspark (about 0.3 s)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark is not installed: run `make setup`")
    return Path(spec.submodule_search_locations[0])


#: The dbt profile of the project (``dbt_project.yml``'s ``profile``, ``profiles.yml``).
DBT_PROFILE = "pinlake"


def java_executable() -> Path | None:
    """The ``java`` that Spark's and Kafka's launchers run (``bin/spark-class``,
    ``kafka-run-class.sh``): ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set, else the first
    ``java`` on ``PATH``; None when there is none. pinlake starts its own JVMs (Kafka, the
    metastore) with the same one, so that all of them run one JDK, the one the driver's
    class-data archive is built for (a machine with two JDKs ran Spark on ``JAVA_HOME``'s and
    the others on ``PATH``'s)."""
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        return java if java.is_file() and os.access(java, os.X_OK) else None
    found = shutil.which("java")
    return Path(found) if found else None


#: A TCP port a server listens on or a client dials: 1-65535 (RFC 793's 16-bit port; 0 means
#: "any free port" to ``bind`` and is no address). A setting outside it is a settings error.
Port = Annotated[int, Field(ge=1, le=65535)]
#: The highest TCP port.
PORT_MAX = 65535


def host_port(entry: str) -> tuple[str, int]:
    """``("host", port)`` of a ``host:port`` entry (a bootstrap server; ``[::1]:9092`` keeps its
    brackets). Raises ValueError naming the entry when the host is empty or the port is not a
    number in 1-65535 (:data:`Port`)."""
    entry = entry.strip()
    host, _, port = entry.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= PORT_MAX:
        raise ValueError(f"bad server {entry!r}: want host:port with a port in 1-{PORT_MAX}")
    return host, int(port)


def _within_ports(what: str, first: int, count: int) -> None:
    """Raise ValueError when ``count`` ports spaced 2 apart from ``first`` pass :data:`PORT_MAX`
    (the ports pinlake derives for its second and later local nodes)."""
    last = first + 2 * (count - 1)
    if last > PORT_MAX:
        raise ValueError(f"{what} {first}: node {count} would need port {last} > {PORT_MAX}")


#: An API Gateway stage name ("alphanumeric characters, hyphens, and underscores", at most 128).
_STAGE_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


#: The most local KRaft nodes ``pinlake services up --kafka-brokers`` runs (one machine).
MAX_LOCAL_BROKERS = 9


#: MiB per unit of Spark's memory strings (``spark.driver.memory``, a worker's ``--memory``).
_MEGABYTES_PER = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2}


def memory_megabytes(value: str, units: str) -> float | None:
    """MiB of Spark's memory string ``value``: a whole number from 1 and one of ``units``
    (letters of :data:`_MEGABYTES_PER`, either case: ``4g``, ``1536m``); None when it is not
    one."""
    match = re.fullmatch(rf"([1-9][0-9]*)([{units}])", value.strip(), re.IGNORECASE)
    return int(match[1]) * _MEGABYTES_PER[match[2].lower()] if match else None


#: Spark's master URLs ("Master URLs", Spark's submitting-applications docs).
_SPARK_MASTER = (
    r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?"
    r"|spark://[^\s/,:]+:[0-9]+(,[^\s/,:]+:[0-9]+)*"
    r"|yarn|k8s://\S+"
)


def local_master_url(port: int) -> str:
    """``spark://127.0.0.1:<port>``: a Spark standalone master on this machine (the one ``services
    up --spark-cluster`` starts listens on loopback)."""
    return f"spark://127.0.0.1:{port}"


class KafkaSettings(BaseSettings):
    """The Kafka cluster. Local KRaft brokers are started unless ``external`` is true.

    ``brokers`` local nodes run (``pinlake services up --kafka-brokers N``, default 1): node n
    (1-based) listens on the n-th entry of ``bootstrap_servers`` and on the controller port
    ``controller_port + 2(n-1)``. With ``brokers`` > 1 a single entry ``host:p`` is expanded to
    ``host:p,host:p+2,…`` (the defaults give 9092/9093, 9094/9095, 9096/9097), so that every
    client (API, sink, stream stage, producer) is given every node; a list of several servers
    without ``brokers`` is that many nodes (at most :data:`MAX_LOCAL_BROKERS`); otherwise the
    list must name exactly ``brokers`` servers (ValueError). With ``external`` the list is taken
    as given and ``brokers`` only sets the replication factor of the topics pinlake creates.
    """

    model_config = SettingsConfigDict(env_prefix="PINLAKE_KAFKA__", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    controller_port: Port = 9093
    external: bool = False
    partitions: int = Field(default=1, ge=1)
    brokers: int = Field(default=1, ge=1, le=MAX_LOCAL_BROKERS)

    @model_validator(mode="after")
    def _one_server_per_broker(self) -> KafkaSettings:
        servers = self.servers
        if not servers:
            raise ValueError("bootstrap_servers is empty: want host:port[,host:port…]")
        addresses = [host_port(server) for server in servers]
        if self.external:
            return self
        if len(servers) > 1 and "brokers" not in self.model_fields_set:
            # a list of N servers and no count: N local nodes, one per entry (helper-113: with
            # a two-entry list every command but `services up --kafka-brokers 2` was refused
            # as brokers=1 until PINLAKE_KAFKA__BROKERS=2 was set too)
            if len(servers) > MAX_LOCAL_BROKERS:
                raise ValueError(
                    f"bootstrap_servers names {len(servers)} servers, and pinlake runs at most "
                    f"{MAX_LOCAL_BROKERS} local nodes (another cluster: external=true)"
                )
            self.brokers = len(servers)
        _within_ports("controller_port", self.controller_port, self.brokers)
        if len(servers) == 1 and self.brokers > 1:
            host, port = addresses[0]
            _within_ports("bootstrap_servers port", port, self.brokers)
            self.bootstrap_servers = ",".join(f"{host}:{port + 2 * i}" for i in range(self.brokers))
        elif len(servers) != self.brokers:
            raise ValueError(
                f"bootstrap_servers names {len(servers)} servers but brokers={self.brokers} "
                "(one per local node, or one to derive them from)"
            )
        return self

    @property
    def servers(self) -> list[str]:
        """The entries of ``bootstrap_servers`` (``host:port``), in node order."""
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    @property
    def client_ports(self) -> list[int]:
        """The port of each entry of ``bootstrap_servers`` (:func:`host_port`), in node order."""
        return [host_port(server)[1] for server in self.servers]

    @property
    def controller_ports(self) -> list[int]:
        """The controller (KRaft quorum) port of each local node, in node order."""
        return [self.controller_port + 2 * i for i in range(self.brokers)]


class ApiSettings(BaseSettings):
    """The ingestion API (Kafka REST v2 + Kinesis proxy stand-in)."""

    model_config = SettingsConfigDict(env_prefix="PINLAKE_API__", extra="ignore")

    host: str = "127.0.0.1"
    port: Port = 8082
    api_key: SecretStr | None = None
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_record_bytes: int = Field(default=1024 * 1024, gt=0)
    #: how long the API waits for Kafka to acknowledge a record before answering 5xx
    delivery_timeout_ms: int = Field(default=10_000, gt=0)
    #: Kinesis-proxy CreateStream default shard count when the body gives none (the tutorial's 5)
    default_shard_count: int = Field(default=5, ge=1)
    #: API Gateway deployment stage the API is also served under (``/<stage>/topics/...``, as an
    #: invoke URL ``https://…/<stage>`` is), beside the plain paths; ``""`` turns it off. A stage
    #: name is 1-128 letters, digits, ``-`` or ``_`` (API Gateway ``Stage.stageName``).
    stage: str = "test"
    #: REST Proxy v2 consumer instances (kafka-rest's ``consumer.*`` settings, same defaults):
    #: an instance nobody used for ``consumer_instance_timeout_ms`` is closed and forgotten
    #: (``consumer.instance.timeout.ms``); a read waits at most ``consumer_request_timeout_ms``
    #: (``consumer.request.timeout.ms``) and answers at most ``consumer_request_max_bytes`` of
    #: keys and values (``consumer.request.max.bytes``).
    consumer_instance_timeout_ms: int = Field(default=300_000, gt=0)
    consumer_request_timeout_ms: int = Field(default=1000, gt=0)
    consumer_request_max_bytes: int = Field(default=64 * 1024 * 1024, gt=0)

    @field_validator("stage", mode="after")
    @classmethod
    def _stage_name(cls, value: str) -> str:
        value = value.strip().strip("/")
        if value and not _STAGE_RE.fullmatch(value):
            raise ValueError(
                f"stage {value!r}: 1-128 letters, digits, '-' or '_' (or empty for none)"
            )
        return value

    @property
    def url(self) -> str:
        """The API's base URL, ``http://<host>:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def invoke_url(self) -> str:
        """The API Gateway-style invoke URL: :attr:`url` plus ``/<stage>`` when a stage is set."""
        return f"{self.url}/{self.stage}" if self.stage else self.url


class MariadbSettings(BaseSettings):
    """The local MariaDB server ``pinlake services up`` runs when ``source_db`` is ``mariadb``
    (:mod:`pinlake.services.mariadb`): loopback only, datadir under ``PINLAKE_HOME``."""

    model_config = SettingsConfigDict(env_prefix="PINLAKE_MARIADB__", extra="ignore")

    #: 3307, not MySQL's 3306, so that a system server installed beside it never collides
    port: Port = 3307
    database: str = "pinterest_data"
    user: str = "pinlake"
    password: SecretStr = SecretStr("pinlake")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of this server (PyMySQL driver, utf8mb4)."""
        user, password, database = (
            quote(part, safe="")
            for part in (self.user, self.password.get_secret_value(), self.database)
        )
        return f"mysql+pymysql://{user}:{password}@127.0.0.1:{self.port}/{database}?charset=utf8mb4"


def sqlite_url(path: Path | str, driver: str = "sqlite") -> str:
    """The SQLAlchemy URL of the SQLite file ``path`` (``driver``: e.g. ``sqlite+pysqlite``):
    ``sqlite:///<path>`` when SQLAlchemy reads that back as ``path``, else the path escaped as
    a URL's (``%`` as ``%25``, ``?`` as ``%3F``: SQLAlchemy's ``URL.create``). A home
    ``/tmp/x%41y`` gave ``sqlite:////tmp/x%41y/…``, which SQLAlchemy reads as ``/tmp/xAy/…``:
    ``source init`` wrote its database outside the home."""
    from sqlalchemy.engine import URL, make_url

    readable = f"{driver}:///{path}"
    if make_url(readable).database == str(path):
        return readable
    return URL.create(driver, database=str(path)).render_as_string()


class S3Settings(BaseSettings):
    """The local S3-compatible server ``pinlake services up --s3`` runs (moto, in memory;
    :mod:`pinlake.services.s3_server`): loopback only. The S3 clients themselves are configured
    by the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, …)."""

    model_config = SettingsConfigDict(env_prefix="PINLAKE_S3__", extra="ignore")

    port: Port = 5000  # moto_server's default

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the server's endpoint URL (``AWS_ENDPOINT_URL``)."""
        return f"http://127.0.0.1:{self.port}"


#: The most workers ``pinlake services up --spark-cluster --workers N`` runs (one machine).
MAX_LOCAL_WORKERS = 8


class SparkClusterSettings(BaseSettings):
    """The local Spark standalone cluster ``pinlake services up --spark-cluster`` runs
    (:mod:`pinlake.services.spark_cluster`): a master and ``workers`` workers from the pyspark
    wheel, on loopback. While its master runs, the home's Spark processes use it as their master
    (:func:`pinlake.spark.spark_master`).

    ``worker_cores`` / ``worker_memory`` (Spark's memory string, ``512m``, ``2g``; at least
    1g: an executor takes ``spark.executor.memory``, 1g by default) are what each worker
    offers; each application gets ``app_cores`` cores (the master's
    ``spark.deploy.defaultCores``), so that a long-running one (the Thrift server) never holds
    the whole cluster. The defaults suit a 2-core laptop: two workers of 1 core and 1g, two
    applications at a time. Ports: the master's RPC ``port`` (Spark's 7077) and web UI
    ``ui_port``; worker n's web UI is ``worker_ui_port + n - 1`` (not 8080/8081, Spark's:
    Airflow's and dbt docs' 8080 stays free).
    """

    model_config = SettingsConfigDict(env_prefix="PINLAKE_SPARK_CLUSTER__", extra="ignore")

    workers: int = Field(default=2, ge=1, le=MAX_LOCAL_WORKERS)
    worker_cores: int = Field(default=1, ge=1)
    worker_memory: str = "1g"
    app_cores: int = Field(default=1, ge=1)
    port: Port = 7077
    ui_port: Port = 8180
    worker_ui_port: Port = 8181

    @model_validator(mode="after")
    def _worker_ports(self) -> SparkClusterSettings:
        last = self.worker_ui_port + self.workers - 1
        if last > PORT_MAX:
            raise ValueError(
                f"worker_ui_port {self.worker_ui_port}: worker {self.workers} would need port "
                f"{last} > {PORT_MAX}"
            )
        return self

    @field_validator("worker_memory", mode="after")
    @classmethod
    def _memory(cls, value: str) -> str:
        megabytes = memory_megabytes(value, units="mg")
        if megabytes is None:
            raise ValueError(f"worker_memory {value!r}: Spark's memory string, e.g. 1g or 1536m")
        if megabytes < 1024:
            raise ValueError(
                f"worker_memory {value!r}: at least 1g (an executor takes spark.executor.memory, "
                "1g by default; a smaller worker never runs one)"
            )
        return value.strip().lower()


#: Where the source tables live when ``PINLAKE_SOURCE_URL`` is not set.
SourceDb = Literal["sqlite", "mariadb"]


class Settings(BaseSettings):
    """pinlake's settings: each field from its ``PINLAKE_<NAME>`` environment variable (nested
    ones ``PINLAKE_<GROUP>__<NAME>``, e.g. ``PINLAKE_API__PORT``), else its default; README's
    configuration table lists them. Raises pydantic's ValidationError for a value of the
    wrong type."""

    model_config = SettingsConfigDict(
        env_prefix="PINLAKE_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    home: Path = Field(default=Path(".pinlake"), description="root of all local state")
    source_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the source DB (default: SQLite in home)"
    )
    source_db: SourceDb = Field(
        default="sqlite",
        description="sqlite (a file in home) or mariadb (the server `services up` starts)",
    )
    bucket: str | None = Field(
        default=None,
        description="topics bucket: a folder, or s3://<bucket>/<prefix> (default: home/bucket)",
    )
    topic_prefix: str = Field(default="pinterest", description="the original's <UserId>")
    jars_dir: Path = Field(
        default=REPO_ROOT / ".pinlake-jars", description="JVM artifacts resolved by make setup"
    )
    #: The Spark master. None (default): this home's standalone cluster while ``pinlake
    #: services up --spark-cluster`` runs it, else ``local[2]``; :func:`pinlake.spark.spark_master`
    #: decides. A master URL (``local[1]``, ``spark://host:7077``) is used as given.
    spark_master: str | None = None
    spark_driver_memory: str = "4g"
    #: Extra options for every JVM pinlake starts: the Spark driver and executors, the standalone
    #: master and workers, the Kafka nodes, the metastore's Derby server and tools
    #: (:mod:`pinlake.services.jvm`). Empty by default. For short runs on small data, such as the
    #: test suite, ``-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1`` (the C1 JIT only, one compiler
    #: thread) about halves the CPU a JVM spends starting up, and slows long jobs; the suite adds
    #: ``-XX:-UseCodeCacheFlushing`` (tests/conftest.py: JDK 17's sweeper otherwise evicts
    #: methods that C1 then compiles again) with ``-XX:ReservedCodeCacheSize=240m`` (C1 alone
    #: reserves 48 MB; full and never flushed, it stops the JIT and fails method-handle
    #: linking with ``java.lang.InternalError``).
    jvm_options: str = ""
    #: Spark's code generation (:func:`pinlake.spark.codegen_conf`). True (default, Spark's
    #: own): each query's stages and expressions are compiled to Java classes first, which
    #: pays off on large data. False: they are evaluated interpreted, with the same results;
    #: on small data, where a statement's compiling costs more than it saves (the test suite:
    #: hundreds of statements over a few thousand rows), less CPU and time per statement (a
    #: ``dbt build`` of 10k events 0.77×, of 100k 0.91×: ``bench/bench_codegen.py``).
    spark_codegen: bool = True
    #: Spark's adaptive query execution (``spark.sql.adaptive.enabled``). True (default, Spark's
    #: own): each query is planned again between its stages from the sizes it has seen, which
    #: pays off on large or skewed data. False: the plan is made once; on small data it saves
    #: the re-planning (the test suite; :func:`pinlake.spark.shape_conf`).
    spark_adaptive: bool = True
    #: Partitions of a shuffle (``spark.sql.shuffle.partitions``); Delta's state reconstruction
    #: gets half of them, at least one (``spark.databricks.delta.snapshotPartitions``). Default 4
    #: (and 2): a few tasks per stage on a laptop's cores; 1 for small data (the test suite).
    spark_partitions: int = Field(default=4, ge=1)
    dbt_target: str = "local"
    #: The Hive metastore database. None (default): this home's shared metastore server when
    #: ``pinlake services up --metastore`` runs it, else the embedded Derby database (one JVM at
    #: a time); :func:`pinlake.spark.metastore_connection` decides. A JDBC URL uses that database
    #: instead, e.g. PostgreSQL, the production choice (``jdbc:postgresql://host:5432/metastore``
    #: with ``metastore_user`` / ``metastore_password``; schema: README).
    metastore_url: str | None = None
    metastore_user: str | None = None
    metastore_password: SecretStr | None = None
    #: Loopback port of the shared metastore server (Derby network server; Derby's default).
    metastore_port: Port = 1527
    #: The Spark Thrift server (``pinlake services up --thrift``; dbt's ``thrift`` target):
    #: its host as clients see it, its port, and its Spark web UI's port.
    thrift_host: str = "127.0.0.1"
    thrift_port: Port = 10000
    thrift_ui_port: Port = 4040
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    mariadb: MariadbSettings = Field(default_factory=MariadbSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    spark_cluster: SparkClusterSettings = Field(default_factory=SparkClusterSettings)

    @field_validator("spark_master", mode="after")
    @classmethod
    def _spark_master(cls, value: str | None) -> str | None:
        """A master URL Spark takes ("Master URLs", Spark's submitting-applications docs):
        ``local``, ``local[N]``, ``local[*]``, ``local[N,F]``, ``spark://host:port[,…]``,
        ``yarn``, ``k8s://…``; anything else failed in the driver JVM's start, blamed on Java."""
        if value is None or re.fullmatch(_SPARK_MASTER, value.strip()):
            return value if value is None else value.strip()
        raise ValueError(
            "not a Spark master URL: local[N], local[*], spark://host:port, yarn or k8s://…"
        )

    @field_validator("spark_driver_memory", mode="after")
    @classmethod
    def _driver_memory(cls, value: str) -> str:
        """Spark's memory string with a unit (``4g``, ``1536m``), at least 450 MiB: Spark
        refuses a driver with less (1.5 × its 300 MiB of reserved memory); anything else
        failed in the driver JVM's start, blamed on Java."""
        if (memory_megabytes(value, units="kmgt") or 0) < 450:
            raise ValueError("not Spark's memory string of at least 450m, e.g. 4g or 1536m")
        return value.strip()

    @field_validator("home", "jars_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("topic_prefix", mode="after")
    @classmethod
    def _topic_name_part(cls, value: str) -> str:
        """A part of Kafka topic names (``<prefix>.<table>``, ``streaming-<prefix>-<table>``):
        Kafka's legal characters (ASCII letters, digits, ``.``, ``_``, ``-``) and short enough
        for its 249-character limit (Kafka's ``org.apache.kafka.common.internals.Topic``)."""
        around = max(len(name("", t)) for name in (topic_name, stream_name) for t in TABLES)
        if not re.fullmatch(r"[A-Za-z0-9._-]+", value) or len(value) + around > TOPIC_NAME_MAX:
            raise ValueError(
                f"a topic prefix is 1 to {TOPIC_NAME_MAX - around} ASCII letters, digits, '.', "
                "'_' and '-' (Kafka's legal topic characters)"
            )
        return value

    @field_validator("jvm_options", mode="after")
    @classmethod
    def _code_cache_sized(cls, value: str) -> str:
        """Without code-cache flushing (``-XX:-UseCodeCacheFlushing``) the code cache's size is
        named (``-XX:ReservedCodeCacheSize=``): with the C1 JIT only (``-XX:TieredStopAtLevel=1``)
        JDK 17 reserves 48 MB, which a Spark session fills within minutes; full and never
        flushed, the JIT stops and method-handle linking fails at random with
        ``java.lang.InternalError`` (bench/README.md, "code-cache flushing")."""
        options = shlex.split(value)  # as every JVM's command line reads them (services.jvm)
        if "-XX:-UseCodeCacheFlushing" in options and not any(
            option.startswith("-XX:ReservedCodeCacheSize=") for option in options
        ):
            raise ValueError(
                "-XX:-UseCodeCacheFlushing needs -XX:ReservedCodeCacheSize= too (e.g. 240m): a "
                "code cache that fills and is never flushed stops the JIT and fails Spark's "
                "statements with java.lang.InternalError"
            )
        return value

    @field_validator("bucket", mode="before")
    @classmethod
    def _bucket_location(cls, value: object) -> str | None:
        """An S3 URI as ``s3://<bucket>/<prefix>`` (``s3a://`` accepted); a folder, absolute."""
        if value is None:
            return None
        from pinlake.location import location

        return str(location(str(value)))

    # ---- derived locations (all under home) -------------------------------------------------
    @property
    def bucket_dir(self) -> Location:
        """The topics bucket: a local folder (a Path) or an S3 location
        (:class:`pinlake.location.S3Path`, when ``PINLAKE_BUCKET`` is ``s3://…``)."""
        from pinlake.location import location

        return location(self.bucket) if self.bucket else self.home / "bucket"

    @property
    def source_db_url(self) -> str:
        """``source_url`` if set; else the local MariaDB's URL (``source_db`` = ``mariadb``) or
        the SQLite file ``home/source.db``."""
        if self.source_url:
            return self.source_url
        if self.source_db == "mariadb":
            return self.mariadb.url
        return sqlite_url(self.home / "source.db")

    @property
    def warehouse_dir(self) -> Path:
        """The Spark warehouse (managed tables' files): ``<home>/warehouse``."""
        return self.home / "warehouse"

    @property
    def metastore_dir(self) -> Path:
        """The embedded Hive metastore's folder (Derby): ``<home>/metastore``."""
        return self.home / "metastore"

    @property
    def logs_dir(self) -> Path:
        """Logs of the services and steps: ``<home>/logs``."""
        return self.home / "logs"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder (``DBT_TARGET_PATH``): manifest, run results, compiled SQL."""
        return self.home / "dbt" / "target"

    @property
    def spark_classpath(self) -> str:
        """The Delta and Kafka-connector jars, as a JVM class-path wildcard."""
        return str(self.jars_dir / "spark" / "*")

    @property
    def log4j_config(self) -> Path:
        """Spark's logging configuration (errors only), shared with the dbt `local` target."""
        return Path(__file__).parent / "conf" / "log4j2.properties"

    @property
    def kafka_jars_dir(self) -> Path:
        """The Kafka broker's jars (``make setup``): ``<jars>/kafka``."""
        return self.jars_dir / "kafka"

    def topic(self, table: str) -> str:
        """Batch topic of a table, e.g. ``pinterest.pin`` (:func:`topic_name`)."""
        return topic_name(self.topic_prefix, table)

    def stream(self, table: str) -> str:
        """Stream (Kinesis-style) name of a table, e.g. ``streaming-pinterest-pin``
        (:func:`stream_name`)."""
        return stream_name(self.topic_prefix, table)

    @property
    def run_dir(self) -> Path:
        """Pid files of the background services (``pinlake services``)."""
        return self.home / "run"

    def child_env(self) -> dict[str, str]:
        """Environment for a child process that must see exactly these settings: this
        process's environment with the ``PINLAKE_*`` variables that :class:`Settings` reads
        back (every field, the API key included) and dbt's own (project, profiles, target and
        log folders, no telemetry).

        The one way settings cross a process boundary. A child that opens a Spark session or
        runs dbt also needs this process's Spark decisions (metastore, master, the launcher's
        folders): :func:`pinlake.spark.session_env` adds them to this one. A settings variable
        this process read in another spelling (``PINLAKE_API__port``: :func:`read_spelling`)
        reaches the child in the documented one only, with the value read, so that readers of
        the exact name (dbt's ``env_var`` in profiles.yml, the DAGs) see it too.
        """
        settings = setting_variables()
        env = {k: v for k, v in os.environ.items() if k.upper() not in settings or k == k.upper()}
        for group in ("kafka", "api", "mariadb", "s3", "spark_cluster"):
            for name, value in getattr(self, group).model_dump().items():
                key = f"PINLAKE_{group.upper()}__{name.upper()}"
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = str(value)
        for name in ("source_url", "bucket", "spark_master"):
            value = getattr(self, name)
            if value is None:
                env.pop(f"PINLAKE_{name.upper()}", None)
            else:
                env[f"PINLAKE_{name.upper()}"] = str(value)
        for name in ("metastore_url", "metastore_user", "metastore_password"):
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None:
                env.pop(f"PINLAKE_{name.upper()}", None)
            else:
                env[f"PINLAKE_{name.upper()}"] = value
        env.update(
            PINLAKE_METASTORE_PORT=str(self.metastore_port),
            PINLAKE_THRIFT_HOST=self.thrift_host,
            PINLAKE_THRIFT_PORT=str(self.thrift_port),
            PINLAKE_THRIFT_UI_PORT=str(self.thrift_ui_port),
        )
        env.update(
            PINLAKE_HOME=str(self.home),
            PINLAKE_TOPIC_PREFIX=self.topic_prefix,
            PINLAKE_SOURCE_DB=self.source_db,
            PINLAKE_JARS_DIR=str(self.jars_dir),
            PINLAKE_SPARK_DRIVER_MEMORY=self.spark_driver_memory,
            PINLAKE_JVM_OPTIONS=self.jvm_options,
            PINLAKE_SPARK_CODEGEN=str(self.spark_codegen).lower(),
            PINLAKE_SPARK_ADAPTIVE=str(self.spark_adaptive).lower(),
            PINLAKE_SPARK_PARTITIONS=str(self.spark_partitions),
            PINLAKE_DBT_TARGET=self.dbt_target,
            # read by profiles.yml only (derived from the fields above); its class path
            # (PINLAKE_SPARK_CLASSPATH) depends on the metastore: pinlake.spark.metastore_env
            PINLAKE_LOG4J_CONFIG=str(self.log4j_config),
            DBT_PROFILES_DIR=str(REPO_ROOT),
            DBT_PROJECT_DIR=str(REPO_ROOT),
            # the project's profile and this target: a shell's DBT_PROFILE/DBT_TARGET (another
            # project's "dev") made dbt refuse pinlake's profile, and the demo stop at dbt build
            DBT_PROFILE=DBT_PROFILE,
            DBT_TARGET=self.dbt_target,
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            DO_NOT_TRACK="1",
            DBT_TARGET_PATH=str(self.dbt_target_dir),
            DBT_LOG_PATH=str(self.logs_dir / "dbt"),
        )
        return env

    def ensure_dirs(self) -> None:
        """Create the home and its metastore, warehouse and logs folders where missing.

        Raises :class:`~pinlake.errors.UsageError` naming the home when they cannot be made
        (a home that is a file, on a read-only file system, under a folder that takes none)."""
        from pinlake.errors import UsageError, file_system_problem

        for path in (self.home, self.metastore_dir, self.warehouse_dir, self.logs_dir):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"cannot use {self.home} as the pinlake home: {file_system_problem(exc)} "
                    "(choose another with --home or PINLAKE_HOME)"
                ) from None


#: ``PINLAKE_*`` variables that are not :class:`Settings` fields: ``{name: what reads it}``.
OTHER_VARIABLES: dict[str, str] = {
    "PINLAKE_AIRFLOW_SCHEDULE": "the batch DAG's schedule (dags/pinterest_batch.py)",
    "PINLAKE_AIRFLOW_STREAM_SCHEDULE": "the stream DAG's schedule (dags/pinterest_stream.py)",
    "PINLAKE_AIRFLOW_RETRIES": "the DAGs' task retries (dags/pinlake_dags/common.py)",
    "PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS": "the DAGs' retry delay (dags/pinlake_dags/common.py)",
    "PINLAKE_AIRFLOW_DRY_RUN": "make airflow's banner only (scripts/airflow_standalone.sh)",
    "PINLAKE_DBT_MANIFEST": "the DAGs' dbt manifest (dags/pinlake_dags/common.py)",
    "PINLAKE_DBT_SCHEMA": "dbt's default schema (profiles.yml)",
    "PINLAKE_THRIFT_USER": "the user of dbt's thrift target (profiles.yml)",
    "PINLAKE_LOG4J_CONFIG": "profiles.yml, set by pinlake (Settings.child_env)",
    "PINLAKE_METASTORE_JDBC_URL": "profiles.yml, set by pinlake (pinlake.spark.metastore_env)",
    "PINLAKE_METASTORE_DRIVER": "profiles.yml, set by pinlake (pinlake.spark.metastore_env)",
    "PINLAKE_SPARK_CLASSPATH": "profiles.yml, set by pinlake (pinlake.spark.metastore_env)",
    "PINLAKE_CHILD_START": "a child's start, set by pinlake (pinlake.errors.start_child)",
    "PINLAKE_SPARK_MASTER_URL": "profiles.yml, set by pinlake (pinlake.spark.session_env)",
    "PINLAKE_SPARK_CDS_OPTIONS": "profiles.yml, set by pinlake (pinlake.spark.session_env)",
    "PINLAKE_SPARK_LOCAL_DIR": "profiles.yml, set by pinlake (pinlake.spark.session_env)",
    "PINLAKE_SPARK_TMPDIR_OPTION": "profiles.yml, set by pinlake (pinlake.spark.session_env)",
    "PINLAKE_SPARK_CLASSPATH_CONF_DIR": "conf/spark-env.sh, set by pinlake (spark_cds)",
    "PINLAKE_STREAM_TRIGGER_SECONDS": "the stream stage's trigger (pinlake.lakehouse.stream)",
    "PINLAKE_STREAM_WARM_UP": "the stream stage's warm-up (pinlake.lakehouse.stream)",
}


def setting_variables() -> frozenset[str]:
    """The environment variable of every :class:`Settings` field: ``PINLAKE_<FIELD>``, and
    ``PINLAKE_<GROUP>__<FIELD>`` for a nested group (pydantic-settings' ``env_prefix`` and
    ``env_nested_delimiter``), whose ``PINLAKE_<GROUP>`` may also hold it whole as JSON."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add(f"PINLAKE_{name.upper()}")
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseSettings):
            names.update(f"PINLAKE_{name.upper()}__{sub.upper()}" for sub in group.model_fields)
    return frozenset(names)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per ``PINLAKE_*`` variable of ``environ`` (in any case) that nothing in pinlake
    reads (neither a :class:`Settings` field's, which pydantic-settings would ignore, nor one
    of :data:`OTHER_VARIABLES`), naming the closest known variable when one is close
    (difflib, on the names after ``PINLAKE_``), e.g. ``PINLAKE_API_PORT is not a pinlake
    variable (PINLAKE_API__PORT?)``; ``PINLAKE_`` alone is close to none. A name
    in a group's form (``PINLAKE_<GROUP>__<FIELD>``) has its field matched with its group's
    fields only, and without a close one they are named: ``(PINLAKE_KAFKA__ takes
    BOOTSTRAP_SERVERS, BROKERS, …)`` (the whole set offered PINLAKE_API__PORT, another
    service's port, for Kafka's ``PORT``). A settings field's variable is read in any case
    (:func:`read_spelling`), so ``PINLAKE_API__port`` is not named (helper-105: it was, and
    was read); :data:`OTHER_VARIABLES` are read as spelled. Sorted by name."""
    settings = setting_variables()
    known = settings | OTHER_VARIABLES.keys()
    groups: dict[str, list[str]] = {}  # {"PINLAKE_KAFKA": ["BOOTSTRAP_SERVERS", …]}
    for variable in sorted(settings):
        group, nested, field = variable.partition("__")
        if nested:
            groups.setdefault(group, []).append(field)
    unknown = (
        n
        for n in environ
        if n.upper().startswith("PINLAKE_") and n not in known and n.upper() not in settings
    )
    lines = []
    for name in sorted(unknown):
        group, nested, field = name.upper().partition("__")
        if nested and group in groups:
            close = difflib.get_close_matches(field, groups[group], n=1, cutoff=0.75)
            hint = (
                f"{group}__{close[0]}?" if close else f"{group}__ takes {', '.join(groups[group])}"
            )
        else:  # the names after the common prefix: PINLAKE_ alone offered PINLAKE_S3
            prefix = len("PINLAKE_")
            after = {k[prefix:]: k for k in known}
            close = difflib.get_close_matches(name.upper()[prefix:], after, n=1, cutoff=0.8)
            hint = f"{after[close[0]]}?" if close else ""
        lines.append(f"{name} is not a pinlake variable" + (f" ({hint})" if hint else ""))
    return lines


def read_spelling(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The spelling of the settings variable ``name`` (:func:`setting_variables`, upper case)
    that pinlake reads from ``environ`` (default: ``os.environ``): pydantic-settings reads
    names in any case (``case_sensitive`` off), and of two spellings set, the last one in the
    environment's order, an empty value skipped (``env_ignore_empty``; pydantic-settings'
    ``parse_env_vars``). ``name`` itself when no spelling is set."""
    env = os.environ if environ is None else environ
    found = name
    for key, value in env.items():
        if key.upper() == name and value != "":
            found = key
    return found


def spelt_twice(environ: Mapping[str, str]) -> list[str]:
    """One line per settings variable that ``environ`` sets in more than one spelling
    (``PINLAKE_API__PORT`` and ``PINLAKE_API__port``, empty values aside), naming the one
    pinlake reads (:func:`read_spelling`): without it, one of two values was taken without a
    word (helper-105). Sorted by name."""
    settings = setting_variables()
    spellings: dict[str, list[str]] = {}
    for key, value in environ.items():
        if key.upper() in settings and value != "":
            spellings.setdefault(key.upper(), []).append(key)
    return [  # keys in the environment's order: the last is the one read (read_spelling)
        f"{' and '.join(sorted(keys))} are one setting (names are read in any case): pinlake "
        f"reads {keys[-1]}, the last of them in the environment"
        for _name, keys in sorted(spellings.items())
        if len(keys) > 1
    ]


def variable_warnings(environ: Mapping[str, str]) -> list[str]:
    """The warnings about ``environ``'s ``PINLAKE_*`` variables that every command prints:
    :func:`unknown_variables`, then :func:`spelt_twice`."""
    return [*unknown_variables(environ), *spelt_twice(environ)]


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


#: The environment prefix of each settings model, by the model's name (a ValidationError's
#: ``title``): the variables a problem names (:func:`settings_problems`).
SETTINGS_PREFIXES: dict[str, str] = {
    model.__name__: model.model_config["env_prefix"]
    for model in (
        Settings,
        KafkaSettings,
        ApiSettings,
        MariadbSettings,
        S3Settings,
        SparkClusterSettings,
    )
}


#: Parts of a setting's name whose value an error message never repeats.
_SECRET_PARTS = ("password", "key", "token", "secret")


def settings_problems(exc: ValidationError) -> str:
    """One line for what pydantic rejected. For :class:`~pinlake.config.Settings` each problem
    names the environment variables a user sets (``loc`` ``("api", "port")`` is
    ``PINLAKE_API__PORT``: the settings' ``PINLAKE_`` prefix and ``__`` nesting; a nested
    model's own check, whose input is the variables set under it, names each of them) and
    repeats the values given, unless the name is a secret's; so does a nested settings model
    read on its own (``ApiSettings``: an empty ``PINLAKE_API__PORT`` named ``port`` alone,
    helper-56; :data:`~pinlake.config.SETTINGS_PREFIXES`); for another model, the field's
    path. Each message is the validator's own (:func:`error_message`)."""
    problems = []
    for error in exc.errors():
        path = [str(part) for part in error["loc"]]
        message = error_message(error)
        prefix = SETTINGS_PREFIXES.get(exc.title)
        given = error.get("input")
        if prefix is not None and (path or isinstance(given, dict)):
            # (no path: a nested model read on its own, its own check: helper-113's empty
            # PINLAKE_KAFKA__BOOTSTRAP_SERVERS was named nowhere)
            name = prefix + "__".join(path).upper()
            if isinstance(given, dict):  # e.g. KafkaSettings' check of brokers and servers
                named = [
                    _variable(read_spelling(f"{name}{'__' if path else ''}{key.upper()}"), value)
                    for key, value in given.items()
                ]
            else:
                spelt = read_spelling(name)  # as the user set it: PINLAKE_API__port
                named = [_variable(spelt, given) if "input" in error else spelt]
                # the value once: a message that starts with it (pinlake.location's) is not
                # told it again (helper-113: PINLAKE_BUCKET='s3://ab': 's3://ab': …)
                message = message.removeprefix(f"{given!r}: ")
            problems.append(f"{', '.join(named) or name}: {message}")
        else:
            problems.append(".".join(path) + (": " if path else "") + message)
    return "; ".join(problems)


def _variable(name: str, value: object) -> str:
    """``NAME='value'``, or ``NAME`` alone for a secret's name (:data:`_SECRET_PARTS`)."""
    return name if any(part in name.lower() for part in _SECRET_PARTS) else f"{name}={value!r}"


def invalid_settings(exc: ValidationError) -> str:
    """``invalid settings: <problems>``: the one line every entry point prints, after
    ``error: ``, for settings pydantic rejected (:func:`settings_problems`)."""
    return f"invalid settings: {settings_problems(exc)}"
