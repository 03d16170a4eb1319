"""The ``pinlake`` command that errors and warnings tell the user to run is one this user's shell
runs (pinlake.console.pinlake_command): in the shell the README sets up, without an activated
venv, a hint's ``pinlake services up`` was "command not found" (helper-71, helper-72)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pinlake.console import PinlakeCommand, pinlake_command

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "ingestion" / "src" / "pinlake"
#: the code whose messages a user reads: pinlake's, and the DAGs' (in Airflow's task logs)
MESSAGE_CODE = (SOURCE, REPO / "dags")


def _install(root: Path) -> Path:
    """A venv's ``bin`` folder under ``root``: ``python`` and the ``pinlake`` script beside it."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "pinlake"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_the_command_is_pinlake_only_where_path_finds_this_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = _install(tmp_path / "repo" / ".venv")
    python = str(bin_dir / "python")
    repo = tmp_path / "repo"
    # the README's shell: no venv on PATH; from the clone, the path the README shows
    assert pinlake_command(python, cwd=str(repo), search_path="/usr/bin") == ".venv/bin/pinlake"
    # from elsewhere, the absolute path: also from a folder above the clone, where a relative
    # path ran until the next `cd` (helper-73: `nu-OFSA/p/.venv/bin/pinlake` from /tmp)
    for elsewhere in (tmp_path / "elsewhere", tmp_path, repo / "models"):
        assert pinlake_command(python, cwd=str(elsewhere), search_path="") == str(
            bin_dir / "pinlake"
        )
    # an activated venv (its bin first on PATH): the bare name
    assert pinlake_command(python, cwd=str(repo), search_path=f"{bin_dir}:/usr/bin") == "pinlake"
    # a working folder deleted since the shell entered it: the absolute path, no traceback
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)  # back to the test's folder afterwards
    gone.rmdir()
    assert pinlake_command(python, search_path="") == str(bin_dir / "pinlake")
    # a hint read elsewhere (an Airflow task's log): the absolute path whatever PATH finds
    assert pinlake_command(python, search_path=str(bin_dir), absolute=True) == str(
        bin_dir / "pinlake"
    )
    # another install's pinlake on PATH (another clone's venv): that would act on the other
    # install, so this one's path
    other = _install(tmp_path / "other" / ".venv")
    assert pinlake_command(python, cwd=str(repo), search_path=str(other)) == ".venv/bin/pinlake"


def test_a_path_with_a_blank_is_quoted_and_no_script_is_the_bare_name(tmp_path: Path) -> None:
    bin_dir = _install(tmp_path / "my repo" / ".venv")
    assert pinlake_command(str(bin_dir / "python"), cwd=str(tmp_path / "x"), search_path="") == (
        f"'{bin_dir / 'pinlake'}'"
    )
    # `python -m pinlake` from a source tree: no script beside the interpreter
    bare = tmp_path / "bare"
    bare.mkdir()
    assert pinlake_command(str(bare / "python"), cwd=str(tmp_path), search_path="") == "pinlake"


def test_a_hint_carries_the_home_its_command_acted_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pinlake --home X produce`` named ``pinlake source init``, which filled ``./.pinlake``
    when pasted (helper-73): while ``PINLAKE_HOME`` is set (``--home`` sets it; a one-off
    ``PINLAKE_HOME=X pinlake …`` too) the command is formatted with ``--home``."""
    command = PinlakeCommand(".venv/bin/pinlake")
    monkeypatch.delenv("PINLAKE_HOME", raising=False)
    assert f"`{command} source init`" == "`.venv/bin/pinlake source init`"
    monkeypatch.setenv("PINLAKE_HOME", "/data/my home")
    assert f"`{command} source init`" == "`.venv/bin/pinlake --home '/data/my home' source init`"
    assert command.at("DIR") == ".venv/bin/pinlake --home DIR"
    assert command.at(None) == ".venv/bin/pinlake"
    # a relative PINLAKE_HOME: named absolute, as the command resolved it; pasted after a `cd`
    # it named another home (helper-74)
    monkeypatch.setenv("PINLAKE_HOME", "relh")
    assert str(command) == f".venv/bin/pinlake --home {Path.cwd() / 'relh'}"
    # spelt in another case, as the settings read it (an Airflow task's pinlake_home): the
    # hint named no home, and pasted it acted on the shell's ./.pinlake
    monkeypatch.delenv("PINLAKE_HOME")
    monkeypatch.setenv("pinlake_home", "/data/lower")
    assert str(command) == ".venv/bin/pinlake --home /data/lower"
    monkeypatch.delenv("pinlake_home")
    # while the CLI runs a command: its home; without --home only for the clone's relative
    # command on the default home (it runs in the clone alone, whose default home that is)
    command.home = (Path("/work/clone/.pinlake"), False)
    assert str(command) == ".venv/bin/pinlake"
    command.home = (Path("/data/h"), True)
    assert str(command) == ".venv/bin/pinlake --home /data/h"
    absolute = PinlakeCommand("/work/clone/.venv/bin/pinlake")
    absolute.home = (Path("/tmp/x/.pinlake"), False)  # the default home, from another folder
    assert str(absolute) == "/work/clone/.venv/bin/pinlake --home /tmp/x/.pinlake"


#: A hint that spells the command (`` `pinlake …` ``), or names a subcommand alone ("run dbt
#: build": not a command of any shell; helper-74).
HINT = re.compile(r"`pinlake[ `]|\brun `?(dbt|land|sink|export|services|source|produce|stream)\b")


def _literal_hints(tree: ast.Module) -> list[tuple[int, str]]:
    """String literals (f-string parts included) that name a ``pinlake`` command as
    :data:`HINT` finds it, docstrings left out: ``[(line, text)]``."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and HINT.search(node.value)
    ]


def test_every_hint_names_the_command_through_pinlake_command() -> None:
    """No message of pinlake's code or the DAGs' spells the command ``pinlake`` itself: each
    takes :data:`pinlake.console.PINLAKE`, or in a DAG task's log the script's absolute path
    (37 hints did, in 16 modules)."""
    found = {
        f"{path.relative_to(REPO)}:{line}": text
        for folder in MESSAGE_CODE
        for path in sorted(folder.rglob("*.py"))
        for line, text in _literal_hints(ast.parse(path.read_text()))
    }
    assert found == {}


@pytest.mark.timeout(120)
def test_a_hint_copied_into_the_readmes_shell_runs(tmp_path: Path) -> None:
    """``.venv/bin/pinlake report`` without exports, run as the README runs it (from the clone,
    the venv not on PATH): the command its error names runs in that same shell."""
    repo = REPO
    script = Path(sys.executable).parent / "pinlake"
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != script.parent
    )
    env = {**os.environ, "PATH": path, "PINLAKE_HOME": str(tmp_path / "home")}
    shell = {"cwd": repo, "env": env, "capture_output": True, "text": True, "timeout": 100}
    nowhere = str(tmp_path / "nowhere")
    done = subprocess.run([str(script), "report", "--exports", nowhere], **shell)
    assert done.returncode == 1, done.stderr
    hint = re.search(r"`([^`]*) dbt build`", done.stderr)
    assert hint, done.stderr
    # the clone's `.venv/bin/pinlake` (a venv elsewhere: its absolute path), not the bare name
    # PATH (as set here) does not find, with the home the command acted on (PINLAKE_HOME)
    command = pinlake_command(sys.executable, cwd=str(repo), search_path=path)
    assert command != "pinlake"
    assert hint[1] == f"{command} --home {tmp_path / 'home'}"
    # the hint's command, as a user pastes it into that shell
    pasted = subprocess.run(["bash", "-c", f"{hint[1]} --help"], **shell)
    assert pasted.returncode == 0, pasted.stderr
    assert "Usage: pinlake" in pasted.stdout

    # a command given another home with --home, from a shell in another folder without
    # PINLAKE_HOME: the hint pasted acts on that home, not on the shell's default ./.pinlake
    del env["PINLAKE_HOME"]
    folder = tmp_path / "shell"
    folder.mkdir()
    other = tmp_path / "other home"
    elsewhere = {**shell, "cwd": folder}
    done = subprocess.run(
        [str(script), "--home", str(other), "produce", "--to", "bucket"], **elsewhere
    )
    assert done.returncode == 1, done.stderr
    hint = re.search(r"run `([^`]*source init)`", done.stderr)
    assert hint, done.stderr
    pasted = subprocess.run(["bash", "-c", f"{hint[1]} --rows 5"], **elsewhere)
    assert pasted.returncode == 0, pasted.stderr
    assert (other / "source.db").is_file()
    assert not (folder / ".pinlake").exists()
