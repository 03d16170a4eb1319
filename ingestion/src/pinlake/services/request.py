"""What one ``pinlake services up`` asks for: :class:`UpRequest`, the one list of its options
that :mod:`.manager`'s functions take (the configuration and port checks, the start, the summary
and the command a hint repeats) and the pipeline's ``ServicesUp`` step extends. Its own module so
that the pipeline's step types import it without the supervisors (and their Kafka client)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpRequest:
    """What one ``services up`` call asks for: the options of ``pinlake services up``, with its
    defaults, so that a new option is added in one place.

    ``ingestion``: the broker(s), the ingestion API and pinlake's topics (without them,
    ``--no-ingestion``, only the other services asked for start: the engine for dbt's ``thrift``
    target on landed data, say); ``stream``: the continuous stream query (it reads the broker),
    micro-batches every ``trigger_seconds`` seconds;
    ``s3``: the local S3 server; ``metastore``: the shared metastore; ``thrift``: the Spark Thrift
    server (and the shared metastore it needs); ``spark_cluster``: the standalone master and its
    workers (``settings.spark_cluster.workers``). The broker count, the workers' count and the
    source database are the settings' (``Settings.kafka.brokers``, ``Settings.spark_cluster``,
    ``Settings.source_db``)."""

    stream: bool = True
    trigger_seconds: float = 1.0
    s3: bool = False
    metastore: bool = False
    thrift: bool = False
    spark_cluster: bool = False
    ingestion: bool = True

    @property
    def shared_metastore(self) -> bool:
        """Whether the shared metastore runs: asked for, or needed by the Thrift server."""
        return self.metastore or self.thrift

    def problem(self, source_db: str) -> str | None:
        """Why this request cannot be served, in one line naming the options to change, or None.
        Without ``ingestion`` there is no stream query (it reads the stream topics from the
        broker) and there must be another service to start (``source_db``: the settings' source,
        ``mariadb`` starts MariaDB). Pure."""
        if self.ingestion:
            return None
        if self.stream:
            return (
                "--no-ingestion starts no broker, and the stream query (--stream) reads the stream "
                "topics from it: drop --stream or --no-ingestion"
            )
        others = self.s3 or self.shared_metastore or self.spark_cluster or source_db == "mariadb"
        if not others:
            return (
                "--no-ingestion leaves nothing to start: add what to start (--metastore, "
                "--thrift, --spark-cluster, --s3 or --source-db mariadb), or drop --no-ingestion"
            )
        return None


#: The broker(s) and the API alone: what :func:`.manager.start_all` starts when asked for nothing
#: else (tests and benchmarks that need no stream query).
BROKER_AND_API = UpRequest(stream=False)

#: What ``pinlake services up`` asks for without options: the broker(s), the API and the stream
#: query.
SERVICES_UP = UpRequest()
