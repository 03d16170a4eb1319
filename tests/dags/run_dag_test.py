"""``dag.test()`` runs in a process of their own; writes each outcome as JSON.

Used by the end-to-end tests: every task runs in this one process (so the stream catch-up, land,
the dbt tasks and export share one Spark JVM and one Derby metastore connection) and the JVM ends
with it, leaving the PINLAKE_HOME free for the next process. Several runs (of one DAG or of
several) can share the process (and so the JVM, the imports and the parsed DAGs): it reads one
request per line on stdin, runs it, writes the outcome, and exits when stdin closes.

``dag.test()`` builds a new in-process Execution API app (FastAPI) for every task it runs, about
a second of CPU each; a scheduler talks to one long-running API server instead, so this harness
builds it once per process (``supervisor.in_process_api_server``, cached). Each task starts
with the objects already alive frozen out of the garbage collector's scans, as a task process of
its own would have them (:func:`frozen_heap`). And the LocalExecutor's shutdown waits a bounded
time for its workers (:func:`bounded_end`). Nothing else changes.

With ``"executor": true`` the run is ``dag.test(use_executor=True)`` instead: this process only
schedules (the same loop) and hands each ready task to the configured executor (Airflow's
LocalExecutor: ``AIRFLOW__CORE__PARALLELISM`` worker processes, each task in a process of its own
that parses the DAG file and reports to the Execution API server at
``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``; tests/airflow_env.py ``DagTestProcess`` sets all
that up), so independent tasks run at the same time, as under a scheduler.

A request ``{"out": "OUT.json", "dbt": [ARGS]}`` runs ``dbt ARGS`` in this process instead
(:func:`dbt`): on the same JVM and metastore as the DAG runs' dbt tasks, which is what the
project's unit tests need (their models' parents, built by a DAG run, hold the home's tables).

Usage: ``python run_dag_test.py`` with requests ``{"out": "OUT.json", "dag_id": DAG_ID,
"task_ids": [...], "downstream": true, "upstream": true, "executor": false}`` on stdin. With task
ids, the run is of ``dag.partial_subset(TASK_IDS, include_upstream=True,
include_downstream=DOWNSTREAM)``: the named tasks, everything they need and (unless
``downstream`` is false) everything that needs them (what ``airflow tasks clear -u -d``
selects); ``upstream`` false: nothing upstream of them (their inputs exist already).
``OUT.json``: ``{"run_id", "state", "tags": [the DAG's tags], "tasks": {task id: state},
"seconds": {task id: wall seconds}, "intervals": {task id: [start, end]} (ISO 8601, UTC, as
Airflow recorded them), "pools": {task id: pool}, "xcom": {task id: return value}}``, written
atomically when the run ends (an error: ``{"error": ...}``).
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path


def subset(dag, task_ids: list[str], downstream: bool, upstream: bool):  # noqa: ANN001, ANN201
    """The sub-DAG of ``task_ids`` (module docstring)."""
    if upstream:
        return dag.partial_subset(task_ids, include_upstream=True, include_downstream=downstream)
    chosen = set(task_ids)
    if downstream:
        chosen |= {d for t in task_ids for d in dag.task_dict[t].get_flat_relative_ids()}
    return dag.partial_subset(sorted(chosen), include_upstream=False, include_downstream=False)


def run(
    dag_id: str,
    task_ids: list[str],
    downstream: bool = True,
    upstream: bool = True,
    executor: bool = False,
) -> dict:
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
        dag = subset(dag, task_ids, downstream, upstream)
    dag_run = dag.test(use_executor=executor)
    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == dag_run.run_id
        )
        states = {ti.task_id: str(ti.state) if ti.state else None for ti in tis}
        seconds = {ti.task_id: ti.duration for ti in tis if ti.duration is not None}
        intervals = {
            ti.task_id: [ti.start_date.isoformat(), ti.end_date.isoformat()]
            for ti in tis
            if ti.start_date is not None and ti.end_date is not None
        }
        pools = {ti.task_id: ti.pool for ti in tis}
        returned = session.query(XComModel).filter(
            XComModel.dag_id == dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == "return_value",
        )
        xcom = {x.task_id: XComModel.deserialize_value(x) for x in returned}
    return {
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "tags": sorted(dag.tags),
        "tasks": states,
        "seconds": seconds,
        "intervals": intervals,
        "pools": pools,
        "xcom": xcom,
    }


#: this process's environment as it started (:func:`dbt` runs in it)
START_ENV = dict(os.environ)


def dbt(args: list[str]) -> dict:
    """``dbt ARGS`` here (pinlake's in-process ``DbtCommand``: dbt's ``dbtRunner`` on this
    process's Spark session) in the settings of this process's environment as it started;
    ``{"returncode": 0 ok | 1 failed | 2 error, "seconds", "results": {unique id: status}}``,
    the statuses from the invocation's ``run_results.json``.

    As it started: Cosmos copies each dbt task's environment into its process's for good (its
    OpenLineage step, ``DbtLocalBaseOperator`` in cosmos/operators/local.py), so after a DAG run
    this process's environment holds the DAGs' dbt settings, ``DBT_EXCLUDE_RESOURCE_TYPES``
    among them (under a scheduler each task runs in a process of its own, and the copy ends
    with it). ``results`` is empty when dbt wrote no run results (an error before any node)."""
    from pinlake.config import Settings
    from pinlake.lakehouse.dbt import DbtCommand, dbt_env, run_dbt

    left = dict(os.environ)
    os.environ.clear()
    os.environ.update(START_ENV)
    try:
        settings = Settings()
        run_results = Path(dbt_env(settings)["DBT_TARGET_PATH"]) / "run_results.json"
        run_results.unlink(missing_ok=True)  # an earlier request's
        ended = run_dbt(settings, DbtCommand(list(args), check=False, in_process=True))
    finally:
        os.environ.clear()
        os.environ.update(left)
    results = json.loads(run_results.read_text())["results"] if run_results.is_file() else []
    return {
        "returncode": ended.returncode,
        "seconds": ended.seconds,
        "results": {r["unique_id"]: r["status"] for r in results},
    }


#: seconds :func:`bounded_end` waits for the LocalExecutor's workers to take their shutdown
#: message and exit before it terminates the rest
WORKER_EXIT_GRACE = 30.0


def bounded_end(self, grace: float | None = None) -> None:  # noqa: ANN001 - a LocalExecutor
    """``LocalExecutor.end`` with a bounded wait (Airflow 3.1.8's waits forever).

    Airflow's ``end()`` puts one shutdown message (``None``) on the activity queue per live
    worker, then joins each worker with no timeout. Now and then a worker never gets its
    message and waits on the queue for ever, idle, and ``dag.test()`` with it (seen here after a
    run whose three tasks had all succeeded; Airflow's own test of ``end()`` has the same hang,
    apache/airflow#45329, and #67870/#67881 bound the join and drain the result queue). This
    version sends the same messages, joins each worker for at most ``grace`` seconds in all
    (default :data:`WORKER_EXIT_GRACE`) while reading results, and then kills the workers still
    alive, which are idle by then: ``end()`` runs after the last task has reported. Each
    one killed is reported on stderr."""
    grace = WORKER_EXIT_GRACE if grace is None else grace
    self.log.info("Shutting down LocalExecutor (bounded: %.0f s for the workers to exit)", grace)
    for proc in self.workers.values():
        if proc.is_alive():
            self.activity_queue.put(None)
    deadline = time.monotonic() + grace
    for proc in self.workers.values():
        while proc.is_alive() and time.monotonic() < deadline:
            self._read_results()
            proc.join(timeout=0.2)
        if proc.is_alive():
            print(
                f"LocalExecutor worker {proc.pid} missed its shutdown message: terminated",
                file=sys.stderr,
                flush=True,
            )
            proc.kill()  # idle: nothing to clean up
            proc.join()
        proc.close()
    self._read_results()
    self.activity_queue.close()
    self.result_queue.close()


def frozen_heap(run_task):  # noqa: ANN001, ANN201 - wraps supervisor.run_task_in_process
    """``run_task`` (``supervisor.run_task_in_process``, which ``dag.test()`` calls once per
    task) after ``gc.freeze()``: the objects alive when a task starts (the imports, the parsed
    DAGs, the Spark gateway, what the earlier tasks left) move to the permanent generation.

    Cosmos ends every dbt command with a full ``gc.collect()`` (``_cleanup_dbt_adapters`` in
    cosmos/dbt/runner.py). Under a scheduler each task is a process of its own, so that collection
    scans one task's heap; here one process runs every task, and each collection scanned all of
    it: a third of this process's Python samples in the golden run (py-spy, bench/README.md).
    Frozen, they are left out of the scan, as they would be in a task process of their own;
    what a task makes is collected as before."""

    @functools.wraps(run_task)
    def run_frozen(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        gc.freeze()
        return run_task(*args, **kwargs)

    return run_frozen


def main() -> None:
    from airflow.executors.local_executor import LocalExecutor
    from airflow.sdk.execution_time import supervisor

    supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)
    supervisor.run_task_in_process = frozen_heap(supervisor.run_task_in_process)
    LocalExecutor.end = bounded_end
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        out = Path(request["out"])
        try:
            if "dbt" in request:
                outcome = dbt(request["dbt"])
            else:
                outcome = run(
                    request["dag_id"],
                    request.get("task_ids") or [],
                    downstream=request.get("downstream", True),
                    upstream=request.get("upstream", True),
                    executor=request.get("executor", False),
                )
        except Exception:  # the test reads the error from the outcome
            outcome = {"error": traceback.format_exc()}
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(outcome))
        os.replace(tmp, out)
        print(f"run done: {out}", flush=True)


if __name__ == "__main__":
    main()
