"""Land topics-bucket files into the raw Delta tables (the bronze layer).

Input is the topics bucket (:mod:`pinlake.bucket.layout`, the Confluent S3 sink layout), one JSON
object per line, plain ``.json`` or gzip ``.json.gz``. Every file under ``topics/`` is accounted
for: a file of a batch topic is landed, or, when it cannot be (its name or folder breaks the
layout, its extension is not JSON lines, its compression cannot be read), recorded in the manifest
with that ``problem`` and listed in the summary; files in other topic folders are listed in the
summary and left for the pipeline that reads those topics. Every line of a landed file ends up in
exactly one place:

* ``raw.<table>``: a row per record of the line (a JSON object, or each element of a JSON
  array, as Spark's JSON reader in the original pipeline; :mod:`pinlake.lakehouse.records`),
  parsed with the table's explicit schema (never inferred), every delivered field kept as
  delivered, plus ``_topic``, ``_partition``, ``_offset`` (first offset + line index),
  ``_element`` (position in the array, NULL for an object), ``_source_file``, ``_load_id`` and
  ``_ingested_at``;
* ``raw.quarantine``: lines (or array elements) that are not JSON objects, empty arrays,
  records that do not fit the schema or lack the key field, with the reason, the raw text (the
  element's, for an element) and ``_line``; a line whose bytes are not valid UTF-8 once, as
  :data:`records.NOT_UTF8` (the stream path's reason), its raw text the bytes in base64
  (:func:`_not_utf8_lines`). The load never aborts because of them.

A file's manifest counts (``records``, ``quarantined``) and the summary count rows and
quarantined units, so a line holding an array of 250 rows counts 250.

Landing is incremental and idempotent: the manifest ``raw._loaded_files`` lists every landed
(or rejected) file and is written last, so re-running skips what is there (a run that finds no
file on a home that never landed one starts no Spark). A load (a run that finds new files; a
run that finds none records nothing) first records its ``_load_id`` there
too, in a start row (``file_path`` NULL); a start row without file rows belongs to a load that
crashed between its start and its manifest commit, and every run of land removes the rows of
such loads before it lands anything. One read of the manifest gives both the files seen and the
loads to recover (homes from before the start rows kept them in ``raw._loads``: the next run
recovers from it as land did then and drops it). Every manifest row of a load has the load's
start time as ``loaded_at``.
"""

from __future__ import annotations

import shlex
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from pinlake.bucket.layout import (
    BucketAccessError,
    BucketFile,
    Location,
    bucket_error,
    bucket_exists,
    check_landable,
    list_files,
    list_topics,
    location,
    parse_file_name,
    read_records,
    spark_uri,
    stray_files,
    topic_dir,
)
from pinlake.config import TABLES, Settings
from pinlake.console import PINLAKE, console, counted, rate_text, table
from pinlake.errors import PinlakeError, UsageError
from pinlake.lakehouse import records
from pinlake.lakehouse.progress import next_steps
from pinlake.lakehouse.tables import (
    ensure_raw_tables,
    manifest_created,
    quarantine_counts_hint,
    raw_table,
)
from pinlake.schemas import (
    LEGACY_LOADS_TABLE,
    LOADED_FILES_DDL,
    LOADED_FILES_TABLE,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    RESCUED_DATA,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession


@dataclass
class LandOptions:
    """What to land: the files of ``bucket`` (a folder or ``s3://<bucket>/<prefix>``; default:
    the home's bucket) not landed yet."""

    bucket: str | Path | None = None


@dataclass
class LandResult(records.TableTotals):
    """What one ``pinlake land`` did: the ``bucket`` it read (a folder or ``s3://…``), files
    found under the batch topics and newly landed, files
    it could not land (``{path: problem}``, this run's and, as ``files_rejected_before``, the
    count recorded by earlier runs), files it does not read (``files_not_read``: ``{path: why}``,
    other topics' folders), records landed and units quarantined (lines, or array elements)
    per table, wall seconds and the part of them spent starting Spark, and where the rest went
    (``phase_seconds``, in order: ``tables`` (raw tables created if missing), ``manifest read``
    (files seen, loads to recover), ``recovery`` (rows of unfinished loads removed), ``load
    id`` (the start row), one phase per table landed, ``quarantine``, ``manifest write``;
    ``content hashes`` after the recovery when files are compared with landed ones;
    bench/bench_land_phases.py).
    ``files_copied`` (``{path: the path it was landed from}``) are copies of files landed
    before from another location (the bucket moved, e.g. from a folder to S3): recorded, not
    landed again (:func:`copy_candidates`, then the content hashes); ``files_copied_before``
    counts those recorded by earlier runs, which ``files_rejected_before`` does not (helper-93:
    a second land of a copied bucket called its copies rejected).
    ``files_found = files_landed + files_rejected + files_copied + files_seen_before``;
    ``files_empty`` are the landed files that held no record and no bad line (paths, sorted).
    ``files_changed`` (``{path: (size landed, size now)}``, bytes; the landed size None in
    older homes) are files landed before whose bytes are others now (:func:`rewritten_files`:
    written again after a deletion, or appended to): landed again, whole, and counted in
    ``files_landed``; the summary lists them (helper-91: a record appended to a landed file was
    skipped without a word; helper-93: ``produce`` after a deletion wrote new records under a
    landed name, which were never landed). ``files_gone`` are the files
    landed before from this bucket's topic folders that it no longer holds (paths, sorted):
    deleted or moved since; their records stay in raw, since land never removes what it
    landed (nothing was said of them). ``files_retried`` are files rejected before that were
    written since (their size or time changed): tried again, and counted as landed or rejected
    now (helper-94: a mended file was never looked at again)."""

    bucket: str = ""
    files_found: int = 0
    files_landed: int = 0
    files_empty: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)
    files_copied: dict[str, str] = field(default_factory=dict)
    files_seen_before: int = 0
    files_rejected_before: int = 0
    files_copied_before: int = 0
    files_changed: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    files_gone: list[str] = field(default_factory=list)
    files_retried: list[str] = field(default_factory=list)
    files_not_read: dict[str, str] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    quarantined: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TABLES})
    seconds: float = 0.0
    spark_startup_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall seconds of the ``with`` block to ``phase_seconds[name]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[name] = self.phase_seconds.get(name, 0.0) + (
                time.perf_counter() - start
            )

    @property
    def records_per_second(self) -> float:
        """Landed + quarantined lines per second of work (JVM start-up excluded)."""
        work = self.seconds - self.spark_startup_seconds
        return (self.total_records + self.total_quarantined) / work if work > 0 else 0.0


def discover_files(settings: Settings, bucket: Location) -> dict[str, list[BucketFile]]:
    """Every file below each table's batch topic folder, in delivery order (layout files and,
    with their ``problem``, files that break the layout)."""
    return {name: list_files(bucket, settings.topic(name)) for name in TABLES}


def files_not_read(settings: Settings, bucket: Location) -> dict[str, str]:
    """``{path: why}`` of the files under ``topics/`` that land does not read: those in the
    folders of other topics (another pipeline's, or another ``PINLAKE_TOPIC_PREFIX``'s) and those
    outside any topic folder. They are reported, never recorded: their pipeline may land them."""
    ours = {settings.topic(name) for name in TABLES}
    found = {str(path): "not in a topic folder" for path in stray_files(bucket)}
    for topic in list_topics(bucket):
        if topic not in ours:
            why = (
                f"topic {topic!r} is not a batch topic of this pipeline ({', '.join(sorted(ours))})"
            )
            found.update((str(f.path), why) for f in list_files(bucket, topic))
    return found


def unreadable_reason(path: Location) -> str | None:
    """Why a file that Spark returned nothing for (``ignoreCorruptFiles`` skips what it cannot
    read) cannot be landed: the error of reading it in Python, e.g. a truncated or non-gzip
    ``.json.gz``. None for an empty file (nothing to land, nothing wrong)."""
    try:
        lines = read_records(path)
    except (OSError, EOFError) as exc:
        return f"cannot be read: {type(exc).__name__}: {exc}"
    return f"cannot be read by Spark ({len(lines)} line(s) readable in Python)" if lines else None


#: What Spark's whole-text reader puts in place of bytes that are not UTF-8 (it decodes a file
#: with Hadoop's ``Text``, which replaces each malformed sequence): a line holding it is checked
#: against its bytes (:func:`_not_utf8_lines`), since U+FFFD may also be delivered as valid UTF-8.
REPLACEMENT = "\ufffd"


def _file_texts(spark: SparkSession, files: list[BucketFile]) -> DataFrame:
    """``(path, value)``: each file's whole text (gzip decompressed by the ``.gz`` extension,
    Hadoop's codec factory) under its name as the layout gives it. A file Spark cannot read has
    no row (``ignoreCorruptFiles``). Bytes that are not UTF-8 come out as :data:`REPLACEMENT`
    (one or more per malformed sequence; never a ``\\n``, so the lines stay the file's lines)."""
    from pyspark.sql import functions as F

    texts = (
        spark.read.option("ignoreCorruptFiles", "true")
        .text([spark_uri(f.path) for f in files], wholetext=True)
        .select(F.col("_metadata.file_path").alias("uri"), "value")
    )
    # Spark reports percent-encoded file URIs (file:/abs/my%20dir/a+0+0.json, s3a://b/k); decode
    # them back to our names: absolute paths, s3://b/k (url_decode is form decoding, so protect
    # literal '+' first).
    uri = F.regexp_replace(F.regexp_replace("uri", r"^file:(//)?", ""), r"^s3a://", "s3://")
    path = F.replace(uri, F.lit("+"), F.lit("%2B"))
    return texts.select(F.url_decode(path).alias("path"), "value")


def _parse_files(spark: SparkSession, table_name: str, files: list[BucketFile]) -> DataFrame:
    """One row per record of each line of ``files`` (:func:`records.with_records`: a line that
    is a JSON array gives a row per element): parsed fields, metadata, ``_reason`` and
    ``_replaced`` (the line's position when it holds a :data:`REPLACEMENT`, else NULL: its bytes
    may not be UTF-8), plus one row with a null ``line`` for each file without lines. A file
    that cannot be read (a corrupt ``.gz``) has no row at all (``ignoreCorruptFiles``): the
    caller reports it."""
    from pyspark.sql import functions as F

    meta = spark.createDataFrame(
        [(str(f.path), f.topic, f.partition, f.first_offset) for f in files],
        "path string, topic string, partition int, first_offset bigint",
    )
    texts = _file_texts(spark, files)
    # A file ends with a newline: the empty piece after it is not a line (blank lines inside a
    # file are, and are quarantined as "not a JSON object"). Stripping it before the split keeps
    # the exploded rows free of the whole-file array. An empty file explodes to one null line.
    body = F.regexp_replace("value", r"\n$", "")
    pieces = F.when(F.col("value") == "", F.array().cast("array<string>")).otherwise(
        F.split(body, "\n")
    )
    lines = texts.select(
        "path",
        _hash("value").alias("_file_hash"),  # the file's, on each of its rows (8 bytes)
        F.posexplode_outer(pieces).alias("pos", "line"),
    )
    # per line, before a line that is an array becomes a row per element
    lines = lines.withColumn("_replaced", F.when(F.col("line").contains(REPLACEMENT), F.col("pos")))
    parsed = records.with_records(lines, table_name, "line")  # a row per record
    parsed = parsed.withColumn("_reason", F.when(F.col("line").isNotNull(), F.col("_reason")))
    return parsed.join(F.broadcast(meta), on="path", how="left")


#: The columns of a parsed line that :func:`_metadata_columns` reads.
_METADATA_SOURCES = ("topic", "partition", "first_offset", "pos", "_element", "path")
#: Read as well: the file's content hash, for the manifest.
_FILE_HASH = "_file_hash"


def _metadata_columns(load_id: str) -> list[Column]:
    from pyspark.sql import functions as F

    return [
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        (F.col("first_offset") + F.col("pos")).alias("_offset"),
        F.col("_element"),
        F.col("path").alias("_source_file"),
        F.lit(load_id).alias("_load_id"),
        F.current_timestamp().alias("_ingested_at"),
    ]


#: A layout file's identity in any bucket: (topic, partition, first offset).
FileKey = tuple[str, int, int]

#: How the manifest's ``problem`` of a copy of a file landed from elsewhere begins (recorded, not
#: landed: :func:`land_bucket`); a copy is no rejected file.
COPY_PROBLEM = "a copy of "


@dataclass
class Manifest:
    """What the manifest (``raw._loaded_files``) says before a load: ``files``, ``{file_path:
    problem}`` of the files landed (problem None) or rejected before, ``landed``, ``{(topic,
    partition, first offset): [(file_path, size in bytes, content hash)]}`` of the layout files
    landed (size and hash None in rows of older homes), and ``unfinished``, the load ids with a
    start row but no file rows (loads that crashed before their manifest commit). Manifests of
    homes from before the ``problem`` column read as all landed."""

    files: dict[str, str | None]
    unfinished: set[str]
    landed: dict[FileKey, list[tuple[str, int | None, int | None]]] = field(default_factory=dict)
    #: ``{file_path: its newest row}`` of the files landed (that row has no problem)
    landings: dict[str, FileRow] = field(default_factory=dict)
    #: ``{file_path: its newest row}`` of the files rejected (not the copies)
    rejections: dict[str, FileRow] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRow:
    """A file's newest manifest row (its landing, or its rejection): ``size`` in bytes,
    ``content_hash`` (:func:`_hash`; None for a rejected or empty file and in rows of older
    homes), and ``at``, the load's start (UTC)."""

    size: int | None
    content_hash: int | None
    at: datetime

    def may_differ(self, found: BucketFile) -> bool:
        """Whether ``found`` (the file at the row's path now) may hold other bytes than the row
        saw: another size, or written after it. Only such landed files are hashed
        (:func:`rewritten_files`), and only such rejected ones tried again: a listing tells
        the others apart at no cost."""
        if found.size is not None and self.size is not None and found.size != self.size:
            return True
        return found.modified is not None and found.modified > self.at.timestamp()


def copy_candidates(found: BucketFile, manifest: Manifest) -> list[tuple[str, int]]:
    """``[(path, content hash)]`` of the landed files that ``found`` (a file not landed under its
    own path) may be a copy of: layout files of the same topic, partition and first offset,
    landed from another location, of the same size in bytes and with a content hash recorded.
    Whether it is one is the hashes' equality (:func:`_content_hashes`, see
    :func:`land_bucket`). Files landed before sizes and hashes were recorded are never
    matched."""
    if found.problem or found.first_offset is None or found.size is None:
        return []
    key = (found.topic, found.partition, found.first_offset)
    return [
        (path, digest)
        for path, size, digest in manifest.landed.get(key, ())
        if size == found.size and digest is not None and path != str(found.path)
    ]


def _content_hashes(spark: SparkSession, files: list[BucketFile]) -> dict[str, int]:
    """``{path: content hash}`` of ``files``: Spark's ``xxhash64`` of each file's text as land
    reads it (gzip decompressed), the hash :func:`_parse_files` records for every landed file.
    A file Spark cannot read has none."""

    texts = _file_texts(spark, files)
    return {r["path"]: r["h"] for r in texts.select("path", _hash("value").alias("h")).collect()}


def _hash(column: str) -> Column:
    """A file's content hash: xxhash64 of its text (64 bits; what tells a copied file from
    another file of the same name and size)."""
    from pyspark.sql import functions as F

    return F.xxhash64(column)


def _read_manifest(spark: SparkSession) -> Manifest:
    """The manifest's rows, read once (see :class:`Manifest`)."""
    from pyspark.sql import functions as F

    manifest = spark.table(f"{RAW_SCHEMA}.`{LOADED_FILES_TABLE}`")

    def column(name: str, kind: str) -> Column:  # absent from the manifests of older homes
        return F.col(name) if name in manifest.columns else F.lit(None).cast(kind)

    columns = (
        "file_path",
        column("problem", "string"),
        "_load_id",
        column("file_size", "long"),
        column("content_hash", "long"),
        "loaded_at",
    )
    files: dict[str, str | None] = {}
    newest: dict[str, tuple[str | None, FileRow]] = {}  # {path: (problem, its newest row)}
    landed: dict[FileKey, list[tuple[str, int | None, int | None]]] = {}
    started, finished = set(), set()
    for path, why, load_id, size, digest, at in manifest.select(*columns).collect():
        if path is None:
            started.add(load_id)
            continue
        finished.add(load_id)
        row = FileRow(size, digest, _utc(at))
        if path not in newest or newest[path][1].at < row.at:
            newest[path] = (why, row)
        parsed = parse_file_name(path.rsplit("/", 1)[-1]) if why is None else None
        if parsed is not None:
            landed.setdefault(parsed, []).append((path, size, digest))
    landings, rejections = {}, {}
    for path, (why, row) in newest.items():
        files[path] = why
        if why is None:
            landings[path] = row
        elif not why.startswith(COPY_PROBLEM):
            rejections[path] = row
    return Manifest(files, started - finished, landed, landings, rejections)


def _utc(moment: datetime) -> datetime:
    """A manifest timestamp as an aware UTC datetime (Spark returns naive ones in the session's
    time zone, UTC: pinlake.spark)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _remove_loads(spark: SparkSession, load_ids: set[str]) -> None:
    """Delete the rows of unfinished loads ``load_ids`` from the raw tables, the quarantine
    and, with their start rows, the manifest (crash recovery; see the module docstring)."""
    if not load_ids:
        return
    ids = ", ".join(f"'{load_id}'" for load_id in sorted(load_ids))
    for name in (*TABLES, QUARANTINE_TABLE):
        spark.sql(f"delete from {RAW_SCHEMA}.`{name}` where _load_id in ({ids})")
    spark.sql(
        f"delete from {RAW_SCHEMA}.`{LOADED_FILES_TABLE}` "
        f"where file_path is null and _load_id in ({ids})"
    )
    console.print(f"[yellow]removed the rows of {len(load_ids)} unfinished load(s)")


def _recover_legacy_loads(spark: SparkSession) -> None:
    """A home from before the manifest's start rows: remove the rows of the loads that
    ``raw._loads`` lists without manifest rows (its recovery rule), then drop ``raw._loads``."""
    legacy = f"{RAW_SCHEMA}.`{LEGACY_LOADS_TABLE}`"
    orphans = {
        row[0]
        for row in spark.sql(
            f"select _load_id from {legacy} where _load_id not in (select _load_id from "
            f"{RAW_SCHEMA}.`{LOADED_FILES_TABLE}` where _load_id is not null)"
        ).collect()
    }
    _remove_loads(spark, orphans)
    spark.sql(f"drop table {legacy}")
    console.print(f"[yellow]{legacy} replaced by the start rows of {LOADED_FILES_TABLE}: dropped")


def _append_manifest(spark: SparkSession, rows: list[tuple]) -> None:
    """Append ``rows`` (:data:`LOADED_FILES_DDL`'s columns) to the manifest; manifests from
    before the ``problem`` column gain it."""
    spark.createDataFrame(rows, LOADED_FILES_DDL).write.format("delta").mode("append").option(
        "mergeSchema", "true"
    ).saveAsTable(f"{RAW_SCHEMA}.`{LOADED_FILES_TABLE}`")


def _start_load(spark: SparkSession, started_at: datetime) -> str:
    """Record a new load id (its start row) before any data is written."""
    load_id = uuid.uuid4().hex
    _append_manifest(spark, [(None, None, 0, 0, load_id, started_at, None, None, None)])
    return load_id


def land_bucket(settings: Settings, options: LandOptions | None = None) -> LandResult:
    """Land every file of the bucket not landed (or rejected) yet; raises UsageError when the
    bucket is missing. Files that cannot be landed are recorded, never raised (see the module)."""
    start = time.perf_counter()
    given = options.bucket if options else None
    bucket = location(given or settings.bucket_dir)
    # first: a bucket Spark cannot read is refused before the hint of a missing one, whose
    # `produce --to bucket` would refuse it too (helper-92)
    check_landable(bucket)
    try:
        if not bucket_exists(bucket):
            if isinstance(bucket, Path) and bucket.exists():  # a file: produce refuses it too
                raise UsageError(
                    f"bucket {bucket} exists and is not a folder: give --bucket (or "
                    "PINLAKE_BUCKET) the topics bucket's folder"
                )
            # nothing wrote it: what does (helper-76), into that bucket (helper-80: a --bucket
            # of land's was not in the produce step of the hint)
            produce = "produce --to bucket"
            if given:
                produce += f" --bucket {shlex.quote(str(bucket))}"
            # a --bucket given is a bad argument (exit 2); the home's own bucket that nothing
            # wrote yet is the home's state, as export's and report's on an empty home (exit 1)
            missing = UsageError if given else PinlakeError
            raise missing(
                f"bucket {bucket} does not exist: "
                f"{next_steps(settings, 'produce --to bucket', produce)}"
            )
        files = discover_files(settings, bucket)
        result = LandResult(
            bucket=str(bucket),
            files_found=sum(len(found) for found in files.values()),
            files_not_read=files_not_read(settings, bucket),
        )
    except BucketAccessError as exc:
        raise bucket_error(exc, "listed", settings) from exc
    if not result.files_found and not manifest_created(settings):
        # nothing to land and nothing landed before (no load to recover, no file gone): no
        # Spark (about 20 s of a JVM that created nine empty tables)
        result.seconds = time.perf_counter() - start
        return result

    from pinlake.spark import check_spark_home, get_spark, spark_errors

    check_spark_home(settings)
    with spark_errors(settings):
        spark = get_spark(settings, app_name="pinlake-land")
        result.spark_startup_seconds = time.perf_counter() - start
        with result.phase("tables"):
            existed = ensure_raw_tables(spark, settings)
        with result.phase("manifest read"):
            manifest = _read_manifest(spark)
        with result.phase("recovery"):
            if LEGACY_LOADS_TABLE in existed:
                _recover_legacy_loads(spark)
            _remove_loads(spark, manifest.unfinished)
        seen = manifest.files  # {file_path: problem}
        unseen = {
            name: [f for f in found if str(f.path) not in seen] for name, found in files.items()
        }
        # a landed file that may hold other bytes now: hashed with the copy candidates below
        maybe_rewritten = _written_since(files, manifest.landings)
        result.files_gone = gone_files(settings, bucket, manifest, files)
        # a file named like one landed from elsewhere, of its size: a copy if its content is
        candidates = {
            str(f.path): (f, landed)
            for found in unseen.values()
            for f in found
            if (landed := copy_candidates(f, manifest))
        }
        digests: dict[str, int] = {}
        if candidates or maybe_rewritten:
            with result.phase("content hashes"):
                digests = _content_hashes(
                    spark, [f for f, _ in candidates.values()] + maybe_rewritten
                )
        rewritten = rewritten_files(maybe_rewritten, manifest, digests)
        # a rejected file written since (mended): tried again (helper-94: it never was)
        retried = {str(f.path) for f in _written_since(files, manifest.rejections)}
        again = rewritten | retried
        # in delivery order: the files not seen before, and those landed or tried again
        new_files = {
            name: [f for f in found if str(f.path) not in seen or str(f.path) in again]
            for name, found in files.items()
        }
        for found in files.values():
            for f in found:
                path = str(f.path)
                if path in rewritten:  # landed again: its records are others than landed
                    result.files_changed[path] = (manifest.landings[path].size, f.size)
                elif path in retried:
                    result.files_retried.append(path)
                elif path in seen:
                    rejected = path in manifest.rejections  # a copy is recorded, not rejected
                    result.files_seen_before += 1
                    result.files_rejected_before += rejected
                    result.files_copied_before += seen[path] is not None and not rejected
        for path, (_f, landed) in candidates.items():
            original = next((p for p, digest in landed if digests.get(path) == digest), None)
            if original is not None:
                result.files_copied[path] = original
        if any(new_files.values()):
            copy_hashes = {path: digests[path] for path in result.files_copied}
            try:
                _land_files(spark, new_files, result, copy_hashes)
            except KeyboardInterrupt:  # the account of a Ctrl-C (helper-93: `interrupted` alone)
                todo = sum(len(found) for found in new_files.values())
                console.print(
                    f"[yellow]land stopped during its load of {counted(todo, 'file')}: none of "
                    f"them counts as landed; the next `{PINLAKE} land` removes the rows this "
                    "load wrote and lands them[/]",
                    soft_wrap=True,
                )
                raise
    result.seconds = time.perf_counter() - start
    return result


def _written_since(
    files: dict[str, list[BucketFile]], rows: dict[str, FileRow]
) -> list[BucketFile]:
    """The files (``files``: by table, in delivery order) that have a manifest row in ``rows``
    (by path: :attr:`Manifest.landings` or :attr:`Manifest.rejections`) and may hold other
    bytes than that row saw (:meth:`FileRow.may_differ`)."""
    return [
        f
        for found in files.values()
        for f in found
        if (row := rows.get(str(f.path))) is not None and row.may_differ(f)
    ]


def rewritten_files(
    maybe: list[BucketFile], manifest: Manifest, digests: dict[str, int]
) -> set[str]:
    """The paths of ``maybe`` (files at landed paths whose size or time changed since:
    :meth:`FileRow.may_differ`) whose bytes are not the ones landed: their content hash
    (``digests``, :func:`_content_hashes`) is not the landing's, or, where the landing has no
    hash (older homes, an empty file), their size is not its size. Such a file was written
    again after it was landed (deleted, then written anew by ``produce --to bucket`` from the
    same offsets, or by a sink of a topic made again), or appended to by hand: land lands it
    again, whole (helper-93: ``produce`` after a landed file was deleted wrote new records
    under its name, and land named the file as changed and never landed them). A file whose
    bytes are the landed ones (touched, or copied over itself) is not."""
    rewritten = set()
    for found in maybe:
        path = str(found.path)
        landing = manifest.landings[path]
        if landing.content_hash is not None:
            if path in digests and digests[path] != landing.content_hash:
                rewritten.add(path)
        elif found.size is not None and landing.size is not None and found.size != landing.size:
            rewritten.add(path)
    return rewritten


def gone_files(
    settings: Settings, bucket: Location, manifest: Manifest, found: dict[str, list[BucketFile]]
) -> list[str]:
    """The paths (sorted) of the files landed before (recorded without a problem) from this
    bucket's topic folders (:func:`pinlake.bucket.layout.topic_dir` of each table's batch topic)
    that are not among ``found`` (:func:`discover_files`, ``{table: files}``). Files landed from
    another location (the bucket moved) are not under these folders and never named."""
    folders = tuple(f"{topic_dir(bucket, settings.topic(name))}/" for name in TABLES)
    present = {str(f.path) for files in found.values() for f in files}
    return sorted(
        path
        for path, problem in manifest.files.items()
        if problem is None and path.startswith(folders) and path not in present
    )


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _land_files(
    spark: SparkSession,
    files: dict[str, list[BucketFile]],
    result: LandResult,
    copy_hashes: dict[str, int],
) -> None:
    """One load: its start row in the manifest, the raw tables, then all quarantined lines,
    then the manifest's file rows (last): the landed files with their counts, the rejected
    ones with their problem and the copies of files landed before (``result.files_copied``,
    not read, ``copy_hashes`` their content hashes) with the path they were landed from; each
    with its size and content hash."""
    now = datetime.now(timezone.utc)
    with result.phase("load id"):
        load_id = _start_load(spark, now)
    manifest, quarantines, caches = [], [], []
    sizes = {str(f.path): f.size for found in files.values() for f in found}
    hashes = dict(copy_hashes)
    copied = result.files_copied
    problems: dict[str, str] = {}  # {path: problem} of the rejected files and the copies
    todo = sum(len(found) for found in files.values()) - len(copied)
    with console.status(f"[bold]landing {todo} file(s)…") as status:
        for name in TABLES:
            rejected = {str(f.path): f.problem for f in files[name] if f.problem}
            readable = [f for f in files[name] if not f.problem and str(f.path) not in copied]
            copies = {
                str(f.path): f"{COPY_PROBLEM}{copied[str(f.path)]} (same name, size and content), "
                "landed from there: not landed again"
                for f in files[name]
                if str(f.path) in copied
            }
            if readable:
                status.update(f"[bold]landing {len(readable)} file(s) into {raw_table(name)}…")
                with result.phase(name):
                    counts, quarantine, cache = _land_table(spark, name, readable, load_id, result)
                quarantines.append(quarantine)
                caches.append(cache)
                for f in readable:
                    problem = None if str(f.path) in counts else unreadable_reason(f.path)
                    if problem:
                        rejected[str(f.path)] = problem
                    else:
                        # an empty file has no row: nothing landed, no hash
                        records_, quarantined, hashes[str(f.path)] = counts.get(
                            str(f.path), (0, 0, None)
                        )
                        manifest.append((name, str(f.path), records_, quarantined, load_id, now))
                        if records_ + quarantined == 0:
                            result.files_empty.append(str(f.path))
            manifest.extend((name, path, 0, 0, load_id, now) for path in [*rejected, *copies])
            result.files_rejected.update(rejected)
            problems.update(rejected)
            problems.update(copies)
        if result.total_quarantined:
            with result.phase("quarantine"):
                _union(quarantines).write.format("delta").mode("append").saveAsTable(
                    f"{RAW_SCHEMA}.{QUARANTINE_TABLE}"
                )
        rows = [
            (*row, problems.get(row[1]), sizes.get(row[1]), hashes.get(row[1])) for row in manifest
        ]
        with result.phase("manifest write"):
            _append_manifest(spark, rows)
    result.files_landed = len(manifest) - len(problems)
    result.files_empty.sort()
    for cache in caches:
        cache.unpersist()


#: The columns of a quarantined unit that :func:`_land_table` selects the quarantine from.
_QUARANTINE_SOURCES = ("_reason", "_raw_text", *_METADATA_SOURCES)
#: Their types in the frame of :func:`_not_utf8_lines` (as :func:`_parse_files` makes them).
_QUARANTINE_SOURCES_DDL = (
    "_reason string, _raw_text string, topic string, partition int, first_offset bigint, "
    "pos int, _element int, path string"
)


def _not_utf8_lines(
    spark: SparkSession, files: list[BucketFile], replaced: dict[str, set[int]]
) -> list[Row]:
    """The quarantine rows (:data:`_QUARANTINE_SOURCES`) of the lines of ``files`` whose bytes
    are not valid UTF-8, among ``replaced`` (``{path: positions}`` of the lines Spark read with a
    :data:`REPLACEMENT`; usually none): each such line once, reason :data:`records.NOT_UTF8`,
    raw text its bytes in base64 (:func:`records.undecodable_text`), ``_element`` NULL. Only
    these lines' files are read again, as bytes (:func:`read_records`); the test of valid UTF-8
    is the stream path's (:func:`records.utf8_text`). A line that holds U+FFFD as valid UTF-8
    is not one of them. Raises :class:`PinlakeError` when a file cannot be read again or no
    longer has the line (it changed while landing)."""
    from pyspark.sql import functions as F

    by_path = {str(f.path): f for f in files}
    rows = []
    for path, positions in sorted(replaced.items()):
        found = by_path[path]
        try:
            lines = read_records(found.path)
        except (OSError, EOFError) as exc:
            raise PinlakeError(
                f"{path}: its bytes cannot be read to check its lines for UTF-8: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if max(positions) >= len(lines):
            raise PinlakeError(f"{path} changed while it was being landed: land it again")
        rows.extend(
            (path, pos, lines[pos], found.topic, found.partition, found.first_offset)
            for pos in sorted(positions)
        )
    read = spark.createDataFrame(
        rows,
        "path string, pos int, bytes binary, topic string, partition int, first_offset bigint",
    )
    return (
        read.filter(records.utf8_text(F.col("bytes")).isNull())
        .select(
            F.lit(records.NOT_UTF8).alias("_reason"),
            records.undecodable_text(F.col("bytes")).alias("_raw_text"),
            "topic",
            "partition",
            "first_offset",
            "pos",
            F.lit(None).cast("int").alias("_element"),
            "path",
        )
        .collect()
    )


def _land_table(
    spark: SparkSession, name: str, files: list[BucketFile], load_id: str, result: LandResult
) -> tuple[dict[str, tuple[int, int, int]], DataFrame, DataFrame]:
    """Append ``files``' good lines to ``raw.<name>``; return ``{path: (records, quarantined,
    content hash)}``
    of the files read (a file Spark could not read is missing), the quarantined lines and the
    cache of parsed lines (the caller unpersists it).

    The per-file counts come grouped by file and by line for the lines read with a
    replacement character (one group per file otherwise): when some of those lines are not
    UTF-8 (:func:`_not_utf8_lines`), their rows leave the append and the quarantine, each is
    quarantined once instead, and the counts follow. Data without a replacement character
    costs a test per line and nothing more.

    The parsed lines are cached once: the per-file counts materialise the cache, the raw append
    and the (normally tiny) quarantine rows read from it. The cache holds what those three read:
    the typed record, the reason and the metadata, and the text only of a unit to quarantine;
    with the texts of every line (the line, the record, its fields as text) it was written and
    read back at about twice the size (the append of a million records: 49.9 → 35.1 s,
    bench/README.md). The cache is on disk only: held in
    memory first (``MEMORY_AND_DISK``), a partition of a million-event load (about 30 MB of
    lines) ran a cluster executor out of heap while its block was being built, with 1g and 2g
    executors alike (``java.lang.OutOfMemoryError`` in the in-memory columnar cache, exit code
    52), and Spark retried the task on new executors without end; written to disk batch by
    batch it lands at the same speed on ``local[2]`` (bench/bench_scale_out.py).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    is_bad = F.col("_reason").isNotNull()
    parsed = (
        _parse_files(spark, name, files)
        .select(
            "p",
            RESCUED_DATA,
            "_reason",
            *_METADATA_SOURCES,
            _FILE_HASH,
            F.col("line").isNotNull().alias("_is_line"),
            F.when(is_bad, F.coalesce("_record", "line")).alias("_raw_text"),
            "_replaced",
        )
        .persist(StorageLevel.DISK_ONLY)
    )
    is_line = F.col("_is_line")
    per_group = (
        parsed.groupBy("path", "_replaced")
        .agg(
            F.count(F.when(is_line & ~is_bad, 1)).alias("records"),
            F.count(F.when(is_bad, 1)).alias("quarantined"),
            F.first(_FILE_HASH).alias("hash"),
        )
        .collect()
    )
    totals: dict[str, list[int]] = {}  # {path: [records, quarantined, content hash]}
    replaced: dict[str, dict[int, tuple[int, int]]] = {}  # {path: {pos: (records, quarantined)}}
    for row in per_group:
        total = totals.setdefault(row["path"], [0, 0, row["hash"]])
        total[0] += row["records"]
        total[1] += row["quarantined"]
        if row["_replaced"] is not None:
            replaced.setdefault(row["path"], {})[row["_replaced"]] = (
                row["records"],
                row["quarantined"],
            )
    not_utf8 = (
        _not_utf8_lines(spark, files, {path: set(lines) for path, lines in replaced.items()})
        if replaced
        else []
    )
    good = parsed.filter(is_line & ~is_bad)
    bad = parsed.filter(is_bad).select(*_QUARANTINE_SOURCES)
    if not_utf8:  # their rows give way to one quarantine row per line
        lines = spark.createDataFrame(
            [(row["path"], row["pos"]) for row in not_utf8], "path string, pos int"
        )
        good = good.join(F.broadcast(lines), ["path", "pos"], "left_anti")
        bad = bad.join(F.broadcast(lines), ["path", "pos"], "left_anti").unionByName(
            spark.createDataFrame(not_utf8, _QUARANTINE_SOURCES_DDL)
        )
        for row in not_utf8:
            records_, quarantined = replaced[row["path"]][row["pos"]]
            totals[row["path"]][0] -= records_
            totals[row["path"]][1] += 1 - quarantined
    good.select(*records.landed_fields(name), *_metadata_columns(load_id)).write.format(
        "delta"
    ).mode("append").saveAsTable(raw_table(name))
    bad = bad.select(
        F.lit(name).alias("table_name"),
        F.col("_reason").alias("reason"),
        F.col("_raw_text").alias("raw_text"),
        (F.col("pos") + 1).alias("_line"),
        *_metadata_columns(load_id),
    )
    counts = {path: (total[0], total[1], total[2]) for path, total in totals.items()}
    result.records[name] += sum(c[0] for c in counts.values())
    result.quarantined[name] += sum(c[1] for c in counts.values())
    return counts, bad, parsed


#: The most rows a table of :func:`print_land_summary` lists (files changed since they were
#: landed); the line below it counts the rest.
SHOWN_FILES = 20


def print_land_summary(result: LandResult) -> None:
    """Records and quarantined lines per table, files (landed, seen before, rejected, not
    read: they add up to what was found), time, and where to look at rejects; the files landed
    before that changed since (a table, :data:`SHOWN_FILES` rows at most) or are gone."""
    console.print(table("land", ["table", "records", "quarantined"], result.summary_rows()))
    if not result.files_found:
        console.print(
            f"[yellow]nothing to land: {escape(result.bucket or 'the bucket')} holds no file "
            "under its batch topics' folders (topics/<topic>/partition=<p>/): `"
            f"{PINLAKE} produce --to bucket` writes them, as the sink does what the ingestion "
            "API acknowledged[/]",
            soft_wrap=True,
        )
    empty = (
        f" ({len(result.files_empty)} of them empty: no record, e.g. {result.files_empty[0]})"
        if result.files_empty
        else ""
    )
    console.print(
        f"{counted(result.files_found, 'file')} found: {result.files_landed:,} landed now{empty}, "
        f"{len(result.files_rejected):,} rejected now, "
        + (
            f"{len(result.files_copied)} copies of files landed from elsewhere (not landed again), "
            if result.files_copied
            else ""
        )
        + f"{result.files_seen_before:,} landed or "
        f"rejected before ({result.files_rejected_before:,} rejected"
        + (
            f", {result.files_copied_before:,} copies of files landed from elsewhere"
            if result.files_copied_before
            else ""
        )
        + "); "
        f"{result.seconds:.1f}s ({result.spark_startup_seconds:.1f}s Spark start-up"
        + (
            f", {rate_text(result.records_per_second)} records/s after it)"
            if result.files_landed
            else ")"
        ),
        soft_wrap=True,
    )
    if result.files_rejected:
        console.print(
            table(
                "files that cannot be landed",
                ["file", "problem"],
                sorted(result.files_rejected.items()),
            )
        )
    if result.files_changed:
        changed = sorted(result.files_changed.items())
        console.print(
            table(
                "files landed again: other bytes than were landed",
                ["file", "bytes landed", "bytes now"],
                [
                    (path, "?" if was is None else f"{was:,}", "?" if now is None else f"{now:,}")
                    for path, (was, now) in changed[:SHOWN_FILES]
                ],
            )
        )
        more = (
            f" ({len(changed) - SHOWN_FILES:,} more not shown)"
            if len(changed) > SHOWN_FILES
            else ""
        )
        console.print(
            f"[yellow]{len(changed)} file(s) landed before hold other bytes now{more}, so they "
            "were landed again, whole: a file written anew under a landed name (after it was "
            "deleted) holds new records; one appended to by hand now has its earlier records "
            "in raw twice (staging keeps one delivery per key)",
            soft_wrap=True,
        )
    if result.files_retried:
        first = escape(result.files_retried[0])
        console.print(
            f"[yellow]{len(result.files_retried)} file(s) rejected before were written since "
            f"and tried again, e.g. {first} (counted above as landed or rejected now)",
            soft_wrap=True,
        )
    if result.files_gone:
        console.print(
            f"[yellow]{len(result.files_gone)} file(s) landed before are no longer in the "
            f"bucket, e.g. {escape(result.files_gone[0])}: their records stay in raw (land "
            "never removes what it landed)",
            soft_wrap=True,
        )
    if result.files_copied:
        first, original = next(iter(sorted(result.files_copied.items())))
        console.print(
            f"[yellow]{len(result.files_copied)} file(s) have the name, size and content of files "
            f"landed from another location, e.g. {escape(first)} = {escape(original)}: the "
            "bucket was copied or moved, or another writer delivered the same records under the "
            "same offsets (a sink and `produce --to bucket` from one source); their records are "
            "in raw already, not landed again",
            soft_wrap=True,
        )
    if result.files_rejected or result.files_rejected_before:
        console.print(
            f"[yellow]rejected files: select file_path, problem from {RAW_SCHEMA}."
            f"{LOADED_FILES_TABLE} where problem is not null"
        )
    if result.files_not_read:
        console.print(
            table(
                "files land does not read", ["file", "why"], sorted(result.files_not_read.items())
            )
        )
    if result.total_quarantined:
        console.print(
            f"[yellow]{result.total_quarantined:,} quarantined (lines, or elements of JSON "
            f"arrays) in {RAW_SCHEMA}.{QUARANTINE_TABLE}, each with its reason and raw_text; "
            f"{escape(quarantine_counts_hint(QUARANTINE_TABLE))} counts them by reason",
            soft_wrap=True,
        )
