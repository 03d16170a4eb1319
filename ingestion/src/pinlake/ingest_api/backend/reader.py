"""Reading one partition from an offset (the Kinesis GetRecords path)."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pinlake import kafka
from pinlake.ingest_api.errors import BrokerUnavailable


class ReadResult(NamedTuple):
    """Messages read from one partition (in offset order) and its watermarks at the time:
    ``low`` is the first offset still stored, ``high`` the offset the next record will get."""

    messages: list[Message]
    low: int
    high: int


class PartitionReader:
    """One consumer (no group commits), used by one request at a time under a lock."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap = bootstrap_servers
        self._lock = threading.Lock()
        self._consumer: Consumer | None = None

    def _get(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": "pinlake-api-reader",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 50,
                    "logger": kafka.quiet_logger(),
                    "log_level": 0,
                }
            )
        return self._consumer

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            return kafka.watermarks(self._get(), topic, partition, timeout=3.0)
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from exc

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """``(low, high)`` offsets of a partition (blocking, up to 3 s, a leader in transit
        asked again: :func:`pinlake.kafka.watermarks`); raises :class:`BrokerUnavailable` if the
        broker does not answer."""
        with self._lock:
            return self._watermarks(topic, partition)

    def offset_for_time(self, topic: str, partition: int, millis: int) -> int:
        """The offset of the first record of ``topic``/``partition`` whose timestamp is at or
        after ``millis`` (milliseconds since the epoch; Kafka's offsets-for-times, a trimmed
        one giving the oldest record kept), or the high watermark when none is (blocking, up to
        3 s). Raises :class:`BrokerUnavailable` if the broker does not answer."""
        with self._lock:
            try:
                (found,) = self._get().offsets_for_times(
                    [TopicPartition(topic, partition, millis)], timeout=3.0
                )
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
            if found.error is not None:
                raise BrokerUnavailable(str(found.error))
            if found.offset >= 0:
                return found.offset
            return self._watermarks(topic, partition)[1]

    def refresh_metadata(self, topic: str) -> None:
        """Ask the broker for ``topic``'s metadata now (blocking, up to 3 s): the consumer's
        cache takes the answer. Raises KafkaException if the broker does not answer."""
        with self._lock:
            self._get().list_topics(topic, timeout=3.0)

    def read(self, topic: str, partition: int, offset: int, limit: int) -> ReadResult:
        """Up to ``limit`` messages of ``topic``/``partition`` from ``offset`` (or the low
        watermark, if that is later), waiting at most about 3 s (blocking). Raises
        :class:`BrokerUnavailable` if the broker does not answer."""
        with self._lock:
            low, high = self._watermarks(topic, partition)
            start = max(offset, low)
            if start >= high:
                return ReadResult([], low, high)
            want = min(limit, high - start)
            consumer = self._get()
            consumer.assign([TopicPartition(topic, partition, start)])
            out: list[Message] = []
            deadline = time.monotonic() + 3.0
            try:
                while len(out) < want and time.monotonic() < deadline:
                    for msg in consumer.consume(num_messages=want - len(out), timeout=0.5):
                        err = msg.error()
                        if err is not None:
                            if err.code() == KafkaError._PARTITION_EOF:
                                deadline = 0.0
                            continue
                        out.append(msg)
            finally:
                consumer.unassign()
            return ReadResult(out, low, high)

    def close(self) -> None:
        """Close the reading consumer, if one was made (API shutdown)."""
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
