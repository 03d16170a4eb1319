"""The one place that declares each table's columns.

The three AiCore source tables (``pinterest_data``, ``geolocation_data``, ``user_data``) are
declared once as :data:`SOURCE_COLUMNS`; from that single list come the SQL source database
tables, the payload fields a producer sends and the explicit Spark schemas of the raw Delta
tables (never inferred). Raw tables keep every source field as delivered (datetimes stay text,
``follower_count`` stays the abbreviated string), the fields a record has beyond them
(:data:`RESCUED_DATA`), plus the ingestion metadata columns.

Two paths deliver rows into schema ``raw``: the batch path (``pinlake land``: topics-bucket files
into ``raw.<table>``, metadata :data:`METADATA_COLUMNS`) and the stream path (``pinlake stream``:
the Kinesis-proxy stream topics into ``raw.stream_<table>``, metadata
:data:`STREAM_METADATA_COLUMNS`). Each path owns its tables (one writer per Delta table) and has
its own quarantine table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

ColumnType = Literal["int", "text", "float", "datetime"]

#: The range of the source tables' ``int`` columns: SQL ``INT`` (32-bit signed: MariaDB's, the
#: original RDS MySQL's); SQLite's are wider. A reference row or a sequence file's index beyond
#: it is refused by name (SQLite raised ``OverflowError``: helper-91, helper-92).
INT_RANGE = range(-(2**31), 2**31)


@dataclass(frozen=True)
class Column:
    """A source table's column: its name, type (:data:`ColumnType`) and what it holds."""

    name: str
    type: ColumnType
    description: str


#: Source table name of each topic, as in the original RDS database ``pinterest_data``.
SOURCE_TABLES: dict[str, str] = {
    "pin": "pinterest_data",
    "geo": "geolocation_data",
    "user": "user_data",
}

#: The key column of each source table (``index`` in pin, ``ind`` in geo and user).
KEY_COLUMN: dict[str, str] = {"pin": "index", "geo": "ind", "user": "ind"}

#: Columns in the order the source database returns them (and the producer posts them).
SOURCE_COLUMNS: dict[str, tuple[Column, ...]] = {
    "pin": (
        Column("index", "int", "row id, the join key (renamed ind when cleaned)"),
        Column("unique_id", "text", "post id (UUID)"),
        Column("title", "text", "pin title"),
        Column("description", "text", "pin description"),
        Column("poster_name", "text", "account that posted"),
        Column("follower_count", "text", "poster's follower count, abbreviated (124k, 2M)"),
        Column("tag_list", "text", "comma-separated tags"),
        Column("is_image_or_video", "text", "media type"),
        Column("image_src", "text", "image URL"),
        Column("downloaded", "int", "1 if the image was downloaded"),
        Column("save_location", "text", "'Local save in /data/<category>'"),
        Column("category", "text", "one of 13 categories"),
    ),
    "geo": (
        Column("ind", "int", "join key"),
        Column("timestamp", "datetime", "time of the post"),
        Column("latitude", "float", "latitude"),
        Column("longitude", "float", "longitude"),
        Column("country", "text", "country name"),
    ),
    "user": (
        Column("ind", "int", "join key"),
        Column("first_name", "text", "first name"),
        Column("last_name", "text", "last name"),
        Column("age", "int", "age in years"),
        Column("date_joined", "datetime", "account creation time"),
    ),
}

#: The column of every raw table, of both paths, that keeps the top-level fields of a landed
#: record that its table does not declare (a producer's newer field, a misspelt name: ``"Index"``
#: beside ``"index"``), as the text of one JSON object of them, NULL when there are none
#: (:func:`pinlake.lakehouse.records.rescued_data`). Databricks Auto Loader's name for the same
#: column: an undeclared field is kept, never dropped. After the delivered fields.
RESCUED_DATA = "_rescued_data"

#: Metadata columns appended to every raw row (and to quarantined lines): where the record was
#: delivered (topic, partition, offset = the file's first offset + line index; ``_element`` = its
#: 0-based position when the line is a JSON array of records, NULL for a line that is one object:
#: :mod:`pinlake.lakehouse.records`), the file, the load and when it landed.
METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_topic", "string"),
    ("_partition", "int"),
    ("_offset", "bigint"),
    ("_element", "int"),
    ("_source_file", "string"),
    ("_load_id", "string"),
    ("_ingested_at", "timestamp"),
)

#: Delivery metadata of every stream-path row: where the Kafka record of the Kinesis-proxy stream
#: topic was (topic = stream, partition = shard, offset), its Kafka timestamp (the time the API
#: produced it: Kinesis' ApproximateArrivalTimestamp), partition key and Kinesis sequence number,
#: the micro-batch that wrote it and when; ``_element`` is the record's 0-based position when the
#: ``Data`` is a JSON array of records (NULL for one object), as in :data:`METADATA_COLUMNS`.
STREAM_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_topic", "string"),
    ("_partition", "int"),
    ("_offset", "bigint"),
    ("_element", "int"),
    ("_kafka_timestamp", "timestamp"),
    ("_partition_key", "string"),
    ("_sequence_number", "string"),
    ("_batch_id", "bigint"),
    ("_ingested_at", "timestamp"),
)

#: Raw Delta tables, in schema ``raw``.
RAW_SCHEMA = "raw"
#: The schema of dbt's marts (dbt_project.yml, ``+schema: marts`` of models/marts), which
#: ``pinlake export`` writes out.
MARTS_SCHEMA = "marts"
QUARANTINE_TABLE = "quarantine"
STREAM_QUARANTINE_TABLE = "stream_quarantine"
LOADED_FILES_TABLE = "_loaded_files"
#: Where land recorded its load ids before the manifest did (homes of pinlake before 2026-12):
#: recovered from and dropped by the next ``land`` (:mod:`pinlake.lakehouse.land`).
LEGACY_LOADS_TABLE = "_loads"

#: The Spark type of each source column type (raw tables, payload schemas).
SPARK_TYPE: dict[ColumnType, str] = {
    "int": "bigint",  # JSON integers are read as long, like the original notebooks
    "text": "string",
    "float": "double",
    "datetime": "string",  # kept as delivered; typed in dbt staging
}


def raw_payload_ddl(table: str) -> str:
    """Spark DDL of the delivered fields of ``table`` (the JSON payload schema)."""
    return ", ".join(f"`{c.name}` {SPARK_TYPE[c.type]}" for c in SOURCE_COLUMNS[table])


def raw_table_ddl(table: str) -> str:
    """Spark DDL of the raw Delta table: delivered fields, :data:`RESCUED_DATA`, then metadata."""
    meta = ", ".join(f"`{name}` {type_}" for name, type_ in METADATA_COLUMNS)
    return f"{raw_payload_ddl(table)}, `{RESCUED_DATA}` string, {meta}"


def stream_table(table: str) -> str:
    """Name (in schema ``raw``) of a table's stream-path raw table, e.g. ``stream_pin``."""
    return f"stream_{table}"


def stream_table_ddl(table: str) -> str:
    """Spark DDL of the stream-path raw table: delivered fields, :data:`RESCUED_DATA`, then
    stream metadata."""
    meta = ", ".join(f"`{name}` {type_}" for name, type_ in STREAM_METADATA_COLUMNS)
    return f"{raw_payload_ddl(table)}, `{RESCUED_DATA}` string, {meta}"


#: Batch lines (or array elements) that cannot be landed: the table they were meant for, why,
#: the text (the element's, for an element; base64 of the line's bytes when they are not UTF-8),
#: the line's 1-based place in its file and the raw metadata.
QUARANTINE_DDL = (
    "`table_name` string, `reason` string, `raw_text` string, `_line` bigint, "
    + ", ".join(f"`{name}` {type_}" for name, type_ in METADATA_COLUMNS)
)

#: Stream records that cannot be landed: the table they were meant for, why, the record's text
#: (the array element or decoded base64 it was read from; else the Data as text, base64 when it
#: is not UTF-8) and the stream metadata.
STREAM_QUARANTINE_DDL = "`table_name` string, `reason` string, `raw_text` string, " + ", ".join(
    f"`{name}` {type_}" for name, type_ in STREAM_METADATA_COLUMNS
)

#: The land manifest: one row per topics-bucket file landed (its records and quarantined lines)
#: or rejected (``problem``: why it cannot be landed, e.g. a truncated gzip; records 0), and one
#: row per load, written before its data, whose ``file_path`` and ``table_name`` are NULL (the
#: load's start, for crash recovery: :mod:`pinlake.lakehouse.land`).
LOADED_FILES_DDL = (
    "`table_name` string, `file_path` string, `records` bigint, `quarantined` bigint, "
    "`_load_id` string, `loaded_at` timestamp, `problem` string, `file_size` bigint, "
    "`content_hash` bigint"
)


def payload_schema(table: str) -> StructType:
    """The explicit Spark schema used to parse a table's JSON lines."""
    from pyspark.sql.types import StructType

    return StructType.fromDDL(raw_payload_ddl(table))
