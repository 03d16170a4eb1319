"""Shared terminal output: one rich console, progress bars and summary tables."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pinlake.config import Settings, get_settings, invalid_settings, read_spelling


def pinlake_command(
    executable: str = sys.executable,
    cwd: str | None = None,
    search_path: str | None = None,
    absolute: bool = False,
) -> str:
    """How a user's shell runs this install's ``pinlake`` command, for the commands that
    errors and warnings tell the user to run: ``pinlake`` when ``PATH`` (``search_path``) finds
    this install's script (a venv that is active, an installed package), else that script's path
    (the one beside ``executable``, the Python that runs pinlake): from the venv's own folder
    (``cwd``, default the working folder: the clone), the README's ``.venv/bin/pinlake``; from
    anywhere else its absolute path, which still runs after a ``cd`` (a path relative to a
    folder above the clone did not); quoted for a shell (:func:`shlex.quote`) when it holds a
    blank. ``absolute``: the script's absolute path
    whatever ``PATH`` finds, for a hint read elsewhere than in the shell that ran pinlake (an
    Airflow task's log, whose worker has the venv on its ``PATH``).

    A hint's ``pinlake services up`` failed with "command not found" in the shell the README
    sets up (no activated venv: helper-71, helper-72). Where the script is not beside
    ``executable`` (pinlake run as ``python -m pinlake`` from a source tree), ``pinlake``."""
    script = Path(executable).parent / "pinlake"
    if absolute and script.is_file():
        return shlex.quote(str(script))
    found = shutil.which("pinlake", path=search_path)
    if not script.is_file() or (found is not None and os.path.samefile(found, script)):
        return "pinlake"
    try:
        here = Path(cwd if cwd is not None else os.getcwd())
    except OSError:  # a working folder deleted since the shell entered it
        return shlex.quote(str(script))
    venv_folder = script.parent.parent.parent  # <clone>/.venv/bin/pinlake: <clone>
    shown = script.relative_to(here) if here == venv_folder else script
    return shlex.quote(str(shown))


class PinlakeCommand:
    """The ``pinlake`` command of the hints in errors and warnings, with the home it acts on:
    formatted (``f"`{PINLAKE} source init`"``) as ``<command> --home <absolute home>``, so that
    a hint pasted into a shell, in any folder, acts on the home of the command that gave it. A
    hint of ``pinlake --home X produce`` named ``pinlake source init``, which filled
    ``./.pinlake`` (helper-73); one of ``PINLAKE_HOME=relh`` named ``--home relh``, another home
    after a ``cd``, and so did the default home's from outside the clone (helper-74).

    The home: :attr:`home` while the CLI runs a command (``(path, given)``: ``given`` when
    ``--home`` or ``PINLAKE_HOME`` chose it; :func:`pinlake.cli.main` sets it), else
    ``PINLAKE_HOME`` in any case, as the settings read it (a process pinlake's CLI did not
    start: a DAG task, a test; :func:`pinlake.config.read_spelling`), else none.
    Without ``--home`` only where the home is the default one and ``command`` the clone's
    relative ``.venv/bin/pinlake``, which runs in the clone alone, whose default home that is.
    ``command``: :func:`pinlake_command`."""

    def __init__(self, command: str) -> None:
        self.command = command
        #: the home of the command the CLI runs, and whether --home or PINLAKE_HOME gave it
        self.home: tuple[Path, bool] | None = None

    @property
    def relative(self) -> bool:
        """``command`` is a path relative to the clone (``.venv/bin/pinlake``)."""
        return "/" in self.command and not self.command.lstrip("'").startswith("/")

    def at(self, home: str | Path | None) -> str:
        """The command with ``--home home`` (quoted for a shell), or alone for ``None``."""
        return self.command if home is None else f"{self.command} --home {shlex.quote(str(home))}"

    def __str__(self) -> str:
        if self.home is not None:
            path, given = self.home
            return self.command if not given and self.relative else self.at(path)
        # as the settings read it, in any case: an Airflow task's pinlake_home (read_spelling)
        named = os.environ.get(read_spelling("PINLAKE_HOME"))
        return self.at(Path(named).expanduser().absolute() if named else None)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


#: :func:`pinlake_command` for this process, as its working folder was at start-up (a command's
#: folder is its user's shell's), with the home (:class:`PinlakeCommand`): the ``pinlake`` of
#: every command an error or warning names.
PINLAKE = PinlakeCommand(pinlake_command())

#: The batch path's commands in the order data takes through them (the README's "Using the pieces";
#: ``pinlake demo`` runs each in turn, pinlake.pipeline.demo): what the hint of a command that
#: found nothing to read names before it (:func:`steps_before`).
PIECES = ("source init", "produce --to bucket", "land", "dbt build", "export")


def steps_before(piece: str, last: str | None = None, done: int = 0) -> str:
    """The hint of a command that found nothing to read on its home: the :data:`PIECES` up to
    and including ``piece``, each as ``PINLAKE`` runs it (``last`` written instead of
    ``piece``'s own words: ``export --out <folder>``), less the first ``done`` of them, which
    the home has done (:func:`pinlake.lakehouse.progress.next_steps`; never ``piece`` itself),
    then ``pinlake demo`` for every step at once, in a new folder: the demo refuses a home it
    did not make, and a failed ``dbt build`` has made this one (helper-77: the hint named
    ``demo`` on this home, which was then refused). Raises ValueError for a ``piece`` not in
    :data:`PIECES`. On an empty home report and export named `dbt build` alone, which failed on
    raw tables nothing had landed (helper-74, helper-76)."""
    end = PIECES.index(piece) + 1
    steps = list(PIECES[min(max(done, 0), end - 1) : end])
    steps[-1] = last or piece
    named = ", ".join(f"`{PINLAKE} {step}`" for step in steps)
    order = " in that order" if len(steps) > 1 else ""
    demo = f"{PINLAKE.command} --home <a new folder> demo"
    return f"run {named}{order}, or `{demo}` for every step in a new home"


#: The terminal-size variables rich (``COLUMNS``, ``LINES``) and Typer (``TERMINAL_WIDTH``) read.
WIDTH_VARIABLES = ("COLUMNS", "LINES", "TERMINAL_WIDTH")


def drop_bad_width_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """Remove from ``environ`` each of :data:`WIDTH_VARIABLES` that is set but is not a
    positive whole number, returning a warning for each: ``COLUMNS=0`` made rich print nothing
    at all, errors included, and ``TERMINAL_WIDTH=abc`` a traceback from Typer's import
    (helper-56). Called on this module's import (before its consoles read them), and so for
    pinlake's children too, which inherit the environment."""
    warnings = []
    for name in WIDTH_VARIABLES:
        value = environ.get(name)
        if value is not None and not (value.strip().isdecimal() and int(value) > 0):
            del environ[name]
            warnings.append(f"{name}={value!r} is not a positive whole number of columns: ignored")
    return warnings


#: What :func:`drop_bad_width_variables` dropped when this module was imported (the CLI prints it).
WIDTH_WARNINGS = drop_bad_width_variables(os.environ)

#: Columns of output that goes to a file or a pipe (a log, ``| tee``, CI, an Airflow task) when
#: ``COLUMNS`` does not say otherwise: the width of tables, rules and help panels there. Rich's own
#: default is 80, which cut table cells and help texts (an address, a metastore URL, an
#: environment variable's name) that fit on any terminal a user reads them in. Lines of text are
#: not wrapped there at all (``soft_wrap``): a summary stays one line for grep and for a test.
PIPE_WIDTH = 120


def output_width(stream: TextIO | None) -> int | None:
    """The width of rich output to ``stream``, in columns: ``None`` (rich decides: the
    terminal's width, or ``COLUMNS``) when ``stream`` is a terminal or ``COLUMNS`` is set, else
    :data:`PIPE_WIDTH`. A closed or missing stream counts as a pipe."""
    if os.environ.get("COLUMNS"):
        return None
    try:
        terminal = stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed, or not a real file
        terminal = False
    return None if terminal else PIPE_WIDTH


class _Console(Console):
    """rich's Console whose output going nowhere ends nothing: rich's ``on_broken_pipe`` (its
    documented hook for a subclass) raised ``SystemExit(1)`` at the first line printed after the
    reader of a pipe had gone. After a Ctrl-C that ended a ``| tee`` too, that line was
    ``services up``'s "stopping what this call started", and every service it had started ran
    on, with nothing said (helper-79); ``services status | head -3`` ended with exit 1."""

    def on_broken_pipe(self) -> None:
        """The reader is gone: this console says nothing more, and its descriptor is pointed at
        ``/dev/null`` (what else writes there is dropped too, not failed); the command goes on
        (Python's advice for SIGPIPE: the ``signal`` module's "Note on SIGPIPE")."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self.file.fileno())
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
            pass
        finally:
            os.close(devnull)


def _console(stream: TextIO, stderr: bool) -> Console:
    """pinlake's console on ``stream``: no highlighting, and no emoji codes (rich's default
    turns ``:x:`` into ❌, in a path or a record too: a hint's command named another folder,
    helper-88); rich markup in pinlake's own text stays, a user's text is escaped
    (``rich.markup.escape``) or printed with ``markup=False``."""
    width = output_width(stream)
    return _Console(
        stderr=stderr, highlight=False, emoji=False, width=width, soft_wrap=width is not None
    )


console = _console(sys.stdout, stderr=False)
err_console = _console(sys.stderr, stderr=True)


def environment_settings() -> Settings:
    """The process's settings (:func:`pinlake.config.get_settings`) for an entry point other
    than the ``pinlake`` command (``python -m pinlake.spark_cds_build``, the services'
    ``python -m`` mains): for ``PINLAKE_*`` variables that pydantic rejects, one ``error:
    invalid settings: …`` line on stderr, as the ``pinlake`` command prints it, and exit 2
    (``SystemExit``), not pydantic's traceback (helper-112: ``make airflow`` with
    ``PINLAKE_API__PORT=abc`` ended in 19 lines from ``make setup``'s archive step)."""
    try:
        return get_settings()
    except ValidationError as exc:
        err_console.print(f"error: {invalid_settings(exc)}", markup=False, soft_wrap=True)
        raise SystemExit(2) from None


def progress() -> Progress:
    """A progress bar for a long step (records, files...)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    caption: str | None = None,
) -> Table:
    """A rich table of rows (used for summaries and query results). A value wider than its
    column wraps inside its cell (a path, a URL): never cut with an ellipsis."""
    out = Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        header_style="bold",
        min_width=min(60, console.width),
    )
    for column in columns:
        out.add_column(column, overflow="fold")  # a long value wraps in its cell, never cut
    for row in rows:
        out.add_row(*("" if value is None else str(value) for value in row))
    return out


def stage_rule(number: int, total: int | None, name: str) -> None:
    """The line that opens stage ``number`` (of ``total``) of a composition."""
    of = f"/{total}" if total else ""
    console.rule(f"[bold]{number}{of} {name}")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 record"``, ``"1,250 records"``: ``n`` with thousands separators and ``noun`` in
    the number it takes (``plural``: when it is not ``noun + "s"``)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def rate_text(rate: float | None) -> str:
    """A rate in records/s as pinlake shows it (``services status``, land's summary): whole
    numbers from 10 up (``1,234``), two significant digits below (``0.35``, ``2.5``),
    ``<0.01`` under that and ``0`` for none: a query fed by hand, or a land of one record,
    runs at fractions of a record per second, which whole numbers showed as 0."""
    if not rate:
        return "0"
    if rate < 0.01:
        return "<0.01"
    if rate >= 10:
        return f"{rate:,.0f}"
    return f"{rate:.2g}"


def clean_up_rule(name: str) -> None:
    """The line that opens ``name``, a composition's clean-up after a stage failed or was
    interrupted (no number: the composition ends there)."""
    console.rule(f"[bold]clean-up: {name}")
