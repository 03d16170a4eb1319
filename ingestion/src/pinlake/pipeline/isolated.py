"""Run one pipeline step in a child process and get its typed result back.

The one helper for stages that must not share a process: the embedded Derby metastore admits
one JVM at a time and a JVM keeps it until the process exits, so a composition that runs
``land`` and then ``dbt build`` (which starts its own JVM) runs ``land`` here.

Protocol (parent → child): ``python -m pinlake.pipeline.isolated RESULT_FILE`` with the settings
in the environment (:meth:`Settings.child_env`, the one way settings cross a process boundary) and
``{"step": <options class name>, "options": {...}}`` on stdin. The child runs the step (its
output goes to the same terminal) and writes ``{"result": {...}}`` or
``{"error": <message>, "exit_code": n}`` to RESULT_FILE. Nothing travels through ``logs/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.pipeline.steps import RESULTS, STEPS, run_step

_BY_NAME = {cls.__name__: cls for cls in STEPS}


def run_isolated(settings: Settings, options: Any) -> Any:
    """Run the step of ``options`` in a fresh Python process on the same settings; returns its
    typed result. Raises :class:`PinlakeError` with the child's message when the step failed, or
    with its exit code when the child died without a word (killed, crashed JVM)."""
    cls = type(options)
    if cls not in STEPS:
        raise TypeError(f"no pipeline step takes {cls.__name__}")
    request = {"step": cls.__name__, "options": TypeAdapter(cls).dump_python(options, mode="json")}
    with tempfile.TemporaryDirectory(prefix="pinlake-step-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", "pinlake.pipeline.isolated", str(out)],
            input=json.dumps(request),
            text=True,
            env=settings.child_env(),
            check=False,
        )
        answer = json.loads(out.read_text()) if out.exists() else {}
    if "result" in answer:
        return TypeAdapter(RESULTS[cls]).validate_python(answer["result"])
    message = answer.get("error") or f"exited with code {done.returncode} and no result"
    raise PinlakeError(f"{cls.__name__} step failed in its own process: {message}")


def _child(out: Path) -> int:
    from pinlake.console import err_console

    request = json.loads(sys.stdin.read())
    cls = _BY_NAME[request["step"]]
    options = TypeAdapter(cls).validate_python(request["options"])
    try:
        result = run_step(Settings(), options)
    except PinlakeError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        out.write_text(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
        return exc.exit_code
    out.write_text(
        json.dumps({"result": TypeAdapter(RESULTS[cls]).dump_python(result, mode="json")})
    )
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
