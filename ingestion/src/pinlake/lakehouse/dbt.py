"""Runs dbt (in its own process) against the dbt project at the repository root.

dbt's ``session`` target starts its own Spark JVM with the same settings as
:func:`pinlake.spark.spark_conf`; :meth:`Settings.child_env` points it at this ``PINLAKE_HOME``.
It must not run while another process holds the home's Derby metastore.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
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


@dataclass
class DbtCommand:
    """One dbt invocation, e.g. ``DbtCommand(["build"])`` or ``(["docs", "generate"])``."""

    args: list[str] = field(default_factory=lambda: ["build"])
    check: bool = True


@dataclass
class DbtResult:
    """How a dbt invocation ended: its exit code and wall seconds."""

    args: list[str]
    returncode: int
    seconds: float


def run_dbt(settings: Settings, command: DbtCommand) -> DbtResult:
    """Run ``dbt <args>`` from the project root in its own process (its ``local`` target
    starts its own Spark JVM, so no other process may hold this home's metastore). Raises
    PinlakeError on a non-zero exit when ``command.check``."""
    settings.ensure_dirs()
    start = time.perf_counter()
    completed = subprocess.run(
        [dbt_executable(), *command.args], cwd=REPO_ROOT, env=settings.child_env(), check=False
    )
    if command.check and completed.returncode != 0:
        raise PinlakeError(
            f"`dbt {' '.join(command.args)}` failed with exit code {completed.returncode} "
            f"(details above and in {settings.logs_dir / 'dbt'})"
        )
    return DbtResult(list(command.args), completed.returncode, time.perf_counter() - start)
