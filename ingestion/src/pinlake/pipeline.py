"""End-to-end runs: ``pinlake demo`` (``make demo``) and the fixture build of ``make test``.

Each Spark step (land, dbt, export) runs in its own process, one after the other: the embedded
Derby metastore admits one JVM at a time, and a JVM keeps it booted until it exits.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pinlake.config import TABLES, Settings
from pinlake.console import console, table
from pinlake.errors import PinlakeError
from pinlake.lakehouse.dbt import run_dbt

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

#: What a demo/CI run owns under PINLAKE_HOME and resets before it starts.
_STATE = ("source.db", "bucket", "warehouse", "metastore", "checkpoints", "exports", "dbt")


def pinlake_cli(settings: Settings, *args: str) -> None:
    """Run ``pinlake <args>`` in a fresh process on the same home (its own JVM, if any)."""
    env = settings.child_env()
    completed = subprocess.run([sys.executable, "-m", "pinlake", *args], env=env, check=False)
    if completed.returncode != 0:
        raise PinlakeError(f"`pinlake {' '.join(args)}` failed (exit {completed.returncode})")


def reset_state(settings: Settings) -> None:
    """Remove the generated state of a previous run in this home (never anything else)."""
    for name in _STATE:
        path = settings.home / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def count_bucket_records(settings: Settings) -> dict[str, int]:
    """Lines per topic in the topics bucket (what a consumer of the bucket would read)."""
    counts: dict[str, int] = {}
    for name in TABLES:
        folder = settings.bucket_dir / "topics" / settings.topic(name)
        counts[name] = sum(
            sum(1 for line in path.open("rb") if line.strip()) for path in folder.glob("*/*.json")
        )
    return counts


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


class _Stages:
    """Numbered pipeline stages with wall-time bookkeeping."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, step: Callable[[], object]) -> None:
        self.done += 1
        console.rule(f"[bold]{self.done}/{self.total} {name}")
        start = time.perf_counter()
        step()
        self.timings[name] = time.perf_counter() - start


def _last_summary(settings: Settings, step: str) -> dict:
    path = settings.logs_dir / f"last-{step}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_demo(settings: Settings, *, rows: int, events: int | None, direct: bool = False) -> None:
    """The original pipeline end to end, then the answers.

    source init → services up → produce (HTTP, one record per request like the original) →
    Kafka → sink → services down → land → dbt build → docs → export. With ``direct`` the
    producer writes the topics bucket itself (no Kafka, no HTTP).
    """
    settings.ensure_dirs()
    console.print(f"[bold]pinlake demo[/] in {settings.home} (previous demo state is reset)")
    reset_state(settings)
    settings.ensure_dirs()
    exports = settings.home / "exports"
    count = ["--events", str(events)] if events else []
    stages = _Stages(6 if direct else 9)
    stages.run("source init", lambda: pinlake_cli(settings, "source", "init", "--rows", str(rows)))
    if direct:
        stages.run("produce → bucket", lambda: pinlake_cli(settings, "produce", *count))
    else:
        stages.run("services up", lambda: pinlake_cli(settings, "services", "up"))
        try:
            stages.run(
                "produce → API → Kafka",
                lambda: pinlake_cli(
                    settings, "produce", "--to", "api", "--concurrency", "8", *count
                ),
            )
            stages.run("sink → bucket", lambda: pinlake_cli(settings, "sink", "--once"))
        finally:
            stages.run("services down", lambda: pinlake_cli(settings, "services", "down"))
    stages.run("land", lambda: pinlake_cli(settings, "land"))
    stages.run("dbt build", lambda: run_dbt(settings, ["build"]))
    stages.run("dbt docs generate", lambda: run_dbt(settings, ["docs", "generate"]))
    stages.run("export", lambda: pinlake_cli(settings, "export", "--out", str(exports)))

    console.rule("[bold]results")
    for model, title in DOCUMENTED_QUERIES:
        header, body = read_csv(exports / f"{model}.csv")
        console.print(table(title, header, body, caption=f"marts.{model}"))
    _print_summary(settings, stages.timings, exports)


def _print_summary(settings: Settings, timings: dict[str, float], exports: Path) -> None:
    produced = _last_summary(settings, "produce").get("records", {})
    bucket = count_bucket_records(settings)
    land = _last_summary(settings, "land")
    records, quarantined = land.get("records", {}), land.get("quarantined", {})
    columns = (produced, bucket, records, quarantined)
    rows = [(n, *(column.get(n, 0) for column in columns)) for n in TABLES]
    rows.append(("total", *(sum(column.values()) for column in columns)))
    header = ["topic", "acknowledged", "in bucket", "in raw tables", "quarantined"]
    console.print(table("records", header, rows))
    stage_rows = [(name, f"{seconds:.1f}s") for name, seconds in timings.items()]
    stage_rows.append(("total", f"{sum(timings.values()):.1f}s"))
    console.print(table("time per stage", ["stage", "wall time"], stage_rows))
    console.print(
        f"marts exported to [bold]{exports}[/]\n"
        f"dbt docs: [bold]{settings.home / 'dbt' / 'target' / 'index.html'}[/] "
        "(serve them with `make docs`)\n"
        "query the tables yourself: `.venv/bin/pinlake dbt show --inline "
        "'select * from marts.rpt_users_joined_by_year'`"
    )


def run_ci_build(settings: Settings, *, rows: int = 2_000) -> None:
    """``make test``'s last step: the whole build on a small synthetic fixture, fresh home."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pinlake-ci-") as tmp:
        home = Path(tmp)
        ci = settings.model_copy(update={"home": home, "bucket": None})
        stages = _Stages(5)
        stages.run("source init", lambda: pinlake_cli(ci, "source", "init", "--rows", str(rows)))
        stages.run("produce", lambda: pinlake_cli(ci, "produce", "--to", "bucket"))
        stages.run("land", lambda: pinlake_cli(ci, "land"))
        stages.run("dbt build", lambda: run_dbt(ci, ["build"]))
        stages.run("dbt docs generate", lambda: run_dbt(ci, ["docs", "generate"]))
        summary = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in stages.timings.items())
        console.print(f"[green]fixture build passed[/] ({summary})")
