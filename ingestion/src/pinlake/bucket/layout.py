"""The topics-bucket layout, the one place that knows it.

It is the Confluent S3 sink connector's (``DefaultPartitioner``, ``JsonFormat``; see Confluent's
"Amazon S3 Sink Connector" docs, *S3 object names*)::

    <bucket>/topics/<topic>/partition=<p>/<topic>+<p>+<first offset>.json[.gz]

* one record value per line, ``\\n``-terminated, exactly as delivered (a line that is not JSON
  stays: land quarantines it); so a file's record count is its line count;
* ``.json.gz``: the same, gzip-compressed (the connector's ``s3.compression.type=gzip``); pinlake's
  own writers write plain ``.json``, every reader reads both (:func:`read_records`);
* ``<first offset>`` is the Kafka offset of the file's first record, zero-padded to
  :data:`OFFSET_WIDTH` digits (the connector's ``filename.offset.zero.pad.width`` default) and
  always parsed as a number, never compared as text;
* files are written durably and atomically by :func:`write_atomic` (temp file
  ``.<name>.<pid>.tmp`` in the same folder, fsync, rename, fsync of the folder), so a reader
  never sees a partial file and a crash never loses an acknowledged one;
  :func:`remove_orphaned_temp_files` removes what a writer killed mid-write left behind.

Writers: :class:`PartitionWriter` (``pinlake produce --to bucket``) and
:mod:`pinlake.bucket.sink`; readers: :func:`list_files` / :func:`list_bucket` (land, summaries,
tests), which list every file of a topic folder, each either a layout file or one with the
reason it is not (:attr:`BucketFile.problem`), so that no file is skipped in silence. The Databricks
DAG's load SQL takes its file-name patterns from :data:`PARTITION_SQL_REGEX` and
:data:`OFFSET_SQL_REGEX`.
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

TOPICS_DIR = "topics"
EXTENSION = ".json"
#: The extensions of layout files: plain JSON lines, and gzip-compressed (the Confluent S3 sink's
#: ``JsonFormat`` with ``s3.compression.type`` ``none`` or ``gzip``, its only two choices).
EXTENSIONS = (".json", ".json.gz")
OFFSET_WIDTH = 10

_FILE_NAME = re.compile(
    r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d+)(?P<extension>\.json(?:\.gz)?)$"
)
_PARTITION_DIR = re.compile(r"^partition=(?P<partition>\d+)$")
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
#: Spark SQL ``regexp_extract`` patterns over a file path / name (group 1), for SQL loaders.
PARTITION_SQL_REGEX = "partition=([0-9]+)"
OFFSET_SQL_REGEX = "[+]([0-9]+)[.]json([.]gz)?$"


@dataclass(frozen=True)
class BucketFile:
    """One file of a topic folder. ``problem`` says why it is not a layout file (its name or
    folder does not follow the layout, or its extension is not one of :data:`EXTENSIONS`); then
    ``first_offset`` is None (and ``partition`` too unless its folder gives it), and land
    records the file with that reason instead of guessing."""

    topic: str
    path: Path
    partition: int | None
    first_offset: int | None
    problem: str | None = None

    @property
    def gzip(self) -> bool:
        """Whether the file is gzip-compressed (``.json.gz``)."""
        return self.path.name.endswith(".gz")

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """Delivery order: partition, then first offset, as numbers (odd names last)."""
        big = 2**63
        return (
            big if self.partition is None else self.partition,
            big if self.first_offset is None else self.first_offset,
            self.path.name,
        )


def topic_dir(bucket: Path, topic: str) -> Path:
    """``<bucket>/topics/<topic>``."""
    return bucket / TOPICS_DIR / topic


def partition_dir(bucket: Path, topic: str, partition: int) -> Path:
    """``<bucket>/topics/<topic>/partition=<partition>``."""
    return topic_dir(bucket, topic) / f"partition={partition}"


def file_name(topic: str, partition: int, first_offset: int) -> str:
    """``<topic>+<partition>+<first offset, zero-padded>.json``."""
    return f"{topic}+{partition}+{first_offset:0{OFFSET_WIDTH}d}{EXTENSION}"


def file_path(bucket: Path, topic: str, partition: int, first_offset: int) -> Path:
    """Where the file of ``topic``/``partition`` starting at ``first_offset`` lives."""
    return partition_dir(bucket, topic, partition) / file_name(topic, partition, first_offset)


def parse_file_name(name: str) -> tuple[str, int, int] | None:
    """``(topic, partition, first offset)`` of a layout file name, else None."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    return match["topic"], int(match["partition"]), int(match["offset"])


def classify(topic: str, path: Path, relative: Path) -> BucketFile:
    """``path`` (at ``relative`` below the topic folder of ``topic``) as a :class:`BucketFile`:
    a layout file, or one whose ``problem`` says which rule of the layout it breaks."""
    folder = _PARTITION_DIR.match(relative.parts[0]) if len(relative.parts) == 2 else None
    partition = int(folder["partition"]) if folder else None
    match = _FILE_NAME.match(path.name)
    if folder is None:
        problem = "not directly in a partition=<p> folder of its topic"
    elif match is None:
        if path.name.endswith(EXTENSIONS):
            problem = "file name is not <topic>+<partition>+<offset>.json[.gz]"
        else:
            problem = f"not a JSON-lines file (extension is not {' or '.join(EXTENSIONS)})"
    elif match["topic"] != topic or int(match["partition"]) != partition:
        problem = f"file name names topic {match['topic']!r} partition {match['partition']}"
    else:
        return BucketFile(topic, path, partition, int(match["offset"]))
    return BucketFile(topic, path, partition, None, problem)


def list_files(bucket: Path, topic: str) -> list[BucketFile]:
    """Every file below the topic folder of ``topic`` except the temp files of writers, in
    delivery order (:attr:`BucketFile.sort_key`): the layout files and, with their ``problem``,
    the files that break the layout (see :func:`classify`)."""
    root = topic_dir(bucket, topic)
    found = [
        classify(topic, path.resolve(), path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not _TEMP_NAME.match(path.name)
    ]
    return sorted(found, key=lambda f: f.sort_key)


def list_topics(bucket: Path) -> list[str]:
    """The topic folders under ``<bucket>/topics``, by name."""
    root = bucket / TOPICS_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def stray_files(bucket: Path) -> list[Path]:
    """Files under ``<bucket>/topics`` that are not in a topic folder (directly in ``topics/``)."""
    root = bucket / TOPICS_DIR
    return sorted(p.resolve() for p in root.iterdir() if p.is_file()) if root.is_dir() else []


def open_records(path: Path) -> BinaryIO:
    """A binary reader of a layout file's decompressed bytes (gzip by the ``.gz`` extension).
    Raises OSError (``gzip.BadGzipFile``, ``EOFError`` for a truncated one) while reading."""
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_records(path: Path) -> list[bytes]:
    """The records (lines, without ``\\n``) of a layout file, plain or gzip."""
    with open_records(path) as handle:
        lines = handle.read().split(b"\n")
    if lines[-1] == b"":  # the last line's terminator (a file without one keeps its tail)
        lines.pop()
    return lines


def count_records(path: Path) -> int:
    """Records in a bucket file (plain or gzip): its ``\\n``-terminated lines (blank ones
    included: a blank line is a delivered record that land quarantines)."""
    with open_records(path) as handle:
        return sum(1 for _ in handle)


def next_offset(bucket: Path, topic: str, partition: int) -> int:
    """The offset after the last record of ``topic``/``partition`` in the bucket (0 if none)."""
    files = [
        f
        for f in list_files(bucket, topic)
        if f.partition == partition and f.first_offset is not None
    ]
    if not files:
        return 0
    last = files[-1]
    return last.first_offset + count_records(last.path)


def write_atomic(path: Path, lines: list[bytes]) -> None:
    """Write ``lines`` (each without its ``\\n``) to ``path`` durably and atomically.

    Temp file ``.<name>.<pid>.tmp`` beside it, fsync, ``os.replace``, fsync of the folder (so the
    rename itself survives a power loss). A failed write leaves no temp file; raises OSError.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(b"\n".join(lines) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_or_verify(path: Path, lines: list[bytes]) -> bool:
    """Write ``lines`` to ``path`` (:func:`write_atomic`) unless the file exists; an existing
    file must hold exactly these lines (a re-delivery of the same offsets). Returns True when it
    wrote. Raises :class:`FileExistsError` when the file holds other records: another writer (a
    ``produce --to bucket`` into the same bucket) used these offsets, and overwriting it would
    lose its records."""
    if path.exists():
        if path.read_bytes() == b"\n".join(lines) + b"\n":
            return False
        raise FileExistsError(
            f"{path} holds other records than the {len(lines)} delivered from its first offset: "
            "another writer (e.g. `pinlake produce --to bucket`) used this bucket"
        )
    write_atomic(path, lines)
    return True


def remove_orphaned_temp_files(bucket: Path, topics: list[str]) -> int:
    """Remove temp files of writers that died mid-write (their pid is gone); temp files of a
    live writer (producer or sink) are left alone. Returns how many were removed."""
    removed = 0
    for topic in topics:
        for tmp in topic_dir(bucket, topic).glob("partition=*/.*.tmp"):
            match = _TEMP_NAME.match(tmp.name)
            if match and not psutil.pid_exists(int(match["pid"])):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


class PartitionWriter:
    """Appends records to one topic partition of the bucket as layout files of up to
    ``flush_size`` records, continuing after the records already there (a second run appends,
    never overwrites). Raises :class:`FileExistsError` if another writer took a file name."""

    def __init__(self, bucket: Path, topic: str, partition: int, flush_size: int) -> None:
        self.bucket = bucket
        self.topic = topic
        self.partition = partition
        self.flush_size = flush_size
        remove_orphaned_temp_files(bucket, [topic])
        self.first_offset = self.offset = next_offset(bucket, topic, partition)
        self.files: list[Path] = []
        self._buffer: list[bytes] = []

    @property
    def records(self) -> int:
        """Records written by this writer so far."""
        return self.offset - self.first_offset

    def append(self, line: bytes) -> None:
        """Buffer one record (one JSON text, no newline); writes a file every ``flush_size``."""
        self._buffer.append(line)
        if len(self._buffer) >= self.flush_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one file (no-op when empty)."""
        if not self._buffer:
            return
        target = file_path(self.bucket, self.topic, self.partition, self.offset)
        if target.exists():
            raise FileExistsError(f"{target} already exists (is another producer writing?)")
        write_atomic(target, self._buffer)
        self.offset += len(self._buffer)
        self.files.append(target)
        self._buffer = []
