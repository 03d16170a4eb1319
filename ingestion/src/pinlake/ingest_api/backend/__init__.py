"""The Kafka side of the ingestion API, one job per module:

- :mod:`.producer`: the idempotent ``acks=all`` producer driven from asyncio (:class:`Delivery`);
- :mod:`.metadata`: topics' partitions (TTL cache), list, create, delete (:class:`TopicInfo`);
- :mod:`.reader`: reads of one partition from an offset (:class:`ReadResult`);
- :mod:`.consumers`: REST Proxy v2 consumer instances (group consumers, idle expiry);
- :mod:`.watch`: whether the broker is down, and the probe that notices it is back.

:class:`KafkaBackend` puts them together for one app. Every call that needs the broker raises
:class:`~pinlake.ingest_api.errors.BrokerUnavailable` when it cannot be reached.
"""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from pinlake import kafka
from pinlake.config import Settings
from pinlake.ingest_api.backend.consumers import ConsumerRegistry
from pinlake.ingest_api.backend.metadata import TopicInfo, TopicMetadata
from pinlake.ingest_api.backend.producer import AckedProducer, Delivery
from pinlake.ingest_api.backend.reader import PartitionReader, ReadResult
from pinlake.ingest_api.backend.watch import BrokerWatch
from pinlake.ingest_api.errors import BrokerUnavailable

__all__ = ["BrokerUnavailable", "Delivery", "KafkaBackend", "ReadResult", "TopicInfo"]


class KafkaBackend:
    """The producer, metadata, reader, consumer instances and broker watch of one app, for
    ``settings.kafka.bootstrap_servers``; :meth:`close` stops them."""

    def __init__(self, settings: Settings) -> None:
        self.admin = AdminClient(
            {
                "bootstrap.servers": settings.kafka.bootstrap_servers,
                "logger": kafka.quiet_logger(),
                "log_level": 0,
            }
        )
        self.watch = BrokerWatch(self.admin)
        self.producer = AckedProducer(settings, self.watch)
        self.metadata = TopicMetadata(
            self.admin, self.watch, replication_factor=kafka.replication_factor(settings)
        )
        self.reader = PartitionReader(settings.kafka.bootstrap_servers)
        self.consumers = ConsumerRegistry(settings, self.watch)

    def close(self) -> None:
        self.consumers.close()
        self.watch.close()
        self.producer.close()
        self.reader.close()
