"""The Kafka side of the ingestion API, one job per module:

- :mod:`.producer`: the idempotent ``acks=all`` producer driven from asyncio (:class:`Delivery`);
- :mod:`.metadata`: topics' partitions (TTL cache), list, create, delete (:class:`TopicInfo`);
- :mod:`.reader`: reads of one partition from an offset (:class:`ReadResult`);
- :mod:`.consumers`: REST Proxy v2 consumer instances (group consumers, idle expiry);
- :mod:`.watch`: whether the broker is down, and the probe that notices it is back.

:class:`KafkaBackend` puts them together for one app (a topic it creates or deletes is
renewed in every client's metadata at once). Every call that needs the broker raises
:class:`~pinlake.ingest_api.errors.BrokerUnavailable` when it cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaException
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

log = logging.getLogger("pinlake.api")


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
            self.admin,
            self.watch,
            replication_factor=kafka.replication_factor(settings),
            topic_config=kafka.topic_config(settings),
        )
        self.reader = PartitionReader(settings.kafka.bootstrap_servers)
        self.consumers = ConsumerRegistry(settings, self.watch)

    async def create_topic(self, topic: str, partitions: int) -> bool:
        """:meth:`TopicMetadata.create_topic`, then the producer's and the reader's view of the
        topic renewed (:meth:`refresh`): the topic is usable as soon as this returns."""
        created = await self.metadata.create_topic(topic, partitions)
        if created:
            await asyncio.to_thread(self.refresh, topic)
        return created

    async def delete_topic(self, topic: str) -> bool:
        """:meth:`TopicMetadata.delete_topic`, then the clients' view renewed (:meth:`refresh`)."""
        deleted = await self.metadata.delete_topic(topic)
        if deleted:
            await asyncio.to_thread(self.refresh, topic)
        return deleted

    def refresh(self, topic: str) -> None:
        """Renew the producer's and the reader's metadata of ``topic`` (blocking, up to 3 s
        each). Each client caches a topic's partitions (the producer for
        ``topic.metadata.refresh.interval.ms``, 30 s): a stream deleted and created again with
        more shards was refused records for its new partitions ("Local: Unknown partition")
        for about 20 s, and its old partitions' offsets read as unknown. A client that does not
        answer is left to renew it itself, as it would have; the create or delete stands."""
        for client in (self.producer, self.reader):
            try:
                client.refresh_metadata(topic)
            except KafkaException as exc:
                log.warning("renewing the metadata of %s failed: %s", topic, exc)

    def close(self) -> None:
        """Close the consumer instances, the broker watch, the producer (flushing what it
        holds) and the reader (API shutdown)."""
        self.consumers.close()
        self.watch.close()
        self.producer.close()
        self.reader.close()
