"""pinterest_databricks: the cloud variant, mirroring the original AWS/Databricks pipeline.

    load (COPY INTO raw.pin / raw.geo / raw.user from the S3 topics bucket)
      -> clean: the seeds, then stg_pinterest__geolocations, stg_pinterest__pins,
         stg_pinterest__users in parallel
      -> marts: the entity mart ``pins``, then the rpt_* marts

Everything runs on Databricks through the ``databricks_default`` Airflow connection (host,
token, and ``http_path`` of a SQL warehouse or cluster in its extras): the load with the
Databricks provider's ``DatabricksSqlOperator``, the dbt models (``databricks`` target of the same
project) with Cosmos and ``DatabricksTokenProfileMapping``. Models run in parallel (no pool).
The topics bucket is the ``bucket_url`` param (the Confluent S3 sink layout of ``pinlake sink``).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from airflow.providers.databricks.operators.databricks_sql import DatabricksSqlOperator
from airflow.sdk import DAG, Asset, Param

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from pinlake_dags.common import RAW_TABLES, default_args, settings  # noqa: E402
from pinlake_dags.cosmos_setup import (  # noqa: E402
    configure_test_tasks,
    databricks_profile_config,
    dbt_task_group,
    manifest_available,
    missing_manifest_task,
)

CONN_ID = "databricks_default"


def _copy_into(table: str) -> list[str]:
    """SQL that creates ``raw.<table>`` and loads new bucket files into it (idempotent)."""
    from pinlake.bucket.layout import (
        FILE_SQL_GLOB,
        OFFSET_SQL_REGEX,
        PARTITION_SQL_REGEX,
        TOPICS_DIR,
    )
    from pinlake.schemas import RESCUED_DATA, raw_payload_ddl, raw_table_ddl

    columns = []
    for part in raw_payload_ddl(table).split(", "):
        name, type_ = part.rsplit(" ", 1)
        columns.append(f"cast({name} as {type_}) as {name}")
    topic = settings().topic(table)
    select = ", ".join(
        [
            *columns,
            # COPY INTO reads the declared fields only: an undeclared one is not kept here
            # (the local land keeps it, pinlake.lakehouse.records.rescued_data)
            f"cast(null as string) as {RESCUED_DATA}",
            f"'{topic}' as _topic",
            f"cast(regexp_extract(_metadata.file_path, '{PARTITION_SQL_REGEX}', 1) as int)"
            " as _partition",
            # first offset of the file (the local land adds the line index)
            f"cast(regexp_extract(_metadata.file_name, '{OFFSET_SQL_REGEX}', 1) as bigint)"
            " as _offset",
            # Spark's JSON reader makes a row per element of an array line without its position
            "cast(null as int) as _element",
            "_metadata.file_path as _source_file",
            "'{{ run_id }}' as _load_id",
            "current_timestamp() as _ingested_at",
        ]
    )
    return [
        f"create table if not exists raw.`{table}` ({raw_table_ddl(table)}) using delta",
        f"copy into raw.`{table}` from (select {select} "
        f"from '{{{{ params.bucket_url }}}}/{TOPICS_DIR}/{topic}/') fileformat = json "
        # only the layout's files (a stray object in the topic folder is not loaded)
        f"pattern = '{FILE_SQL_GLOB}'",
    ]


with DAG(
    dag_id="pinterest_databricks",
    description="S3 topics bucket -> Databricks raw Delta -> dbt (databricks target) -> marts",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params={
        "bucket_url": Param(
            "s3://pinlake-topics",
            type="string",
            description="The topics bucket: <bucket>/topics/<topic>/partition=<p>/*.json "
            "(the Confluent S3 sink layout of pinlake.bucket.layout)",
        )
    },
    tags=["pinlake", "databricks", "cloud"],
    doc_md=__doc__,
) as dag:
    load = DatabricksSqlOperator(
        task_id="load",
        databricks_conn_id=CONN_ID,
        sql=["create schema if not exists raw"]
        + [statement for table in RAW_TABLES for statement in _copy_into(table)],
        outlets=[
            Asset(name=f"pinlake.databricks.raw.{t}", uri=f"pinlake-databricks://raw/{t}")
            for t in RAW_TABLES
        ],
    )

    if manifest_available():
        profile = databricks_profile_config(CONN_ID)
        # the seeds (the rules' data) load with staging, which reads them
        clean = dbt_task_group("clean", profile, None, select=["path:seeds", "path:models/staging"])
        marts = dbt_task_group("marts", profile, None, select=["path:models/marts"])
        for group in (clean, marts):
            configure_test_tasks(dag, group.group_id)
        load >> clean >> marts
    else:
        load >> missing_manifest_task("dbt_build")
