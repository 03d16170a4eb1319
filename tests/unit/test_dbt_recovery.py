"""Which warehouse folders :func:`pinlake.lakehouse.dbt.uncommitted_locations` offers to remove,
and the rule they follow (:func:`pinlake.lakehouse.tables.holds_committed_data`; the runs that
recover them are tests/lakehouse/test_interrupted_writes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.lakehouse.dbt import uncommitted_locations
from pinlake.lakehouse.tables import holds_committed_data

#: A commit's actions, one JSON object a line (Delta protocol): a CREATE TABLE's, and a write's.
CREATED = (
    '{"commitInfo":{"operation":"CREATE TABLE"}}\n'
    '{"metaData":{"id":"63fe","format":{"provider":"parquet"}}}\n'
    '{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}\n'
)
ADD = CREATED + '{"add":{"path":"part-0.parquet","size":4,"dataChange":true}}\n'


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({}, False),  # no log: the files of a write that never committed
        ({"00000000000000000000.json": CREATED}, False),
        ({"00000000000000000000.json": CREATED, "00000000000000000001.json": ADD}, True),
        ({"00000000000000000010.checkpoint.parquet": "PAR1"}, True),  # stands for commits
        ({"00000000000000000000.json": "{not json"}, True),  # unreadable: never a guess
        ({"00000000000000000000.json": b"\xff\xfe"}, True),
    ],
)
def test_committed_data_is_an_add_action_or_a_checkpoint(tmp_path: Path, files, data) -> None:
    log = tmp_path / "t" / "_delta_log"
    log.mkdir(parents=True)
    for name, text in files.items():
        (log / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    assert holds_committed_data(tmp_path / "t") is data
    assert holds_committed_data(tmp_path / "missing") is False


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
    (committed / "_delta_log" / "00000000000000000000.json").write_text(ADD)
    created = warehouse / "seeds.db" / "w"  # a first commit that only created the table
    (created / "_delta_log").mkdir(parents=True)
    (created / "_delta_log" / "00000000000000000000.json").write_text(CREATED)
    _results(
        settings,
        [
            _refused(f"file:{uncommitted}"),
            _refused(f"file:{uncommitted}"),  # named twice: offered once
            _refused(f"file:{committed}"),  # a Delta table with data: never
            _refused(f"file:{created}"),  # a creation cut short before the metastore knew it
            _refused(f"file:{tmp_path / 'elsewhere'}"),  # outside the warehouse: never
            _refused(f"file:{warehouse}"),  # the warehouse itself: never
            _refused(f"file:{warehouse / 'gone.db' / 'z'}"),  # not there
            None,
            "some other error",
        ],
    )
    assert uncommitted_locations(settings) == [uncommitted.resolve(), created.resolve()]


def test_no_or_unreadable_run_results_offer_nothing(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    assert uncommitted_locations(settings) == []
    target = Path(settings.child_env()["DBT_TARGET_PATH"])
    target.mkdir(parents=True)
    for text in ("{not json", "[]", '{"results": 3}', '{"results": [1]}'):
        (target / "run_results.json").write_text(text)
        assert uncommitted_locations(settings) == []
