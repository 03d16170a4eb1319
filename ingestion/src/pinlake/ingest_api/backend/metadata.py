"""Topic metadata for the routes: a TTL cache of topics' partitions, listing, create, delete."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from pinlake import kafka
from pinlake.ingest_api.backend.watch import BrokerWatch
from pinlake.ingest_api.errors import BrokerUnavailable
from pinlake.ingest_api.wire import is_internal_topic

#: How long a topic's partitions are trusted without asking the broker again (seconds).
META_TTL = 30.0
#: The topic ID a broker without topic IDs answers: the all-zero UUID (as its text).
NO_TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"


@dataclass(slots=True)
class TopicInfo:
    """A topic's partitions as ``{partition: leader broker id}``, fetched at ``fetched``
    (``time.monotonic()`` seconds), and its Kafka topic ID (``topic_id``, KIP-516: a new one
    each time a topic of that name is created; None when the broker gives none), which tells a
    topic from a deleted one of the same name."""

    name: str
    partitions: dict[int, int]
    fetched: float
    topic_id: str | None = None


class TopicMetadata:
    """Metadata requests through one admin client; every call raises :class:`BrokerUnavailable`
    when the broker cannot be reached (or is known to be down). Topics it creates get
    ``replication_factor`` replicas (:func:`pinlake.kafka.replication_factor`) and
    ``topic_config`` (:func:`pinlake.kafka.topic_config`)."""

    def __init__(
        self,
        admin: AdminClient,
        watch: BrokerWatch,
        replication_factor: int = 1,
        topic_config: dict[str, str] | None = None,
    ) -> None:
        self.admin = admin
        self.watch = watch
        self.replication_factor = replication_factor
        self.topic_config = dict(topic_config or {})
        self._cache: dict[str, TopicInfo] = {}

    def _fetch_topic(self, topic: str) -> TopicInfo | None:
        """Blocking metadata lookup of one topic: TopicInfo, None if missing."""
        try:
            meta = self.admin.list_topics(topic=topic, timeout=3.0)
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from exc
        tmeta = meta.topics.get(topic)
        if tmeta is None:
            return None
        if tmeta.error is not None:
            code = tmeta.error.code()
            if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.TOPIC_EXCEPTION):
                return None
            if code == KafkaError.LEADER_NOT_AVAILABLE and not tmeta.partitions:
                return None
        if not tmeta.partitions:
            return None
        partitions = {p: pm.leader for p, pm in tmeta.partitions.items()}
        info = TopicInfo(topic, partitions, time.monotonic(), self._topic_id(topic))
        self._cache[topic] = info
        return info

    def _topic_id(self, topic: str) -> str | None:
        """Blocking DescribeTopics of ``topic``: the text of its topic ID, or None when the
        broker gives none (the all-zero UUID, :data:`NO_TOPIC_ID`) or does not know the topic
        yet (its metadata, which found the topic, stays the judge of whether it exists). A
        broker that cannot be reached raises :class:`BrokerUnavailable`, any other Kafka error
        is re-raised (→ 500)."""
        future = self.admin.describe_topics(TopicCollection([topic]), request_timeout=3.0)[topic]
        try:
            description = future.result()
        except KafkaException as exc:
            code = exc.args[0].code()
            if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            if code in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise BrokerUnavailable(str(exc)) from exc
            raise
        topic_id = None if description.topic_id is None else str(description.topic_id)
        return None if topic_id == NO_TOPIC_ID else topic_id

    async def topic(self, topic: str) -> TopicInfo | None:
        """The topic's partitions (cached for :data:`META_TTL` s), None if it does not exist.

        While the broker is down a cached answer is served however old; without one this
        raises :class:`BrokerUnavailable`.
        """
        info = self._cache.get(topic)
        if info is not None and time.monotonic() - info.fetched < META_TTL:
            return info
        if self.watch.down:
            if info is not None:
                return info
            raise BrokerUnavailable("broker not available")
        return await asyncio.to_thread(self._fetch_topic, topic)

    def forget(self, topic: str) -> None:
        """Drop the cached metadata of ``topic`` (it was deleted, created or found gone)."""
        self._cache.pop(topic, None)

    async def list_topics(self) -> list[str]:
        """Names of the topics, sorted, without Kafka's internal ``__*`` topics."""
        self.watch.require_up()

        def _list() -> list[str]:
            try:
                meta = self.admin.list_topics(timeout=3.0)
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
            return sorted(t for t in meta.topics if not is_internal_topic(t))

        return await asyncio.to_thread(_list)

    async def broker_ids(self) -> list[int]:
        """The ids of the cluster's brokers, sorted."""

        def _ids() -> list[int]:
            try:
                return sorted(self.admin.list_topics(timeout=3.0).brokers)
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc

        return await asyncio.to_thread(_ids)

    async def create_topic(self, topic: str, partitions: int) -> bool:
        """Create ``topic`` with ``partitions`` partitions (``replication_factor`` replicas).

        Returns False if it already exists. Answers only once every partition has a leader
        (:func:`pinlake.kafka.wait_for_leaders`, up to 15 s; Kinesis would say CREATING, then
        ACTIVE); raises :class:`BrokerUnavailable` if that does not happen.
        """
        self.watch.require_up()
        future = self.admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=partitions,
                    replication_factor=self.replication_factor,
                    config=self.topic_config,
                )
            ],
            operation_timeout=10,
            request_timeout=10,
        )[topic]
        created = await asyncio.to_thread(_admin_done, future, KafkaError.TOPIC_ALREADY_EXISTS)
        self.forget(topic)
        if not created:
            return False
        timeout = 15.0
        try:
            ready = await asyncio.to_thread(
                kafka.wait_for_leaders, self.admin, [topic], partitions, timeout
            )
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if not ready:
            raise BrokerUnavailable(f"topic {topic} has no leader after {timeout:.0f} s")
        return True

    async def delete_topic(self, topic: str) -> bool:
        """Delete ``topic``; False if there was none. Returns once no broker lists it any more
        (like create, which returns once every partition has a leader), so a DescribeStream
        right after answers ResourceNotFound, not a half-deleted stream."""
        self.watch.require_up()
        self.forget(topic)
        future = self.admin.delete_topics([topic], operation_timeout=10, request_timeout=10)[topic]
        deleted = await asyncio.to_thread(_admin_done, future, KafkaError.UNKNOWN_TOPIC_OR_PART)
        if deleted:
            timeout = 15.0
            try:
                gone = await asyncio.to_thread(
                    kafka.wait_until_deleted, self.admin, [topic], timeout
                )
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
            if not gone:
                raise BrokerUnavailable(f"topic {topic} still listed {timeout:.0f} s after delete")
            self.forget(topic)
        return deleted


def _admin_done(future, refused: int, timeout: float = 15.0) -> bool:
    """Wait for an admin operation: True when done, False when the broker answered ``refused``
    (e.g. the topic already exists); a broker that cannot be reached raises BrokerUnavailable,
    any other Kafka error is re-raised (→ 500)."""
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() == refused:
            return False
        if err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
            raise BrokerUnavailable(str(err)) from exc
        raise
    return True
