"""Land's fixed cost: where a small load's time goes, phase by phase (issue 13, goal 2).

In one process and one Spark session (as the Airflow DAG runs land under ``dag.test()``, and as
a worker runs it between other Spark work), a fresh home lands ``--loads`` small buckets one
after another: a pin, a geo and a user file of ``--records`` records each, plus one line that
is not JSON in the pin file (so every load also writes the quarantine: one line). The first
load creates the raw tables; the others are what every later ``land`` of a long-lived process
pays before its data matters (a ``pinlake land`` command starts its own JVM: it pays the first
load's costs). Each phase is ``LandResult.phase_seconds`` (pinlake/lakehouse/land.py), the
Spark start-up is ``spark_startup_seconds``.

    .venv/bin/python bench/bench_land_phases.py [--loads 6] [--records 3]

Prints one row per phase (the first load, then the median of the others' values of that phase)
and, last, each load's own time without Spark's start-up (the first load's, then the median of
the others'), next to the goal (≤ 3 s): the phases' medians need not add up to it. The home is a
temporary folder, removed at the end. Nothing here asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from pinlake.bucket.layout import file_path, write_atomic
from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.lakehouse.land import LandOptions, LandResult, land_bucket
from pinlake.spark import get_spark

#: issue 13: the fixed cost of a load (metastore, recovery and manifest checks) ≤ 3 s
GOAL_FIXED_SECONDS = 3.0

PIN = {
    "index": 1,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "t",
    "description": "d",
    "poster_name": "p",
    "follower_count": "1k",
    "tag_list": "a,b",
    "is_image_or_video": "image",
    "image_src": "https://example.com/a.jpg",
    "downloaded": 1,
    "save_location": "Local save in /data/x",
    "category": "x",
}
GEO = {"ind": 1, "timestamp": "2020-08-28T03:52:47", "latitude": 1.0, "longitude": 2.0,
       "country": "Albania"}  # fmt: skip
USER = {"ind": 1, "first_name": "a", "last_name": "b", "age": 20,
        "date_joined": "2015-10-24 11:23:51"}  # fmt: skip


def small_bucket(bucket: Path, records: int, load: int) -> None:
    """One file per batch topic in the sink's layout (written as the sink writes it,
    :func:`pinlake.bucket.layout.write_atomic`): ``records`` records each, and a line that is
    not JSON in the pin file. Load ``load``'s files continue the offsets of the loads before it
    and hold records of their own: land takes a file it landed before under the same name, size
    and content for a copy and skips it (an earlier version of this benchmark wrote the same
    files into every bucket, and its later loads landed nothing)."""
    first = load * (records + 1)
    for topic, record in (("pinterest.pin", PIN), ("pinterest.geo", GEO), ("pinterest.user", USER)):
        key = "index" if record is PIN else "ind"
        lines = [json.dumps({**record, key: first + i}).encode() for i in range(records)]
        lines += [b"not json"] if record is PIN else []
        write_atomic(file_path(bucket, topic, 0, first), lines)


def report(results: list[LandResult]) -> None:
    first, later = results[0], results[1:]
    phases = list(dict.fromkeys(p for r in results for p in r.phase_seconds))

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}" if values else "-"

    rows = [["Spark start-up", f"{first.spark_startup_seconds:.2f}",
             median([r.spark_startup_seconds for r in later])]]  # fmt: skip
    for name in phases:
        rows.append(
            [
                name,
                f"{first.phase_seconds.get(name, 0.0):.2f}",
                median([r.phase_seconds.get(name, 0.0) for r in later]),
            ]  # fmt: skip
        )
    work = [r.seconds - r.spark_startup_seconds for r in later]
    rows.append(
        [
            "land without start-up",
            f"{first.seconds - first.spark_startup_seconds:.2f}",
            f"{median(work)} (goal ≤ {GOAL_FIXED_SECONDS:.0f})",
        ]  # fmt: skip
    )
    console.print(
        table(
            "land, phase by phase",
            ["phase", "first load (s)", f"median of {len(later)} later (s)"],
            rows,
        )
    )
    if work:
        console.print(
            f"fixed cost of a small load: {statistics.median(work):.2f} s, "
            f"{statistics.median(work) / GOAL_FIXED_SECONDS:.1f}× the goal"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--loads", type=int, default=6, help="loads in a row (at least 2)")
    parser.add_argument("--records", type=int, default=3, help="records per file (at least 1)")
    args = parser.parse_args()
    if args.loads < 2:
        parser.error("--loads must be at least 2 (the first load creates the tables)")
    if args.records < 1:
        parser.error("--records must be at least 1 (a load of empty files lands nothing)")
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        results = []
        for n in range(args.loads):
            bucket = Path(tmp) / f"bucket-{n}"
            small_bucket(bucket, args.records, n)
            result = land_bucket(settings, LandOptions(bucket))
            console.print(
                f"load {n + 1}/{args.loads}: {result.seconds:.2f} s, "
                f"{result.total_records} records, {result.total_quarantined} quarantined"
            )
            results.append(result)
        get_spark(settings).stop()  # before its home goes
    # a load that landed less than it was given measured something else: no numbers then
    wanted = (3 * args.records, 1)
    short = [
        f"load {n + 1}: {r.total_records} records, {r.total_quarantined} quarantined"
        for n, r in enumerate(results)
        if (r.total_records, r.total_quarantined) != wanted
    ]
    if short:
        raise SystemExit(
            f"error: every load should land {wanted[0]} records and quarantine 1 line; "
            + "; ".join(short)
        )
    report(results)


if __name__ == "__main__":
    main()
