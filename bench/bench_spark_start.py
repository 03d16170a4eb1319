"""A Spark driver's start, with and without the class-data archive (pinlake.spark_cds).

Each run is a new Python process that does what a ``pinlake land`` command does on a new home:
it opens pinlake's Spark session (Delta, the embedded Hive metastore) and lands a small bucket
(a pin, a geo and a user file of 3 records; land creates the raw tables, reads the JSON, appends
to Delta, writes the quarantine and the manifest). It reports its wall time from the start of
the process and the CPU seconds of its driver JVM. The baseline, in the same run and interleaved
with it, is the same work with the JDK's own archive only (``-XX:SharedArchiveFile`` pointed at
the JDK's default ``classes.jsa``, which overrides the one pinlake adds): what a driver did
before ``make setup`` wrote the archive. Both JITs: the default (C2) and the test suite's C1-only.

    .venv/bin/python bench/bench_spark_start.py [--rounds 3]

Prints each run, then the medians and the ratios archive / baseline. Needs the archive (``make
setup``). Nothing here asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_land_phases import small_bucket  # beside this file

from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.spark import driver_classpath
from pinlake.spark_cds import archive_file

JITS = {"C2 (default)": "", "C1 only": "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1"}

#: The run in its own process: land on a new home, then its wall time and its JVM's CPU seconds.
RUN = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
import psutil
from pinlake.config import Settings
from pinlake.lakehouse.land import LandOptions, land_bucket
result = land_bucket(Settings(), LandOptions(Path(sys.argv[1])))
wall = time.perf_counter() - started
jvm = 0.0
for p in psutil.Process().children(recursive=True):
    try:
        jvm += sum(p.cpu_times()[:2])
    except psutil.Error:  # it ended while it was read
        pass
print(json.dumps({"wall": wall, "jvm_cpu": jvm, "records": result.total_records}))
"""


def jdk_archive() -> Path:
    """The JDK's default CDS archive (``lib/server/classes.jsa`` of the ``java`` Spark runs:
    pinlake.config.java_executable)."""
    from pinlake.config import java_executable

    java = java_executable()
    if java is None:
        raise SystemExit("java not found (JAVA_HOME, PATH)")
    found = java.resolve().parents[1] / "lib" / "server" / "classes.jsa"
    if not found.is_file():
        raise SystemExit(f"the JDK's default archive is missing: {found}")
    return found


def run_once(tmp: Path, name: str, jvm_options: str) -> dict[str, float]:
    bucket = tmp / f"bucket-{name}"
    small_bucket(bucket, 3)
    settings = Settings(home=tmp / f"home-{name}", jvm_options=jvm_options)
    env = settings.child_env()
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(bucket)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run {name} failed: {done.stderr.strip().splitlines()[-1:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["records"] != 9:  # 3 records per file: the run did not do the same work
        raise SystemExit(f"run {name} landed {out['records']} records, not 9")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind")
    args = parser.parse_args()
    settings = Settings()
    archive = archive_file(settings, driver_classpath(settings))
    if not archive.is_file():
        raise SystemExit(f"no class-data archive {archive}: run `make setup`")
    baseline = f"-XX:SharedArchiveFile={jdk_archive()}"
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-") as scratch:
        tmp = Path(scratch)
        runs = 0
        for n in range(args.rounds):
            for jit, options in JITS.items():
                for kind, extra in (("archive", ""), ("baseline", baseline)):
                    runs += 1  # each run its own home and bucket
                    out = run_once(tmp, f"{runs}-{kind}", f"{options} {extra}".strip())
                    results.setdefault((jit, kind), []).append(out)
                    console.print(
                        f"round {n + 1}/{args.rounds}, {jit}, {kind}: {out['wall']:.1f} s, "
                        f"JVM {out['jvm_cpu']:.1f} CPU-s, {out['records']} records landed"
                    )
    rows = []
    for jit in JITS:
        med = {
            kind: {
                key: statistics.median(r[key] for r in results[(jit, kind)])
                for key in ("wall", "jvm_cpu")
            }
            for kind in ("archive", "baseline")
        }
        rows.append(
            [
                jit,
                f"{med['archive']['wall']:.1f}",
                f"{med['baseline']['wall']:.1f}",
                f"{med['archive']['wall'] / med['baseline']['wall']:.2f}",
                f"{med['archive']['jvm_cpu']:.1f}",
                f"{med['baseline']['jvm_cpu']:.1f}",
                f"{med['archive']['jvm_cpu'] / med['baseline']['jvm_cpu']:.2f}",
            ]
        )
    console.print(
        table(
            f"`land` of a small bucket on a new home, medians of {args.rounds} (cores: "
            f"{os.cpu_count()})",
            ["JIT", "wall (s)", "baseline (s)", "ratio", "JVM CPU-s", "baseline", "ratio"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
