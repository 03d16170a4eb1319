"""The ``pinlake`` command (``python -m pinlake`` and the console script).

Imports the CLI inside a guard: Ctrl-C while its modules load (about 0.3 s) ends the command
with exit code 130 and no traceback, as Ctrl-C during a command does (:func:`pinlake.cli.main`).
Once the command has ended (its summary printed, its exit code decided), a Ctrl-C or SIGTERM
that comes while Python finalizes no longer changes how it ended (:func:`_exiting`).
"""

import atexit
import signal
import sys


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


def run() -> None:
    """Import :mod:`pinlake.cli` and run :func:`~pinlake.cli.main` (which always exits with
    SystemExit and the command's code); see the module docstring for signals around it.
    :func:`_exiting` is the first exit handler registered, so it runs last: once threads have
    been waited for and the other handlers ran (a hang there can still be stopped), just before
    Python finalizes."""
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
