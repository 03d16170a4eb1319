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

Ctrl-C and SIGTERM: the child, in the parent's process group, gets the terminal's Ctrl-C too (or
SIGINT from the parent after a SIGTERM, which reached the parent only) and ends as the CLI does
on one, through the step's own interrupt handling, with exit code 130 and no traceback; the
parent waits for it up to :data:`STEP_STOP_TIMEOUT` seconds
(:func:`~pinlake.errors.let_child_end`) and raises KeyboardInterrupt.
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
from pinlake.errors import INTERRUPTED, PinlakeError, let_child_end, start_child
from pinlake.pipeline.steps import RESULTS, STEPS, run_step
from pinlake.spark import session_env

_BY_NAME = {cls.__name__: cls for cls in STEPS}

#: How long a step's child process gets to end on its own after Ctrl-C or SIGTERM (seconds)
#: before it is killed: a Spark step cancels its jobs (up to
#: :data:`pinlake.spark.CANCEL_TIMEOUT`) and its JVM then ends with it.
STEP_STOP_TIMEOUT = 15.0


def child_command(out: Path) -> list[str]:
    """The child's command line: this interpreter running this module, which writes the
    results to ``out``."""
    return [sys.executable, "-m", "pinlake.pipeline.isolated", str(out)]


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
        child = start_child(
            child_command(out),
            STEP_STOP_TIMEOUT,
            stdin=subprocess.PIPE,
            text=True,
            env=session_env(settings),
        )
        try:  # the child's output goes to the terminal as it comes
            child.communicate(json.dumps(request))
        except BaseException as exc:  # Ctrl-C, SIGTERM, …: the child ends as a CLI does
            let_child_end(child, STEP_STOP_TIMEOUT, exc)
            raise
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
        f"{failed} failed in its own process: it exited with code {child.returncode} and no result"
    )


def _child(out: Path) -> int:
    """Run the steps of the request on stdin and write their results to ``out``; the exit code:
    0, the failed step's (:class:`PinlakeError`), or 130 after Ctrl-C (KeyboardInterrupt, or
    whatever failed once it came: a py4j call to the JVM it ended), without a traceback (the
    parent's CLI says ``error: interrupted``)."""
    try:
        return _run_steps(out)
    except KeyboardInterrupt:
        return 130
    except Exception:
        if INTERRUPTED.is_set():
            return 130
        raise


def _run_steps(out: Path) -> int:
    """:func:`_child`'s work: the request's steps in order, each result written to ``out`` (the
    protocol above); the failed step's exit code, else 0."""
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
