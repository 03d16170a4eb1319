"""One typed settings object for every pinlake component.

Everything a component writes lives under ``PINLAKE_HOME`` (default ``./.pinlake``): the source
database, the topics bucket, the Spark warehouse and Hive metastore, pid files and logs. Two
different homes never share state, so tests and a user's demo can run side by side.

Settings come from environment variables with the ``PINLAKE_`` prefix (``PINLAKE_HOME``,
``PINLAKE_SOURCE_URL``, ``PINLAKE_KAFKA__BOOTSTRAP_SERVERS`` ...); CLI options only override them.
Build it with :func:`get_settings` (never at import time).
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The three source tables / topics, in the order the original producer posted them.
TABLES: tuple[str, ...] = ("pin", "geo", "user")

#: Repository root (the dbt project): ``ingestion/src/pinlake/config.py`` -> four levels up.
REPO_ROOT = Path(__file__).resolve().parents[3]

#: An API Gateway stage name ("alphanumeric characters, hyphens, and underscores", at most 128).
_STAGE_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


class KafkaSettings(BaseSettings):
    """The Kafka cluster. A local KRaft broker is started unless ``external`` is true."""

    model_config = SettingsConfigDict(env_prefix="PINLAKE_KAFKA__", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    controller_port: int = 9093
    external: bool = False
    partitions: int = 1


class ApiSettings(BaseSettings):
    """The ingestion API (Kafka REST v2 + Kinesis proxy stand-in)."""

    model_config = SettingsConfigDict(env_prefix="PINLAKE_API__", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8082
    api_key: SecretStr | None = None
    max_request_bytes: int = 10 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    #: how long the API waits for Kafka to acknowledge a record before answering 5xx
    delivery_timeout_ms: int = 10_000
    #: Kinesis-proxy CreateStream default shard count when the body gives none (the tutorial's 5)
    default_shard_count: int = 5
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
    port: int = 3307
    database: str = "pinterest_data"
    user: str = "pinlake"
    password: SecretStr = SecretStr("pinlake")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of this server (PyMySQL driver, utf8mb4)."""
        password = quote(self.password.get_secret_value(), safe="")
        return (
            f"mysql+pymysql://{self.user}:{password}@127.0.0.1:"
            f"{self.port}/{self.database}?charset=utf8mb4"
        )


#: Where the source tables live when ``PINLAKE_SOURCE_URL`` is not set.
SourceDb = Literal["sqlite", "mariadb"]


class Settings(BaseSettings):
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
    bucket: Path | None = Field(default=None, description="topics bucket (default: home/bucket)")
    topic_prefix: str = Field(default="pinterest", description="the original's <UserId>")
    jars_dir: Path = Field(
        default=REPO_ROOT / ".pinlake-jars", description="JVM artifacts resolved by make setup"
    )
    spark_master: str = "local[2]"
    spark_driver_memory: str = "4g"
    dbt_target: str = "local"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    mariadb: MariadbSettings = Field(default_factory=MariadbSettings)

    @field_validator("home", "jars_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("bucket", mode="after")
    @classmethod
    def _absolute_or_none(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    # ---- derived locations (all under home) -------------------------------------------------
    @property
    def bucket_dir(self) -> Path:
        return self.bucket or self.home / "bucket"

    @property
    def source_db_url(self) -> str:
        """``source_url`` if set; else the local MariaDB's URL (``source_db`` = ``mariadb``) or
        the SQLite file ``home/source.db``."""
        if self.source_url:
            return self.source_url
        if self.source_db == "mariadb":
            return self.mariadb.url
        return f"sqlite:///{self.home / 'source.db'}"

    @property
    def warehouse_dir(self) -> Path:
        return self.home / "warehouse"

    @property
    def metastore_dir(self) -> Path:
        return self.home / "metastore"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

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
        return self.jars_dir / "kafka"

    def topic(self, table: str) -> str:
        """Batch topic of a table, e.g. ``pinterest.pin`` (the original ``<UserId>.pin``)."""
        return f"{self.topic_prefix}.{table}"

    def stream(self, table: str) -> str:
        """Stream (Kinesis-style) name of a table, e.g. ``streaming-pinterest-pin``."""
        return f"streaming-{self.topic_prefix}-{table}"

    @property
    def run_dir(self) -> Path:
        """Pid files of the background services (``pinlake services``)."""
        return self.home / "run"

    def child_env(self) -> dict[str, str]:
        """Environment for a child process that must see exactly these settings.

        The one way settings cross a process boundary: the ``PINLAKE_*`` variables that
        :class:`Settings` reads back (every field, the API key included), plus what dbt needs
        (profiles.yml resolves the ``local`` target to this home through them). Used for dbt,
        the ingestion API server and steps run in a child process
        (:func:`pinlake.pipeline.isolated.run_isolated`).
        """
        env = dict(os.environ)
        for group in ("kafka", "api", "mariadb"):
            for name, value in getattr(self, group).model_dump().items():
                key = f"PINLAKE_{group.upper()}__{name.upper()}"
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = str(value)
        for name in ("source_url", "bucket"):
            value = getattr(self, name)
            if value is None:
                env.pop(f"PINLAKE_{name.upper()}", None)
            else:
                env[f"PINLAKE_{name.upper()}"] = str(value)
        env.update(
            PINLAKE_HOME=str(self.home),
            PINLAKE_TOPIC_PREFIX=self.topic_prefix,
            PINLAKE_SOURCE_DB=self.source_db,
            PINLAKE_JARS_DIR=str(self.jars_dir),
            PINLAKE_SPARK_MASTER=self.spark_master,
            PINLAKE_SPARK_DRIVER_MEMORY=self.spark_driver_memory,
            PINLAKE_DBT_TARGET=self.dbt_target,
            # read by profiles.yml only (derived from the fields above)
            PINLAKE_SPARK_CLASSPATH=self.spark_classpath,
            PINLAKE_LOG4J_CONFIG=str(self.log4j_config),
            # conf/spark-env.sh keeps the JDK's start-up warning off the terminal (see it)
            SPARK_CONF_DIR=os.environ.get("SPARK_CONF_DIR", str(self.log4j_config.parent)),
            SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
            DBT_PROFILES_DIR=str(REPO_ROOT),
            DBT_PROJECT_DIR=str(REPO_ROOT),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            DO_NOT_TRACK="1",
            DBT_TARGET_PATH=str(self.home / "dbt" / "target"),
            DBT_LOG_PATH=str(self.logs_dir / "dbt"),
        )
        return env

    def ensure_dirs(self) -> None:
        for path in (self.home, self.metastore_dir, self.warehouse_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)


@cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
