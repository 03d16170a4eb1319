"""``dag.test()`` runs in a process of their own; writes each outcome as JSON.

Used by the end-to-end tests: every task runs in this one process (so the stream catch-up, land,
the dbt tasks and export share one Spark JVM and one Derby metastore connection) and the JVM ends
with it, leaving the PINLAKE_HOME free for the next process. Several runs (of one DAG or of
several) can share the process (and so the JVM, the imports and the parsed DAGs): it reads one
request per line on stdin, runs it, writes the outcome, and exits when stdin closes.

``dag.test()`` builds a new in-process Execution API app (FastAPI) for every task it runs, about
a second of CPU each; a scheduler talks to one long-running API server instead, so this harness
builds it once per process (``supervisor.in_process_api_server``, cached). Nothing else changes.

Usage: ``python run_dag_test.py`` with requests ``{"out": "OUT.json", "dag_id": DAG_ID,
"task_ids": [...], "downstream": true}`` on stdin. With task ids, the run is of
``dag.partial_subset(TASK_IDS, include_upstream=True, include_downstream=DOWNSTREAM)``: the named
tasks, everything they need and (unless ``downstream`` is false) everything that needs them (what
``airflow tasks clear -u -d`` selects). ``OUT.json``: ``{"run_id", "state", "tasks": {task id:
state}, "seconds": {task id: wall seconds}, "xcom": {task id: return value}}``, written
atomically when the run ends (an error: ``{"error": ...}``).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def run(dag_id: str, task_ids: list[str], downstream: bool = True) -> dict:
    """One ``dag.test()`` of ``dag_id`` (or of the subset around ``task_ids``)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.cli import get_bagged_dag
    from airflow.utils.session import create_session

    # what `airflow dags test` does: parse the dags-folder bundle and store it (serialized)
    dag = get_bagged_dag(bundle_names=None, dag_id=dag_id)
    if task_ids:
        missing = sorted(set(task_ids) - set(dag.task_dict))
        assert not missing, f"no such task in {dag_id}: {missing}"
        dag = dag.partial_subset(task_ids, include_upstream=True, include_downstream=downstream)
    dag_run = dag.test()
    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id
        )
        states = {ti.task_id: str(ti.state) if ti.state else None for ti in tis}
        seconds = {ti.task_id: ti.duration for ti in tis if ti.duration is not None}
        returned = session.query(XComModel).filter(
            XComModel.dag_id == dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == "return_value",
        )
        xcom = {x.task_id: XComModel.deserialize_value(x) for x in returned}
    return {
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "tasks": states,
        "seconds": seconds,
        "xcom": xcom,
    }


def main() -> None:
    import functools

    from airflow.sdk.execution_time import supervisor

    supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        out = Path(request["out"])
        try:
            outcome = run(
                request["dag_id"], request.get("task_ids") or [], request.get("downstream", True)
            )
        except Exception:  # the test reads the error from the outcome
            outcome = {"error": traceback.format_exc()}
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(outcome))
        os.replace(tmp, out)
        print(f"run done: {out}", flush=True)


if __name__ == "__main__":
    main()
