"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits non-zero."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import psutil

#: Set when Ctrl-C (SIGINT) has interrupted this process through a handler of pinlake's own
#: (:func:`pinlake.spark.interrupt_spark`). The JVM beside it gets the same SIGINT and ends, so
#: what fails after it (a py4j call to a JVM that has gone) is the interrupt, and the CLI
#: reports it as one (exit 130).
INTERRUPTED = threading.Event()

#: Set when SIGTERM (``kill``, ``timeout``, a supervisor's stop) reached the ``pinlake`` command
#: (:func:`pinlake.cli.main`), which then stops as on Ctrl-C: the same clean-up (the services a
#: command started are stopped, a dbt child cancels its queries), then exit 143. Unlike a
#: terminal's Ctrl-C it reached this process only, so a child that should stop is told
#: (:func:`pinlake.lakehouse.dbt._invoke` sends the dbt child SIGINT).
TERMINATED = threading.Event()


def raise_cut_short(signal_name: str | None) -> NoReturn:
    """End a run that a signal (``signal.Signals`` name) stopped before it did what it was asked
    (``sink --once`` or ``stream --available-now`` before it caught up): KeyboardInterrupt, with
    :data:`TERMINATED` set for SIGTERM, which the CLI ends with ``error: interrupted`` (130) or
    ``error: terminated`` (143), as every command (README, "Ctrl-C")."""
    if signal_name == "SIGTERM":
        TERMINATED.set()
    raise KeyboardInterrupt


def let_child_end(
    child: subprocess.Popen | psutil.Process, grace: float, cause: BaseException
) -> int:
    """After ``cause`` interrupted this process's wait on ``child`` (Ctrl-C, SIGTERM, or another
    exception a signal handler raised: Airflow's task timeout or termination): let the child
    end on its own, up to ``grace`` seconds, then kill it; returns its exit code (negative: the
    signal that ended it). The caller raises ``cause`` again.

    The child is in this process group, so a terminal's Ctrl-C (KeyboardInterrupt) reached it
    too; otherwise (SIGTERM, :data:`TERMINATED`, which reached this process only, or another
    exception) the child is sent SIGINT, its own Ctrl-C. A second Ctrl-C while it ends kills it
    at once. ``subprocess.run`` kills its child a quarter of a second after a Ctrl-C, in the
    middle of its clean-up (a dbt run's cancelled queries and Spark session, a pipeline step's
    own interrupt handling), and never tells it of a SIGTERM; a bare ``wait`` left it running
    after any other exception, holding its Spark JVM and the home's embedded metastore.
    ``child`` may be a ``psutil.Process`` of a child whose ``Popen`` never returned
    (:func:`start_child`)."""
    import psutil

    if TERMINATED.is_set() or not isinstance(cause, KeyboardInterrupt):
        child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=grace)
    except (subprocess.TimeoutExpired, psutil.TimeoutExpired, KeyboardInterrupt):  # 2nd Ctrl-C
        child.kill()
        return child.wait()


#: The variable that marks a child :func:`start_child` started (a value unique to the start).
CHILD_MARKER = "PINLAKE_CHILD_START"


def start_child(argv: list[str], grace: float, **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen(argv, **popen)``, and when an exception leaves ``Popen`` after its
    child started (a signal's handler raising while it had not returned: Ctrl-C, SIGTERM, an
    Airflow task's timeout), that child is found by a variable unique to this start
    (:data:`CHILD_MARKER`) and ended as :func:`let_child_end` ends one (``grace`` seconds); the
    exception is raised again. The child ran on, unknown to the caller: a full run's test of a
    timeout found a step's child still running. Raises what ``Popen`` raises."""
    import os
    import uuid

    import psutil

    marker = uuid.uuid4().hex
    popen["env"] = {**(popen.get("env") or os.environ), CHILD_MARKER: marker}
    try:
        return subprocess.Popen(argv, **popen)
    except BaseException as exc:
        for proc in psutil.Process().children():
            try:
                mine = proc.environ().get(CHILD_MARKER) == marker
            except psutil.Error:  # ended meanwhile, or not readable
                continue
            if mine:
                let_child_end(proc, grace, exc)
        raise


class WholeUnits:
    """Ctrl-C (SIGINT; SIGTERM too, through the CLI's handler, which runs the handler that has
    taken SIGINT over: :func:`pinlake.cli._terminate`) held back while a unit of work that must
    not be cut in two runs, and raised as KeyboardInterrupt as the unit ends; between units (a
    wait for the next: a paced source, a database read) raised at once, as before. A context
    manager: its handler is SIGINT's while the ``with`` block runs (the previous one is put
    back after it). Outside the main thread, where no handler can be set, nothing is held.

    ``produce --to bucket`` holds one event's records (its summary says "complete events only"):
    a Ctrl-C between an event's pin and geo rows wrote the pin row alone, and one during a
    file's write, after the file was linked, made the final flush fail on that file name."""

    def __init__(self) -> None:
        self._in_unit = False
        self._held = False
        self._previous: object = None

    def __enter__(self) -> WholeUnits:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        if not self._in_unit:
            raise KeyboardInterrupt
        self._held = True

    def begin(self) -> None:
        """A unit starts: a Ctrl-C now waits for :meth:`end`."""
        self._in_unit = True

    def end(self) -> None:
        """The unit is whole: raises KeyboardInterrupt if a Ctrl-C came during it."""
        self._in_unit = False
        if self._held:
            self._held = False
            raise KeyboardInterrupt


def causes(error: BaseException | None, limit: int = 8) -> Iterator[BaseException]:
    """``error``, what caused it, what caused that, and so on (at most ``limit``): py4j's
    ``cause`` (the error of a Java call), else ``__cause__``, else ``__context__``."""
    for _ in range(limit):
        if error is None:
            return
        yield error
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace that holds a line break (or not) becomes
    one blank. The CLI's errors are one line (README); text from elsewhere in them (a server's
    HTML error page, botocore's copy of a process's stderr) had its own line breaks."""
    return " ".join(text.split())


class PinlakeError(Exception):
    """An expected failure caused by input or environment, with a readable message."""

    exit_code = 1


class UsageError(PinlakeError):
    """Bad arguments (paths, URLs, options)."""

    exit_code = 2


def file_system_problem(exc: OSError) -> str:
    """``<path>: <reason>`` of an ``OSError`` that names its file (``exc.filename``; both paths
    of a rename): the OS's reason (``strerror``), except for a folder that cannot be made because
    something else has its name (``FileExistsError`` of ``mkdir(exist_ok=True)``)."""
    where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
    if isinstance(exc, FileExistsError):
        return f"{where}: exists and is not a folder"
    return f"{where}: {exc.strerror or exc}"
