"""The column declarations outside Python agree with pinlake.schemas (the one declaration)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pinlake.schemas import (
    METADATA_COLUMNS,
    RESCUED_DATA,
    SOURCE_COLUMNS,
    STREAM_METADATA_COLUMNS,
)

REPO = Path(__file__).resolve().parents[2]


def test_dbt_delivered_columns_are_the_source_columns() -> None:
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    declared = project["vars"]["pinlake_delivered_columns"]
    assert declared == {t: [c.name for c in cs] for t, cs in SOURCE_COLUMNS.items()}


def test_dbt_sources_declare_every_raw_column_of_both_paths() -> None:
    sources = yaml.safe_load(
        (REPO / "models" / "staging" / "pinterest" / "_pinterest__sources.yml").read_text()
    )["sources"]
    by_name = {s["name"]: {t["name"]: t for t in s["tables"]} for s in sources}
    for source, metadata in (
        ("pinterest", METADATA_COLUMNS),
        ("pinterest_stream", STREAM_METADATA_COLUMNS),
    ):
        for table, columns in SOURCE_COLUMNS.items():
            names = [c["name"] for c in by_name[source][table]["columns"]]
            expected = [c.name for c in columns] + [RESCUED_DATA] + [name for name, _ in metadata]
            assert names == expected, (source, table)


def test_dbt_source_declares_every_manifest_column() -> None:
    from pinlake.schemas import LOADED_FILES_DDL

    sources = yaml.safe_load(
        (REPO / "models" / "staging" / "pinterest" / "_pinterest__sources.yml").read_text()
    )["sources"]
    (pinterest,) = [s for s in sources if s["name"] == "pinterest"]
    (manifest,) = [t for t in pinterest["tables"] if t["name"] == "loaded_files"]
    names = [c["name"] for c in manifest["columns"]]
    assert names == re.findall(r"`([^`]+)` ", LOADED_FILES_DDL)  # the DDL's names, in order
