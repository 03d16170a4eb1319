"""A write interrupted before the metastore knew its table: the next run recovers by itself.

A ``dbt seed`` or ``dbt build`` stopped by Ctrl-C or a kill while it writes a new table leaves
data files and no ``_delta_log`` commit in the table's warehouse folder; Delta then refuses to
create the table there (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION) on every later run.
:func:`pinlake.lakehouse.dbt.run_dbt` removes such folders of this home's warehouse, says so,
and runs the failed nodes again (``dbt retry``). A raw table whose creation was cut short
between Delta's first commit and the metastore's registration (a second Ctrl-C or a kill of
``land`` or ``stream --available-now`` on a new home) is created again by the next run
(:func:`pinlake.lakehouse.tables.ensure_raw_tables`); one with data is never removed.
"""

from __future__ import annotations

import csv
import shutil

import pytest

from pinlake.config import REPO_ROOT, Settings
from pinlake.lakehouse.dbt import DbtCommand, run_dbt

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SEED = "age_groups"


def test_a_seed_interrupted_before_its_commit_is_written_on_the_next_run(
    spark, spark_settings: Settings, capfd
):
    spark.sql("CREATE DATABASE IF NOT EXISTS seeds")
    spark.sql(f"DROP TABLE IF EXISTS seeds.{SEED}")
    folder = spark_settings.warehouse_dir / "seeds.db" / SEED
    folder.mkdir(parents=True, exist_ok=True)
    leftover = folder / "part-00000-0a1b-c000.snappy.parquet"
    leftover.write_bytes(b"PAR1: the data file of a write that never committed")
    capfd.readouterr()

    result = run_dbt(spark_settings, DbtCommand(["seed", "--select", SEED], in_process=True))

    assert result.returncode == 0
    err = capfd.readouterr().err
    assert f"removed {folder.resolve()}: the files of an interrupted write" in err
    assert not leftover.exists()
    assert any((folder / "_delta_log").glob("*.json"))
    with (REPO_ROOT / "seeds" / f"{SEED}.csv").open(newline="") as f:
        expected = sum(1 for _ in csv.DictReader(f))
    assert spark.table(f"seeds.{SEED}").count() == expected > 0


def test_hive_session_folders_stay_in_the_home(spark, spark_settings: Settings, tmp_path):
    """Each session with the Hive catalog gets an empty ``<session id>_resources`` folder from
    Hive that nobody removes; they used to pile up in /tmp. They are in the home, and the empty
    ones of sessions long gone are pruned when a session starts."""
    import os

    from pinlake.spark import hive_resources_dir, prune_hive_resources

    spark.sql("SHOW DATABASES").collect()  # the Hive client (and its session) exists
    folders = list(hive_resources_dir(spark_settings).glob("*_resources"))
    assert folders, f"no session folder in {hive_resources_dir(spark_settings)}"

    other = Settings(home=tmp_path / "h")
    root = hive_resources_dir(other)
    for name in ("gone_resources", "recent_resources", "full_resources"):
        (root / name).mkdir(parents=True)
    (root / "full_resources" / "x.jar").write_bytes(b"")
    for name in ("gone_resources", "full_resources"):
        os.utime(root / name, (0, 0))  # last changed long ago
    assert prune_hive_resources(other) == 1
    assert sorted(p.name for p in root.iterdir()) == ["full_resources", "recent_resources"]


def test_a_raw_table_whose_creation_was_cut_short_is_created_on_the_next_run(
    spark, spark_settings: Settings, tmp_path, capfd
):
    """A double Ctrl-C on the first ``pinlake stream --available-now`` of a home cut
    ``raw.pin``'s creation after Delta's first commit: every later ``stream`` and ``land``
    failed with DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION (1 of 6 runs of a trial of this
    session). Here the leftover is a real first commit of the table's DDL, made by path and
    moved to where the metastore puts the table; the table itself is dropped first (the
    worker's session; the next ``ensure_raw_tables`` makes it again)."""
    from pinlake.errors import PinlakeError
    from pinlake.lakehouse.tables import ensure_raw_tables, managed_table_path, table_names
    from pinlake.schemas import QUARANTINE_DDL, QUARANTINE_TABLE

    ensure_raw_tables(spark, spark_settings)
    spark.sql(f"DROP TABLE IF EXISTS raw.{QUARANTINE_TABLE}")
    folder = managed_table_path(spark_settings, QUARANTINE_TABLE)
    assert not folder.exists()  # a managed table's folder goes with it
    # a stop asked for (the stream stage's Ctrl-C during its start-up) is taken between two
    # tables: the rest wait for the next run (a first run's Ctrl-C waited for nine: ~20 s)
    ensure_raw_tables(spark, spark_settings, stopped=lambda: True)
    assert QUARANTINE_TABLE not in table_names(spark, "raw") and not folder.exists()

    def leftover(rows: int) -> None:
        made = tmp_path / f"made-{rows}"
        spark.sql(f"CREATE TABLE delta.`{made}` ({QUARANTINE_DDL}) USING delta")
        if rows:
            spark.sql(f"INSERT INTO delta.`{made}` (reason) VALUES ('kept')")
        made.rename(folder)

    leftover(0)
    capfd.readouterr()
    ensure_raw_tables(spark, spark_settings)
    err = capfd.readouterr().err
    assert f"removed {folder}: a creation of raw.{QUARANTINE_TABLE} was cut short" in err, err
    assert spark.table(f"raw.{QUARANTINE_TABLE}").count() == 0  # created, empty, readable
    # a folder with data that the metastore does not know is never removed: it says so
    spark.sql(f"DROP TABLE raw.{QUARANTINE_TABLE}")
    leftover(1)
    with pytest.raises(PinlakeError) as refused:
        ensure_raw_tables(spark, spark_settings)
    assert str(refused.value).startswith(f"{folder} holds the data of a Delta table that the")
    assert spark.read.format("delta").load(str(folder)).count() == 1
    shutil.rmtree(folder)
    ensure_raw_tables(spark, spark_settings)  # as it was for the worker's other tests
    assert spark.table(f"raw.{QUARANTINE_TABLE}").count() == 0
    # the other way round: a table the metastore knows whose folder is gone (a home whose
    # warehouse/ was removed: a 62-line traceback of DELTA_TABLE_NOT_FOUND, helper-56)
    aside = tmp_path / "aside"
    folder.rename(aside)
    try:
        with pytest.raises(PinlakeError) as gone:
            ensure_raw_tables(spark, spark_settings)
    finally:  # the worker's other tests use the table
        aside.rename(folder)
    assert str(gone.value).startswith(
        f"raw.{QUARANTINE_TABLE} is registered in the metastore ({spark_settings.metastore_dir})"
        f" but its Delta table {folder} is gone"
    )
    ensure_raw_tables(spark, spark_settings)
