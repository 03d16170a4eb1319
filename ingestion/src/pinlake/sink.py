"""``pinlake sink``: the batch topics → the topics bucket, in the Confluent S3 sink layout.

``<bucket>/topics/<topic>/partition=<p>/<topic>+<p>+<first offset, 10 digits>.json`` holds one
record value per line, exactly as delivered (invalid JSON too: the land step quarantines it).

Exactly once in the bucket: a file is written to a temp name, fsynced and renamed (then the
directory fsynced) before its offsets are committed. A file's name is its first offset, and a
batch that starts at an offset for which a file already exists (a re-delivery after a crash
between rename and commit) is cut at that file's record count, so it rewrites the identical
file instead of overlapping it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pinlake.config import TABLES, Settings
from pinlake.console import console
from pinlake.errors import PinlakeError
from pinlake.services import process

GROUP_ID = "pinlake-sink"
IDLE_LIMIT = 60.0  # --once: give up if no progress for this long while behind

_TRANSIENT = {
    16,  # NOT_COORDINATOR
    14,  # COORDINATOR_LOAD_IN_PROGRESS
    15,  # COORDINATOR_NOT_AVAILABLE
    -185,  # _TIMED_OUT
    -195,  # _TRANSPORT
    -187,  # _ALL_BROKERS_DOWN
}

_quiet = logging.getLogger("pinlake.sink.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass
class SinkResult:
    records: int = 0
    files: int = 0
    topics: dict[str, int] = field(default_factory=dict)


@dataclass
class _Buffer:
    first: int
    lines: list[bytes]
    started: float
    target: int | None  # exact size when rewriting an existing file
    last: int = -1


def sink_group(bucket_dir: Path) -> str:
    """The consumer group of a bucket: committed offsets describe what one bucket holds."""
    digest = hashlib.sha1(str(bucket_dir).encode()).hexdigest()[:10]
    return f"{GROUP_ID}-{digest}"


def file_name(topic: str, partition: int, offset: int) -> str:
    return f"{topic}+{partition}+{offset:010d}.json"


def partition_dir(bucket: Path, topic: str, partition: int) -> Path:
    return bucket / "topics" / topic / f"partition={partition}"


def _line(value: bytes | None) -> bytes:
    if value is None:
        return b"null"
    if b"\n" in value or b"\r" in value:
        # Raw newlines in valid JSON are whitespace; replacing them keeps one record per line.
        value = value.replace(b"\r", b" ").replace(b"\n", b" ")
    return value


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def write_atomic(path: Path, lines: list[bytes]) -> None:
    """Write ``lines`` to ``path`` durably: temp file, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_orphaned_temp_files(bucket: Path, topics: list[str]) -> int:
    """Remove the temp files of sinks that died mid-write (their pid is gone); a running
    sink's temp files are left alone. Returns how many were removed."""
    removed = 0
    for topic in topics:
        for tmp in (bucket / "topics" / topic).glob("partition=*/.*.tmp"):
            pid = tmp.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not process.is_alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def _retrying(call, what: str, attempts: int = 40, delay: float = 0.5):
    """Run a Kafka client call, retrying retriable errors (coordinator moved, broker restart)."""
    from confluent_kafka import KafkaException

    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as exc:
            err = exc.args[0]
            retriable = getattr(err, "retriable", lambda: False)() or err.code() in _TRANSIENT
            if not retriable or attempt == attempts - 1:
                raise PinlakeError(f"{what} failed: {err}") from exc
            time.sleep(delay)
    raise AssertionError("unreachable")


def run_sink(
    settings: Settings,
    once: bool = False,
    bucket: Path | None = None,
    flush_size: int = 1_000,
    flush_interval: float = 5.0,
    *,
    quiet: bool = False,
    stop_event: threading.Event | None = None,
    group_id: str | None = None,
) -> SinkResult:
    """Consume the batch topics into the bucket until caught up (``once``) or stopped."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    bucket_dir = (bucket or settings.bucket_dir).expanduser().resolve()
    topics = [settings.topic(t) for t in TABLES]
    stop = stop_event or threading.Event()
    result = SinkResult(topics={t: 0 for t in topics})
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": group_id or sink_group(bucket_dir),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 1_000,
            "max.poll.interval.ms": 300_000,
            "fetch.wait.max.ms": 100,
            "logger": _quiet,
            "log_level": 3,
        }
    )
    buffers: dict[tuple[str, int], _Buffer] = {}
    done_offsets: dict[tuple[str, int], int] = {}

    def flush(key: tuple[str, int], buf: _Buffer) -> None:
        topic, partition = key
        path = partition_dir(bucket_dir, topic, partition) / file_name(topic, partition, buf.first)
        write_atomic(path, buf.lines)
        _retrying(
            lambda: consumer.commit(
                offsets=[TopicPartition(topic, partition, buf.last + 1)], asynchronous=False
            ),
            f"committing {topic}[{partition}]",
        )
        done_offsets[key] = buf.last + 1
        result.records += len(buf.lines)
        result.files += 1
        result.topics[topic] += len(buf.lines)
        del buffers[key]

    def on_revoke(_consumer, partitions) -> None:
        # Uncommitted buffers are dropped: the next owner gets them again and rewrites the files.
        for tp in partitions:
            buffers.pop((tp.topic, tp.partition), None)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        try:
            meta = consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise PinlakeError(
                f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: {exc}"
            ) from exc
        missing = [t for t in topics if t not in meta.topics or meta.topics[t].error is not None]
        if missing:
            raise PinlakeError(
                f"topics {', '.join(missing)} do not exist (start them with `pinlake services up`)"
            )
        targets: dict[tuple[str, int], int] = {}
        if once:
            tps = [TopicPartition(t, p) for t in topics for p in meta.topics[t].partitions]
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in _retrying(
                    lambda: consumer.committed(tps, timeout=10), "reading committed offsets"
                )
            }
            for tp in tps:
                key = (tp.topic, tp.partition)
                low, high = _retrying(
                    lambda tp=tp: consumer.get_watermark_offsets(tp, timeout=10),
                    f"reading the offsets of {tp.topic}[{tp.partition}]",
                )
                targets[key] = high
                done_offsets[key] = committed[key] if committed[key] >= 0 else low
        remove_orphaned_temp_files(bucket_dir, topics)
        consumer.subscribe(topics, on_revoke=on_revoke)
        last_progress = time.monotonic()
        while not stop.is_set():
            msgs = consumer.consume(num_messages=1000, timeout=0.2)
            now = time.monotonic()
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.fatal() or not err.retriable():
                        raise PinlakeError(f"Kafka consumer error: {err}")
                    continue
                key = (msg.topic(), msg.partition())
                buf = buffers.get(key)
                offset = msg.offset()
                if buf is None:
                    existing = partition_dir(bucket_dir, *key) / file_name(*key, offset)
                    target = _count_lines(existing) if existing.exists() else None
                    buf = buffers[key] = _Buffer(offset, [], now, target)
                elif offset <= buf.last:
                    continue  # duplicate delivery within the buffer
                buf.lines.append(_line(msg.value()))
                buf.last = offset
                limit = buf.target or flush_size
                if len(buf.lines) >= limit:
                    flush(key, buf)
                last_progress = now
            for key, buf in list(buffers.items()):
                if buf.target is None and now - buf.started >= flush_interval:
                    flush(key, buf)
            if once:
                behind = [k for k, high in targets.items() if done_offsets.get(k, 0) < high]
                pending_done = all(
                    buf.last + 1 >= targets.get(key, 0) for key, buf in buffers.items()
                )
                caught_up = all(
                    (buffers[k].last + 1 if k in buffers else done_offsets.get(k, 0)) >= targets[k]
                    for k in behind
                )
                if caught_up and pending_done:
                    for key, buf in list(buffers.items()):
                        flush(key, buf)
                    break
                if time.monotonic() - last_progress > IDLE_LIMIT:
                    raise PinlakeError(
                        f"sink made no progress for {IDLE_LIMIT:.0f}s (behind: {behind})"
                    )
        else:
            # stopped by a signal: flush what we have so that nothing read is lost
            for key, buf in list(buffers.items()):
                with contextlib.suppress(Exception):
                    flush(key, buf)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        with contextlib.suppress(Exception):
            consumer.close()
    if not quiet:
        console.print(
            f"[green]✓[/] sink: {result.records} records in {result.files} files → {bucket_dir}"
        )
    return result
