"""The producer never writes a datetime form that staging's ``parse_timestamp`` cannot read.

The macro's SQL is rendered from macros/parse_timestamp.sql (its ``default__`` implementation,
plain Jinja) and run by Spark over what :func:`pinlake.produce.payload.row_to_json` makes of
generated datetimes: naive, zone-aware with any offset (seconds included), and dates alone. The
parsed instant must be the datetime's instant (naive text is UTC), in either ANSI mode.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinlake.produce.payload import row_to_json

# slow: it starts a Spark JVM (tens of seconds), so the fast loop leaves it out
pytestmark = [pytest.mark.spark, pytest.mark.slow]

MACRO = Path(__file__).resolve().parents[2] / "macros" / "parse_timestamp.sql"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

offsets = st.integers(min_value=-(24 * 3600 - 1), max_value=24 * 3600 - 1).map(
    lambda seconds: timezone(timedelta(seconds=seconds))
)
instants = st.one_of(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30)),
    st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=offsets
    ),
    st.dates(min_value=date(1000, 1, 2), max_value=date(9998, 12, 30)),
)


def parse_timestamp_sql(column: str) -> str:
    """The macro's Spark SQL for ``column`` (``default__parse_timestamp``, rendered with Jinja)."""
    module = jinja2.Environment().from_string(MACRO.read_text()).module
    return str(module.default__parse_timestamp(column))


def micros(value: datetime | date) -> int:
    """Microseconds since the epoch of what the producer sent (naive = UTC, a date = midnight)."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize("ansi", ["true", "false"])
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(instants, min_size=1, max_size=40))
def test_every_form_the_producer_writes_parses_to_its_instant(spark, ansi, values) -> None:
    texts = [row_to_json({"t": value})["t"] for value in values]
    frame = spark.createDataFrame([(t,) for t in texts], "t string")
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        rows = frame.selectExpr(f"unix_micros({parse_timestamp_sql('t')}) as parsed").collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
    assert [r["parsed"] for r in rows] == [micros(v) for v in values], texts
