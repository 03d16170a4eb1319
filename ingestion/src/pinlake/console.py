"""Shared terminal output: one rich console, progress bars and summary tables."""

from __future__ import annotations

from collections.abc import Sequence

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


def stage_rule(number: int, total: int | None, name: str) -> None:
    """The line that opens stage ``number`` (of ``total``) of a composition."""
    of = f"/{total}" if total else ""
    console.rule(f"[bold]{number}{of} {name}")
