"""The width of pinlake's output off a terminal (pinlake.console.output_width): logs, pipes, CI."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys

import pytest

from pinlake.cli import main
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


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The argv prefix of ``command`` and of every command and group under it."""
    paths = [prefix]
    for name, sub in sorted(getattr(command, "commands", {}).items()):  # a group's
        paths += _command_paths(sub, (*prefix, name))
    return paths


@pytest.mark.parametrize("width", [200, 80])
def test_every_commands_help_renders_in_both_layouts(
    width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial's ``pinlake produce --help`` ended in rich's ``MarkupError`` (an option's help
    said ``http://host:port[/stage]``, which rich's layout reads as a closing tag). Every
    command and group, in the rich layout (wide) and click's plain one (narrow), each in a
    command tree of its own (``main`` builds one per call; the plain layout is set on it); no
    flag shows a type as if it took a value."""
    import typer
    import typer.rich_utils

    from pinlake.cli import app

    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    paths = _command_paths(typer.main.get_command(app))
    assert len(paths) >= 16 and ("produce",) in paths and ("services", "up") in paths
    for path in [p for p in paths if p != ("dbt",)]:  # its --help is dbt's own, dbt prints it
        monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", None)  # as in a new process
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        out, err = capsys.readouterr()
        assert (exit_info.value.code, err) == (0, ""), (path, err[-2000:])
        assert out.split()[:2] == ["Usage:", "pinlake"], (path, out)  # after rich's blank line
        # a flag takes no value: Typer's rich layout showed <bool> beside each (a trial)
        assert "<bool>" not in out, (path, out)


@pytest.mark.parametrize(
    ("name", "value", "args"),
    [
        # rich printed nothing at all with a width of 0, errors included (helper-56)
        ("COLUMNS", "0", ["services", "status"]),
        ("COLUMNS", "abc", ["services", "status"]),
        # Typer's import read it with int(): a traceback (helper-56)
        ("TERMINAL_WIDTH", "abc", ["--help"]),
        ("LINES", "-3", ["services", "status"]),
    ],
)
def test_a_terminal_size_variable_that_is_no_width_is_ignored_with_a_warning(
    tmp_path, name, value, args
) -> None:
    env = {**os.environ, name: value}
    done = subprocess.run(
        [sys.executable, "-m", "pinlake", "--home", str(tmp_path / "home"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    warning = f"warning: {name}={value!r} is not a positive whole number of columns: ignored"
    assert done.stderr.splitlines()[0] == warning, done.stderr
    assert "Traceback" not in done.stderr
    assert ("Usage: pinlake" if args == ["--help"] else "kafka") in done.stdout


def test_the_steps_a_hint_names_are_the_clis_commands_in_the_demos_order() -> None:
    """A command that found nothing to read names the steps before it (helper-76: report and
    export named `dbt build` alone, which failed on an empty home)."""
    import typer

    from pinlake.cli import app
    from pinlake.console import PIECES, PINLAKE, steps_before

    group = typer.main.get_command(app)
    for piece in PIECES:  # each a command of the CLI, with arguments it takes
        words = piece.split()
        command = group
        context = group.make_context("pinlake", [], resilient_parsing=True)
        while hasattr(command, "get_command"):  # a group: the next word names its command
            name = words.pop(0)
            command = command.get_command(context, name)
            assert command is not None, piece
            context = command.make_context(name, [], resilient_parsing=True)
        params = command.make_context(name, words).params  # parses, or raises
        if name == "produce":
            assert params["to"].value == "bucket"
    p = str(PINLAKE)
    assert steps_before("land") == (
        f"run `{p} source init`, `{p} produce --to bucket`, `{p} land` in that order, or "
        f"`{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    )
    assert steps_before("export", "export --out x").startswith(
        f"run `{p} source init`, `{p} produce --to bucket`, `{p} land`, `{p} dbt build`, "
        f"`{p} export --out x` in that order"
    )
    # the steps a home has done are left out, never the command's own (helper-81)
    assert steps_before("land", done=1).startswith(
        f"run `{p} produce --to bucket`, `{p} land` in that order, or "
    )
    assert steps_before("export", "export --out x", done=9) == (
        f"run `{p} export --out x`, or `{PINLAKE.command} --home <a new folder> demo` for every "
        "step in a new home"
    )
    with pytest.raises(ValueError):
        steps_before("report")


def test_output_to_a_pipe_whose_reader_is_gone_ends_nothing(tmp_path) -> None:
    """helper-79: Ctrl-C on ``services up | tee log`` ended tee too; the clean-up's first line
    ("stopping what this call started") then raised rich's ``SystemExit(1)`` for the broken
    pipe, and every service ran on, unsaid; ``services status | head -3`` ended with exit 1.
    Printing to a pipe nobody reads now drops the text and the command goes on."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "went-on"
    code = (
        "from pinlake.console import console, err_console\n"
        "console.print('stopping what this call started')\n"
        "console.print('stopped the stream query')\n"
        "err_console.print('error: interrupted')\n"
        f"open({str(marker)!r}, 'w').write('yes')\n"
    )
    read, write = os.pipe()
    os.close(read)  # the reader is gone
    try:
        done = subprocess.run([sys.executable, "-c", code], stdout=write, stderr=write, timeout=60)
    finally:
        os.close(write)
    assert done.returncode == 0
    assert marker.read_text() == "yes"


@pytest.mark.parametrize("args", [[], ["services"], ["--home", "HOME", "source"]])
def test_a_group_alone_prints_its_help_then_says_a_command_is_missing(
    args: list[str], tmp_path, capsys, monkeypatch
) -> None:
    """``pinlake``, ``pinlake services`` alone: the help, then click's words for a missing
    command on one line, exit 2 (helper-82: ``error: `` and nothing); no home is made."""
    from pinlake.cli import main

    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    with pytest.raises(SystemExit) as exit_info:
        main([str(home) if arg == "HOME" else arg for arg in args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "Usage:" in captured.out and "Commands" in captured.out
    assert captured.err == "error: Missing command (the help above lists them).\n"
    assert not home.exists()
    # with an option before it no help is printed (the arguments were not empty): the line
    # says where it is (helper-83)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home)])
    assert exit_info.value.code == 2
    from pinlake.console import PINLAKE

    assert capsys.readouterr().err == f"error: Missing command (`{PINLAKE} --help` lists them).\n"


@pytest.mark.parametrize("before", [None, "their home"])
def test_a_commands_home_is_not_the_home_of_what_runs_next_in_process(
    before: str | None, tmp_path, monkeypatch, capsys
) -> None:
    """``main(["--home", X, ...])`` in a process that goes on (a test, a DAG task) leaves
    ``PINLAKE_HOME``, the settings and the hints' home as they were before it: CI's report test
    named, in its hints, the home of a MariaDB test that had run before it in the same worker
    (stop 57)."""
    from pinlake.config import get_settings
    from pinlake.console import PINLAKE

    if before is None:
        monkeypatch.delenv("PINLAKE_HOME", raising=False)
    else:
        monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / before))
    get_settings.cache_clear()
    hint, home = str(PINLAKE), get_settings().home
    given = tmp_path / "my home"
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(given), "report"])  # nothing exported: its hints name the home
    assert exit_info.value.code == 1
    assert f"`{PINLAKE.at(given)} source init`" in capsys.readouterr().err
    assert os.environ.get("PINLAKE_HOME") == (None if before is None else str(tmp_path / before))
    assert (str(PINLAKE), get_settings().home) == (hint, home)
    assert "my home" not in hint


def test_emoji_codes_and_markup_in_a_path_are_printed_as_they_are(tmp_path, capsys) -> None:
    """helper-88: ``pinlake --home '…/w[bold]x:x:y/h' land`` printed the path, and the hint's
    command to paste, with ``❌`` for ``:x:`` (rich's emoji codes): that command named a folder
    that does not exist. The same for a record's text quoted in an error."""
    from pinlake.console import PINLAKE, console, err_console

    home = tmp_path / "w[bold]x:x:y" / "h"  # refused by every command since (helper-91)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home), "land"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"the home (--home, PINLAKE_HOME) {home} holds" in err and "❌" not in err, err
    # a path in a hint's command to paste: report's exports folder
    exports = tmp_path / "e[bold]x:x:y"
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "h"), "report", "--exports", str(exports)])
    assert exit_info.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"`{PINLAKE.at(tmp_path / 'h')} export --out {shlex.quote(str(exports))}`" in err, err
    assert "❌" not in err, err
    for shown in (console, err_console):
        with shown.capture() as captured:
            shown.print("[bold]status[/] :x: :thumbs_up:")
        assert captured.get() == "status :x: :thumbs_up:\n"  # pinlake's markup still applies


@pytest.mark.parametrize(
    "args", [["demo"], ["source", "init", "--rows", "3"], ["services", "up"], ["dbt", "build"]]
)
def test_home_after_the_command_says_where_it_goes(
    tmp_path, capsys, monkeypatch, args: list[str]
) -> None:
    """helper-91: ``pinlake demo --home H`` said ``No such option: --home (Possible options:
    --help)``, the command's own options; nothing was made. After ``dbt`` (whose arguments
    pass through) dbt ran on the default home and created it (helper-92)."""
    from pinlake.console import PINLAKE

    home = tmp_path / "h"
    monkeypatch.chdir(tmp_path)  # where the default home, ./.pinlake, would be made
    monkeypatch.delenv("PINLAKE_HOME", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--home", str(home)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    command = " ".join(a for a in args if not a.startswith("-") and not a.isdigit())
    assert err == (
        f"error: --home is pinlake's option, given before the command: "
        f"`{PINLAKE.command} --home <path> {command} …`"
    )
    assert not home.exists() and not (tmp_path / ".pinlake").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--out", ""],
        ["export", "--out="],
        ["report", "--exports", " "],
        ["report", "--out", ""],
        ["produce", "--to", "bucket", "--sequence-file", ""],
    ],
)
def test_an_empty_path_is_refused_not_read_as_the_working_folder(
    tmp_path, capsys, monkeypatch, args: list[str]
) -> None:
    """helper-92: ``export --out ""`` wrote ten marts into the working folder (Typer reads an
    empty path as ``.``)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "h"), *args])
    assert exit_info.value.code == 2
    name = next(a for a in args if a.startswith("--") and a != "--to").rstrip("=")
    assert capsys.readouterr().err.strip() == f"error: {name}: an empty path: give a folder or file"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
