"""A command's output folder (``export --out``, ``report --out``) is checked before any work:
pinlake.output.output_folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pinlake_testing import cli_exit_code

import pinlake.spark
from pinlake.console import PINLAKE
from pinlake.errors import UsageError
from pinlake.output import output_folder


def test_a_folder_that_can_be_made_is_taken_and_nothing_is_left(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    assert output_folder(out) == out.resolve()
    assert list(tmp_path.iterdir()) == []  # the probe folder is gone, nothing was created
    (tmp_path / "c").mkdir()
    assert output_folder(tmp_path / "c") == tmp_path / "c"
    assert [p.name for p in tmp_path.iterdir()] == ["c"] and not any((tmp_path / "c").iterdir())


@pytest.mark.parametrize("case", ["a file", "under a file", "under /proc"])
def test_a_folder_that_cannot_be_written_is_one_usage_line(tmp_path: Path, case: str) -> None:
    """Permission bits did not tell: root may write anywhere by them, and a trial's
    ``--out /proc/…`` passed the check, so export and report failed after Spark's work."""
    (tmp_path / "file").write_text("")
    out, message = {
        "a file": (tmp_path / "file", "exists and is not a folder"),
        "under a file": (tmp_path / "file" / "x", f"cannot be created: {tmp_path}/file is not"),
        "under /proc": (Path("/proc/pinlake-out"), "cannot be written: no folder can be made in"),
    }[case]
    with pytest.raises(UsageError, match=f"^--out {re.escape(str(out))} {re.escape(message)}"):
        output_folder(out)


class SparkStarted(Exception):
    """Raised where ``pinlake export`` would start Spark."""


def test_export_to_a_folder_it_cannot_write_fails_before_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial's ``pinlake export --out /proc/pinlake-out`` failed after 14 s of Spark with
    ``No such file or directory``."""

    def no_spark(*_args: object, **_kwargs: object) -> None:
        raise SparkStarted

    monkeypatch.setattr(pinlake.spark, "get_spark", no_spark)
    code = cli_exit_code(monkeypatch, tmp_path / "home", "export", "--out", "/proc/pinlake-out")
    assert code == 2
    err = capsys.readouterr().err.strip()
    said = (
        "error: --out /proc/pinlake-out cannot be written: no folder can be made in /proc"
        " (No such file or directory)"
    )
    assert err == said


def test_export_into_another_homes_exports_folder_is_refused_before_spark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``export --out <another home>/exports`` wrote this home's marts over that home's (a
    report's stale warning advised it): refused in one line before Spark, naming that home's
    own export. A folder named ``exports`` that is no home's is written as before."""

    def no_spark(*_args: object, **_kwargs: object) -> None:
        raise SparkStarted

    monkeypatch.setattr(pinlake.spark, "get_spark", no_spark)
    other = tmp_path / "other"
    (other / "warehouse").mkdir(parents=True)
    code = cli_exit_code(monkeypatch, tmp_path / "home", "export", "--out", str(other / "exports"))
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == (
        f"error: --out {other / 'exports'}: the exports folder of another home ({other}), whose "
        "marts this home's would replace: give another folder, or export that home's marts with "
        f"`{PINLAKE.at(other)} export`"
    )
    assert not (other / "exports").exists()
    # no home's: past the check, to the home's marts (none built)
    plain = str(tmp_path / "exports")
    code = cli_exit_code(monkeypatch, tmp_path / "home", "export", "--out", plain)
    assert (code, "--out" in capsys.readouterr().err) == (1, False)
