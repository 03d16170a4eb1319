"""Kafka client helpers shared by the sink, the ingestion API and ``services``: one quiet
librdkafka logger, the admin client, topic creation and readiness waits, watermark offsets and
the retry policy for transient client errors.

Nothing here supervises a process (that is :mod:`pinlake.services.kafka_broker`). Error codes
are confluent-kafka's named :class:`confluent_kafka.KafkaError` constants (librdkafka's, see
``rdkafka.h``), never raw numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from pinlake.config import TABLES, Settings
from pinlake.errors import PinlakeError
from pinlake.loopback import listening_ports

if TYPE_CHECKING:
    from confluent_kafka import Consumer, KafkaError
    from confluent_kafka.admin import AdminClient

T = TypeVar("T")

_QUIET = logging.getLogger("pinlake.kafka.client")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def quiet_logger() -> logging.Logger:
    """The logger every librdkafka client gets: client chatter (reconnects while a broker
    restarts, ...) goes nowhere; errors that matter reach the code as exceptions or callbacks."""
    return _QUIET


def leader_moving_errors() -> frozenset[int]:
    """Broker answers that mean a partition's leadership is in transit, not that anything is
    wrong: the broker named leader has not taken the partition over yet, or no longer leads it.
    They come right after a topic is created (its metadata lists a leader a moment before that
    broker serves ListOffsets: NOT_LEADER_OR_FOLLOWER, Kafka's protocol guide "Error Codes") and
    while a broker restarts or a leader is elected. librdkafka flags none of them retriable on
    a watermark query, and each clears within a second or so."""
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError.NOT_LEADER_FOR_PARTITION,
            KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError.FENCED_LEADER_EPOCH,
            KafkaError.UNKNOWN_LEADER_EPOCH,
            KafkaError.OFFSET_NOT_AVAILABLE,
        }
    )


def transient_errors() -> frozenset[int]:
    """Client error codes worth retrying although librdkafka does not flag them retriable:
    a group coordinator that moved or is loading, a partition leader in transit
    (:func:`leader_moving_errors`), a timed-out or broken connection, and all brokers down
    (a restart)."""
    from confluent_kafka import KafkaError

    return leader_moving_errors() | {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }


def is_transient(err: KafkaError) -> bool:
    """Whether trying again may help: librdkafka flags ``err`` retriable, or its code is one of
    :func:`transient_errors`. The one rule of the sink's retries and the REST proxy's 50003."""
    return bool(err.retriable()) or err.code() in transient_errors()


def watermarks(consumer: Consumer, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    """``(low, high)`` offsets of one partition, asked of its leader (not from a cache).

    For a partition that the cluster's metadata lists: a leader in transit
    (:func:`leader_moving_errors`), and a partition the client's own metadata does not know yet
    (``_UNKNOWN_PARTITION``: its cache still holds a topic deleted and created again, which it
    renews after the error), are asked again, 50 ms apart, until ``timeout`` seconds have passed
    in all; any other failure, or the last one, is raised as the
    :class:`confluent_kafka.KafkaException` it is.
    """
    from confluent_kafka import KafkaError, KafkaException, TopicPartition
    from tenacity import retry, retry_if_exception, stop_after_delay, wait_fixed

    moving = leader_moving_errors() | {KafkaError._UNKNOWN_PARTITION}
    deadline = time.monotonic() + timeout

    @retry(
        retry=retry_if_exception(
            lambda exc: isinstance(exc, KafkaException) and exc.args[0].code() in moving
        ),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.05),
        reraise=True,
    )
    def ask() -> tuple[int, int]:
        left = max(deadline - time.monotonic(), 0.05)
        return consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=left, cached=False
        )

    return ask()


def retry_transient(
    call: Callable[[], T], what: str, *, attempts: int = 40, delay: float = 0.5
) -> T:
    """Run a blocking client call, retrying retriable and :func:`transient_errors` failures.

    Up to ``attempts`` tries ``delay`` seconds apart (about 20 s by default: a broker restart).
    Raises :class:`PinlakeError` ("<what> failed: <error>") for a permanent error or when the
    attempts are used up.
    """
    from confluent_kafka import KafkaError, KafkaException
    from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_fixed

    def retriable(exc: BaseException) -> bool:
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        return isinstance(err, KafkaError) and is_transient(err)

    try:
        return retry(
            retry=retry_if_exception(retriable),
            stop=stop_after_attempt(attempts),
            wait=wait_fixed(delay),
            reraise=False,
        )(call)()
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise PinlakeError(f"{what} failed: {last.args[0] if last else exc}") from last
    except KafkaException as exc:
        raise PinlakeError(f"{what} failed: {exc.args[0]}") from exc


def admin(settings: Settings, timeout_ms: int = 5000) -> AdminClient:
    """An admin client for ``settings.kafka.bootstrap_servers`` (quiet, fast reconnects)."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "socket.timeout.ms": timeout_ms,
            "reconnect.backoff.max.ms": 1000,
            "log_level": 0,
            "logger": quiet_logger(),
        }
    )


def listening(settings: Settings) -> bool:
    """Whether a client of the cluster may connect at all: False when the cluster is pinlake's
    own (``settings.kafka.external`` false: its nodes listen on this machine, on the ports of
    ``bootstrap_servers``) and nothing listens on any of those ports
    (:func:`pinlake.loopback.listening_ports`, a pure read of the kernel's tables); True
    otherwise, and for an external cluster always (only a client can tell).

    Asked before any client of pinlake's commands is made (:func:`healthy`,
    :func:`broker_ids`, the sink's consumer): librdkafka dials its bootstrap servers until its
    timeout, so `services status` waited 2 s, `stream` 5 s and `sink` 10 s for a broker that was
    not running, and each of those connects to a port nothing listens on may be given that very
    port as its local one, which then stays taken for a minute (pinlake.services.process's
    docstring, "No client connects to a port before something listens on it")."""
    if settings.kafka.external:
        return True
    open_ports = listening_ports()  # one read of the kernel's tables; None: nothing to go by
    return open_ports is None or not open_ports.isdisjoint(settings.kafka.client_ports)


def healthy(settings: Settings, timeout: float = 2.0) -> bool:
    """True when the cluster answers a metadata request with at least one broker within
    ``timeout`` seconds; False at once when nothing listens on pinlake's own cluster's ports
    (:func:`listening`)."""
    if not listening(settings):
        return False
    try:
        meta = admin(settings).list_topics(timeout=timeout)
    except Exception:  # any failure to answer means "not healthy"
        return False
    return bool(meta.brokers)


def unreachable(settings: Settings) -> PinlakeError:
    """The error of a command that needs the cluster when it does not answer: where it was
    looked for, why when that is known (nothing listens on pinlake's own cluster's ports:
    :func:`listening`, as the ingestion API's line from ``produce`` says) and what to do (the
    same line from every command): start it, or, when this home's cluster runs at other
    addresses, check the variable that names them (helper-109: a typo in the port was told
    to run ``services up``, which refused the running cluster and named ``services down``)."""
    from pinlake.run_folder import KAFKA, recorded_while_running, up_hint

    elsewhere = (
        None
        if settings.kafka.external
        else recorded_while_running(settings.run_dir, KAFKA, "bootstrap_servers")
    )
    if settings.kafka.external:
        hint = "is it running? (PINLAKE_KAFKA__BOOTSTRAP_SERVERS names it)"
    elif elsewhere and elsewhere != settings.kafka.bootstrap_servers:
        hint = f"this home's Kafka runs at {elsewhere}: check PINLAKE_KAFKA__BOOTSTRAP_SERVERS"
    else:
        hint = f"start it with `{up_hint(settings.run_dir)}`"
    why = ""
    if not listening(settings):
        ports = [str(port) for port in settings.kafka.client_ports]
        why = f" (nothing listens on port{'s' if len(ports) > 1 else ''} {', '.join(ports)})"
    return PinlakeError(
        f"Kafka at {settings.kafka.bootstrap_servers} is not reachable{why}: {hint}"
    )


def broker_ids(settings: Settings, timeout: float = 2.0) -> list[int]:
    """The ids of the brokers a metadata request names (the registered, unfenced ones), sorted;
    ``[]`` when the cluster does not answer within ``timeout`` seconds, at once when nothing
    listens on pinlake's own cluster's ports (:func:`listening`)."""
    if not listening(settings):
        return []
    try:
        meta = admin(settings).list_topics(timeout=timeout)
    except Exception:  # any failure to answer: no broker known
        return []
    return sorted(meta.brokers)


def replication_factor(settings: Settings) -> int:
    """Replication factor of the topics pinlake creates: one replica per broker
    (``settings.kafka.brokers``; for an external cluster, what that setting says, default 1)."""
    return settings.kafka.brokers


def all_topics(settings: Settings) -> list[str]:
    """The batch topics and the stream topics of the three tables, in table order."""
    return [t for table in TABLES for t in (settings.topic(table), settings.stream(table))]


#: Room for Kafka's own bytes around a record's key and value (the record batch's header, the
#: record's, a partition key of up to 256 characters): a topic takes, and the API's producer
#: sends, a record of the API's ``max_record_bytes`` plus this.
RECORD_OVERHEAD_BYTES = 4096


def topic_config(settings: Settings) -> dict[str, str]:
    """The configuration of every topic pinlake creates: ``max.message.bytes`` that takes a
    record of the API's ``max_record_bytes`` (1 MiB, Kinesis' limit on data and partition
    key) with its overhead. Kafka's default (1,048,588) refused Kinesis-valid records of about
    1 MiB ("Message size too large")."""
    return {"max.message.bytes": str(settings.api.max_record_bytes + RECORD_OVERHEAD_BYTES)}


def low_record_limits(
    client: AdminClient, settings: Settings, topics: list[str], timeout: float = 30.0
) -> dict[str, int]:
    """Each of ``topics`` (all of them existing) whose ``max.message.bytes`` is below
    :func:`topic_config`'s, with its limit in bytes: such a topic refuses records the API takes
    (REST 413, Kinesis 400 ``ValidationException``). A topic without a limit of its own shows
    its broker's ``message.max.bytes``. Raises :class:`PinlakeError` when the cluster does not
    answer or refuses to describe a topic."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource

    name, wanted = next(iter(topic_config(settings).items()))
    low: dict[str, int] = {}
    try:
        described = client.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics],
            request_timeout=timeout,
        )
        for resource, future in described.items():
            entry = future.result(timeout=timeout).get(name)
            if entry is not None and int(entry.value) < int(wanted):
                low[resource.name] = int(entry.value)
    except KafkaException as exc:
        raise PinlakeError(f"reading {name} of topics {', '.join(topics)} failed: {exc}") from exc
    return low


def record_limit_hint(settings: Settings) -> str:
    """What makes a topic take every record the API takes, for a message about one that does
    not (:func:`low_record_limits`): on the local brokers ``pinlake services up`` raises the
    topic's limit (:func:`raise_record_limit`); an external cluster's topics are its owner's."""
    if not settings.kafka.external:
        from pinlake.run_folder import up_hint

        return f"`{up_hint(settings.run_dir)}` raises its max.message.bytes"
    wanted = topic_config(settings)["max.message.bytes"]
    most = settings.api.max_record_bytes
    return (
        f"raise the topic's max.message.bytes to {wanted} on the cluster, or lower"
        f" PINLAKE_API__MAX_RECORD_BYTES (now {most})"
    )


def raise_record_limit(
    client: AdminClient, settings: Settings, topics: list[str], timeout: float = 30.0
) -> list[str]:
    """Give each of ``topics`` whose ``max.message.bytes`` is below :func:`topic_config`'s that
    limit (a home whose topics an earlier pinlake created with Kafka's default, which refused
    Kinesis-valid records of about 1 MiB); returns the topics changed, once they show the new
    limit (:func:`set_topic_config`). Raises :class:`PinlakeError` when the broker refuses or
    does not answer."""
    low = list(low_record_limits(client, settings, topics, timeout))
    name, wanted = next(iter(topic_config(settings).items()))
    set_topic_config(client, low, name, wanted, timeout)
    return low


def set_topic_config(
    client: AdminClient, topics: list[str], name: str, value: str, timeout: float = 30.0
) -> None:
    """Set the topic configuration ``name`` to ``value`` on each of ``topics`` and return once
    the cluster describes every one with it.

    In KRaft the broker forwards IncrementalAlterConfigs to the controller and answers once the
    controller has committed the change; the brokers apply it when they replay the metadata log,
    a moment later (KIP-500, KIP-590). Until then a broker describes, and checks each write
    against, the old value. Raises :class:`PinlakeError` when the cluster refuses, does not
    answer, or still shows another value after ``timeout`` seconds.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    if not topics:
        return
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    change = [
        ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[entry]) for t in topics
    ]

    def shown() -> bool:
        described = client.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics],
            request_timeout=timeout,
        )
        return all(
            getattr(future.result(timeout=timeout).get(name), "value", None) == value
            for future in described.values()
        )

    try:
        for future in client.incremental_alter_configs(change, request_timeout=timeout).values():
            future.result(timeout=timeout)
        if not _poll(shown, timeout):
            raise PinlakeError(
                f"topics {', '.join(topics)} do not show {name}={value} {timeout:.0f} s after it "
                "was set"
            )
    except KafkaException as exc:
        raise PinlakeError(f"setting {name} of topics {', '.join(topics)} failed: {exc}") from exc


def create_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the missing batch and stream topics (idempotent) and wait until every partition
    has a leader; returns the topics created. On the local broker, the topics that exist get
    :func:`topic_config`'s record limit if theirs is lower (:func:`raise_record_limit`). Raises
    :class:`PinlakeError` if creation fails."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    client = admin(settings)
    existing = set(client.list_topics(timeout=timeout).topics)
    present = [t for t in all_topics(settings) if t in existing]
    if present and not settings.kafka.external:
        raise_record_limit(client, settings, present, timeout)
    wanted = [t for t in all_topics(settings) if t not in existing]
    if not wanted:
        return []
    futures = client.create_topics(
        [
            NewTopic(
                t,
                num_partitions=settings.kafka.partitions,
                replication_factor=replication_factor(settings),
                config=topic_config(settings),
            )
            for t in wanted
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise PinlakeError(f"creating topic {topic} failed: {exc.args[0]}") from exc
    if not wait_for_leaders(client, wanted, settings.kafka.partitions, timeout):
        raise PinlakeError(f"topics {', '.join(wanted)} have no leaders after {timeout:.0f} s")
    return created


def wait_for_leaders(
    client: AdminClient, topics: list[str], partitions: int, timeout: float
) -> bool:
    """Poll ``client``'s metadata until each of ``topics`` shows ``partitions`` partitions, each
    with a leader; False if that takes longer than ``timeout`` seconds.

    CreateTopics returns once the controller has a topic; the brokers learn of it a moment
    later, and until then producing to it or describing it fails. Raises KafkaException when the
    broker cannot be reached.
    """
    return _poll_metadata(
        client,
        lambda meta: all(_has_leaders(meta.topics.get(t), partitions) for t in topics),
        timeout,
    )


def wait_until_deleted(client: AdminClient, topics: list[str], timeout: float) -> bool:
    """Poll ``client``'s metadata until none of ``topics`` is listed any more; False if that
    takes longer than ``timeout`` seconds. DeleteTopics returns once the controller deleted a
    topic; brokers still list it for a moment, and describing it then fails halfway. Raises
    KafkaException when the broker cannot be reached."""
    return _poll_metadata(
        client,
        lambda meta: all(t not in meta.topics or meta.topics[t].error is not None for t in topics),
        timeout,
    )


def _poll_metadata(client: AdminClient, done: Callable[[object], bool], timeout: float) -> bool:
    """True once ``done(cluster metadata)`` holds, polled every 50 ms; False after ``timeout`` s."""
    return _poll(lambda: done(client.list_topics(timeout=5)), timeout)


def _poll(check: Callable[[], bool], timeout: float) -> bool:
    """True once ``check()`` holds, called every 50 ms; False after ``timeout`` s."""
    from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

    @retry(
        retry=retry_if_result(lambda ok: not ok),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.05),
        retry_error_callback=lambda _state: False,
    )
    def polled() -> bool:
        return check()

    return polled()


def replication_problems(meta, topics: list[str], brokers: int) -> list[str]:
    """Why a cluster is not ready by pinlake's rule, from one metadata snapshot; ``[]`` = ready.

    The rule (issue 11): all ``brokers`` brokers are registered, and every partition of
    ``topics`` has a leader, ``brokers`` replicas, and all of them in sync (ISR == replicas).
    ``meta`` is a :class:`confluent_kafka.admin.ClusterMetadata` (``AdminClient.list_topics``):
    ``.brokers`` by id, ``.topics[name].partitions[id]`` with ``leader``, ``replicas``,
    ``isrs``. Each problem is one short phrase, e.g. ``"pinterest.pin[0] ISR [1, 3] of
    replicas [1, 2, 3]"``.
    """
    problems = []
    if len(meta.brokers) < brokers:
        problems.append(
            f"{len(meta.brokers)} of {brokers} brokers registered {sorted(meta.brokers)}"
        )
    for topic in topics:
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or not tmeta.partitions:
            problems.append(f"{topic} missing")
            continue
        for pid in sorted(tmeta.partitions):
            part = tmeta.partitions[pid]
            replicas, isr = sorted(part.replicas), sorted(part.isrs)
            if part.leader < 0:
                problems.append(f"{topic}[{pid}] has no leader")
            elif len(replicas) != brokers:
                problems.append(f"{topic}[{pid}] has {len(replicas)} replicas, not {brokers}")
            elif isr != replicas:
                problems.append(f"{topic}[{pid}] ISR {isr} of replicas {replicas}")
    return problems


def wait_in_sync(
    settings: Settings, topics: list[str] | None = None, timeout: float = 60.0
) -> None:
    """Wait until :func:`replication_problems` finds none for ``topics`` (default: pinlake's,
    :func:`all_topics`) and ``settings.kafka.brokers`` brokers, polling every 0.25 s.

    Raises :class:`PinlakeError` after ``timeout`` seconds, naming what is still not in sync.
    """
    from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

    topics = all_topics(settings) if topics is None else topics
    client = admin(settings)
    last = ["no metadata answer"]

    def problems() -> list[str]:
        try:
            last[:] = replication_problems(
                client.list_topics(timeout=5), topics, settings.kafka.brokers
            )
        except Exception as exc:  # noqa: BLE001 - not answering is one more reason to wait
            last[:] = [f"no metadata answer ({exc})"]
        return last

    try:
        Retrying(
            retry=retry_if_result(bool),
            stop=stop_after_delay(timeout),
            wait=wait_fixed(0.25),
        )(problems)
    except RetryError:
        shown = "; ".join(last[:5]) + (f"; and {len(last) - 5} more" if len(last) > 5 else "")
        raise PinlakeError(
            f"Kafka at {settings.kafka.bootstrap_servers} not in sync after {timeout:.0f}s: {shown}"
        ) from None


def _has_leaders(topic_meta, partitions: int) -> bool:
    return (
        topic_meta is not None
        and topic_meta.error is None
        and len(topic_meta.partitions) == partitions
        and all(p.leader >= 0 for p in topic_meta.partitions.values())
    )


class PartitionOffsets(NamedTuple):
    """Watermarks of one partition: ``high - low`` records are stored in it."""

    topic: str
    partition: int
    low: int
    high: int


class TopicOffsets(NamedTuple):
    """What :func:`read_topic_offsets` found: the watermarks of every partition that answered,
    the topics the cluster's metadata lists (of those asked for), and the partitions whose
    leader did not answer (``(topic, partition)``: none, or a node that is down)."""

    offsets: list[PartitionOffsets]
    existing: set[str]
    unanswered: list[tuple[str, int]]


def read_topic_offsets(
    settings: Settings, topics: list[str], timeout: float = 5.0, down: Collection[int] = ()
) -> TopicOffsets:
    """Watermarks of every partition of ``topics`` that exists, asked of each partition's
    leader (:func:`watermarks`, up to ``timeout`` s each). A partition without a leader in the
    metadata (-1, or a broker the metadata no longer lists), or whose leader has already failed
    to answer here, or a node of ``down`` (node ids the caller knows are down: their process
    has ended; helper-114: status named the node down, then waited 5 s for its partition), is
    not asked: it is unanswered at once (helper-113: with one of two nodes killed, ``services
    status`` waited 5 s for each of its partitions, 16-31 s in all, then called their topics
    missing)."""
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": "pinlake-status",
            "enable.auto.commit": False,
            "log_level": 0,
            "logger": quiet_logger(),
        }
    )
    rows: list[PartitionOffsets] = []
    existing: set[str] = set()
    unanswered: list[tuple[str, int]] = []
    silent: set[int] = set(down)  # leaders that did not answer, or are known to be down
    try:
        meta = consumer.list_topics(timeout=timeout)
        for topic in topics:
            tmeta = meta.topics.get(topic)
            if tmeta is None or tmeta.error is not None:
                continue
            existing.add(topic)
            for p in sorted(tmeta.partitions):
                leader = tmeta.partitions[p].leader
                if leader not in meta.brokers or leader in silent:
                    unanswered.append((topic, p))
                    continue
                try:
                    low, high = watermarks(consumer, topic, p, timeout)
                except KafkaException:
                    silent.add(leader)  # no answer for ``timeout`` s: left out of this answer
                    unanswered.append((topic, p))
                    continue
                rows.append(PartitionOffsets(topic, p, low, high))
    finally:
        consumer.close()
    return TopicOffsets(rows, existing, unanswered)


def topic_offsets(
    settings: Settings, topics: list[str], timeout: float = 5.0
) -> list[PartitionOffsets]:
    """Watermarks of every partition of ``topics`` that exists and answered
    (:func:`read_topic_offsets`; missing topics and unanswered partitions are left out)."""
    return read_topic_offsets(settings, topics, timeout).offsets
