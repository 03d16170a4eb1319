"""The typed options and result of ``pinlake produce`` (one options class per destination)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pinlake.produce.events import AICORE_SEED


@dataclass
class Draws:
    """Which events to send: ``events`` (default one per source row) drawn at random with
    ``seed`` (the AiCore template), ``sequential`` (0, 1, 2, ...) or replayed from
    ``sequence_file``; at most ``rate`` events per second when given."""

    events: int | None = None
    seed: int = AICORE_SEED
    sequential: bool = False
    sequence_file: Path | None = None
    rate: float | None = None


@dataclass
class ProduceToBucket(Draws):
    """Write the records straight into the topics bucket (no Kafka, no HTTP): files of
    ``flush_size`` records in ``bucket`` (default: the home's bucket)."""

    bucket: str | Path | None = None  # a folder or s3://<bucket>/<prefix>
    flush_size: int = 1_000


@dataclass
class ProduceToApi(Draws):
    """Post the records to the ingestion API at ``api_url`` (default: the home's API):
    ``batch_size`` records per request (1 = like the original), ``concurrency`` requests in
    flight, to the Kafka REST topics or, with ``stream``, the Kinesis-proxy streams."""

    stream: bool = False
    api_url: str | None = None
    api_key: str | None = None
    batch_size: int = 1
    concurrency: int = 4


def missing_rows_line(missing: dict[str, int], events: int) -> str | None:
    """See :meth:`ProduceResult.missing_line` (``missing``: events without a row, per table)."""
    tables = [(t, n) for t, n in missing.items() if n]
    if not tables:
        return None
    counts = "; ".join(f"no {t} record for {n:,} of {events:,} events" for t, n in tables)
    names = " and ".join(t for t, _n in tables)
    tables_have = "table has" if len(tables) == 1 else "tables have"
    return (
        f"{counts}: the source's {names} {tables_have} no row with the index they drew "
        "(an index missing from a table sends nothing for it)"
    )


@dataclass
class ProduceResult:
    """What a produce run delivered: ``records`` acknowledged (API) or written (bucket) per
    table, ``files`` written per table (bucket only), wall ``seconds``; for the API also
    ``failed`` records, ``requests`` (retries included), ``retries`` and request latency
    percentiles in milliseconds."""

    destination: str
    events: int
    records: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[Path | str]] = field(default_factory=dict)  # str: s3://… objects
    seconds: float = 0.0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: events that sent no record for a table: the source's table has no row with the index
    #: the event drew (the reference folder's pin table is a sample), per table
    missing: dict[str, int] = field(default_factory=dict)

    def missing_line(self) -> str | None:
        """One line naming the tables some events sent no record for, and why; None when every
        event found a row in every table. E.g. ``no pin record for 3 of 5 events: the source's
        pin table has no row with the index they drew (an index missing from a table sends
        nothing for it, as the original producer's lookup did)``."""
        return missing_rows_line(self.missing, self.events)

    @property
    def total_records(self) -> int:
        """Records delivered over all tables."""
        return sum(self.records.values())

    @property
    def records_per_second(self) -> float:
        """Delivered records per wall second."""
        return self.total_records / self.seconds if self.seconds > 0 else 0.0
