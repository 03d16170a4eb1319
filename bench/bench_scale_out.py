"""Scale-out benchmark: ``land`` and ``dbt build`` on one ``local[2]`` JVM against the local
Spark standalone cluster and the Thrift server, at growing sizes (issue 11).

For each size N (events; each event is a pin, a geo and a user record), two fresh homes read
one topics bucket, so both sides land the same files into empty tables of a new metastore:

1. home ``local``: ``source init --rows N`` → ``produce --sequential --events N`` straight into
   its bucket (no Kafka); the shared metastore (Derby network server) up; ``land`` with the
   master ``local[2]``; ``dbt build --target local`` (the target's one thread, a ``local[2]``
   JVM of its own); the metastore down.
2. home ``cluster`` (its bucket: the first home's): the shared metastore, a Spark master with
   ``--workers`` one-core workers and the Spark Thrift server (its master the cluster), as
   ``pinlake services up --metastore --spark-cluster --thrift`` starts them; ``land`` (it picks
   up the running master: one core of a worker, the Thrift server holds the other);
   ``dbt build --target thrift --threads 4``; the stack down.

Both sides use the shared metastore, so only the engine differs. The baseline is side 1,
measured in the same run; ratios are cluster / local (above 1: slower on the cluster). Land's
records/s exclude its JVM start-up (``LandResult.spark_startup_seconds``); dbt's ``local`` wall
time includes its JVM start-up, the ``thrift`` one has none (the Thrift server runs already).
The stack's start-up is shown but compared with nothing.

    .venv/bin/python bench/bench_scale_out.py [--sizes 100000,1000000] [--workers 2]

No goals are fixed (issue 11 asks for a report); nothing here asserts: it prints numbers, the
machine's cores and its load average (the cluster's workers, the Thrift server and the drivers
share the same cores).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_lakehouse import dbt_statements, growth_rows, produce_events  # beside this file

from pinlake.config import Settings, SparkClusterSettings
from pinlake.console import console, table
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.runner import Runner
from pinlake.services import manager, process
from pinlake.services import spark_cluster as standalone

#: the same build on both targets (unit tests need no engine: left out, as bench_lakehouse does)
BUILD = ["build", "--exclude-resource-type", "unit_test"]
THRIFT_THREADS = 4
QUIET = lambda _m: None  # noqa: E731 - a `say` that says nothing


def machine() -> str:
    """One line: the machine's cores, memory and load averages (1, 5, 15 min) right now."""
    import psutil

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, load average {load}"


def home_settings(home: Path, workers: int, master: str | None, bucket: Path | None) -> Settings:
    """A home on free loopback ports (other stacks may run on this machine): ``master`` None
    lets the running cluster decide (``pinlake.spark.spark_master``); ``bucket`` None is the
    home's own. The metastore and the master are set here so the environment cannot change
    what is compared."""
    metastore, thrift, thrift_ui, port, ui_port = process.free_ports(5)
    return Settings(
        home=home,
        bucket=str(bucket) if bucket else None,
        spark_master=master,
        metastore_url=None,
        metastore_port=metastore,
        thrift_port=thrift,
        thrift_ui_port=thrift_ui,
        spark_cluster=SparkClusterSettings(
            workers=workers,
            port=port,
            ui_port=ui_port,
            worker_ui_port=process.free_port_block(workers),
        ),
    )


def run_size(events: int, root: Path, workers: int) -> dict[str, Any]:
    """Both sides for ``events`` events (module docstring); their timings in seconds."""
    load = os.getloadavg()[0]
    local = home_settings(root / f"n{events}" / "local", workers, "local[2]", None)
    local.ensure_dirs()
    run = Runner(local, total=4)
    produce_events(run, events)
    try:
        manager.start_metastore(local, QUIET)
        console.print(f"shared metastore up on port {local.metastore_port}")
        landed = run.run("land (local[2], shared metastore)", LandOptions())
        run.run("dbt build --target local", DbtCommand([*BUILD, "--target", "local"]))
        statements_local = dbt_statements(local)
    finally:
        manager.stop_all(local, quiet=True)
    records = landed.total_records + landed.total_quarantined

    cluster = home_settings(root / f"n{events}" / "cluster", workers, None, local.bucket_dir)
    cluster.ensure_dirs()
    crun = Runner(cluster, total=3)
    try:
        console.print(
            f"starting the metastore, the Spark master with {workers} one-core worker(s) and the "
            "Thrift server (a minute or two)"
        )
        start = time.perf_counter()
        manager.start_metastore(cluster, QUIET)
        standalone.start(cluster, QUIET)
        manager.start_thrift(cluster, QUIET)
        stack_up = time.perf_counter() - start
        console.print(f"stack up in {stack_up:.1f}s (master {standalone.master_url(cluster)})")
        clanded = crun.run("land (cluster)", LandOptions())
        app = standalone.finished_app(cluster, "pinlake-land")  # ran on the cluster
        threads = ["--target", "thrift", "--threads", str(THRIFT_THREADS)]
        crun.run("dbt build --target thrift", DbtCommand([*BUILD, *threads]))
        statements_thrift = dbt_statements(cluster)
    finally:
        manager.stop_all(cluster, quiet=True)
    if clanded.total_records + clanded.total_quarantined != records:
        raise RuntimeError(f"the two sides landed different record counts: {landed} / {clanded}")
    return {
        "events": events,
        "records": records,
        "load": load,
        "produce": run.timings["source init"] + run.timings["produce → bucket"],
        "stack_up": stack_up,
        "land_app_cores": app.get("cores"),
        "land_local": run.timings["land (local[2], shared metastore)"],
        "land_cluster": crun.timings["land (cluster)"],
        "rate_local": landed.records_per_second,
        "rate_cluster": clanded.records_per_second,
        "startup_local": landed.spark_startup_seconds,
        "startup_cluster": clanded.spark_startup_seconds,
        "dbt_local": run.timings["dbt build --target local"],
        "dbt_thrift": crun.timings["dbt build --target thrift"],
        "statements_local": statements_local,
        "statements_thrift": statements_thrift,
    }


def report_size(r: dict[str, Any]) -> None:
    """The table of one size: each measurement on both sides and cluster / local."""

    def row(what: str, local: float, cluster: float, unit: str = "s") -> tuple[str, ...]:
        fmt = (lambda x: f"{x:,.0f}") if unit == "rec/s" else (lambda x: f"{x:.1f}s")
        return (what, fmt(local), fmt(cluster), f"{cluster / local:.2f}")

    rows = [
        row("land (wall)", r["land_local"], r["land_cluster"]),
        row("land Spark start-up", r["startup_local"], r["startup_cluster"]),
        row("land rec/s (start-up excluded)", r["rate_local"], r["rate_cluster"], "rec/s"),
        row(
            f"dbt build (local 1 thread / thrift {THRIFT_THREADS})", r["dbt_local"], r["dbt_thrift"]
        ),
    ]
    console.print(
        table(
            f"{r['events']:,} events ({r['records']:,} records)",
            ["measurement", "local[2]", "cluster + Thrift", "cluster/local"],
            rows,
            caption=(
                f"dbt sent {r['statements_local']:,} Spark statements (local) and "
                f"{r['statements_thrift']:,} (thrift); "
                f"load average at the start {r['load']:.2f}; stack start-up {r['stack_up']:.0f}s "
                f"(not compared); land's application on the cluster had {r['land_app_cores']} "
                f"core(s); produce {r['produce']:.0f}s"
            ),
        )
    )


def report(results: list[dict[str, Any]]) -> None:
    """All sizes side by side, then how each time grows from one size to the next."""
    rows = [
        (
            f"{r['events']:,}",
            f"{r['load']:.1f}",
            f"{r['land_local']:.1f}s",
            f"{r['land_cluster']:.1f}s",
            f"{r['land_cluster'] / r['land_local']:.2f}",
            f"{r['dbt_local']:.1f}s",
            f"{r['dbt_thrift']:.1f}s",
            f"{r['dbt_thrift'] / r['dbt_local']:.2f}",
        )
        for r in results
    ]
    columns = ["events", "load", "land local[2]", "land cluster", "ratio"]
    columns += ["dbt local", f"dbt thrift ({THRIFT_THREADS} threads)", "ratio"]
    console.print(table("scale-out benchmark (ratio: cluster / local)", columns, rows))
    times = ["land_local", "land_cluster", "dbt_local", "dbt_thrift"]
    growth = growth_rows(results, times)
    if growth:
        columns = ["sizes", "data", "land local[2]", "land cluster", "dbt local", "dbt thrift"]
        console.print(table("cost growth (time ratio)", columns, growth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="events per size, e.g. 10000")
    parser.add_argument("--workers", type=int, default=2, help="one-core workers (1-8)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    console.width = max(console.width, 120)  # keep the result tables unwrapped in logs
    console.print(f"machine: {machine()}")
    console.print(
        f"cluster: {args.workers} worker(s) of 1 core and 1g; the Thrift server holds one core "
        "of them, land gets another; the drivers, the metastore and the workers share the "
        f"{os.cpu_count()} cores"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="pinlake-bench-") as tmp:
        for events in sizes:
            console.rule(f"[bold]{events:,} events")
            results.append(run_size(events, Path(tmp), args.workers))
            report_size(results[-1])
    report(results)
    console.print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
