"""The ``databricks`` target, offline: no local stand-in for a Databricks SQL warehouse exists,
so what can be checked without a workspace is checked here, from one dbt invocation (about
20 s, no JVM): ``dbt compile --target databricks --no-populate-cache --no-introspect --select
path:models/marts``; and one ``dbt compile --inline`` shows which macros the project's
dbt-spark overrides hand over to.

* Its parse reads the whole project (models, seeds, tests, unit tests) with the dbt-databricks
  adapter, no connection: the manifest it writes is the full project's.
* The marts and their tests compile offline, refs resolved to the catalog's three-part names.
* The project's ``spark__`` macros (dbt's dispatch picks them for dbt-databricks too, root
  project first) hand over to dbt-databricks's own (macros/adapter_own_macro.sql).

Not asserted here (it would cost a second dbt run, ~20 s): the staging models do **not**
compile offline. They are incremental, and ``is_incremental()`` asks the warehouse whether the
table exists; with ``--no-introspect`` dbt stops the whole invocation with ``connection never
acquired`` (a runtime error ends the run, so the same invocation cannot select them beside the
marts). Checked by hand (``dbt compile … --select stg_pinterest__users``, exit 2).

A placeholder token is set: without one, dbt-databricks starts an OAuth browser flow and waits
minutes. The host is an unresolvable ``.invalid`` name, so a connection attempt could never
succeed by accident.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# slow: a dbt run of about 20 s (no JVM)
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OFFLINE = ("--no-populate-cache", "--no-introspect")
#: dbt's saved parse in a target folder, which the next invocation reads (partial parsing)
PARTIAL_PARSE = "partial_parse.msgpack"
#: a ``spark__`` macro of the project: its name and what follows up to its end
SPARK_OVERRIDE = re.compile(r"\{%-?\s*macro\s+spark__(\w+)\((.*?)\{%-?\s*endmacro", re.S)


def _compile(args: list[str], target: Path) -> subprocess.CompletedProcess:
    """``dbt compile --target databricks`` offline with ``args``, target and log folders in
    ``target``."""
    env = {
        **os.environ,
        "DATABRICKS_HOST": "pinlake-offline.invalid",
        "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/offline",
        "DATABRICKS_TOKEN": "dapi-placeholder-offline",
        "DATABRICKS_CATALOG": "pinlake_catalog",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    argv = [
        str(Path(sys.executable).with_name("dbt")),
        "compile",
        *OFFLINE,
        *args,
        "--profiles-dir",
        str(REPO),
        "--project-dir",
        str(REPO),
        "--target",
        "databricks",
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """The one ``dbt compile --target databricks`` of the marts, offline (own target and log
    folders); its result and its target folder."""
    target = tmp_path_factory.mktemp("dbx-target")
    done = _compile(["--select", "path:models/marts"], target)
    assert done.returncode == 0, done.stdout[-3000:]
    return done, target


def test_parse_reads_the_whole_project_with_the_databricks_adapter(compiled) -> None:
    done, target = compiled
    assert "Concurrency:" in done.stdout and "target='databricks'" in done.stdout
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "databricks"
    nodes = manifest["nodes"].values()
    models = {n["name"]: n for n in nodes if n["resource_type"] == "model"}
    assert {"stg_pinterest__pins", "stg_pinterest__geolocations", "stg_pinterest__users"} <= set(
        models
    )
    assert len([m for m in models.values() if m["schema"] == "marts"]) >= 10
    assert all(m["database"] == "pinlake_catalog" for m in models.values())
    assert {n["name"] for n in nodes if n["resource_type"] == "seed"}
    assert manifest["unit_tests"], "unit tests parse too"


def test_marts_compile_offline(compiled) -> None:
    _, target = compiled
    folder = target / "compiled" / "pinlake" / "models" / "marts"
    marts = {p.stem: p.read_text() for p in folder.rglob("*.sql")}
    assert len(marts) >= 10
    # refs resolve to the Databricks catalog's three-part names
    assert any("`pinlake_catalog`.`staging`.`stg_pinterest__" in sql for sql in marts.values())
    assert all("{{" not in sql for sql in marts.values())


def test_the_spark_overrides_hand_over_to_dbt_databricks(compiled, tmp_path: Path) -> None:
    """dbt's dispatch looks in the root project first for each of the adapter's prefixes, so the
    project's ``spark__`` macros would replace dbt-databricks's ``databricks__`` ones: each
    hands over to the adapter's own on any adapter but dbt-spark, which for the databricks
    target is dbt-databricks's. (The inline compile starts from a copy of the marts compile's
    parse, ``partial_parse.msgpack``: dbt's partial parsing, not a second full parse.)"""
    overrides = {
        name: body
        for path in (REPO / "macros").glob("*.sql")
        for name, body in SPARK_OVERRIDE.findall(path.read_text())
    }
    assert {"load_csv_rows", "tblproperties_clause", "persist_constraints"} <= set(overrides)
    for name, body in overrides.items():
        assert "adapter.type() != 'spark'" in body, name
        assert f"adapter_own_macro('{name}')" in body, name
    probe = ", ".join(
        f"'{{{{ adapter_own_macro('{name}').macro.package_name }}}}' as {name}"
        for name in sorted(overrides)
    )
    shutil.copy2(compiled[1] / PARTIAL_PARSE, tmp_path / PARTIAL_PARSE)
    done = _compile(["--inline", f"select {probe}"], tmp_path)
    assert "Unable to do partial parsing" not in done.stdout, done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]
    inline_sql = done.stdout.split("Compiled inline node is:")[-1]
    for name in overrides:
        assert f"'dbt_databricks' as {name}" in inline_sql, inline_sql
