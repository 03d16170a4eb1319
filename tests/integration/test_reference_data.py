"""Real-data check: the AiCore reference rows, ingested as the original producer sent them,
give exactly the marts in reference-data/aicore/expected (the original project's results).

Everything here reads the session's one golden run (tests/conftest.py): the rows went down both
delivery paths into one home and the Airflow batch DAG built the marts. Both paths deliver every
acknowledged record, and the same records: the stream path (Kinesis proxy → Kafka → Spark
Structured Streaming) and the batch path (Kafka REST → sink → topics bucket → land) hold equal raw
tables, so each alone gives these marts (staging keeps one row per ``ind`` over both paths).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pinlake_testing import ENTITY_MART, MART_MODELS, PUBLISHED_MARTS

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _rows(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, sorted(tuple(row) for row in rows)


@pytest.mark.parametrize("model", PUBLISHED_MARTS)
def test_mart_equals_the_published_result(model: str, golden, aicore_dir: Path):
    """Built by the golden run's ``local`` target with Spark's code generation and adaptive
    execution off, on one partition (conftest.py; the scale-out stack builds them with Spark's
    defaults, test_scale_out.py)."""
    settings = golden.settings
    assert (settings.spark_codegen, settings.spark_adaptive, settings.spark_partitions) == (
        False,
        False,
        1,
    )
    expected_header, expected = _rows(aicore_dir / "expected" / f"{model}.csv")
    header, actual = _rows(golden.exports[model])
    assert header == expected_header
    assert actual == expected


def test_users_joined_by_year_matches_the_original_project(golden):
    _, rows = _rows(golden.exports["rpt_users_joined_by_year"])
    assert rows == [("2015", "826"), ("2016", "2650"), ("2017", "1605")]


def _produced(results: list) -> Counter:
    produced: Counter = Counter()
    for result in results:
        assert result.failed == 0
        produced.update(result.records)
    return produced


def test_every_event_sent_a_record_or_was_counted_without_one(golden):
    """Per run and table, an event either sent a record or is counted as one whose index the
    table has no row for (the reference folder's pin table is a 2,019-row sample): the
    summary says so instead of showing fewer pin records without a reason."""
    for path in ("batch", "stream"):
        for result in golden.produced[path]:
            for table in ("pin", "geo", "user"):
                sent = result.records[table] + result.missing.get(table, 0)
                assert sent == result.events, (path, table, result)
    assert sum(r.missing.get("pin", 0) for r in golden.produced["batch"]) > 0


def test_every_produced_record_is_landed_and_every_mart_exported(golden):
    """Acknowledged = landed, per table and path (the producer's events plus the client shapes'
    and extreme rows: an array value is one Kafka record and a raw row per element); nothing
    quarantined; every mart exported."""
    xcom = golden.dag_run["xcom"]
    batch, stream = _produced(golden.produced["batch"]), _produced(golden.produced["stream"])
    assert batch == stream  # the same events down both paths
    assert sum(batch.values()) > 30_000
    extra = golden.extra
    assert extra.rows["batch"] == extra.rows["stream"]  # the same rows down both paths
    assert xcom["sink"]["records"] == sum(batch.values()) + extra.kafka_records["batch"].total()
    assert Counter(xcom["land"]["records"]) == batch + extra.rows["batch"]
    assert sum(xcom["land"]["quarantined"].values()) == 0
    assert golden.stream_run["state"] == "success"
    assert Counter(golden.streamed["records"]) == stream + extra.rows["stream"]
    assert sum(golden.streamed["quarantined"].values()) == 0
    assert golden.streamed["stopped"] == "caught up"
    assert sorted(xcom["export"]["rows"]) == list(MART_MODELS) == sorted(golden.exports)
    assert {*PUBLISHED_MARTS, ENTITY_MART} <= set(MART_MODELS)  # none of them lost
    assert all(count > 0 for count in xcom["export"]["rows"].values())


def test_the_exported_timestamps_are_the_tables_from_a_shell_west_of_utc(golden, spark):
    """The golden DAG process runs with ``TZ=America/Los_Angeles``: PySpark read every timestamp
    in that zone, so ``pins.csv`` was 7 or 8 hours early and in 19 rows the year disagreed with
    ``post_year`` beside it (helper-68). The CSV holds the table's values as Spark writes them in
    the sessions' zone (UTC)."""
    import csv

    marts = golden.settings.home / "warehouse" / "marts.db" / "pins"
    table = {
        row.ind: (row.post_timestamp, row.date_joined)
        for row in spark.read.format("delta")
        .option("versionAsOf", golden.versions["marts"]["pins"])
        .load(str(marts))
        .selectExpr(
            "cast(ind as string) as ind",
            "coalesce(cast(post_timestamp as string), '') as post_timestamp",  # None: ""
            "coalesce(cast(date_joined as string), '') as date_joined",
        )
        .collect()
    }
    with golden.exports["pins"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    exported = {r["ind"]: (r["post_timestamp"], r["date_joined"]) for r in rows}
    assert len(exported) == len(table) > 1000
    assert exported == table
    assert all(r["post_timestamp"][:4] == r["post_year"] for r in rows if r["post_timestamp"])


def test_both_paths_land_the_same_records(golden, spark):
    """raw.<t> (batch) and raw.stream_<t> (stream) hold the same records, as a multiset of
    their source columns, as of the golden DAG run (later tests may append to raw tables)."""
    from pinlake.schemas import payload_schema, stream_table

    warehouse = golden.settings.home / "warehouse" / "raw.db"
    for table in ("pin", "geo", "user"):
        columns = payload_schema(table).fieldNames()  # the delivered fields, no metadata
        batch, stream = (
            spark.read.format("delta")
            .option("versionAsOf", golden.versions["raw"][name])
            .load(str(warehouse / name))
            .select(*columns)
            for name in (table, stream_table(table))
        )
        assert batch.count() == stream.count() > 1000, table
        # multisets: every row as often in one as in the other
        assert batch.exceptAll(stream).isEmpty(), table
        assert stream.exceptAll(batch).isEmpty(), table


def test_dbt_docs_are_generated_with_every_mart(golden):
    target = golden.settings.home / "dbt" / "target"
    assert (target / "index.html").is_file()
    catalog = json.loads((target / "catalog.json").read_text())
    documented = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(MART_MODELS) <= documented


def test_entity_mart_has_one_row_per_staged_pin(golden, spark):
    """marts.pins: every staged pin once, its geolocation and user joined where they exist (a
    pin without them stays), the age group from the seed; the seeds loaded as Delta tables."""
    warehouse = golden.settings.home / "warehouse"

    def table(schema: str, name: str):
        return spark.read.format("delta").load(str(warehouse / f"{schema}.db" / name))

    pins, staged = table("marts", "pins"), table("staging", "stg_pinterest__pins")
    geo, users = (
        table("staging", "stg_pinterest__geolocations"),
        table("staging", "stg_pinterest__users"),
    )
    assert pins.count() == staged.count() > 1_000
    assert pins.select("ind").distinct().count() == pins.count()
    assert pins.where("country is not null").count() == (
        staged.join(geo, "ind").where(geo.country.isNotNull()).count()
    )
    assert pins.where("user_name is not null").count() == (
        staged.join(users, "ind").where(users.user_name.isNotNull()).count()
    )
    groups = {r.age_group for r in pins.select("age_group").distinct().collect()}
    seeded = {r.age_group for r in table("seeds", "age_groups").collect()}
    assert groups - {None} == seeded
    assert pins.where("age_group is null and age >= 18").count() == 0
    # each seed holds its CSV exactly: apostrophes, commas and empty values included
    seeds_dir = Path(__file__).parents[2] / "seeds"
    for seed in ("categories", "pin_placeholders", "age_groups"):
        header, rows = _rows(seeds_dir / f"{seed}.csv")
        loaded = table("seeds", seed).select(*header).collect()
        assert sorted(tuple("" if v is None else str(v) for v in r) for r in loaded) == rows
    assert any("'" in row[1] for row in _rows(seeds_dir / "categories.csv")[1])


#: the mart whose contract the constraint tests break (two check constraints)
CONTRACT_MART = "rpt_users_joined_by_year"


def _delta_constraints(spark, table: str) -> dict[str, str]:
    """``{delta.constraints.<name>: expression}`` of Delta table ``table`` (a SQL reference)."""
    props = {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}
    return {k: v for k, v in props.items() if k.startswith("delta.constraints.")}


def test_marts_reject_rows_that_break_their_contract(golden, spark):
    """The marts' dbt contracts become Delta CHECK constraints: a writer outside dbt cannot
    put a null or out-of-range row into a table a dashboard reads. (The table is addressed by
    its path, from the worker's Spark session: the constraints live in the Delta log.)"""
    path = golden.settings.home / "warehouse" / "marts.db" / CONTRACT_MART
    table = f"delta.`{path}`"
    assert sorted(_delta_constraints(spark, table)) == [
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


def _contracts(manifest: Path) -> dict[str, dict[str, str]]:
    """``{schema.model: {constraint name: expression}}`` of the models with an enforced
    contract (their check constraints)."""
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return {
        f"{n['schema']}.{n['name']}": {
            c["name"]: c["expression"] for c in n["constraints"] if c["type"] == "check"
        }
        for n in nodes
        if n["resource_type"] == "model" and n["config"]["contract"]["enforced"]
    }


def test_contracts_are_set_by_the_create_statement(golden, dbt_manifest: Path):
    """Each contracted model's check constraints come with its ``create or replace table ... as
    select`` as Delta table properties (macros/contract_constraints.sql), and the build sent no
    ``alter table ... add constraint``: one Delta commit per model instead of one per
    constraint more."""
    log = (golden.settings.home / "logs" / "dbt" / "dbt.log").read_text(errors="replace")
    assert "add constraint" not in log
    contracts = _contracts(dbt_manifest)
    assert len(contracts[f"marts.{CONTRACT_MART}"]) == 2
    for model, constraints in contracts.items():
        start = log.index(f"create or replace table {model}\n")
        create = log[start : log.index("SQL status", start)]
        for name, expression in constraints.items():
            assert f"'delta.constraints.{name}' = '{expression}'" in create, (model, name)


def test_a_create_whose_rows_break_the_contract_keeps_the_last_good_table(
    golden, spark, tmp_path: Path
):
    """The form the contracted models are built with: a ``create or replace`` whose new rows
    break a constraint it sets fails naming it, and the table stays as it was (on a copy of a
    golden mart, addressed by path from the worker's Spark session)."""
    mart = golden.settings.home / "warehouse" / "marts.db" / CONTRACT_MART
    path = shutil.copytree(mart, tmp_path / "mart")
    table = f"delta.`{path}`"
    constraints = _delta_constraints(spark, table)
    assert len(constraints) == 2
    listed = ", ".join(f"'{k}' = '{v}'" for k, v in constraints.items())
    before = sorted(spark.read.format("delta").load(str(path)).collect())
    versions = len(spark.sql(f"describe history {table}").collect())
    for row, constraint in {"null, 1": "columns_not_null", "2030, 0": "at_least_1"}.items():
        with pytest.raises(Exception, match=constraint):
            spark.sql(
                f"create or replace table {table} using delta tblproperties ({listed}) as "
                f"select * from {table} union all select {row}"
            )
    assert sorted(spark.read.format("delta").load(str(path)).collect()) == before
    assert len(spark.sql(f"describe history {table}").collect()) == versions
