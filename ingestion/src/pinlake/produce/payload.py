"""The one serialization of a source row into a JSON payload (bucket files and API bodies alike).

Keys keep the source column order. Datetimes become ISO-8601 text with a ``T``
(``2020-08-28T03:52:47``), like the reference implementation (PRG, CHEF, SAQ: ``isoformat()``).
Microseconds appear only when non-zero (the real data has none). A zone-aware datetime is
converted to UTC first (``+00:00``: zone offsets with seconds, which old tz database zones have,
are not ISO 8601), and a date alone becomes its midnight, so the producer only writes forms
staging's ``parse_timestamp`` macro reads (tests/lakehouse/test_timestamp_forms.py). Everything
else is JSON-native (int, float, str).
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

import orjson


def row_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A source row as a JSON-ready dict (same keys, same order)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = (value.astimezone(timezone.utc) if value.tzinfo else value).isoformat()
        elif isinstance(value, date):
            value = datetime.combine(value, time()).isoformat()
        elif isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        out[str(key)] = value
    return out


def dumps(row: dict[str, Any]) -> bytes:
    """One JSON text (UTF-8, no newline) of a source row."""
    return orjson.dumps(row_to_json(row))
