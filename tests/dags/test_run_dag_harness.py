"""The DAG-run harness (tests/dags/run_dag_test.py): its bounded LocalExecutor shutdown, and the
frozen heap each task starts with.

Airflow 3.1.8's ``LocalExecutor.end()`` joins its workers with no timeout, and now and then a
worker never gets its shutdown message (apache/airflow#45329): the scale-out module's DAG run
then hung after its tasks had all succeeded. The harness's ``bounded_end`` is tested here with a
real LocalExecutor (forked worker processes, Airflow's own queues) whose first shutdown message
is lost on the way, which is what the hang looked like (one idle worker waiting on the queue).
"""

from __future__ import annotations

import gc
import weakref

import psutil
import pytest
from run_dag_test import bounded_end, frozen_heap


@pytest.mark.timeout(120)  # Airflow's own end() would wait here for ever
def test_bounded_end_terminates_a_worker_that_missed_its_shutdown_message(capfd) -> None:
    from airflow.executors.local_executor import LocalExecutor

    executor = LocalExecutor(parallelism=2)
    executor.start()  # fork: both workers start now, idle on the activity queue
    workers = [proc.pid for proc in executor.workers.values()]
    assert len(workers) == 2
    put = executor.activity_queue.put
    lost: list[object] = []

    def put_losing_the_first_shutdown(item: object) -> None:
        if item is None and not lost:
            lost.append(item)
            return
        put(item)

    executor.activity_queue.put = put_losing_the_first_shutdown

    bounded_end(executor, grace=2.0)

    assert lost == [None]
    assert not [pid for pid in workers if psutil.pid_exists(pid)]  # both ended, reaped
    err = capfd.readouterr().err
    assert err.count("missed its shutdown message: terminated") == 1, err


def test_each_task_starts_with_what_is_alive_frozen_and_what_it_makes_collectable() -> None:
    """``frozen_heap``: the objects alive before a task leave the collector's scans; the task's
    own garbage cycles are still collected by a full ``gc.collect()`` (Cosmos' clean-up)."""

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    before = Cycle()
    seen: dict[str, object] = {}

    def task(ti: str, task: str) -> str:
        seen["frozen"] = gc.get_freeze_count()
        seen["before tracked"] = any(o is before for o in gc.get_objects())
        made = weakref.ref(Cycle())  # garbage at once: only the collector can free a cycle
        gc.collect()
        seen["made freed"] = made() is None
        return f"{ti}/{task}"

    try:
        assert frozen_heap(task)(ti="ti", task="t") == "ti/t"  # arguments and result pass through
        assert seen["frozen"] > 0
        assert seen["before tracked"] is False  # frozen: in no generation the collector scans
        assert seen["made freed"] is True
        assert frozen_heap(task).__name__ == "task"
    finally:
        gc.unfreeze()
