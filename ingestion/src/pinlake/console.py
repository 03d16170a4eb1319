"""Shared terminal output: one rich console, progress bars and summary tables."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def progress() -> Progress:
    """A progress bar for a long step (records, files...)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def stage(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Show a spinner while a stage runs and record its wall time in ``timings``."""
    start = time.perf_counter()
    with console.status(f"[bold]{name}…"):
        yield
    elapsed = time.perf_counter() - start
    if timings is not None:
        timings[name] = elapsed
    console.print(f"[green]✓[/] {name} [dim]({elapsed:.1f}s)[/]")


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    caption: str | None = None,
) -> Table:
    """A rich table of rows (used for summaries and query results)."""
    out = Table(
        title=title,
        caption=caption,
        title_justify="left",
        caption_justify="left",
        header_style="bold",
        min_width=min(60, console.width),
    )
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if value is None else str(value) for value in row))
    return out
