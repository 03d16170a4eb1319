"""``pinlake produce --to bucket``: write events straight into the topics bucket.

The layout is exactly the Confluent S3 sink's (DefaultPartitioner, JsonFormat)::

    <bucket>/topics/<prefix>.<pin|geo|user>/partition=0/<prefix>.<table>+0+<offset:010d>.json

Each file holds up to ``flush_size`` records, one JSON object per line (``\\n`` terminated), and is
named after the offset of its first record (zero-padded to 10 digits, Confluent's default
``filename.offset.zero.pad.width``). Offsets continue after the files already in the bucket (the
highest start offset plus its line count), so a second run appends and never overwrites. Files are
written to a hidden temp file (``.<name>.tmp-<pid>``) in the same folder and renamed into place
(``os.replace``), so a reader never sees a partial file.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from pinlake.config import TABLES, Settings
from pinlake.console import console, progress, table
from pinlake.errors import PinlakeError
from pinlake.produce.payload import dumps

PARTITION = 0
OFFSET_WIDTH = 10


def partition_dir(bucket: Path, topic: str, partition: int = PARTITION) -> Path:
    return bucket / "topics" / topic / f"partition={partition}"


def file_name(topic: str, offset: int, partition: int = PARTITION) -> str:
    """Confluent's ``<topic>+<partition>+<start offset>.json``."""
    return f"{topic}+{partition}+{offset:0{OFFSET_WIDTH}d}.json"


def next_offset(directory: Path, topic: str, partition: int = PARTITION) -> int:
    """The offset after the last record already in ``directory`` (0 when there is none)."""
    pattern = re.compile(rf"^{re.escape(topic)}\+{partition}\+(\d+)\.json$")
    last: tuple[int, Path] | None = None
    if directory.is_dir():
        for entry in directory.iterdir():
            match = pattern.match(entry.name)
            if match and (last is None or int(match.group(1)) > last[0]):
                last = (int(match.group(1)), entry)
    if last is None:
        return 0
    with last[1].open("rb") as handle:
        return last[0] + sum(1 for line in handle if line.strip())


class TopicWriter:
    """Buffers one topic's records and writes them as Confluent-named files."""

    def __init__(self, bucket: Path, topic: str, flush_size: int) -> None:
        self.topic = topic
        self.directory = partition_dir(bucket, topic)
        self.flush_size = flush_size
        self.offset = next_offset(self.directory, topic)
        self.first_offset = self.offset
        self.records = 0
        self.files: list[Path] = []
        self._buffer: list[bytes] = []

    def append(self, line: bytes) -> None:
        self._buffer.append(line)
        if len(self._buffer) >= self.flush_size:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / file_name(self.topic, self.offset)
        if target.exists():
            raise PinlakeError(f"{target} already exists (is another producer writing?)")
        temp = self.directory / f".{target.name}.tmp-{os.getpid()}"
        try:
            with temp.open("wb") as handle:
                handle.write(b"\n".join(self._buffer) + b"\n")
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self.offset += len(self._buffer)
        self.records += len(self._buffer)
        self.files.append(target)
        self._buffer = []


def write_bucket(
    settings: Settings,
    events: Iterator[tuple[int, dict[str, dict | None]]],
    *,
    total: int,
    bucket: Path | None,
    flush_size: int,
) -> tuple[int, dict[str, TopicWriter], float]:
    """Write every event's rows; returns (events, writers by table, seconds)."""
    root = bucket.expanduser().resolve() if bucket else settings.bucket_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PinlakeError(f"cannot create bucket {root}: {exc.strerror}") from exc
    writers = {t: TopicWriter(root, settings.topic(t), flush_size) for t in TABLES}
    count = 0
    start = time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task(f"events → {root}", total=total)
            for _ind, rows in events:
                for name, writer in writers.items():
                    row = rows.get(name)
                    if row is not None:
                        writer.append(dumps(row))
                count += 1
                if count % 500 == 0:
                    bar.update(task, completed=count)
            bar.update(task, completed=count)
    finally:  # keep what was produced (e.g. on Ctrl-C): complete events only
        for writer in writers.values():
            writer.flush()
    return count, writers, time.perf_counter() - start


def print_summary(root: Path, events: int, writers: dict[str, TopicWriter], seconds: float) -> None:
    records = sum(w.records for w in writers.values())
    rows = [
        (
            w.topic,
            f"{w.records:,}",
            len(w.files),
            f"{w.first_offset:,}..{w.offset - 1:,}" if w.records else "-",
        )
        for w in writers.values()
    ]
    rows.append(("total", f"{records:,}", sum(len(w.files) for w in writers.values()), ""))
    console.print(
        table(
            f"produced {events:,} events to {root}", ("topic", "records", "files", "offsets"), rows
        )
    )
    rate = records / seconds if seconds > 0 else float("inf")
    console.print(
        f"{seconds:.1f}s, {rate:,.0f} records/s, {events / max(seconds, 1e-9):,.0f} events/s"
    )
