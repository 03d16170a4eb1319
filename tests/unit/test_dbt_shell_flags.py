"""A shell set up for another dbt project's development gives dbt flags as ``DBT_`` variables
(``DBT_DEFER`` with ``DBT_STATE``, ``DBT_EMPTY``, ``DBT_WRITE_JSON=false``): pinlake's dbt runs
would then build other answers than the pipeline's, silently, or leave out the run results
pinlake reads after a failure. They run without them, and say so once
(pinlake.lakehouse.dbt.DROPPED_DBT_FLAGS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.console import PINLAKE
from pinlake.lakehouse import dbt


def test_dbt_env_leaves_out_another_projects_flags(tmp_path: Path, monkeypatch) -> None:
    for name in dbt.DROPPED_DBT_FLAGS:
        monkeypatch.setenv(name, "true")
    monkeypatch.setenv("DBT_USE_COLORS", "true")  # how dbt prints: the shell's stays
    env = dbt.dbt_env(Settings(home=tmp_path), terminal=False)
    assert not set(dbt.DROPPED_DBT_FLAGS) & set(env)
    assert env["DBT_USE_COLORS"] == "true"
    assert env["DBT_PROFILE"] == "pinlake"


@pytest.mark.slow  # dbt parses the project (about 10 s)
def test_an_in_process_run_goes_without_them_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``DBT_WRITE_JSON=false`` kept dbt from writing its artifacts, which pinlake reads (the
    run results after a failure, the manifest for the DAGs): the in-process run writes them,
    the process's environment is as it was afterwards, and the note comes once."""
    monkeypatch.setattr(dbt, "_NOTED", set())
    monkeypatch.setenv("DBT_WRITE_JSON", "false")
    monkeypatch.setenv("DBT_EMPTY", "true")
    settings = Settings(home=tmp_path)
    for _ in range(2):
        result = dbt.run_dbt(settings, dbt.DbtCommand(["parse"], in_process=True))
        assert result.returncode == 0
    assert (settings.dbt_target_dir / "manifest.json").is_file()
    assert os.environ["DBT_WRITE_JSON"] == "false"  # the caller's environment, restored
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: pinlake's dbt runs ignore DBT_EMPTY, DBT_WRITE_JSON from the environment "
        "(another project's dbt flags: they would change what the pipeline builds); give "
        f"`{PINLAKE} dbt` the option instead (--empty, --defer --state …)"
    ]


def test_dbt_databricks_imports_without_its_pydantic_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """helper-83: every command of the ``databricks`` target (and ``dbt --version``) began with
    pydantic's ``UserWarning: Valid config keys have changed in V2`` about dbt-databricks' own
    config. dbt's environment filters that warning only, after the shell's own filters."""
    import subprocess
    import sys

    monkeypatch.setenv("PYTHONWARNINGS", "default::DeprecationWarning")
    env = dbt.dbt_env(Settings(home=tmp_path), terminal=False)
    assert env["PYTHONWARNINGS"] == f"default::DeprecationWarning,{dbt.LIBRARY_WARNINGS}"
    code = "import warnings; import dbt.adapters.databricks; warnings.warn('still shown')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Valid config keys" not in done.stderr
    assert "UserWarning: still shown" in done.stderr  # other warnings are shown as before
