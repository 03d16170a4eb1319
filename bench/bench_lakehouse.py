"""Lakehouse benchmark: land throughput and `dbt build` wall time at growing sizes.

For each size N (events; each event is a pin, a geo and a user record) in a fresh
PINLAKE_HOME: ``source init --rows 1.01 N`` → ``produce --sequential --events N`` → ``land`` →
``dbt build``; then 1 % new events (the other source rows) → ``land`` → ``dbt build`` again,
timed against the full build. In the same run, a baseline lands the same bucket files (those
of the N events) with the least Spark can do (``spark.read.json`` with the explicit schema →
Delta append, no metadata, no quarantine, no manifest), so the ratio shows what pinlake's
guarantees cost on this machine.

    .venv/bin/python bench/bench_lakehouse.py [--sizes 10000,100000,1000000]

Goals (2 cores; issue 13): land at 1M events ≥ 0.9× the baseline; the build at 10k events
≤ 40 s; 100k → 1M events ≤ 3× the build time; a build after 1 % new data ≤ 0.25× a full
build. Nothing here asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pinlake.config import TABLES, Settings
from pinlake.console import console, table
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.runner import Runner
from pinlake.pipeline.steps import SourceInit
from pinlake.produce import ProduceToBucket


def produce_events(run: Runner, events: int, rows: int | None = None) -> None:
    """``source init --rows R`` (``rows``, default ``events``) then ``produce --sequential
    --events N`` straight into the topics bucket of ``run``'s home (no Kafka): ``events``
    events (source rows 0..N-1), each a pin, a geo and a user record, in the sink's layout
    (files of 1,000 records). Timed by ``run`` as the stages ``source init`` and ``produce →
    bucket``. Shared with bench_scale_out.py."""
    run.run("source init", SourceInit(rows=rows or events))
    run.run("produce → bucket", ProduceToBucket(sequential=True, events=events))


def dbt_statements(settings: Settings) -> int:
    """The SQL statements dbt sent to Spark in its last invocation on ``settings``' home: the
    ``SQL status:`` lines (one per statement, dbt-adapters' ``SQLQueryStatus`` event) after the
    last ``Running with dbt=`` of ``<home>/logs/dbt/dbt.log`` (dbt's file log, debug level by
    default); 0 when there is no log. Shared with bench_scale_out.py."""
    log = settings.logs_dir / "dbt" / "dbt.log"
    if not log.is_file():
        return 0
    text = log.read_text(errors="replace")
    return text[text.rfind("Running with dbt=") :].count("SQL status:")


def growth_rows(results: list[dict[str, float]], times: list[str]) -> list[list[str]]:
    """How each time grows from one size to the next: per consecutive pair of ``results``
    (dicts with ``events``, ``records`` and the seconds named in ``times``), the sizes, the data
    ratio (records) and ``big[t] / small[t]`` for each ``t`` of ``times``. Shared with
    bench_scale_out.py."""
    return [
        [
            f"{small['events']:,} → {big['events']:,}",
            f"{big['records'] / small['records']:.1f}×",
            *(f"{big[t] / small[t]:.2f}×" for t in times),
        ]
        for small, big in zip(results, results[1:], strict=False)
    ]


def baseline(bucket: Path, home: Path) -> dict[str, float]:
    """Plain Spark JSON → Delta of the same files (run in its own process by the benchmark)."""
    from pinlake.schemas import payload_schema
    from pinlake.spark import get_spark

    settings = Settings(home=home)
    spark = get_spark(settings, app_name="bench-baseline")
    start = time.perf_counter()
    records = 0
    for name in TABLES:
        files = str(bucket / "topics" / settings.topic(name) / "partition=*" / "*.json")
        frame = spark.read.schema(payload_schema(name)).json(files)
        frame.write.format("delta").mode("append").save(str(home / "baseline" / name))
        records += spark.read.format("delta").load(str(home / "baseline" / name)).count()
    return {"records": records, "seconds": time.perf_counter() - start}


#: The build the benchmark times: every model, seed and data test (unit tests run in CI).
BUILD = ["build", "--exclude-resource-type", "unit_test"]
#: New data for the incremental build: this share of the size's events, new source rows.
NEW_SHARE = 0.01


def add_new_events(run: Runner, events: int, new: int, folder: Path) -> None:
    """Produce ``new`` events of source rows ``events``..``events + new - 1`` (rows no event of
    the first produce sent: new keys) into the bucket after its files, land them (only the new
    files) and build again: the stages ``produce 1 % new``, ``land 1 % new`` and ``dbt build
    after 1 % new``."""
    sequence = folder / f"new-{events}.csv"
    sequence.write_text("ind\n" + "".join(f"{i}\n" for i in range(events, events + new)))
    run.run("produce 1 % new", ProduceToBucket(sequence_file=sequence))
    run.run("land 1 % new", LandOptions())
    run.run("dbt build after 1 % new", DbtCommand(BUILD))


def run_size(events: int, root: Path) -> dict[str, float]:
    settings = Settings(home=root / f"n{events}")
    run = Runner(settings)
    new = max(1, round(events * NEW_SHARE))
    produce_events(run, events, rows=events + new)
    land = run.run("land", LandOptions())
    records = land.total_records + land.total_quarantined
    land_work = land.seconds - land.spark_startup_seconds
    run.run("dbt build", DbtCommand(BUILD))
    statements = dbt_statements(settings)
    land_wall, build = run.timings["land"], run.timings["dbt build"]
    base_home = root / f"base{events}"
    out = subprocess.run(
        [sys.executable, __file__, "--baseline", str(settings.bucket_dir), str(base_home)],
        check=True,
        capture_output=True,
        text=True,
    )
    base = json.loads(out.stdout.strip().splitlines()[-1])
    add_new_events(run, events, new, root)  # after the baseline: it reads the first N's files
    incremental = run.timings["dbt build after 1 % new"]
    incremental_statements = dbt_statements(settings)
    phases = land.phase_seconds
    land_tables = sum(phases.get(name, 0.0) for name in TABLES)
    return {
        "events": events,
        "records": records,
        "land_wall": land_wall,
        "land_rate": records / land_work,
        "land_startup": land.spark_startup_seconds,
        "land_fixed": land_work - land_tables,
        "land_tables_rate": records / land_tables,
        "land_phases": phases,
        "base_rate": base["records"] / base["seconds"],
        "build": build,
        "statements": statements,
        "incremental": incremental,
        "incremental_statements": incremental_statements,
    }


#: issue 13's goals: land at 1M events ≥ 0.9× the baseline; dbt build at 10k ≤ 40 s (idle);
#: 100k → 1M events ≤ 3× the build time; a build after 1 % new data ≤ 0.25× a full build
GOAL_LAND_RATIO, GOAL_BUILD_10K, GOAL_BUILD_GROWTH = 0.9, 40.0, 3.0
GOAL_INCREMENTAL = 0.25


def report(results: list[dict[str, float]]) -> None:
    rows = [
        (
            f"{r['events']:,}",
            f"{r['records']:,}",
            f"{r['land_wall']:.1f}s",
            f"{r['land_rate']:,.0f}",
            f"{r['base_rate']:,.0f}",
            f"{r['land_rate'] / r['base_rate']:.2f}"
            + (f" (goal ≥ {GOAL_LAND_RATIO})" if r["events"] == 1_000_000 else ""),
            f"{r['build']:.1f}s"
            + (f" (goal ≤ {GOAL_BUILD_10K:.0f}s)" if r["events"] == 10_000 else ""),
            f"{r['statements']:,}",
            f"{r['build'] / r['statements']:.2f}s" if r["statements"] else "-",
        )
        for r in results
    ]
    console.print(
        table(
            "lakehouse benchmark",
            [
                "events",
                "records",
                "land (wall)",
                "land rec/s",
                "baseline rec/s",
                "land/baseline",
                "dbt build",
                "Spark statements",
                "per statement",
            ],
            rows,
        )
    )
    land_rows = [
        (
            f"{r['events']:,}",
            f"{r['land_startup']:.1f}s",
            f"{r['land_fixed']:.1f}s",
            ", ".join(
                f"{phase} {seconds:.1f}"
                for phase, seconds in r["land_phases"].items()
                if phase not in TABLES
            ),
            f"{r['land_tables_rate']:,.0f}",
            f"{r['land_tables_rate'] / r['base_rate']:.2f}",
        )
        for r in results
    ]
    console.print(
        table(
            "where land's time goes (its fixed cost: every phase but the tables' appends)",
            [
                "events",
                "Spark start",
                "fixed",
                "fixed phases (s)",
                "appends rec/s",
                "appends/baseline",
            ],
            land_rows,
        )
    )
    incremental = [
        (
            f"{r['events']:,}",
            f"{max(1, round(r['events'] * NEW_SHARE)):,}",
            f"{r['build']:.1f}s",
            f"{r['incremental']:.1f}s",
            f"{r['incremental_statements']:,}",
            f"{r['incremental'] / r['build']:.2f} (goal ≤ {GOAL_INCREMENTAL})",
        )
        for r in results
    ]
    console.print(
        table(
            "dbt build after 1 % new data (staging merges the new rows; the marts are rebuilt)",
            ["events", "new events", "full build", "build after", "Spark statements", "after/full"],
            incremental,
        )
    )
    growth = growth_rows(results, ["land_wall", "build"])
    for row in growth:
        if row[0] == f"{100_000:,} → {1_000_000:,}":
            row[-1] = f"{row[-1]} (goal ≤ {GOAL_BUILD_GROWTH:.0f}×)"
    if growth:
        console.print(table("cost growth", ["sizes", "data", "land time", "build time"], growth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="events per size, comma-separated (default: %(default)s; 1M takes about 15 minutes)",
    )
    parser.add_argument("--baseline", nargs=2, metavar=("BUCKET", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        print(json.dumps(baseline(Path(args.baseline[0]), Path(args.baseline[1]))))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    console.width = max(console.width, 160)  # keep the result tables unwrapped in logs
    results = []
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-") as tmp:
        for events in sizes:
            console.rule(f"[bold]{events:,} events")
            results.append(run_size(events, Path(tmp)))
            report(results)


if __name__ == "__main__":
    main()
