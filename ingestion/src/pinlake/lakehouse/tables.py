"""Creates the raw Delta tables (schema ``raw``) from the declarations in :mod:`pinlake.schemas`.

Batch-path tables are managed tables of the metastore. Stream-path tables live at fixed paths
(:func:`stream_table_path`) so that the continuous stream query can write them without the
metastore (:mod:`pinlake.lakehouse.stream`); in the metastore they are external tables over those
paths. Both sides create them with the same DDL, so whichever comes first creates the Delta table. A
table of an older home gains the columns it lacks (:func:`add_missing_columns`): the batch tables
when ``land`` starts, the stream tables when the stream stage starts (their one writer).

``python -m pinlake.lakehouse.tables`` creates (and registers) every raw table and exits: the
stream stage runs it beside its own session when the metastore is free.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pinlake.config import TABLES, Settings
from pinlake.errors import PinlakeError
from pinlake.schemas import (
    KEY_COLUMN,
    LOADED_FILES_DDL,
    LOADED_FILES_TABLE,
    QUARANTINE_DDL,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    STREAM_QUARANTINE_DDL,
    STREAM_QUARANTINE_TABLE,
    raw_table_ddl,
    stream_table,
    stream_table_ddl,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def raw_table(table: str) -> str:
    """Qualified name of a raw table, e.g. ``raw.pin``."""
    return f"{RAW_SCHEMA}.{table}"


def quarantine_counts_hint(table: str) -> str:
    """The command, in backticks, that counts the rows of the quarantine ``raw.<table>``
    (``quarantine`` or ``stream_quarantine``) by table and reason, in full: ``pinlake dbt
    show`` with JSON output (its table cuts each value to 20 characters, and without
    ``--limit`` it shows 5 rows: helper-105 read 5 of 9 reasons, cut), quiet (dbt's log lines
    went to stdout before the JSON: helper-106's ``jq`` could not read it). The land and stream
    summaries name it."""
    from pinlake.console import PINLAKE

    query = (
        f"select table_name, reason, count(*) as n from {raw_table(table)} "
        "group by table_name, reason order by table_name, n desc"
    )
    return f'`{PINLAKE} dbt show --quiet --output json --limit 100 --inline "{query}"`'


def stream_tables() -> dict[str, str]:
    """``{name: DDL}`` of the stream path's tables (``stream_<table>`` and its quarantine)."""
    ddl = {stream_table(table): stream_table_ddl(table) for table in TABLES}
    ddl[STREAM_QUARANTINE_TABLE] = STREAM_QUARANTINE_DDL
    return ddl


def stream_table_path(settings: Settings, name: str) -> Path:
    """Where a stream-path table lives: ``<warehouse>/raw.db/<name>`` (beside the batch tables,
    :func:`managed_table_path`)."""
    return managed_table_path(settings, name)


def holds_committed_data(folder: Path) -> bool:
    """Whether the Delta log of the table folder ``folder`` has committed a data file: a commit
    (``_delta_log/<version>.json``, one JSON action per line) with an ``add`` action, or a
    checkpoint, which stands for such commits (Delta protocol, "Delta Log Entries"). False for
    a folder without a log, or whose commits only create the table: what a creation or a first
    write cut short before the metastore registered the table leaves, which Delta refuses to
    create a table in on every later run (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION: "... is
    not empty and also not a Delta table"). A commit that cannot be read counts as data (it
    is never removed on a guess)."""
    log = folder / "_delta_log"
    if any(log.glob("*.checkpoint*.parquet")):
        return True
    for commit in log.glob("*.json"):
        try:
            lines = commit.read_text(encoding="utf-8").splitlines()
            if any("add" in json.loads(line) for line in lines if line.strip()):
                return True
        except (OSError, ValueError):
            return True
    return False


def schema_folder(settings: Settings, schema: str = RAW_SCHEMA) -> Path:
    """Where the metastore puts the managed tables of ``schema`` (default: the raw tables; the
    ``local`` target's dbt models too): ``<warehouse>/<schema>.db`` (``spark.sql.warehouse.dir``,
    :func:`pinlake.spark.spark_conf`)."""
    return settings.warehouse_dir / f"{schema}.db"


def managed_table_path(settings: Settings, name: str) -> Path:
    """Where the metastore puts the managed raw table ``name``: ``<warehouse>/raw.db/<name>``
    (:func:`schema_folder`)."""
    return schema_folder(settings) / name


def _data_table_paths(settings: Settings) -> list[Path]:
    """The folders of the raw tables of either path (``raw.<table>``, ``raw.stream_<table>``)
    that dbt's models read."""
    names = [*TABLES, *(stream_table(table) for table in TABLES)]
    return [managed_table_path(settings, name) for name in names]


def landed_anything(settings: Settings) -> bool:
    """Whether a raw table of the home, of either path (``raw.<table>``, ``raw.stream_<table>``),
    holds committed data (:func:`holds_committed_data`), read from the Delta logs in the home's
    warehouse: no Spark. What dbt's ``local`` target builds the models from."""
    return any(holds_committed_data(path) for path in _data_table_paths(settings))


def raw_tables_created(settings: Settings) -> bool:
    """Whether a raw table of the home, of either path, exists: its folder has a Delta log
    (empty or not). Read from the warehouse: no Spark."""
    return any((path / "_delta_log").is_dir() for path in _data_table_paths(settings))


def manifest_created(settings: Settings) -> bool:
    """Whether the home's land manifest (``raw._loaded_files``) exists: its folder in the
    warehouse has a Delta log (:func:`managed_table_path`; empty or not). Read from the
    warehouse: no Spark. A home where it does not has never landed (nor rejected) a file, so a
    land that finds no file has nothing to recover or to name as gone."""
    return (managed_table_path(settings, LOADED_FILES_TABLE) / "_delta_log").is_dir()


def clear_interrupted_creation(settings: Settings, name: str) -> None:
    """Before the managed raw table ``name``, which the metastore does not have, is created:
    remove its folder when a creation cut short left it (:func:`holds_committed_data` False:
    no data; a second Ctrl-C, a kill or a crash between Delta's first commit and the
    metastore's registration), saying so on stderr. Otherwise Delta refuses the folder on
    every later ``land`` and ``stream --available-now``.

    Raises :class:`PinlakeError` when the folder holds committed data (the metastore was
    replaced or lost, not an interrupted creation): it is never removed."""
    folder = managed_table_path(settings, name)
    if not folder.exists():
        return
    if holds_committed_data(folder):
        raise PinlakeError(
            f"{folder} holds the data of a Delta table that the metastore does not know as "
            f"{raw_table(name)} (a metastore of another home, or one removed?): move the folder "
            "away, or put back the metastore it belongs to"
        )
    shutil.rmtree(folder)
    print(
        f"removed {folder}: a creation of {raw_table(name)} was cut short there (no data); "
        "creating it again",
        file=sys.stderr,
    )


def registered_marker(settings: Settings) -> Path:
    """Written (in the metastore folder) once :func:`ensure_raw_tables` has registered every raw
    table, so the stream stage need not start a JVM to do it again; it goes with the metastore."""
    return settings.metastore_dir / "pinlake-raw-tables-registered"


def table_names(spark: SparkSession, schema: str) -> list[str]:
    """The tables and views of ``schema`` in the session's catalog, by name, sorted (temporary
    views left out). Read with ``SHOW TABLES``, not ``spark.catalog.listTables``, which decodes
    its rows into Scala objects and fails (``EXPRESSION_DECODING_FAILED``) when Spark's code
    generation is off (``Settings.spark_codegen``)."""
    rows = spark.sql(f"show tables in `{schema}`").collect()
    return sorted(row["tableName"] for row in rows if not row["isTemporary"])


def _table_gone(settings: Settings, name: str) -> str:
    """The error of raw table ``name``, which the metastore knows, whose Delta table is gone,
    with what to do: for the home's embedded metastore, start its lakehouse over; for a shared
    one, drop the table there (its folder may not be this home's)."""
    from pinlake.spark import metastore_connection

    table = f"{RAW_SCHEMA}.{name}"
    if metastore_connection(settings).shared:
        return (
            f"{table} is registered in the shared metastore but its Delta table is gone: restore"
            f" it, or drop the table (`drop table {table}`) to create it again"
        )
    return (
        f"{table} is registered in the metastore ({settings.metastore_dir}) but its Delta table"
        f" {managed_table_path(settings, name)} is gone (the home's warehouse/ was removed?):"
        " restore it, or remove the metastore folder too to start this home's lakehouse over"
    )


def ensure_raw_tables(
    spark: SparkSession, settings: Settings, stopped: Callable[[], bool] = lambda: False
) -> set[str]:
    """Create schema ``raw`` and every raw Delta table that does not exist yet (idempotent):
    the batch tables as managed tables (after :func:`clear_interrupted_creation`), the stream
    tables as external tables at :func:`stream_table_path`. Needs a session with the
    metastore. Returns the names of the tables schema ``raw`` held before (those of other
    writers and older homes too). Raises :class:`PinlakeError` for a managed table's folder
    with data that the metastore does not know, and for a raw or quarantine table the
    metastore knows whose folder is gone (a home whose ``warehouse/`` was removed: a 62-line
    traceback of ``DELTA_TABLE_NOT_FOUND``, helper-56). ``stopped`` is asked before each table: once
    it says True, the rest are left for the next run (the stream stage's stop during its
    start-up: a home's first run creates nine tables, about 20 s, and a Ctrl-C waited for all
    of them: helper-53's trial)."""
    ddl = {table: raw_table_ddl(table) for table in TABLES}
    ddl[QUARANTINE_TABLE] = QUARANTINE_DDL
    ddl[LOADED_FILES_TABLE] = LOADED_FILES_DDL
    if spark.catalog.databaseExists(RAW_SCHEMA):
        existing = set(table_names(spark, RAW_SCHEMA))
    else:
        spark.sql(f"create database if not exists {RAW_SCHEMA}")
        existing = set()
    for name, columns in ddl.items():
        if stopped():
            return existing
        if name not in existing:
            clear_interrupted_creation(settings, name)
            spark.sql(
                f"create table if not exists {RAW_SCHEMA}.`{name}` ({columns}) using delta"
                + _properties(name)
            )
        elif name in (*TABLES, QUARANTINE_TABLE):
            try:
                add_missing_columns(spark, f"{RAW_SCHEMA}.`{name}`", columns, raw_table(name))
            except Exception as exc:  # py4j / pyspark errors carry Delta's error class
                if "DELTA_TABLE_NOT_FOUND" not in str(exc):
                    raise
                raise PinlakeError(_table_gone(settings, name)) from exc
    for name, columns in stream_tables().items():
        if stopped():
            return existing
        if name not in existing:
            path = stream_table_path(settings, name)
            _create_once(
                spark,
                f"create table if not exists {RAW_SCHEMA}.`{name}` ({columns}) using delta "
                f"location '{_sql_path(path)}'" + _properties(name),
            )
    marker = registered_marker(settings)
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(", ".join([*ddl, *stream_tables()]) + "\n")
    return existing


def ensure_stream_tables_by_path(
    spark: SparkSession, settings: Settings, stopped: Callable[[], bool] = lambda: False
) -> None:
    """Create the stream path's Delta tables at their paths if missing (no metastore needed),
    adding the columns an older table lacks. ``stopped`` is asked before each table: once it
    says True, the rest are left (the stream stage's stop during its start-up)."""
    for name, columns in stream_tables().items():
        if stopped():
            return
        path = stream_table_path(settings, name)
        if not (path / "_delta_log").is_dir():
            _create_once(
                spark,
                f"create table if not exists delta.`{_sql_path(path)}` ({columns}) using delta"
                + _properties(name),
            )
        else:
            add_missing_columns(spark, f"delta.`{_sql_path(path)}`", columns, raw_table(name))


def add_missing_columns(spark: SparkSession, table: str, columns: str, shown: str) -> list[str]:
    """Add to Delta table ``table`` (a SQL table reference) the columns of DDL ``columns`` it
    lacks, each after its predecessor in the DDL (a home created before a column, such as
    ``_element`` or ``_rescued_data``, existed); existing rows read NULL there, which one line
    on stderr says, naming the table as ``shown`` (helper-103: a NULL ``_rescued_data`` of an
    older row means "not kept", not "none"). Returns the names added."""
    from pyspark.sql.types import StructType

    have = set(spark.sql(f"select * from {table} limit 0").columns)
    added, previous = [], None
    for column in StructType.fromDDL(columns).fields:
        if column.name not in have:
            where = f" after `{previous}`" if previous else " first"
            spark.sql(
                f"alter table {table} add columns "
                f"(`{column.name}` {column.dataType.simpleString()}{where})"
            )
            added.append(column.name)
        previous = column.name
    if added:
        names = ", ".join(added)
        print(
            f"{shown}: added {names}, new in pinlake since the table was created; "
            "its rows from before read NULL there",
            file=sys.stderr,
        )
    return added


def _create_once(spark: SparkSession, statement: str) -> None:
    """Run a ``create table if not exists``; a concurrent creator that won the race (the
    stream stage and ``land`` may create a stream table at once) is not an error."""
    try:
        spark.sql(statement)
    except Exception as exc:  # Delta: the first commit of the table exists already
        if "already exists" not in str(exc).lower() and "DELTA_" not in str(exc):
            raise
        spark.sql(statement)  # the table exists now: the statement only checks it


def _sql_path(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace("'", "\\'").replace("`", "``")


#: A stream table gets a commit per micro-batch (about one a second). Delta writes a checkpoint
#: every 10 commits by default, inside the commit, which stalls every 10th micro-batch by about
#: half a second; every 100 keeps that rare, and a reader replays at most 100 small commit files.
STREAM_CHECKPOINT_INTERVAL = 100


def _properties(name: str) -> str:
    """The table properties of raw table ``name``.

    Raw tables keep Delta file statistics on the key and delivery metadata only: statistics on
    every long text column cost more than the rest of a load, and nothing filters on them.
    Stream tables also checkpoint every :data:`STREAM_CHECKPOINT_INTERVAL` commits.
    """
    streamed = {stream_table(t): t for t in TABLES}
    properties = {}
    if name in TABLES:  # batch: land deletes by _load_id when it recovers an unfinished load
        stats = (KEY_COLUMN[name], "_load_id", "_ingested_at", "_offset")
        properties["delta.dataSkippingStatsColumns"] = ",".join(stats)
    elif name in streamed:
        stats = (KEY_COLUMN[streamed[name]], "_ingested_at", "_partition", "_offset")
        properties["delta.dataSkippingStatsColumns"] = ",".join(stats)
    if name in streamed or name == STREAM_QUARANTINE_TABLE:
        properties["delta.checkpointInterval"] = str(STREAM_CHECKPOINT_INTERVAL)
    if not properties:
        return ""
    listed = ", ".join(f"'{key}' = '{value}'" for key, value in properties.items())
    return f" tblproperties ({listed})"


def main() -> None:
    """Create every raw table of the home in ``PINLAKE_HOME`` (see the module docstring)."""
    from pinlake.console import environment_settings
    from pinlake.spark import get_spark, spark_errors

    settings = environment_settings()
    with spark_errors(settings):
        ensure_raw_tables(get_spark(settings, app_name="pinlake-raw-tables"), settings)


if __name__ == "__main__":
    main()
