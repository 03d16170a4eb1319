"""Which source index each posting event sends, and the rows that go with it.

Three ways to draw (:class:`pinlake.produce.Draws`):

* **random** (default), the AiCore template's sampling: ``rng = random.Random(seed)``; per event
  ``rng.randrange(0, 2)`` (the sleep the original took, drawn but not slept) then
  ``rng.randint(0, max_ind)``. ``max_ind`` is :func:`aicore_max_ind`: the original drew
  ``randint(0, 11000)`` on its 11,154-row table, so a source of 11,001..11,154 rows uses 11000 and
  seed 100 reproduces the original sequence (7528, 2863, 5730, ...) exactly; smaller sources use
  ``rows - 1`` and larger ones ``rows - 1`` as well (every row can be drawn).
* **sequential**: 0, 1, 2, ... (the reference implementation PRG), wrapping around when there are
  more events than rows.
* **sequence file**: replay a ``draw,ind`` CSV such as ``posting_sequence.csv`` (header optional;
  a single ``ind`` column also works).

Indexes are looked up by key (``WHERE index IN (...)``, like SHA's ``WHERE idx = :idx``), not by
``LIMIT offset, 1``: the same thing on contiguous tables, and correct on the reference folder whose
pin table is a 2,019-row sample. An index missing from a table sends no record for that table.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

from pinlake.config import TABLES
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError, UsageError
from pinlake.schemas import INT_RANGE
from pinlake.text_files import utf8_lines

#: The original template: random.seed(100), randint(0, 11000) on an 11,154-row table.
AICORE_SEED = 100
AICORE_MAX_IND = 11_000
AICORE_ROWS = 11_154
#: Events whose rows are fetched together (one query per table per chunk).
EVENT_CHUNK = 1_000

EventRows = dict[str, dict | None]
T = TypeVar("T")


def aicore_max_ind(rows: int) -> int:
    """Upper bound (inclusive) of the random draw on a source of ``rows`` rows."""
    if rows < 1:
        raise PinlakeError("the source database is empty")
    if rows <= AICORE_ROWS:
        return min(rows - 1, AICORE_MAX_IND)
    return rows - 1


def random_draws(seed: int, max_ind: int, events: int) -> Iterator[int]:
    """The AiCore template's index sequence (sleep draw, then ``randint(0, max_ind)``)."""
    rng = random.Random(seed)
    for _ in range(events):
        rng.randrange(0, 2)  # the original slept this many seconds
        yield rng.randint(0, max_ind)


def sequential_draws(rows: int, events: int) -> Iterator[int]:
    """0, 1, 2, ... wrapping around after ``rows``."""
    for event in range(events):
        yield event % rows


def read_sequence_file(path: Path) -> list[int]:
    """The ``ind`` column of a ``draw,ind`` CSV (or a one-column file of indexes), in file order.
    The file is UTF-8 (:func:`pinlake.text_files.utf8_lines`: a byte-order mark dropped; it made
    a one-column file's first index read as a header: helper-92). Raises UsageError when there
    is no such file, PinlakeError naming the line of a value that is no index, a negative one
    or one beyond the source tables' ``int`` (:data:`pinlake.schemas.INT_RANGE`; SQLite raised
    ``OverflowError``), and for a file without indexes."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"the sequence file {path} is a folder: give a CSV file")
    if not path.is_file():
        raise UsageError(f"no such sequence file: {path}")
    inds: list[int] = []
    column = -1
    for line, fields in enumerate(csv.reader(utf8_lines(path)), start=1):
        if not fields or not "".join(fields).strip():
            continue
        if line == 1 and not fields[-1].strip().lstrip("-").isdigit():
            names = [name.strip().lower() for name in fields]
            column = names.index("ind") if "ind" in names else len(names) - 1
            continue
        try:
            value = int(fields[column].strip())
        except (ValueError, IndexError):
            raise PinlakeError(f"{path}:{line}: not an index: {','.join(fields)}") from None
        if value < 0:
            raise PinlakeError(f"{path}:{line}: negative index {value}")
        if value not in INT_RANGE:
            raise PinlakeError(f"{path}:{line}: index {value} is beyond any source row's")
        inds.append(value)
    if not inds:
        raise PinlakeError(f"{path}: no indexes")
    return inds


def plan_draws(
    rows: int,
    *,
    events: int | None,
    seed: int,
    sequential: bool,
    sequence_file: Path | None,
) -> tuple[Iterator[int], int]:
    """The index iterator and the number of events for the chosen mode."""
    if sequential and sequence_file is not None:
        raise UsageError("--sequential and --sequence-file exclude each other")
    if sequence_file is not None:
        inds = read_sequence_file(sequence_file)
        if events is not None and events > len(inds):
            raise UsageError(f"--events {events} exceeds the {len(inds)} draws in {sequence_file}")
        count = len(inds) if events is None else events
        return iter(inds[:count]), count
    if rows < 1:
        raise PinlakeError(f"the source database is empty; run `{PINLAKE} source init`")
    count = rows if events is None else events
    if sequential:
        return sequential_draws(rows, count), count
    return random_draws(seed, aicore_max_ind(rows), count), count


class RowSource(Protocol):
    """Where events' rows come from (:class:`pinlake.source.db.SourceReader`)."""

    def fetch(self, table: str, inds: Sequence[int]) -> dict[int, dict]:
        """``{ind: row}`` of the rows of ``table`` (a topic, e.g. ``pin``) among ``inds``; an
        ind without a row is absent."""
        ...


class EventStream:
    """Iterator of ``(ind, {"pin": row | None, "geo": row | None, "user": row | None})``.

    Rows are fetched from ``source`` in chunks of :data:`EVENT_CHUNK` events (one query per table
    per chunk). ``len()`` is the number of events. With ``rate`` the stream yields at most that many
    events per second (the only pacing of a produce run).
    """

    def __init__(
        self,
        source: RowSource,
        inds: Iterable[int],
        total: int,
        *,
        rate: float | None = None,
        chunk: int = EVENT_CHUNK,
    ) -> None:
        self.total = total
        self._iter = paced(self._generate(source, iter(inds), chunk), rate)

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> tuple[int, EventRows]:
        return next(self._iter)

    @staticmethod
    def _generate(
        source: RowSource, inds: Iterator[int], chunk: int
    ) -> Iterator[tuple[int, EventRows]]:
        while True:
            batch = list(islice(inds, chunk))
            if not batch:
                return
            found = {topic: source.fetch(topic, batch) for topic in TABLES}
            for ind in batch:
                yield ind, {topic: found[topic].get(ind) for topic in TABLES}


def paced(items: Iterable[T], rate: float | None) -> Iterator[T]:
    """``items`` at most ``rate`` per second (all at once when ``rate`` is None or 0): item
    ``n`` is not yielded before ``n / rate`` seconds after the first."""
    if not rate:
        yield from items
        return
    started = time.monotonic()
    for sent, item in enumerate(items):
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield item
