"""The stream path: Kinesis-proxy stream topics -> raw Delta, with Spark Structured Streaming.

A query per stream topic (``streaming-<prefix>-pin|geo|user``, where the ingestion API's Kinesis
proxy puts every acknowledged ``PutRecord(s)`` entry: key = partition key, value = the ``Data``
bytes), run side by side in one Spark session, appends per micro-batch (``foreachBatch``):

* ``raw.stream_<table>``: the records of the ``Data`` by the same rule as the batch path
  (:mod:`pinlake.lakehouse.records`): a JSON object, each object of a JSON array, or either of
  them base64-encoded in a JSON string (what the tutorial's PutRecord template stores for a
  producer that pre-encodes), parsed with the table's explicit schema, every delivered field
  kept as delivered, plus :data:`pinlake.schemas.STREAM_METADATA_COLUMNS` (topic, partition,
  offset, element, Kafka timestamp, partition key, Kinesis sequence number, micro-batch id,
  ingestion time);
* ``raw.stream_quarantine``: ``Data`` that is missing, not UTF-8, or holds no record (a JSON
  string that is not base64 of JSON, an empty array, anything else that is not an object), array
  elements that are not objects, records that lack the key or have a field that does not fit
  its type, with the reason, the text and the metadata. The query never stops because of them.

A query per topic rather than one over all three: a micro-batch exists only when its topic got
records, so it appends to its table without counting first (the counts come from an
``Observation`` of the same write), and a topic that is quiet costs no commits. The records of a
batch are parsed once; the quarantine is written after the table's commit, only when the batch
has bad records, so it never delays the good ones.

**Exactly once.** Offsets are tracked in a checkpoint per query (``<home>/checkpoints/stream/
<table>``); a batch that was cut short is replayed with the same offsets after a restart. Every
Delta append carries ``txnAppId`` (an id kept in the checkpoint folder, plus the table) and
``txnVersion`` (the batch id), so Delta skips the appends of a replayed batch that had committed
(Delta's idempotent writes, see delta-io/delta PR #1141 and "Idempotent table writes in
foreachBatch" in the Delta docs). A batch whose every record is quarantined still commits its
(empty) append to the table: the commit records its transaction id.

**Beside everything else.** The tables are Delta tables at fixed paths
(:func:`pinlake.lakehouse.tables.stream_table_path`), external tables in the metastore. The
continuous query uses a session without the metastore (embedded Derby admits one JVM at a time),
so ``pinlake land``, ``dbt`` and Airflow keep working on the same home while it runs; a helper
process registers the tables in the metastore when the query starts, unless a marker says they
are registered (best effort: when the metastore is busy, the next ``land`` or
``stream --available-now`` registers them). The
``--available-now`` mode (process what is there, then stop) uses the metastore like ``land``.
One stream stage per home: a file lock on the checkpoint guards it.

**Modes.** Continuous: a processing-time trigger (default 1 s) until SIGTERM/SIGINT, after a
warm-up (:func:`warm_up`: a new JVM's first micro-batches are several times slower); the stop waits
for each query's running micro-batch to finish (up to 30 s) and then stops it (an abandoned batch
is replayed on the next start, without loss or duplicates); a stop during the start-up ends it
without waiting for it (:class:`_StopRequest`), and ends the table registration too.
Available-now: every record there at start, in batches of at most ``max_records_per_batch`` per
topic, then stop. While running, the stage writes its state to ``<home>/run/stream-status.json``
(``pinlake services status``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from pinlake.config import TABLES, Settings
from pinlake.console import PINLAKE, console, counted, table
from pinlake.errors import (
    INTERRUPTED,
    TERMINATED,
    PinlakeError,
    UsageError,
    causes,
    one_line,
    raise_cut_short,
)
from pinlake.lakehouse import records
from pinlake.lakehouse.tables import (
    ensure_raw_tables,
    ensure_stream_tables_by_path,
    quarantine_counts_hint,
    registered_marker,
    stream_table_path,
)
from pinlake.schemas import KEY_COLUMN, SOURCE_COLUMNS, STREAM_QUARANTINE_TABLE, stream_table
from pinlake.spark import session_env

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation, SparkSession
    from pyspark.sql.streaming import StreamingQuery

QUERY_NAME = "pinlake_stream"
#: How long a graceful stop waits for the running micro-batch before it stops the query.
STOP_GRACE_SECONDS = 30.0
#: :attr:`StreamResult.stopped` of a stage that a signal stopped before its queries ran.
STOPPED_DURING_START_UP = "stopped by a signal during start-up"
#: :attr:`StreamResult.stopped` of a stage that a second signal stopped during its graceful
#: stop (:class:`_StopRequest`: Ctrl-C twice).
STOPPED_WITHOUT_WAITING = (
    "stopped by a second signal without waiting for the running micro-batches (replayed on the "
    "next start)"
)
#: :attr:`StreamResult.stopped` of a stage whose graceful stop found a micro-batch still
#: writing after :data:`STOP_GRACE_SECONDS` (:func:`_stop_gracefully`).
STOPPED_OUT_OF_TIME = (
    f"stopped by a signal; a micro-batch still writing after {STOP_GRACE_SECONDS:g} s was cut "
    "short (replayed on the next start)"
)
#: The stops that cut a running micro-batch short: the run ends as interrupted (:func:`end_of_run`).
CUT_SHORT = (STOPPED_WITHOUT_WAITING, STOPPED_OUT_OF_TIME)
#: How often a graceful stop and a held writer look at each other's state (seconds).
STOP_POLL_SECONDS = 0.02


#: The trigger intervals a continuous run takes, in seconds: a micro-batch at most ten times a
#: second and at least once a day (an unbounded one, ``1e400``, failed in Spark after its
#: start-up; for rarer runs schedule ``--available-now``).
MIN_TRIGGER_SECONDS, MAX_TRIGGER_SECONDS = 0.1, 86_400.0
#: The most records per micro-batch of a topic: the Kafka source reads ``maxOffsetsPerTrigger``
#: as a Java long.
MAX_RECORDS_PER_BATCH = 2**63 - 1


def trigger_seconds_problem(seconds: float) -> str | None:
    """Why ``seconds`` cannot be a continuous run's trigger interval (outside
    :data:`MIN_TRIGGER_SECONDS`–:data:`MAX_TRIGGER_SECONDS`, or not a number: ``nan``), or
    None when it can. The one rule :class:`StreamOptions` and the CLI's ``--trigger-seconds``
    apply."""
    if MIN_TRIGGER_SECONDS <= seconds <= MAX_TRIGGER_SECONDS:  # False for nan
        return None
    return f"{seconds:g} is not in {MIN_TRIGGER_SECONDS:g}–{MAX_TRIGGER_SECONDS:,.0f}"


@dataclass
class StreamOptions:
    """How to run the stream stage.

    ``available_now``: process every record in the stream topics at start, then stop (for
    schedulers and tests); otherwise run continuously with a processing-time trigger of
    ``trigger_seconds`` until stopped. ``max_records_per_batch`` caps a micro-batch of a topic
    (Kafka source ``maxOffsetsPerTrigger``). ``run_seconds``: stop a continuous run after that long
    (None: until SIGTERM/SIGINT). ``warm_up``: a continuous run first runs :func:`warm_up` (a few
    seconds), so that its first micro-batches are as fast as the later ones.

    Raises :class:`UsageError` for a ``trigger_seconds`` outside :data:`MIN_TRIGGER_SECONDS`–
    :data:`MAX_TRIGGER_SECONDS` and a ``max_records_per_batch`` outside
    1–:data:`MAX_RECORDS_PER_BATCH`.
    """

    available_now: bool = False
    trigger_seconds: float = 1.0
    max_records_per_batch: int = 100_000
    run_seconds: float | None = None
    warm_up: bool = True
    #: run as the home's service (``services up`` started it: :func:`main`), not in a terminal
    as_service: bool = False

    def __post_init__(self) -> None:
        if problem := trigger_seconds_problem(self.trigger_seconds):
            raise UsageError(f"trigger seconds: {problem}")
        if not 1 <= self.max_records_per_batch <= MAX_RECORDS_PER_BATCH:
            raise UsageError(
                f"records per micro-batch: {self.max_records_per_batch} is not in"
                f" 1–{MAX_RECORDS_PER_BATCH:,}"
            )


#: How many of the latest records' latencies a run keeps for its percentiles.
LATENCY_WINDOW = 200_000


@dataclass
class StreamResult(records.TableTotals):
    """What one run of the stream stage did: micro-batches, rows appended per table and records
    quarantined per table by this run (a replayed batch whose appends Delta skipped counts
    again), why it stopped, wall seconds and the part of them spent starting Spark.

    ``latency_ms``: percentiles (p50, p90, p99, max) of the end-to-end latency of the last
    :data:`LATENCY_WINDOW` records, from the record's Kafka timestamp (set when the ingestion
    API produced it, just before it acknowledged it) to the commit of the micro-batch that made
    it visible in its raw Delta table, in milliseconds.
    """

    batches: int = 0
    records: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    quarantined: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    stopped: str = ""
    #: an ``available_now`` run: it lands records that waited for it (its summary names their
    #: age, not the stream's latency)
    catch_up: bool = False
    #: when a continuous run's queries ran (epoch ms; 0: none; its launch until then): the
    #: records acknowledged before are counted in :attr:`backlog`, not in :attr:`latency_ms`
    #: (their wait for the run, its Spark start-up included, is no latency of the stream:
    #: helper-53's trial read "latency p50 55 s", helper-55's 32 s after a 50 s start-up)
    started_at_ms: float = 0.0
    #: records a continuous run landed that were acknowledged before its queries ran
    backlog: int = 0
    #: the signal (``signal.Signals`` name) that stopped the run before it ended by itself (an
    #: ``available_now`` run: before it caught up), if any
    stopped_by: str | None = None
    seconds: float = 0.0
    spark_startup_seconds: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)


# ---- locations ------------------------------------------------------------------------------
def checkpoint_dir(settings: Settings) -> Path:
    """The stream stage's checkpoints: a folder per table's query (offsets and commits of every
    micro-batch) and the Delta transaction app id they share."""
    return settings.home / "checkpoints" / "stream"


def committed_offsets(settings: Settings) -> dict[str, dict[str, int]]:
    """``{topic: {partition: offset}}``: where each table's query will read next, by its
    checkpoint (:func:`checkpoint_dir`): the end offsets of its last committed micro-batch
    (Structured Streaming's offset log, ``offsets/<batch id>``: a ``v1`` line, the batch's
    metadata, then a line per source, the Kafka source's ``{"<topic>": {"<partition>":
    <offset>}}``; ``commits/<batch id>`` marks the batch done). What ``services status`` counts
    the lag from when the running query has not written a micro-batch of that topic yet (after
    a restart or a crash it showed every record as unread, helper-101). Never raises: a
    checkpoint it cannot read gives nothing for its topics."""
    found: dict[str, dict[str, int]] = {}
    for name in TABLES:
        query = checkpoint_dir(settings) / name
        try:
            done = [int(p.name) for p in (query / "commits").iterdir() if p.name.isdigit()]
            if not done:
                continue
            lines = (query / "offsets" / str(max(done))).read_text().splitlines()
            for line in lines[2:]:
                for topic, partitions in json.loads(line).items():
                    found.setdefault(topic, {}).update(
                        {str(p): int(offset) for p, offset in partitions.items()}
                    )
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    return found


def status_path(settings: Settings) -> Path:
    """The running query's state, rewritten after every micro-batch (JSON)."""
    return settings.run_dir / "stream-status.json"


def already_running(settings: Settings) -> str:
    """The refusal of a stream stage on a home whose stream query runs (it holds the checkpoint's
    lock), naming how that query stops: ``services down`` when ``services up`` started it (its
    state says ``"service"``), else Ctrl-C where its ``pinlake stream`` runs (helper-80: the
    services' query was told to stop with Ctrl-C in a terminal it never had)."""
    running = read_status(settings) or {}
    pid = running.get("pid", "?")
    if running.get("service"):
        how = f"`{PINLAKE} services up` started it; `{PINLAKE} services down` stops it"
    elif running:
        how = f"stop it with Ctrl-C in the terminal where `{PINLAKE} stream` runs"
    else:  # no state written yet
        how = (
            f"stop it with `{PINLAKE} services down`, or Ctrl-C in the terminal where "
            f"`{PINLAKE} stream` runs"
        )
    return (
        f"a stream query already runs on {settings.home} (pid {pid}); it lands the stream "
        f"topics already ({how})"
    )


def read_status(settings: Settings) -> dict[str, Any] | None:
    """The last state written by a stream query of this home, None if there is none."""
    try:
        return json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        return None


def _app_id(checkpoint: Path) -> str:
    """The Delta ``txnAppId`` of this checkpoint: created with the checkpoint, kept in it, so a
    new checkpoint (offsets from the start again) never collides with an old one's versions."""
    path = checkpoint / "pinlake-app-id"
    if path.is_file():
        return path.read_text().strip()
    checkpoint.mkdir(parents=True, exist_ok=True)
    app_id = f"pinlake-stream-{uuid.uuid4().hex}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(app_id + "\n")
    os.replace(tmp, path)
    return app_id


# ---- one micro-batch --------------------------------------------------------------------------
def _metadata_columns() -> list[Column]:
    from pyspark.sql import functions as F

    from pinlake.ingest_api.kinesis.codec import SEQUENCE_NUMBER_SQL

    return [
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("_element"),
        F.col("timestamp").alias("_kafka_timestamp"),
        F.col("key").cast("string").alias("_partition_key"),
        F.expr(SEQUENCE_NUMBER_SQL.format(partition="partition", offset="offset")).alias(
            "_sequence_number"
        ),
        F.col("_batch_id"),
        F.current_timestamp().alias("_ingested_at"),
    ]


def _parsed_batch(batch: DataFrame, table_name: str, batch_id: int) -> DataFrame:
    """The micro-batch's Kafka rows as records by ``table_name``'s rule (a row per record:
    :func:`records.with_records`, with base64 unwrapping): the UTF-8 text ``_text``, the record's
    position ``_element`` and text ``_record``, the parsed record ``p`` (and its fields as text,
    ``_fields``), ``_reason`` (null when the record lands) and ``_batch_id``."""
    from pyspark.sql import functions as F

    text = F.col("_text")
    frame = batch.select(
        "topic",
        "partition",
        "offset",
        "timestamp",
        "key",
        "value",
        records.utf8_text(F.col("value")).alias("_text"),
        F.lit(batch_id).cast("bigint").alias("_batch_id"),
    )
    frame = records.with_records(frame, table_name, "_text", unwrap_base64=True)  # a row per record
    reason = (
        F.when(F.col("value").isNull(), F.lit("no Data"))
        .when(text.isNull(), F.lit(records.NOT_UTF8))
        .otherwise(F.col("_reason"))
    )
    return frame.withColumn("_reason", reason)


def _observed(seen: Observation) -> dict[str, Any] | None:
    """The metrics of ``seen`` if the write it observes ran, None if it did not run.

    Delta skips an append whose ``txnVersion`` it has already committed without running its
    plan, so the ``Observation`` is never filled and ``Observation.get`` would wait forever.
    Spark fills it when the action ends (the future of the JVM ``Observation`` is completed
    when the write returns, checked here without waiting).
    """
    if not seen._jo.future().isCompleted():  # noqa: SLF001 - py4j handle of the Observation
        return None
    return seen.get


class BatchWriter:
    """The ``foreachBatch`` function of ``table_name``'s query: one micro-batch of its topic into
    ``raw.stream_<table>`` and, for its bad records, ``raw.stream_quarantine`` (see the module
    docstring). Every row of a batch is taken as a record of ``table_name``. Counts go to
    ``result`` (shared by the tables' writers, under ``lock``). ``root``: write the tables under
    this folder instead of their paths in the warehouse (the warm-up does)."""

    def __init__(
        self,
        settings: Settings,
        table_name: str,
        app_id: str,
        result: StreamResult,
        root: Path | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.settings = settings
        self.table_name = table_name
        self.app_id = f"{app_id}.{table_name}"
        self.result = result
        self.root = root
        self.lock = lock or threading.Lock()
        self.last_batch_at: float | None = None
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        #: where the last micro-batch's time went inside this function (ms): the table's
        #: append (its Spark job and commit) and the quarantine's (0 when nothing was bad)
        self.last_batch_ms: dict[str, float] = {}
        #: the last micro-batch this writer wrote: its id and its records (good + quarantined)
        self.last_batch_id: int | None = None
        self.last_batch_records = 0
        #: Spark's progress of that micro-batch: (input, processed) records/s and its phases
        #: in ms, kept once seen (Spark's last progress is soon an idle trigger's, all zeros)
        self.last_batch_rates: tuple[float, float] = (0.0, 0.0)
        self.last_batch_durations: dict[str, Any] | None = None
        #: True while a micro-batch is inside this function (its Spark jobs write the tables)
        self.writing = False
        #: the graceful stop's handshake (:func:`_stop_gracefully`): once ``stopping`` is set,
        #: each call, its writes done and counted, holds (``held``) until its ``query`` is stopped
        self.stopping = threading.Event()
        self.held = False
        self.query: StreamingQuery | None = None
        self._first = True

    def note_progress(self, progress: dict[str, Any]) -> None:
        """Keep the rates and phases of the micro-batch this writer wrote last from Spark's
        ``progress`` of its query (``StreamingQueryProgress`` as JSON: ``batchId``,
        ``numInputRows``, ``inputRowsPerSecond``, ``processedRowsPerSecond``, ``durationMs``)
        when it is that batch's; an idle trigger's progress (no new records: zero rows and
        rates, which Spark reports every ``noDataProgressEventInterval``) or an older batch's
        never replaces them, so a status row's records and rates describe the same batch.
        Spark counts the source rows of every job of a batch: a batch that also wrote its
        quarantine read its records twice, so its rates are scaled to the records it had."""
        read = progress.get("numInputRows") or 0
        if not read or progress.get("batchId") != self.last_batch_id:
            return
        scale = min(1.0, self.last_batch_records / read)
        self.last_batch_rates = (
            (progress.get("inputRowsPerSecond") or 0.0) * scale,
            (progress.get("processedRowsPerSecond") or 0.0) * scale,
        )
        self.last_batch_durations = progress.get("durationMs")

    def _append(self, frame: DataFrame, name: str, batch_id: int) -> None:
        (
            frame.write.format("delta")
            .mode("append")
            .option("txnAppId", self.app_id)
            .option("txnVersion", batch_id)
            .save(str(self.root / name if self.root else stream_table_path(self.settings, name)))
        )

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """``foreachBatch``'s function: write micro-batch ``batch_id`` (idempotent per batch id,
        Delta's ``txnAppId``/``txnVersion``), then stop the query if a stop was asked."""
        self.writing = True
        try:
            self._write(batch, batch_id)
        finally:
            self.writing = False
        if self.stopping.is_set():
            self._hold_until_stopped()

    def _hold_until_stopped(self) -> None:
        """Keep this ``foreachBatch`` call, its batch written, until :attr:`query` is stopped
        (up to :data:`STOP_GRACE_SECONDS`): meanwhile Spark starts no other batch of the query,
        so its stop cancels no job of ours. ``StreamingQuery.stop`` marks the query inactive
        first, then cancels its jobs (none: this call runs none) and waits for its thread, which
        goes on once this call returns (Spark's ``MicroBatchExecution.stop``)."""
        self.held = True
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        try:
            while self.query is not None and self.query.isActive and time.monotonic() < deadline:
                time.sleep(STOP_POLL_SECONDS)
        finally:
            self.held = False

    def _write(self, batch: DataFrame, batch_id: int) -> None:
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        name = self.table_name
        started = time.perf_counter()
        if self._first:
            # a new checkpoint's first micro-batch reads from "nothing" to the first offsets and
            # may hold no record: it must not commit an empty version (later ones never are empty)
            self._first = False
            if batch.isEmpty():
                return
        rows = _parsed_batch(batch, name, batch_id)
        ok = F.col("_reason").isNull()
        measures = [
            F.count(F.when(ok, 1)).alias("good"),
            F.count(F.when(~ok, 1)).alias("bad"),
            F.collect_list(F.when(ok, F.unix_millis("timestamp"))).alias("ms"),
        ]
        seen = Observation()
        self._append(
            rows.observe(seen, *measures)
            .filter(ok)
            .select(*records.landed_fields(name), *_metadata_columns()),
            stream_table(name),
            batch_id,
        )
        visible_at = time.time()
        appended = time.perf_counter()
        metrics = _observed(seen)
        replayed = metrics is None  # a batch Delta had: it skipped the append without running it
        if replayed:
            metrics = rows.agg(*measures).collect()[0].asDict()
        good, bad = int(metrics["good"]), int(metrics["bad"])
        if bad:  # after the table's commit: the good records do not wait for it
            quarantine = rows.filter(~ok).select(
                F.lit(name).alias("table_name"),
                F.col("_reason").alias("reason"),
                F.coalesce("_record", "_text", records.undecodable_text(F.col("value"))).alias(
                    "raw_text"
                ),
                *_metadata_columns(),
            )
            self._append(quarantine, STREAM_QUARANTINE_TABLE, batch_id)
        done = time.perf_counter()
        with self.lock:
            self.last_batch_ms = {
                "append": round((appended - started) * 1000, 1),
                "quarantine": round((done - appended) * 1000, 1),
            }
            self.result.batches += 1
            self.last_batch_id, self.last_batch_records = batch_id, good + bad
            self.result.records[name] += good
            self.result.quarantined[name] += bad
            self.last_batch_at = visible_at
            if not replayed:  # a replayed batch's records were visible before the restart
                since = self.result.started_at_ms
                stamps = [ms for ms in metrics["ms"] if ms >= since]
                self.result.backlog += len(metrics["ms"]) - len(stamps)
                self.latencies.extend(visible_at * 1000 - ms for ms in stamps)


def latency_percentiles(latencies: deque[float] | list[float]) -> dict[str, float]:
    """``{"p50", "p90", "p99", "max"}`` of ``latencies`` (ms, rounded to 0.1); empty if none."""
    if not latencies:
        return {}
    import numpy as np

    values = np.fromiter(latencies, dtype=float)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        k: round(float(v), 1)
        for k, v in zip(("p50", "p90", "p99", "max"), (p50, p90, p99, values.max()), strict=True)
    }


# ---- the query --------------------------------------------------------------------------------
def _start_query(
    spark: SparkSession, settings: Settings, options: StreamOptions, writer: BatchWriter
) -> StreamingQuery:
    """Start the query of ``writer``'s table: its stream topic → ``writer`` per micro-batch."""
    name = writer.table_name
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap_servers)
        .option("subscribe", settings.stream(name))
        .option("startingOffsets", "earliest")
        .option("maxOffsetsPerTrigger", str(options.max_records_per_batch))
        .load()
    )
    query = (
        source.writeStream.queryName(f"{QUERY_NAME}_{name}")
        .foreachBatch(writer)
        .option("checkpointLocation", str(checkpoint_dir(settings) / name))
    )
    if options.available_now:
        query = query.trigger(availableNow=True)
    else:
        query = query.trigger(processingTime=f"{options.trigger_seconds} seconds")
    return query.start()


def warm_up(
    spark: SparkSession,
    settings: Settings,
    rounds: int = 2,
    stopped: Callable[[], bool] = lambda: False,
) -> None:
    """Run a few micro-batches of made-up records (a good and a bad one per table) through each
    table's :class:`BatchWriter` into a scratch folder, then remove it. ``stopped`` is asked
    before each table's first write and before each round: once it says True, the warm-up ends.

    A new JVM runs its first micro-batches several times slower than later ones (classes load,
    code is compiled): without this, the first records after a start wait seconds longer.
    """
    import shutil
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timezone

    scratch = checkpoint_dir(settings).parent / f"warm-up-{os.getpid()}"
    schema = (
        "key binary, value binary, topic string, partition int, offset bigint, "
        "timestamp timestamp, timestampType int"
    )

    writers, frames = {}, {}
    for table_name in TABLES:
        good = {c.name: None for c in SOURCE_COLUMNS[table_name]}
        good[KEY_COLUMN[table_name]] = 1
        now = datetime.now(timezone.utc)
        rows = [
            (b"k", data, settings.stream(table_name), 0, offset, now, 0)
            for offset, data in enumerate((json.dumps(good).encode(), b"not json"))
        ]
        frames[table_name] = spark.createDataFrame(rows, schema)
        writers[table_name] = BatchWriter(
            settings, table_name, "warm-up", StreamResult(), root=scratch
        )
    try:
        for table_name in TABLES:  # one at a time first: the scratch tables are created
            if stopped():
                return
            writers[table_name](frames[table_name], 0)
        with ThreadPoolExecutor(max_workers=len(TABLES)) as pool:  # then as the queries run
            for batch_id in range(1, rounds):
                if stopped():
                    return
                for done in [pool.submit(writers[n], frames[n], batch_id) for n in TABLES]:
                    done.result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _register_tables_in_background(settings: Settings) -> subprocess.Popen | None:
    """``python -m pinlake.lakehouse.tables`` (creates and registers every raw table), output to
    ``logs/stream-register.log``; the continuous query does not wait for it. None when the
    metastore has them already."""
    if registered_marker(settings).exists():
        return None
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.logs_dir / "stream-register.log").open("ab")
    with log:
        register = subprocess.Popen(
            [sys.executable, "-m", "pinlake.lakehouse.tables"],
            env=session_env(settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    reap_when_done(register)
    return register


def reap_when_done(child: subprocess.Popen) -> threading.Thread:
    """Wait for ``child`` on a daemon thread, so that it is reaped as soon as it ends: the
    registration ends within a minute while the continuous query runs for days, and stayed a
    ``<defunct>`` process of the stream's until then (helper-61). ``Popen.wait`` and ``poll``
    take the same lock, so :func:`_end_registration` can still ask it; returns the thread."""
    reaper = threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True)
    reaper.start()
    return reaper


#: Seconds the stage waits for its table registration (:func:`_register_tables_in_background`)
#: at its end, unless a signal stopped it (then the registration is ended at once:
#: :func:`_end_registration`).
REGISTER_WAIT_SECONDS = 60.0


def _end_registration(register: subprocess.Popen | None, wait: bool) -> None:
    """At the stage's end: with ``wait`` (the stage ended by itself or failed), wait up to
    :data:`REGISTER_WAIT_SECONDS` for the registration process ``register`` (None: none was
    started) to finish; else (a signal or Ctrl-C stopped it) end the registration at once:
    SIGTERM to it and its Spark JVM, SIGKILL to what is left after 10 s. Ending it loses
    nothing: its marker is written only once every table is registered, so the next start
    registers them again (``CREATE TABLE IF NOT EXISTS``)."""
    import psutil

    if register is None or register.poll() is not None:
        return
    if wait:
        with contextlib.suppress(subprocess.TimeoutExpired):
            register.wait(timeout=REGISTER_WAIT_SECONDS)
        return
    procs: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(register.pid)
        procs = [*root.children(recursive=True), root]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    register.wait()


def _latency(writers: dict[str, BatchWriter]) -> dict[str, float]:
    """The percentiles of every table's latest latencies together (see StreamResult)."""
    latencies: list[float] = []
    for writer in writers.values():
        latencies.extend(writer.latencies)
    return latency_percentiles(latencies)


def _write_status(
    settings: Settings,
    options: StreamOptions,
    state: str,
    queries: dict[str, StreamingQuery],
    writers: dict[str, BatchWriter],
    result: StreamResult,
    error: str | None = None,
) -> None:
    """Write ``status_path``: the stage's state, totals, latency and, per table's query, its
    last micro-batch (id, rows, rates, Spark's phases in ms, our append times in ms)."""
    per_query: dict[str, dict[str, Any]] = {}
    end_offsets: dict[str, dict[str, int]] = {}
    for name, query in queries.items():
        progress: dict[str, Any] = {}
        with contextlib.suppress(Exception):  # a JVM that is gone (killed) has no progress
            progress = query.lastProgress or {}
        if progress.get("sources"):
            raw = progress["sources"][0].get("endOffset")
            with contextlib.suppress(TypeError, ValueError):
                end_offsets.update(json.loads(raw) if isinstance(raw, str) else dict(raw or {}))
        writer = writers[name]  # every query is started with its writer
        writer.note_progress(progress)
        per_query[name] = {
            "batch_id": writer.last_batch_id,
            "rows": writer.last_batch_records,
            "input_rows_per_second": writer.last_batch_rates[0],
            "processed_rows_per_second": writer.last_batch_rates[1],
            "duration_ms": writer.last_batch_durations,
            "write_ms": writer.last_batch_ms,
            "last_batch_at": writer.last_batch_at,
        }
    latest = max(
        (q for q in per_query.values() if q["last_batch_at"] is not None),
        key=lambda q: q["last_batch_at"],
        default={},
    )

    status = {
        "pid": os.getpid(),
        "service": options.as_service,
        "state": state,
        "mode": "available-now" if options.available_now else "continuous",
        "trigger_seconds": options.trigger_seconds,
        "updated_at": datetime.now(timezone.utc).isoformat(),
        "batches": result.batches,
        "last_batch_at": latest.get("last_batch_at"),
        "last_batch_id": latest.get("batch_id"),
        "last_batch_rows": latest.get("rows"),
        "input_rows_per_second": sum(q["input_rows_per_second"] for q in per_query.values()),
        "processed_rows_per_second": sum(
            q["processed_rows_per_second"] for q in per_query.values()
        ),
        "end_offsets": end_offsets,
        "queries": per_query,
        "records": result.records,
        "quarantined": result.quarantined,
        "latency_ms": result.latency_ms,
        "error": error,
    }
    write_status(settings, status)


def write_status(settings: Settings, status: dict[str, Any]) -> None:
    """Replace :func:`status_path` with ``status`` as JSON (written beside it, then renamed: a
    reader sees the old state or the new, never half)."""
    path = status_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, default=str))
    os.replace(tmp, path)


class _StopDuringStartUp(KeyboardInterrupt):
    """SIGTERM/SIGINT while the stage's Spark session starts (see :class:`_StopRequest`). A
    KeyboardInterrupt, so that the session's start takes it as an interrupt: the JVM it launched
    is killed and py4j logs no traceback (:func:`pinlake.spark.get_spark`)."""


class _StopRequest:
    """SIGTERM/SIGINT during the stage. While the Spark session starts, the signal ends the
    start at once (:class:`_StopDuringStartUp`: nothing runs yet, the new JVM is killed); once
    :meth:`session_started` was called it sets :attr:`requested`, which the rest of the start-up
    (the tables' check, the warm-up) asks between its steps and the query loop asks every half
    second (a graceful stop, see the module docstring): a call into the JVM is never cut off,
    which would leave it finishing a write and printing its failure after this process ended.
    A second signal during a graceful stop (Ctrl-C twice: do not wait) kills the driver JVM at
    once (:func:`pinlake.spark.kill_driver`: no shutdown hook logs the stack traces of the
    queries it cuts short, as a JVM left to end with this process did) and sets
    :attr:`hurried` (:meth:`hurry`; so does a graceful stop that runs out of time:
    :func:`_stop_gracefully`); the call into the JVM that was under way fails, and the stage
    reports :attr:`hurried`. The micro-batches cut short are replayed on the next start (the
    checkpoint and Delta's idempotent writes: the module docstring)."""

    def __init__(self) -> None:
        self.requested = False
        #: the first signal's name (``"SIGTERM"``, ``"SIGINT"``), once one came
        self.signal: str | None = None
        #: why the driver JVM was killed before the running micro-batches ended (one of
        #: :data:`CUT_SHORT`), None while it was not
        self.hurried: str | None = None
        self._session_starts = True
        self._previous: dict[int, Any] = {}
        self._spark: SparkSession | None = None

    def __enter__(self) -> _StopRequest:
        from pinlake.spark import quiet_py4j

        quiet_py4j()  # a py4j call the stop breaks logs no traceback
        self._claim()
        return self

    def _claim(self) -> None:
        """Handle SIGTERM and SIGINT here (main thread only), keeping what was there first for
        :meth:`__exit__`; an inherited SIG_IGN is kept (a shell's background job ignores
        Ctrl-C, as every pinlake command does)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            current = signal.getsignal(sig)
            if sig not in self._previous and current is signal.SIG_IGN:
                continue
            self._previous.setdefault(sig, current)
            signal.signal(sig, self._handle)

    def session_started(self, spark: SparkSession) -> None:
        """From now on a signal asks for a graceful stop (:attr:`requested`), and a second one
        kills ``spark``'s driver JVM. The session was started keeping this handler
        (``get_spark(keep_sigint=True)``); it is claimed again all the same."""
        self._session_starts = False
        self._spark = spark
        self._claim()

    def start_interrupted(self) -> None:
        """A KeyboardInterrupt ended the session's start: :class:`_StopDuringStartUp` from
        :meth:`_handle`, or PySpark's own SIGINT handler's, which its context sets while the
        session starts (it cancels the jobs and raises KeyboardInterrupt; the JVMs launched are
        killed: :func:`pinlake.spark.get_spark`). Either way a stop during start-up, by SIGINT
        when no handler of this request saw the signal."""
        self.requested = True
        self._session_starts = False
        self.signal = self.signal or signal.SIGINT.name

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signal is None:
            self.signal = signal.Signals(signum).name
            if signum == signal.SIGTERM:
                # as the CLI's own SIGTERM handler: sent to the process group (timeout,
                # systemd, a scheduler's kill), it ends the driver JVM too; what py4j then
                # logs of the broken calls is the stop's (pinlake.spark's py4j filter)
                TERMINATED.set()
        if self._session_starts:
            self.requested = True
            self._session_starts = False  # once: the start's clean-up is not interrupted again
            raise _StopDuringStartUp
        if self.requested:  # a second Ctrl-C: do not wait for the running micro-batches
            if self._spark is None or self.hurried:
                raise KeyboardInterrupt
            self.hurry(STOPPED_WITHOUT_WAITING)
            return
        self.requested = True

    def hurry(self, why: str) -> None:
        """Kill the driver JVM now (:func:`pinlake.spark.kill_driver`), noting ``why`` (one of
        :data:`CUT_SHORT`) in :attr:`hurried`; what py4j logs of the calls the kill breaks is
        the stop's (:data:`~pinlake.errors.INTERRUPTED`, or TERMINATED after SIGTERM, drops
        it: pinlake.spark's filter)."""
        from pinlake.spark import kill_driver

        self.hurried = why
        (TERMINATED if self.signal == signal.SIGTERM.name else INTERRUPTED).set()
        if self._spark is not None:
            kill_driver(self._spark)

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _stop_gracefully(
    queries: dict[str, StreamingQuery],
    writers: dict[str, BatchWriter],
    out_of_time: Callable[[], None] | None = None,
) -> None:
    """Stop every query between two of its micro-batches, each waiting up to
    :data:`STOP_GRACE_SECONDS` in all. A writer still writing then: with ``out_of_time``
    (a signal's stop: :meth:`_StopRequest.hurry`), that is called instead of stopping its query,
    which kills the driver JVM quietly (a write cancelled by ``query.stop()`` printed about
    3,600 lines of stack traces, StackOverflowError among them: helper-55's trial, a catch-up
    micro-batch of over 30 s under load); every later call into the JVM then fails, and the
    caller reports the stop (:data:`STOPPED_OUT_OF_TIME`). Every writer is told to stop first
    (:attr:`BatchWriter.stopping`); a query is then stopped once its writer holds the
    ``foreachBatch`` call of a batch it has written (:meth:`BatchWriter._hold_until_stopped`),
    or at once when it is idle: its writer outside a batch and Spark without a trigger running
    or records waiting. A batch that is planned but not written is replayed on the next start,
    and Delta skips an append it has (the module docstring). The writer's job is never
    cancelled: a cancelled write leaves the JVM logging the aborted job's stack traces, and
    Spark 4's check of the error for an interruption can end in a StackOverflowError. Spark's
    ``isTriggerActive`` alone is no guide under load: it is true from a trigger's planning to its
    commit, and the next trigger starts at once when records wait. Left: records that reach an
    idle query between the look and the stop may start a batch whose write the stop cancels
    (replayed on the next start)."""
    for writer in writers.values():
        writer.stopping.set()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, query in queries.items():
        writer = writers.get(name)
        while writer is not None and query.isActive and time.monotonic() < deadline:
            if writer.held or (not writer.writing and _idle(query)):
                break
            time.sleep(STOP_POLL_SECONDS)
        if out_of_time is not None and writer is not None and writer.writing:
            out_of_time()
            return
        query.stop()


#: Seconds the stage waits for its queries to read their checkpoints and sources before it
#: reports ``running`` anyway (they take milliseconds; a slow Kafka may take longer).
INITIALIZE_SECONDS = 60.0
#: Spark's status message while a query reads its sources and its checkpoint's offsets
#: (``StreamExecution.runStream``, then ``populateStartOffsets`` in the first trigger).
INITIALIZING = "Initializing sources"


def _wait_initialized(queries: dict[str, StreamingQuery], stop: _StopRequest) -> None:
    """Wait until every query has read its checkpoint and started its first trigger (Spark's
    status message is no longer :data:`INITIALIZING`), at most :data:`INITIALIZE_SECONDS`, or
    until a signal asks to stop. A query that fails there (a damaged checkpoint: Spark's
    ``MALFORMED_LOG_FILE``; a source it cannot read) raises its error here, so that the stage
    fails its start instead of failing right after it reported ``running`` (and ``services up``
    its ✓; helper-48's trial)."""
    deadline = time.monotonic() + INITIALIZE_SECONDS
    while not stop.requested and time.monotonic() < deadline:
        failed = [q.exception() for q in queries.values() if not q.isActive and q.exception()]
        if failed:
            raise failed[0]
        if all(not q.isActive or q.status.get("message") != INITIALIZING for q in queries.values()):
            return
        time.sleep(STOP_POLL_SECONDS * 5)


def _idle(query: StreamingQuery) -> bool:
    """No trigger of ``query`` runs and its source has no records waiting (Spark's status)."""
    with contextlib.suppress(Exception):  # a query that ended meanwhile
        status = query.status
        return not status.get("isTriggerActive") and not status.get("isDataAvailable")
    return True


def _start_up(
    settings: Settings, options: StreamOptions, stop: _StopRequest
) -> SparkSession | None:
    """The stage's start-up: the Spark session (with the metastore in available-now mode), the
    tables, the warm-up (continuous mode, unless ``options`` skip it); None when a signal
    stopped it (:class:`_StopRequest`: during the session's start at once, after it between
    these steps)."""
    from pinlake.spark import get_spark

    try:
        spark = get_spark(
            settings, app_name="pinlake-stream", metastore=options.available_now, keep_sigint=True
        )
        stop.session_started(spark)
    except KeyboardInterrupt:  # a signal during the session's start (_StopRequest, PySpark's)
        stop.start_interrupted()
        return None
    if options.available_now and not stop.requested:
        ensure_raw_tables(spark, settings, stopped=lambda: stop.requested)
    if not stop.requested:  # adds new metadata columns
        ensure_stream_tables_by_path(spark, settings, stopped=lambda: stop.requested)
    if options.warm_up and not options.available_now and not stop.requested:
        warm_up(spark, settings, stopped=lambda: stop.requested)  # the first records need not wait
    return None if stop.requested else spark


def run_stream(settings: Settings, options: StreamOptions | None = None) -> StreamResult:
    """Run the stream stage (see the module docstring) and return what it did.

    Raises :class:`UsageError` when another stream stage runs on this home,
    :class:`PinlakeError` when Kafka is not reachable or a query fails (its Spark error in one
    line).
    """
    from filelock import FileLock, Timeout

    from pinlake import kafka
    from pinlake.spark import spark_errors

    options = options or StreamOptions()
    start = time.perf_counter()
    if not kafka.healthy(settings, timeout=5.0):
        raise kafka.unreachable(settings)
    kafka.create_topics(settings)  # an external cluster may not have the stream topics yet
    checkpoint = checkpoint_dir(settings)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(checkpoint) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(already_running(settings)) from None
    result = StreamResult(
        catch_up=options.available_now,
        started_at_ms=0.0 if options.available_now else time.time() * 1000,
    )
    writers: dict[str, BatchWriter] = {}
    queries: dict[str, StreamingQuery] = {}
    stop = _StopRequest()
    register = None

    def status(state: str, error: str | None = None) -> None:
        result.latency_ms = _latency(writers)
        _write_status(settings, options, state, queries, writers, result, error)

    settled = False  # the stage ended by itself or failed (not stopped): see _end_registration
    try:
        status("starting")  # until the queries run (Spark's start-up, the warm-up)
        if not options.available_now:
            register = _register_tables_in_background(settings)
        with spark_errors(settings), stop:
            console.print(
                f"stream: starting ({'available now' if options.available_now else 'continuous'}"
                f"): the Spark session, the raw.stream_* tables"
                + ("" if options.available_now or not options.warm_up else ", a warm-up"),
                markup=False,
                soft_wrap=True,
            )
            spark = _start_up(settings, options, stop)
            result.spark_startup_seconds = time.perf_counter() - start
            if spark is None:
                result.stopped = STOPPED_DURING_START_UP
            else:
                app_id, shared = _app_id(checkpoint), threading.Lock()
                for name in TABLES:
                    writers[name] = BatchWriter(settings, name, app_id, result, lock=shared)
                    queries[name] = _start_query(spark, settings, options, writers[name])
                    writers[name].query = queries[name]
                _wait_initialized(queries, stop)
                if not options.available_now:  # from now on a record's wait is the stream's
                    result.started_at_ms = time.time() * 1000
                status("running")
                topics = ", ".join(settings.stream(t) for t in TABLES)
                console.print(
                    f"stream: running after {result.spark_startup_seconds:.1f}s: {topics} → "
                    + (
                        "raw.stream_*, until caught up"
                        if options.available_now
                        else f"raw.stream_* every {options.trigger_seconds:g}s; Ctrl-C stops "
                        "it after the running micro-batches"
                    ),
                    markup=False,
                    soft_wrap=True,
                )
                result.stopped = _follow(options, queries, writers, result, stop, status)
            status("stopped")
        settled = not stop.requested
        if result.stopped in (STOPPED_DURING_START_UP, _stopped_by_signal(options), *CUT_SHORT):
            result.stopped_by = stop.signal
    except PinlakeError as exc:
        settled = True
        # the reason itself, which `services status` shows (helper-113: "error: see the log",
        # naming no log), and the service's log
        where = f" (log: {settings.logs_dir / 'stream.log'})" if options.as_service else ""
        status("failed", error=one_line(str(exc))[:500] + where)
        raise
    except Exception as exc:
        if stop.requested:
            # the signal reached the driver JVM too (sent to the process group), or a second
            # one killed it: a call into it failed while the stop was under way; the
            # checkpoint replays what was cut short
            result.stopped = (
                STOPPED_DURING_START_UP
                if not queries
                else stop.hurried or _stopped_by_signal(options)
            )
            queries.clear()  # gone with their JVM
            status("stopped")
            result.stopped_by = stop.signal
            result.seconds = time.perf_counter() - start
            return result
        settled = True
        message = _query_error(exc)
        with contextlib.suppress(Exception):
            _stop_gracefully({n: q for n, q in queries.items() if q.isActive}, writers)
        status("failed", error=message)
        raise PinlakeError(f"the stream query failed: {message}") from exc
    finally:
        lock.release()
        _end_registration(register, wait=settled)
    result.seconds = time.perf_counter() - start
    return result


def _follow(
    options: StreamOptions,
    queries: dict[str, StreamingQuery],
    writers: dict[str, BatchWriter],
    result: StreamResult,
    stop: _StopRequest,
    status: Callable[[str], None],
) -> str:
    """Wait for the queries to end (available-now) or to be stopped; show progress, write the
    status when it changes; returns why they stopped. A query's error stops the others and is
    raised."""
    deadline = time.monotonic() + options.run_seconds if options.run_seconds is not None else None
    seen: tuple = ()
    with console.status("[bold]stream: waiting for the first micro-batch…") as progress:
        while True:
            time.sleep(0.5)
            # the state changes after a batch's writes (counts) and again once Spark has
            # committed its offsets (progress): write it on either
            now = (
                result.batches,
                *((q.lastProgress or {}).get("timestamp") for q in queries.values()),
            )
            if now != seen:
                seen = now
                progress.update(
                    f"[bold]stream: {counted(result.batches, 'micro-batch', 'micro-batches')}, "
                    f"{result.total_records:,} records, {result.total_quarantined:,} quarantined"
                )
                status("running")
            failed = [q.exception() for q in queries.values() if not q.isActive and q.exception()]
            if failed:
                _stop_gracefully({n: q for n, q in queries.items() if q.isActive}, writers)
                raise failed[0]
            if not any(q.isActive for q in queries.values()):
                return "caught up" if options.available_now else "stopped"
            if stop.requested:
                progress.update(
                    f"[bold]stream: stopping: the running micro-batches finish (up to"
                    f" {STOP_GRACE_SECONDS:g} s; Ctrl-C again: stop now, replayed next start)"
                )
                _stop_gracefully(
                    queries, writers, out_of_time=lambda: stop.hurry(STOPPED_OUT_OF_TIME)
                )
                return stop.hurried or _stopped_by_signal(options)
            if deadline is not None and time.monotonic() > deadline:
                _stop_gracefully(queries, writers)
                return f"stopped after {options.run_seconds:g} s"


def _stopped_by_signal(options: StreamOptions) -> str:
    """:attr:`StreamResult.stopped` of a run a signal stopped once its queries ran."""
    return "stopped by a signal" + (" before it caught up" if options.available_now else "")


def end_of_run(options: StreamOptions, result: StreamResult) -> None:
    """After the summary: an ``available_now`` run that a signal stopped before it caught up
    has not done what it was asked, and ends as interrupted (:func:`~pinlake.errors.
    raise_cut_short`: exit 130, or 143 for SIGTERM); so does any run whose stop cut a running
    micro-batch short (:data:`CUT_SHORT`); a continuous run's signal is its normal end (exit
    0, README "Ctrl-C")."""
    hurried = result.stopped in CUT_SHORT
    if result.stopped_by is not None and (options.available_now or hurried):
        raise_cut_short(result.stopped_by)


#: A stream query's error when its driver JVM is gone (killed, crashed): py4j then fails to
#: connect (helper-88's ``kill -9`` of the JVM: ``services status`` said ``[Errno 111]
#: Connection refused``).
JVM_ENDED = "its Spark driver (JVM) ended: killed or crashed"


def _query_error(exc: BaseException) -> str:
    """The first line of a streaming/Spark error (the JVM stack trace stays in the log), or
    :data:`JVM_ENDED` when the error is py4j's lost connection to the driver JVM."""
    from py4j.protocol import Py4JNetworkError

    lost = (Py4JNetworkError, ConnectionRefusedError, ConnectionResetError)
    if any(isinstance(cause, lost) for cause in causes(exc)):
        return JVM_ENDED
    text = getattr(exc, "desc", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def print_stream_summary(result: StreamResult) -> None:
    """Records and quarantined per table, batches, time, and where to look at rejects."""
    console.print(table("stream", ["table", "records", "quarantined"], result.summary_rows()))
    latency = result.latency_ms
    # a catch-up run (caught up, or stopped before it) lands records that waited for it: their
    # age, not the stream's latency
    what = (
        "records' age at landing (API acknowledgement → raw Delta, the wait for this run included)"
        if result.catch_up
        else "latency API → raw Delta"
    )
    console.print(
        f"{counted(result.batches, 'micro-batch', 'micro-batches')}, {result.stopped}; "
        f"{result.seconds:.1f}s"
        + (
            f" ({result.spark_startup_seconds:.1f}s Spark start-up)"
            if result.stopped != STOPPED_DURING_START_UP
            else ""
        )
        + (
            f"; {what} p50 {latency['p50'] / 1000:.2f}s, p99 {latency['p99'] / 1000:.2f}s"
            if latency
            else ""
        )
        + (
            f"; {counted(result.backlog, 'record')} acknowledged before its queries ran (not"
            " in the latency)"
            if result.backlog
            else ""
        )
        + (
            f"; quarantined records are in raw.{STREAM_QUARANTINE_TABLE}, with their reasons "
            f"({escape(quarantine_counts_hint(STREAM_QUARANTINE_TABLE))} counts them)"
            if result.total_quarantined
            else ""
        )
    )


def main() -> None:
    """The continuous stream query as a service (``pinlake services up`` starts it).

    Settings come from the environment (:func:`pinlake.spark.session_env`), the trigger from
    ``PINLAKE_STREAM_TRIGGER_SECONDS`` (default 1), ``PINLAKE_STREAM_WARM_UP=0`` skips the
    warm-up. Exits 0 after a graceful stop.
    """
    from pinlake.console import environment_settings

    settings = environment_settings()
    options = StreamOptions(
        trigger_seconds=float(os.environ.get("PINLAKE_STREAM_TRIGGER_SECONDS", "1")),
        warm_up=os.environ.get("PINLAKE_STREAM_WARM_UP", "1") != "0",
        as_service=True,
    )
    try:
        result = run_stream(settings, options)
    except PinlakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
