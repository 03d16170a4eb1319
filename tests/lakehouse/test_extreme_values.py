"""Rows of extreme values for every column: land, then staging's SQL in either ANSI mode.

Issue 10: one bad value never fails a model or turns into a wrong number. The rows
(tests/golden_extras.py: every delivered column gets one kind of extreme value: huge, negative,
very long, empty, unicode, null) are landed from a topics-bucket file in this worker's Spark
session; the staging models (where delivered values are cast and parsed) are compiled by dbt
(full-refresh form) and their SELECTs run with ANSI mode on (Spark's default) and off: neither
may raise, and both give the same rows, with what is not a value nulled. The golden run sends
the same rows down both paths and through the DAG's whole build, data tests included
(tests/integration/test_golden_deliveries.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from golden_extras import EXTREME_KEYS as KEYS
from golden_extras import LONG, UNICODE, extreme_rows

from pinlake.config import Settings
from pinlake.lakehouse.dbt import DbtCommand, run_dbt
from pinlake.lakehouse.land import LandOptions, land_bucket

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def staged(spark, spark_settings: Settings, tmp_path_factory) -> Iterator[dict]:
    """Land the extreme rows, compile staging; yields the land result and, per ANSI setting,
    ``{model: {key: row}}`` of the compiled staging SELECTs for the extreme keys."""
    from pinlake.bucket.layout import file_path, write_atomic

    bucket = tmp_path_factory.mktemp("extreme-bucket")
    for offset, kind in enumerate(KEYS):
        for table, row in extreme_rows(kind).items():
            path = file_path(bucket, spark_settings.topic(table), 0, offset)
            write_atomic(path, [json.dumps(row, ensure_ascii=False).encode()])
    landed = land_bucket(spark_settings, LandOptions(bucket))
    # staging reads the rules' seeds (pin_placeholders); then the full-refresh SELECT (other
    # tests of this worker may have built staging)
    run_dbt(spark_settings, DbtCommand(["seed"], in_process=True))
    compile_ = ["compile", "--select", "staging", "--full-refresh"]
    run_dbt(spark_settings, DbtCommand(compile_, in_process=True))
    # the warning tests that count unreadable delivered values (they read raw only)
    warn = ["test", "--select", "test_name:delivered_values_parse"]
    tested = run_dbt(spark_settings, DbtCommand(warn, check=False, in_process=True))
    target = spark_settings.home / "dbt" / "target"
    run_results = json.loads((target / "run_results.json").read_text())["results"]
    compiled = spark_settings.home / "dbt" / "target" / "compiled" / "pinlake" / "models"
    sqls = {p.stem: p.read_text() for p in (compiled / "staging").glob("*/stg_*.sql")}
    keys = ", ".join(map(str, KEYS.values()))
    selected = {}
    previous = spark.conf.get("spark.sql.ansi.enabled")
    try:
        for ansi in ("true", "false"):
            spark.conf.set("spark.sql.ansi.enabled", ansi)
            selected[ansi] = {
                model: {r["ind"]: r for r in spark.sql(sql).where(f"ind in ({keys})").collect()}
                for model, sql in sqls.items()
            }
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
    yield {"landed": landed, "selected": selected, "tested": tested, "warnings": run_results}


def test_every_extreme_row_lands(staged) -> None:
    landed = staged["landed"]
    assert landed.records == {t: len(KEYS) for t in ("pin", "geo", "user")}
    assert landed.total_quarantined == 0


def test_unreadable_values_are_counted_by_warnings_not_errors(staged) -> None:
    """Four of the six kinds deliver a timestamp and a follower count staging cannot read
    (huge, negative, long, unicode; empty and null deliver none): warnings that count them."""
    assert staged["tested"].returncode == 0
    counted = {
        r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in staged["warnings"]
    }
    assert len(counted) == 3, counted  # geo timestamp, user date_joined, pin follower_count
    assert all(status == "warn" and failures >= 4 for status, failures in counted.values())


def test_staging_gives_the_same_rows_with_ansi_mode_on_and_off(staged) -> None:
    on, off = staged["selected"]["true"], staged["selected"]["false"]
    assert sorted(on) == [
        "stg_pinterest__geolocations",
        "stg_pinterest__pins",
        "stg_pinterest__users",
    ]
    for model in on:
        assert sorted(on[model]) == sorted(KEYS.values()), model
        assert on[model] == off[model], model


def test_extreme_values_are_nulled_never_wrapped(staged) -> None:
    selected = staged["selected"]["true"]
    pins = selected["stg_pinterest__pins"]
    geo = selected["stg_pinterest__geolocations"]
    users = selected["stg_pinterest__users"]
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
