"""The demo's time per stage, and the batch path's part of it, against issue 13's goal.

Runs ``pinlake demo`` with its defaults (the AiCore-sized source: 11,154 events down both paths)
in a new home, as ``make demo`` does after ``make setup``, and prints, from the demo's own stage
timings: each stage's time and share, the whole demo, and the batch path, which is the demo
without the stages only the stream path needs (:data:`pinlake.pipeline.demo.STREAM_ONLY_STAGES`:
the Kinesis produce, paced at 500 events/s, and the stream query's catch-up). The services' start,
the source, land, the dbt build and the stages after it count for the batch path, which needs
them too.

    .venv/bin/python bench/bench_demo.py        # about 5 minutes

Goal (issue 13, 2 cores, an idle machine): the batch path ≤ 2 minutes. The demo's other output
goes to the terminal as usual; the summary table comes last. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.pipeline.demo import STREAM_ONLY_STAGES, run_demo
from pinlake.produce.events import AICORE_ROWS

#: issue 13's goal 4: the demo's batch path within 2 minutes (after setup, an idle machine)
GOAL_BATCH_SECONDS = 120.0


def report(timings: dict[str, float], wall: float) -> None:
    """The stages (time, share of the batch path, path), then the totals against the goal."""
    batch = {stage: t for stage, t in timings.items() if stage not in STREAM_ONLY_STAGES}
    batch_total = sum(batch.values())
    rows = [
        (
            stage,
            f"{t:.1f}s",
            "stream only" if stage not in batch else f"{t / batch_total:.0%}",
        )
        for stage, t in timings.items()
    ]
    console.print(table("demo stages", ["stage", "wall", "share of the batch path"], rows))
    console.print(
        table(
            "demo",
            ["", "wall"],
            [
                ("whole demo (its stages)", f"{sum(timings.values()):.1f}s"),
                ("whole demo (the command, with its start and summary)", f"{wall:.1f}s"),
                (
                    "batch path (the stages without the stream-only ones)",
                    f"{batch_total:.1f}s (goal ≤ {GOAL_BATCH_SECONDS:.0f}s)",
                ),
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=AICORE_ROWS, help="rows per source table")
    args = parser.parse_args()
    console.width = max(console.width, 120)  # keep the result tables unwrapped in logs
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-demo-") as tmp:
        start = time.perf_counter()
        timings = run_demo(Settings(home=Path(tmp)), rows=args.rows, events=None)
        wall = time.perf_counter() - start
    report(timings, wall)


if __name__ == "__main__":
    main()
