"""Runs dbt (in its own process) against the dbt project at the repository root.

dbt's ``session`` target starts its own Spark JVM with the same settings as
:func:`pinlake.spark.spark_conf`; :meth:`Settings.child_env` points it at this ``PINLAKE_HOME``.
It must not run while another process holds the home's Derby metastore.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pinlake.config import REPO_ROOT, Settings
from pinlake.errors import PinlakeError


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project venv), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    if local.exists():
        return str(local)
    found = shutil.which("dbt")
    if found is None:
        raise PinlakeError("dbt is not installed: run `make setup`")
    return found


def run_dbt(settings: Settings, args: list[str], *, check: bool = True) -> int:
    """Run ``dbt <args>`` from the project root; return its exit code (raise if ``check``)."""
    settings.ensure_dirs()
    command = [dbt_executable(), *args]
    completed = subprocess.run(command, cwd=REPO_ROOT, env=settings.child_env(), check=False)
    if check and completed.returncode != 0:
        raise PinlakeError(
            f"`dbt {' '.join(args)}` failed with exit code {completed.returncode} "
            f"(details above and in {settings.logs_dir / 'dbt'})"
        )
    return completed.returncode
