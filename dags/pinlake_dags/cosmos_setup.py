"""Cosmos set-up shared by the DAGs: manifest-rendered dbt task groups and their operators.

Rendering: ``LoadMode.DBT_MANIFEST`` from a manifest written by ``dbt parse`` (no warehouse
connection, no Spark). Parsing the DAG then only reads one JSON file; ``LoadMode.DBT_LS`` would run
dbt on every DAG parse. If the manifest is missing the DAG still imports and renders a single task
that fails and says how to create it (no silent fallback to a monolithic build).

Tests: ``TestBehavior.AFTER_EACH``: every model is a ``run`` task followed by its ``test`` task
(the model's dbt data tests; the unit tests are left out of every dbt task:
``pinlake_dags.common.EXCLUDED_RESOURCE_TYPES``), so a failing test fails at that test's task
and every model downstream of it is never run.

dbt's relation cache: every dbt command starts by listing the relations of every schema the
project builds into (dbt docs, "Cache": on Spark one ``show table extended in <schema>`` each,
which reads each table's metadata). A task of one node needs at most its own schema:
``run``/``seed`` tasks cache only the schemas of what they select (``--cache-selected-only``),
``test`` and ``source freshness`` tasks cache nothing (``--no-populate-cache``: their queries name
their relations; a relation dbt has to look up is listed when it is needed). In the batch DAG's
run over the reference data that is about 125 fewer statements.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import TaskGroup, task

from pinlake_dags.common import (
    DBT_EXECUTABLE,
    DBT_PROFILE,
    DBT_PROJECT_DIR,
    PROFILES_YML,
    inject_dbt_env,
    manifest_path,
)

#: dbt global flags of a task that builds a node (``run``, ``seed``): the relation cache holds only
#: the schemas of the selected node (dbt docs, "Cache": ``--cache-selected-only``)
BUILD_FLAGS = ["--cache-selected-only"]
#: dbt global flags of a task that only reads (``test``, ``source freshness``): no relation cache
#: is built (``--no-populate-cache``); a relation the task looks up is listed when it is needed
CHECK_FLAGS = ["--no-populate-cache"]

MANIFEST_HINT = (
    "run `make airflow` (it runs `dbt parse`), or `.venv/bin/dbt parse` in the repository root, "
    "or point PINLAKE_DBT_MANIFEST at a manifest.json"
)


def manifest_available() -> bool:
    """Whether dbt's manifest (:func:`manifest_path`) exists: Cosmos builds the task groups
    from it, else the DAG holds :func:`missing_manifest_task`."""
    return manifest_path().is_file()


def missing_manifest_task(task_id: str, **task_kwargs: Any):  # noqa: ANN201
    """A stand-in for the dbt task group that fails with a clear message."""
    path = str(manifest_path())

    @task(task_id=task_id, retries=0, **task_kwargs)
    def dbt_manifest_missing() -> None:
        from airflow.exceptions import AirflowFailException

        raise AirflowFailException(
            f"dbt manifest not found at {path}, so the dbt models could not be rendered as "
            f"tasks: {MANIFEST_HINT}; the DAG re-renders on its next parse."
        )

    return dbt_manifest_missing()


def local_profile_config(target: str):  # noqa: ANN201
    """profiles.yml of the repository (no Cosmos mapping exists for dbt-spark ``session``)."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name=DBT_PROFILE, target_name=target, profiles_yml_filepath=PROFILES_YML
    )


def databricks_profile_config(conn_id: str = "databricks_default"):  # noqa: ANN201
    """Cosmos' ``ProfileConfig`` of the ``databricks`` target, from the Airflow connection
    ``conn_id`` (host, token, ``http_path`` in its extras; ``DatabricksTokenProfileMapping``)."""
    from cosmos import ProfileConfig
    from cosmos.profiles import DatabricksTokenProfileMapping

    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name="databricks",
        profile_mapping=DatabricksTokenProfileMapping(
            conn_id=conn_id,
            profile_args={"schema": "analytics", "threads": 8},
        ),
    )


def dbt_operator_args(pool: str | None) -> dict[str, Any]:
    """Arguments of every Cosmos dbt operator."""
    args: dict[str, Any] = {
        # The pinlake Assets are declared by the DAGs (stable pinlake:// URIs); Cosmos' own
        # per-model datasets are off.
        "emit_datasets": False,
        "interceptors": [inject_dbt_env],
        "append_env": True,
        "dbt_cmd_global_flags": list(BUILD_FLAGS),
    }
    if pool is not None:
        args["pool"] = pool
    return args


def execution_config():  # noqa: ANN201
    """Cosmos' ``ExecutionConfig``: dbt in the task's process (``dbtRunner``), tests selected
    cautiously (a model's test task runs the tests of that model alone)."""
    from cosmos import ExecutionConfig
    from cosmos.constants import ExecutionMode, InvocationMode, TestIndirectSelection

    # dbtRunner: dbt runs inside the task process (see pinlake_dags.tasks on why).
    # Cautious indirect selection: a model's test task runs only the tests of that model, never a
    # test that also needs a model downstream (not built yet); those multi-parent tests
    # (relationships, singular tests over several models) get a task of their own after all
    # their parents (RenderConfig.should_detach_multiple_parents_tests).
    return ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,
        dbt_executable_path=DBT_EXECUTABLE,
        test_indirect_selection=TestIndirectSelection.CAUTIOUS,
    )


def project_config():  # noqa: ANN201
    """Cosmos' ``ProjectConfig`` of this repository's dbt project, read from its manifest
    (:func:`manifest_path`)."""
    from cosmos import ProjectConfig

    return ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        manifest_path=manifest_path(),
        project_name=DBT_PROFILE,
        install_dbt_deps=False,
    )


def dbt_task_group(
    group_id: str,
    profile_config: Any,
    pool: str | None,
    select: list[str] | None = None,
    **kwargs: Any,
) -> TaskGroup:
    """A Cosmos ``DbtTaskGroup`` of the selected nodes (default: the seeds, which staging and
    the marts read, and every model), rendered from the manifest."""
    from cosmos import DbtTaskGroup, RenderConfig
    from cosmos.constants import LoadMode, TestBehavior

    return DbtTaskGroup(
        group_id=group_id,
        project_config=project_config(),
        profile_config=profile_config,
        execution_config=execution_config(),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            should_detach_multiple_parents_tests=True,
            select=select or ["path:seeds", "path:models"],
            # exposures (the report, the notebook) have nothing to run: without this Cosmos
            # logs "Unavailable conversion function" for each at every parse of the DAG
            exclude=["resource_type:exposure"],
        ),
        operator_args=dbt_operator_args(pool),
        **kwargs,
    )


def source_freshness_operator(  # noqa: ANN201
    task_id: str,
    profile_config: Any,
    pool: str | None,
    source: str,
    cache_dir: Path | None = None,
):
    """``dbt source freshness --select source:<source>`` (one delivery path's raw tables), with
    no relation cache (:data:`CHECK_FLAGS`). ``cache_dir``: the Cosmos cache of a dbt task group
    of the same project (:func:`group_cache_dir`), whose partial parse the task starts from;
    None parses the whole project in every run (Cosmos gives a cache only to its groups)."""
    from cosmos.operators.local import DbtSourceLocalOperator

    return DbtSourceLocalOperator(
        task_id=task_id,
        select=f"source:{source}",
        project_dir=str(DBT_PROJECT_DIR),
        profile_config=profile_config,
        invocation_mode=execution_config().invocation_mode,
        dbt_executable_path=str(DBT_EXECUTABLE),
        cache_dir=cache_dir,
        **{**dbt_operator_args(pool), "dbt_cmd_global_flags": list(CHECK_FLAGS)},
    )


def group_cache_dir(dag: Any, group_id: str) -> Path | None:
    """The Cosmos cache folder (partial parse) of the dbt task group ``group_id``, as Cosmos
    gave it to the group's operators; None when Cosmos' cache is off or the group has no dbt
    task (no manifest). Reads no file."""
    for task_id, op in dag.task_dict.items():
        if task_id.startswith(f"{group_id}.") and getattr(op, "cache_dir", None) is not None:
            return Path(op.cache_dir)
    return None


def model_tasks(dag: Any, group_id: str) -> dict[str, list[Any]]:
    """``{model name: [its run/test tasks]}`` of a rendered Cosmos group (Cosmos' node info)."""
    out: dict[str, list[Any]] = {}
    for task_id, op in dag.task_dict.items():
        node = (getattr(op, "extra_context", None) or {}).get("dbt_node_config") or {}
        if task_id.startswith(f"{group_id}.") and node.get("resource_type") == "model":
            out.setdefault(node["resource_name"], []).append(op)
    return out


def configure_test_tasks(dag: Any, group_id: str) -> None:
    """What every ``test`` task of a group gets besides the group's operator arguments: no
    retries (a failing dbt data test is not transient: its task fails at once) and no relation
    cache (:data:`CHECK_FLAGS`; the group's operators get :data:`BUILD_FLAGS`)."""
    from cosmos.operators.local import DbtTestLocalOperator

    for task_id, op in dag.task_dict.items():
        if task_id.startswith(f"{group_id}.") and isinstance(op, DbtTestLocalOperator):
            op.retries = 0
            op.dbt_cmd_global_flags = list(CHECK_FLAGS)


def gate_on_detached_tests(dag: Any, group_id: str) -> None:
    """``dbt build``'s rule for the tests Cosmos runs as tasks of their own (tests over several
    nodes, such as a ``relationships`` test to a seed): what is downstream of the model a test is
    attached to waits for that test, so a failing test on staging spares the marts as in ``dbt
    build`` (dbt docs, "About dbt build": tests on upstream resources block downstream ones, and
    a failure skips them). Tests
    attached to no model (singular tests over several marts) gate nothing. Raises nothing; a
    test without a manifest entry is left as Cosmos rendered it."""
    nodes = json.loads(manifest_path().read_text())["nodes"]
    last = {
        model: next((op for op in ops if op.task_id.endswith(".test")), ops[-1])
        for model, ops in model_tasks(dag, group_id).items()
    }
    for task_id, op in list(dag.task_dict.items()):
        node = (getattr(op, "extra_context", None) or {}).get("dbt_node_config") or {}
        if not task_id.startswith(f"{group_id}.") or _resource_type(op) != "test":
            continue
        attached = (nodes.get(node.get("unique_id", "")) or {}).get("attached_node") or ""
        anchor = last.get(attached.rsplit(".", 1)[-1])
        if anchor is None:
            continue
        before = op.get_flat_relative_ids(upstream=True)
        for child in list(anchor.downstream_list):
            # the model and seed tasks only: two such tests never wait for each other (their
            # order would follow the parse's hash seed, a different DAG in every process)
            if _resource_type(child) != "test" and child.task_id not in before:
                op >> child


def _resource_type(op: Any) -> str | None:
    """The dbt resource type (model, seed, test) of the node a Cosmos task runs or tests."""
    node = (getattr(op, "extra_context", None) or {}).get("dbt_node_config") or {}
    return node.get("resource_type")


def model_schema(op: Any) -> str | None:
    """The custom schema (staging, intermediate, marts) of the model a Cosmos task runs or tests."""
    node = (getattr(op, "extra_context", None) or {}).get("dbt_node_config") or {}
    return (node.get("config") or {}).get("schema")
