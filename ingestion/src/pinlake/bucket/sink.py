"""``pinlake sink``: the batch Kafka topics → the topics bucket (:mod:`pinlake.bucket.layout`).

Exactly once in the bucket: a file is written durably (:func:`~pinlake.bucket.layout.write_atomic`)
before its offsets are committed. A file's name is its first offset, and a batch that starts at an
offset for which a file already exists (a re-delivery after a crash between rename and commit) is
cut at that file's record count and must match it record for record
(:func:`~pinlake.bucket.layout.write_or_verify`); a file with other records (another writer used
the bucket) stops the sink with an error instead of being overwritten.

:class:`FlushPolicy` holds every decision (when a partition's buffer becomes a file, when a
``--once`` run is caught up) as pure code over offsets and clocks; :class:`BucketSink` drives it
with a Kafka consumer.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from pinlake.bucket import layout
from pinlake.config import TABLES, Settings
from pinlake.console import PINLAKE, console, counted, err_console
from pinlake.errors import PinlakeError, UsageError, raise_cut_short
from pinlake.kafka import listening, quiet_logger, retry_transient, unreachable
from pinlake.output import output_folder

GROUP_ID = "pinlake-sink"
#: ``--once``: give up if no record arrives for this long (seconds) while still behind.
IDLE_LIMIT = 60.0
#: Seconds between a waiting ``--once`` run's reads of its group's committed offsets: another
#: sink of the same bucket may have written the records it waits for.
GROUP_POLL_SECONDS = 1.0

Key = tuple[str, int]  # (topic, partition)


@dataclass
class SinkOptions:
    """Options of one sink run. ``bucket``: a folder or ``s3://<bucket>/<prefix>``; None means
    the home's bucket (``PINLAKE_BUCKET``). ``flush_size``: records per file (at least 1);
    ``flush_interval``: seconds before a partial file is written (:func:`flush_interval_problem`).

    Raises :class:`UsageError` for a ``flush_size`` under 1
    (:func:`~pinlake.bucket.layout.flush_size_problem`) or a ``flush_interval`` that
    :func:`flush_interval_problem` refuses."""

    once: bool = False
    bucket: str | Path | None = None
    flush_size: int = 1_000
    flush_interval: float = 5.0
    group_id: str | None = None

    def __post_init__(self) -> None:
        if problem := layout.flush_size_problem(self.flush_size):
            raise UsageError(f"flush size: {problem}")
        if problem := flush_interval_problem(self.flush_interval):
            raise UsageError(f"flush interval: {problem}")


#: The shortest flush interval a sink takes, in seconds.
MIN_FLUSH_INTERVAL = 0.1


def flush_interval_problem(seconds: float) -> str | None:
    """Why ``seconds`` cannot be the sink's flush interval, or None when it can: a finite number
    of at least :data:`MIN_FLUSH_INTERVAL` (``nan`` compared false with every bound and
    ``inf`` never flushed a partial file). The one rule :class:`SinkOptions` and the CLI's
    ``--flush-interval`` apply."""
    if math.isfinite(seconds) and seconds >= MIN_FLUSH_INTERVAL:
        return None
    return f"{seconds:g} is not a finite number of seconds of at least {MIN_FLUSH_INTERVAL:g}"


@dataclass
class SinkResult:
    """What a sink run wrote: records and files in total and records per topic."""

    records: int = 0
    files: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: the signal (``signal.Signals`` name, e.g. ``"SIGINT"``) that stopped the run before it
    #: ended by itself (a ``once`` run: before it caught up), if any
    stopped_by: str | None = None
    #: partitions the sink could not write or commit: ``"topic[partition]"`` → ``"from offset
    #: <n>: <what failed>"`` (those records stay uncommitted in Kafka: the next sink run writes
    #: them). One that cannot be written stops the sink; the other partitions are written first
    unwritten: dict[str, str] = field(default_factory=dict)


class _Unwritable(PinlakeError):
    """A partition's buffer could not be written as a file (:meth:`BucketSink._flush`), or the
    file of its first offset could not be read (:meth:`BucketSink._existing`): the partition
    fails alone from offset ``first`` and the sink stops (:meth:`BucketSink._loop`)."""

    def __init__(self, key: Key, first: int, reason: str) -> None:
        super().__init__(reason)
        self.key, self.first = key, first


@dataclass
class Buffer:
    """Records of one partition waiting to become a file starting at offset ``first``.
    ``target`` is the exact record count when the file exists already (a re-delivery)."""

    first: int
    started: float
    target: int | None
    lines: list[bytes] = field(default_factory=list)
    last: int = -1


def record_line(value: bytes | None) -> bytes:
    """A record value as one bucket line: ``null`` for a null value; raw newlines (JSON
    whitespace) become spaces so that one record stays one line."""
    if value is None:
        return b"null"
    if b"\n" in value or b"\r" in value:
        value = value.replace(b"\r", b" ").replace(b"\n", b" ")
    return value


class FlushPolicy:
    """The sink's decisions, pure: buffering per partition, when a buffer is flushed, and
    whether a ``--once`` run has caught up with its target (high watermark) offsets.

    ``committed`` holds, per partition, the next offset the bucket is missing (what is
    committed); ``targets`` the high watermarks a ``--once`` run must reach.
    """

    def __init__(self, flush_size: int, flush_interval: float) -> None:
        self.flush_size = flush_size
        self.flush_interval = flush_interval
        self.buffers: dict[Key, Buffer] = {}
        self.committed: dict[Key, int] = {}
        self.targets: dict[Key, int] = {}

    def add(self, key: Key, offset: int, line: bytes, now: float, existing: int | None) -> bool:
        """Buffer one record; True when its buffer is now full (flush it). ``existing`` is the
        record count of the file that already starts at ``offset`` (None if there is none); it
        is only consulted when the record opens a new buffer."""
        buf = self.buffers.get(key)
        if buf is None:
            buf = self.buffers[key] = Buffer(offset, now, existing)
        elif offset <= buf.last:
            return False  # delivered twice within the buffer
        buf.lines.append(line)
        buf.last = offset
        return len(buf.lines) >= (buf.target or self.flush_size)

    def due(self, now: float) -> list[Key]:
        """Buffers older than ``flush_interval`` (never a re-delivery: it must reach its size)."""
        return [
            key
            for key, buf in self.buffers.items()
            if buf.target is None and now - buf.started >= self.flush_interval
        ]

    def flushed(self, key: Key) -> Buffer:
        """Forget the buffer of ``key`` after its file was written and committed."""
        buf = self.buffers.pop(key)
        self.committed[key] = buf.last + 1
        return buf

    def drop(self, key: Key) -> None:
        """Forget an uncommitted buffer (partition revoked: its next owner rewrites the file)."""
        self.buffers.pop(key, None)

    def group_committed(self, key: Key, offset: int) -> None:
        """The consumer group's committed ``offset`` of ``key``, read again while a ``--once``
        run waits: another sink of the same bucket (one group) wrote and committed the
        partition up to there, and this run, whose consumer starts where the group committed,
        will never read those records. Counted as written when it is past what this run
        committed (helper-88: a second ``sink --once`` waited 60 s, then failed)."""
        if offset > self.committed.get(key, 0):
            self.committed[key] = offset

    def reached(self, key: Key) -> int:
        """The next offset of ``key`` that is neither written (by this run or its group) nor
        buffered."""
        buf = self.buffers.get(key)
        return max(buf.last + 1 if buf is not None else 0, self.committed.get(key, 0))

    def caught_up(self) -> bool:
        """True when every target partition is written or buffered up to its target offset."""
        return not self.behind()

    def behind(self) -> list[Key]:
        """Target partitions neither written nor buffered up to their target offset."""
        return [k for k, high in self.targets.items() if self.reached(k) < high]


def lost_files(committed: dict[Key, int], files: list[layout.BucketFile]) -> dict[Key, int]:
    """``{(topic, partition): committed offset}`` of the partitions whose committed offset is
    above 0 while ``files`` (the bucket's files of their topics) hold none whose first offset
    is below it: the sink committed records that its bucket no longer holds, and will not
    write them again (helper-62: moto's in-memory bucket after a restart of the S3 server; a
    folder emptied by hand). Negative offsets (none committed) are skipped."""
    firsts: dict[Key, int] = {}
    for f in files:
        if f.partition is not None and f.first_offset is not None:
            key = (f.topic, f.partition)
            firsts[key] = min(firsts.get(key, f.first_offset), f.first_offset)
    return {
        key: offset
        for key, offset in sorted(committed.items())
        if offset > 0 and firsts.get(key, offset) >= offset
    }


def sink_group(bucket: layout.Location) -> str:
    """The consumer group of a bucket: committed offsets describe what one bucket holds."""
    digest = hashlib.sha1(str(bucket).encode()).hexdigest()[:10]
    return f"{GROUP_ID}-{digest}"


class BucketSink:
    """Consumes the three batch topics into the bucket until caught up (``once``) or stopped
    (``stop`` event, SIGTERM or SIGINT in the main thread; what was read is flushed first).

    Raises :class:`PinlakeError` when Kafka is unreachable, a topic is missing, a non-retriable
    consumer error occurs, or a ``--once`` run makes no progress for :data:`IDLE_LIMIT` s.
    """

    def __init__(
        self, settings: Settings, options: SinkOptions, stop: threading.Event | None = None
    ) -> None:
        self.settings = settings
        self.options = options
        self.bucket = layout.location(options.bucket or settings.bucket_dir)
        self.topics = [settings.topic(t) for t in TABLES]
        self.stop = stop or threading.Event()
        self.policy = FlushPolicy(options.flush_size, options.flush_interval)
        self.result = SinkResult(topics={t: 0 for t in self.topics})
        self._consumer = None
        self._signal: str | None = None  # the signal that set ``stop`` (_on_signal)
        self._failed: set[Key] = set()  # partitions that cannot be written (_loop)
        self._claimed = False  # recorded as the bucket's writer (layout.claim_writer, _flush)

    def run(self) -> SinkResult:
        """Run the sink; returns what it wrote (and :attr:`SinkResult.unwritten`: the buffers it
        could not write). On an error, :attr:`result` still holds what it wrote."""
        from confluent_kafka import Consumer

        start = time.perf_counter()
        layout.check_landable(self.bucket)  # before a record is read
        if not listening(self.settings):  # no consumer dials a broker that is not running
            raise unreachable(self.settings)
        self._consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka.bootstrap_servers,
                "group.id": self.options.group_id or sink_group(self.bucket),
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "max.poll.interval.ms": 300_000,
                "fetch.wait.max.ms": 100,
                "logger": quiet_logger(),
                "log_level": 3,
            }
        )
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            self._check_bucket()
            partitions = self._check_topics()
            committed = self._committed(partitions)
            self._warn_lost_files(committed)
            if self.options.once:
                self._set_targets(committed)
            layout.remove_orphaned_temp_files(self.bucket, self.topics)
            self._consumer.subscribe(self.topics, on_revoke=self._on_revoke)
            self._loop()
        except OSError as exc:  # S3's (BucketAccessError) or the file system's, outside a file
            raise layout.bucket_error(exc, "used", self.settings) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with contextlib.suppress(Exception):
                self._consumer.close()
            self.result.seconds = time.perf_counter() - start
        return self.result

    def _on_signal(self, signum: int, _frame: object) -> None:
        """SIGINT or SIGTERM: stop after flushing what was read (noted in the result)."""
        self._signal = signal.Signals(signum).name
        self.stop.set()

    def _check_bucket(self) -> None:
        """An S3 bucket must exist; a local folder is created (so that the bucket the summary
        names exists, and ``land`` finds it, even when there was nothing to write). The bucket
        must not be ``produce --to bucket``'s (:func:`layout.other_writer`): PinlakeError
        otherwise. The sink records itself as its writer with its first file (:meth:`_flush`)."""
        if isinstance(self.bucket, layout.S3Path):
            layout.require_s3_bucket(self.bucket, self.settings)
        else:  # a file in the way, no permission: one line (pinlake.output's rule)
            output_folder(self.bucket, "bucket").mkdir(parents=True, exist_ok=True)
        other = layout.other_writer(self.bucket, layout.SINK)  # OSError: run's one line
        if other is not None:
            raise PinlakeError(layout.writer_refusal(self.bucket, layout.SINK, other))

    # ---- Kafka side ------------------------------------------------------------------------
    def _check_topics(self) -> dict[str, list[int]]:
        from confluent_kafka import KafkaException

        try:
            meta = self._consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise unreachable(self.settings) from exc
        missing = [
            t for t in self.topics if t not in meta.topics or meta.topics[t].error is not None
        ]
        if missing:
            from pinlake.run_folder import up_hint

            raise PinlakeError(
                f"topics {', '.join(missing)} do not exist (start them with "
                f"`{up_hint(self.settings.run_dir)}`)"
            )
        return {t: list(meta.topics[t].partitions) for t in self.topics}

    def _committed(self, partitions: dict[str, list[int]]) -> list:
        """The group's committed offsets of ``partitions`` (``TopicPartition``s; offset -1001
        where it has none)."""
        from confluent_kafka import TopicPartition

        tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
        return retry_transient(
            lambda: self._consumer.committed(tps, timeout=10), "reading committed offsets"
        )

    def _warn_lost_files(self, committed: list) -> None:
        """A warning for each partition whose committed offset says the bucket holds its records
        up to there, while the bucket holds none of its files below it (:func:`lost_files`)."""
        offsets = {(tp.topic, tp.partition): tp.offset for tp in committed}
        files = [f for topic in self.topics for f in layout.list_files(self.bucket, topic)]
        for (topic, partition), offset in lost_files(offsets, files).items():
            err_console.print(
                f"warning: the bucket holds no file of {topic}[{partition}] below offset "
                f"{offset:,}, up to which this bucket's sink committed it: its files were "
                "removed (a restarted `services up --s3` server keeps none); the sink does not "
                "write those records again (a bucket location of its own, e.g. another prefix, "
                "has a consumer group of its own, which reads them from Kafka while Kafka keeps "
                "them)",
                markup=False,
                soft_wrap=True,
            )

    def _set_targets(self, committed: list) -> None:
        """A ``--once`` run's targets: each partition's high watermark, from its committed
        offset (the log's start where the group has none)."""
        for tp in committed:
            key = (tp.topic, tp.partition)
            low, high = retry_transient(
                lambda tp=tp: self._consumer.get_watermark_offsets(tp, timeout=10),
                f"reading the offsets of {tp.topic}[{tp.partition}]",
            )
            self.policy.targets[key] = high
            self.policy.committed[key] = tp.offset if tp.offset >= 0 else low

    def _on_revoke(self, _consumer, partitions) -> None:
        for tp in partitions:
            self.policy.drop((tp.topic, tp.partition))

    def _flush(self, key: Key) -> None:
        from confluent_kafka import TopicPartition

        topic, partition = key
        buf = self.policy.buffers[key]
        path = layout.file_path(self.bucket, topic, partition, buf.first)
        try:
            if not self._claimed:  # the bucket is the sink's from its first file on
                other = layout.claim_writer(self.bucket, layout.SINK, self.settings.home)
                if other is not None:  # the producer claimed it since the sink started
                    why = layout.writer_refusal(self.bucket, layout.SINK, other)
                    raise _Unwritable(key, buf.first, why)
                self._claimed = True
            layout.write_or_verify(path, buf.lines)  # a re-delivery finds its identical file
        except FileExistsError as exc:
            raise _Unwritable(
                key,
                buf.first,
                f"{exc}; refusing to overwrite it. The sink writes Kafka's offsets: give it a "
                f"bucket of its own (`{PINLAKE} sink --bucket DIR`, PINLAKE_BUCKET)",
            ) from exc
        except OSError as exc:  # S3 (BucketAccessError) or the local file system
            what = f"cannot write the topics bucket: {layout.error_text(exc)}"
            raise _Unwritable(key, buf.first, what) from exc
        retry_transient(
            lambda: self._consumer.commit(
                offsets=[TopicPartition(topic, partition, buf.last + 1)], asynchronous=False
            ),
            f"committing {topic}[{partition}]",
        )
        self.policy.flushed(key)
        self.result.records += len(buf.lines)
        self.result.files += 1
        self.result.topics[topic] += len(buf.lines)

    def _existing(self, key: Key, offset: int) -> int | None:
        """The record count of the file that starts at ``offset`` (a re-delivery), None if
        there is none. One that cannot be read (a folder of that name, a permission, S3's
        error) fails the partition from ``offset`` as a file it cannot write does
        (:class:`_Unwritable`): a trial saw the file system's words alone."""
        path = layout.file_path(self.bucket, *key, offset)
        try:
            return layout.count_records(path) if layout.exists(path) else None
        except OSError as exc:
            what = f"cannot read the topics bucket: {layout.error_text(exc)}"
            raise _Unwritable(key, offset, what) from exc

    def _loop(self) -> None:
        """Consume until caught up (``once``) or stopped, then write what was read.

        A partition whose file cannot be written or read (:class:`_Unwritable`) fails alone:
        it is reported in :attr:`SinkResult.unwritten`, its records stay uncommitted in Kafka
        (the later ones are not buffered), and the sink stops: a ``once`` run after the other
        partitions are caught up, a continuous one after the messages it has read, writing
        the other partitions' buffers first (a sink that met it printed no summary and left
        the others unwritten: helper-51's and helper-53's trials)."""
        self._consume()
        if self.stop.is_set():
            self.result.stopped_by = self._signal
        # nothing read is lost: every buffer still held is written (when caught up, none is);
        # one that cannot be written or committed is reported, its records stay uncommitted
        for key in list(self.policy.buffers):
            buf = self.policy.buffers[key]
            try:
                self._flush(key)
            except Exception as exc:  # noqa: BLE001 - every failure is reported in the result
                self._unwritten(key, buf.first, exc)

    def _unwritten(self, key: Key, first: int, why: BaseException) -> None:
        """Report partition ``key`` as not written from offset ``first`` on
        (:attr:`SinkResult.unwritten`) and forget its buffer and its target."""
        self.result.unwritten[f"{key[0]}[{key[1]}]"] = f"from offset {first}: {why}"
        self.policy.drop(key)
        self.policy.targets.pop(key, None)
        self._failed.add(key)

    def _write(self, key: Key) -> None:
        """:meth:`_flush`, a partition that cannot be written failing alone (:meth:`_loop`)."""
        try:
            self._flush(key)
        except _Unwritable as failed:
            self._unwritten(failed.key, failed.first, failed)

    def _consume(self) -> None:
        from confluent_kafka import KafkaError

        last_progress = last_asked = time.monotonic()
        while not self.stop.is_set():
            messages = self._consumer.consume(num_messages=1000, timeout=0.2)
            now = time.monotonic()
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF or (
                        err.retriable() and not err.fatal()
                    ):
                        continue
                    raise PinlakeError(f"Kafka consumer error: {err}")
                key, offset = (msg.topic(), msg.partition()), msg.offset()
                if key in self._failed:  # stays uncommitted in Kafka (see _loop)
                    continue
                try:
                    new = key not in self.policy.buffers
                    existing = self._existing(key, offset) if new else None
                except _Unwritable as failed:
                    self._unwritten(key, offset, failed)
                    continue
                if self.policy.add(key, offset, record_line(msg.value()), now, existing):
                    self._write(key)
                last_progress = now
            for key in self.policy.due(now):
                self._write(key)
            if self._failed and not self.options.once:
                return  # a continuous sink stops: what it read is written by _loop
            if self.options.once:
                if not self.policy.caught_up() and now - last_asked >= GROUP_POLL_SECONDS:
                    self._read_group_commits()  # another sink of the bucket may have them
                    last_asked = now
                if self.policy.caught_up():
                    for key in list(self.policy.buffers):
                        self._write(key)
                    return
                if time.monotonic() - last_progress > IDLE_LIMIT:
                    behind = ", ".join(
                        f"{t}[{p}] at offset {self.policy.reached((t, p)):,} of "
                        f"{self.policy.targets[(t, p)]:,}"
                        for t, p in self.policy.behind()
                    )
                    raise PinlakeError(
                        f"sink made no progress for {IDLE_LIMIT:.0f}s: no records came for {behind}"
                    )

    def _read_group_commits(self) -> None:
        """Read the group's committed offsets of the partitions a ``--once`` run is behind on
        (:meth:`FlushPolicy.group_committed`)."""
        from confluent_kafka import TopicPartition

        tps = [TopicPartition(t, p) for t, p in self.policy.behind()]
        for tp in retry_transient(
            lambda: self._consumer.committed(tps, timeout=10), "reading committed offsets"
        ):
            if tp.offset >= 0:
                self.policy.group_committed((tp.topic, tp.partition), tp.offset)


def run_sink(
    settings: Settings, options: SinkOptions, stop: threading.Event | None = None
) -> SinkResult:
    """Run a :class:`BucketSink` and print its one-line summary.

    A continuous sink's normal end is a signal (Ctrl-C, SIGTERM): the summary, then return. A
    ``once`` run that a signal stopped before it caught up has not done what it was asked:
    after its summary of what it wrote, this ends it as interrupted
    (:func:`~pinlake.errors.raise_cut_short`: ``error: interrupted``, 130, or ``error:
    terminated``, 143, as every command; README, "Ctrl-C").

    Raises :class:`PinlakeError` (after the summary) when the sink could not write or commit a
    partition's buffer (:attr:`SinkResult.unwritten`: on its stop, or while it ran, which
    stops it), naming each; those records stay uncommitted in Kafka, so the next run writes
    them. Any other error after the sink began (Kafka's, the bucket's) is raised after a ✗
    summary of what it wrote, when it wrote anything."""
    sink = BucketSink(settings, options, stop)
    try:
        result = sink.run()
    except Exception:
        if sink.result.records or sink.result.files:
            _print_summary(settings, options, sink.result, "[red]✗[/]")
        raise
    cut_short = options.once and result.stopped_by is not None
    if result.unwritten:
        mark = "[red]✗[/]"
    elif cut_short:
        mark = "[yellow]stopped before it caught up:[/]"
    else:
        mark = "[green]✓[/]"
    _print_summary(settings, options, result, mark)
    if result.unwritten:
        failed = "; ".join(f"{key}: {why}" for key, why in result.unwritten.items())
        raise PinlakeError(
            f"the sink stopped without writing what it had read of "
            f"{counted(len(result.unwritten), 'partition')} ({failed}); those records stay "
            f"uncommitted in Kafka: the next `{PINLAKE} sink` writes them"
        )
    if cut_short:
        raise_cut_short(result.stopped_by)
    return result


def _print_summary(settings: Settings, options: SinkOptions, result: SinkResult, mark: str) -> None:
    """``<mark> sink: N records in M files → <bucket> (S s)``."""
    bucket = layout.location(options.bucket or settings.bucket_dir)
    console.print(
        f"{mark} sink: {counted(result.records, 'record')} in "
        f"{counted(result.files, 'file')} → {escape(str(bucket))} "
        f"({result.seconds:.1f}s)",
        soft_wrap=True,
    )
