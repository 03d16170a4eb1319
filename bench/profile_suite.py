"""Where a command's CPU goes, by process kind: the test suite's JVMs, Python and services.

    .venv/bin/python bench/profile_suite.py [-- .venv/bin/pytest -q]   # the default command

Runs the command (default: the whole test suite) and, every ``--interval`` seconds while it
runs, reads every process's user + system CPU time with psutil. A process seen for the first
time after the start counts in full, one that ran before counts from the start. Each process is
put in a kind by its command line, read again whenever it changes (a process seen between its
fork and its exec shows its parent's; a ``bash …/spark-class`` launcher becomes the JVM), and a
Spark driver also by its parent: the DAG process of tests/dags (``run_dag_test.py``), an xdist
worker (the worker's in-process session), or a ``pinlake`` command. Prints CPU-seconds and
processes per kind, the machine's busy CPU-seconds and the wall time. Processes shorter than the
interval are missed, so the kinds add up to a little less than the busy total. Nothing here
asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

from pinlake.console import console, table

#: (kind, substring of a JVM's command line), first match wins
JVM_KINDS = (
    ("Kafka node", "kafka.Kafka"),
    ("Spark Thrift server", "HiveThriftServer2"),
    ("Spark standalone master/worker", "org.apache.spark.deploy.master"),
    ("Spark standalone master/worker", "org.apache.spark.deploy.worker"),
    ("Spark executor", "CoarseGrainedExecutorBackend"),
    ("Derby network server", "NetworkServerControl"),
)


def python_kind(command: str) -> str:
    """The kind of a Python (or other non-JVM) process from its command line."""
    if "run_dag_test" in command:
        return "DAG process (Python)"
    if "exec(eval(sys.stdin" in command or "execnet" in command or "xdist" in command:
        return "xdist worker (Python)"
    pinlake = re.search(r"(?:bin/pinlake|-m pinlake) (\S+)", command)
    if pinlake:
        return f"pinlake {pinlake.group(1)} (Python)"
    for kind, marker in (
        ("ingestion API server (Python)", "pinlake.ingest_api"),
        ("isolated stage (Python)", "pinlake.pipeline.isolated"),
        ("pyspark Python worker", "pyspark.daemon"),
        ("dbt (Python)", "bin/dbt"),
        ("Airflow (Python)", "airflow"),
        ("S3 server (moto)", "moto"),
        ("pytest (main process)", "bin/pytest"),
        ("Chromium", "chrom"),
        ("MariaDB", "mariadbd"),
    ):
        if marker in command:
            return kind
    return "other"


def kind(process: psutil.Process) -> str:
    """The kind of ``process`` (:data:`JVM_KINDS`, Spark drivers by their parent, else
    :func:`python_kind`)."""
    command = " ".join(process.cmdline())
    if "java" not in command.split(" ", 1)[0]:
        return python_kind(command)
    for name, marker in JVM_KINDS:
        if marker in command:
            return name
    if "SparkSubmit" in command:
        parent = process.parent()
        parent_kind = python_kind(" ".join(parent.cmdline())) if parent else "other"
        return f"Spark driver of: {parent_kind.removesuffix(' (Python)')}"
    return "JVM, other"


def busy_seconds() -> float:
    """The machine's busy CPU-seconds since boot: every state but idle and iowait
    (``psutil.cpu_times``)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def sample(command: list[str], interval: float) -> tuple[Counter, Counter, int, float, float]:
    """Run ``command`` and sample; ``(CPU-s per kind, processes per kind, exit code, wall s,
    busy CPU-s)``."""
    start, busy = time.time(), busy_seconds()
    # (pid, created): [kind, cpu at start, cpu, command line]
    seen: dict[tuple[int, float], list] = {}
    child = subprocess.Popen(command)
    me = os.getpid()
    while True:
        done = child.poll() is not None
        for process in psutil.process_iter(["pid", "create_time"]):
            key = (process.info["pid"], process.info["create_time"])
            if process.info["pid"] == me:
                continue
            try:
                times = process.cpu_times()
                cpu = times.user + times.system
                entry = seen.get(key)
                command_line = " ".join(process.cmdline())
                # a process seen between its fork and its exec shows its parent's command line
                # (or none): it is classified again once its own appears
                if entry is None or (command_line and command_line != entry[3]):
                    name = "launcher" if "spark-class" in command_line else kind(process)
                    if entry is None:
                        base = cpu if process.info["create_time"] < start else 0.0
                        seen[key] = entry = [name, base, cpu, command_line]
                    entry[0], entry[3] = name, command_line
                entry[2] = cpu
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        if done:
            break
        time.sleep(interval)
    totals: Counter = Counter()
    counts: Counter = Counter()
    for name, base, cpu, _ in seen.values():
        totals[name] += cpu - base
        counts[name] += 1
    return totals, counts, child.returncode, time.time() - start, busy_seconds() - busy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("command", nargs="*", help="the command to run (after --)")
    args = parser.parse_args()
    if args.interval <= 0:
        parser.error("--interval must be more than 0")
    command = args.command or [str(Path(sys.executable).with_name("pytest")), "-q"]
    totals, counts, code, wall, busy = sample(command, args.interval)
    rows = [
        [name, f"{counts[name]:,}", f"{cpu:,.1f}", f"{cpu / counts[name]:,.1f}"]
        for name, cpu in totals.most_common()
        if cpu >= 1.0
    ]
    console.print(
        table(
            f"CPU by process kind: {' '.join(command)}",
            ["kind", "processes", "CPU-s", "CPU-s per process"],
            rows,
        )
    )
    console.print(
        f"exit code {code}; wall {wall:,.1f} s; busy CPU {busy:,.1f} s "
        f"({busy / wall:.2f} cores); the kinds add up to {sum(totals.values()):,.1f} s"
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
