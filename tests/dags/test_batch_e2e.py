"""End to end: ``dag.test()`` of pinterest_batch against real services and the reference data.

The home is the session's golden run (tests/conftest.py ``golden``): the AiCore events were posted
through the ingestion API into its broker (both paths), the stream query landed the stream topics,
and the DAG's first run sank, landed, built, exported and documented the batch path; its marts
equal the published results (tests/integration/test_reference_data.py). Here: that run's tasks,
the Kafka path proven at the bucket (its sink writes exactly the records the producer writes
straight into a bucket), and a failing data test that stops the run where it should. The DAG runs
are ``dag.test()`` runs in one process (tests/dags/run_dag_test.py): they share its Spark JVM.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pinlake_testing import ENTITY_MART, MART_MODELS, delta_versions, reference_draws

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.kafka]

BAD_INDEX = 987_654_321


def _bucket_records(bucket: Path, topics: list[str]) -> dict[str, Counter]:
    from pinlake.bucket.layout import list_files, read_records

    return {
        topic: Counter(line for f in list_files(bucket, topic) for line in read_records(f.path))
        for topic in topics
    }


def test_the_kafka_path_delivers_the_same_records_to_the_bucket(
    golden, aicore_dir: Path, tmp_path: Path
) -> None:
    """HTTP → Kafka → sink writes exactly the records (as a multiset of lines per topic) that
    the producer writes straight into a bucket from the same source, plus the values the golden
    run posted in the client shapes; from the bucket on, the two paths are the same code."""
    from pinlake.bucket.sink import BucketSink, SinkOptions
    from pinlake.pipeline.steps import run_step
    from pinlake.produce import ProduceToBucket

    settings = golden.settings
    direct_bucket, kafka_bucket = tmp_path / "direct", tmp_path / "via-kafka"
    for draws in reference_draws(aicore_dir):
        run_step(settings, ProduceToBucket(**draws, bucket=direct_bucket))
    # its own consumer group (one per bucket): independent of the DAG's sink
    sunk = BucketSink(settings, SinkOptions(once=True, bucket=kafka_bucket)).run()
    tables = ("pin", "geo", "user")
    topics = [settings.topic(t) for t in tables]
    direct = _bucket_records(direct_bucket, topics)
    via_kafka = _bucket_records(kafka_bucket, topics)
    posted = golden.extra.kafka_records["batch"].total()  # the client shapes and extreme rows
    assert sunk.records == sum(sum(c.values()) for c in direct.values()) + posted > 30_000
    for table, topic in zip(tables, topics, strict=True):
        assert not direct[topic] - via_kafka[topic], topic  # nothing the producer wrote is missing
        # and the rest is exactly what the golden run posted besides the producer's events
        rest = Counter(_canonical(json.loads(line)) for line in via_kafka[topic] - direct[topic])
        assert rest == Counter(map(_canonical, golden.extra.batch_values[table])), topic


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def test_batch_dag_builds_the_published_marts(golden, aicore_dir: Path) -> None:
    """Every task of the first run succeeded; it exported every mart, and only the marts, once
    (their content: tests/integration/test_reference_data.py), and documented them."""
    result = golden.dag_run
    failed = {t: s for t, s in result["tasks"].items() if s != "success"}
    assert result["state"] == "success", f"not successful: {failed} (log: {result['log']})"
    assert not failed
    assert len(list((golden.settings.home / "exports").iterdir())) == 1
    published = sorted(p.stem for p in (aicore_dir / "expected").glob("*.csv"))
    assert sorted(golden.exports) == list(MART_MODELS)  # every mart, the entity mart's too
    assert {*published, ENTITY_MART} <= set(golden.exports)
    assert result["xcom"]["dbt_docs_generate"]["returncode"] == 0


def _dbt_summaries(log: Path, name: str) -> list[str]:
    """dbt's ``Finished running …`` summary lines of the DAG process's request ``name`` (its
    section of the process's log: after the previous request's ``run done:`` line, up to its
    own)."""
    section: list[str] = []
    for line in log.read_text().splitlines():
        if line.startswith("run done: "):
            if Path(line.removeprefix("run done: ")).stem == name:
                return [s for s in section if "Finished running " in s]
            section = []
        else:
            section.append(line)
    raise AssertionError(f"no request {name!r} in {log}")


def test_the_dag_leaves_the_unit_tests_to_ci_where_each_passes(golden, dbt_manifest: Path) -> None:
    """The batch DAG's dbt tasks run the data tests and no unit test (pinlake_dags.common.
    EXCLUDED_RESOURCE_TYPES); every unit test of the project runs once after it, on the same
    process and home (their models' parents exist), and passes."""
    log = Path(golden.dag_run["log"])
    in_dag = _dbt_summaries(log, "run-ok")
    assert any(" data test" in line for line in in_dag), in_dag  # the test tasks ran
    assert not [line for line in in_dag if "unit test" in line]
    unit_tests = json.loads(dbt_manifest.read_text())["unit_tests"]
    assert len(unit_tests) >= 20
    assert golden.unit_tests["returncode"] == 0, golden.unit_tests["log"]
    assert golden.unit_tests["results"] == dict.fromkeys(unit_tests, "pass")
    (summary,) = _dbt_summaries(log, "unit-tests")
    assert f"Finished running {len(unit_tests)} unit tests" in summary


def test_failing_data_test_fails_the_run_and_spares_downstream_marts(golden, dagbag) -> None:
    from pinlake.bucket.layout import file_path, list_files, write_atomic

    # a pin whose category is not in the categories seed: raw accepts it, staging's test fails
    bucket, topic = golden.settings.home / "bucket", golden.settings.topic("pin")
    files = list_files(bucket, topic)
    assert files, "no pin files in the topics bucket (did the first run sink anything?)"
    record = json.loads(files[0].path.read_text().splitlines()[0])
    record.update(index=BAD_INDEX, category="not-a-category")
    write_atomic(file_path(bucket, topic, 0, BAD_INDEX), [json.dumps(record).encode()])

    dag = dagbag.dags["pinterest_batch"]
    # the categories seed's relationships test: over two nodes, so a task of its own, which the
    # marts downstream of stg_pinterest__pins wait for (dbt build's rule)
    (failing,) = [t for t in dag.task_dict if "relationships_stg_pinterest__pins_category" in t]
    downstream = dag.task_dict[failing].get_flat_relative_ids(upstream=False)
    before = golden.versions["marts"]
    spared = {t.split(".")[1] for t in downstream if t.endswith(".run")} & before.keys()
    assert {"pins", "rpt_most_popular_category_by_year"} <= spared
    # one mart that does not depend on pins must be rebuilt (so the check below can see one);
    # the other marts and the other staging models are not run (they cost minutes)
    independent = sorted(m for m in before if m not in spared)
    assert independent, "every mart depends on pins"
    rebuilt = independent[0]

    # the run: the failing test with everything it needs (land brings the bad row in; sink,
    # freshness, the seeds and stg_pinterest__pins keep their order), the rebuilt mart's own run
    # and test alone (their inputs are built), and everything downstream of the two
    needs = dag.task_dict[failing].get_flat_relative_ids(upstream=True)
    mart_tasks = (f"dbt.{rebuilt}.run", f"dbt.{rebuilt}.test")
    after_mart = dag.task_dict[mart_tasks[1]].get_flat_relative_ids(upstream=False)
    chosen = {failing, *needs, *mart_tasks, *downstream, *after_mart}
    assert {"land", "dbt.stg_pinterest__pins.run"} <= needs
    result = golden.dags.run(
        "run-bad-rows", task_ids=tuple(sorted(chosen)), downstream=False, upstream=False
    )
    tasks = result["tasks"]
    assert "dbt.stg_pinterest__users.run" not in tasks  # the rebuilt mart's inputs: not rebuilt
    assert result["state"] == "failed", result["log"]
    assert (
        tasks["dbt.stg_pinterest__pins.run"] == tasks["dbt.stg_pinterest__pins.test"] == "success"
    )
    assert tasks[failing] == "failed", result["log"]
    for task_id in downstream:
        assert tasks[task_id] == "upstream_failed", task_id
    assert tasks["export"] == tasks["dbt_docs_generate"] == "upstream_failed"

    assert tasks[f"dbt.{rebuilt}.run"] == tasks[f"dbt.{rebuilt}.test"] == "success"

    after = delta_versions(golden.settings.home, "marts")
    for mart in spared:
        assert after[mart] == before[mart], f"{mart} was rebuilt"
    assert after[rebuilt] > before[rebuilt], f"{rebuilt} was not rebuilt"
