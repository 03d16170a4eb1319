"""A command that finds nothing to read on a home where nothing was made says which steps come
first, in their order (pinlake.console.steps_before), before Spark starts and without creating
anything there (helper-76: report and export named `dbt build` alone; land named no step; and
export's Spark session created the home's metastore, after which `pinlake demo` refused the
home)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pinlake_testing import cli_exit_code

import pinlake.spark
from pinlake.console import PINLAKE


class SparkStarted(Exception):
    """Raised where a command would start Spark."""


@pytest.fixture
def no_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise SparkStarted

    monkeypatch.setattr(pinlake.spark, "get_spark", refuse)


def test_export_on_a_home_where_nothing_was_built_fails_before_spark_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spark
) -> None:
    """helper-76: ``pinlake export`` on an empty home started Spark, whose session created the
    home's Derby metastore, and said "run dbt build first"; ``pinlake demo``, which that line
    also named, then refused the home as holding data it did not make (the metastore). The
    line now names the steps in their order, and nothing is created."""
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "export") == 1
    err = capsys.readouterr().err.strip()
    command = PINLAKE.at(home)
    assert err == (
        f"error: no `marts` schema in {home}: run `{command} source init`, "
        f"`{command} produce --to bucket`, `{command} land`, `{command} dbt build` in that order "
        f"(`{command} demo` runs every step, in a home of its own)"
    )
    assert not (home / "metastore").exists()
    # a home whose metastore exists: Spark is asked (the schema may be there)
    (home / "metastore" / "metastore_db").mkdir(parents=True)
    with pytest.raises(SparkStarted):
        cli_exit_code(monkeypatch, home, "export")


def test_land_of_a_bucket_nothing_wrote_names_the_steps_that_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spark
) -> None:
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "land") == 2
    command = PINLAKE.at(home)
    assert capsys.readouterr().err.strip() == (
        f"error: bucket {home / 'bucket'} does not exist or is not a folder: run "
        f"`{command} source init`, `{command} produce --to bucket` in that order "
        f"(`{command} demo` runs every step, in a home of its own)"
    )
    assert not (home / "metastore").exists() and not (home / "bucket").exists()
