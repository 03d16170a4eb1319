"""REST Proxy v2 consumer instances: real Kafka group consumers kept between requests, expiring
when idle.

Each instance is one confluent-kafka :class:`~confluent_kafka.Consumer` in the Kafka consumer
group the client named, under the name the client gave (or a generated
``rest-consumer-<uuid>``), as kafka-rest's ``v2/KafkaConsumerManager`` keeps them. Every method
here blocks (run it with :func:`asyncio.to_thread`); calls on one instance are serialised by its
lock, calls on different instances run side by side. An instance nobody used for
``settings.api.consumer_instance_timeout_ms`` (kafka-rest's ``consumer.instance.timeout.ms``,
default 300000) is closed by a reaper thread, like kafka-rest's ``ExpirationThread``;
:meth:`ConsumerRegistry.close` closes every instance (API shutdown).

Records a read has fetched but not answered (past ``max_bytes``, or a value a json instance
cannot decode) stay buffered in the instance for its next read. An instance stores a record's
offset only once it has been answered (``enable.auto.offset.store=false``), so a commit without
offsets, auto-commit and the commit on close cover exactly what the client was given (kafka-rest
commits the Java consumer's position, which may include records fetched but never answered).

Errors: :class:`InstanceNotFound`, :class:`InstanceExists`, :class:`IllegalState`,
:class:`FormatMismatch`, :class:`KafkaFailure`; a broker that cannot be reached raises
:class:`~pinlake.ingest_api.errors.BrokerUnavailable`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from pinlake import kafka
from pinlake.config import Settings
from pinlake.ingest_api.backend.watch import BrokerWatch
from pinlake.ingest_api.errors import BrokerUnavailable
from pinlake.ingest_api.wire import is_internal_topic

log = logging.getLogger("pinlake.api")

#: ``(topic, key, value, partition, offset)`` of a record handed to a read's ``convert``.
RecordTuple = tuple[str, bytes | None, bytes | None, int, int]

#: Client errors that mean the broker cannot be reached (answered 503 / 50302).
_UNREACHABLE = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
#: Errors that mean the topic or partition named does not exist (answered 404 / 40403, as
#: rest-utils' KafkaExceptionMapper answers UnknownTopicOrPartitionException).
_NO_SUCH_PARTITION = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
)
#: Consumer errors a read skips: a subscribed topic that does not exist (yet), a connection
#: librdkafka re-establishes by itself (a down broker is the watch's business).
_SKIPPED = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._PARTITION_EOF,
    }
)


class ConsumerStateError(Exception):
    """Base of the errors a consumer request gets from the registry."""


class InstanceNotFound(ConsumerStateError):
    """No instance of that name in that group (never created, deleted or expired)."""


class InstanceExists(ConsumerStateError):
    """An instance of that name already exists in that group."""


class IllegalState(ConsumerStateError):
    """The request contradicts the instance's state (e.g. subscribe after a manual assign, seek
    on a partition it is not assigned); the message says which (Java's IllegalStateException)."""


class FormatMismatch(ConsumerStateError):
    """A read asked for another embedded format than the instance's."""


class KafkaFailure(ConsumerStateError):
    """Kafka refused an operation; ``retriable`` tells whether trying again may help."""

    def __init__(self, message: str, retriable: bool, unknown_partition: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable
        #: the topic or partition does not exist (rest-utils: 404 / 40403)
        self.unknown_partition = unknown_partition


def _failure(exc: KafkaException) -> Exception:
    """The error for a KafkaException: BrokerUnavailable when the broker cannot be reached,
    else KafkaFailure (``unknown_partition`` for a topic or partition that does not exist,
    ``retriable`` for what may pass: rest-utils' KafkaExceptionMapper)."""
    err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    if err is None:
        return KafkaFailure(str(exc), False)
    if err.code() in _UNREACHABLE:
        return BrokerUnavailable(err.str())
    if err.code() in _NO_SUCH_PARTITION:
        return KafkaFailure(err.str(), False, unknown_partition=True)
    return KafkaFailure(err.str(), kafka.is_transient(err))


class ConsumerInstance:
    """One instance: its consumer, format, how it consumes, buffered records, expiry time.

    ``fmt`` is ``json`` or ``binary``; ``meta`` whatever the caller keeps with it (the routes
    keep the checked create request); ``mode`` is ``None``, ``"topics"``, ``"pattern"`` or
    ``"assign"`` (Java's subscription types, which exclude each other).
    """

    def __init__(self, group: str, name: str, fmt: str, consumer: Consumer, meta: Any) -> None:
        self.group = group
        self.name = name
        self.fmt = fmt
        self.meta = meta
        self.consumer = consumer
        self.lock = threading.Lock()
        self.closed = False
        self.mode: str | None = None
        self.topics: list[str] = []
        self.pattern: str | None = None
        self.pending: deque[Message] = deque()
        self.expires = 0.0

    def drop_pending(self, partitions: Iterable[tuple[str, int]] | None = None) -> None:
        """Forget buffered records (of ``partitions`` only, when given): after a seek or a new
        subscription they are no longer the next ones."""
        if partitions is None:
            self.pending.clear()
            return
        gone = set(partitions)
        self.pending = deque(m for m in self.pending if (m.topic(), m.partition()) not in gone)

    def close(self) -> None:
        """Close the consumer (leaves the group; with auto-commit, commits what was answered).
        Idempotent; errors are logged, never raised."""
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        try:
            self.consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.debug("closing consumer %s/%s: %s", self.group, self.name, exc)


class ConsumerRegistry:
    """The API's consumer instances by ``(group, name)``, with the reaper thread."""

    def __init__(self, settings: Settings, watch: BrokerWatch) -> None:
        self.bootstrap = settings.kafka.bootstrap_servers
        self.watch = watch
        self.timeout_s = settings.api.consumer_instance_timeout_ms / 1000
        self._lock = threading.Lock()
        self._instances: dict[tuple[str, str], ConsumerInstance | None] = {}
        self._stop = threading.Event()
        self._reaper = threading.Thread(
            target=self._reap_loop, name="kafka-consumer-reaper", daemon=True
        )
        self._reaper.start()

    # ---- lifecycle --------------------------------------------------------------------------
    def create(
        self,
        group: str,
        name: str | None,
        fmt: str,
        auto_offset_reset: str | None = None,
        auto_commit: bool | None = None,
        meta: Any = None,
    ) -> str:
        """Create an instance in consumer group ``group``; returns its name (``name``, or
        ``rest-consumer-<uuid4>``). ``fmt`` is ``json`` or ``binary``; ``auto_offset_reset``
        ``earliest``/``latest``/``none`` (default ``latest``); ``auto_commit`` default true
        (librdkafka commits answered records every 5 s). Raises :class:`InstanceExists`,
        :class:`BrokerUnavailable` while the broker is known to be down, :class:`KafkaFailure`
        if the client refuses the configuration."""
        self.watch.require_up()
        name = name if name is not None else f"rest-consumer-{uuid.uuid4()}"
        key = (group, name)
        with self._lock:
            if key in self._instances:
                raise InstanceExists(f"{group}/{name}")
            self._instances[key] = None  # reserved while the consumer is built
        try:
            reset = {"none": "error"}.get(auto_offset_reset or "latest", auto_offset_reset)
            consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": group,
                    "client.id": f"pinlake-rest-{name}"[:200],
                    "enable.auto.commit": True if auto_commit is None else auto_commit,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": reset or "latest",
                    "fetch.wait.max.ms": 100,
                    "socket.timeout.ms": 10_000,
                    "reconnect.backoff.max.ms": 1000,
                    "logger": kafka.quiet_logger(),
                    "log_level": 0,
                }
            )
        except KafkaException as exc:
            with self._lock:
                self._instances.pop(key, None)
            raise _failure(exc) from exc
        instance = ConsumerInstance(group, name, fmt, consumer, meta)
        instance.expires = time.monotonic() + self.timeout_s
        with self._lock:
            self._instances[key] = instance
        return name

    def get(self, group: str, name: str) -> ConsumerInstance:
        """The instance, its expiry pushed back; raises :class:`InstanceNotFound`."""
        with self._lock:
            instance = self._instances.get((group, name))
            if instance is None:
                raise InstanceNotFound(f"{group}/{name}")
            instance.expires = time.monotonic() + self.timeout_s
            return instance

    def delete(self, group: str, name: str) -> None:
        """Forget the instance and close its consumer (leaving the group); raises
        :class:`InstanceNotFound`."""
        with self._lock:
            instance = self._instances.get((group, name))
            if instance is None:
                raise InstanceNotFound(f"{group}/{name}")
            del self._instances[(group, name)]
        with instance.lock:
            instance.close()

    def _use(self, group: str, name: str) -> ConsumerInstance:
        """The instance for one operation (call under ``instance.lock``-free context; the caller
        takes the lock): checks the broker and the instance."""
        self.watch.require_up()
        return self.get(group, name)

    def _locked(self, instance: ConsumerInstance):
        """Enter ``instance.lock``; an instance closed meanwhile (expired, deleted) is gone."""
        instance.lock.acquire()
        if instance.closed:
            instance.lock.release()
            raise InstanceNotFound(f"{instance.group}/{instance.name}")
        return _Held(self, instance)

    # ---- subscription and assignment ---------------------------------------------------------
    def subscribe(
        self, group: str, name: str, topics: list[str] | None, pattern: str | None
    ) -> None:
        """Subscribe to ``topics`` or to the topics whose whole name matches ``pattern``
        (a librdkafka ``^...`` subscription); an empty ``topics`` list unsubscribes, both
        ``None`` does nothing. Raises :class:`IllegalState` when the instance is manually
        assigned or subscribed the other way (topics vs pattern)."""
        instance = self._use(group, name)
        with self._locked(instance):
            if topics is None and pattern is None:
                return
            if topics is not None and not topics:
                self._unsubscribe(instance)
                return
            mode = "topics" if topics is not None else "pattern"
            if instance.mode is not None and instance.mode != mode:
                raise IllegalState(
                    "Subscription to topics, partitions and pattern are mutually exclusive"
                )
            wanted = list(dict.fromkeys(topics)) if topics is not None else [f"^({pattern})$"]
            try:
                instance.consumer.subscribe(wanted)
            except KafkaException as exc:
                raise _failure(exc) from exc
            instance.mode = mode
            instance.topics = wanted if topics is not None else []
            instance.pattern = pattern
            instance.drop_pending()

    def _unsubscribe(self, instance: ConsumerInstance) -> None:
        try:
            if instance.mode == "assign":
                instance.consumer.unassign()
            elif instance.mode is not None:
                instance.consumer.unsubscribe()
        except KafkaException as exc:
            raise _failure(exc) from exc
        instance.mode = None
        instance.topics = []
        instance.pattern = None
        instance.drop_pending()

    def unsubscribe(self, group: str, name: str) -> None:
        """Drop the subscription or the manual assignment (Java's ``unsubscribe`` does both)."""
        instance = self._use(group, name)
        with self._locked(instance):
            self._unsubscribe(instance)

    def subscription(self, group: str, name: str) -> list[str]:
        """The subscribed topics: the given list, or for a pattern the existing non-internal
        topics whose whole name matches it; ``[]`` when manually assigned or not subscribed."""
        instance = self._use(group, name)
        with self._locked(instance):
            if instance.mode == "topics":
                return list(instance.topics)
            if instance.mode != "pattern" or instance.pattern is None:
                return []
            try:
                names = instance.consumer.list_topics(timeout=5).topics
            except KafkaException as exc:
                raise _failure(exc) from exc
            regex = re.compile(instance.pattern)
            return sorted(t for t in names if not is_internal_topic(t) and regex.fullmatch(t))

    def assign(self, group: str, name: str, partitions: list[tuple[str, int]]) -> None:
        """Assign exactly ``partitions`` (reading from the committed offsets, else per
        ``auto.offset.reset``); an empty list unassigns. Raises :class:`IllegalState` when the
        instance is subscribed."""
        instance = self._use(group, name)
        with self._locked(instance):
            if instance.mode in ("topics", "pattern"):
                raise IllegalState(
                    "Subscription to topics, partitions and pattern are mutually exclusive"
                )
            if not partitions:
                self._unsubscribe(instance)
                return
            unique = list(dict.fromkeys(partitions))
            try:
                instance.consumer.assign([TopicPartition(t, p) for t, p in unique])
            except KafkaException as exc:
                raise _failure(exc) from exc
            instance.mode = "assign"
            instance.drop_pending()

    def assignment(self, group: str, name: str) -> list[tuple[str, int]]:
        """The partitions the instance reads now (manual, or given by the group), sorted."""
        instance = self._use(group, name)
        with self._locked(instance):
            return self._assigned(instance)

    @staticmethod
    def _assigned(instance: ConsumerInstance) -> list[tuple[str, int]]:
        try:
            return sorted((tp.topic, tp.partition) for tp in instance.consumer.assignment())
        except KafkaException as exc:
            raise _failure(exc) from exc

    # ---- positions ---------------------------------------------------------------------------
    def seek(
        self,
        group: str,
        name: str,
        offsets: list[tuple[str, int, int]],
        timestamps: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
    ) -> None:
        """Move the next read of each ``(topic, partition, offset)`` there, and of each
        ``(topic, partition, epoch_ms)`` to the first record at or after that time (the end,
        if none is). Raises :class:`IllegalState` for a partition the instance is not
        assigned (``No current assignment for partition t-p``)."""
        instance = self._use(group, name)
        with self._locked(instance):
            targets = [(t, p, o) for t, p, o in offsets]
            if timestamps:
                self._check_assigned(instance, [(t, p) for t, p, _ in timestamps])
                try:
                    found = instance.consumer.offsets_for_times(
                        [TopicPartition(t, p, ms) for t, p, ms in timestamps], timeout=10
                    )
                except KafkaException as exc:
                    raise _failure(exc) from exc
                for tp in found:
                    if tp.error is not None:
                        raise _failure(KafkaException(tp.error))
                    offset = tp.offset if tp.offset >= 0 else OFFSET_END
                    targets.append((tp.topic, tp.partition, offset))
            self._seek(instance, targets)

    def seek_to(self, group: str, name: str, partitions: list[tuple[str, int]], end: bool) -> None:
        """Move the next read of each partition to its first record (``end`` false) or past its
        last one (``end`` true). Raises :class:`IllegalState` like :meth:`seek`."""
        instance = self._use(group, name)
        with self._locked(instance):
            where = OFFSET_END if end else OFFSET_BEGINNING
            self._seek(instance, [(t, p, where) for t, p in partitions])

    @classmethod
    def _check_assigned(cls, instance: ConsumerInstance, partitions: list[tuple[str, int]]) -> None:
        assigned = set(cls._assigned(instance))
        for topic, partition in partitions:
            if (topic, partition) not in assigned:
                raise IllegalState(f"No current assignment for partition {topic}-{partition}")

    def _seek(self, instance: ConsumerInstance, targets: list[tuple[str, int, int]]) -> None:
        """Move each ``(topic, partition, offset)`` of ``targets`` there. librdkafka's seek
        refuses (``_STATE``, "Erroneous state") a partition whose fetcher has not started yet,
        right after its assignment: a manually assigned instance is then assigned again with
        the offsets given (librdkafka's way to start a partition at an offset; the others at
        their positions), and a group's partition is tried again for up to 5 s. (A seek
        retried for 5 s after a manual assignment still failed once, under a full test run,
        with a 500.) Raises :class:`IllegalState` for a partition not assigned, KafkaFailure
        when Kafka refuses."""
        self._check_assigned(instance, [(t, p) for t, p, _ in targets])
        for topic, partition, offset in targets:
            tp = TopicPartition(topic, partition, offset)
            deadline = time.monotonic() + 5
            while True:
                try:
                    instance.consumer.seek(tp)
                    break
                except KafkaException as exc:
                    code = exc.args[0].code() if exc.args else None
                    if code == KafkaError._STATE and instance.mode == "assign":
                        self._assign_at(instance, tp)
                        break
                    if code != KafkaError._STATE or time.monotonic() > deadline:
                        raise _failure(exc) from exc
                    time.sleep(0.02)
        instance.drop_pending((t, p) for t, p, _ in targets)

    @staticmethod
    def _assign_at(instance: ConsumerInstance, target: TopicPartition) -> None:
        """Assign the instance's manual assignment again: ``target`` at its offset, every other
        partition at its position (the next record it returns; one not read yet from its
        committed offset, else per ``auto.offset.reset``). Raises KafkaFailure."""
        consumer = instance.consumer
        try:
            positions = consumer.position(consumer.assignment())
            key = (target.topic, target.partition)
            consumer.assign([target if (tp.topic, tp.partition) == key else tp for tp in positions])
        except KafkaException as exc:
            raise _failure(exc) from exc

    # ---- offsets -----------------------------------------------------------------------------
    def commit(
        self, group: str, name: str, offsets: list[tuple[str, int, int, str]] | None
    ) -> None:
        """Commit synchronously: ``None`` commits what the instance has answered so far
        (nothing answered: nothing to do); else each ``(topic, partition, offset, metadata)``
        is committed as ``offset + 1``, the next record to read (kafka-rest). Raises
        :class:`KafkaFailure` if Kafka refuses a partition's commit."""
        instance = self._use(group, name)
        with self._locked(instance):
            consumer = instance.consumer
            try:
                if offsets is None:
                    result = consumer.commit(asynchronous=False)
                else:
                    result = consumer.commit(
                        offsets=[
                            TopicPartition(t, p, o + 1, metadata=m)
                            if m
                            else TopicPartition(t, p, o + 1)
                            for t, p, o, m in offsets
                        ],
                        asynchronous=False,
                    )
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError._NO_OFFSET:
                    return
                raise _failure(exc) from exc
            for tp in result or []:
                if tp.error is not None:
                    raise _failure(KafkaException(tp.error))

    def committed(
        self, group: str, name: str, partitions: list[tuple[str, int]]
    ) -> list[tuple[str, int, int, str]]:
        """The group's committed ``(topic, partition, offset, metadata)`` of each partition
        (by whichever member committed it), in the order asked; partitions without a committed
        offset are left out (kafka-rest)."""
        instance = self._use(group, name)
        with self._locked(instance):
            if not partitions:
                return []
            try:
                found = instance.consumer.committed(
                    [TopicPartition(t, p) for t, p in dict.fromkeys(partitions)], timeout=10
                )
            except KafkaException as exc:
                raise _failure(exc) from exc
            out = []
            for tp in found:
                if tp.error is not None:
                    raise _failure(KafkaException(tp.error))
                if tp.offset >= 0:
                    out.append((tp.topic, tp.partition, tp.offset, tp.metadata or ""))
            return out

    # ---- reads -------------------------------------------------------------------------------
    def read(
        self,
        group: str,
        name: str,
        fmt: str,
        wait_s: float,
        max_bytes: int,
        min_bytes: int,
        convert: Callable[[RecordTuple], Any],
    ) -> list[Any]:
        """``convert(record)`` of the next records, as ``KafkaConsumerReadTask`` reads them.

        Polls until ``wait_s`` seconds have passed, or more than ``min_bytes`` of keys and
        values were read (then the records already fetched are still added), or the next record
        would bring the total to ``max_bytes`` or more (it stays buffered for the next read).
        A record ``convert`` refuses (``ValueError``) stays buffered too: the error is raised
        when it is the first record of the read, else the records before it are answered.
        Raises :class:`FormatMismatch` when ``fmt`` is not the instance's format,
        :class:`KafkaFailure` for a consumer error (e.g. no offset with
        ``auto.offset.reset=none``).
        """
        instance = self._use(group, name)
        if instance.fmt != fmt:
            raise FormatMismatch(f"{fmt} read of a {instance.fmt} instance")
        with self._locked(instance):
            out: list[Any] = []
            size = 0
            enough = False
            deadline = time.monotonic() + wait_s
            consumer = instance.consumer
            while True:
                while instance.pending:
                    msg = instance.pending[0]
                    key, value = msg.key(), msg.value()
                    length = len(key or b"") + len(value or b"")
                    if size + length >= max_bytes:
                        return out
                    try:
                        body = convert((msg.topic(), key, value, msg.partition(), msg.offset()))
                    except ValueError:
                        if out:
                            return out
                        raise
                    instance.pending.popleft()
                    out.append(body)
                    size += length
                    try:
                        consumer.store_offsets(message=msg)
                    except KafkaException as exc:
                        # the partition was revoked meanwhile: its record is answered anyway
                        log.debug("store_offsets: %s", exc)
                    if size > min_bytes:
                        enough = True
                left = deadline - time.monotonic()
                if enough or left <= 0:
                    return out
                if instance.mode is None:  # nothing to read: wait like an empty poll would
                    time.sleep(left)
                    return out
                try:
                    batch = consumer.consume(num_messages=500, timeout=min(left, 0.1))
                except KafkaException as exc:
                    raise _failure(exc) from exc
                for msg in batch:
                    err = msg.error()
                    if err is None:
                        instance.pending.append(msg)
                    elif err.code() == KafkaError._AUTO_OFFSET_RESET or err.fatal():
                        raise KafkaFailure(err.str(), False)
                    elif err.code() not in _SKIPPED:
                        log.debug("consumer %s/%s: %s", group, name, err.str())

    # ---- expiry and shutdown -----------------------------------------------------------------
    def _reap_loop(self) -> None:
        interval = min(1.0, max(0.05, self.timeout_s / 4))
        while not self._stop.wait(interval):
            self.reap()

    def reap(self, now: float | None = None) -> list[tuple[str, str]]:
        """Close and forget every instance idle past its expiry (an instance in the middle of a
        request is left alone: its request pushes the expiry back); returns their keys."""
        now = time.monotonic() if now is None else now
        expired: list[ConsumerInstance] = []
        with self._lock:
            for key, instance in list(self._instances.items()):
                if instance is not None and instance.expires <= now:
                    if not instance.lock.acquire(blocking=False):
                        continue
                    instance.lock.release()
                    del self._instances[key]
                    expired.append(instance)
        for instance in expired:
            log.debug("consumer instance %s/%s expired", instance.group, instance.name)
            with instance.lock:
                instance.close()
        return [(i.group, i.name) for i in expired]

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for i in self._instances.values() if i is not None)

    def close(self) -> None:
        """Stop the reaper and close every instance (API shutdown)."""
        self._stop.set()
        self._reaper.join(timeout=5)
        with self._lock:
            instances = [i for i in self._instances.values() if i is not None]
            self._instances.clear()
        for instance in instances:
            with instance.lock:
                instance.close()


class _Held:
    """Context manager that releases an instance's lock taken by ``_locked`` and pushes its
    expiry back (a long read must not count as idle time)."""

    __slots__ = ("registry", "instance")

    def __init__(self, registry: ConsumerRegistry, instance: ConsumerInstance) -> None:
        self.registry = registry
        self.instance = instance

    def __enter__(self) -> ConsumerInstance:
        return self.instance

    def __exit__(self, *exc_info) -> None:
        self.instance.expires = time.monotonic() + self.registry.timeout_s
        self.instance.lock.release()
