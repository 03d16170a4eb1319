"""Rows of extreme values for every column pass through land and the whole ``dbt build``.

Issue 10: one bad value never fails a model or turns into a wrong number. Each row below gives
every delivered column one kind of extreme value (huge, negative, very long, empty, unicode,
null); they are landed from a topics-bucket file and the whole project is built (models, data
tests, unit tests) in this worker's Spark session, with Spark's default ANSI mode on. Then the
compiled SELECT of every model that casts or computes delivered values (staging, intermediate)
runs again with ANSI mode off: neither setting may raise. Data tests on
delivered content warn (with their row counts); only the rules' guarantees fail a build.

The build reads whatever else this worker's home holds: more input, which must build too (the
one designed stop, a pin category outside the 13, no lakehouse test delivers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from pinlake.config import Settings
from pinlake.lakehouse.dbt import DbtCommand, run_dbt
from pinlake.lakehouse.land import LandOptions, land_bucket

pytestmark = [pytest.mark.spark, pytest.mark.slow]

BIG = 9_223_372_036_854_775_807  # the largest bigint
LONG = "長い" * 50_000 + "x"  # 100,001 characters
UNICODE = "\u00a0Zoë 🤖 Ωmega\u202e \u200b名前\u00a0"
KEYS = {"huge": 9_100_000_001, "negative": -9_100_000_002, "long": 9_100_000_003}
KEYS |= {"empty": 9_100_000_004, "unicode": 9_100_000_005, "null": 9_100_000_006}


def _rows(kind: str) -> dict[str, dict]:
    """The pin, geo and user row of one kind of extreme value (same key in all three)."""
    key = KEYS[kind]
    value = {"huge": None, "negative": None, "long": LONG, "empty": "", "unicode": UNICODE}
    text = value.get(kind)
    numbers = {
        "huge": ("10000000000000M", BIG, 1e308, -1e308, BIG, "9" * 400),
        "negative": ("-5", -1, -91.0, -181.0, -1, "-2020-01-01T00:00:00"),
        "long": (LONG, 1, 0.0, 0.0, 1, LONG),
        "empty": ("", 0, 0.0, 0.0, 0, ""),
        "unicode": ("１２３k", 1, 1.5, 1.5, 30, "２０２０-01-01 00:00:00"),
        "null": (None, None, None, None, None, None),
    }[kind]
    follower_count, downloaded, latitude, longitude, age, stamp = numbers
    pin = {
        "index": key,
        "unique_id": text,
        "title": text,
        "description": text,
        "poster_name": text,
        "follower_count": follower_count,
        "tag_list": text,
        "is_image_or_video": text,
        "image_src": text,
        "downloaded": downloaded,
        "save_location": None if text is None else f"Local save in {text}",
        "category": "" if kind == "empty" else None,  # a category outside the 13 stops a build
    }
    geo = {"ind": key, "timestamp": stamp, "latitude": latitude, "longitude": longitude}
    geo["country"] = text
    user = {"ind": key, "first_name": text, "last_name": text, "age": age, "date_joined": stamp}
    return {"pin": pin, "geo": geo, "user": user}


@pytest.fixture(scope="module")
def built(spark, spark_settings: Settings, tmp_path_factory) -> Iterator[dict]:
    """Land the extreme rows, run ``dbt build`` once; yields the land result and run results."""
    from pinlake.bucket.layout import file_path, write_atomic

    bucket = tmp_path_factory.mktemp("extreme-bucket")
    for offset, kind in enumerate(KEYS):
        for table, row in _rows(kind).items():
            path = file_path(bucket, spark_settings.topic(table), 0, offset)
            write_atomic(path, [json.dumps(row, ensure_ascii=False).encode()])
    landed = land_bucket(spark_settings, LandOptions(bucket))
    saved = dict(os.environ)
    try:
        result = run_dbt(spark_settings, DbtCommand(["build"], check=False, in_process=True))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    target = spark_settings.home / "dbt" / "target"
    run_results = json.loads((target / "run_results.json").read_text())
    yield {"landed": landed, "returncode": result.returncode, "results": run_results}


def test_every_extreme_row_lands(built) -> None:
    landed = built["landed"]
    assert landed.records == {t: len(KEYS) for t in ("pin", "geo", "user")}
    assert landed.total_quarantined == 0


def test_the_whole_build_succeeds_and_content_tests_only_warn(built) -> None:
    statuses = {r["unique_id"]: r["status"] for r in built["results"]["results"]}
    broken = {node: s for node, s in statuses.items() if s in ("error", "fail", "skipped")}
    assert not broken
    assert built["returncode"] == 0
    models = [n for n in statuses if n.startswith("model.")]
    assert len(models) >= 14 and all(statuses[m] == "success" for m in models)
    warned = {
        r["unique_id"].split(".")[2]: r["failures"]
        for r in built["results"]["results"]
        if r["status"] == "warn"
    }
    # four of the six geo rows deliver a timestamp, none readable (empty and null deliver none)
    unparsed = [n for n in warned if n.startswith("delivered_timestamps_parse")]
    assert len(unparsed) == 2 and all(warned[n] >= 4 for n in unparsed), warned
    assert warned["not_null_stg_pinterest__users_date_joined"] >= len(KEYS)


def test_extreme_values_are_nulled_never_wrapped(spark, built) -> None:
    pins = {
        r["ind"]: r
        for r in spark.table("staging.stg_pinterest__pins")
        .where(f"ind in ({', '.join(map(str, KEYS.values()))})")
        .collect()
    }
    geo = {r["ind"]: r for r in spark.table("staging.stg_pinterest__geolocations").collect()}
    users = {r["ind"]: r for r in spark.table("staging.stg_pinterest__users").collect()}
    assert sorted(pins) == sorted(KEYS.values())
    assert all(pins[k]["follower_count"] is None for k in KEYS.values())  # none is a count
    assert pins[KEYS["long"]]["title"] == LONG  # kept whole
    assert pins[KEYS["unicode"]]["poster_name"] == UNICODE.strip("\u00a0")
    for kind in ("huge", "negative"):
        assert geo[KEYS[kind]]["coordinates"] is None  # off the globe
        assert users[KEYS[kind]]["age"] is None  # not an age
    assert geo[KEYS["unicode"]]["coordinates"] == [1.5, 1.5]
    assert users[KEYS["unicode"]]["age"] == 30
    assert all(geo[k]["post_timestamp"] is None for k in KEYS.values())
    assert users[KEYS["unicode"]]["user_name"] == " ".join([UNICODE.strip("\u00a0")] * 2)


def test_every_model_also_runs_with_ansi_mode_off(spark, spark_settings: Settings, built):
    # staging and intermediate: where delivered values are cast and computed (the marts
    # aggregate their typed, cleaned columns); unit tests' compiled SQL (under *.yml/) excluded
    compiled = spark_settings.home / "dbt" / "target" / "compiled" / "pinlake" / "models"
    sqls = sorted(
        p
        for layer in ("staging", "intermediate")
        for p in (compiled / layer).rglob("*.sql")
        if ".yml" not in str(p.relative_to(compiled))
    )
    assert len(sqls) == 5, sqls
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", "false")  # the build ran with the default, on
    try:
        counts = {p.stem: spark.sql(p.read_text()).count() for p in sqls}
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
    assert counts["stg_pinterest__pins"] >= len(KEYS)
