"""The golden run's other deliveries (tests/golden_extras.py): every client shape of the original
producers (issue 9) and rows of extreme values (issue 10), on both paths, through the same
broker, sink, land, stream stage and the DAG's whole dbt build as the reference events.

Their accounting (acknowledged = landed) and the marts' equality with the published results are
checked in tests/integration/test_reference_data.py; the DAG run's success (every model and data
test task) in tests/dags/test_batch_e2e.py. Here: that each shape's rows landed where and how
its shape says, and what staging made of the extreme values.
"""

from __future__ import annotations

import pytest
from golden_extras import BATCH_SHAPES, EXTREME_KEYS, STREAM_SHAPES, UNICODE

pytestmark = [pytest.mark.spark, pytest.mark.slow]

KEY = {"pin": "index", "geo": "ind", "user": "ind"}


def _raw(spark, golden, name: str):
    """Raw table ``name`` as of the golden DAG run (later tests append to raw tables)."""
    path = golden.settings.home / "warehouse" / "raw.db" / name
    return (
        spark.read.format("delta")
        .option("versionAsOf", golden.versions["raw"][name])
        .load(str(path))
    )


def _staged(spark, golden, model: str) -> dict:
    path = golden.settings.home / "warehouse" / "staging.db" / model
    keys = ", ".join(map(str, EXTREME_KEYS.values()))
    rows = spark.read.format("delta").load(str(path)).where(f"ind in ({keys})").collect()
    return {row["ind"]: row for row in rows}


def test_every_client_shape_was_answered_200(golden) -> None:
    shapes = {
        path: {shape for p, shape in golden.extra.shapes if p == path}
        for path in ("batch", "stream")
    }
    assert shapes == {"batch": set(BATCH_SHAPES), "stream": set(STREAM_SHAPES)}
    assert golden.extra.statuses and set(golden.extra.statuses.values()) == {200}


def test_array_values_land_one_row_per_element_in_order(spark, golden) -> None:
    """A Kafka record whose value is an array of rows lands one raw row per element, with the
    element's position (``_element``) beside the record's offset."""
    for table in ("pin", "geo", "user"):
        elements = {
            shape: golden.extra.shapes[("batch", shape)][table]
            for shape in ("one-element array", "array")
        }
        rows = (
            _raw(spark, golden, table)
            .where("_element is not null")
            .orderBy("_partition", "_offset", "_element")
            .collect()
        )
        landed = [(r[KEY[table]], r["_element"]) for r in rows]
        expected = [(k, i) for keys in elements.values() for i, k in enumerate(keys)]
        assert landed == expected, table
        assert rows[1]["_offset"] == rows[2]["_offset"] != rows[0]["_offset"], table


def test_every_stream_shape_lands_its_rows(spark, golden) -> None:
    """PutRecord at ``//``, under the stage, with a trailing slash, with Data as base64 text or
    an array; PutRecords with the tutorial's data text or Kinesis' base64: every row carried
    (partition key ``shape``) is in raw.stream_<table>, and nothing else is."""
    for table in ("pin", "geo", "user"):
        carried = sorted(
            key for shape in STREAM_SHAPES for key in golden.extra.shapes[("stream", shape)][table]
        )
        rows = _raw(spark, golden, f"stream_{table}").where("_partition_key = 'shape'").collect()
        landed = sorted(r[KEY[table]] for r in rows)
        assert landed == sorted([*carried, *EXTREME_KEYS.values()]), table


def test_extreme_values_are_staged_as_nulls_never_wrapped(spark, golden) -> None:
    """The DAG's whole build ran over them (its tasks all succeeded); staging nulled what is not
    a value: no follower count, no position off the globe, no impossible age, no timestamp
    from unreadable text, and kept long and unicode text whole."""
    pins = _staged(spark, golden, "stg_pinterest__pins")
    geo = _staged(spark, golden, "stg_pinterest__geolocations")
    users = _staged(spark, golden, "stg_pinterest__users")
    keys = sorted(EXTREME_KEYS.values())
    assert sorted(pins) == sorted(geo) == sorted(users) == keys
    assert all(pins[k]["follower_count"] is None for k in keys)
    assert all(pins[k]["category"] is None for k in keys)
    assert all(geo[k]["post_timestamp"] is None and users[k]["date_joined"] is None for k in keys)
    for kind in ("huge", "negative"):
        assert geo[EXTREME_KEYS[kind]]["coordinates"] is None
        assert users[EXTREME_KEYS[kind]]["age"] is None
    unicode_key = EXTREME_KEYS["unicode"]
    assert geo[unicode_key]["coordinates"] == [1.5, 1.5]
    assert users[unicode_key]["age"] == 30
    assert pins[unicode_key]["poster_name"] == UNICODE.strip("\u00a0")
    assert len(pins[EXTREME_KEYS["long"]]["title"]) == 10_001
