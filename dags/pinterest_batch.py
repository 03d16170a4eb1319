"""pinterest_batch: the local batch pipeline, one run per schedule interval.

    sink (once) -> land -> dbt source freshness -> dbt models (seeds, staging -> marts,
    each model a ``run`` task then its ``test`` task, rendered by Cosmos) -> export
                                                                         -> dbt docs generate

``dbt_docs_generate`` refreshes the dbt docs (``$PINLAKE_HOME/dbt/target``, served by
``pinlake dbt docs serve``) once the models are built, so the catalog shows this run's tables.

The services (Kafka broker + ingestion API) must be up: ``sink`` checks them first and fails with
a clear message if they are not. With the embedded ``local`` dbt target (Spark + Derby metastore,
one process at a time) every Spark task is in the one-slot pool ``pinlake_spark`` and only one run
is active; with ``PINLAKE_DBT_TARGET=thrift`` (or databricks) independent models run in parallel.

Configuration (environment of the scheduler / DAG processor): ``PINLAKE_AIRFLOW_SCHEDULE``
(default ``@daily``), ``PINLAKE_AIRFLOW_RETRIES`` (2), ``PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS``
(300), ``PINLAKE_DBT_TARGET`` (local), ``PINLAKE_DBT_MANIFEST`` (default ``<repo>/target/
manifest.json``). ``PINLAKE_HOME`` etc. are read by the tasks at run time.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

# The helper package next to this file (Airflow's DAG processor puts the bundle root on sys.path,
# a plain DagBag or `airflow dags test` may not).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from pinlake_dags import tasks  # noqa: E402
from pinlake_dags.common import (  # noqa: E402
    MART_SCHEMA,
    RAW_ASSETS,
    SPARK_POOL,
    batch_schedule,
    dbt_target,
    default_args,
    mart_asset,
    uses_embedded_spark,
)
from pinlake_dags.cosmos_setup import (  # noqa: E402
    configure_test_tasks,
    dbt_task_group,
    gate_on_detached_tests,
    group_cache_dir,
    local_profile_config,
    manifest_available,
    missing_manifest_task,
    model_schema,
    model_tasks,
    source_freshness_operator,
)

TARGET = dbt_target()
SPARK_TASK_POOL = SPARK_POOL if uses_embedded_spark(TARGET) else None
POOL_ARGS = {"pool": SPARK_TASK_POOL} if SPARK_TASK_POOL else {}

with DAG(
    dag_id="pinterest_batch",
    description="Kafka -> topics bucket -> raw Delta -> dbt (Spark SQL) -> marts -> CSV export",
    schedule=batch_schedule(),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["pinlake", "batch", f"dbt:{TARGET}"],
    doc_md=__doc__,
) as dag:

    @task(task_id="sink")
    def sink() -> dict:
        """Check the services, then ``pinlake sink --once``."""
        return tasks.sink_once()

    @task(task_id="land", outlets=RAW_ASSETS, **POOL_ARGS)
    def land() -> dict:
        """``pinlake land``: new bucket files into raw.pin / raw.geo / raw.user."""
        return tasks.land()

    @task(task_id="export", **POOL_ARGS)
    def export(run_id: str | None = None) -> dict:
        """``pinlake export``: every mart to $PINLAKE_HOME/exports/<run id>/."""
        return tasks.export(run_id or "manual")

    @task(task_id="dbt_docs_generate", **POOL_ARGS)
    def docs_generate() -> dict:
        """``dbt docs generate``: the docs site and its catalog of this run's tables."""
        return tasks.dbt_docs_generate()

    profile = local_profile_config(TARGET)

    if manifest_available():
        dbt_build = dbt_task_group("dbt", profile, SPARK_TASK_POOL)
        configure_test_tasks(dag, dbt_build.group_id)
        gate_on_detached_tests(dag, dbt_build.group_id)
        for model, ops in model_tasks(dag, dbt_build.group_id).items():
            tests = [op for op in ops if op.task_id.endswith(".test")]
            if model_schema(ops[0]) == MART_SCHEMA:
                # The mart is published once its tests passed (or once built, if it has none).
                last = tests[-1] if tests else ops[-1]
                last.outlets = [*last.outlets, mart_asset(model)]
    else:
        dbt_build = missing_manifest_task("dbt_build", **POOL_ARGS)
    # the batch path's raw tables (the stream path's have their own DAG, pinterest_stream),
    # parsed from the dbt group's partial parse
    freshness = source_freshness_operator(
        "dbt_source_freshness",
        profile,
        SPARK_TASK_POOL,
        source="pinterest",
        cache_dir=group_cache_dir(dag, "dbt"),
    )

    sink() >> land() >> freshness >> dbt_build >> [export(), docs_generate()]
