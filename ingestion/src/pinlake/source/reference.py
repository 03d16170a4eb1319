"""Load the real AiCore rows (a folder in the ``reference-data/aicore`` layout) into the source DB.

Expected files: ``geolocation_data.csv``, ``user_data.csv`` (header row, ``YYYY-MM-DD HH:MM:SS``
datetimes) and ``pinterest_data.jsonl`` or, failing that, ``pinterest_data_sample.jsonl`` (one JSON
object per line, keys in source column order). Values are kept exactly; only the types change
(ints, floats, datetimes). Loading *replaces* the three tables (the user asked for these rows).
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from rich.markup import escape

from pinlake.config import Settings
from pinlake.console import PINLAKE, console
from pinlake.errors import PinlakeError, UsageError
from pinlake.schemas import INT_RANGE, KEY_COLUMN, SOURCE_COLUMNS
from pinlake.source.db import (
    CHUNK_ROWS,
    TABLES,
    check_coordinates,
    engine_for,
    key_gaps,
    load_tables,
    print_loaded,
)
from pinlake.text_files import utf8_lines

GEO_FILE = "geolocation_data.csv"
USER_FILE = "user_data.csv"
PIN_FILES = ("pinterest_data.jsonl", "pinterest_data_sample.jsonl")

_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _whole(text: str) -> int:
    """An ``int`` column's value: digits with an optional sign (Python's int() also took
    ``1_000`` and blanks around it), in :data:`INT_RANGE`. Raises ValueError saying what it is
    not."""
    if not _WHOLE.fullmatch(text):
        raise ValueError("is not a whole number")
    return _in_int_range(int(text))


def _in_int_range(value: int) -> int:
    """``value`` if the source tables' ``int`` columns hold it (:data:`INT_RANGE`); a larger
    one failed the load with a traceback (SQLite's ``OverflowError``: helper-91). Raises
    ValueError."""
    if value not in INT_RANGE:
        raise ValueError(f"is out of range (a 32-bit INT: {INT_RANGE[0]:,} to {INT_RANGE[-1]:,})")
    return value


def _decimal(text: str) -> float:
    """A ``float`` column's value: a decimal number, an exponent allowed, within a double's
    range (float() also took ``nan``, ``inf`` and ``1_0``, and ``1e400`` became infinity;
    SQLite stores NaN as NULL, MariaDB refuses it, and the producer wrote infinity as null:
    helper-91). Raises ValueError saying what it is not."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError("is not a decimal number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("is out of a double's range")
    return value


def _timestamp(text: str) -> datetime:
    """A ``datetime`` column's value (ISO 8601, as the reference files' ``YYYY-MM-DD
    HH:MM:SS``). Raises ValueError saying what it is not."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a date and time (YYYY-MM-DD HH:MM:SS)") from None


#: Each source column type's reader of a CSV field; a ValueError's text says what the field is
#: not (the load said ``invalid literal for int() with base 10: 'abc'``, naming no column).
_PARSERS: dict[str, Callable[[str], object]] = {
    "int": _whole,
    "float": _decimal,
    "text": str,
    "datetime": _timestamp,
}


def reference_files(directory: Path) -> dict[str, Path]:
    """The file of each topic in ``directory``; one-line error when the folder is unusable."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise UsageError(f"not a folder: {directory}")
    pin = next((directory / name for name in PIN_FILES if (directory / name).is_file()), None)
    files = {"pin": pin, "geo": directory / GEO_FILE, "user": directory / USER_FILE}
    missing = [
        " or ".join(PIN_FILES) if topic == "pin" else path.name
        for topic, path in files.items()
        if path is None or not path.is_file()
    ]
    if missing:
        raise PinlakeError(f"{directory} is missing {', '.join(missing)} (aicore reference layout)")
    return {topic: path for topic, path in files.items() if path is not None}


def _once(path: Path, line: int, topic: str, row: dict, seen: dict[object, int]) -> dict:
    """``row`` (line ``line`` of ``path``), after a check that its key (``KEY_COLUMN[topic]``,
    the source table's primary key) was not on an earlier line (``seen``: key → line). Raises
    PinlakeError naming both lines: the database refused the row with its own words and no
    file or line (helper-89)."""
    key = KEY_COLUMN[topic]
    first = seen.setdefault(row[key], line)
    if first != line:
        raise PinlakeError(
            f"{path}:{line}: {key} {row[key]} is there twice (first on line {first}); it is the "
            "source table's key"
        )
    return row


def read_csv(path: Path, topic: str) -> Iterator[dict]:
    """Typed rows of a geo/user CSV (header must list the source columns in order); raises
    PinlakeError naming the file and line of a row that cannot be read or repeats a key."""
    columns = SOURCE_COLUMNS[topic]
    names = [c.name for c in columns]
    seen: dict[object, int] = {}
    # the lines as UTF-8, a byte-order mark dropped (pinlake.text_files)
    reader = csv.reader(utf8_lines(path))
    header = next(reader, None)
    if header is None:
        raise PinlakeError(f"{path}: empty; its first line is the header {','.join(names)}")
    if header != names:
        raise PinlakeError(f"{path}: header {','.join(header)} is not {','.join(names)}")
    for line, values in enumerate(reader, start=2):
        if len(values) != len(columns):
            raise PinlakeError(f"{path}:{line}: {len(values)} fields, expected {len(columns)}")
        row = {}
        for column, value in zip(columns, values, strict=True):
            try:
                row[column.name] = _PARSERS[column.type](value)
            except ValueError as exc:
                raise PinlakeError(f"{path}:{line}: {column.name} {value!r} {exc}") from None
        yield _once(path, line, topic, row, seen)


def read_jsonl(path: Path, topic: str = "pin") -> Iterator[dict]:
    """Rows of a pin JSONL file; keys must be the source columns (values kept as they are).
    Raises PinlakeError naming the file and line of a row that cannot be read or repeats a key."""
    columns = SOURCE_COLUMNS[topic]
    names = [c.name for c in columns]
    seen: dict[object, int] = {}
    # the lines as UTF-8, a byte-order mark dropped (pinlake.text_files)
    for line, text in enumerate(utf8_lines(path), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PinlakeError(f"{path}:{line}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise PinlakeError(f"{path}:{line}: not a JSON object")
        if sorted(obj) != sorted(names):
            missing = [n for n in names if n not in obj]
            extra = sorted(k for k in obj if k not in names)
            raise PinlakeError(
                f"{path}:{line}: its keys are not {','.join(names)}"
                + (f" (missing: {', '.join(missing)})" if missing else "")
                + (f" (not a source column: {', '.join(extra)})" if extra else "")
            )
        for column in columns:
            value = obj[column.name]
            if column.type != "int":
                continue
            try:
                if type(value) is not int:  # JSON true is no int
                    raise ValueError("is not a whole number")
                _in_int_range(value)
            except ValueError as exc:
                raise PinlakeError(
                    f"{path}:{line}: {column.name} {json.dumps(value)} {exc}"
                ) from None
        yield _once(path, line, topic, {name: obj[name] for name in names}, seen)


def _chunks(topic: str, rows: Iterator[dict]) -> Iterator[dict[str, list[dict]]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield {topic: chunk}
            chunk = []
    if chunk:
        yield {topic: chunk}


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def load_reference(
    settings: Settings,
    directory: Path,
    *,
    url: str | None,
    coordinates: str = "double",
    force: bool = False,
) -> dict[str, int]:
    """Replace the source tables with the real rows in ``directory``; returns the rows
    inserted per table. ``url`` defaults to ``settings.source_db_url`` (SQLite, or the local
    MariaDB); ``coordinates`` (``double`` or ``decimal``): see
    :func:`pinlake.source.db.load_tables`, which keeps the old tables when the load fails
    (a file's bad row included). Raises :class:`UsageError` /
    :class:`PinlakeError` for an unusable folder, file or database, and PinlakeError when a
    table has rows and ``force`` is false (as ``source init`` does: ``source load`` replaced a
    filled database without a word, helper-80)."""
    check_coordinates(coordinates)
    files = reference_files(directory)
    # rows: the CSVs' lines but their headers (an empty file has none: the bar showed 13173/13172)
    total = _count_lines(files["pin"]) + sum(
        max(_count_lines(files[t]) - 1, 0) for t in ("geo", "user")
    )
    engine = engine_for(settings, url)
    try:
        start = time.perf_counter()

        def all_chunks() -> Iterator[dict[str, list[dict]]]:
            yield from _chunks("pin", read_jsonl(files["pin"]))
            yield from _chunks("geo", read_csv(files["geo"], "geo"))
            yield from _chunks("user", read_csv(files["user"], "user"))

        inserted = load_tables(
            engine,
            all_chunks(),
            total=total,
            description=f"loading {files['pin'].parent.name}",
            force=force,
            coordinates=coordinates,
        )
        elapsed = time.perf_counter() - start
        gaps = key_gaps(engine)
    finally:
        engine.dispose()
    print_loaded(engine, inserted, f"from {Path(directory)} in {elapsed:.1f}s")
    if gaps:
        # helper-95: the original producer on the reference rows found no pin for 43 of 50
        # draws, and the others were pins of other indices; pinlake's produce reads by key
        named = "; ".join(
            f"{TABLES[t].name} {rows:,} rows, keys {low:,}..{high:,}"
            for t, (rows, low, high) in gaps.items()
        )
        console.print(
            f"[yellow]note:[/] keys with gaps ({escape(named)}): `produce` looks rows up by key, "
            "but the original AiCore producer reads `LIMIT <n>, 1`, the n-th row: most of its "
            "draws find no row there, or the row of another key; for the original producers, "
            f"`{PINLAKE} source init --force` makes complete tables in their place",
            soft_wrap=True,
        )
    if unread := [n for n in PIN_FILES if (files["pin"].parent / n).is_file()][1:]:
        # both pin files: the first of PIN_FILES is read, and the other named (helper-92)
        console.print(
            f"[yellow]note:[/] {escape(', '.join(unread))} beside {escape(files['pin'].name)} "
            "was not read (the pin rows are those of the first)",
            soft_wrap=True,
        )
    if empty := [t for t, n in inserted.items() if n == 0]:
        # a header-only CSV, or a JSONL of blank lines: a table with nothing to produce from
        # (helper-93: `user_data 0 rows` and no word more)
        named = ", ".join(f"{TABLES[t].name} ({files[t].name})" for t in empty)
        console.print(
            f"[yellow]note:[/] no rows for {escape(named)}: its file holds none, so `produce` "
            "sends no record of that table",
            soft_wrap=True,
        )
    return inserted
