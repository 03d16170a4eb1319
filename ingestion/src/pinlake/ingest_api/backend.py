"""The Kafka side of the API: an idempotent producer driven from asyncio, metadata and reads.

Delivery reports run on one poll thread; each produce call gets one asyncio future that the
callback resolves (thread-safely) once every record of the request has been acknowledged or
failed. Nothing is reported as written before Kafka acknowledged it (acks=all).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from pinlake import kafka
from pinlake.config import Settings

log = logging.getLogger("pinlake.api")

_quiet = logging.getLogger("pinlake.api.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class BrokerUnavailable(Exception):
    """Kafka cannot be reached (→ 503)."""


@dataclass(slots=True)
class Delivery:
    partition: int | None = None
    offset: int | None = None
    error: KafkaError | None = None


class _Batch:
    """One request's records: filled in by delivery callbacks, resolved once all are back."""

    __slots__ = ("results", "pending", "future", "loop")

    def __init__(self, n: int, loop: asyncio.AbstractEventLoop) -> None:
        self.results: list[Delivery | None] = [None] * n
        self.pending = n
        self.future: asyncio.Future = loop.create_future()
        self.loop = loop

    def done(self, index: int, err: KafkaError | None, msg) -> None:  # poll thread
        if err is None:
            self.results[index] = Delivery(msg.partition(), msg.offset())
        else:
            self.results[index] = Delivery(None, None, err)
        self.pending -= 1
        if self.pending == 0:
            self.loop.call_soon_threadsafe(_resolve, self.future, self.results)

    def callback(self, index: int):
        done = self.done
        return lambda err, msg: done(index, err, msg)


def _resolve(future: asyncio.Future, results) -> None:
    if not future.done():
        future.set_result(results)


@dataclass(slots=True)
class TopicInfo:
    name: str
    partitions: dict[int, int]  # partition -> leader
    fetched: float


class KafkaBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bootstrap = settings.kafka.bootstrap_servers
        self.delivery_timeout_ms = settings.api.delivery_timeout_ms
        self.broker_down = False
        self._stop = threading.Event()
        self._meta: dict[str, TopicInfo] = {}
        self._meta_ttl = 30.0
        self._read_lock = threading.Lock()
        self._reader: Consumer | None = None
        self.producer = Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 1,
                "partitioner": "murmur2_random",
                "batch.num.messages": 10000,
                "message.max.bytes": max(1_000_000, settings.api.max_record_bytes + 4096),
                "message.timeout.ms": self.delivery_timeout_ms,
                "socket.timeout.ms": 5000,
                "reconnect.backoff.ms": 100,
                "reconnect.backoff.max.ms": 1000,
                "topic.metadata.refresh.interval.ms": 30000,
                "error_cb": self._on_error,
                "logger": _quiet,
                "log_level": 3,
            }
        )
        self.admin = AdminClient(
            {"bootstrap.servers": self.bootstrap, "logger": _quiet, "log_level": 0}
        )
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()
        self._watch = threading.Thread(target=self._watch_loop, name="kafka-watch", daemon=True)
        self._watch.start()

    # ---- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=5)
        self._watch.join(timeout=5)
        try:
            self.producer.flush(5)
        except Exception:  # pragma: no cover - best effort at shutdown
            pass
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:  # poll thread
        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if err.code() == KafkaError._ALL_BROKERS_DOWN:
                self.broker_down = True
        elif err.fatal():
            log.error("fatal Kafka producer error: %s", err)

    def _watch_loop(self) -> None:
        """While the broker is marked down (new requests then get 503 at once), probe it until
        it is back.

        Records handed to librdkafka before the outage are left alone: they are retried by the
        idempotent producer until they are delivered or ``message.timeout.ms`` expires. Purging
        the local queue instead would also fail records that a lost response had put back in it
        after the broker had written them, and the client's retry would write them twice.
        """
        while not self._stop.wait(0.25):
            if not self.broker_down:
                continue
            try:
                meta = self.admin.list_topics(timeout=1.0)
                if meta.brokers:
                    self.broker_down = False
            except Exception:
                pass

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            return bool(self.admin.list_topics(timeout=timeout).brokers)
        except Exception:
            return False

    # ---- metadata --------------------------------------------------------------------------
    def _fetch_topic(self, topic: str) -> TopicInfo | None:
        """Blocking metadata lookup of one topic: TopicInfo, None if missing; raises if down."""
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
        info = TopicInfo(
            topic, {p: pm.leader for p, pm in tmeta.partitions.items()}, time.monotonic()
        )
        self._meta[topic] = info
        return info

    async def topic(self, topic: str) -> TopicInfo | None:
        info = self._meta.get(topic)
        if info is not None and time.monotonic() - info.fetched < self._meta_ttl:
            return info
        if self.broker_down:
            if info is not None:
                return info
            raise BrokerUnavailable("broker not available")
        return await asyncio.to_thread(self._fetch_topic, topic)

    def forget(self, topic: str) -> None:
        self._meta.pop(topic, None)

    async def list_topics(self) -> list[str]:
        if self.broker_down:
            raise BrokerUnavailable("broker not available")

        def _list():
            try:
                meta = self.admin.list_topics(timeout=3.0)
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
            return sorted(t for t in meta.topics if not t.startswith("__"))

        return await asyncio.to_thread(_list)

    async def create_topic(self, topic: str, partitions: int) -> str | None:
        """Create a topic; returns None, or 'exists'."""
        if self.broker_down:
            raise BrokerUnavailable("broker not available")
        future = self.admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            operation_timeout=10,
            request_timeout=10,
        )[topic]
        created = await asyncio.to_thread(_admin_done, future, KafkaError.TOPIC_ALREADY_EXISTS)
        self.forget(topic)
        if not created:
            return "exists"
        # answer only once the topic is usable (Kinesis would say CREATING, then ACTIVE)
        timeout = 15.0
        try:
            ready = await asyncio.to_thread(
                kafka.wait_for_leaders, self.admin, [topic], partitions, timeout
            )
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if not ready:
            raise BrokerUnavailable(f"topic {topic} has no leader after {timeout:.0f} s")
        return None

    async def delete_topic(self, topic: str) -> bool:
        """Delete a topic; False if there was none."""
        if self.broker_down:
            raise BrokerUnavailable("broker not available")
        self.forget(topic)
        future = self.admin.delete_topics([topic], operation_timeout=10, request_timeout=10)[topic]
        return await asyncio.to_thread(_admin_done, future, KafkaError.UNKNOWN_TOPIC_OR_PART)

    # ---- produce ---------------------------------------------------------------------------
    async def produce(
        self, topic: str, records: list[tuple[bytes | None, bytes | None, int | None]]
    ) -> list[Delivery]:
        """Produce (key, value, partition) records; returns one Delivery per record, in order."""
        if self.broker_down:
            raise BrokerUnavailable("broker not available")
        loop = asyncio.get_running_loop()
        batch = _Batch(len(records), loop)
        produce = self.producer.produce
        callback = batch.callback
        i = 0
        n = len(records)
        give_up = time.monotonic() + self.delivery_timeout_ms / 1000
        while i < n:
            try:  # fast path: one tight loop while librdkafka's queue has room
                for i in range(i, n):  # noqa: B020 - resumes at the record that failed
                    key, value, partition = records[i]
                    produce(
                        topic,
                        value=value,
                        key=key,
                        partition=-1 if partition is None else partition,
                        on_delivery=callback(i),
                    )
                i = n
            except BufferError:
                await asyncio.sleep(0.005)  # local queue full: let the poll thread drain it
                if self.broker_down or time.monotonic() > give_up:
                    for j in range(i, n):
                        batch.done(j, KafkaError(KafkaError._QUEUE_FULL), None)
                    break
            except KafkaException as exc:
                batch.done(i, exc.args[0], None)
                i += 1
        timeout = self.delivery_timeout_ms / 1000 + 5
        try:
            return await asyncio.wait_for(asyncio.shield(batch.future), timeout)
        except asyncio.TimeoutError:
            return [
                r or Delivery(None, None, KafkaError(KafkaError._MSG_TIMED_OUT))
                for r in batch.results
            ]

    # ---- reading (Kinesis GetRecords) ------------------------------------------------------
    def _consumer(self) -> Consumer:
        if self._reader is None:
            self._reader = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": "pinlake-api-reader",
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "fetch.wait.max.ms": 50,
                    "logger": _quiet,
                    "log_level": 0,
                }
            )
        return self._reader

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        with self._read_lock:
            try:
                return self._consumer().get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=3.0, cached=False
                )
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc

    def read(self, topic: str, partition: int, offset: int, limit: int):
        """Up to ``limit`` messages from ``offset``; (messages, low, high)."""
        with self._read_lock:
            consumer = self._consumer()
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=3.0, cached=False
                )
            except KafkaException as exc:
                raise BrokerUnavailable(str(exc)) from exc
            start = max(offset, low)
            if start >= high:
                return [], low, high
            want = min(limit, high - start)
            consumer.assign([TopicPartition(topic, partition, start)])
            out = []
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
            return out, low, high


def _admin_done(future, refused: int, timeout: float = 15.0) -> bool:
    """Wait for an admin operation: True when done, False when the broker answered ``refused``
    (e.g. the topic already exists); a broker that cannot be reached raises BrokerUnavailable."""
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


def _callback(batch: _Batch, index: int):
    return lambda err, msg: batch.done(index, err, msg)
