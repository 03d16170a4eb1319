"""Spark's code generation on and off, and the small-data shape: land and dbt build of one
bucket, at growing sizes.

The settings are ``PINLAKE_SPARK_CODEGEN`` (``Settings.spark_codegen``), and for the third mode
also ``PINLAKE_SPARK_ADAPTIVE=false`` and ``PINLAKE_SPARK_PARTITIONS=1`` (``spark_adaptive``,
``spark_partitions``: :func:`pinlake.spark.shape_conf`), what the test suite runs.

For each size N (events; each a pin, a geo and a user record) the bucket is produced once
(``source init --rows N`` → ``produce --sequential --events N``). Then, interleaved for
``--rounds`` rounds, each mode (:data:`MODES`) lands that bucket into a new home and builds
every model with dbt (data tests included, unit tests not, as bench_lakehouse.py) in one child
process, as ``pinlake demo`` runs them: Spark starts once. The baseline is Spark's defaults in
the same run; the ratios are each mode / the baseline. CPU is the machine's busy CPU-seconds
while the child ran (every process: run it on an otherwise idle machine).

    .venv/bin/python bench/bench_codegen.py [--sizes 10000,100000] [--rounds 2]

On 2 cores a run of 10k events takes about 2–3 minutes, of 100k about 3.5: the defaults (two
sizes, two rounds of the three modes) about 40 minutes.

Prints each run, then per size the medians and the ratios. Nothing here asserts: it prints
numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import psutil
from bench_lakehouse import dbt_statements, produce_events  # beside this file

from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.runner import Runner

#: ``{mode: Settings fields}``; the first is the baseline (Spark's defaults)
MODES: dict[str, dict[str, object]] = {
    "code generation on (Spark's default)": {"spark_codegen": True},
    "off": {"spark_codegen": False},
    "off, adaptive off, 1 partition (the suite's)": {
        "spark_codegen": False,
        "spark_adaptive": False,
        "spark_partitions": 1,
    },
}
MEASURES = ("land", "dbt build", "cpu")


def busy_cpu_seconds() -> float:
    """The machine's CPU-seconds spent not idle since boot (every core, every process)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def run_once(bucket: Path, home: Path, fields: dict[str, object]) -> dict[str, float]:
    """Land the topics bucket ``bucket`` (a folder) into the new ``home`` and build every
    model, in one child process with the Settings ``fields`` (a mode of :data:`MODES`); the
    stages' wall seconds, the busy CPU-seconds, the records landed and the Spark statements dbt
    ran."""
    settings = Settings(home=home, bucket=bucket, **fields)
    run = Runner(settings)
    before = busy_cpu_seconds()
    landed, _ = run.spark(
        ("land", LandOptions()),
        ("dbt build", DbtCommand(["build", "--exclude-resource-type", "unit_test"])),
    )
    return {
        "land": run.timings["land"],
        "dbt build": run.timings["dbt build"],
        "cpu": busy_cpu_seconds() - before,
        "records": landed.total_records,
        "statements": dbt_statements(settings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--sizes", default="10000,100000", help="events, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode per size")
    args = parser.parse_args()
    console.width = max(console.width, 120)  # keep the result tables unwrapped in logs
    rows = []
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-") as scratch:
        tmp = Path(scratch)
        for events in (int(size) for size in args.sizes.split(",")):
            console.rule(f"[bold]{events:,} events")
            source = Settings(home=tmp / f"source-{events}")
            produce_events(Runner(source), events)
            results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
            for n in range(args.rounds):
                for i, (mode, fields) in enumerate(MODES.items()):
                    home = tmp / f"n{events}-{n}-{i}"
                    out = run_once(source.bucket_dir, home, fields)
                    results[mode].append(out)
                    console.print(
                        f"{events:,} events, round {n + 1}/{args.rounds}, {mode}: land "
                        f"{out['land']:.1f} s, dbt build {out['dbt build']:.1f} s "
                        f"({out['statements']} statements), {out['cpu']:.0f} CPU-s, "
                        f"{out['records']:,} records landed",
                        soft_wrap=True,
                    )
            if len({r["records"] for rs in results.values() for r in rs}) != 1:
                raise SystemExit(f"the runs of {events:,} events landed different record counts")
            med = {
                mode: {key: statistics.median(r[key] for r in rs) for key in MEASURES}
                for mode, rs in results.items()
            }
            base = med[next(iter(MODES))]
            rows.extend(
                [
                    f"{events:,}",
                    mode,
                    *(
                        f"{base[key]:.1f} → {med[mode][key]:.1f} "
                        f"({med[mode][key] / base[key]:.2f}×)"
                        for key in MEASURES
                    ),
                ]
                for mode in list(MODES)[1:]
            )
            console.print(
                table(
                    f"Spark's defaults → each mode, medians of {args.rounds} "
                    f"(cores: {os.cpu_count()})",
                    ["events", "mode", "land (s)", "dbt build (s)", "busy CPU-s"],
                    rows,
                )
            )


if __name__ == "__main__":
    main()
