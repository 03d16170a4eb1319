"""Numbered, timed stages of a composition (the demo, the benchmark, the golden test run)."""

from __future__ import annotations

import time
from typing import Any

from pinlake.config import Settings
from pinlake.console import clean_up_rule, stage_rule
from pinlake.lakehouse.dbt import DbtCommand
from pinlake.pipeline.isolated import Stage, run_isolated
from pinlake.pipeline.steps import SPARK_STEPS, run_step


class Runner:
    """Runs steps one after another on one ``settings``, printing ``n/total name`` before each
    and keeping its wall time in :attr:`timings` (seconds by stage name, summed on repeats).

    This process never starts Spark, so it never holds the embedded metastore: Spark steps
    (:data:`~pinlake.pipeline.steps.SPARK_STEPS`) run in a child process
    (:func:`~pinlake.pipeline.isolated.run_isolated`), and :meth:`spark` runs several of them,
    dbt included, in one child so that Spark starts once.
    """

    def __init__(self, settings: Settings, total: int | None = None) -> None:
        self.settings = settings
        self.total = total
        self.done = 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, options: Any) -> Any:
        """Run the step of ``options`` as stage ``name``; returns its typed result."""
        if type(options) in SPARK_STEPS:
            return self.spark((name, options))[0]
        self.done += 1
        stage_rule(self.done, self.total, name)
        start = time.perf_counter()
        result = run_step(self.settings, options)
        self._time(name, time.perf_counter() - start)
        return result

    def clean_up(self, name: str, options: Any) -> Any:
        """Run the step of ``options`` as the clean-up ``name`` after a stage failed or was
        interrupted (before its error goes on): under a line without a number (the run ends
        there), not counted, not timed; returns its typed result."""
        clean_up_rule(name)
        return run_step(self.settings, options)

    def spark(self, *stages: tuple[str, Any]) -> list[Any]:
        """Run ``(name, options)`` stages in one child process sharing one Spark session (dbt
        commands among them run in-process there); returns their results in order."""
        in_child = [
            Stage(name, _in_process(options) if isinstance(options, DbtCommand) else options)
            for name, options in stages
        ]
        results = run_isolated(self.settings, in_child, first=self.done + 1, total=self.total)
        self.done += len(results)
        for item in results:
            self._time(item.name, item.seconds)
        return [item.result for item in results]

    def _time(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds


def _in_process(command: DbtCommand) -> DbtCommand:
    return DbtCommand(list(command.args), check=command.check, in_process=True)
