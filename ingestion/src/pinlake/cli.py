"""The ``pinlake`` command line.

Every command reads :class:`pinlake.config.Settings` (``PINLAKE_*`` environment variables) and its
options only override them. Expected failures raise :class:`pinlake.errors.PinlakeError` and are
printed as one ``error: ...`` line with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from pinlake.config import get_settings
from pinlake.console import err_console
from pinlake.errors import PinlakeError, UsageError

# typer >= 0.20 vendors click; its usage errors all derive from this class.
_CLICK_ERROR: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)

app = typer.Typer(
    name="pinlake",
    help="A local-first lakehouse for Pinterest-style event data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
source_app = typer.Typer(help="The source database (the RDS stand-in).", no_args_is_help=True)
services_app = typer.Typer(help="Local Kafka broker and ingestion API.", no_args_is_help=True)
app.add_typer(source_app, name="source")
app.add_typer(services_app, name="services")

# Options shared by several commands.
BucketOpt = Annotated[Path | None, typer.Option(help="Topics bucket (default: home/bucket).")]
UrlOpt = Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in home).")]
EventsOpt = Annotated[
    int | None, typer.Option(min=1, help="Number of events (default: one per source row).")
]
HomeOpt = Annotated[
    Path | None,
    typer.Option(help="State directory (default: $PINLAKE_HOME or ./.pinlake)."),
]


@app.callback()
def _main(
    home: Annotated[
        Path | None,
        typer.Option(
            help="State directory (default: $PINLAKE_HOME or ./.pinlake).", show_default=False
        ),
    ] = None,
) -> None:
    if home is not None:
        os.environ["PINLAKE_HOME"] = str(home.expanduser().resolve())
        get_settings.cache_clear()


# ---- source database ----------------------------------------------------------------------
@source_app.command("init")
def source_init(
    rows: Annotated[int, typer.Option(min=1, help="Rows per table.")] = 11_154,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic generator.")] = 100,
    url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in home).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace existing tables.")] = False,
) -> None:
    """Create pinterest_data, geolocation_data and user_data filled with synthetic rows."""
    from pinlake.source.db import init_source

    init_source(get_settings(), rows=rows, seed=seed, url=url, force=force)


@source_app.command("load")
def source_load(
    directory: Annotated[Path, typer.Argument(help="Folder in the reference-data/aicore layout.")],
    url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in home).")
    ] = None,
) -> None:
    """Load real rows (geolocation_data.csv, user_data.csv, pinterest_data*.jsonl) instead."""
    from pinlake.source.reference import load_reference

    load_reference(get_settings(), directory, url=url)


# ---- producing ----------------------------------------------------------------------------
class Destination(str, Enum):
    bucket = "bucket"
    api = "api"


@app.command()
def produce(
    to: Annotated[
        Destination,
        typer.Option(
            help="bucket: write the topics bucket directly; api: post to the ingestion API."
        ),
    ] = Destination.bucket,
    events: Annotated[
        int | None, typer.Option(min=1, help="Number of events (default: one per source row).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the AiCore-style random draws.")] = 100,
    sequential: Annotated[
        bool, typer.Option(help="Post ind 0, 1, 2, ... instead of random draws.")
    ] = False,
    sequence_file: Annotated[
        Path | None, typer.Option(help="Replay a draw,ind CSV (e.g. posting_sequence.csv).")
    ] = None,
    bucket: Annotated[
        Path | None, typer.Option(help="Topics bucket (default: home/bucket).")
    ] = None,
    flush_size: Annotated[int, typer.Option(min=1, help="Records per bucket file.")] = 1_000,
    stream: Annotated[
        bool, typer.Option(help="With --to api: post to the Kinesis-style stream endpoints.")
    ] = False,
    api_url: Annotated[str | None, typer.Option(help="Ingestion API base URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="x-api-key header value.")] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Records per request (1 = like the original).")
    ] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 4,
    rate: Annotated[float | None, typer.Option(min=0.0, help="Max events per second.")] = None,
) -> None:
    """Emulate the original user-posting script: draw events and send their pin/geo/user rows."""
    from pinlake.produce import ProduceOptions, run_produce

    options = ProduceOptions(
        events=events,
        seed=seed,
        sequential=sequential,
        sequence_file=sequence_file,
        bucket=bucket,
        flush_size=flush_size,
        stream=stream,
        api_url=api_url,
        api_key=api_key,
        batch_size=batch_size,
        concurrency=concurrency,
        rate=rate,
    )
    settings = get_settings()
    result = run_produce(settings, to.value, options)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    summary = {"destination": result.destination, "events": result.events}
    summary |= {"records": result.records, "seconds": result.seconds}
    (settings.logs_dir / "last-produce.json").write_text(json.dumps(summary, indent=2))


# ---- landing and exporting ----------------------------------------------------------------
@app.command()
def land(
    bucket: Annotated[
        Path | None, typer.Option(help="Topics bucket (default: home/bucket).")
    ] = None,
) -> None:
    """Load new topics-bucket files into the raw Delta tables (bad lines are quarantined)."""
    from pinlake.lakehouse.land import land_bucket, print_land_summary

    print_land_summary(land_bucket(get_settings(), bucket=bucket))


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Folder for <model>.csv files.")],
) -> None:
    """Write every mart to OUT/<model>.csv with a header row."""
    from pinlake.lakehouse.export import export_marts

    export_marts(get_settings(), out)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def dbt(ctx: typer.Context) -> None:
    """Run dbt against this home (e.g. `pinlake dbt build`, `pinlake dbt docs serve`)."""
    from pinlake.lakehouse.dbt import run_dbt

    raise typer.Exit(run_dbt(get_settings(), list(ctx.args), check=False))


@app.command()
def demo(
    events: Annotated[
        int | None, typer.Option(min=1, help="Events to produce (default: one per source row).")
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows per source table.")] = 11_154,
    direct: Annotated[
        bool, typer.Option(help="Write the topics bucket directly (no Kafka, no HTTP).")
    ] = False,
) -> None:
    """The whole pipeline on the embedded default, then the answers to the analytic questions."""
    from pinlake.pipeline import run_demo

    run_demo(get_settings(), rows=rows, events=events, direct=direct)


@app.command("ci-build", hidden=True)
def ci_build() -> None:
    """dbt build on a small fixture in a throwaway home (part of `make test`)."""
    from pinlake.pipeline import run_ci_build

    run_ci_build(get_settings())


# ---- services (Kafka + ingestion API) -----------------------------------------------------
@services_app.command("up")
def services_up() -> None:
    """Start the Kafka broker (KRaft) and the ingestion API; create the topics."""
    from pinlake.services.manager import services_up as up

    up(get_settings())


@services_app.command("down")
def services_down() -> None:
    """Stop the ingestion API and the broker."""
    from pinlake.services.manager import services_down as down

    down(get_settings())


@services_app.command("status")
def services_status() -> None:
    """Health, ports and topic offsets."""
    from pinlake.services.manager import services_status as status

    raise typer.Exit(status(get_settings()))


@app.command()
def sink(
    once: Annotated[bool, typer.Option(help="Stop when caught up.")] = False,
    bucket: Annotated[
        Path | None, typer.Option(help="Topics bucket (default: home/bucket).")
    ] = None,
    flush_size: Annotated[int, typer.Option(min=1, help="Records per file.")] = 1_000,
    flush_interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds before a partial file is flushed.")
    ] = 5.0,
) -> None:
    """Write the batch topics into the topics bucket (Confluent S3 sink layout)."""
    from pinlake.sink import run_sink

    run_sink(
        get_settings(),
        once=once,
        bucket=bucket,
        flush_size=flush_size,
        flush_interval=flush_interval,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning expected failures into one readable line."""
    try:
        result = app(args=argv, standalone_mode=False)
    except typer.Abort:
        err_console.print("error: aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        message = exc.format_message()  # type: ignore[attr-defined]
        err_console.print(f"error: {message}", markup=False, soft_wrap=True)
        sys.exit(UsageError.exit_code)
    except PinlakeError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
