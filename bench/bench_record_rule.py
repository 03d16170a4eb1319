"""The record rule's expressions built once per driver JVM, against built for every micro-batch.

The stream stage's writer (:class:`pinlake.lakehouse.stream.BatchWriter`) turns each micro-batch
of a table into records by the one record rule (:func:`pinlake.lakehouse.records.with_records`),
and ``land`` each table of a load. The rule's Spark expressions are built once per driver JVM
(:func:`pinlake.lakehouse.records.record_columns`); until 2026-12-08 they were built again for
every micro-batch of every table, about 5,500 py4j calls. The baseline, in the same run and
interleaved with it, empties that cache before each batch: the same writer building the rule
again, as before.

Each round writes one micro-batch of two records of a table (one lands, one is quarantined) into
a new home's stream tables, in one Spark session (the test suite's settings: C1 JIT, code
generation and adaptive execution off), and measures the writer's call: wall time, the driver
JVM's and this process's CPU seconds, and the py4j calls it made. Also printed: the size of each
expression of the rule (characters of its text), the stream form's and the batch path's.

    .venv/bin/python bench/bench_record_rule.py [--rounds 5]

Prints each run, then the medians and the ratios built once / every batch. Nothing here
asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from pinlake.config import REPO_ROOT, Settings
from pinlake.console import console, table

sys.path.insert(0, str(REPO_ROOT / "tests"))
from pinlake_testing import SUITE_ENVIRONMENT  # noqa: E402 - the test suite's helpers

for _name, _value in SUITE_ENVIRONMENT.items():  # read by Settings, when a session starts
    os.environ.setdefault(_name, _value)

#: The Kafka source's rows (what the stream query hands the writer).
KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset bigint, "
    "timestamp timestamp, timestampType int"
)
PIN = {"index": 7528, "unique_id": "u", "title": "t", "downloaded": 0, "category": "art"}
FORMS = ("every batch", "built once")


def _jvm_cpu() -> float:
    """CPU seconds of this process's child JVMs (the Spark driver)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "java":
                total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def _one_batch(spark, home: Path, form: str) -> dict[str, float]:  # noqa: ANN001 - SparkSession
    """Write one micro-batch into a new home's stream tables; the call's measures."""
    from pinlake.lakehouse import records
    from pinlake.lakehouse.stream import BatchWriter, StreamResult
    from pinlake.lakehouse.tables import ensure_stream_tables_by_path

    settings = Settings(home=home)
    ensure_stream_tables_by_path(spark, settings)
    at = datetime(2026, 12, 8, tzinfo=timezone.utc)
    topic = settings.stream("pin")
    rows = [(b"k", json.dumps(PIN).encode(), topic, 0, 0, at, 0), (b"k", b"{", topic, 0, 1, at, 0)]
    batch = spark.createDataFrame(rows, KAFKA_SCHEMA)
    writer = BatchWriter(settings, "pin", "bench", StreamResult())
    writer._first = False  # noqa: SLF001 - no empty-batch check: every round the same jobs
    if form == "every batch":
        records._BUILT.clear()  # noqa: SLF001 - the baseline: the rule built again
    client = spark.sparkContext._gateway._gateway_client  # noqa: SLF001
    send, calls = client.send_command, [0]

    def counted(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return send(*args, **kwargs)

    client.send_command = counted
    jvm, python, wall = _jvm_cpu(), time.process_time(), time.perf_counter()
    try:
        writer(batch, 1)
    finally:
        client.send_command = send
    return {
        "wall": time.perf_counter() - wall,
        "jvm_cpu": _jvm_cpu() - jvm,
        "python_cpu": time.process_time() - python,
        "py4j_calls": calls[0],
    }


def main() -> None:
    """Run the rounds, print each, then medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from pinlake.lakehouse import records
    from pinlake.spark import get_spark

    folder = Path(tempfile.mkdtemp(prefix="bench-record-rule-"))
    spark = get_spark(Settings(home=folder / "session"), app_name="bench-record-rule")
    for text, unwrap in (("_text", True), ("line", False)):
        built = records.record_columns("pin", text, unwrap_base64=unwrap)
        sizes = {
            name: len(getattr(built, name)._jc.toString())  # noqa: SLF001
            for name in ("units", "fields", "valid", "typed", "rescued", "reason")
        }
        path = "stream (base64 unwrapped)" if unwrap else "batch (land)"
        console.print(f"expression sizes, {path}: {sizes}", markup=False, soft_wrap=True)
    _one_batch(spark, folder / "warm-up", "built once")  # the JVM's first batch: left out
    runs: dict[str, list[dict[str, float]]] = {form: [] for form in FORMS}
    for n in range(args.rounds):
        for form in FORMS if n % 2 == 0 else reversed(FORMS):
            run = _one_batch(spark, folder / f"{form.replace(' ', '-')}-{n}", form)
            runs[form].append(run)
            console.print(
                f"round {n + 1} {form}: {run['wall']:.2f} s, JVM {run['jvm_cpu']:.2f} CPU-s, "
                f"Python {run['python_cpu']:.2f} CPU-s, {run['py4j_calls']:,} py4j calls",
                markup=False,
            )
    spark.stop()
    medians = {
        form: {k: statistics.median(r[k] for r in runs[form]) for k in runs[form][0]}
        for form in FORMS
    }
    rows = []
    for key, label, shown in (
        ("wall", "wall s", "{:,.2f}"),
        ("jvm_cpu", "JVM CPU-s", "{:,.2f}"),
        ("python_cpu", "Python CPU-s", "{:,.2f}"),
        ("py4j_calls", "py4j calls", "{:,.0f}"),
    ):
        base, once = medians["every batch"][key], medians["built once"][key]
        ratio = f"{once / base:.2f}×" if base else "-"
        rows.append((label, shown.format(base), shown.format(once), ratio))
    console.print(
        table(
            f"one micro-batch of 2 records through BatchWriter, medians of {args.rounds}",
            ["measure", "built every batch", "built once", "once / every"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
