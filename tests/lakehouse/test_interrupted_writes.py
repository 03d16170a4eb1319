"""A dbt run interrupted before its Delta commit: the next run recovers by itself.

A ``dbt seed`` or ``dbt build`` stopped by Ctrl-C or a kill while it writes a new table leaves
data files and no ``_delta_log`` commit in the table's warehouse folder; Delta then refuses to
create the table there (DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION) on every later run.
:func:`pinlake.lakehouse.dbt.run_dbt` removes such folders of this home's warehouse, says so,
and runs the failed nodes again (``dbt retry``).
"""

from __future__ import annotations

import csv

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
