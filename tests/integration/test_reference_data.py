"""Real-data check: the AiCore reference rows, ingested as the original producer sent them,
give exactly the marts in reference-data/aicore/expected (the original project's results).

Runs the real pipeline, each step in its own process, in a throwaway PINLAKE_HOME, over both
paths into the topics bucket:
  bucket: source load -> produce --to bucket -> land -> dbt build -> export
  api:    source load -> services up -> produce --to api (HTTP -> Kafka) -> sink --once ->
          services down -> land -> dbt build -> export
Each path produces the logged posting sequence (repeats included), then every row once.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ingestion_helpers import make_settings

from pinlake.lakehouse.dbt import run_dbt
from pinlake.pipeline import pinlake_cli

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, sorted(tuple(row) for row in rows)


@pytest.fixture(scope="module", params=["bucket", "api"])
def reference_marts(
    request: pytest.FixtureRequest, aicore_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = request.param
    settings = make_settings(tmp_path_factory.mktemp(f"reference-{path}"))
    out = settings.home / "exports"
    pinlake_cli(settings, "source", "load", str(aicore_dir))
    # Every draw of the logged run posts pin, geo and user (repeats included) ...
    sequence = ["--sequence-file", str(aicore_dir / "posting_sequence.csv")]
    # ... and every other row is posted once (re-posting a drawn one is a harmless duplicate).
    runs = [sequence, ["--sequential"]]
    if path == "bucket":
        for run in runs:
            pinlake_cli(settings, "produce", "--to", "bucket", *run)
    else:
        pinlake_cli(settings, "services", "up")
        try:
            for run in runs:
                pinlake_cli(settings, "produce", "--to", "api", "--batch-size", "20", *run)
            pinlake_cli(settings, "sink", "--once")
        finally:
            pinlake_cli(settings, "services", "down")
    pinlake_cli(settings, "land")
    run_dbt(settings, ["build"])
    pinlake_cli(settings, "export", "--out", str(out))
    return out


@pytest.mark.parametrize(
    "model",
    [
        "rpt_country_with_most_followed_user",
        "rpt_median_follower_count_by_age_group",
        "rpt_median_follower_count_by_join_year",
        "rpt_median_follower_count_by_join_year_and_age_group",
        "rpt_most_followed_user_by_country",
        "rpt_most_popular_category_by_age_group",
        "rpt_most_popular_category_by_country",
        "rpt_most_popular_category_by_year",
        "rpt_users_joined_by_year",
    ],
)
def test_mart_equals_the_published_result(model: str, reference_marts: Path, aicore_dir: Path):
    expected_header, expected = _rows(aicore_dir / "expected" / f"{model}.csv")
    header, actual = _rows(reference_marts / f"{model}.csv")
    assert header == expected_header
    assert actual == expected


def test_users_joined_by_year_matches_the_original_project(reference_marts: Path):
    _, rows = _rows(reference_marts / "rpt_users_joined_by_year.csv")
    assert rows == [("2015", "826"), ("2016", "2650"), ("2017", "1605")]


_CONTRACT_PROBE = """
import json
from pinlake.config import Settings
from pinlake.spark import get_spark

spark = get_spark(Settings(), app_name="contract-probe")
table = "marts.rpt_users_joined_by_year"
props = {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}
result = {"constraints": sorted(k for k in props if k.startswith("delta.constraints."))}
before = spark.table(table).count()
for values in ["(null, 1)", "(2030, null)", "(2030, 0)"]:
    try:
        spark.sql(f"insert into {table} values {values}")
        result[values] = "accepted"
    except Exception as exc:
        lines = [x for x in str(exc).splitlines() if "constraint" in x.lower()]
        result[values] = (lines or [repr(exc)])[0][:500]
result["unchanged"] = spark.table(table).count() == before
print("PROBE " + json.dumps(result))
"""


def test_marts_reject_rows_that_break_their_contract(reference_marts: Path):
    """The marts' dbt contracts become Delta CHECK constraints: a writer outside dbt cannot
    put a null or out-of-range row into a table a dashboard reads."""
    settings = make_settings(reference_marts.parent)
    done = subprocess.run(
        [sys.executable, "-c", _CONTRACT_PROBE],
        env=settings.child_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PROBE "))
    result = json.loads(line.removeprefix("PROBE "))
    assert result["constraints"] == [
        "delta.constraints.columns_not_null",
        "delta.constraints.number_users_joined_at_least_1",
    ]
    for values in ["(null, 1)", "(2030, null)"]:
        assert "columns_not_null" in result[values], result
    assert "number_users_joined_at_least_1" in result["(2030, 0)"], result
    assert result["unchanged"] is True
