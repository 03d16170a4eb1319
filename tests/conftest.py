"""Shared pytest fixtures, among them the session's one "golden" pipeline run.

``golden``: the AiCore reference rows, produced as the original producer sent them (the logged
posting sequence, repeats included, then every row once) down both delivery paths into one home
with its broker and API running: posted to the Kafka REST proxy (the batch path) and put to the
Kinesis proxy (the stream path). Before them, on both paths, every client shape of the original
producers and rows of extreme values (tests/golden_extras.py). The stream DAG's catch-up task
lands the stream topics (``stream --available-now``); then the Airflow batch DAG sinks the batch
topics into the topics bucket, lands them, builds every model with dbt, exports the marts and
generates the dbt docs.
Every mart, contract, docs, export and DAG assertion reads this one run, and the two paths are
compared where they meet: the same records in raw Delta (and, through the Kafka path, in the
bucket). Built once per session, lazily; the modules that read it are one xdist work unit
(``GOLDEN_MODULES``), so one worker builds it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pinlake_testing import (
    BROKER_MODULES,
    KEPT_FROM_SHELL,
    PROXY_VARIABLES,
    SUITE_ENVIRONMENT,
    delta_versions,
    isolated_settings,
    reference_draws,
    usable_cpus,
    xdist_workers,
)

from pinlake.config import Settings
from pinlake.spark import session_env

if TYPE_CHECKING:
    from airflow_env import DagTestProcess
    from golden_extras import ExtraDeliveries

pytest_plugins = ["airflow_env", "s3_env"]

#: Every JVM the tests start (Spark, Kafka, the metastore; pinlake.services.jvm) runs the C1 JIT
#: only, with one compiler thread: about half the CPU of a JVM's start-up, and the suite's JVMs
#: are short-lived and work on small data (set PINLAKE_JVM_OPTIONS to override, "" for none).
#: Without code-cache flushing: with C1 only, JDK 17's sweeper evicted compiled methods that
#: the next statements compiled again (the tests of tests/lakehouse in one Spark session: the
#: sweeper 35–38 CPU-s and C1 30–31 CPU-s of the JVM's 231–245 with flushing, 9 and 8–9 of
#: 194–203 without; bench/README.md). The longest-lived one, the golden run's DAG process, too:
#: with the default JIT half its JVM's CPU went to the C2 compiler, and the suite took 732.7 s
#: against 694.1 s with C1 (bench/README.md, "The golden run's DAG process").
#: With a code cache of the tiered JIT's size (240 MB reserved, committed as used): C1 alone
#: reserves 48 MB, which a test JVM without flushing filled within two minutes; the JIT then
#: stopped compiling, and the method-handle adapters a JVM makes later had no room, so Delta's
#: statements failed at random with ``java.lang.InternalError: ... MethodHandle.linkToStatic``
#: (tests/lakehouse: 64–68 MB used at most with 240 MB, and 124–142 s against 138–159 s;
#: bench/README.md, "The test JVMs' threads, and code-cache flushing").
#: Every ``PINLAKE_`` variable of the shell but those a run keeps
#: (``pinlake_testing.KEPT_FROM_SHELL``: the jars, the test JVMs' options below) is dropped
#: before any test reads it (a home, ports, a bucket: the README's way to run a second home,
#: which a contributor's shell still held, failed three tests: helper-67's trial); each test
#: sets what it needs. So are dbt's and Airflow's (another project's ``DBT_TARGET``,
#: ``DBT_PROJECT_DIR``: a data engineer's shell failed 19 DAG tests; another Airflow's executor
#: or metadata DB; helper-68), but their telemetry switches, and a company network's proxy
#: variables
#: (``pinlake_testing.PROXY_VARIABLES``): the tests' own clients speak to loopback services, and
#: the tests of pinlake's clients set them (``pinlake_testing.behind_a_proxy``).
#: ``pytest_report_header`` names what was dropped.
DROPPED_FROM_SHELL = sorted(
    name
    for name in os.environ
    if (name.startswith(("PINLAKE_", "DBT_", "AIRFLOW_")) and name not in KEPT_FROM_SHELL)
    or name in PROXY_VARIABLES
)
for _name in DROPPED_FROM_SHELL:
    del os.environ[_name]


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI job's cancel, ``timeout``) ends the run as Ctrl-C does
    (:func:`_terminated`), so that the session fixtures' teardown stops what they started: by
    default it ended pytest at once, its xdist workers with it, and left their brokers, APIs
    and servers running."""
    import threading

    if threading.current_thread() is threading.main_thread():
        worker = hasattr(config, "workerinput")  # xdist's mark of a worker's config
        signal.signal(signal.SIGTERM, functools.partial(_terminated, worker))


def _terminated(worker: bool, _signum: int, _frame: object) -> None:
    """SIGTERM's handler: in xdist's controller, passed on to its workers (a ``timeout`` or a CI
    runner signals the controller alone), which end their sessions, teardown included, and
    then the controller; in a worker, or a run without workers, KeyboardInterrupt, which pytest
    ends the session with, its fixtures' teardown included."""
    import psutil

    workers = [] if worker else psutil.Process().children()
    for child in workers:
        child.send_signal(signal.SIGTERM)
    if not workers:
        raise KeyboardInterrupt


def pytest_report_header() -> list[str]:
    """The variables of the shell this run ignores (:data:`DROPPED_FROM_SHELL`)."""
    if not DROPPED_FROM_SHELL:
        return []
    dropped = ", ".join(DROPPED_FROM_SHELL)
    return [f"pinlake: ignoring {dropped} from the environment (each test sets its own)"]


#: Every Spark session of the tests evaluates its queries interpreted (Settings.spark_codegen):
#: the suite runs about a thousand statements over small data, where compiling each costs more
#: than it saves. The scale-out module's stack (the Thrift server, the cluster) keeps Spark's
#: code generation, the default, so that every model is built both ways.
#: ... and plans each query once (no adaptive execution), on one partition per shuffle and per
#: Delta snapshot (Settings.spark_adaptive, spark_partitions): land and a dbt build of 10k
#: events took 144 against 161 CPU-s (bench/README.md). The scale-out stack keeps the defaults.
#: These four are pinlake_testing.SUITE_ENVIRONMENT (bench/ runs with them too).
for _name, _value in SUITE_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

#: Each test process answers SIGINT as one started from a terminal does (Python's own handler),
#: also when the suite was started with SIGINT ignored (a non-interactive shell's background job,
#: `make test &`, which every child then inherits): the Ctrl-C tests send SIGINT to this process
#: or to children it starts, and pinlake keeps an inherited SIG_IGN by design (pinlake.spark).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO_ROOT = Path(__file__).resolve().parents[1]
#: CI checks out shared/ beside the repository clone.
AICORE_DIR = REPO_ROOT.parent / "shared" / "reference-data" / "aicore"


#: The modules that read the session's golden run: one xdist work unit (one worker builds the
#: run, once, and runs them), started first since it is the session's longest chain, then the
#: modules with slow tests; every other module is a work unit of its own (``--dist loadscope``:
#: its module fixtures are built once). The front workers take the units in that order, the back
#: workers from the end (``pytest_xdist_make_scheduler``).
GOLDEN_MODULES = (
    "tests/integration/test_reference_data.py",
    "tests/integration/test_golden_deliveries.py",
    "tests/dags/test_batch_e2e.py",
    "tests/integration/test_report_browser.py",
)
#: pytest-timeout's limit (s) of a test that reads the golden run (pyproject.toml's 900 for the
#: others): the first one builds it, and that set-up counts. On the 2-core hosts of 2026-12-07,
#: beside three other workers, it took 646-840 s (bench/README.md); with a user's Airflow and
#: Spark beside the suite, over 900, and the 29 readers failed for a run that was still going.
#: A hung set-up still fails in minutes, well within a CI job's limit.
GOLDEN_TIMEOUT = 1800
#: The golden batch DAG run's own limit (s), inside that set-up (the DAG process's other
#: requests keep :meth:`airflow_env.DagTestProcess.run`'s 800).
GOLDEN_DAG_TIMEOUT = 1500


#: The longest other work units, longest first, with their time in a full run on 2 cores (with
#: the other worker busy): the other front workers start with them while the golden unit's
#: worker builds and reads the golden run (about 570 s), while the back workers run the short
#: modules. (On 2 cores, in collection order, the scale-out module came last, on the golden unit's
#: worker after its 570 s, and the suite ended 100 s after the other worker: 882 s.)
LONGEST_MODULES = (
    "tests/integration/test_scale_out.py",  # 316 s
    "tests/integration/test_stream_path.py",  # 172 s
    "tests/lakehouse/test_land.py",  # 144 s
    "tests/lakehouse/test_stream_batches.py",  # 93 s
)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown when run with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``loadscope`` with the golden modules as one scope and :data:`BROKER_MODULES` as
    another, worked from both ends (:class:`pinlake_testing.TwoEndedScopeScheduling`): the
    front workers take the work units in the order of ``pytest_collection_modifyitems`` (the
    golden unit, the longest modules, the other Spark modules…), the back workers from the end
    (the short modules first)."""
    from pinlake_testing import TwoEndedScopeScheduling

    return TwoEndedScopeScheduling(
        config, log, golden=GOLDEN_MODULES, units={"broker": BROKER_MODULES}
    )


@pytest.hookimpl(optionalhook=True)  # an xdist hook, as above
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject.toml): :func:`pinlake_testing.xdist_workers` of this machine (2
    front and 2 back workers on 2 cores, up to 4 front workers on more);
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` sets the number."""
    import psutil

    try:
        return xdist_workers(
            usable_cpus(),
            psutil.virtual_memory().total,
            os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"),
        )
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    golden = {item: item.nodeid.split("::", 1)[0] in GOLDEN_MODULES for item in items}
    strays = sorted(i.nodeid for i in items if "golden" in i.fixturenames and not golden[i])
    if strays:  # another worker would build a second golden run
        raise pytest.UsageError(f"add their modules to GOLDEN_MODULES (conftest.py): {strays}")
    strays = sorted(
        i.nodeid
        for i in items
        if "kafka_services" in i.fixturenames and i.nodeid.split("::", 1)[0] not in BROKER_MODULES
    )
    if strays:  # another worker would start a second broker
        raise pytest.UsageError(
            f"add their modules to BROKER_MODULES (pinlake_testing.py): {strays}"
        )
    marked = {name: {i for i in items if i.get_closest_marker(name)} for name in ("spark", "slow")}
    # the fast loop (`-m "not slow"`) starts no Spark JVM (pyproject.toml's markers): a test
    # marked `spark`, or reading the worker's session (the ``spark`` fixture), is marked both
    sessions = {i for i in items if "spark" in i.fixturenames}
    unmarked = sorted(i.nodeid for i in sessions - marked["spark"])
    if unmarked:
        raise pytest.UsageError(f"mark these tests of the Spark session spark and slow: {unmarked}")
    fast_jvms = sorted(i.nodeid for i in marked["spark"] - marked["slow"])
    if fast_jvms:
        raise pytest.UsageError(f"mark these Spark tests slow too: {fast_jvms}")
    # the longest chains first (xdist's front workers take the work units in this order, its
    # back workers from the end: pytest_xdist_make_scheduler): the golden unit, then
    # LONGEST_MODULES (longest first), then the other modules that start Spark, then the other
    # modules with an end-to-end (slow) test, then the rest (stable: collection order); so the
    # back workers start with the short modules and reach a Spark module (a Spark session of
    # their own) last, if at all
    heavy = {item.nodeid.split("::", 1)[0] for item in items if item.get_closest_marker("slow")}
    jvms = {item.nodeid.split("::", 1)[0] for item in marked["spark"]}

    def order(item: pytest.Item) -> tuple[bool, int, bool, bool]:
        module = item.nodeid.split("::", 1)[0]
        rank = LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)
        return not golden[item], rank, module not in jvms, module not in heavy

    items.sort(key=order)
    for item in items:
        if golden[item]:
            item.add_marker(pytest.mark.timeout(GOLDEN_TIMEOUT))


@pytest.fixture(autouse=True)
def _no_pinlake_state_left_behind() -> Iterator[None]:
    """Each test leaves this process's ``PINLAKE_`` variables and the home the hints name
    (:data:`pinlake.console.PINLAKE`) as it found them, or fails here naming what it changed
    (and they are set back): a test's ``--home``, left in ``PINLAKE_HOME`` by an in-process
    ``pinlake`` command, was named in the hints of the next test its worker ran, which failed
    (CI at stop 57). Runs after the test's ``monkeypatch`` has undone its own changes."""
    from pinlake.console import PINLAKE

    before = {name: value for name, value in os.environ.items() if name.startswith("PINLAKE_")}
    home = PINLAKE.home
    yield
    after = {name: value for name, value in os.environ.items() if name.startswith("PINLAKE_")}
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    left_home = PINLAKE.home
    for name in changed:
        if name in before:
            os.environ[name] = before[name]
        else:
            del os.environ[name]
    PINLAKE.home = home
    assert not changed, f"the test left these variables changed: {', '.join(changed)}"
    assert left_home == home, f"the test left the hints' home set to {left_home}"


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A throwaway home for the worker's one in-process Spark session (local[1])."""
    return Settings(home=tmp_path_factory.mktemp("spark-home"), spark_master="local[1]")


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[object]:
    """The worker's Spark session (Delta, Hive metastore of ``spark_settings``), started once."""
    from pinlake.spark import get_spark

    session = get_spark(spark_settings, app_name="pinlake-tests")
    yield session
    session.stop()
    # py4j logs "Closing down clientserver connection" from __del__ at interpreter exit, after
    # pytest has closed the streams the Airflow tests' logging handlers point at.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def aicore_dir() -> Path:
    """The real AiCore reference folder (required: fails, never skips, when missing)."""
    if not (AICORE_DIR / "geolocation_data.csv").is_file():
        pytest.fail(f"reference data missing: {AICORE_DIR} (put shared/ beside the clone)")
    return AICORE_DIR


@dataclass
class GoldenRun:
    """The golden run's home, what was produced down each path (``produced``: the original
    producer's events; ``extra``: the client shapes and extreme rows), the outcomes of its two DAG
    runs (``DagTestProcess.run``: the stream DAG's catch-up task, then the batch DAG), the
    process that ran them (for later runs on the same home: its JVM holds the home's metastore),
    the Delta versions of the raw tables and the marts right after them (``{schema: {table:
    version}}``), and the outcome of the project's unit tests, which the DAG's dbt tasks leave
    out, run once after them in that process (``DagTestProcess.dbt``; their parents exist then)."""

    settings: Settings
    produced: dict[str, list]
    extra: ExtraDeliveries
    stream_run: dict
    dag_run: dict
    dags: DagTestProcess
    versions: dict[str, dict[str, int]]
    unit_tests: dict

    @property
    def streamed(self) -> dict:
        """The stream stage's result (``StreamResult`` as JSON)."""
        return self.stream_run["xcom"]["stream"]

    @functools.cached_property
    def exports(self) -> dict[str, Path]:
        """``{mart: exported CSV}`` of the batch DAG run."""
        out = Path(self.dag_run["xcom"]["export"]["out"])
        return {p.stem: p for p in sorted(out.glob("*.csv"))}


@pytest.fixture(scope="session")
def golden(
    aicore_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[GoldenRun]:
    """Both delivery paths over the reference data, landed and built by the DAGs (about 4 min)."""
    from airflow_env import DagTestProcess
    from golden_extras import deliver

    from pinlake.pipeline.runner import Runner
    from pinlake.pipeline.steps import ServicesDown, ServicesUp, SourceLoad
    from pinlake.produce import ProduceToApi

    settings = isolated_settings(tmp_path_factory.mktemp("golden"))
    run = Runner(settings)
    run.run("source load", SourceLoad(aicore_dir))
    run.run("services up", ServicesUp(stream=False))
    try:
        extra = deliver(settings, aicore_dir)
        produced: dict[str, list] = {"batch": [], "stream": []}
        for draws in reference_draws(aicore_dir):
            for path, stream in (("batch", False), ("stream", True)):
                step = ProduceToApi(**draws, stream=stream, batch_size=100)
                produced[path].append(run.run(f"produce → API ({path})", step))
        env = {
            **session_env(settings),
            "PINLAKE_DBT_TARGET": "local",
            "PINLAKE_AIRFLOW_RETRIES": "0",  # fail fast in tests; the default is 2 (see structure)
            # a shell west of UTC: the exports read timestamps in the sessions' zone all the same
            # (pinlake.spark.use_session_time_zone; test_reference_data)
            "TZ": "America/Los_Angeles",
        }
        # the run's Airflow metadata DB and dbt manifest when they are needed: by then the other
        # worker may have built them (once per run, tests/airflow_env.py)
        request.getfixturevalue("airflow_db")
        dags = DagTestProcess(settings.home, env)
        try:
            # the stream DAG's catch-up (stream --available-now) alone, then the batch DAG
            stream_run = dags.run(
                "stream-catch-up", dag_id="pinterest_stream", task_ids=("stream",), downstream=False
            )
            dag_run = dags.run("run-ok", timeout=GOLDEN_DAG_TIMEOUT)
            versions = {s: delta_versions(settings.home, s) for s in ("raw", "marts")}
            unit_tests = dags.dbt("unit-tests", ["test", "--select", "test_type:unit"])
            yield GoldenRun(
                settings, produced, extra, stream_run, dag_run, dags, versions, unit_tests
            )
        finally:
            dags.close()
    finally:
        run.run("services down", ServicesDown())
