"""``pinlake produce``: emulate the original user-posting script.

:func:`run_produce` draws events (:mod:`pinlake.produce.events`), reads their pin/geo/user rows
from the source database in chunks and sends them either straight into the topics bucket
(:mod:`pinlake.produce.bucket`) or to the ingestion API (:mod:`pinlake.produce.api`). Both paths
serialize rows with :func:`pinlake.produce.payload.row_to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pinlake.config import TABLES, Settings
from pinlake.errors import UsageError


@dataclass
class ProduceOptions:
    """The options of ``pinlake produce`` (exactly the fields the CLI passes)."""

    events: int | None = None
    seed: int = 100
    sequential: bool = False
    sequence_file: Path | None = None
    bucket: Path | None = None
    flush_size: int = 1_000
    stream: bool = False
    api_url: str | None = None
    api_key: str | None = None
    batch_size: int = 1
    concurrency: int = 4
    rate: float | None = None


@dataclass
class ProduceResult:
    """What a produce run sent."""

    destination: str
    events: int
    records: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def records_per_second(self) -> float:
        return self.total_records / self.seconds if self.seconds > 0 else 0.0


def run_produce(settings: Settings, to: str, options: ProduceOptions) -> ProduceResult:
    """Produce ``options.events`` events (default: one per source row) to ``to``."""
    from pinlake.produce.events import EventStream, plan_draws
    from pinlake.source.db import engine_for, source_size

    if to not in ("bucket", "api"):
        raise UsageError(f"unknown destination {to!r} (bucket or api)")
    if to == "bucket":
        extra = [
            flag
            for flag, value in (
                ("--stream", options.stream),
                ("--api-url", options.api_url),
                ("--api-key", options.api_key),
            )
            if value
        ]
        if extra:
            raise UsageError(f"{', '.join(extra)} only apply with --to api")
    if options.flush_size < 1:
        raise UsageError("--flush-size must be at least 1")

    engine = engine_for(settings, create=False)
    try:
        inds, total = plan_draws(
            source_size(engine),
            events=options.events,
            seed=options.seed,
            sequential=options.sequential,
            sequence_file=options.sequence_file,
        )
        events = EventStream(engine, inds, total, rate=options.rate)
        if to == "api":
            from pinlake.produce.api import run_api

            return run_api(settings, events, options)

        from pinlake.produce.bucket import print_summary, write_bucket

        count, writers, seconds = write_bucket(
            settings, events, total=total, bucket=options.bucket, flush_size=options.flush_size
        )
    finally:
        engine.dispose()
    root = options.bucket.expanduser().resolve() if options.bucket else settings.bucket_dir
    print_summary(root, count, writers, seconds)
    return ProduceResult(
        destination="bucket",
        events=count,
        records={t: writers[t].records for t in TABLES},
        files={t: list(writers[t].files) for t in TABLES},
        seconds=seconds,
    )


__all__ = ["ProduceOptions", "ProduceResult", "run_produce"]
