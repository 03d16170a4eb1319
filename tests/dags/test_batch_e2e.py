"""End to end: ``dag.test()`` of pinterest_batch against real services and the reference data.

The home is the session's Kafka-path home (tests/conftest.py ``api_path_home``): the AiCore
events were posted through the ingestion API into its broker and nothing has been sunk yet. The
DAG's first run sinks, lands, builds and exports them, and its marts must equal the published
results that the golden run (the direct path, tests/integration/test_reference_data.py) equals.
Before that, the Kafka path is proven at the bucket: its sink writes exactly the records the
direct path writes. The DAG runs are ``dag.test()`` runs in one process of their own
(tests/dags/run_dag_test.py): they share its Spark JVM, and the Derby lock ends with it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pinlake_testing import reference_draws

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.kafka]

HERE = Path(__file__).resolve().parent
BAD_INDEX = 987_654_321


@dataclass
class Pipeline:
    home: Path
    env: dict[str, str]


class DagTestProcess:
    """The ``run_dag_test.py`` process of this module's ``pinterest_batch`` runs: one JVM and one
    set of imports for all of them; its output goes to ``<home>/dag-test.log``."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.home = pipeline.home
        self.log = pipeline.home / "dag-test.log"
        with self.log.open("w") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "run_dag_test.py"), "pinterest_batch"],
                env=pipeline.env,
                stdin=subprocess.PIPE,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def run(self, name: str, task_ids: tuple[str, ...] = (), timeout: float = 800) -> dict:
        """One ``dag.test()`` (of the subset around ``task_ids`` if given); its outcome."""
        out = self.home / f"{name}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"out": str(out), "task_ids": list(task_ids)}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while not out.is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dag.test() did not finish:\n{self.log.read_text()[-5000:]}")
            time.sleep(0.5)
        result = json.loads(out.read_text())
        assert "error" not in result, result["error"]
        result["log"] = str(self.log)
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


@dataclass
class FirstRun:
    """The first (successful) DAG run: its outcome, exported marts and the marts' Delta logs,
    and the process that runs this module's DAG runs."""

    pipeline: Pipeline
    dags: DagTestProcess
    result: dict
    exports: dict[str, str]
    marts_before: dict[str, list[str]]


def _delta_versions(home: Path, schema: str) -> dict[str, list[str]]:
    """``{table: [delta log entries]}`` of a schema in the warehouse (files only, no Spark)."""
    root = home / "warehouse" / f"{schema}.db"
    return {
        table.name: sorted(p.name for p in (table / "_delta_log").glob("*.json"))
        for table in sorted(root.iterdir())
        if (table / "_delta_log").is_dir()
    }


@pytest.fixture(scope="session")
def first_run(airflow_db: Path, dbt_manifest: Path, api_path_home) -> Iterator[FirstRun]:
    """One successful DAG run over the Kafka-path home (shared by the tests of this module)."""
    env = {
        **api_path_home.child_env(),
        "PINLAKE_DBT_TARGET": "local",
        "PINLAKE_AIRFLOW_RETRIES": "0",  # fail fast in tests; the default is 2 (see structure)
    }
    pipeline = Pipeline(api_path_home.home, env)
    dags = DagTestProcess(pipeline)
    try:
        result = dags.run("run-ok")
        folders = sorted((pipeline.home / "exports").iterdir())
        exports = {p.name: p.read_text() for folder in folders for p in folder.glob("*.csv")}
        yield FirstRun(pipeline, dags, result, exports, _delta_versions(pipeline.home, "marts"))
    finally:
        dags.close()


def _rows(text: str) -> tuple[list[str], list[tuple[str, ...]]]:
    header, *rows = list(csv.reader(io.StringIO(text)))
    return header, sorted(tuple(row) for row in rows)


def _bucket_records(bucket: Path, topics: list[str]) -> dict[str, Counter]:
    from pinlake.bucket.layout import list_files

    return {
        topic: Counter(
            line for f in list_files(bucket, topic) for line in f.path.read_bytes().splitlines()
        )
        for topic in topics
    }


def test_the_kafka_path_delivers_the_same_records_to_the_bucket(
    api_path_home, aicore_dir: Path, tmp_path: Path
) -> None:
    """HTTP → Kafka → sink writes exactly the records (as a multiset of lines per topic) that
    the producer writes straight into a bucket from the same source; from the bucket on, the
    two paths are the same code."""
    from pinlake.bucket.sink import BucketSink, SinkOptions
    from pinlake.pipeline.steps import run_step
    from pinlake.produce import ProduceToBucket

    direct_bucket, kafka_bucket = tmp_path / "direct", tmp_path / "via-kafka"
    for draws in reference_draws(aicore_dir):
        run_step(api_path_home, ProduceToBucket(**draws, bucket=direct_bucket))
    # its own consumer group (one per bucket): independent of the DAG's sink
    sunk = BucketSink(api_path_home, SinkOptions(once=True, bucket=kafka_bucket)).run()
    topics = [api_path_home.topic(t) for t in ("pin", "geo", "user")]
    direct = _bucket_records(direct_bucket, topics)
    via_kafka = _bucket_records(kafka_bucket, topics)
    assert sunk.records == sum(sum(c.values()) for c in direct.values()) > 30_000
    for topic in topics:
        assert via_kafka[topic] == direct[topic], topic


def test_batch_dag_builds_the_published_marts(first_run: FirstRun, aicore_dir: Path) -> None:
    result = first_run.result
    failed = {t: s for t, s in result["tasks"].items() if s != "success"}
    assert result["state"] == "success", f"not successful: {failed} (log: {result['log']})"
    assert not failed
    assert len(list((first_run.pipeline.home / "exports").iterdir())) == 1

    assert len(first_run.exports) == 9
    published = sorted(p.name for p in (aicore_dir / "expected").glob("*.csv"))
    assert sorted(first_run.exports) == published  # every mart, and only the marts
    assert any(text.count("\n") > 1 for text in first_run.exports.values()), "all marts empty"
    for name, text in first_run.exports.items():
        # the golden run (direct path) equals these files too: the two paths build the same marts
        assert _rows(text) == _rows((aicore_dir / "expected" / name).read_text()), name


def test_failing_data_test_fails_the_run_and_spares_downstream_marts(
    first_run: FirstRun, dagbag
) -> None:
    from pinlake.bucket.layout import file_path, list_files, write_atomic

    pipeline = first_run.pipeline
    # a pin whose category is not one of the 13: raw accepts it, stg_pinterest__pins' test fails
    bucket, topic = pipeline.home / "bucket", "pinterest.pin"
    files = list_files(bucket, topic)
    assert files, "no pin files in the topics bucket (did the first run sink anything?)"
    record = json.loads(files[0].path.read_text().splitlines()[0])
    record.update(index=BAD_INDEX, category="not-a-category")
    write_atomic(file_path(bucket, topic, 0, BAD_INDEX), [json.dumps(record).encode()])

    dag = dagbag.dags["pinterest_batch"]
    failing = "dbt.stg_pinterest__pins.test"
    downstream = dag.task_dict[failing].get_flat_relative_ids(upstream=False)
    spared = {
        t.split(".")[1]
        for t in downstream
        if t.endswith(".run") and t.split(".")[1].startswith("rpt_")
    }
    assert spared, "no mart downstream of stg_pinterest__pins"
    before = first_run.marts_before
    assert spared <= before.keys()
    # one mart that does not depend on pins must be rebuilt (so the check below can see one);
    # the run is the subset around it and the failing test (the other marts cost minutes)
    independent = sorted(m for m in before if m not in spared)
    assert independent, "every mart depends on pins"
    rebuilt = independent[0]

    result = first_run.dags.run("run-bad-rows", (failing, f"dbt.{rebuilt}.test"))
    tasks = result["tasks"]
    assert result["state"] == "failed", result["log"]
    assert tasks["dbt.stg_pinterest__pins.run"] == "success"
    assert tasks[failing] == "failed", result["log"]
    for task_id in downstream:
        assert tasks[task_id] == "upstream_failed", task_id
    assert tasks["export"] == "upstream_failed"

    assert tasks[f"dbt.{rebuilt}.run"] == tasks[f"dbt.{rebuilt}.test"] == "success"

    after = _delta_versions(pipeline.home, "marts")
    for mart in spared:
        assert after[mart] == before[mart], f"{mart} was rebuilt"
    assert len(after[rebuilt]) > len(before[rebuilt]), f"{rebuilt} was not rebuilt"
