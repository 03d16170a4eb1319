"""What one ``pinlake services up`` asks for: :class:`UpRequest`, the one list of its options
that :mod:`.manager`'s functions take (the configuration and port checks, the start, the summary
and the command a hint repeats) and the pipeline's ``ServicesUp`` step extends. Its own module so
that the pipeline's step types import it without the supervisors (and their Kafka client)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpRequest:
    """What one ``services up`` call asks for beside the broker(s) and the API (which it always
    starts): the options of ``pinlake services up``, with its defaults, so that a new option is
    added in one place.

    ``stream``: the continuous stream query, micro-batches every ``trigger_seconds`` seconds;
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

    @property
    def shared_metastore(self) -> bool:
        """Whether the shared metastore runs: asked for, or needed by the Thrift server."""
        return self.metastore or self.thrift


#: The broker(s) and the API alone: what :func:`.manager.start_all` starts when asked for nothing
#: else (tests and benchmarks that need no stream query).
BROKER_AND_API = UpRequest(stream=False)

#: What ``pinlake services up`` asks for without options: the broker(s), the API and the stream
#: query.
SERVICES_UP = UpRequest()
