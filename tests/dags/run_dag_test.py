"""``dag.test()`` of one DAG in a process of its own; writes the outcome as JSON.

Used by the end-to-end tests: every task runs in this one process (so land, the dbt tasks and
export share one Spark JVM and one Derby metastore connection) and the JVM ends with it, leaving
the PINLAKE_HOME free for the next process.

``dag.test()`` builds a new in-process Execution API app (FastAPI) for every task it runs, about
a second of CPU each; a scheduler talks to one long-running API server instead, so this harness
builds it once per run (``supervisor.in_process_api_server``, cached). Nothing else changes.

Usage: ``python run_dag_test.py DAG_ID OUT.json [TASK_ID ...]``. With task ids, the run is of
``dag.partial_subset(TASK_IDS, include_upstream=True, include_downstream=True)``: the named tasks,
everything they need and everything that needs them (what ``airflow tasks clear -u -d`` selects).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(dag_id: str, out: Path, task_ids: list[str]) -> None:
    import functools

    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time import supervisor
    from airflow.utils.cli import get_bagged_dag
    from airflow.utils.session import create_session

    supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)
    # what `airflow dags test` does: parse the dags-folder bundle and store it (serialized)
    dag = get_bagged_dag(bundle_names=None, dag_id=dag_id)
    if task_ids:
        missing = sorted(set(task_ids) - set(dag.task_dict))
        assert not missing, f"no such task in {dag_id}: {missing}"
        dag = dag.partial_subset(task_ids, include_upstream=True, include_downstream=True)
    dag_run = dag.test()
    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id
        )
        states = {ti.task_id: str(ti.state) if ti.state else None for ti in tis}
    out.write_text(
        json.dumps({"run_id": dag_run.run_id, "state": str(dag_run.state), "tasks": states})
    )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
