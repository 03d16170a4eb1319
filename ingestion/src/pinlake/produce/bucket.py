"""``pinlake produce --to bucket``: write events straight into the topics bucket.

Files follow :mod:`pinlake.bucket.layout` (the Confluent S3 sink layout), partition 0 of each
table's topic, written by its :class:`~pinlake.bucket.layout.PartitionWriter`: up to
``flush_size`` records per file, offsets continuing after the files already there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from pinlake.bucket.layout import (
    PRODUCER,
    BucketAccessError,
    Location,
    PartitionWriter,
    S3Path,
    bucket_error,
    check_landable,
    claim_writer,
    error_text,
    location,
    other_writer,
    require_s3_bucket,
    writer_refusal,
)
from pinlake.config import TABLES, Settings
from pinlake.console import console, counted, progress, table
from pinlake.errors import PinlakeError, WholeUnits
from pinlake.output import output_folder
from pinlake.produce.options import ProduceResult, ProduceToBucket
from pinlake.produce.payload import dumps

#: The producer writes the bucket's partition 0 of each topic (the topics have one partition).
PARTITION = 0


def _claim(root: Location, home: Path) -> None:
    """Record the producer as ``root``'s writer (:func:`claim_writer`) as it writes its first
    file; raises PinlakeError (one line) when the sink claimed it first or the record cannot be
    written."""
    try:
        other = claim_writer(root, PRODUCER, home)
    except BucketAccessError as exc:
        raise PinlakeError(f"the topics bucket cannot be written: {exc}") from exc
    except OSError as exc:
        raise PinlakeError(f"cannot use bucket {root}: {error_text(exc)}") from exc
    if other is not None:
        raise PinlakeError(writer_refusal(root, PRODUCER, other))


def write_events(
    settings: Settings,
    events: Iterator[tuple[int, dict[str, dict | None]]],
    options: ProduceToBucket,
) -> ProduceResult:
    """Write every event's rows, print the summary and return what was written. On an
    interruption the complete events read so far are flushed first; on Ctrl-C the summary of
    them is printed and KeyboardInterrupt raised again. Raises PinlakeError when the bucket
    cannot be created, is a sink's (:func:`~pinlake.bucket.layout.claim_writer`) or a file name
    is taken by another writer."""
    root = location(options.bucket) if options.bucket else settings.bucket_dir
    check_landable(root)
    try:
        if isinstance(root, S3Path):
            require_s3_bucket(root, settings)
        else:  # a file in the way, no permission: one line (pinlake.output's rule)
            output_folder(root, "bucket").mkdir(parents=True, exist_ok=True)
        other = other_writer(root, PRODUCER)  # recorded as its writer with the first event
        if other is not None:
            raise PinlakeError(writer_refusal(root, PRODUCER, other))
        writers = {
            t: PartitionWriter(root, settings.topic(t), PARTITION, options.flush_size)
            for t in TABLES
        }
    except BucketAccessError as exc:
        raise bucket_error(exc, "used", settings) from exc
    except OSError as exc:
        raise PinlakeError(f"cannot use bucket {root}: {error_text(exc)}") from exc
    total = len(events) if hasattr(events, "__len__") else None
    count = 0
    missing = dict.fromkeys(writers, 0)
    start = time.perf_counter()
    interrupted = False
    try:
        with progress() as bar, WholeUnits() as whole:
            task = bar.add_task(f"events → {root}", total=total)
            try:
                for _ind, rows in events:
                    whole.begin()  # an event's records, and a file they fill, are not cut
                    if count == 0:  # the bucket is the producer's from its first file on
                        _claim(root, settings.home)
                    for name, writer in writers.items():
                        row = rows.get(name)
                        if row is not None:
                            writer.append(dumps(row))
                        else:
                            missing[name] += 1
                    count += 1
                    whole.end()
                    if count % 500 == 0 or options.rate:
                        bar.update(task, completed=count)
            except KeyboardInterrupt:  # Ctrl-C: keep and report what was written
                interrupted = True
            bar.update(task, completed=count)
    finally:  # keep what was produced (Ctrl-C, an error): complete events only
        try:
            for writer in writers.values():
                writer.flush()
        except FileExistsError as exc:
            raise PinlakeError(str(exc)) from exc
        except BucketAccessError as exc:
            raise PinlakeError(f"the topics bucket cannot be written: {exc}") from exc
    result = ProduceResult(
        destination="bucket",
        events=count,
        records={t: w.records for t, w in writers.items()},
        files={
            t: [f if isinstance(f, Path) else str(f) for f in w.files] for t, w in writers.items()
        },
        seconds=time.perf_counter() - start,
        missing=missing,
    )
    print_summary(root, result, writers, interrupted=interrupted)
    if interrupted:  # the files written are in the table: now end as Ctrl-C does
        raise KeyboardInterrupt
    return result


def print_summary(
    root: Location,
    result: ProduceResult,
    writers: dict[str, PartitionWriter],
    *,
    interrupted: bool = False,
) -> None:
    """The per-topic table (records, files, offset range) and the rate line; its title says
    when Ctrl-C cut the run short."""
    rows = [
        (
            w.topic,
            f"{w.records:,}",
            len(w.files),
            f"{w.first_offset:,}..{w.offset - 1:,}" if w.records else "-",
        )
        for w in writers.values()
    ]
    rows.append(
        ("total", f"{result.total_records:,}", sum(len(w.files) for w in writers.values()), "")
    )
    console.print(
        table(
            f"produced {counted(result.events, 'event')} to {root}"
            + (" (interrupted: complete events only)" if interrupted else ""),
            ("topic", "records", "files", "offsets"),
            rows,
        )
    )
    seconds = max(result.seconds, 1e-9)
    console.print(
        f"{result.seconds:.1f}s, {result.records_per_second:,.0f} records/s, "
        f"{result.events / seconds:,.0f} events/s"
    )
    line = result.missing_line()
    if line:
        console.print(line, markup=False, soft_wrap=True)
