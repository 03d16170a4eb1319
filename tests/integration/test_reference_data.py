"""Real-data check: the AiCore reference rows, ingested as the original producer sent them,
give exactly the marts in reference-data/aicore/expected (the original project's results).

Everything here reads the session's one golden run (tests/conftest.py): the stream path
(Kinesis proxy → Kafka → Spark Structured Streaming → raw Delta → dbt), built once. The batch path
(Kafka REST → sink → topics bucket → land) is built by the Airflow DAG test (tests/dags), which
compares its marts with the same published results.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MARTS = [
    "rpt_country_with_most_followed_user",
    "rpt_median_follower_count_by_age_group",
    "rpt_median_follower_count_by_join_year",
    "rpt_median_follower_count_by_join_year_and_age_group",
    "rpt_most_followed_user_by_country",
    "rpt_most_popular_category_by_age_group",
    "rpt_most_popular_category_by_country",
    "rpt_most_popular_category_by_year",
    "rpt_users_joined_by_year",
]


def _rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, sorted(tuple(row) for row in rows)


@pytest.mark.parametrize("model", MARTS)
def test_mart_equals_the_published_result(model: str, golden, aicore_dir: Path):
    expected_header, expected = _rows(aicore_dir / "expected" / f"{model}.csv")
    header, actual = _rows(golden.exported.path(model))
    assert header == expected_header
    assert actual == expected


def test_users_joined_by_year_matches_the_original_project(golden):
    _, rows = _rows(golden.exported.path("rpt_users_joined_by_year"))
    assert rows == [("2015", "826"), ("2016", "2650"), ("2017", "1605")]


def test_every_produced_record_is_landed_and_every_mart_exported(golden):
    produced = Counter()
    for result in golden.produced:
        assert result.failed == 0
        produced.update(result.records)
    assert produced == Counter(golden.streamed.records)  # acknowledged = landed, per table
    assert sum(golden.streamed.quarantined.values()) == 0
    assert golden.streamed.stopped == "caught up"
    assert sorted(golden.exported.rows) == MARTS
    assert all(count > 0 for count in golden.exported.rows.values())


def test_dbt_docs_are_generated_with_every_mart(golden):
    target = golden.settings.home / "dbt" / "target"
    assert (target / "index.html").is_file()
    catalog = json.loads((target / "catalog.json").read_text())
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(MARTS) <= documented


def test_marts_reject_rows_that_break_their_contract(golden, spark):
    """The marts' dbt contracts become Delta CHECK constraints: a writer outside dbt cannot
    put a null or out-of-range row into a table a dashboard reads. (The table is addressed by
    its path, from the worker's Spark session: the constraints live in the Delta log.)"""
    path = golden.settings.home / "warehouse" / "marts.db" / "rpt_users_joined_by_year"
    table = f"delta.`{path}`"
    props = {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}
    assert sorted(k for k in props if k.startswith("delta.constraints.")) == [
        "delta.constraints.columns_not_null",
        "delta.constraints.number_users_joined_at_least_1",
    ]
    before = spark.read.format("delta").load(str(path)).count()
    broken = {
        "(null, 1)": "columns_not_null",
        "(2030, null)": "columns_not_null",
        "(2030, 0)": "number_users_joined_at_least_1",
    }
    for values, constraint in broken.items():
        with pytest.raises(Exception, match=constraint):
            spark.sql(f"insert into {table} values {values}")
    assert spark.read.format("delta").load(str(path)).count() == before
