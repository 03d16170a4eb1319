"""Run pipeline steps in a child process and get their typed results back.

The one helper for stages that must not share a process with what follows them: the embedded
Derby metastore admits one JVM at a time and a JVM keeps it until its process exits, so a
composition that runs ``land`` and later ``dbt build`` (its own JVM) runs ``land`` here. Several
Spark steps in one call share the child's one JVM (dbt then runs in-process,
:class:`~pinlake.lakehouse.dbt.DbtCommand` ``in_process``), which starts Spark once instead of
once per step.

Protocol (parent → child): ``python -m pinlake.pipeline.isolated RESULT_FILE`` with the settings
and this process's Spark decisions in the environment (:func:`pinlake.spark.session_env`) and
``{"steps": [{"name", "step": <options class name>, "options": {...}}, ...]}`` on stdin. The
child runs the steps in order (their output goes to the same terminal) and writes
``{"results": [{"result": {...}, "seconds": s}, ...]}``, with ``"error"`` and ``"exit_code"``
added when a step failed (the steps after it do not run). Nothing travels through ``logs/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from pinlake.config import Settings
from pinlake.console import stage_rule
from pinlake.errors import PinlakeError
from pinlake.pipeline.steps import RESULTS, STEPS, run_step
from pinlake.spark import session_env

_BY_NAME = {cls.__name__: cls for cls in STEPS}


@dataclass
class Stage:
    """One step of a sequence: its display name and its options."""

    name: str
    options: Any


@dataclass
class StageResult:
    """A step's typed result and its wall time in seconds."""

    name: str
    result: Any
    seconds: float


def run_isolated(
    settings: Settings, stages: list[Stage], *, first: int = 1, total: int | None = None
) -> list[StageResult]:
    """Run ``stages`` in order in one fresh Python process on the same settings; returns their
    results. Stage lines are numbered from ``first`` (of ``total``). Raises the failed step's
    :class:`PinlakeError` (its message and exit code; the child does not print it, so a CLI
    shows it once: the demo printed a failed dbt build's error twice, helper-68), or one naming
    the child's exit code when it died without a word (killed, crashed JVM)."""
    for stage in stages:
        if type(stage.options) not in STEPS:
            raise TypeError(f"no pipeline step takes {type(stage.options).__name__}")
    request = {
        "first": first,
        "total": total,
        "steps": [
            {
                "name": stage.name,
                "step": type(stage.options).__name__,
                "options": TypeAdapter(type(stage.options)).dump_python(stage.options, mode="json"),
            }
            for stage in stages
        ],
    }
    with tempfile.TemporaryDirectory(prefix="pinlake-step-") as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run(
            [sys.executable, "-m", "pinlake.pipeline.isolated", str(out)],
            input=json.dumps(request),
            text=True,
            env=session_env(settings),
            check=False,
        )
        answer = json.loads(out.read_text()) if out.exists() else {}
    results = [
        StageResult(
            stage.name,
            TypeAdapter(RESULTS[type(stage.options)]).validate_python(item["result"]),
            item["seconds"],
        )
        for stage, item in zip(stages, answer.get("results", []), strict=False)
    ]
    if len(results) == len(stages) and "error" not in answer:
        return results
    if "error" in answer:  # the step's own error, as it would be raised here (printed once)
        error = PinlakeError(answer["error"])
        error.exit_code = answer.get("exit_code", PinlakeError.exit_code)
        raise error
    failed = stages[len(results)].name if len(results) < len(stages) else "a step"
    raise PinlakeError(
        f"{failed} failed in its own process: it exited with code {done.returncode} and no result"
    )


def _child(out: Path) -> int:

    request = json.loads(sys.stdin.read())
    settings = Settings()
    answer: dict[str, Any] = {"results": []}
    total = request.get("total")
    for number, item in enumerate(request["steps"], start=request.get("first", 1)):
        cls = _BY_NAME[item["step"]]
        options = TypeAdapter(cls).validate_python(item["options"])
        stage_rule(number, total, item["name"])
        start = time.perf_counter()
        try:
            result = run_step(settings, options)
        except PinlakeError as exc:  # the parent raises it (a CLI prints it once)
            answer.update(error=str(exc), exit_code=exc.exit_code)
            out.write_text(json.dumps(answer))
            return exc.exit_code
        answer["results"].append(
            {
                "result": TypeAdapter(RESULTS[cls]).dump_python(result, mode="json"),
                "seconds": time.perf_counter() - start,
            }
        )
    out.write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
