"""The DAG-run harness (tests/dags/run_dag_test.py): its bounded LocalExecutor shutdown.

Airflow 3.1.8's ``LocalExecutor.end()`` joins its workers with no timeout, and now and then a
worker never gets its shutdown message (apache/airflow#45329): the scale-out module's DAG run
then hung after its tasks had all succeeded. The harness's ``bounded_end`` is tested here with a
real LocalExecutor (forked worker processes, Airflow's own queues) whose first shutdown message
is lost on the way, which is what the hang looked like (one idle worker waiting on the queue).
"""

from __future__ import annotations

import psutil
import pytest
from run_dag_test import bounded_end


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
