"""A home the file system refuses is one ``error:`` line and a non-zero exit, never a traceback
(a new-user trial: ``--home`` naming a file, a folder under /proc, a read-only file system)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.cli import main
from pinlake.config import Settings
from pinlake.errors import UsageError


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return exit_info.value.code, err.strip().splitlines()


def test_a_home_that_is_a_file_is_refused_where_its_folders_are_made(tmp_path: Path) -> None:
    """Settings.ensure_dirs, which every Spark, dbt and service command calls, names the home."""
    home = tmp_path / "afile"
    home.write_text("not a folder")
    with pytest.raises(UsageError) as refused:
        Settings(home=home).ensure_dirs()
    assert str(refused.value) == (
        f"cannot use {home} as the pinlake home: {home}: exists and is not a folder "
        "(choose another with --home or PINLAKE_HOME)"
    )
    under = home / "x"
    with pytest.raises(UsageError, match=f"{under}: Not a directory"):
        Settings(home=under).ensure_dirs()


def test_a_home_that_is_a_file_is_one_line_from_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt and the demo said so; ``services status`` showed a table of services down and exited
    3, ``source init`` named the file without the home (helper-61): one line from every
    command, by --home or PINLAKE_HOME."""
    home = tmp_path / "afile"
    home.write_text("not a folder")
    expected = [
        f"error: cannot use {home} as the pinlake home: exists and is not a folder (choose "
        "another with --home or PINLAKE_HOME)"
    ]
    for argv in (
        ["dbt", "build"],
        ["demo", "--reset"],
        ["services", "status"],
        ["source", "init", "--rows", "5"],
        ["report"],
    ):
        assert _run(["--home", str(home), *argv], capsys) == (2, expected), argv
    monkeypatch.setenv("PINLAKE_HOME", str(home))
    assert _run(["services", "down"], capsys) == (2, expected)


def test_any_file_system_refusal_is_one_line_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``source init`` writes the source database into the home without Settings.ensure_dirs:
    the CLI's last resort for an OSError that names its file."""
    code, lines = _run(["--home", "/proc/pinlake-home", "source", "init", "--rows", "5"], capsys)
    assert (code, lines) == (1, ["error: /proc/pinlake-home: No such file or directory"])


def test_the_demo_calls_a_home_without_earlier_state_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone's demo said "(previous demo state is reset)" with nothing to reset (a
    new-user trial). Here the home cannot be made (a file is in its way), so the demo stops
    right after that first line."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit):
        main(["--home", str(blocker / "home"), "demo"])
    out = capsys.readouterr().out
    assert f"pinlake demo in {blocker / 'home'} (a new home)" in out, out
