"""``pinlake demo`` (``make demo``): the original pipeline end to end, then the answers.

source init → services up → produce (HTTP, one record per request like the original) →
Kafka → sink → services down → land → dbt build → dbt docs generate → export, each a step of
:mod:`pinlake.pipeline.steps`; with ``direct`` the producer writes the topics bucket itself.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from pinlake.bucket.layout import count_records, list_files
from pinlake.bucket.sink import SinkOptions
from pinlake.config import TABLES, Settings
from pinlake.console import console, table
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.lakehouse.export import ExportOptions, ExportResult
from pinlake.lakehouse.land import LandOptions, LandResult
from pinlake.pipeline.runner import Runner
from pinlake.pipeline.steps import ServicesDown, ServicesUp, SourceInit
from pinlake.produce import ProduceResult, ProduceToApi, ProduceToBucket

#: The four queries the original project documented, in its order.
DOCUMENTED_QUERIES: tuple[tuple[str, str], ...] = (
    ("rpt_most_popular_category_by_year", "Most popular category each year"),
    ("rpt_most_popular_category_by_age_group", "Most popular category for different age groups"),
    ("rpt_median_follower_count_by_join_year", "Median follower count by joining year"),
    (
        "rpt_median_follower_count_by_join_year_and_age_group",
        "Median follower count by joining year and age group",
    ),
)

#: What a demo owns under PINLAKE_HOME and resets before it starts.
_STATE = ("source.db", "bucket", "warehouse", "metastore", "exports", "dbt")


def reset_state(settings: Settings) -> None:
    """Remove the generated state of a previous run in this home (never anything else)."""
    for name in _STATE:
        path = settings.home / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def bucket_records(settings: Settings) -> dict[str, int]:
    """Records per table in the topics bucket (what a reader of the bucket would find)."""
    return {
        name: sum(
            count_records(f.path) for f in list_files(settings.bucket_dir, settings.topic(name))
        )
        for name in TABLES
    }


def run_demo(settings: Settings, *, rows: int, events: int | None, direct: bool = False) -> None:
    """Run the demo in ``settings.home`` (its previous demo state is reset) and print the four
    documented answers, the record counts per stage and the time per stage."""
    console.print(f"[bold]pinlake demo[/] in {settings.home} (previous demo state is reset)")
    reset_state(settings)
    run = Runner(settings, total=6 if direct else 9)
    run.run("source init", SourceInit(rows=rows))
    if direct:
        produced = run.run("produce → bucket", ProduceToBucket(events=events))
    else:
        run.run("services up", ServicesUp())
        try:
            produced = run.run("produce → API → Kafka", ProduceToApi(events=events, concurrency=8))
            run.run("sink → bucket", SinkOptions(once=True))
        finally:
            run.run("services down", ServicesDown())
    # one Spark session (one JVM start) for the four Spark stages
    landed, _, _, exported = run.spark(
        ("land", LandOptions()),
        ("dbt build", DbtCommand(["build"])),
        ("dbt docs generate", DbtCommand(["docs", "generate"])),
        ("export", ExportOptions()),
    )

    console.rule("[bold]results")
    for model, title in DOCUMENTED_QUERIES:
        header, body = read_csv(exported.path(model))
        console.print(table(title, header, body, caption=f"marts.{model}"))
    print_summary(settings, run.timings, produced, landed, exported)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an exported mart."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def print_summary(
    settings: Settings,
    timings: dict[str, float],
    produced: ProduceResult,
    landed: LandResult,
    exported: ExportResult,
) -> None:
    """Records per table at each hand-off, time per stage, and where to look next."""
    columns = (produced.records, bucket_records(settings), landed.records, landed.quarantined)
    rows = [(n, *(column.get(n, 0) for column in columns)) for n in TABLES]
    rows.append(("total", *(sum(column.values()) for column in columns)))
    header = ["topic", "acknowledged", "in bucket", "in raw tables", "quarantined"]
    console.print(table("records", header, rows))
    stage_rows = [(name, f"{seconds:.1f}s") for name, seconds in timings.items()]
    stage_rows.append(("total", f"{sum(timings.values()):.1f}s"))
    console.print(table("time per stage", ["stage", "wall time"], stage_rows))
    console.print(
        f"marts exported to [bold]{exported.out}[/]\n"
        f"dbt docs: [bold]{settings.home / 'dbt' / 'target' / 'index.html'}[/] "
        "(serve them with `make docs`)\n"
        "query the tables yourself: `.venv/bin/pinlake dbt show --inline "
        "'select * from marts.rpt_users_joined_by_year'`"
    )
