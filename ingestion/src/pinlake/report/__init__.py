"""``pinlake report``: the marts as charts in one self-contained HTML page.

Reads what the pipeline already wrote, never the tables: the exported marts (``pinlake
export``: ``<exports>/<mart>.csv``) and the pipeline's counts (the counts step's
:class:`~pinlake.lakehouse.counts.DeliveryCounts`, plus the records the API acknowledged when the
caller knows them). Writes ``<out>/index.html`` (default ``<home>/report``): the counts per
delivery path and the data's freshness at the top, then one chart per reporting mart
(:data:`pinlake.report.charts.CHARTS`) with its table beneath (age groups in the order of the
dbt seed ``age_groups``) and, where the mart needs one, a note (a tie-break, a column's meaning).
plotly.js is inlined once, so the page works offline (no CDN, no external script, style or
font).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from pinlake.config import Settings
from pinlake.console import PINLAKE, console
from pinlake.errors import PinlakeError, UsageError
from pinlake.lakehouse.counts import DeliveryCounts
from pinlake.lakehouse.export import exports_dir, other_homes_exports
from pinlake.lakehouse.progress import marts_built_at, next_steps
from pinlake.output import output_folder

if TYPE_CHECKING:
    from pinlake.report.page import Section

#: The report's file in its folder.
REPORT_FILE = "index.html"


@dataclass
class ReportOptions:
    """What to report and where: ``exports`` (the folder of ``pinlake export``, default
    ``<home>/exports``), ``out`` (folder of ``index.html``, default ``<home>/report``),
    ``counts`` (the counts step's result; None: the page says they were not counted) and
    ``acknowledged`` (``{path: {table: records the ingestion API acknowledged}}``; known only to
    the run that produced them, e.g. ``pinlake demo``)."""

    exports: Path | None = None
    out: Path | None = None
    counts: DeliveryCounts | None = None
    acknowledged: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class ReportResult:
    """The page written, the marts charted (in page order) and the rows read of each, the
    note under each charted mart that has one (:func:`pinlake.report.charts.note_for`), and the
    exported files it did not chart (marts that are not reporting marts, e.g. entity marts)."""

    path: Path
    charts: list[str] = field(default_factory=list)
    marts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    #: what to run when the marts predate the newest landed record (:func:`stale_marts`)
    stale: str | None = None


def stale_marts(settings: Settings, options: ReportOptions, exported_at: datetime) -> str | None:
    """When the exported marts predate the newest record the counts saw landed (both paths):
    the commands that bring them up to date, as this shell runs them (``--home``; ``export
    --out`` for a report of other exports), for the page's warning and the terminal's; else
    None. The page alone said so, with commands for the default home, while the terminal showed
    only its ✓ (helper-82). When the home's marts were built after that record
    (:func:`~pinlake.lakehouse.progress.marts_built_at`), only their export is named (helper-83:
    the warning named ``dbt build`` for marts that were up to date).

    The exports of another home (:func:`~pinlake.lakehouse.export.other_homes_exports`) are not
    compared with this home's landings at all: the warning says whose they are, whatever their
    age, since this home's counts stand beside another home's marts (helper-93: their age was
    compared with this home's records, and the hint named that home's `export`, which could
    never bring this home's records into them)."""
    from pinlake.report.page import newest_landing, utc

    exports = exports_folder(settings, options)
    other = other_homes_exports(settings, exports)
    if other is not None:  # `export --out` would write this home's marts over that home's
        return (
            f"the marts are another home's ({other}: its exports folder), the counts this home's "
            f"({settings.home}): `{PINLAKE.at(other)} report` reports that home's marts with "
            f"its own counts, `{PINLAKE} report` without --exports this home's"
        )
    newest = newest_landing(options.counts)
    if newest is None or newest <= exported_at:
        return None
    home = exports == exports_folder(settings, ReportOptions())
    # this report again, with the options it was given (helper-94: without them it read the
    # home's exports, which did not exist)
    given = [
        f" --{name} {shlex.quote(str(value))}"
        for name, value in (("exports", options.exports), ("out", options.out))
        if value is not None
    ]
    again = f"`{PINLAKE} report{''.join(given)}` again"
    export = f"`{PINLAKE} export" + ("" if home else f" --out {shlex.quote(str(exports))}") + "`"
    built = marts_built_at(settings)
    if built is not None and built > newest:  # the marts hold them: only their export is old
        return (
            f"the exported marts predate the newest landed records ({utc(newest)}; exported "
            f"{utc(exported_at)}, built {utc(built)}): run {export}, then {again}"
        )
    return (
        f"the marts predate the newest landed records ({utc(newest)}; exported "
        f"{utc(exported_at)}): run `{PINLAKE} dbt build` and {export}, then {again}"
    )


def exports_folder(settings: Settings, options: ReportOptions) -> Path:
    """The folder the report reads (``options.exports`` or ``<home>/exports``)."""
    return (options.exports or exports_dir(settings)).expanduser().resolve()


def report_folder(settings: Settings, options: ReportOptions) -> Path:
    """The folder the report writes (``options.out`` or ``<home>/report``), checked without
    leaving anything, so that a bad ``--out`` fails before any work: a folder this process can
    write in, or one it can create (:func:`pinlake.output.output_folder`); a ``index.html`` in
    it must be a file. Raises UsageError naming ``--out`` otherwise."""
    out = output_folder(options.out or settings.home / "report")
    page = out / REPORT_FILE
    if page.exists() and not page.is_file():
        raise UsageError(f"--out {out}: {page} exists and is not a file")
    return out


def check_options(settings: Settings, options: ReportOptions) -> tuple[Path, dict[str, Path]]:
    """``(out, {mart: csv})``, checked as :func:`write_report` checks them, before ``pinlake
    report`` counts with Spark: :func:`report_folder`, :func:`reporting_marts`, the age groups
    seed (:func:`pinlake.report.charts.age_groups`), and every mart read and charted
    (:func:`_sections`): a mart that lacks a column or holds a count that is no number failed
    only after the count, about 25 s later (helper-88). Raises their errors."""
    out, marts = _inputs(settings, options)
    _sections(marts)
    return out, marts


def _inputs(settings: Settings, options: ReportOptions) -> tuple[Path, dict[str, Path]]:
    """``(out, {mart: csv})``: :func:`report_folder`, :func:`reporting_marts`, and the age
    groups seed read (:func:`pinlake.report.charts.age_groups`). Raises their errors."""
    from pinlake.report.charts import age_groups

    out = report_folder(settings, options)
    marts = reporting_marts(settings, exports_folder(settings, options))
    age_groups()
    return out, marts


def _sections(marts: dict[str, Path]) -> list[Section]:
    """The page's section of each mart of ``marts`` (``{mart: csv}``, in page order): its rows
    read, its figure drawn and its note. Raises PinlakeError naming the file when a mart cannot
    be read or charted (:func:`pinlake.report.charts.read_mart`, :func:`~.charts.draw`)."""
    from pinlake.report import charts
    from pinlake.report.page import Section

    frames = {mart: charts.in_age_order(charts.read_mart(path)) for mart, path in marts.items()}
    colours = charts.category_colours(
        c for frame in frames.values() if "category" in frame for c in frame["category"]
    )
    sections = []
    for mart, path in marts.items():
        chart, frame = charts.chart_for(mart), frames[mart]
        figure = charts.draw(chart, frame, path, colours)
        sections.append(Section(chart, frame, figure, charts.note_for(chart, frames)))
    return sections


def reporting_marts(settings: Settings, exports: Path) -> dict[str, Path]:
    """``{mart: csv}`` of the reporting marts in ``exports``, in report order: the marts of
    :data:`~pinlake.report.charts.CHARTS` first, then other ``rpt_*`` marts by name. Raises
    PinlakeError when the folder does not exist, is no folder, holds no exported mart or lacks
    a mart of ``CHARTS``. Where it holds none, the error names the steps the home of
    ``settings`` has still to run (:func:`pinlake.lakehouse.progress.next_steps`), or, when the
    home's own export folder (another one) holds marts, that folder and ``export --out`` alone
    (helper-80: ``report --exports <empty folder>`` on a built home named ``source init``
    first, which refuses a filled source). Where ``exports`` is another home's exports folder
    (:func:`other_homes_exports`), the errors name that home's commands, never ``export --out``
    into it (which writes this home's marts over that home's)."""
    from pinlake.report.charts import CHARTS, REPORTING_PREFIX

    def marts_in(folder: Path) -> list[Path]:
        return sorted(folder.glob(f"{REPORTING_PREFIX}*.csv")) if folder.is_dir() else []

    found = marts_in(exports)
    other = other_homes_exports(settings, exports)
    if not found and other is not None and not exports.is_file():
        problem = "does not exist" if not exports.exists() else "holds no exported marts"
        raise PinlakeError(
            f"{exports} {problem}: it is the exports folder of another home ({other}); "
            f"`{PINLAKE.at(other)} export` writes that home's marts there; `{PINLAKE} report` "
            "without --exports reads this home's"
        )
    if not found:
        out = f"export --out {shlex.quote(str(exports))}"
        if not exports.exists():
            problem = f"{exports} does not exist"
        elif not exports.is_dir():  # export cannot write there either (helper-92: it said to)
            raise PinlakeError(
                f"{exports} is not a folder: give --exports the folder `{PINLAKE} export` wrote"
            )
        else:
            problem = f"no exported marts in {exports}"
        home_exports = exports_folder(settings, ReportOptions())
        if home_exports != exports and marts_in(home_exports):
            raise PinlakeError(
                f"{problem}: this home's are in {home_exports} (the report reads them without "
                f"--exports), or run `{PINLAKE} {out}`"
            )
        raise PinlakeError(f"{problem}: {next_steps(settings, 'export', out)}")
    by_name = {p.stem: p for p in found}
    missing = [mart for mart in CHARTS if mart not in by_name]
    if missing and other is not None:  # `export --out` would write this home's marts there
        raise PinlakeError(
            f"{exports} lacks the reporting mart(s) {', '.join(missing)}: it is the exports "
            f"folder of another home ({other}); run `{PINLAKE.at(other)} dbt build` and "
            f"`{PINLAKE.at(other)} export` again, or `{PINLAKE} report` without --exports"
        )
    if missing:
        raise PinlakeError(
            f"{exports} lacks the reporting mart(s) {', '.join(missing)}: run `{PINLAKE} dbt "
            f"build` and `{PINLAKE} export --out {shlex.quote(str(exports))}` again"
        )
    ordered = [*CHARTS, *sorted(set(by_name) - set(CHARTS))]
    return {mart: by_name[mart] for mart in ordered}


def write_report(settings: Settings, options: ReportOptions | None = None) -> ReportResult:
    """Write the report and print its path. Raises PinlakeError when the exports are missing or
    unreadable (see :func:`reporting_marts`, :func:`pinlake.report.charts.draw`) or the age
    groups seed is (:func:`pinlake.report.charts.age_groups`), UsageError when ``out`` cannot
    be written (:func:`report_folder`)."""
    from pinlake.report.page import render

    options = options or ReportOptions()
    exports = exports_folder(settings, options)
    out, marts = _inputs(settings, options)
    skipped = sorted(p.stem for p in exports.glob("*.csv") if p.stem not in marts)
    result = ReportResult(out / REPORT_FILE, skipped=skipped)
    sections = _sections(marts)
    for section in sections:
        mart = section.chart.mart
        result.charts.append(mart)
        result.marts[mart] = len(section.frame)
        if section.note:
            result.notes[mart] = section.note
    exported_at = min(
        datetime.fromtimestamp(p.stat().st_mtime, timezone.utc) for p in marts.values()
    )
    result.stale = stale_marts(settings, options, exported_at)
    html = render(
        sections,
        counts=options.counts,
        acknowledged=options.acknowledged,
        exports=exports,
        exported_at=exported_at,
        generated_at=datetime.now(timezone.utc),
        skipped=skipped,
        stale=result.stale,
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_atomically(result.path, html)
    console.print(
        f"[green]✓[/] {escape(str(result.path))} [dim]({len(result.charts)} charts, "
        f"{len(html) / 1e6:.1f} MB, self-contained)[/]",
        soft_wrap=True,
    )
    if result.stale:
        console.print(f"[yellow]warning:[/] {escape(result.stale)}", soft_wrap=True)
    return result


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader sees the old page or the new, never half."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the page from other local users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
