"""Numbered, timed stages of a composition (the demo, the benchmark, the golden test run)."""

from __future__ import annotations

import time
from typing import Any

from pinlake.config import Settings
from pinlake.console import console
from pinlake.pipeline.isolated import run_isolated
from pinlake.pipeline.steps import SPARK_STEPS, run_step


class Runner:
    """Runs steps one after another on one ``settings``, printing ``n/total name`` before each
    and keeping its wall time in :attr:`timings` (seconds by stage name).

    Spark steps (:data:`~pinlake.pipeline.steps.SPARK_STEPS`) run in their own process
    (:func:`~pinlake.pipeline.isolated.run_isolated`), so this process never holds the
    embedded metastore and dbt (its own process) can follow.
    """

    def __init__(self, settings: Settings, total: int | None = None) -> None:
        self.settings = settings
        self.total = total
        self.done = 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, options: Any) -> Any:
        """Run the step of ``options`` as stage ``name``; returns its typed result."""
        self.done += 1
        of = f"/{self.total}" if self.total else ""
        console.rule(f"[bold]{self.done}{of} {name}")
        start = time.perf_counter()
        if type(options) in SPARK_STEPS:
            result = run_isolated(self.settings, options)
        else:
            result = run_step(self.settings, options)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
        return result
