"""Runs dbt against the dbt project at the repository root.

dbt's ``session`` target opens a Spark session with the same settings as
:func:`pinlake.spark.spark_conf`; :func:`pinlake.spark.session_env` points it at this
``PINLAKE_HOME`` and this process's metastore.
By default dbt runs in a process of its own (its JVM must not meet another process holding the
home's embedded Derby metastore). With ``in_process`` it runs through dbt's programmatic
``dbtRunner`` in this process and shares this process's Spark session (and JVM): what a step
sequence run by :func:`pinlake.pipeline.isolated.run_isolated` does to start Spark once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from pinlake.config import REPO_ROOT, Settings
from pinlake.console import PINLAKE, counted
from pinlake.errors import PinlakeError, let_child_end, start_child
from pinlake.lakehouse.progress import next_steps
from pinlake.lakehouse.tables import holds_committed_data, landed_anything, raw_tables_created
from pinlake.loopback import LOOPBACK_HOSTS, ports_listening
from pinlake.run_folder import up_hint
from pinlake.spark import check_metastore_free, check_spark_home, make_scratch_dir, session_env


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project venv), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    if local.exists():
        return str(local)
    found = shutil.which("dbt")
    if found is None:
        raise PinlakeError("dbt is not installed: run `make setup`")
    return found


#: dbt's flags that a shell set up for another dbt project's development may give as variables
#: (dbt reads each option's ``DBT_`` variable: dbt docs, "About global configs", "Defer",
#: ``--empty``, ``--sample``, ``--event-time-start``) and that would make pinlake's dbt runs build
#: other answers than the pipeline's (from no rows, a sample, one time window, or another
#: environment's tables through defer, silently) or skip the run results pinlake reads after a
#: failure (``DBT_WRITE_JSON``: :func:`uncommitted_locations`). pinlake's dbt runs go without
#: them (:func:`dbt_env`); ``pinlake dbt`` takes each as its option (``--empty``, ``--defer
#: --state …``).
DROPPED_DBT_FLAGS = (
    "DBT_EMPTY",
    "DBT_SAMPLE",
    "DBT_EVENT_TIME_START",
    "DBT_EVENT_TIME_END",
    "DBT_DEFER",
    "DBT_DEFER_STATE",
    "DBT_DEFER_TO_STATE",
    "DBT_STATE",
    "DBT_ARTIFACT_STATE_PATH",
    "DBT_FAVOR_STATE",
    "DBT_FAVOR_STATE_MODE",
    "DBT_WRITE_JSON",
)


#: A warning of a library's own code that dbt printed on every command of the ``databricks``
#: target (importing dbt-databricks 1.10: pydantic 2 on its ``allow_population_by_field_name``),
#: as a ``PYTHONWARNINGS`` filter (Python docs, "The Warnings Filter": a literal message start).
LIBRARY_WARNINGS = "ignore:Valid config keys have changed in V2:UserWarning"


def dbt_env(settings: Settings, terminal: bool | None = None) -> dict[str, str]:
    """The environment dbt runs in: :func:`pinlake.spark.session_env` without the shell's
    :data:`DROPPED_DBT_FLAGS` and, when its output is not a terminal (``terminal``; default: whether
    this process's stdout is one), no ANSI colours (``DBT_USE_COLORS=false``: dbt colours its
    output whatever it goes to; dbt docs, "About global configs", *Use colors*). A
    ``DBT_USE_COLORS`` already set wins. ``PYTHONWARNINGS`` ends with :data:`LIBRARY_WARNINGS`
    (the last filter wins: the shell's own go before it). Its ``local`` target's driver keeps
    its scratch in this process's folder (:func:`pinlake.spark.session_env`), which
    :func:`pinlake.spark.make_scratch_dir` makes before dbt runs."""
    env = {k: v for k, v in session_env(settings).items() if k not in DROPPED_DBT_FLAGS}
    if not (sys.stdout.isatty() if terminal is None else terminal):
        env.setdefault("DBT_USE_COLORS", "false")
    env["PYTHONWARNINGS"] = ",".join(filter(None, (env.get("PYTHONWARNINGS"), LIBRARY_WARNINGS)))
    return env


@dataclass
class DbtCommand:
    """One dbt invocation, e.g. ``DbtCommand(["build"])`` or ``(["docs", "generate"])``."""

    args: list[str] = field(default_factory=lambda: ["build"])
    check: bool = True
    in_process: bool = False


@dataclass
class DbtResult:
    """How a dbt invocation ended: its exit code and wall seconds."""

    args: list[str]
    returncode: int
    seconds: float


#: Delta's refusal to create a table where an interrupted write left data files and no commit
#: (``DeltaErrors.createTableWithNonEmptyLocation``, error class
#: DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION): "Cannot create table ('<table>'). The associated
#: location ('<location>') is not empty and also not a Delta table."
_UNCOMMITTED_LOCATION = re.compile(
    r"The associated location \('([^']+)'\) is not empty and also not a Delta table"
)


def uncommitted_locations(settings: Settings) -> list[Path]:
    """The table folders in this home's warehouse (``settings.warehouse_dir``) that dbt's last
    run (its ``run_results.json`` under ``DBT_TARGET_PATH``) could not create a table in because
    they hold no committed data: the data files of a write that was interrupted before it
    committed, or a table's first commit that was cut short before the metastore registered
    it (a ``dbt seed`` or ``build`` stopped by Ctrl-C or a kill). Delta never reads such
    files. Only folders inside the warehouse whose Delta log adds no data file
    (:func:`pinlake.lakehouse.tables.holds_committed_data`) are returned; ``[]`` when there are
    no run results or they name none. Never raises."""
    results = settings.dbt_target_dir / "run_results.json"
    try:
        messages = [r.get("message") or "" for r in json.loads(results.read_bytes())["results"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    warehouse = settings.warehouse_dir.resolve()
    found: list[Path] = []
    for match in _UNCOMMITTED_LOCATION.finditer("\n".join(messages)):
        text = match.group(1)
        folder = Path(urllib.parse.urlparse(text).path if text.startswith("file:") else text)
        folder = folder.resolve()
        if (
            folder.is_relative_to(warehouse)
            and folder != warehouse
            and folder.is_dir()
            and not holds_committed_data(folder)
            and folder not in found
        ):
            found.append(folder)
    return found


#: dbt's version flags (``dbt.cli.params.version``, an eager option of dbt's group and of every
#: command: ``dbt run --version`` prints the version too, and runs nothing).
VERSION_FLAGS = ("--version", "-V", "-v")
#: dbt's options that only print (its help, its version): such a call makes nothing in the home
#: and gets no hint (helper-82: ``pinlake dbt --help`` made the home's folders, and ``pinlake
#: dbt`` alone ended with the note on raw tables; ``-V`` made them too).
PRINT_ONLY = ("--help", "-h", *VERSION_FLAGS)
#: dbt's commands that read the models' input, the raw tables (the note on raw tables is theirs).
MODEL_COMMANDS = ("build", "run", "test", "show", "compile", "retry", "snapshot", "clone")
#: dbt's options that choose nodes: with one, a ``build`` or ``run`` may leave out every model
#: that reads a raw table (seeds alone, say).
SELECTING = (
    "-s", "--select", "-m", "--models", "--exclude", "--selector", "--resource-type",
    "--resource-types", "--exclude-resource-type", "--exclude-resource-types",
)  # fmt: skip


def prints_only(args: list[str]) -> bool:
    """Whether ``dbt <args>`` only prints (no arguments: dbt's usage; :data:`PRINT_ONLY`)."""
    return not args or any(arg in PRINT_ONLY for arg in args)


def asks_version(args: list[str]) -> bool:
    """Whether ``dbt <args>`` only prints dbt's version: one of :data:`VERSION_FLAGS` in it."""
    return any(arg in VERSION_FLAGS for arg in args)


def version_text() -> str:
    """What ``pinlake dbt --version`` prints: the installed dbt-core and each adapter plugin (a
    ``dbt/adapters/<name>/__version__.py``, as dbt finds them: ``dbt.version``), in the layout
    of dbt's own ``--version``, e.g. ``Core:\n  - installed: 1.11.16\n\nPlugins:\n  -
    databricks: 1.10.9\n  - spark:      1.11.0``. Read from the installed distributions only:
    dbt's own asks PyPI for the latest release of each (a request of up to 1 s each; pinlake
    makes no network call it does not need) and advises an update that requirements.lock rules
    out (pyproject.toml: dbt-core ``~=1.11.0``); and it imports every adapter, which printed a
    pydantic warning from dbt-databricks."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("dbt.adapters")
    folders = spec.submodule_search_locations if spec is not None else None
    plugins = sorted(
        {p.parent.name for folder in folders or [] for p in Path(folder).glob("*/__version__.py")}
    )
    versions = []
    for name in plugins:
        try:
            versions.append((name, importlib.metadata.version(f"dbt-{name}")))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, "unknown (no dbt-" + name + " distribution)"))
    width = max((len(name) for name, _ in versions), default=0) + 1
    lines = ["Core:", f"  - installed: {importlib.metadata.version('dbt-core')}", "", "Plugins:"]
    lines += [f"  - {name + ':':<{width}} {version}" for name, version in versions]
    lines += [
        "",
        "(installed versions: pinlake does not ask PyPI for newer ones, which pyproject.toml"
        " may rule out)",
    ]
    return "\n".join(lines)


#: dbt's commands that connect to the warehouse (the ``local`` target: a Spark session of the
#: home's metastore); ``docs`` connects for ``docs generate`` only (``docs serve`` serves files).
CONNECTING = (*MODEL_COMMANDS, "seed", "debug", "run-operation", "source", "docs")
#: Every command of dbt's CLI (``dbt --help``): the first argument that is one is the command.
DBT_COMMANDS = (*CONNECTING, "clean", "deps", "init", "list", "ls", "parse")


def _dbt_command(args: list[str]) -> str | None:
    """The dbt command ``args`` run (the first of them that is one of :data:`DBT_COMMANDS`;
    an option's value after it, ``ls --resource-type source``, is not), or None."""
    return next((arg for arg in args if arg in DBT_COMMANDS), None)


def connects(args: list[str]) -> bool:
    """Whether ``dbt <args>`` connects to the warehouse (:data:`CONNECTING`); ``dbt docs
    serve``, ``parse``, ``ls`` and the like do not."""
    command = _dbt_command(args)
    if command == "docs":
        return _docs_command(args) == "generate"
    return command in CONNECTING


def _docs_command(args: list[str]) -> str | None:
    """The ``docs`` subcommand of ``dbt <args>`` (``generate``, ``serve``), or None."""
    if "docs" not in args:
        return None
    rest = args[args.index("docs") + 1 :]
    return next((arg for arg in rest if arg in ("generate", "serve")), None)


def refusal(settings: Settings, args: list[str]) -> str | None:
    """Why ``dbt <args>`` is not run at all, or None:

    - any command on the ``databricks`` target without ``DATABRICKS_TOKEN`` (profiles.yml's
      token, empty by default): dbt-databricks then signed in through a browser (its default
      auth, OAuth U2M), waited 5 minutes on a machine without one and ended with a traceback
      of about 140 lines, or failed after a DNS lookup of the placeholder host (helper-84);
      README asks for a token even offline;
    - a ``build``, ``run`` or ``test`` of every node on the ``local`` target of a home where no
      raw table exists (no Delta log under the warehouse's ``raw.db``, batch or stream path).
      Its models read them: dbt started Spark and failed about 30 s later with twelve errors
      (helper-82; a ``test``, 129, helper-83), where ``export`` refuses such a home at once. A
      selection (:data:`SELECTING`) is run as asked;
    - ``docs serve`` of a home without generated docs (no ``index.html`` in its dbt target
      folder, unless ``--target-path`` names another): dbt ended with a ``FileNotFoundError``
      traceback (helper-86);
    - a command that connects on the ``thrift`` target when nothing listens on its server's
      port on this machine (:func:`_thrift_not_listening`): dbt printed its start-up and a
      ``TTransportException`` under "Runtime Error" before pinlake's note (helper-109)."""
    elsewhere = any(arg.split("=", 1)[0] == "--target-path" for arg in args)
    if _docs_command(args) == "serve" and not elsewhere:
        if not (settings.dbt_target_dir / "index.html").is_file():
            return (
                f"no dbt docs in {settings.dbt_target_dir} (no index.html): run `{PINLAKE} dbt "
                "docs generate` first"
            )
    target = _target(settings, args)
    if target == "databricks" and not os.environ.get("DATABRICKS_TOKEN", "").strip():
        return (
            "the databricks target signs in with DATABRICKS_TOKEN, which is not set: set it to "
            "a personal access token of the workspace at DATABRICKS_HOST (any value, e.g. "
            "dummy, for an offline parse or compile); without one dbt-databricks waits up to "
            "5 minutes for a browser sign-in"
        )
    if target == "thrift" and connects(args) and (down := _thrift_not_listening(settings)):
        return down
    if (
        _dbt_command(args) not in ("build", "run", "test")
        or any(arg.split("=", 1)[0] in SELECTING for arg in args)
        or target != "local"
    ):
        return None
    if raw_tables_created(settings):
        return None
    return (
        f"nothing is landed in {settings.home}'s raw tables, which the models read: "
        f"{next_steps(settings, 'land')} (or choose nodes that do not read them: --select)"
    )


def run_dbt(settings: Settings, command: DbtCommand) -> DbtResult:
    """Run ``dbt <args>`` from the project root in its own process (its ``local`` target
    starts its own Spark JVM, so no other process may hold this home's metastore). Raises
    PinlakeError on a non-zero exit when ``command.check``.

    Recovery from an interrupted run: when dbt failed because a table folder of this home's
    warehouse holds the uncommitted files of an interrupted write (:func:`uncommitted_locations`),
    those folders are removed, each named on stderr, and the failed nodes run once more with
    ``dbt retry`` (dbt docs, "About dbt retry"); the result is the retry's.

    Raises PinlakeError before dbt starts when it would fail for want of raw tables
    (:func:`refusal`), and on the ``local`` target when another driver holds the home's
    embedded metastore (:func:`pinlake.spark.check_metastore_free`). A call that only prints
    (:func:`prints_only`) makes nothing in the home and gets no hint; one that asks dbt's
    version is answered here (:func:`version_text`)."""
    if asks_version(command.args):
        print(version_text())
        return DbtResult(list(command.args), 0, 0.0)
    if prints_only(command.args):
        returncode = _invoke(settings, command.args, command.in_process)
        if command.check and returncode != 0:
            raise PinlakeError(f"`dbt {' '.join(command.args)}` failed with exit code {returncode}")
        return DbtResult(list(command.args), returncode, 0.0)
    local = connects(command.args) and _target(settings, command.args) == "local"
    if local:  # first: the refusal below would name a `land` that cannot work there (helper-90)
        check_spark_home(settings)
    # refused before the home's folders are made (helper-83: a refused build left them empty);
    # a home that cannot be one (a file) says so first, through ensure_dirs
    if not settings.home.exists() or settings.home.is_dir():
        if (refused := refusal(settings, command.args)) is not None:
            raise PinlakeError(refused)
    settings.ensure_dirs()
    if local:
        check_metastore_free(settings)  # its session is dbt-spark's, which would wait and fail
        make_scratch_dir(settings)  # its driver's (dbt_env)
    _note_dropped()
    start = time.perf_counter()
    returncode = _invoke(settings, command.args, command.in_process)
    leftovers = uncommitted_locations(settings) if returncode != 0 else []
    if leftovers:
        for folder in leftovers:
            shutil.rmtree(folder)
            print(
                f"removed {folder}: the files of an interrupted write, no Delta commit; "
                "running the failed nodes again (dbt retry)",
                file=sys.stderr,
            )
        returncode = _invoke(settings, ["retry"], command.in_process)
    hint = _failure_hint(settings, command.args) if returncode != 0 else ""
    if command.check and returncode != 0:
        raise PinlakeError(
            f"`dbt {' '.join(command.args)}` failed with exit code {returncode} "
            f"(details above and in {settings.logs_dir / 'dbt'})" + (f"; {hint}" if hint else "")
        )
    if hint:
        print(f"note: {hint}", file=sys.stderr)
    return DbtResult(list(command.args), returncode, time.perf_counter() - start)


def _target(settings: Settings, args: list[str]) -> str:
    """The profile target ``dbt <args>`` runs on: the last ``--target X``, ``--target=X``,
    ``-t X`` or ``-tX`` in ``args`` (click's forms of an option's value; helper-85: ``-tdatabricks``
    was missed), else ``settings.dbt_target`` (``PINLAKE_DBT_TARGET``, profiles.yml's default)."""
    target = settings.dbt_target
    for i, arg in enumerate(args):
        if arg in ("--target", "-t") and i + 1 < len(args):
            target = args[i + 1]
        elif arg.startswith("--target="):
            target = arg.split("=", 1)[1]
        elif arg.startswith("-t") and len(arg) > 2:
            target = arg[2:]
    return target


def _failure_hint(settings: Settings, args: list[str]) -> str:
    """What a failed ``dbt <args>`` ends with when its errors were dbt's alone and the cause is
    one pinlake can see ("" when none is):

    - on the ``local`` target (the home's warehouse), for a command that reads the models' input
      (:data:`MODEL_COMMANDS`), when no raw table of the home holds data
      (:func:`~pinlake.lakehouse.tables.landed_anything`): the steps that land it (helper-76:
      twelve ``TABLE_OR_VIEW_NOT_FOUND`` errors and no pinlake line);
    - on the ``thrift`` target, for a command that connects (:func:`connects`), when nothing
      listens on its server's port any more
      (:func:`_thrift_not_listening`; a server that was not listening at the start refused the
      run, :func:`refusal`): the command that starts the home's (dbt said only
      ``TTransportException``).

    The ``databricks`` target's workspace is elsewhere and is not looked at."""
    target = _target(settings, args)
    if target == "local" and _dbt_command(args) in MODEL_COMMANDS and not landed_anything(settings):
        return f"nothing is landed in {settings.home}'s raw tables, which the models read: " + (
            next_steps(settings, "land")
        )
    if target == "thrift" and connects(args):  # `dbt ls` failing on bad --vars: not the server
        return _thrift_not_listening(settings)
    return ""


def _thrift_not_listening(settings: Settings) -> str:
    """The line for the ``thrift`` target's server on this machine
    (:data:`~pinlake.loopback.LOOPBACK_HOSTS`) when nothing listens on its port
    (:func:`~pinlake.loopback.ports_listening`): the port, its variable and the command that
    starts the home's server, or, while the home's server runs on another port, that port
    (helper-109's kind: a typo was told to start what runs); ``""`` when something listens or
    the server is elsewhere."""
    from pinlake.run_folder import THRIFT, recorded_while_running

    if settings.thrift_host not in LOOPBACK_HOSTS or ports_listening([settings.thrift_port]):
        return ""
    down = (
        f"nothing listens on {settings.thrift_host}:{settings.thrift_port}"
        " (PINLAKE_THRIFT_PORT), the Spark Thrift server of the thrift target: "
    )
    port = recorded_while_running(settings.run_dir, THRIFT, "port")
    if port is not None and port != settings.thrift_port:
        return f"{down}this home's Thrift server listens on port {port}: check PINLAKE_THRIFT_PORT"
    return f"{down}`{up_hint(settings.run_dir, '--thrift')}` starts this home's Thrift server"


def _note_dropped() -> None:
    """One line on stderr, once per process, naming the shell's :data:`DROPPED_DBT_FLAGS` variables
    that pinlake's dbt runs go without (not ignored silently)."""
    names = [name for name in DROPPED_DBT_FLAGS if name in os.environ and name not in _NOTED]
    if names:
        _NOTED.update(names)
        print(
            f"note: pinlake's dbt runs ignore {', '.join(names)} from the environment (another "
            f"project's dbt flags: they would change what the pipeline builds); give `{PINLAKE} "
            "dbt` the option instead (--empty, --defer --state …)",
            file=sys.stderr,
        )


_NOTED: set[str] = set()


#: How long a dbt child process gets to end on its own after Ctrl-C (seconds) before it is
#: killed: the terminal sent it the same SIGINT, and dbt cancels its queries and closes its
#: Spark session (whose JVM then ends too) when it is let.
DBT_CANCEL_TIMEOUT = 10.0


#: The PySpark loggers that log every SQL error of a session as one JSON line on standard error,
#: with the JVM's whole stack trace (about 8 KB; ``pyspark.errors.exceptions.base``'s
#: ``_log_exception``, formatted by ``pyspark.logger.JSONFormatter``), before dbt reports the
#: same error in its own words (helper-56: every SQL error through ``pinlake dbt``).
PYSPARK_QUERY_LOGGERS = frozenset({"SQLQueryContextLogger", "DataFrameQueryContextLogger"})


def pyspark_query_log(line: str) -> bool:
    """Whether ``line`` of dbt's output is a record of :data:`PYSPARK_QUERY_LOGGERS` (a JSON
    object with their ``logger``), which the forwarding of dbt's output drops."""
    if not line.startswith('{"ts"'):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("logger") in PYSPARK_QUERY_LOGGERS


#: A line of a JVM stack trace in dbt's text of a Spark error (a ``Py4JJavaError``'s message:
#: ``\tat org.apache.spark.sql.Dataset.ofRows(Dataset.scala:104)``, ``\t... 24 more``).
_JVM_FRAME = re.compile(r"^\s+(?:at [\w$.<>/-]+\(.*\)|\.\.\. \d+ more)\s*$")


def trim_jvm_frames(lines: Iterable[str], log: Path) -> Iterator[str]:
    """``lines`` (each with its newline) as they are, but each run of JVM stack-frame lines
    (:data:`_JVM_FRAME`) as one line saying how many and where the whole text is (``log``,
    dbt's log file, which keeps dbt's error text whole): a Spark error's text in dbt's output
    held about 50 of them under its one message, a failed task's about 280."""
    frames, indent = 0, ""

    def said() -> str:
        return f"{indent}… {counted(frames, 'line')} of the JVM's stack trace (in full: {log})\n"

    for line in lines:
        if _JVM_FRAME.match(line):
            if not frames:
                indent = line[: len(line) - len(line.lstrip())].replace("\t", "    ")
            frames += 1
            continue
        if frames:
            yield said()
            frames = 0
        yield line
    if frames:
        yield said()


def _invoke(settings: Settings, args: list[str], in_process: bool) -> int:
    """``dbt <args>``'s exit code, run here (:func:`_run_in_process`) or in a child process.

    Ctrl-C or SIGTERM (KeyboardInterrupt here), or any other exception while it runs (an
    Airflow task's timeout), lets the child end on its own, up to :data:`DBT_CANCEL_TIMEOUT`
    seconds (:func:`~pinlake.errors.let_child_end`), then goes on. The child's output
    (unbuffered) is passed on line by line until then, standard output to ours and standard
    error to ours, but PySpark's JSON records of a SQL error (:func:`pyspark_query_log`);
    after a Ctrl-C it is dropped:
    dbt logs a Python traceback of the KeyboardInterrupt (about 40 lines) wherever the signal
    found it, and the CLI says ``error: interrupted`` instead."""
    if in_process:
        return _run_in_process(settings, args)
    interrupted = threading.Event()
    log = settings.logs_dir / "dbt" / "dbt.log"  # DBT_LOG_PATH (dbt_env)

    def forward(source: IO[bytes], target: TextIO) -> None:
        texts = (line.decode(errors="replace") for line in source)
        for text in trim_jvm_frames(texts, log):
            if not interrupted.is_set() and not pyspark_query_log(text):
                target.write(text)
                target.flush()

    child = start_child(  # a signal while it starts ends the child too
        [dbt_executable(), *args],
        DBT_CANCEL_TIMEOUT,
        cwd=REPO_ROOT,
        env={**dbt_env(settings), "PYTHONUNBUFFERED": "1"},  # each line as dbt logs it
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # from the child's start: a signal while the forwarders started (their first lines already
    # passed on) ended pinlake and left dbt running, untold (a loaded machine's full run)
    try:
        forwarders = [
            threading.Thread(target=forward, args=pair, name="dbt-output", daemon=True)
            for pair in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))
        ]
        for forwarder in forwarders:
            forwarder.start()
        returncode = child.wait()
    except BaseException as exc:  # Ctrl-C, SIGTERM, an Airflow task's timeout or termination
        interrupted.set()
        let_child_end(child, DBT_CANCEL_TIMEOUT, exc)
        raise
    for forwarder in forwarders:  # the rest of its output (the pipes end with the child)
        forwarder.join()
    for pipe in (child.stdout, child.stderr):  # read to their end: closed, not left to the GC
        if pipe is not None:
            pipe.close()
    return returncode


def _run_in_process(settings: Settings, args: list[str]) -> int:
    """dbt through ``dbtRunner`` here, in ``settings``' environment (this process's is restored
    afterwards); its exit code as the CLI's (0 ok, 1 failed, 2 error)."""
    import time

    from dbt.cli.main import dbtRunner

    saved, cwd = dict(os.environ), Path.cwd()
    env = dbt_env(settings)  # profiles.yml reads env_var(); dbt its DBT_* flags
    os.environ.clear()  # without what dbt_env leaves out (DROPPED_DBT_FLAGS)
    os.environ.update(env)
    time.tzset()  # its TZ: the rows dbt-spark reads (pinlake.spark.use_session_time_zone)
    os.chdir(REPO_ROOT)
    try:
        result = dbtRunner().invoke(list(args))
    finally:  # the caller's environment, time zone and folder, as they were
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
        time.tzset()
    if result.exception is not None:
        return 2
    return 0 if result.success else 1
