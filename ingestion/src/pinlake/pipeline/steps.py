"""Every pipeline stage as one typed function: ``step(settings, options) -> result``.

========================  ======================  =====================================
options                   step                    result
========================  ======================  =====================================
:class:`SourceInit`       :func:`source_init`     :class:`SourceResult`
:class:`SourceLoad`       :func:`source_load`     :class:`SourceResult`
:class:`ServicesUp`       :func:`services_up`     :class:`ServicesResult`
:class:`ServicesDown`     :func:`services_down`   :class:`ServicesResult`
:class:`StreamCatchUp`    :func:`stream_catch_up` :class:`StreamState`
``ProduceToBucket|Api``   :func:`produce`         :class:`~pinlake.produce.ProduceResult`
:class:`SinkOptions`      :func:`sink`            :class:`~pinlake.bucket.sink.SinkResult`
:class:`LandOptions`      :func:`land`            :class:`~pinlake.lakehouse.land.LandResult`
:class:`StreamOptions`    :func:`stream`          :class:`~pinlake.lakehouse.stream.StreamResult`
:class:`DbtCommand`       :func:`dbt`             :class:`~pinlake.lakehouse.dbt.DbtResult`
:class:`CountOptions`     :func:`counts`          :class:`~pinlake.lakehouse.counts.DeliveryCounts`
:class:`ExportOptions`    :func:`export`          :class:`~pinlake.lakehouse.export.ExportResult`
:class:`ReportOptions`    :func:`report`          :class:`~pinlake.report.ReportResult`
========================  ======================  =====================================

Options and results are dataclasses (JSON round-trip through pydantic's ``TypeAdapter``, which is
how :func:`pinlake.pipeline.isolated.run_isolated` hands them across a process boundary). Steps
print their own progress and summary and raise :class:`pinlake.errors.PinlakeError` on expected
failures. :data:`SPARK_STEPS` start a Spark JVM on the home's metastore.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pinlake.bucket.sink import SinkOptions, SinkResult
from pinlake.config import Settings
from pinlake.console import console
from pinlake.lakehouse.counts import CountOptions, DeliveryCounts
from pinlake.lakehouse.dbt import DbtCommand, DbtResult
from pinlake.lakehouse.export import ExportOptions, ExportResult
from pinlake.lakehouse.land import LandOptions, LandResult
from pinlake.lakehouse.stream import StreamOptions, StreamResult
from pinlake.produce import ProduceResult, ProduceToApi, ProduceToBucket
from pinlake.produce.events import AICORE_ROWS, AICORE_SEED
from pinlake.report import ReportOptions, ReportResult
from pinlake.services.request import UpRequest


@dataclass
class SourceInit:
    """Create the source tables with ``rows`` synthetic rows each (``force``: replace them)."""

    rows: int = AICORE_ROWS
    seed: int = AICORE_SEED
    url: str | None = None
    force: bool = False
    #: ``double`` or ``decimal`` (pinlake.source.db.load_tables)
    coordinates: str = "double"


@dataclass
class SourceLoad:
    """Replace the source tables with the real rows of a reference-data folder."""

    directory: Path
    url: str | None = None
    #: ``double`` or ``decimal`` (pinlake.source.db.load_tables)
    coordinates: str = "double"
    #: replace tables that have rows (else refused, as by SourceInit)
    force: bool = False


@dataclass
class SourceResult:
    """Rows now in each source table, and wall seconds."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class ServicesUp(UpRequest):
    """Start (or reuse) what the :class:`~pinlake.services.request.UpRequest` fields ask for (by
    default the Kafka broker and the ingestion API, the topics created, and the continuous stream
    query, trigger every ``trigger_seconds``); with the settings these override."""

    #: ``sqlite`` or ``mariadb`` (start the MariaDB source too); None: ``settings.source_db``
    source_db: str | None = None
    #: local KRaft nodes to run (``--kafka-brokers``); None: ``settings.kafka.brokers``
    kafka_brokers: int | None = None
    #: workers of the Spark cluster (``--workers``, implies ``spark_cluster``); None: the
    #: settings'
    workers: int | None = None


@dataclass
class ServicesDown:
    """Stop every service of the home that runs (``pinlake services down``,
    :func:`~pinlake.services.manager.stop_all`): the stream query, the ingestion API, the Kafka
    nodes, and MariaDB, S3, the metastore, the Thrift server and the Spark cluster if they run."""


@dataclass
class ServicesResult:
    """The addresses of the services after the step (``running`` False after a stop)."""

    running: bool
    kafka: str
    api: str


@dataclass
class StreamCatchUp:
    """Wait (at most ``timeout`` seconds) until the running stream query has landed every
    record now in the stream topics."""

    timeout: float = 300.0


@dataclass
class StreamState:
    """The running stream query's totals since it started (records landed and quarantined per
    table, micro-batches, latency percentiles in ms) when the step ended."""

    records: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)


def source_init(settings: Settings, options: SourceInit) -> SourceResult:
    """``pinlake source init``."""
    from pinlake.source.db import init_source

    start = time.perf_counter()
    rows = init_source(
        settings,
        rows=options.rows,
        seed=options.seed,
        url=options.url,
        force=options.force,
        coordinates=options.coordinates,
    )
    return SourceResult(rows, time.perf_counter() - start)


def source_load(settings: Settings, options: SourceLoad) -> SourceResult:
    """``pinlake source load``."""
    from pinlake.source.reference import load_reference

    start = time.perf_counter()
    rows = load_reference(
        settings,
        options.directory,
        url=options.url,
        coordinates=options.coordinates,
        force=options.force,
    )
    return SourceResult(rows, time.perf_counter() - start)


def services_up(settings: Settings, options: ServicesUp) -> ServicesResult:
    """``pinlake services up``."""
    from pinlake.services.manager import services_up as up

    if options.source_db is not None:
        settings = settings.model_copy(update={"source_db": options.source_db})
    if options.kafka_brokers is not None:
        from pinlake.services.kafka_broker import with_brokers

        settings = with_brokers(settings, options.kafka_brokers)
    if options.workers is not None:
        from pinlake.services.spark_cluster import with_workers

        settings = with_workers(settings, options.workers)
    up(settings, options if options.workers is None else replace(options, spark_cluster=True))
    return ServicesResult(True, settings.kafka.bootstrap_servers, settings.api.url)


def services_down(settings: Settings, _options: ServicesDown) -> ServicesResult:
    """``pinlake services down``."""
    from pinlake.services.manager import services_down as down

    down(settings)
    return ServicesResult(False, settings.kafka.bootstrap_servers, settings.api.url)


def stream_catch_up(settings: Settings, options: StreamCatchUp) -> StreamState:
    """Wait for the continuous stream query (``pinlake services up``) to catch up."""
    from pinlake.services import stream_process

    stream_process.wait_caught_up(settings, timeout=options.timeout)
    status = stream_process.state(settings)
    state = StreamState(
        records=status.get("records", {}),
        quarantined=status.get("quarantined", {}),
        batches=status.get("batches", 0),
        latency_ms=status.get("latency_ms", {}),
    )
    console.print(
        f"caught up: {_per_table(state.records)} records landed, "
        f"{sum(state.quarantined.values()):,} quarantined, in {state.batches:,} micro-batches"
    )
    return state


def _per_table(counts: dict[str, int]) -> str:
    """``"33,462 (pin 11,154, geo 11,154, user 11,154)"``: the total, then each table's count."""
    each = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    return f"{sum(counts.values()):,} ({each})" if each else "0"


def produce(settings: Settings, options: ProduceToBucket | ProduceToApi) -> ProduceResult:
    """``pinlake produce``: the drawn events' rows to the bucket or the ingestion API (with a
    note when the home's API answers but this home did not start it:
    :func:`~pinlake.services.manager.note_services_of_another_home`)."""
    from pinlake.produce import run_produce
    from pinlake.services.manager import note_services_of_another_home

    if isinstance(options, ProduceToApi) and options.api_url is None:
        note_services_of_another_home(settings, kafka_used=False, api_used=True)
    return run_produce(settings, options)


def sink(settings: Settings, options: SinkOptions) -> SinkResult:
    """``pinlake sink``: the batch topics into the topics bucket (with a note when the home's
    Kafka answers but this home did not start it)."""
    from pinlake.bucket.sink import run_sink
    from pinlake.services.manager import note_services_of_another_home

    note_services_of_another_home(settings, kafka_used=True, api_used=False)
    return run_sink(settings, options)


def land(settings: Settings, options: LandOptions) -> LandResult:
    """``pinlake land``: new bucket files into the raw Delta tables (Spark)."""
    from pinlake.lakehouse.land import land_bucket, print_land_summary

    result = land_bucket(settings, options)
    print_land_summary(result)
    return result


def stream(settings: Settings, options: StreamOptions) -> StreamResult:
    """``pinlake stream``: the stream topics into the raw stream Delta tables (Spark; with a
    note when the home's Kafka answers but this home did not start it)."""
    from pinlake.lakehouse.stream import end_of_run, print_stream_summary, run_stream
    from pinlake.services.manager import note_services_of_another_home

    note_services_of_another_home(settings, kafka_used=True, api_used=False)
    result = run_stream(settings, options)
    print_stream_summary(result)
    end_of_run(options, result)  # --available-now cut short by a signal: interrupted
    return result


def dbt(settings: Settings, options: DbtCommand) -> DbtResult:
    """``pinlake dbt ...``: in a process of its own, or in this one with
    ``options.in_process`` (:class:`~pinlake.lakehouse.dbt.DbtCommand`; the pipeline's Spark
    process, :meth:`~pinlake.pipeline.runner.Runner.spark`, sets it)."""
    from pinlake.lakehouse.dbt import run_dbt

    return run_dbt(settings, options)


def counts(settings: Settings, options: CountOptions) -> DeliveryCounts:
    """Rows per delivery path in raw, quarantine and staging (Spark)."""
    from pinlake.lakehouse.counts import count_deliveries

    counted = count_deliveries(settings, options)
    for path, rows in counted.paths.items():
        console.print(
            f"{path} path: {_per_table(rows.raw)} rows in raw, "
            f"{sum(rows.quarantined.values()):,} quarantined"
        )
    console.print(f"staging: {_per_table(counted.staging)} rows")
    return counted


def export(settings: Settings, options: ExportOptions) -> ExportResult:
    """``pinlake export``: every mart to ``<out>/<mart>.csv`` (Spark)."""
    from pinlake.lakehouse.export import export_marts

    return export_marts(settings, options)


def report(settings: Settings, options: ReportOptions) -> ReportResult:
    """``pinlake report``: the exported marts as charts in one offline HTML page (no Spark)."""
    from pinlake.report import write_report

    return write_report(settings, options)


#: The step of each options type (one dispatch for in-process and child-process runs).
STEPS: dict[type, Callable[[Settings, Any], Any]] = {
    SourceInit: source_init,
    SourceLoad: source_load,
    ServicesUp: services_up,
    ServicesDown: services_down,
    StreamCatchUp: stream_catch_up,
    ProduceToBucket: produce,
    ProduceToApi: produce,
    SinkOptions: sink,
    LandOptions: land,
    StreamOptions: stream,
    DbtCommand: dbt,
    CountOptions: counts,
    ExportOptions: export,
    ReportOptions: report,
}
#: The result type of each options type.
RESULTS: dict[type, type] = {
    SourceInit: SourceResult,
    SourceLoad: SourceResult,
    ServicesUp: ServicesResult,
    ServicesDown: ServicesResult,
    StreamCatchUp: StreamState,
    ProduceToBucket: ProduceResult,
    ProduceToApi: ProduceResult,
    SinkOptions: SinkResult,
    LandOptions: LandResult,
    StreamOptions: StreamResult,
    DbtCommand: DbtResult,
    CountOptions: DeliveryCounts,
    ExportOptions: ExportResult,
    ReportOptions: ReportResult,
}
#: Steps that start a Spark JVM on the home's metastore (embedded Derby: one JVM at a time).
SPARK_STEPS: frozenset[type] = frozenset({LandOptions, StreamOptions, CountOptions, ExportOptions})


def run_step(settings: Settings, options: Any) -> Any:
    """Run the step of ``options`` in this process; returns its typed result."""
    try:
        step = STEPS[type(options)]
    except KeyError:
        raise TypeError(f"no pipeline step takes {type(options).__name__}") from None
    return step(settings, options)
