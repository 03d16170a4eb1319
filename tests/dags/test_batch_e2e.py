"""End to end: ``dag.test()`` of pinterest_batch against real services and a small dataset.

A throw-away PINLAKE_HOME with its own Kafka broker and ingestion API (free ports), a synthetic
source database and a few produced events. Each DAG run is one ``dag.test()`` in a process of
its own (tests/dags/run_dag_test.py), so its Spark JVM and Derby lock end with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinlake.services.process import free_ports

pytestmark = [pytest.mark.slow, pytest.mark.spark]

HERE = Path(__file__).resolve().parent
ROWS = 120
EVENTS = 120
BAD_INDEX = 987_654_321


@dataclass
class Pipeline:
    home: Path
    env: dict[str, str]


def _pinlake(env: dict[str, str], *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pinlake", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"pinlake {' '.join(args)} exited {done.returncode}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def _run_dag(pipeline: Pipeline, name: str) -> dict:
    out = pipeline.home / f"{name}.json"
    log = pipeline.home / f"{name}.log"
    with log.open("w") as handle:
        subprocess.run(
            [sys.executable, str(HERE / "run_dag_test.py"), "pinterest_batch", str(out)],
            env=pipeline.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    assert out.is_file(), f"dag.test() did not finish:\n{log.read_text()[-5000:]}"
    result = json.loads(out.read_text())
    result["log"] = str(log)
    return result


def _delta_versions(home: Path, schema: str) -> dict[str, list[str]]:
    """``{table: [delta log entries]}`` of a schema in the warehouse (files only, no Spark)."""
    root = home / "warehouse" / f"{schema}.db"
    return {
        table.name: sorted(p.name for p in (table / "_delta_log").glob("*.json"))
        for table in sorted(root.iterdir())
        if (table / "_delta_log").is_dir()
    }


@pytest.fixture(scope="module")
def pipeline(airflow_db: Path, dbt_manifest: Path, tmp_path_factory) -> Pipeline:
    home = tmp_path_factory.mktemp("pinlake-home")
    kafka, controller, api = free_ports(3)
    env = {
        **os.environ,
        "PINLAKE_HOME": str(home),
        "PINLAKE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "PINLAKE_KAFKA__CONTROLLER_PORT": str(controller),
        "PINLAKE_API__PORT": str(api),
        "PINLAKE_DBT_TARGET": "local",
        "PINLAKE_AIRFLOW_RETRIES": "0",  # fail fast in tests; the default is 2 (see structure)
    }
    _pinlake(env, "source", "init", "--rows", str(ROWS))
    _pinlake(env, "services", "up")
    try:
        _pinlake(env, "produce", "--to", "api", "--events", str(EVENTS))
        yield Pipeline(home, env)
    finally:
        _pinlake(env, "services", "down", check=False)


def test_batch_dag_builds_the_same_marts_as_dbt_build(pipeline: Pipeline) -> None:
    result = _run_dag(pipeline, "run-ok")
    failed = {t: s for t, s in result["tasks"].items() if s != "success"}
    assert result["state"] == "success", f"not successful: {failed} (log: {result['log']})"
    assert not failed

    exports = sorted((pipeline.home / "exports").iterdir())
    assert len(exports) == 1
    by_dag = {p.name: p.read_text() for p in exports[0].glob("*.csv")}
    assert len(by_dag) == 9
    assert any(text.count("\n") > 1 for text in by_dag.values()), "all marts are empty"

    # the same raw tables, built by `dbt build` alone (no Airflow), give the same marts
    _pinlake(pipeline.env, "dbt", "build")
    alone = pipeline.home / "dbt-build-alone"
    _pinlake(pipeline.env, "export", "--out", str(alone))
    by_dbt = {p.name: p.read_text() for p in alone.glob("*.csv")}
    assert by_dag.keys() == by_dbt.keys()
    for name, text in by_dbt.items():
        assert by_dag[name] == text, name


def test_failing_data_test_fails_the_run_and_spares_downstream_marts(
    pipeline: Pipeline, dagbag
) -> None:
    # a pin whose category is not one of the 13: raw accepts it, stg_pinterest__pins' test fails
    files = sorted((pipeline.home / "bucket" / "topics" / "pinterest.pin").glob("*/*.json"))
    assert files, "no pin files in the topics bucket (did the first run sink anything?)"
    record = json.loads(files[0].read_text().splitlines()[0])
    record.update(index=BAD_INDEX, category="not-a-category")
    bad = files[0].parent / f"pinterest.pin+0+{BAD_INDEX:010d}.json"
    bad.write_text(json.dumps(record) + "\n")

    dag = dagbag.dags["pinterest_batch"]
    failing = "dbt.stg_pinterest__pins.test"
    downstream = dag.task_dict[failing].get_flat_relative_ids(upstream=False)
    spared = {
        t.split(".")[1]
        for t in downstream
        if t.endswith(".run") and t.split(".")[1].startswith("rpt_")
    }
    assert spared, "no mart downstream of stg_pinterest__pins"
    before = _delta_versions(pipeline.home, "marts")
    assert spared <= before.keys()

    result = _run_dag(pipeline, "run-bad-rows")
    tasks = result["tasks"]
    assert result["state"] == "failed", result["log"]
    assert tasks["dbt.stg_pinterest__pins.run"] == "success"
    assert tasks[failing] == "failed", result["log"]
    for task_id in downstream:
        assert tasks[task_id] == "upstream_failed", task_id
    assert tasks["export"] == "upstream_failed"

    after = _delta_versions(pipeline.home, "marts")
    for mart in spared:
        assert after[mart] == before[mart], f"{mart} was rebuilt"
    # marts that do not depend on pins were rebuilt (the check above can see a rebuild)
    rebuilt = {m for m in before if m not in spared and tasks.get(f"dbt.{m}.run") == "success"}
    for mart in rebuilt:
        assert len(after[mart]) > len(before[mart]), mart
