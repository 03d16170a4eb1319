"""The typed options and result of ``pinlake produce`` (one options class per destination)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pinlake.bucket.layout import flush_size_problem
from pinlake.errors import UsageError
from pinlake.ingest_api.kinesis.codec import MAX_PUT_RECORDS
from pinlake.produce.events import AICORE_SEED

#: The most events one run draws (a trillion: at 10,000 events/s, about three years). A count
#: beyond what a Python sequence can index crashed the run (``OverflowError``).
MAX_EVENTS = 10**12
#: The lowest ``rate`` other than 0 (no limit), in events per second: one event per 1,000 s. A
#: rate far below it (``1e-9``) was taken, and the run waited decades without a word.
MIN_RATE = 0.001
#: The most requests in flight: each holds a connection (an open file), and a process may open
#: 1,024 files by default (``ulimit -n``); each is also a task of its own, made at the start.
MAX_CONCURRENCY = 1_000


def rate_problem(rate: float | None) -> str | None:
    """Why ``rate`` (events per second; None or 0: no limit, ``inf`` too) cannot pace a run, or
    None when it can: it must be a number, not negative, and 0 or at least :data:`MIN_RATE`."""
    if rate is None or rate == 0 or rate == math.inf:
        return None
    if math.isnan(rate) or rate < MIN_RATE:
        return (
            f"{rate:g}: give 0 (no limit) or a rate of at least {MIN_RATE:g} events per second"
            f" (one event per {1 / MIN_RATE:,.0f} s)"
        )
    return None


@dataclass
class Draws:
    """Which events to send: ``events`` (default one per source row) drawn at random with
    ``seed`` (the AiCore template), ``sequential`` (0, 1, 2, ...) or replayed from
    ``sequence_file``; at most ``rate`` events per second when given.

    Raises :class:`UsageError` for ``events`` outside 1–:data:`MAX_EVENTS` and for a ``rate``
    :func:`rate_problem` refuses."""

    events: int | None = None
    seed: int = AICORE_SEED
    sequential: bool = False
    sequence_file: Path | None = None
    rate: float | None = None

    def __post_init__(self) -> None:
        if self.events is not None and not 1 <= self.events <= MAX_EVENTS:
            raise UsageError(f"events: {self.events} is not in 1–{MAX_EVENTS:,}")
        if problem := rate_problem(self.rate):
            raise UsageError(f"rate: {problem}")


@dataclass
class ProduceToBucket(Draws):
    """Write the records straight into the topics bucket (no Kafka, no HTTP): files of
    ``flush_size`` records in ``bucket`` (default: the home's bucket).

    Raises :class:`UsageError` as :class:`Draws` does, and for a ``flush_size`` under 1
    (:func:`~pinlake.bucket.layout.flush_size_problem`)."""

    bucket: str | Path | None = None  # a folder or s3://<bucket>/<prefix>
    flush_size: int = 1_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if problem := flush_size_problem(self.flush_size):
            raise UsageError(f"flush size: {problem}")


@dataclass
class ProduceToApi(Draws):
    """Post the records to the ingestion API at ``api_url`` (default: the home's API):
    ``batch_size`` records per request (1 = like the original), ``concurrency`` requests in
    flight, to the Kafka REST topics or, with ``stream``, the Kinesis-proxy streams.

    Raises :class:`UsageError` besides :class:`Draws`' cases for ``concurrency`` outside
    1–:data:`MAX_CONCURRENCY`, a ``batch_size`` below 1, and with ``stream`` one above
    :data:`~pinlake.ingest_api.kinesis.codec.MAX_PUT_RECORDS` (500: a PutRecords request takes
    at most that many, AWS Kinesis API reference, PutRecords)."""

    stream: bool = False
    api_url: str | None = None
    api_key: str | None = None
    batch_size: int = 1
    concurrency: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"concurrency: {self.concurrency} is not in 1–{MAX_CONCURRENCY:,}")
        if self.batch_size < 1:
            raise UsageError(f"batch size: {self.batch_size} is not at least 1")
        if self.stream and self.batch_size > MAX_PUT_RECORDS:
            raise UsageError(
                f"batch size: {self.batch_size} records per request with --stream; a PutRecords"
                f" request takes at most {MAX_PUT_RECORDS}"
            )


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
    percentiles in milliseconds (``{"p50": …, "p99": …}``; empty when no request was
    acknowledged)."""

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
