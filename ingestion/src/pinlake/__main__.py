"""The ``pinlake`` command (``python -m pinlake`` and the console script).

Imports the CLI inside a guard: Ctrl-C while its modules load (about 0.3 s) ends the command
with exit code 130 and no traceback, as Ctrl-C during a command does (:func:`pinlake.cli.main`).
"""

import sys


def run() -> None:
    """Import :mod:`pinlake.cli` and run :func:`~pinlake.cli.main`."""
    try:
        from pinlake.cli import main
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()
