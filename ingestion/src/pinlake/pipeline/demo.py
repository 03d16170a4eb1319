"""``pinlake demo`` (``make demo``): both original pipelines end to end, then the answers.

source init → services up (broker, API, continuous stream query) → the same events produced
twice: to the Kafka REST proxy (batch path, one record per request like the original) and to
the Kinesis proxy (stream path, paced at :data:`STREAM_RATE` events/s) → the stream query
catches up → sink → services down → land → dbt build → dbt docs generate → export → counts →
report (pinlake.report), each a step of :mod:`pinlake.pipeline.steps`. The summary shows, per
path, acknowledged = landed in raw, quarantined, distinct keys and the rows each path delivered
first into staging, and the stream path's latency from API acknowledgement to the raw Delta
table; its last line is the report's path. With ``direct`` the producer writes the topics bucket
itself (batch path only, no services).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.markup import escape

from pinlake.bucket.layout import count_records, list_files
from pinlake.bucket.sink import SinkOptions
from pinlake.config import REPO_ROOT, TABLES, Settings
from pinlake.console import PINLAKE, console, table
from pinlake.errors import UsageError
from pinlake.lakehouse.counts import CountOptions, DeliveryCounts
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.lakehouse.export import ExportOptions, ExportResult
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.runner import Runner
from pinlake.pipeline.steps import (
    ServicesDown,
    ServicesUp,
    SourceInit,
    StreamCatchUp,
    StreamState,
)
from pinlake.produce import ProduceResult, ProduceToApi, ProduceToBucket
from pinlake.report import ReportOptions, ReportResult
from pinlake.report.charts import chart_for

#: The marts of the original project's four documented queries, in its order, which the demo
#: prints (each under its question and with its note, as the report shows it:
#: :data:`pinlake.report.charts.CHARTS`).
DOCUMENTED_MARTS: tuple[str, ...] = (
    "rpt_most_popular_category_by_year",
    "rpt_most_popular_category_by_age_group",
    "rpt_median_follower_count_by_join_year",
    "rpt_median_follower_count_by_join_year_and_age_group",
)

#: Events per second the demo puts through the stream path (paced, so the latency it reports is
#: the stream's, not a queue of records put all at once).
STREAM_RATE = 500

#: The stages only the stream path needs; the rest is the batch path's (with what both share:
#: the services, the source, the Spark stages), as bench/bench_demo.py counts it.
STREAM_PRODUCE = f"produce → Kinesis proxy (stream path, {STREAM_RATE} events/s)"
STREAM_CATCH_UP = "stream query catches up"
STREAM_ONLY_STAGES = (STREAM_PRODUCE, STREAM_CATCH_UP)

#: What a demo owns under PINLAKE_HOME and resets before it starts (the broker's data too: records
#: a previous run produced but never sank would otherwise reach this run's tables).
_STATE = (
    "source.db",
    "bucket",
    "warehouse",
    "metastore",
    "exports",
    "dbt",
    "checkpoints",
    "kafka",
    "run/stream-status.json",
)


#: Written in a home the demo made (at its root): a later demo resets that home without asking.
DEMO_MARKER = "demo-home"


def closing_command(settings: Settings) -> str | None:
    """The command the demo's closing lines name (:data:`pinlake.console.PINLAKE`, as this
    shell runs it) with ``--home <home>``; ``None`` (then ``make docs``, and the command
    without ``--home``) where both would act on this home: the home is the repository's default
    one, ``./.pinlake``, and the shell is in the clone (the command is the clone's relative
    ``.venv/bin/pinlake``). After ``pinlake --home H demo`` the closing lines named neither home,
    and ``make docs`` served the docs of an empty default home (helper-56); from another folder
    ``make docs`` has no such target there (helper-74)."""
    if PINLAKE.relative and settings.home.resolve() == (REPO_ROOT / ".pinlake").resolve():
        return None
    return PINLAKE.at(settings.home.resolve())


def data_not_made_by_a_demo(settings: Settings) -> list[str]:
    """The demo's state names (:data:`_STATE`) present in ``settings.home`` when no demo made
    it (no :data:`DEMO_MARKER`): a pipeline's data that a demo would delete (an empty folder,
    as the settings create them, is none). ``[]`` for a new home and for a demo's home."""
    if (settings.home / DEMO_MARKER).exists():
        return []
    found = []
    for name in _STATE:
        path = settings.home / name
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            found.append(name)
    return found


#: The entries at a home's root that :data:`_STATE` names (a home holding one is pinlake's).
_STATE_ROOTS = tuple(name for name in _STATE if "/" not in name)

#: What pinlake makes at a home's root besides :data:`_STATE` (the services' folders, logs, the
#: run folder, the report, ``make airflow``'s state): a folder holding anything else is not a
#: home of pinlake's.
_HOME_ENTRIES = frozenset(
    {name.split("/")[0] for name in _STATE}
    | {"run", "logs", "tmp", "report", "airflow", "thrift", "spark-cluster", "mariadb", DEMO_MARKER}
)


def foreign_entries(settings: Settings) -> list[str]:
    """The entries at ``settings.home``'s root that pinlake does not make (:data:`_HOME_ENTRIES`),
    sorted: the demo writes its folders beside them and deletes its own later without asking
    (``pinlake --home /etc demo`` wrote eight entries into ``/etc``: helper-91). ``[]`` for a
    new or empty folder, a pinlake home and a demo's home."""
    home = settings.home
    if not home.is_dir() or (home / DEMO_MARKER).exists():
        return []
    return sorted(entry.name for entry in home.iterdir() if entry.name not in _HOME_ENTRIES)


def reset_state(settings: Settings) -> None:
    """Stop this home's services if they run, then remove the generated state of a previous run
    in it (never anything else)."""
    from pinlake.services.manager import stop_all

    stop_all(settings)
    for name in _STATE:
        path = settings.home / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def bucket_records(settings: Settings) -> dict[str, int]:
    """Records per table in the layout files of the topics bucket (what a reader of the bucket
    would find; files that break the layout are land's to report)."""
    return {
        name: sum(
            count_records(f.path)
            for f in list_files(settings.bucket_dir, settings.topic(name))
            if not f.problem
        )
        for name in TABLES
    }


def run_demo(
    settings: Settings,
    *,
    rows: int,
    events: int | None,
    direct: bool = False,
    reset: bool = False,
) -> dict[str, float]:
    """Run the demo in ``settings.home`` (its previous demo state is reset) and print the four
    documented answers, the record counts per path and stage, and the time per stage. Returns
    that time: ``{stage: wall seconds}`` in run order (the stage names the summary shows).

    Raises :class:`UsageError` before touching anything when the home holds what pinlake did
    not make (:func:`foreign_entries`), or data no demo made (:func:`data_not_made_by_a_demo`:
    a working ``PINLAKE_HOME`` of the pieces' commands) unless ``reset``; a trial's exported
    home lost its tables, bucket and exports to a demo."""
    if others := foreign_entries(settings):
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        elsewhere = (
            f"run the demo in a new or empty folder (`{PINLAKE.at('DIR')} demo`, or PINLAKE_HOME)"
        )
        # pinlake's: its folders, and source.db a file (/etc/exports, a file, is not pinlake's)
        state = [
            name
            for name in _STATE_ROOTS
            for path in (settings.home / name,)
            if (path.is_file() if path.suffix else path.is_dir())
        ]
        if state:  # a home of the pieces' commands, with a user's folder in it (helper-93)
            raise UsageError(
                f"{settings.home} holds {shown} beside pinlake's data ({', '.join(state)}), and "
                "pinlake did not make it: the demo runs only in a home that holds nothing else "
                f"(it deletes the home's data). Move {shown} out of the home and run `"
                f"{PINLAKE.at(settings.home)} demo --reset`, or {elsewhere}"
            )
        raise UsageError(
            f"{settings.home} is no pinlake home: it holds {shown}, which pinlake did not make, "
            f"and the demo writes its folders beside them (and deletes them in a later demo): "
            f"{elsewhere}"
        )
    foreign = [] if reset else data_not_made_by_a_demo(settings)
    if foreign:
        raise UsageError(
            f"{settings.home} holds data the demo did not make ({', '.join(foreign)}), and the "
            f"demo starts by deleting it: run the demo in another home (`{PINLAKE.at('DIR')} "
            "demo`, or PINLAKE_HOME) or pass --reset to delete it"
        )
    earlier = any((settings.home / name).exists() for name in _STATE)
    console.print(
        f"[bold]pinlake demo[/] in {escape(str(settings.home))} "
        + ("(previous demo state is reset)" if earlier else "(a new home)"),
        soft_wrap=True,  # a long home path is not cut in the middle
    )
    reset_state(settings)
    settings.ensure_dirs()
    (settings.home / DEMO_MARKER).write_text(
        "made by pinlake demo: a later demo deletes this home's data without asking\n"
    )
    run = Runner(settings, total=8 if direct else 13)
    produced: dict[str, ProduceResult] = {}
    streamed: StreamState | None = None
    if direct:
        run.run("source init", SourceInit(rows=rows))
        produced["batch"] = run.run("produce → bucket", ProduceToBucket(events=events))
    else:
        # services first: with PINLAKE_SOURCE_DB=mariadb they include the source database
        run.run("services up (broker, API, stream query)", ServicesUp())
        try:
            run.run("source init", SourceInit(rows=rows))
            produced["batch"] = run.run(
                "produce → Kafka REST (batch path)", ProduceToApi(events=events, concurrency=8)
            )
            produced["stream"] = run.run(
                STREAM_PRODUCE,
                ProduceToApi(
                    events=events, stream=True, rate=STREAM_RATE, batch_size=10, concurrency=4
                ),
            )
            streamed = run.run(STREAM_CATCH_UP, StreamCatchUp())
            run.run("sink → bucket", SinkOptions(once=True))
        except BaseException:  # failed or interrupted: the services stop before the error goes on
            run.clean_up("services down", ServicesDown())
            raise
        run.run("services down", ServicesDown())
    # one Spark session (one JVM start) for the Spark stages
    _, _, _, exported, counts = run.spark(
        ("land", LandOptions()),
        ("dbt build", DbtCommand(["build"])),
        ("dbt docs generate", DbtCommand(["docs", "generate"])),
        ("export", ExportOptions()),
        ("count rows per path", CountOptions()),
    )
    acknowledged = {path: result.records for path, result in produced.items()}
    report = run.run(
        "report", ReportOptions(exports=exported.out, counts=counts, acknowledged=acknowledged)
    )

    console.rule("[bold]results")
    for mart in DOCUMENTED_MARTS:
        header, body = read_answer(exported.path(mart))
        title = f"{chart_for(mart).question} (marts.{mart})"
        console.print(table(title, header, body, caption=report.notes.get(mart)))
    print_summary(settings, run.timings, produced, counts, exported, streamed, report)
    return dict(run.timings)


def read_answer(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an exported mart (values as text), its age groups in the seed's order
    as the report shows them (:func:`pinlake.report.charts.in_age_order`: ``18-24`` … ``+50``
    within each year, where the export sorts ``+50`` first). Raises PinlakeError when the file
    cannot be read as CSV or the age groups seed cannot be read."""
    from pinlake.report.charts import in_age_order, read_mart

    frame = in_age_order(read_mart(path))
    return list(frame.columns), frame.to_numpy().tolist()


def path_rows(
    produced: dict[str, ProduceResult], counts: DeliveryCounts, in_bucket: dict[str, int]
) -> list[tuple[str, ...]]:
    """The rows of the demo's "records per path" table: ``(path, table, acked, bucket, raw,
    quarantined, distinct, staged)`` per path and table, the counts with thousands separators
    as every count pinlake prints (``11,154``; the table printed ``11154`` beside the land and
    stream summaries' ``11,154``), ``-`` for the stream path's bucket (it has none)."""
    rows = []
    for path, result in produced.items():
        got = counts.paths[path]
        for name in TABLES:
            numbers = (
                result.records.get(name, 0),
                in_bucket.get(name, 0) if path == "batch" else None,
                got.raw.get(name, 0),
                got.quarantined.get(name, 0),
                got.distinct.get(name, 0),
                got.staged.get(name, 0),
            )
            rows.append((path, name, *("-" if n is None else f"{n:,}" for n in numbers)))
    return rows


def print_summary(
    settings: Settings,
    timings: dict[str, float],
    produced: dict[str, ProduceResult],
    counts: DeliveryCounts,
    exported: ExportResult,
    streamed: StreamState | None = None,
    report: ReportResult | None = None,
) -> None:
    """Records per path and table at each hand-off, the stream latency, time per stage, and
    where to look next (the report's path last)."""
    rows = path_rows(produced, counts, bucket_records(settings))
    header = ["path", "table", "acked", "bucket", "raw", "quarantined", "distinct", "staged"]
    console.print(table("records per path", header, rows))
    console.print(
        "acked: acknowledged by the API; bucket, raw: records in the topics bucket and the raw "
        "tables; distinct: distinct ind in raw; staged: the staging rows that came down this path"
    )
    staging = ", ".join(f"{name} {counts.staging.get(name, 0):,}" for name in TABLES)
    console.print(
        f"staging: one row per ind over both paths ({staging}); of an ind's deliveries the most "
        "complete is kept, and of equal ones (copies) the one that reached raw Delta first (its "
        "_ingested_at). The stream path lands seconds after the API acknowledges, the batch "
        "path only at `land`, so an ind that came down both paths keeps the stream path's row, "
        "and the batch path's staged can be 0."
    )
    if streamed is not None and streamed.latency_ms:
        ms = streamed.latency_ms
        console.print(
            f"stream path latency, API acknowledgement → visible in raw Delta: "
            f"p50 {ms['p50'] / 1000:.2f}s, p99 {ms['p99'] / 1000:.2f}s, max "
            f"{ms['max'] / 1000:.2f}s over {streamed.batches} micro-batches at {STREAM_RATE} "
            "events/s (the first micro-batches of a new JVM are slower; bench/bench_stream.py "
            "measures each rate against a plain Spark query)"
        )
    stage_rows = [(name, f"{seconds:.1f}s") for name, seconds in timings.items()]
    stage_rows.append(("total", f"{sum(timings.values()):.1f}s"))
    console.print(table("time per stage", ["stage", "wall time"], stage_rows))
    command = closing_command(settings)
    pinlake = command or PINLAKE.command
    serve = "make docs" if command is None else f"{pinlake} dbt docs serve --port 8580"
    console.print(
        f"marts exported to [bold]{escape(str(exported.out))}[/]\n"
        f"dbt docs: [bold]{escape(str(settings.home / 'dbt' / 'target' / 'index.html'))}[/] "
        f"(serve them with `{serve}`)\n"
        f"query the tables yourself: `{pinlake} dbt show --inline "
        "'select * from marts.rpt_users_joined_by_year'`"
    )
    if report is not None:
        console.print(
            f"report (every mart as a chart, works offline): [bold]{escape(str(report.path))}[/]",
            soft_wrap=True,
        )
