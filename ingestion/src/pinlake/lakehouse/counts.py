"""How many records each delivery path brought, at each layer (for summaries and checks).

Per path (``batch``: ``raw.<table>``; ``stream``: ``raw.stream_<table>``) and table: rows in raw,
distinct keys among them, rows quarantined, rows of the staging model that path delivered
(staging keeps one row per ``ind``, the most complete delivery on either path and of equal ones
the first, so the two paths' staged rows add up to the staging table), and when the newest row
landed (``max(_ingested_at)``, the ``loaded_at_field`` of dbt's source freshness checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pinlake.config import TABLES, Settings
from pinlake.schemas import (
    KEY_COLUMN,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    STREAM_QUARANTINE_TABLE,
    stream_table,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PATHS = ("batch", "stream")
#: The staging model of each raw table.
STAGING_MODELS = {
    "pin": "staging.stg_pinterest__pins",
    "geo": "staging.stg_pinterest__geolocations",
    "user": "staging.stg_pinterest__users",
}


@dataclass
class CountOptions:
    """Count the raw and staging rows of both paths (no options)."""


@dataclass
class PathCounts:
    """One path's rows per table: in raw, distinct keys in raw, quarantined, kept in staging,
    and ``latest``: when the table's newest raw row landed (UTC ``max(_ingested_at)``; tables
    without rows are absent)."""

    raw: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    staged: dict[str, int] = field(default_factory=dict)
    latest: dict[str, datetime] = field(default_factory=dict)


@dataclass
class DeliveryCounts:
    """:class:`PathCounts` of each path (``batch``, ``stream``) and the staging rows per table."""

    paths: dict[str, PathCounts] = field(default_factory=dict)
    staging: dict[str, int] = field(default_factory=dict)


def count_deliveries(settings: Settings, _options: CountOptions | None = None) -> DeliveryCounts:
    """Count (Spark, metastore session); a table that does not exist counts 0."""
    from pinlake.spark import get_spark, spark_errors

    with spark_errors(settings):
        spark = get_spark(settings, app_name="pinlake-counts")
        out = DeliveryCounts(paths={p: PathCounts() for p in PATHS})
        quarantine = {
            "batch": _grouped(spark, f"{RAW_SCHEMA}.{QUARANTINE_TABLE}", "table_name"),
            "stream": _grouped(spark, f"{RAW_SCHEMA}.{STREAM_QUARANTINE_TABLE}", "table_name"),
        }
        for table in TABLES:
            key = KEY_COLUMN[table]
            staged = _grouped(spark, STAGING_MODELS[table], "_delivery_path")
            out.staging[table] = sum(staged.values())
            for path, name in (("batch", f"`{table}`"), ("stream", stream_table(table))):
                rows, distinct, latest = _raw(spark, f"{RAW_SCHEMA}.{name}", key)
                counts = out.paths[path]
                counts.raw[table], counts.distinct[table] = rows, distinct
                if latest is not None:
                    counts.latest[table] = latest
                counts.quarantined[table] = quarantine[path].get(table, 0)
                counts.staged[table] = staged.get(path, 0)
    return out


def _exists(spark: SparkSession, name: str) -> bool:
    return spark.catalog.tableExists(name.replace("`", ""))


def _raw(spark: SparkSession, name: str, key: str) -> tuple[int, int, datetime | None]:
    if not _exists(spark, name):
        return 0, 0, None
    # formatted in the session time zone (UTC, pinlake.spark): collect() would convert a
    # timestamp to this Python process's local time
    newest = "date_format(max(_ingested_at), 'yyyy-MM-dd HH:mm:ss.SSSSSS')"
    row = spark.sql(f"select count(*), count(distinct `{key}`), {newest} from {name}").first()
    latest = None
    if row[2] is not None:
        latest = datetime.strptime(row[2], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(row[0]), int(row[1]), latest


def _grouped(spark: SparkSession, name: str, column: str) -> dict[str, int]:
    if not _exists(spark, name):
        return {}
    rows = spark.sql(f"select {column}, count(*) from {name} group by {column}").collect()
    return {str(r[0]): int(r[1]) for r in rows}
