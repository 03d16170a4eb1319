"""Exports every mart (schema ``marts``) to ``<out>/<model>.csv`` with a header row."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from pinlake.config import Settings
from pinlake.console import PINLAKE, console
from pinlake.errors import PinlakeError, UsageError
from pinlake.lakehouse.progress import next_steps
from pinlake.lakehouse.tables import table_names
from pinlake.output import output_folder
from pinlake.schemas import MARTS_SCHEMA


@dataclass
class ExportOptions:
    """Where to write: ``out/<mart>.csv`` (default: ``<home>/exports``)."""

    out: Path | None = None


@dataclass
class ExportResult:
    """The folder written and the row count of each exported mart."""

    out: Path
    rows: dict[str, int] = field(default_factory=dict)

    def path(self, mart: str) -> Path:
        """The CSV file of ``mart``."""
        return self.out / f"{mart}.csv"


def exports_dir(settings: Settings) -> Path:
    """``<home>/exports``: where ``pinlake export`` writes without ``--out`` (and ``pinlake
    report`` reads without ``--exports``)."""
    return settings.home / "exports"


def other_homes_exports(settings: Settings, exports: Path) -> Path | None:
    """The home whose own exports folder (:func:`exports_dir`) ``exports`` (resolved) is, when
    that is not ``settings.home``: ``<home>/exports`` beside the home's warehouse folder. Else
    None. ``export --out`` refuses it, and the report's hints never name it: an ``export --out
    <it>`` writes this home's marts over that home's (a report's stale warning named one)."""
    parent = exports.parent
    if exports.name != "exports" or parent == settings.home.expanduser().resolve():
        return None
    return parent if (parent / settings.warehouse_dir.name).is_dir() else None


def export_marts(settings: Settings, options: ExportOptions | None = None) -> ExportResult:
    """Write each mart sorted by all its columns (stable, diffable files) with a header row.
    Raises PinlakeError when there are no marts (before Spark starts when the home's embedded
    metastore does not exist yet: nothing was built, and a session would have created it,
    after which ``pinlake demo`` refused the home as holding data it did not make: helper-76),
    UsageError before Spark starts when ``out`` cannot be written
    (:func:`pinlake.output.output_folder`)."""
    given = options.out if options else None
    other = other_homes_exports(settings, given.expanduser().resolve()) if given else None
    if other is not None:
        raise UsageError(
            f"--out {given}: the exports folder of another home ({other}), whose marts this "
            f"home's would replace: give another folder, or export that home's marts with "
            f"`{PINLAKE.at(other)} export`"
        )
    out = output_folder(given or exports_dir(settings))
    from pinlake.spark import embedded_metastore_exists, get_spark, spark_errors

    def none_built(what: str) -> PinlakeError:  # the steps read from the home only on failure
        return PinlakeError(f"{what}: {next_steps(settings, 'dbt build')}")

    no_schema = f"no `{MARTS_SCHEMA}` schema in {settings.home}"
    if embedded_metastore_exists(settings) is False:
        raise none_built(no_schema)
    result = ExportResult(out)
    with spark_errors(settings):
        spark = get_spark(settings, app_name="pinlake-export")
        if not spark.catalog.databaseExists(MARTS_SCHEMA):
            raise none_built(no_schema)
        names = table_names(spark, MARTS_SCHEMA)
        if not names:
            raise none_built(f"schema `{MARTS_SCHEMA}` has no tables")
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            frame = spark.table(f"{MARTS_SCHEMA}.{name}")
            rows = frame.orderBy(*frame.columns).collect()
            path = out / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(frame.columns)
                writer.writerows(["" if v is None else v for v in row] for row in rows)
            result.rows[name] = len(rows)
            count = f"{len(rows):,} row" + ("" if len(rows) == 1 else "s")
            console.print(f"[green]✓[/] {escape(str(path))} [dim]({count})[/]", soft_wrap=True)
    return result
