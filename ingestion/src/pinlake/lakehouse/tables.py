"""Creates the raw Delta tables (schema ``raw``) from the declarations in :mod:`pinlake.schemas`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinlake.config import TABLES
from pinlake.schemas import (
    KEY_COLUMN,
    LOADED_FILES_DDL,
    LOADED_FILES_TABLE,
    LOADS_DDL,
    LOADS_TABLE,
    QUARANTINE_DDL,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    raw_table_ddl,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def raw_table(table: str) -> str:
    """Qualified name of a raw table, e.g. ``raw.pin``."""
    return f"{RAW_SCHEMA}.{table}"


def ensure_raw_tables(spark: SparkSession) -> None:
    """Create schema ``raw`` and its Delta tables if they do not exist yet (idempotent)."""
    ddl = {table: raw_table_ddl(table) for table in TABLES}
    ddl[QUARANTINE_TABLE] = QUARANTINE_DDL
    ddl[LOADED_FILES_TABLE] = LOADED_FILES_DDL
    ddl[LOADS_TABLE] = LOADS_DDL
    if spark.catalog.databaseExists(RAW_SCHEMA):
        existing = {t.name for t in spark.catalog.listTables(RAW_SCHEMA)}
    else:
        spark.sql(f"create database if not exists {RAW_SCHEMA}")
        existing = set()
    for name, columns in ddl.items():
        if name not in existing:
            spark.sql(
                f"create table if not exists {RAW_SCHEMA}.`{name}` ({columns}) using delta"
                + _properties(name)
            )


def _properties(name: str) -> str:
    """Raw tables keep Delta file statistics on the key and load metadata only: statistics
    on every long text column cost more than the rest of a load, and nothing filters on them."""
    if name not in TABLES:
        return ""
    columns = ",".join((KEY_COLUMN[name], "_load_id", "_ingested_at", "_offset"))
    return f" tblproperties ('delta.dataSkippingStatsColumns' = '{columns}')"
