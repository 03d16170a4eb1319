"""The ``pinlake`` command (``python -m pinlake`` and the console script).

Imports the CLI inside a guard: Ctrl-C while its modules load (about 0.3 s) ends the command
with exit code 130 and no traceback, as Ctrl-C during a command does (:func:`pinlake.cli.main`).
Once the command has ended (its summary printed, its exit code decided), a Ctrl-C or SIGTERM
that comes while Python finalizes no longer changes how it ended (:func:`_exiting`).

A shell's ``PYTHONPATH`` that holds another Spark's Python packages (``pyspark``, ``py4j``) is
read first of all: the command runs again without those entries (:func:`_own_spark_python`).
"""

import atexit
import os
import signal
import sys
from collections.abc import Mapping

#: The packages of pinlake's Spark that a shell's ``PYTHONPATH`` may hold another copy of: an
#: Apache Spark install's ``python/`` and ``python/lib/py4j-*-src.zip``, as Spark's docs set it.
SPARK_PYTHON_PACKAGES = ("pyspark", "py4j")


def _exiting() -> None:
    """Ignore SIGINT and SIGTERM from here on: the command has ended and the process is exiting
    (Python's finalization takes about 0.2-0.6 s after a Spark command: py4j's gateway, the
    modules' clean-up). Python puts its own handlers back to the system's default as it
    finalizes (CPython's ``_PySignal_Fini``), so a Ctrl-C then killed the process by SIGINT
    (exit -2, the shell's 130) with no line, after a summary that said the command had stopped
    well (helper-53's trial: Ctrl-C twice on ``pinlake stream``, the second right after its
    summary). An ignored signal stays ignored through finalization; the process ends with the
    command's own exit code a moment later."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def own_spark_python_path(environ: Mapping[str, str]) -> str | None:
    """``PYTHONPATH`` without the entries that hold a package of :data:`SPARK_PYTHON_PACKAGES`
    (a folder or a zip file, as Python's path finder reads them), or None when no entry holds
    one. Entries come before the virtualenv's packages, so another Spark's ``python/`` made
    pinlake import that Spark's pyspark against the wheel's jars (a traceback at the first
    session, or a py4j of another protocol); pinlake's own copy is the virtualenv's. An empty
    string means none is left."""
    import importlib.machinery

    given = environ.get("PYTHONPATH")
    if not given:
        return None
    entries = given.split(os.pathsep)

    def holds_spark(entry: str) -> bool:
        finder = importlib.machinery.PathFinder
        return any(finder.find_spec(name, [entry or "."]) for name in SPARK_PYTHON_PACKAGES)

    kept = [entry for entry in entries if not holds_spark(entry)]
    return None if len(kept) == len(entries) else os.pathsep.join(kept)


def _own_spark_python() -> None:
    """Run this command again, in this process (``exec``: same pid, arguments and environment
    but ``PYTHONPATH``), when :func:`own_spark_python_path` drops an entry: before anything is
    imported, as pinlake's launcher replaces another Spark's ``SPARK_HOME``
    (:func:`pinlake.spark.launcher_env`)."""
    path = own_spark_python_path(os.environ)
    if path is None:
        return
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if path:
        env["PYTHONPATH"] = path
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def run() -> None:
    """Import :mod:`pinlake.cli` and run :func:`~pinlake.cli.main` (which always exits with
    SystemExit and the command's code); see the module docstring for signals around it.
    :func:`_exiting` is the first exit handler registered, so it runs last: once threads have
    been waited for and the other handlers ran (a hang there can still be stopped), just before
    Python finalizes."""
    _own_spark_python()
    atexit.register(_exiting)
    try:
        from pinlake.cli import main
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    try:
        main()
    except KeyboardInterrupt:  # in the few instructions between the command's end and its exit
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
