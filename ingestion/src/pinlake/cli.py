"""The ``pinlake`` command line.

Every command reads :class:`pinlake.config.Settings` (``PINLAKE_*`` environment variables) and its
options only override them. Expected failures raise :class:`pinlake.errors.PinlakeError` and are
printed as one ``error: ...`` line with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Annotated, Any

import typer
import typer.main
from pydantic import ValidationError
from typer.core import TyperCommand, TyperGroup

from pinlake.bucket.sink import MIN_FLUSH_INTERVAL, flush_interval_problem
from pinlake.config import (
    MAX_LOCAL_BROKERS,
    MAX_LOCAL_WORKERS,
    Settings,
    get_settings,
    invalid_settings,
    read_spelling,
    variable_warnings,
)
from pinlake.console import PINLAKE, WIDTH_WARNINGS, err_console, output_width
from pinlake.errors import (
    INTERRUPTED,
    TERMINATED,
    PinlakeError,
    UsageError,
    file_system_problem,
    one_line,
)
from pinlake.lakehouse.stream import (
    MAX_RECORDS_PER_BATCH,
    MAX_TRIGGER_SECONDS,
    MIN_TRIGGER_SECONDS,
    trigger_seconds_problem,
)
from pinlake.location import location
from pinlake.produce.events import AICORE_ROWS, AICORE_SEED
from pinlake.produce.options import MAX_CONCURRENCY, MAX_EVENTS, rate_problem
from pinlake.services.request import UpRequest
from pinlake.spark import quiet_py4j

# typer >= 0.20 vendors click; its usage errors all derive from this class.
_CLICK_ERROR: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)

#: The narrowest help whose option panels Typer's rich layout shows whole: narrower, its columns
#: cut option names, defaults and environment variables' names with "…" (`services up --help`:
#: 13 lines at 80 columns, 5 at 100, none at 110). A command's help is then click's plain
#: layout, which wraps instead; the command lists of `pinlake --help` and `pinlake services
#: --help` keep the rich panels, which wrap their descriptions at any width.
RICH_HELP_MIN_WIDTH = 110


def help_requested(group: TyperGroup, args: list[str]) -> bool:
    """Whether ``args`` ask ``group`` for help: ``-h``/``--help`` anywhere, or a group named
    with nothing after it (no_args_is_help). The root's own options (``--home PATH``) are
    skipped."""
    if "-h" in args or "--help" in args:
        return True
    rest = list(args)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if "=" not in option and rest:
            rest.pop(0)  # its value
    node = group
    while rest and isinstance(node.commands.get(rest[0]), TyperGroup):
        node = node.commands[rest.pop(0)]
    return not rest


def configure_help(group: TyperGroup) -> None:
    """Set the help's width and layout (only when help is shown: Typer's rich help module
    costs about 0.2 s to import). Width: Typer's ``TERMINAL_WIDTH``, else pinlake's width off a
    terminal (:func:`pinlake.console.output_width`), else the terminal's (``COLUMNS`` wins).
    Below :data:`RICH_HELP_MIN_WIDTH`, every command under ``group`` (not the groups) gets
    click's plain layout. Flags show no type (:func:`_flags_take_no_value`)."""
    import typer.rich_utils

    if typer.rich_utils.MAX_WIDTH is None:
        typer.rich_utils.MAX_WIDTH = output_width(sys.stdout)
    width = typer.rich_utils.MAX_WIDTH or shutil.get_terminal_size().columns
    if width < RICH_HELP_MIN_WIDTH:
        _plain_help(group)
    help_names = group.context_settings.get("help_option_names", ["--help"])
    _flags_take_no_value(group, SimpleNamespace(help_option_names=help_names))


def _flags_take_no_value(command: TyperGroup | TyperCommand, context: object) -> None:
    """Typer's rich help shows a type column of ``<bool>`` beside every flag
    (``--available-now --no-available-now <bool>``, ``--help -h <bool>``), as if it took a value
    (a trial's finding): every flag of ``command`` and of each command under it, its help option
    too, gets an empty metavar, which is what that column shows. ``context``: what the help
    option is read from (``help_option_names``, as Typer's contexts hold them)."""
    for param in [*command.params, command.get_help_option(context)]:
        if param is not None and getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub, context)


def _plain_help(group: TyperGroup) -> None:
    for command in group.commands.values():
        if isinstance(command, TyperGroup):
            _plain_help(command)
        else:
            command.rich_markup_mode = None  # type: ignore[attr-defined]


class _RootGroup(TyperGroup):
    """The ``pinlake`` group. Typer's ``main`` turns a KeyboardInterrupt from a command into a
    silent exit code 130; here it is noted first (:data:`~pinlake.errors.INTERRUPTED`), so
    that :func:`main` says so."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            INTERRUPTED.set()
            raise


app = typer.Typer(
    cls=_RootGroup,
    name="pinlake",
    help="A local-first lakehouse for Pinterest-style event data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
source_app = typer.Typer(help="The source database (the RDS stand-in).", no_args_is_help=True)
services_app = typer.Typer(
    help="Local Kafka broker, ingestion API, the continuous stream query and the optional"
    " services (S3 server, shared metastore, Spark Thrift server and cluster, MariaDB).",
    no_args_is_help=True,
)
app.add_typer(source_app, name="source")
app.add_typer(services_app, name="services")

# Options shared by several commands.


def _checked_bucket(value: str | None) -> str | None:
    """``--bucket`` as given, once :func:`pinlake.location.location` accepts it (an S3 URI with a
    valid bucket name, or a folder); else click's usage error, one line and exit 2, as for
    ``PINLAKE_BUCKET``."""
    if value is None:
        return None
    try:
        location(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _checked_api_url(value: str | None) -> str | None:
    """``--api-url`` as given when it is an ``http://`` or ``https://`` URL with a host; else
    click's usage error (one line, exit 2). Without a scheme (``127.0.0.1:8082``) httpx read the
    host as the scheme and the run said that the API was not reachable."""
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            f"an http:// or https:// URL with a host, e.g. http://127.0.0.1:8082 (got {value!r})"
        )
    return value


def _checked(problem: Callable[[Any], str | None]) -> Callable[[Any], Any]:
    """A Typer callback: the option's value as given when ``problem`` (the options' own rule,
    e.g. :func:`pinlake.produce.options.rate_problem`,
    :func:`pinlake.lakehouse.stream.trigger_seconds_problem`,
    :func:`pinlake.bucket.sink.flush_interval_problem`) finds none; else click's usage error
    with its words (one line, exit 2). Rather than Typer's ``min``/``max``, whose check let
    ``nan`` through to a message about a bound."""

    def check(value: Any) -> Any:
        if found := problem(value):
            raise typer.BadParameter(found)
        return value

    return check


BucketOpt = Annotated[
    str | None,
    typer.Option(
        help="Topics bucket: a folder or s3://<bucket>/<prefix> (default: home/bucket).",
        show_default=False,
        callback=_checked_bucket,
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        help="SQLAlchemy URL (default: $PINLAKE_SOURCE_URL, else the MariaDB of services up with "
        "PINLAKE_SOURCE_DB=mariadb, else SQLite in home).",
        show_default=False,
    ),
]


class Coordinates(str, Enum):
    """The SQL type of the source tables' latitude and longitude (``--coordinates``): ``double``
    (floats) or ``decimal`` (``DECIMAL(10,7)``)."""

    double = "double"
    decimal = "decimal"


CoordinatesOpt = Annotated[
    Coordinates,
    typer.Option(help="SQL type of latitude/longitude: DOUBLE (floats) or DECIMAL(10,7)."),
]
EventsOpt = Annotated[
    int | None,
    typer.Option(min=1, max=MAX_EVENTS, help="Number of events (default: one per source row)."),
]
FlushSizeOpt = Annotated[int, typer.Option(min=1, help="Records per bucket file.")]


TriggerOpt = Annotated[
    float,
    typer.Option(
        help=(
            "Micro-batch trigger interval of the stream query, s"
            f" ({MIN_TRIGGER_SECONDS:g}–{MAX_TRIGGER_SECONDS:,.0f})."
        ),
        callback=_checked(trigger_seconds_problem),
    ),
]


def _checked_home(value: str | None) -> str | None:
    """``--home`` as given unless it is empty: ``--home ""`` was read as the current folder
    (``Path("")`` is ``.``) and ``source init`` wrote its database into it (helper-56); a
    click usage error names it (``--home .`` still means the current folder)."""
    if value is not None and not value.strip():
        raise typer.BadParameter(
            "an empty path: give a folder (default: $PINLAKE_HOME or ./.pinlake)"
        )
    return value


@app.callback()
def _main(
    home: Annotated[
        str | None,
        typer.Option(
            help="State directory (default: $PINLAKE_HOME or ./.pinlake).",
            show_default=False,
            callback=_checked_home,
            metavar="<path>",
        ),
    ] = None,
) -> None:
    if home is not None:
        os.environ["PINLAKE_HOME"] = str(Path(home).expanduser().resolve())
        get_settings.cache_clear()
    spelt = read_spelling("PINLAKE_HOME")  # the settings read it in any case: pinlake_home
    given = home is not None or bool(os.environ.get(spelt))
    # a home that is a file: one error for every command, as for those that create folders in
    # it (Settings.ensure_dirs); `services status` showed a table of services down (helper-61)
    chosen = Path(os.environ.get(spelt) or Settings.model_fields["home"].default)
    # the home the hints of this command's errors name (pinlake.console.PinlakeCommand)
    PINLAKE.home = (chosen.expanduser().absolute(), given)
    if chosen.expanduser().exists() and not chosen.expanduser().is_dir():
        raise UsageError(
            f"cannot use {chosen} as the pinlake home: exists and is not a folder "
            "(choose another with --home or PINLAKE_HOME)"
        )
    # a home Spark cannot use: refused by the first command, not by `land` after `source init`
    # and `produce` had filled it (helper-91)
    from pinlake.location import HOME_FORBIDDEN, HOME_NAMED, spark_path_problem

    if problem := spark_path_problem(chosen.expanduser().absolute(), HOME_NAMED, HOME_FORBIDDEN):
        raise UsageError(problem)


def _step(options: object, settings: Settings | None = None) -> object:
    """Run the pipeline step of ``options`` in this process (see pinlake.pipeline.steps), with
    ``settings`` (default: the environment's)."""
    from pinlake.pipeline.steps import run_step

    return run_step(settings or get_settings(), options)


def _settings_with_brokers(brokers: int | None) -> Settings:
    """The settings of ``services up --kafka-brokers N``: the environment's, or, when the
    environment alone is refused, the environment's read with N nodes if that is accepted (a
    ``PINLAKE_KAFKA__BOOTSTRAP_SERVERS`` of N servers and no ``PINLAKE_KAFKA__BROKERS``:
    helper-112's ``--kafka-brokers 2`` with two servers was refused as ``brokers=1``). Raises
    the environment's own ValidationError otherwise."""
    try:
        return get_settings()
    except ValidationError as refused:
        if brokers is None:
            raise
        try:
            return Settings(kafka={"brokers": brokers})
        except ValidationError:
            raise refused from None


# ---- source database ----------------------------------------------------------------------
@source_app.command("init")
def source_init(
    rows: Annotated[int, typer.Option(min=1, help="Rows per table.")] = AICORE_ROWS,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic generator.")] = AICORE_SEED,
    url: UrlOpt = None,
    force: Annotated[bool, typer.Option(help="Replace existing tables.")] = False,
    coordinates: CoordinatesOpt = Coordinates.double,
) -> None:
    """Create pinterest_data, geolocation_data and user_data filled with synthetic rows."""
    from pinlake.pipeline.steps import SourceInit

    _step(SourceInit(rows=rows, seed=seed, url=url, force=force, coordinates=coordinates.value))


@source_app.command("load")
def source_load(
    directory: Annotated[Path, typer.Argument(help="Folder in the reference-data/aicore layout.")],
    url: UrlOpt = None,
    force: Annotated[bool, typer.Option(help="Replace existing tables.")] = False,
    coordinates: CoordinatesOpt = Coordinates.double,
) -> None:
    """Load real rows (geolocation_data.csv, user_data.csv, pinterest_data*.jsonl) instead."""
    from pinlake.pipeline.steps import SourceLoad

    _step(SourceLoad(directory=directory, url=url, force=force, coordinates=coordinates.value))


# ---- producing ----------------------------------------------------------------------------
class Destination(str, Enum):
    """Where ``produce`` sends events (``--to``): the topics bucket directly, or the ingestion
    API (Kafka REST and Kinesis, as the AiCore producers do)."""

    bucket = "bucket"
    api = "api"


def _given(ctx: typer.Context, *names: str) -> list[str]:
    """The options among ``names`` (parameter names) that the caller set, on the command line
    or through an environment variable, rather than left at their defaults; as ``--option``.
    (Click's ``ParameterSource``, by name: Typer runs a click of its own.)"""
    given = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given.append("--" + name.replace("_", "-"))
    return given


def _only_with(options: list[str], where: str) -> UsageError:
    verb = "applies" if len(options) == 1 else "apply"
    return UsageError(f"{', '.join(options)} only {verb} with {where}")


@app.command()
def produce(
    ctx: typer.Context,
    to: Annotated[
        Destination,
        typer.Option(
            help="bucket: write the topics bucket directly; api: post to the ingestion API."
        ),
    ] = Destination.bucket,
    events: EventsOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the AiCore-style random draws.")] = AICORE_SEED,
    sequential: Annotated[
        bool, typer.Option(help="Post ind 0, 1, 2, ... instead of random draws.")
    ] = False,
    sequence_file: Annotated[
        Path | None, typer.Option(help="Replay a draw,ind CSV (such as posting_sequence.csv).")
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            help="At most this many events per second (0: no limit; else at least 0.001).",
            callback=_checked(rate_problem),
        ),
    ] = None,
    bucket: BucketOpt = None,
    flush_size: FlushSizeOpt = 1_000,
    stream: Annotated[
        bool, typer.Option(help="With --to api: post to the Kinesis-style stream endpoints.")
    ] = False,
    api_url: Annotated[
        str | None,
        typer.Option(
            help="Ingestion API base URL: http://host:port, or with a stage,"
            " http://host:port/stage (default: this home's).",
            callback=_checked_api_url,
        ),
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="x-api-key header value.")] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Records per request (1 = like the original).")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option(min=1, max=MAX_CONCURRENCY, help="Requests in flight.")
    ] = 4,
) -> None:
    """Emulate the original user-posting script: draw events and send their pin/geo/user rows."""
    from pinlake.produce import ProduceToApi, ProduceToBucket

    draws = dict(
        events=events, seed=seed, sequential=sequential, sequence_file=sequence_file, rate=rate
    )
    if sequential and sequence_file is not None:
        raise UsageError("--sequential and --sequence-file exclude each other")
    if to is Destination.bucket:
        extra = _given(ctx, "stream", "api_url", "api_key", "batch_size", "concurrency")
        if extra:
            raise _only_with(extra, "--to api")
        _step(ProduceToBucket(**draws, bucket=bucket, flush_size=flush_size))
    else:
        extra = _given(ctx, "bucket", "flush_size")
        if extra:
            raise _only_with(extra, "--to bucket (with --to api the sink writes the bucket)")
        _step(
            ProduceToApi(
                **draws,
                stream=stream,
                api_url=api_url,
                api_key=api_key,
                batch_size=batch_size,
                concurrency=concurrency,
            )
        )


# ---- landing and exporting ----------------------------------------------------------------
@app.command()
def land(bucket: BucketOpt = None) -> None:
    """Load new topics-bucket files into the raw Delta tables (bad lines are quarantined)."""
    from pinlake.lakehouse.land import LandOptions

    _step(LandOptions(bucket=bucket))


@app.command()
def stream(
    available_now: Annotated[
        bool, typer.Option(help="Land what the stream topics hold now, then stop.")
    ] = False,
    trigger_seconds: TriggerOpt = 1.0,
    max_records_per_batch: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_RECORDS_PER_BATCH, help="At most this many records per micro-batch."
        ),
    ] = 100_000,
    warm_up: Annotated[
        bool,
        typer.Option(help="Warm Spark up first, so the first micro-batches are not slower."),
    ] = True,
) -> None:
    """Land the Kinesis-proxy stream topics into raw.stream_* (Spark Structured Streaming).

    Runs until Ctrl-C (the running micro-batch finishes first) unless --available-now.
    """
    from pinlake.lakehouse.stream import StreamOptions

    _step(
        StreamOptions(
            available_now=available_now,
            trigger_seconds=trigger_seconds,
            max_records_per_batch=max_records_per_batch,
            warm_up=warm_up,
        )
    )


@app.command()
def export(
    out: Annotated[
        Path | None, typer.Option(help="Folder for <model>.csv files (default: home/exports).")
    ] = None,
) -> None:
    """Write every mart to OUT/<model>.csv with a header row."""
    from pinlake.lakehouse.export import ExportOptions

    _step(ExportOptions(out=out))


@app.command()
def report(
    exports: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the exported marts (default: home/exports).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the report's index.html (default: home/report).", show_default=False
        ),
    ] = None,
) -> None:
    """Write an offline HTML report: the pipeline's counts, then every mart as a chart and a table.

    Reads the exported marts (pinlake export) and counts the records per path (Spark).
    """
    from pinlake.console import console
    from pinlake.lakehouse.counts import CountOptions
    from pinlake.pipeline.runner import Runner
    from pinlake.report import ReportOptions, check_options

    settings = get_settings()
    options = ReportOptions(exports=exports, out=out)
    check_options(settings, options)  # a bad --exports or --out fails in one line before Spark
    run = Runner(settings, total=2)
    options.counts = run.run("count records per path", CountOptions())
    result = run.run("report", options)
    console.print(f"report: {result.path}", soft_wrap=True, markup=False, highlight=False)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def dbt(ctx: typer.Context) -> None:
    """Run dbt against this home: `pinlake dbt build`, `pinlake dbt docs serve`, any dbt command."""
    from pinlake.lakehouse.dbt import DbtCommand

    # dbt's arguments pass through unread: a `--home` among them ran dbt on the default home
    # and created it, or dbt refused it as its own (helper-92)
    if any(arg == "--home" or arg.startswith("--home=") for arg in ctx.args):
        words = [a for a in ctx.args[:1] if not a.startswith("-")]  # dbt's command, if first
        raise UsageError(_home_goes_first(" ".join(["dbt", *words])))

    raise typer.Exit(_step(DbtCommand(list(ctx.args), check=False)).returncode)


@app.command()
def demo(
    events: Annotated[
        int | None,
        typer.Option(
            min=1, max=MAX_EVENTS, help="Events to produce (default: one per source row)."
        ),
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Rows per source table.")] = AICORE_ROWS,
    direct: Annotated[
        bool, typer.Option(help="Write the topics bucket directly (no Kafka, no HTTP).")
    ] = False,
    reset: Annotated[
        bool,
        typer.Option(help="Delete the home's data even if no demo made it (see above)."),
    ] = False,
) -> None:
    """The whole pipeline on the embedded default, then the answers to the analytic questions.

    It starts by stopping the home's services and deleting its data (source, bucket,
    warehouse, metastore, exports, Kafka's data). A home that a demo did not make (one you
    used with the other commands) is refused unless --reset: use another (--home DIR).
    """
    from pinlake.pipeline.demo import run_demo

    run_demo(get_settings(), rows=rows, events=events, direct=direct, reset=reset)


# ---- services (Kafka + ingestion API) -----------------------------------------------------
class SourceDb(str, Enum):
    """The source database ``services up`` serves (``--source-db``): SQLite in the home, or a
    local MariaDB server."""

    sqlite = "sqlite"
    mariadb = "mariadb"


@services_app.command("up")
def services_up(
    ingestion: Annotated[
        bool,
        typer.Option(
            help="Start the Kafka broker(s), the ingestion API and the topics; --no-ingestion:"
            " only the other services asked for (e.g. --thrift, for dbt's thrift target on"
            " landed data), and no stream query.",
        ),
    ] = True,
    stream: Annotated[
        bool | None,
        typer.Option(
            help="Also start the continuous stream query (pinlake stream); on by default, off with"
            " --no-ingestion.",
            show_default=False,
        ),
    ] = None,
    trigger_seconds: Annotated[
        float | None,
        typer.Option(
            help=(
                "Micro-batch trigger interval of the stream query, s"
                f" ({MIN_TRIGGER_SECONDS:g}–{MAX_TRIGGER_SECONDS:,.0f}; default"
                f" {UpRequest.trigger_seconds:g})."
            ),
            callback=_checked(lambda v: None if v is None else trigger_seconds_problem(v)),
            show_default=False,
        ),
    ] = None,
    source_db: Annotated[
        SourceDb | None,
        typer.Option(
            help="mariadb: also start the MariaDB source database (default: $PINLAKE_SOURCE_DB"
            " or sqlite).",
            show_default=False,
        ),
    ] = None,
    kafka_brokers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_LOCAL_BROKERS,
            help="Local KRaft nodes (replication factor N, min ISR min(2, N); default:"
            " $PINLAKE_KAFKA__BROKERS or 1).",
            show_default=False,
        ),
    ] = None,
    s3: Annotated[
        bool,
        typer.Option(
            help="Also start a local S3-compatible server (moto, state in memory) on"
            " 127.0.0.1:$PINLAKE_S3__PORT (5000), and the bucket of PINLAKE_BUCKET=s3://… on it.",
        ),
    ] = False,
    metastore: Annotated[
        bool,
        typer.Option(
            help="Also start the shared Hive metastore (Derby network server on"
            " 127.0.0.1:$PINLAKE_METASTORE_PORT, 1527): Spark commands, dbt and Airflow of this"
            " home then run side by side.",
        ),
    ] = False,
    thrift: Annotated[
        bool,
        typer.Option(
            help="Also start the Spark Thrift server (implies --metastore) on"
            " 127.0.0.1:$PINLAKE_THRIFT_PORT (10000), master $PINLAKE_SPARK_MASTER: dbt's"
            " thrift target.",
        ),
    ] = False,
    spark_cluster: Annotated[
        bool,
        typer.Option(
            help="Also start a Spark standalone master (spark://127.0.0.1:PORT, PORT"
            " $PINLAKE_SPARK_CLUSTER__PORT or 7077; web UI 8180) and its workers: this home's"
            " Spark commands and the Thrift server then run on it.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_LOCAL_WORKERS,
            help="Workers of --spark-cluster (implies it; default: $PINLAKE_SPARK_CLUSTER__WORKERS"
            " or 2), each of $PINLAKE_SPARK_CLUSTER__WORKER_CORES (1) cores and"
            " __WORKER_MEMORY (1g).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the Kafka broker (KRaft), the ingestion API and the stream query, and create the
    topics; with --no-ingestion, only the other services asked for."""
    from pinlake.pipeline.steps import ServicesUp

    # options of what this call does not start: refused, not ignored (helper-97, helper-98)
    if not ingestion and kafka_brokers is not None:
        raise _only_with(["--kafka-brokers"], "the broker: drop it or --no-ingestion")
    stream = ingestion if stream is None else stream
    if not stream and trigger_seconds is not None:
        without = "--no-stream" if ingestion else "--no-ingestion"
        raise _only_with(["--trigger-seconds"], f"the stream query: drop it or {without}")
    trigger = UpRequest.trigger_seconds if trigger_seconds is None else trigger_seconds
    _step(
        ServicesUp(
            ingestion=ingestion,
            stream=stream,
            trigger_seconds=trigger,
            source_db=None if source_db is None else source_db.value,
            kafka_brokers=kafka_brokers,
            s3=s3,
            metastore=metastore,
            thrift=thrift,
            spark_cluster=spark_cluster,
            workers=workers,
        ),
        _settings_with_brokers(kafka_brokers),
    )


@services_app.command("down")
def services_down() -> None:
    """Stop every service of this home that runs: the stream query (after its running
    micro-batch), the ingestion API, the broker(s), and the S3 server, metastore, Thrift server,
    Spark cluster and MariaDB source when they run."""
    from pinlake.pipeline.steps import ServicesDown

    _step(ServicesDown())


@services_app.command("status")
def services_status() -> None:
    """Health, ports, topic offsets, the stream query's last batch, rates and lag, and the
    metastore Spark commands use; exit 0 when the broker, the API and every other service that
    runs are healthy, else 3 (the broker and the API do not count after services up
    --no-ingestion)."""
    from pinlake.services.manager import services_status as status

    raise typer.Exit(status(get_settings()))


@app.command()
def sink(
    once: Annotated[bool, typer.Option(help="Stop when caught up.")] = False,
    bucket: BucketOpt = None,
    flush_size: FlushSizeOpt = 1_000,
    flush_interval: Annotated[
        float,
        typer.Option(
            help=f"Seconds before a partial file is flushed (at least {MIN_FLUSH_INTERVAL:g}).",
            callback=_checked(flush_interval_problem),
        ),
    ] = 5.0,
) -> None:
    """Write the batch topics into the topics bucket (Confluent S3 sink layout)."""
    from pinlake.bucket.sink import SinkOptions

    _step(
        SinkOptions(once=once, bucket=bucket, flush_size=flush_size, flush_interval=flush_interval)
    )


#: The path options whose empty value Typer reads as the current folder (``Path("")`` is
#: ``.``): ``export --out ""`` wrote ten marts into the working folder (helper-92). ``--home``
#: and ``--bucket`` have their own checks.
EMPTY_PATH_OPTIONS = ("--out", "--exports", "--sequence-file")


def _refuse_empty_paths(args: list[str]) -> None:
    """Raise UsageError (one line, exit 2) for an empty value of a path option of
    :data:`EMPTY_PATH_OPTIONS` (``--out ""`` or ``--out=``), before the command runs. dbt's own
    arguments (after ``dbt``) are dbt's."""
    for i, arg in enumerate(args):
        if arg == "dbt":
            return
        name, eq, value = arg.partition("=")
        if name not in EMPTY_PATH_OPTIONS:
            continue
        given = value if eq else (args[i + 1] if i + 1 < len(args) else None)
        if given is not None and not given.strip():
            raise UsageError(f"{name}: an empty path: give a folder or file")


def _home_goes_first(command: str) -> str:
    """The refusal of ``--home`` given after ``command`` (e.g. ``source init``): it is
    pinlake's option, before the command."""
    return (
        "--home is pinlake's option, given before the command: "
        f"`{PINLAKE.command} --home <path> {command} …`"
    )


def _fail(exc: Exception) -> None:
    """Exit with one ``error: …`` line for an expected failure (a usage error, a
    :class:`PinlakeError`, settings pydantic rejected, a file or folder the file system refused:
    an ``OSError`` that names it); re-raise anything else."""
    if isinstance(exc, _CLICK_ERROR):
        # Typer checks an Enum option's value through pydantic, whose text starts "Value
        # error, " ("Invalid value for '--to': Value error, 'kafka' is not one of …")
        message = exc.format_message().replace(": Value error, ", ": ")  # type: ignore[attr-defined]
        if type(exc).__name__ == "NoArgsIsHelpError":  # `pinlake`, `pinlake services` alone:
            # the help is printed already (Typer's rich help), and the error's text is empty
            # (helper-82: "error: " and nothing); click's own words for a missing command
            message = "Missing command (the help above lists them)."
        elif message == "Missing command.":  # `pinlake --home H` alone: no help was printed
            message = f"Missing command (`{PINLAKE} --help` lists them)."
        elif getattr(exc, "option_name", None) == "--home":  # `pinlake demo --home H`
            # click offered the command's own options ("Possible options: --help"; helper-91)
            if exc.ctx is not None and " " in exc.ctx.command_path:
                message = _home_goes_first(exc.ctx.command_path.split(" ", 1)[-1])
        err_console.print(f"error: {one_line(message)}", markup=False, soft_wrap=True)
        sys.exit(UsageError.exit_code)
    if isinstance(exc, PinlakeError):  # one line, whatever text it carries from elsewhere
        err_console.print(f"error: {one_line(str(exc))}", markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, ValidationError):  # PINLAKE_* variables that Settings rejects
        err_console.print(f"error: {invalid_settings(exc)}", markup=False, soft_wrap=True)
        sys.exit(UsageError.exit_code)
    if isinstance(exc, OSError) and exc.filename is not None:  # the file system said no
        err_console.print(f"error: {file_system_problem(exc)}", markup=False, soft_wrap=True)
        sys.exit(PinlakeError.exit_code)
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRORS:  # a full or failing disk
        err_console.print(f"error: {exc.strerror}", markup=False, soft_wrap=True)
        sys.exit(PinlakeError.exit_code)
    raise exc


#: Errors of the storage itself, not of pinlake: a full disk or quota, a read-only or failing
#: file system. A write that raises one names no file (``write`` has no path): one line, not
#: the traceback of a bug (helper-56: ``produce --to bucket`` onto a full disk printed two).
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def _interrupted() -> None:
    """Ctrl-C: one line on stderr and exit 130 (128 + SIGINT, as a shell reports it); after
    SIGTERM (:func:`_terminate`), ``error: terminated`` and exit 143 (128 + SIGTERM)."""
    if TERMINATED.is_set():
        err_console.print("error: terminated")
        sys.exit(143)
    err_console.print("error: interrupted")
    sys.exit(130)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM is :func:`_terminate` while the block runs, in the main thread, unless this
    process inherited it ignored (kept, as an ignored SIGINT is in :mod:`pinlake.spark`);
    the previous handler is restored after (:func:`main` called in-process, as the tests do)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(_signum: int, frame: FrameType | None) -> None:
    """SIGTERM's handler (``kill``, ``timeout``, a supervisor's stop): stop as Ctrl-C does, with
    the same clean-up (Python's default would end the process at once, leaving running what a
    command started, e.g. the services of a ``pinlake demo`` in its first step).

    As Ctrl-C does *now*: when a handler has taken SIGINT over from Python's own, that handler
    runs, as for a Ctrl-C. asyncio's runner (``produce --to api``) cancels the run's task, which
    then reports what was acknowledged; a Spark session's handler cancels its jobs
    (:func:`pinlake.spark.interrupt_spark`). A KeyboardInterrupt raised at once inside
    the event loop instead broke it: no summary, tracebacks, and once a hang (helper-80)."""
    TERMINATED.set()
    on_ctrl_c = signal.getsignal(signal.SIGINT)
    if callable(on_ctrl_c) and on_ctrl_c is not signal.default_int_handler:
        on_ctrl_c(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning expected failures into one readable line."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    if isinstance(command, TyperGroup) and help_requested(command, args):
        configure_help(command)
    for line in [*WIDTH_WARNINGS, *variable_warnings(os.environ)]:  # not ignored silently
        err_console.print(f"warning: {line}", markup=False, soft_wrap=True)
    INTERRUPTED.clear()
    TERMINATED.clear()
    quiet_py4j()
    named_home = os.environ.get("PINLAKE_HOME")  # --home sets it for the command's processes
    try:
        _refuse_empty_paths(args)
        with _sigterm_as_ctrl_c():
            result = command.main(args=args, prog_name="pinlake", standalone_mode=False)
    except typer.Abort:  # end of input at a prompt
        err_console.print("error: aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:
        if INTERRUPTED.is_set():  # e.g. a py4j call to the JVM the same Ctrl-C ended
            _interrupted()
        _fail(exc)
    finally:
        # its error printed: neither is the home of what runs next in-process (a test, a DAG
        # task): a test's `--home` was the next test's PINLAKE_HOME and named in its hints
        PINLAKE.home = None
        if named_home is None:
            os.environ.pop("PINLAKE_HOME", None)
        else:
            os.environ["PINLAKE_HOME"] = named_home
        get_settings.cache_clear()  # the settings of that home
    if INTERRUPTED.is_set():  # Typer turns KeyboardInterrupt into a silent exit code 130
        _interrupted()
    sys.exit(result if isinstance(result, int) else 0)
