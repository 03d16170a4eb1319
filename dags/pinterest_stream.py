"""pinterest_stream: keeps the marts fresh from the stream path, every few minutes.

    stream (--available-now, unless the continuous query runs) -> dbt build (incremental staging)

The stream path lands Kinesis-proxy records in ``raw.stream_pin|geo|user`` (``pinlake stream``;
``pinlake services up`` runs it continuously). This DAG makes sure whatever is in the stream
topics is landed (it skips that when the continuous query runs, which lands every record within
seconds), then runs ``dbt build``: the staging models are incremental (Delta merge on ``ind``),
so a run costs in proportion to what arrived since the last one, and the marts are rebuilt from
staging. One ``dbt build`` task rather than a task per model: at a five-minute schedule the
per-task overhead would be most of the run (the batch DAG shows every model as a task).

Configuration (environment of the scheduler / DAG processor):
``PINLAKE_AIRFLOW_STREAM_SCHEDULE`` (default ``*/5 * * * *``; ``none`` for manual runs),
``PINLAKE_AIRFLOW_RETRIES`` and ``PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS`` as for the batch DAG,
``PINLAKE_DBT_TARGET`` (local). With the embedded ``local`` target both tasks use the one-slot
``pinlake_spark`` pool (the stream task holds the metastore while it registers the tables), and
they go first there (:data:`STREAM_PRIORITY`): a batch run waits a task or two for them, not
the other way round.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, task

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from pinlake_dags import tasks  # noqa: E402
from pinlake_dags.common import (  # noqa: E402
    SPARK_POOL,
    STREAM_RAW_ASSETS,
    dbt_target,
    default_args,
    mart_asset,
    mart_models,
    stream_schedule,
    uses_embedded_spark,
)

TARGET = dbt_target()
#: Before any batch task waiting for the one-slot pool (a batch task's weight is one more than
#: its downstream tasks, about 50 at most): a batch DAG run, 51 tasks of a Spark JVM each, kept
#: the stream task waiting for half an hour, and the scheduled runs timed out (helper-61).
STREAM_PRIORITY = 1_000
POOL_ARGS = {
    **({"pool": SPARK_POOL} if uses_embedded_spark(TARGET) else {}),
    "priority_weight": STREAM_PRIORITY,
    "weight_rule": "absolute",
}

with DAG(
    dag_id="pinterest_stream",
    description="Kinesis proxy -> Kafka -> Structured Streaming -> raw Delta -> incremental dbt",
    schedule=stream_schedule(),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=default_args(),
    tags=["pinlake", "stream", f"dbt:{TARGET}"],
    doc_md=__doc__,
) as dag:

    @task(task_id="stream", outlets=STREAM_RAW_ASSETS, **POOL_ARGS)
    def stream() -> dict:
        """``pinlake stream --available-now`` (skipped while the continuous query runs)."""
        return tasks.stream_catch_up()

    # after a skipped stream task too (the continuous query landed the records already)
    @task(
        task_id="dbt_build",
        outlets=[mart_asset(m) for m in mart_models()],
        trigger_rule="none_failed",
        **POOL_ARGS,
    )
    def dbt_build() -> dict:
        """``dbt build``: incremental staging, then the marts, with their data tests (the unit
        tests are CI's, as in every DAG: ``pinlake_dags.common.EXCLUDED_RESOURCE_TYPES``)."""
        return tasks.dbt_build()

    stream() >> dbt_build()
