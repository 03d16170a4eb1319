"""Which warehouse folders :func:`pinlake.lakehouse.dbt.uncommitted_locations` offers to remove
(the run that recovers them is tests/lakehouse/test_interrupted_writes.py)."""

from __future__ import annotations

import json
from pathlib import Path

from pinlake.config import Settings
from pinlake.lakehouse.dbt import uncommitted_locations


def _refused(location: str) -> str:
    return (
        "Runtime Error\n  [DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION] Cannot create table "
        f"('`spark_catalog`.`seeds`.`x`'). The associated location ('{location}') is not empty "
        "and also not a Delta table. SQLSTATE: 42601"
    )


def _results(settings: Settings, messages: list[str | None]) -> None:
    target = Path(settings.child_env()["DBT_TARGET_PATH"])
    target.mkdir(parents=True, exist_ok=True)
    body = {"results": [{"status": "error", "message": m} for m in messages]}
    (target / "run_results.json").write_text(json.dumps(body))


def test_only_uncommitted_folders_of_this_warehouse_are_offered(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    warehouse = settings.warehouse_dir
    uncommitted = warehouse / "seeds.db" / "x"
    committed = warehouse / "marts.db" / "y"
    for folder in (uncommitted, committed, tmp_path / "elsewhere"):
        folder.mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"PAR1")
    (committed / "_delta_log").mkdir()
    (committed / "_delta_log" / "00000000000000000000.json").write_text("{}")
    _results(
        settings,
        [
            _refused(f"file:{uncommitted}"),
            _refused(f"file:{uncommitted}"),  # named twice: offered once
            _refused(f"file:{committed}"),  # a Delta table: never
            _refused(f"file:{tmp_path / 'elsewhere'}"),  # outside the warehouse: never
            _refused(f"file:{warehouse}"),  # the warehouse itself: never
            _refused(f"file:{warehouse / 'gone.db' / 'z'}"),  # not there
            None,
            "some other error",
        ],
    )
    assert uncommitted_locations(settings) == [uncommitted.resolve()]


def test_no_or_unreadable_run_results_offer_nothing(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    assert uncommitted_locations(settings) == []
    target = Path(settings.child_env()["DBT_TARGET_PATH"])
    target.mkdir(parents=True)
    for text in ("{not json", "[]", '{"results": 3}', '{"results": [1]}'):
        (target / "run_results.json").write_text(text)
        assert uncommitted_locations(settings) == []
