"""The DAGs import cleanly and have the tasks, dependencies, schedule and retries of the issue."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pinlake_testing import ENTITY_MART, MART_MODELS, PUBLISHED_MARTS

DAGS = Path(__file__).resolve().parents[2] / "dags"

STAGING = ("stg_pinterest__geolocations", "stg_pinterest__pins", "stg_pinterest__users")
SPARK_POOL = "pinlake_spark"


def _models(manifest: Path) -> dict[str, str]:
    """``{model: schema}`` of the project, from the manifest."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {n["name"]: n["schema"] for n in nodes if n["resource_type"] == "model"}


def _seeds(manifest: Path) -> set[str]:
    """The seeds of the project, from the manifest."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {n["name"] for n in nodes if n["resource_type"] == "seed"}


def _has_tests(manifest: Path) -> set[str]:
    nodes = json.loads(manifest.read_text())["nodes"].values()
    tested: set[str] = set()
    for node in nodes:
        if node["resource_type"] == "test":
            tested.update(d.rsplit(".", 1)[-1] for d in node["depends_on"]["nodes"])
    return tested


def _load(monkeypatch: pytest.MonkeyPatch, **env: str):
    from airflow.models.dagbag import DagBag

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    assert bag.import_errors == {}
    return bag


def _last(dag, group: str, model: str, tested: set[str]):
    return dag.task_dict[f"{group}.{model}.test" if model in tested else f"{group}.{model}_run"]


def _run_id(group: str, model: str, tested: set[str]) -> str:
    return f"{group}.{model}.run" if model in tested else f"{group}.{model}_run"


# ---- DagBag ----------------------------------------------------------------------------------
def test_dagbag_has_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {"pinterest_batch", "pinterest_databricks", "pinterest_stream"} <= set(dagbag.dag_ids)


def test_dags_serialize(dagbag) -> None:
    """What the scheduler stores: the DAGs serialize, mart outlets included."""
    from airflow.serialization.serialized_objects import SerializedDAG

    for dag_id in ("pinterest_batch", "pinterest_databricks", "pinterest_stream"):
        data = SerializedDAG.to_dict(dagbag.dags[dag_id])
        assert data["dag"]["dag_id"] == dag_id
    text = json.dumps(SerializedDAG.to_dict(dagbag.dags["pinterest_batch"]))
    assert "pinlake://marts/rpt_users_joined_by_year" in text
    assert "pinlake://raw/pin" in text


# ---- pinterest_batch --------------------------------------------------------------------------
def test_batch_schedule_and_retries(dagbag) -> None:
    from cosmos.operators.local import DbtTestLocalOperator

    dag = dagbag.dags["pinterest_batch"]
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        if isinstance(task, DbtTestLocalOperator):
            assert task.retries == 0, task.task_id  # a failing data test is not transient
        else:
            assert task.retries == 2, task.task_id
            assert task.retry_delay == timedelta(minutes=5)


def test_batch_task_chain(dagbag, dbt_manifest: Path) -> None:
    dag = dagbag.dags["pinterest_batch"]
    models, tested = _models(dbt_manifest), _has_tests(dbt_manifest)
    assert set(STAGING) <= set(models)
    marts = sorted(m for m, schema in models.items() if schema == "marts")
    assert marts == list(MART_MODELS)  # every mart model, none lost in the manifest
    assert {*PUBLISHED_MARTS, ENTITY_MART} <= set(marts)

    t = dag.task_dict
    assert t["sink"].upstream_task_ids == set()
    assert t["land"].upstream_task_ids == {"sink"}
    assert t["dbt_source_freshness"].upstream_task_ids == {"land"}
    assert t["dbt_source_freshness"].select == "source:pinterest"  # the batch path's tables
    # every model is a task (plus its test task); the seeds (tested) right after freshness,
    # staging models right after freshness and the tested seeds they read
    for model in models:
        assert _run_id("dbt", model, tested) in t, model
    seed_tests = set()
    for seed in _seeds(dbt_manifest):
        assert t[f"dbt.{seed}.seed"].upstream_task_ids == {"dbt_source_freshness"}
        assert t[f"dbt.{seed}.test"].upstream_task_ids == {f"dbt.{seed}.seed"}
        seed_tests.add(f"dbt.{seed}.test")
    assert "dbt.pin_placeholders.test" in t["dbt.stg_pinterest__pins.run"].upstream_task_ids
    # a test over two nodes is a task of its own; the tested model's children wait for it
    (category,) = [i for i in t if "relationships_stg_pinterest__pins_category" in i]
    assert t[category].upstream_task_ids >= {"dbt.stg_pinterest__pins.test", "dbt.categories.test"}
    assert "dbt.pins.run" in t[category].downstream_task_ids
    # such tests gate model and seed tasks only, never each other (the same DAG in every parse)
    detached = {i for i in t if i.startswith("dbt.") and i.endswith("_test")}
    for task_id in detached:
        assert not t[task_id].upstream_task_ids & detached, task_id
    for model in STAGING:
        task = t[_run_id("dbt", model, tested)]
        assert task.upstream_task_ids <= {"dbt_source_freshness"} | seed_tests, model
        assert "dbt_source_freshness" in task.get_flat_relative_ids(upstream=True)
        assert model in tested
        assert t[f"dbt.{model}.test"].upstream_task_ids == {f"dbt.{model}.run"}
    # staging (and its tests) before every non-staging model
    for model, schema in models.items():
        if schema != "staging":
            upstream = t[_run_id("dbt", model, tested)].get_flat_relative_ids(upstream=True)
            assert "dbt_source_freshness" in upstream
            assert any(f"dbt.{s}.test" in upstream for s in STAGING), model
    # export and the docs after every mart, and nothing after them
    for leaf in ("export", "dbt_docs_generate"):
        assert t[leaf].downstream_task_ids == set()
        leaf_up = t[leaf].get_flat_relative_ids(upstream=True)
        for mart in marts:
            assert _last(dag, "dbt", mart, tested).task_id in leaf_up, (leaf, mart)
    assert {leaf.task_id for leaf in dag.leaves} == {"export", "dbt_docs_generate"}
    assert [r.task_id for r in dag.roots] == ["sink"]


def test_batch_local_target_serialises_spark_tasks(dagbag) -> None:
    dag = dagbag.dags["pinterest_batch"]
    for task in dag.tasks:
        expected = "default_pool" if task.task_id == "sink" else SPARK_POOL
        assert task.pool == expected, task.task_id


def test_batch_assets(dagbag, dbt_manifest: Path) -> None:
    dag = dagbag.dags["pinterest_batch"]
    models, tested = _models(dbt_manifest), _has_tests(dbt_manifest)
    assert {a.uri for a in dag.task_dict["land"].outlets} == {
        "pinlake://raw/pin",
        "pinlake://raw/geo",
        "pinlake://raw/user",
    }
    for mart in (m for m, schema in models.items() if schema == "marts"):
        outlets = _last(dag, "dbt", mart, tested).outlets
        assert [a.uri for a in outlets] == [f"pinlake://marts/{mart}"]


def test_batch_dbt_tasks_use_cosmos_with_the_repo_profile(dagbag) -> None:
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtRunLocalOperator, DbtSourceLocalOperator

    dag = dagbag.dags["pinterest_batch"]
    run = dag.task_dict["dbt.stg_pinterest__pins.run"]
    assert isinstance(run, DbtRunLocalOperator)
    assert isinstance(dag.task_dict["dbt_source_freshness"], DbtSourceLocalOperator)
    assert run.profile_config.profile_name == "pinlake"
    assert run.profile_config.target_name == "local"
    assert Path(run.profile_config.profiles_yml_filepath) == DAGS.parent / "profiles.yml"
    assert run.invocation_mode == InvocationMode.DBT_RUNNER
    assert run.env is None or "PINLAKE_HOME" not in run.env  # computed at run time


def test_dbt_tasks_cache_only_the_relations_they_need(dagbag) -> None:
    """Every dbt task of both DAGs: a task that builds a node caches only its schemas, a task
    that only reads (tests, source freshness) caches nothing (pinlake_dags.cosmos_setup), and
    the freshness task starts from the dbt group's partial parse."""
    from cosmos.operators.base import AbstractDbtBase
    from cosmos.operators.local import DbtSourceLocalOperator, DbtTestLocalOperator

    seen = {"build": 0, "check": 0}
    for dag_id in ("pinterest_batch", "pinterest_databricks"):
        for task in dagbag.dags[dag_id].tasks:
            if not isinstance(task, AbstractDbtBase):
                continue
            reads = isinstance(task, (DbtTestLocalOperator, DbtSourceLocalOperator))
            want = ["--no-populate-cache"] if reads else ["--cache-selected-only"]
            assert task.dbt_cmd_global_flags == want, task.task_id
            seen["check" if reads else "build"] += 1
    assert seen["build"] >= 16 and seen["check"] >= 16, seen  # seeds and models; their tests
    batch = dagbag.dags["pinterest_batch"]
    group = batch.task_dict["dbt.stg_pinterest__pins.run"].cache_dir
    assert group is not None
    assert Path(batch.task_dict["dbt_source_freshness"].cache_dir) == Path(group)


def test_dbt_tasks_leave_the_unit_tests_out(dagbag, monkeypatch, tmp_path: Path) -> None:
    """Every dbt task of both DAGs gets its environment from the interceptor at run time, and
    that environment excludes the unit tests (``DBT_EXCLUDE_RESOURCE_TYPES``, which ``dbt test``
    and ``dbt build`` read), unless the worker's environment says otherwise."""
    from cosmos.operators.base import AbstractDbtBase
    from pinlake_dags.common import dbt_env_for_cosmos, inject_dbt_env

    tasks = [
        task
        for dag_id in ("pinterest_batch", "pinterest_databricks")
        for task in dagbag.dags[dag_id].tasks
        if isinstance(task, AbstractDbtBase)
    ]
    assert len(tasks) >= 32
    assert all(inject_dbt_env in task.interceptors for task in tasks)
    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path))
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    assert dbt_env_for_cosmos()["DBT_EXCLUDE_RESOURCE_TYPES"] == "unit_test"
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "")
    assert dbt_env_for_cosmos()["DBT_EXCLUDE_RESOURCE_TYPES"] == ""


def test_the_stream_dags_dbt_build_leaves_the_unit_tests_out(dagbag, monkeypatch) -> None:
    """The stream DAG's ``dbt_build`` (dbt in the task's process, not Cosmos) ran every unit
    test, 21 of 147 nodes of each 5-minute run (helper-48's trial), against dags/README.md's
    "every dbt task": it excludes the same resource types, the worker's environment winning."""
    from pinlake_dags import tasks

    task = dagbag.dags["pinterest_stream"].task_dict["dbt_build"]
    monkeypatch.setattr(tasks, "_run", lambda options: options)  # what the task would run
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    command = task.python_callable()
    assert command.args == ["build", "--exclude-resource-type", "unit_test"]
    assert command.in_process
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "unit_test snapshot")
    assert tasks.dbt_build_command().args == [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--exclude-resource-type",
        "snapshot",
    ]
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "")
    assert tasks.dbt_build_command().args == ["build"]


def test_batch_thrift_target_runs_models_in_parallel(monkeypatch, dbt_manifest: Path) -> None:
    dag = _load(monkeypatch, PINLAKE_DBT_TARGET="thrift").dags["pinterest_batch"]
    run = dag.task_dict["dbt.stg_pinterest__pins.run"]
    assert run.profile_config.target_name == "thrift"
    for task in dag.tasks:
        if task.task_id.startswith("dbt"):
            assert task.pool == "default_pool", task.task_id
    # the three staging models are independent: nothing orders them
    for a in STAGING:
        ups = dag.task_dict[f"dbt.{a}.run"].get_flat_relative_ids(upstream=True)
        assert not any(b in u for b in STAGING for u in ups if b != a)


def test_batch_schedule_is_configurable(monkeypatch, dbt_manifest: Path) -> None:
    dag = _load(monkeypatch, PINLAKE_AIRFLOW_SCHEDULE="0 */6 * * *").dags["pinterest_batch"]
    assert dag.schedule == "0 */6 * * *"
    assert dag.catchup is False


def test_missing_manifest_still_imports_and_fails_clearly(monkeypatch, tmp_path: Path) -> None:
    from airflow.exceptions import AirflowFailException

    bag = _load(monkeypatch, PINLAKE_DBT_MANIFEST=str(tmp_path / "nope" / "manifest.json"))
    for dag_id in ("pinterest_batch", "pinterest_databricks"):
        stand_in = bag.dags[dag_id].task_dict["dbt_build"]
        with pytest.raises(AirflowFailException, match="dbt manifest not found"):
            stand_in.python_callable()
    batch = bag.dags["pinterest_batch"]
    assert batch.task_dict["export"].upstream_task_ids == {"dbt_build"}
    assert batch.task_dict["dbt_docs_generate"].upstream_task_ids == {"dbt_build"}


def test_import_does_no_io(monkeypatch, tmp_path: Path, dbt_manifest: Path) -> None:
    """Parsing the DAGs neither creates PINLAKE_HOME nor starts anything."""
    home = tmp_path / "home-that-must-not-appear"
    _load(monkeypatch, PINLAKE_HOME=str(home))
    assert not home.exists()


def test_sink_fails_clearly_when_services_are_down(monkeypatch, tmp_path: Path) -> None:
    from airflow.exceptions import AirflowFailException
    from pinlake_dags import tasks

    from pinlake.config import get_settings
    from pinlake.services.process import free_ports

    broker_port, api_port = free_ports(2)
    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{broker_port}")
    monkeypatch.setenv("PINLAKE_API__PORT", str(api_port))
    get_settings.cache_clear()
    with pytest.raises(AirflowFailException, match="pinlake services are not up") as info:
        tasks.sink_once()
    # the command to paste into a shell: this install's script, whatever the shell's PATH (the
    # worker's has the venv; the shell reading the task's log may not)
    script = Path(sys.executable).parent / "pinlake"
    assert f"Start them with `PINLAKE_HOME={tmp_path / 'home'} {script} services up`" in str(
        info.value
    )
    # a bucket on this home's S3 server (AWS_ENDPOINT_URL at PINLAKE_S3__PORT): with --s3, as
    # the banner's line (helper-110: pasted without it, the next try failed on the S3 server)
    (s3_port,) = free_ports(1)
    monkeypatch.setenv("PINLAKE_BUCKET", "s3://pinlake-topics")
    monkeypatch.setenv("PINLAKE_S3__PORT", str(s3_port))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{s3_port}")
    get_settings.cache_clear()
    with pytest.raises(AirflowFailException) as info:
        tasks.sink_once()
    assert f"{script} services up --s3` (and the other" in str(info.value)
    # and the home's other services the tasks are set to use, as the banner's line (helper-110:
    # it gave --s3 alone): the Thrift target (with its metastore), the metastore server, the
    # cluster's master; not a metastore or master elsewhere
    ms_port, master_port = free_ports(2)
    monkeypatch.setenv("PINLAKE_METASTORE_PORT", str(ms_port))
    monkeypatch.setenv("PINLAKE_SPARK_CLUSTER__PORT", str(master_port))
    cases = [
        ({"PINLAKE_DBT_TARGET": "thrift"}, "--s3 --thrift"),
        (
            {"PINLAKE_METASTORE_URL": f"jdbc:derby://localhost:{ms_port}/metastore_db"},
            "--s3 --metastore",
        ),
        ({"PINLAKE_SPARK_MASTER": f"spark://127.0.0.1:{master_port}"}, "--s3 --spark-cluster"),
        (
            {
                "PINLAKE_DBT_TARGET": "thrift",
                "PINLAKE_METASTORE_URL": f"jdbc:derby://127.0.0.1:{ms_port}/metastore_db",
                "PINLAKE_SPARK_MASTER": f"spark://127.0.0.1:{master_port}",
            },
            "--s3 --thrift --spark-cluster",
        ),
        ({"PINLAKE_METASTORE_URL": "jdbc:postgresql://db.example:5432/metastore"}, "--s3"),
        ({"PINLAKE_METASTORE_URL": f"jdbc:derby://127.0.0.1:{ms_port + 1}/db"}, "--s3"),
        ({"PINLAKE_SPARK_MASTER": f"spark://10.0.0.7:{master_port}"}, "--s3"),
    ]
    for env, options in cases:
        with monkeypatch.context() as patched:
            for name, value in env.items():
                patched.setenv(name, value)
            get_settings.cache_clear()
            with pytest.raises(AirflowFailException) as info:
                tasks.sink_once()
        assert f"{script} services up {options}` (and the other" in str(info.value), env
    get_settings.cache_clear()


def test_a_task_logs_a_variable_nothing_reads(monkeypatch, tmp_path: Path, caplog) -> None:
    """The DAGs' settings warn about a misspelt ``PINLAKE_*`` variable as the CLI does."""
    from pinlake_dags import common

    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PINLAKE_BUCKT", "s3://pinlake/lake")  # the field is PINLAKE_BUCKET
    with caplog.at_level("WARNING", logger=common.log.name):
        assert common.settings().home == tmp_path / "home"
    assert [r.getMessage() for r in caplog.records if r.name == common.log.name] == [
        "PINLAKE_BUCKT is not a pinlake variable (PINLAKE_BUCKET?)"
    ]


def test_a_task_with_settings_pinlake_refuses_fails_in_one_line_without_retries(
    monkeypatch, tmp_path: Path
) -> None:
    """A task whose environment holds a setting pinlake refuses failed with pydantic's error,
    and was retried on the same environment; it fails at once with the CLI's line (the kind of
    helper-112's finding, whose ``make airflow`` now refuses such a value before Airflow
    starts)."""
    from airflow.exceptions import AirflowFailException
    from pinlake_dags import common

    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PINLAKE_API__PORT", "abc")
    with pytest.raises(AirflowFailException) as failed:
        common.settings()
    assert str(failed.value) == (
        "invalid settings: PINLAKE_API__PORT='abc': Input should be a valid integer, unable to "
        "parse string as an integer"
    )


# ---- pinterest_databricks ----------------------------------------------------------------------
def test_databricks_dag(dagbag, dbt_manifest: Path) -> None:
    from cosmos.profiles import DatabricksTokenProfileMapping

    dag = dagbag.dags["pinterest_databricks"]
    models, tested = _models(dbt_manifest), _has_tests(dbt_manifest)
    t = dag.task_dict
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert all(task.retries >= 0 for task in dag.tasks)
    assert t["load"].retries == 2
    assert [r.task_id for r in dag.roots] == ["load"]
    assert t["load"].databricks_conn_id == "databricks_default"
    # the seeds right after load; clean geo / pin / user in parallel, once load and the seeds
    # they read are done
    seeds = _seeds(dbt_manifest)
    assert seeds == {"age_groups", "categories", "pin_placeholders"}
    for seed in seeds:
        assert t[f"clean.{seed}.seed"].upstream_task_ids == {"load"}
    for model in STAGING:
        run = t[f"clean.{model}.run"]
        before = run.get_flat_relative_ids(upstream=True)
        assert "load" in before and before - {"load"} <= {
            f"clean.{seed}.{step}" for seed in seeds for step in ("seed", "test")
        }, model
        assert run.pool == "default_pool"
    # then every mart, after all of clean
    for model, schema in models.items():
        if schema == "staging":
            continue
        task = t[_run_id("marts", model, tested)]
        upstream = task.get_flat_relative_ids(upstream=True)
        assert {f"clean.{s}.test" for s in STAGING} <= upstream, model
        assert task.pool == "default_pool"
        profile = task.profile_config
        assert profile.target_name == "databricks"
        assert isinstance(profile.profile_mapping, DatabricksTokenProfileMapping)
        assert profile.profile_mapping.conn_id == "databricks_default"
    assert sorted(m for m, s in models.items() if s == "marts") == list(MART_MODELS)
    sql = " ".join(t["load"].sql)
    assert "copy into raw.`pin`" in sql
    # the load reads the topics-bucket layout of pinlake.bucket.layout, not a copy of it
    from pinlake.bucket.layout import OFFSET_SQL_REGEX, PARTITION_SQL_REGEX

    assert "{{ params.bucket_url }}/topics/pinterest.pin/" in sql
    assert f"'{PARTITION_SQL_REGEX}'" in sql and f"'{OFFSET_SQL_REGEX}'" in sql


def test_databricks_load_sql_is_the_bucket_layout(dagbag) -> None:
    """Every table's COPY INTO reads its topic folder of the layout module (rendered for an S3
    bucket), only the layout's files, and takes partition and first offset with the module's
    patterns, which extract them from a real layout name; the DAG restates none of them."""
    import re

    import jinja2

    from pinlake.bucket import layout
    from pinlake.config import TABLES, Settings

    dag = dagbag.dags["pinterest_databricks"]
    bucket_url = "s3://pinlake-topics/prod"
    rendered = [
        jinja2.Template(statement).render(params={"bucket_url": bucket_url}, run_id="r1")
        for statement in dag.task_dict["load"].sql
    ]
    bucket = layout.location(bucket_url)
    for table in TABLES:
        topic = Settings().topic(table)
        (copy,) = [sql for sql in rendered if sql.startswith(f"copy into raw.`{table}`")]
        assert f"from '{layout.topic_dir(bucket, topic)}/')" in copy
        assert f"pattern = '{layout.FILE_SQL_GLOB}'" in copy
        name = str(layout.file_path(bucket, topic, 3, 1200))
        partition = re.search(layout.PARTITION_SQL_REGEX, name)[1]
        offset = re.search(layout.OFFSET_SQL_REGEX, name.rsplit("/", 1)[1])[1]
        assert (int(partition), int(offset)) == (3, 1200)
    source = (DAGS / "pinterest_databricks.py").read_text()
    load_sql = source[source.index("def _copy_into") : source.index("with DAG(")]
    for restated in ("partition=", "[0-9]", ".json", "topics/"):
        assert restated not in load_sql, restated


def test_batch_multi_parent_tests_run_after_all_their_parents(dagbag, dbt_manifest: Path) -> None:
    """Relationships and singular tests over several models get a task after all of them;
    a model's own test task selects cautiously, so it never runs a test of an unbuilt model."""
    from cosmos.constants import TestIndirectSelection

    dag = dagbag.dags["pinterest_batch"]
    tested = _has_tests(dbt_manifest)
    nodes = json.loads(dbt_manifest.read_text())["nodes"].values()
    multi = [
        n
        for n in nodes
        if n["resource_type"] == "test"
        and len({d for d in n["depends_on"]["nodes"] if d.startswith("model.")}) > 1
    ]
    for node in multi:
        task = dag.task_dict[f"dbt.{node['name']}_test"]
        upstream = task.get_flat_relative_ids(upstream=True)
        for parent in {d.rsplit(".", 1)[-1] for d in node["depends_on"]["nodes"]}:
            if parent in tested:
                assert _last(dag, "dbt", parent, tested).task_id in upstream, node["name"]
        assert task.retries == 0
    selection = dag.task_dict["dbt.stg_pinterest__pins.test"].indirect_selection
    assert selection == TestIndirectSelection.CAUTIOUS.value


# ---- pinterest_stream -------------------------------------------------------------------------
def test_stream_dag_lands_then_builds_every_five_minutes(dagbag) -> None:
    dag = dagbag.dags["pinterest_stream"]
    assert dag.schedule == "*/5 * * * *"
    assert (dag.catchup, dag.max_active_runs) == (False, 1)
    assert set(dag.task_dict) == {"stream", "dbt_build"}
    assert dag.task_dict["stream"].downstream_task_ids == {"dbt_build"}
    assert {t.pool for t in dag.tasks} == {SPARK_POOL}  # embedded Derby: one at a time
    raw = {a.uri for a in dag.task_dict["stream"].outlets}
    assert raw == {
        "pinlake://raw/stream_pin",
        "pinlake://raw/stream_geo",
        "pinlake://raw/stream_user",
    }
    marts = {a.uri for a in dag.task_dict["dbt_build"].outlets}
    assert marts == {f"pinlake://marts/{name}" for name in MART_MODELS}
    assert {f"pinlake://marts/{name}" for name in (*PUBLISHED_MARTS, ENTITY_MART)} <= marts


def test_stream_dag_schedule_and_pool_follow_the_environment(monkeypatch) -> None:
    bag = _load(
        monkeypatch, PINLAKE_AIRFLOW_STREAM_SCHEDULE="none", PINLAKE_DBT_TARGET="databricks"
    )
    dag = bag.dags["pinterest_stream"]
    assert dag.schedule is None
    assert {t.pool for t in dag.tasks} == {"default_pool"}  # a server target runs concurrently


def test_stream_task_leaves_the_topics_to_a_running_continuous_query(
    dagbag, monkeypatch, tmp_path
) -> None:
    """With the continuous query running on the home, the DAG's stream task starts no second
    query (its checkpoint is taken): it ends in Airflow's skipped state with the reason
    (helper-110: it ended ``success``, with an XCom that said skipped), and the dbt build goes
    on after it."""
    import os

    from airflow.exceptions import AirflowSkipException
    from pinlake_dags import tasks

    from pinlake.services import process

    home = tmp_path / "home"
    monkeypatch.setenv("PINLAKE_HOME", str(home))
    run = home / "run"
    run.mkdir(parents=True)
    process.pid_file(run, "stream").write_text(f"{os.getpid()}\n")  # a live pid

    with pytest.raises(AirflowSkipException) as skipped:
        tasks.stream_catch_up()

    assert str(skipped.value) == (
        f"the continuous stream query (pid {os.getpid()}) lands the stream topics"
    )
    # a skipped stream task does not skip the build (the default rule, all_success, would)
    assert dagbag.dags["pinterest_stream"].task_dict["dbt_build"].trigger_rule == "none_failed"


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("PINLAKE_AIRFLOW_RETRIES", "abc", "want a whole number from 0 to 31,536,000"),
        ("PINLAKE_AIRFLOW_RETRIES", "-1", "want a whole number from 0 to 31,536,000"),
        ("PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS", "nan", "want a number of seconds from 0 to"),
        ("PINLAKE_DBT_TARGET", "bogus", "want one of local, thrift, databricks"),
        # read in any case, as the tasks' settings read it (it was not seen at all)
        ("pinlake_dbt_target", "bogus", "want one of local, thrift, databricks"),
    ],
)
def test_a_dag_variable_that_cannot_work_fails_the_import_naming_it(
    monkeypatch, name, value, why
) -> None:
    """``PINLAKE_AIRFLOW_RETRIES=abc`` failed every DAG's import with ``invalid literal for
    int()``, naming neither variable nor value; ``-1`` and a bogus dbt target were taken
    (helper-56). Each import error now names the variable and its value."""
    from airflow.models.dagbag import DagBag

    monkeypatch.setenv(name, value)
    bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    assert bag.import_errors, "imported"
    for error in bag.import_errors.values():
        assert f"{name}={value!r}: {why}" in error, error


def test_the_dags_render_the_dbt_project_without_a_warning(monkeypatch, dbt_manifest) -> None:
    """Cosmos logged "Unavailable conversion function for <DbtResourceType.EXPOSURE>" for each
    of the project's exposures, at every parse of a DAG (every task's log): the task groups
    render the seeds and models and leave the exposures, which have nothing to run, out."""
    import logging

    exposures = json.loads(dbt_manifest.read_text())["exposures"]
    assert len(exposures) >= 2  # the report and the notebook: what was rendered before
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    graph = logging.getLogger("cosmos.airflow.graph")  # Cosmos' renderer (cosmos.log.get_logger)
    graph.addHandler(handler)
    try:
        bag = _load(monkeypatch)
    finally:
        graph.removeHandler(handler)
    assert {"pinterest_batch", "pinterest_databricks"} <= set(bag.dags)
    assert [record.getMessage() for record in records] == []


def test_the_stream_dags_tasks_go_first_in_the_spark_pool(dagbag) -> None:
    """helper-61: in the one-slot pool a batch run's tasks (weighted by their downstream tasks)
    always went before the stream task: a stream run waited 32 minutes, and the scheduled runs
    timed out without running a task. The stream DAG's tasks outweigh every batch task."""
    stream = dagbag.dags["pinterest_stream"]
    batch = dagbag.dags["pinterest_batch"]
    # a batch task's weight: its own and its downstream tasks' (Airflow's "downstream" rule)
    assert {(_rule(task), task.priority_weight) for task in batch.tasks} == {("downstream", 1)}
    heaviest = len(batch.tasks)
    for task in stream.tasks:
        assert task.pool == SPARK_POOL, task.task_id
        assert (_rule(task), task.priority_weight > heaviest) == ("absolute", True)


def _rule(task) -> str:
    """A task's weight rule by Airflow's name for it (the SDK gives a strategy object)."""
    rule = task.weight_rule
    if isinstance(rule, str):
        return rule
    return type(rule).__name__.removeprefix("_").removesuffix("PriorityWeightStrategy").lower()
