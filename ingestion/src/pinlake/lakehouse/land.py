"""Land topics-bucket files into the raw Delta tables (the bronze layer).

Input is the topics bucket (:mod:`pinlake.bucket.layout`, the Confluent S3 sink layout), one JSON
object per line. Every line ends up in exactly one place:

* ``raw.<table>``: parsed with the table's explicit schema (never inferred), every delivered field
  kept as delivered, plus ``_topic``, ``_partition``, ``_offset`` (first offset + line index),
  ``_source_file``, ``_load_id`` and ``_ingested_at``;
* ``raw.quarantine``: lines that are not JSON objects, do not fit the schema or lack the key
  field (:mod:`pinlake.lakehouse.records`), with the reason and the raw text. The load never
  aborts because of them.

Landing is incremental and idempotent: ``raw._loaded_files`` lists every landed file and is
written last, so re-running skips what is there. Every load first records its ``_load_id`` in
``raw._loads``; a load id there without manifest rows belongs to a load that crashed between its
data and manifest commits, and its rows are removed before the next load.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pinlake.bucket.layout import BucketFile, list_files
from pinlake.config import TABLES, Settings
from pinlake.console import console, table
from pinlake.errors import UsageError
from pinlake.lakehouse import records
from pinlake.lakehouse.tables import ensure_raw_tables, raw_table
from pinlake.schemas import (
    LOADED_FILES_DDL,
    LOADED_FILES_TABLE,
    LOADS_DDL,
    LOADS_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


@dataclass
class LandOptions:
    """What to land: the files of ``bucket`` (default: the home's bucket) not landed yet."""

    bucket: Path | None = None


@dataclass
class LandResult(records.TableTotals):
    """What one ``pinlake land`` did: files found and newly landed, records landed and lines
    quarantined per table, wall seconds and the part of them spent starting Spark."""

    files_found: int = 0
    files_landed: int = 0
    records: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    quarantined: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    seconds: float = 0.0
    spark_startup_seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        """Landed + quarantined lines per second of work (JVM start-up excluded)."""
        work = self.seconds - self.spark_startup_seconds
        return (self.total_records + self.total_quarantined) / work if work > 0 else 0.0


def discover_files(settings: Settings, bucket: Path) -> dict[str, list[BucketFile]]:
    """The bucket files of each table's batch topic, in delivery order."""
    return {name: list_files(bucket, settings.topic(name)) for name in TABLES}


def _parse_files(spark: SparkSession, table_name: str, files: list[BucketFile]) -> DataFrame:
    """One row per line of ``files``: parsed fields, metadata and ``_reason``."""
    from pyspark.sql import functions as F

    meta = spark.createDataFrame(
        [(str(f.path), f.topic, f.partition, f.first_offset) for f in files],
        "path string, topic string, partition int, first_offset bigint",
    )
    texts = spark.read.text([str(f.path) for f in files], wholetext=True).select(
        F.col("_metadata.file_path").alias("uri"), "value"
    )
    # Spark reports percent-encoded file URIs (file:/abs/my%20dir/a+0+0.json); decode them back
    # to our absolute paths (url_decode is form decoding, so protect literal '+' first).
    path = F.replace(F.regexp_replace("uri", r"^file:(//)?", ""), F.lit("+"), F.lit("%2B"))
    texts = texts.withColumn("path", F.url_decode(path))
    # A file ends with a newline: the empty piece after it is not a line (blank lines inside a
    # file are, and are quarantined as "not a JSON object"). Stripping it before the split keeps
    # the exploded rows free of the whole-file array.
    body = F.regexp_replace("value", r"\n$", "")
    lines = texts.filter(F.col("value") != "").select(
        "path", F.posexplode(F.split(body, "\n")).alias("pos", "line")
    )
    parsed = lines.withColumn("p", records.parsed(table_name, F.col("line")))
    parsed = parsed.withColumn(
        "_reason", records.rejection_reason(table_name, F.col("p"), F.col("line"))
    )
    return parsed.join(F.broadcast(meta), on="path", how="left")


def _metadata_columns(load_id: str) -> list[Column]:
    from pyspark.sql import functions as F

    return [
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        (F.col("first_offset") + F.col("pos")).alias("_offset"),
        F.col("path").alias("_source_file"),
        F.lit(load_id).alias("_load_id"),
        F.current_timestamp().alias("_ingested_at"),
    ]


def _remove_unfinished_loads(spark: SparkSession) -> None:
    """Delete rows of loads that never committed their manifest entry (crash recovery)."""
    orphans = [
        row[0]
        for row in spark.sql(
            f"select _load_id from {RAW_SCHEMA}.`{LOADS_TABLE}` where _load_id not in "
            f"(select _load_id from {RAW_SCHEMA}.`{LOADED_FILES_TABLE}`)"
        ).collect()
    ]
    if not orphans:
        return
    ids = ", ".join(f"'{load_id}'" for load_id in orphans)
    for name in (*TABLES, QUARANTINE_TABLE, LOADS_TABLE):
        spark.sql(f"delete from {RAW_SCHEMA}.`{name}` where _load_id in ({ids})")
    console.print(f"[yellow]removed the rows of {len(orphans)} unfinished load(s)")


def _start_load(spark: SparkSession) -> str:
    """Record a new load id before any data is written (see the module docstring)."""
    load_id = uuid.uuid4().hex
    spark.createDataFrame([(load_id, datetime.now(timezone.utc))], LOADS_DDL).write.format(
        "delta"
    ).mode("append").saveAsTable(f"{RAW_SCHEMA}.`{LOADS_TABLE}`")
    return load_id


def land_bucket(settings: Settings, options: LandOptions | None = None) -> LandResult:
    """Land every not-yet-landed file of the bucket; raises UsageError when it is missing."""
    start = time.perf_counter()
    bucket = ((options and options.bucket) or settings.bucket_dir).expanduser().resolve()
    if not bucket.is_dir():
        raise UsageError(f"bucket {bucket} does not exist or is not a folder")
    files = discover_files(settings, bucket)
    result = LandResult(files_found=sum(len(found) for found in files.values()))

    from pinlake.spark import get_spark, spark_errors

    with spark_errors(settings):
        spark = get_spark(settings, app_name="pinlake-land")
        result.spark_startup_seconds = time.perf_counter() - start
        ensure_raw_tables(spark, settings)
        _remove_unfinished_loads(spark)
        landed = {
            row[0]
            for row in spark.sql(
                f"select file_path from {RAW_SCHEMA}.`{LOADED_FILES_TABLE}`"
            ).collect()
        }
        new_files = {
            name: [f for f in found if str(f.path) not in landed] for name, found in files.items()
        }
        result.files_landed = sum(len(found) for found in new_files.values())
        if result.files_landed:
            _land_files(spark, new_files, result)
    result.seconds = time.perf_counter() - start
    return result


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _land_files(
    spark: SparkSession, files: dict[str, list[BucketFile]], result: LandResult
) -> None:
    """One load: the raw tables, then all quarantined lines, then the manifest (last)."""
    load_id = _start_load(spark)
    manifests, quarantines, caches = [], [], []
    with console.status(f"[bold]landing {result.files_landed} file(s)…") as status:
        for name in TABLES:
            todo = files[name]
            if todo:
                status.update(f"[bold]landing {len(todo)} file(s) into {raw_table(name)}…")
                manifest, quarantine, cache = _land_table(spark, name, todo, load_id, result)
                manifests.append(manifest)
                quarantines.append(quarantine)
                caches.append(cache)
        if result.total_quarantined:
            _union(quarantines).write.format("delta").mode("append").saveAsTable(
                f"{RAW_SCHEMA}.{QUARANTINE_TABLE}"
            )
        _union(manifests).write.format("delta").mode("append").saveAsTable(
            f"{RAW_SCHEMA}.`{LOADED_FILES_TABLE}`"
        )
    for cache in caches:
        cache.unpersist()


def _land_table(
    spark: SparkSession, name: str, files: list[BucketFile], load_id: str, result: LandResult
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Append ``files``' good lines to ``raw.<name>``; return (manifest, quarantine, cache).

    The parsed lines are cached once: the per-file counts materialise the cache, the raw append
    and the (normally tiny) quarantine rows read from it. The caller unpersists it.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    parsed = _parse_files(spark, name, files).persist(StorageLevel.MEMORY_AND_DISK)
    per_file = (
        parsed.groupBy("path")
        .agg(
            F.count(F.when(F.col("_reason").isNull(), 1)).alias("records"),
            F.count(F.when(F.col("_reason").isNotNull(), 1)).alias("quarantined"),
        )
        .collect()
    )
    good = parsed.filter(F.col("_reason").isNull())
    good.select(*records.source_fields(name), *_metadata_columns(load_id)).write.format(
        "delta"
    ).mode("append").saveAsTable(raw_table(name))
    bad = parsed.filter(F.col("_reason").isNotNull()).select(
        F.lit(name).alias("table_name"),
        F.col("_reason").alias("reason"),
        F.col("line").alias("raw_text"),
        (F.col("pos") + 1).alias("_line"),
        *_metadata_columns(load_id),
    )
    counts = {row["path"]: (row["records"], row["quarantined"]) for row in per_file}
    result.records[name] += sum(c[0] for c in counts.values())
    result.quarantined[name] += sum(c[1] for c in counts.values())
    now = datetime.now(timezone.utc)
    rows = [(name, str(f.path), *counts.get(str(f.path), (0, 0)), load_id, now) for f in files]
    return spark.createDataFrame(rows, LOADED_FILES_DDL), bad, parsed


def print_land_summary(result: LandResult) -> None:
    """Records and quarantined lines per table, files, time, and where to look at rejects."""
    rows = [(name, result.records[name], result.quarantined[name]) for name in TABLES] + [
        ("total", result.total_records, result.total_quarantined)
    ]
    console.print(table("land", ["table", "records", "quarantined"], rows))
    skipped = result.files_found - result.files_landed
    console.print(
        f"{result.files_landed} new file(s) landed, {skipped} already landed; "
        f"{result.seconds:.1f}s ({result.spark_startup_seconds:.1f}s Spark start-up, "
        f"{result.records_per_second:,.0f} records/s after it)"
    )
    if result.total_quarantined:
        console.print(
            f"[yellow]{result.total_quarantined} line(s) quarantined: "
            f"select reason, raw_text from {RAW_SCHEMA}.{QUARANTINE_TABLE}"
        )
