"""The width of pinlake's output off a terminal (pinlake.console.output_width): logs, pipes, CI."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from pinlake.console import PIPE_WIDTH, counted, output_width


def test_a_pipe_gets_the_pipe_width_and_a_terminal_or_columns_lets_rich_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_width(io.StringIO()) == PIPE_WIDTH > 80
    assert output_width(None) == PIPE_WIDTH
    closed = io.StringIO()
    closed.close()
    assert output_width(closed) == PIPE_WIDTH  # isatty() raises ValueError: a pipe, no crash
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        assert output_width(terminal) is None  # rich reads the terminal's own width
    os.close(primary)
    monkeypatch.setenv("COLUMNS", "100")
    assert output_width(io.StringIO()) is None  # rich reads COLUMNS


def test_help_read_through_a_pipe_is_not_cut_at_80_columns() -> None:
    """`pinlake services up --help | less`: every environment variable's name whole (at 80
    columns rich cut them, e.g. ``$PINLAKE_SOURCE…``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    done = subprocess.run(
        [sys.executable, "-m", "pinlake", "services", "up", "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(map(len, lines)) == PIPE_WIDTH
    cut = [line for line in lines if "…" in line.replace("s3://…", "")]
    assert not cut, cut
    for name in ("$PINLAKE_SOURCE_DB", "$PINLAKE_KAFKA__BROKERS", "$PINLAKE_SPARK_CLUSTER__PORT"):
        assert name in done.stdout, name


def test_a_summary_read_through_a_pipe_is_one_line(tmp_path) -> None:
    """Off a terminal, lines of text are never wrapped (tables still take PIPE_WIDTH)."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PINLAKE_HOME"] = str(tmp_path / ("a home whose path is long enough to pass the width" * 2))
    done = subprocess.run(
        [sys.executable, "-m", "pinlake", "source", "init", "--rows", "10"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (summary,) = [line for line in done.stdout.splitlines() if line.startswith("✓ source")]
    assert len(summary) > PIPE_WIDTH
    assert summary.endswith("s") and "user_data 10 rows" in summary, summary


@pytest.mark.parametrize("width", [80, 100])
def test_help_in_a_narrow_terminal_wraps_instead_of_cutting(width: int) -> None:
    """Below pinlake.cli.RICH_HELP_MIN_WIDTH a command's help is click's plain layout (rich's
    option panels cut `$PINLAKE_SOURCE…`, `--no-spark-clu…` at 80 columns); the command list
    keeps rich's panel, which wraps its descriptions."""
    env = {k: v for k, v in os.environ.items() if k != "TERMINAL_WIDTH"}
    env["COLUMNS"] = str(width)

    def help_of(*command: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pinlake", *command, "--help"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert max(map(len, done.stdout.splitlines())) <= width
        return done.stdout

    up = help_of("services", "up")
    assert "…" not in up.replace("s3://…", "")
    for name in ("$PINLAKE_SOURCE_DB", "$PINLAKE_KAFKA__BROKERS", "--no-spark-cluster"):
        assert name in up, name
    listing = help_of()
    assert "Commands" in listing and "…" not in listing
    assert "Run dbt against this home" in listing


@pytest.mark.parametrize(
    ("n", "noun", "plural", "text"),
    [
        (1, "record", None, "1 record"),
        (0, "record", None, "0 records"),
        (1250, "file", None, "1,250 files"),
        (2, "micro-batch", "micro-batches", "2 micro-batches"),
    ],
)
def test_a_count_takes_its_noun_in_the_right_number(n, noun, plural, text) -> None:
    """A trial read ``✓ sink: 1 records in 1 files``."""
    assert counted(n, noun, plural) == text


#: Renders ``--help`` of every command and group of the ``pinlake`` tree in one process (the
#: width is the environment's) and prints one line per command that did not exit 0.
_EVERY_HELP = """
import contextlib, io, sys
import typer
from pinlake.cli import app, main

def paths(command, prefix=()):
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):  # a group's
        yield from paths(sub, (*prefix, name))

for path in paths(typer.main.get_command(app)):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([*path, "--help"])
        except SystemExit as exc:
            code = exc.code
    shown = out.getvalue()
    ok = code == 0 and "Usage" in shown and "Traceback" not in err.getvalue()
    print(("ok " if ok else "FAILED ") + " ".join(path or ("pinlake",)))
    if not ok:
        print(err.getvalue()[-2000:])
"""


@pytest.mark.parametrize("width", [200, 80])
def test_every_commands_help_renders_in_both_layouts(width: int) -> None:
    """A trial's ``pinlake produce --help`` ended in rich's ``MarkupError`` (an option's help
    said ``http://host:port[/stage]``, which rich's layout reads as a closing tag; at 80
    columns click's plain layout showed it). Every command and group, in the rich layout
    (wide) and the plain one (narrow)."""
    env = {k: v for k, v in os.environ.items() if k != "TERMINAL_WIDTH"}
    env["COLUMNS"] = str(width)
    done = subprocess.run(
        [sys.executable, "-c", _EVERY_HELP], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "ok pinlake" in lines and "ok produce" in lines and "ok services up" in lines
    assert len([line for line in lines if line.startswith("ok ")]) >= 16, lines  # every one
    assert not [line for line in lines if not line.startswith("ok ")], done.stdout[-3000:]
