"""Helpers for any test folder (``tests/`` is on ``sys.path`` through the root conftest)."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
from xdist.scheduler import LoadScopeScheduling

from pinlake.config import REPO_ROOT, ApiSettings, KafkaSettings, Settings
from pinlake.services.process import ephemeral_port_range, free_ports

if TYPE_CHECKING:
    from xdist.remote import Producer
    from xdist.workermanage import WorkerController

#: Start-up chatter that must not reach a user's terminal (tests/ingestion/test_spark_quiet.py,
#: tests/integration/test_stream_path.py): the JDK's line (Spark's launcher always adds
#: --add-modules=jdk.incubator.vector) and Spark's Logging.scala banner, printed when PySpark's
#: driver logger has no level of its own.
INCUBATOR = "WARNING: Using incubator modules: jdk.incubator.vector"
LOG_LEVEL_BANNER = ('Setting default log level to "WARN".', "To adjust logging level use")


#: What every test process runs with unless the shell sets it (tests/conftest.py says why
#: each): every JVM on the C1 JIT without code-cache flushing, and Spark sessions without code
#: generation and adaptive execution, one partition per shuffle. A benchmark of the suite's
#: work runs with them too (bench/bench_record_rule.py).
SUITE_ENVIRONMENT = {
    "PINLAKE_JVM_OPTIONS": (
        "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -XX:-UseCodeCacheFlushing"
        " -XX:ReservedCodeCacheSize=240m"
    ),
    "PINLAKE_SPARK_CODEGEN": "false",
    "PINLAKE_SPARK_ADAPTIVE": "false",
    "PINLAKE_SPARK_PARTITIONS": "1",
}


#: The proxy variables of a company network's shell, both spellings (curl's, httpx's, botocore's
#: and aiohttp's readers take either): tests/conftest.py drops them from the run, and
#: :func:`behind_a_proxy` sets them to check that pinlake reaches its loopback services directly.
PROXY_VARIABLES = tuple(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (base, base.lower())
)


def behind_a_proxy(monkeypatch, proxy: str | None = None) -> str:
    """Set this process's proxy variables as a company network's shell does, without a
    ``NO_PROXY`` (that would name loopback), to ``proxy``, by default one that does not answer
    (a request sent to it fails). Returns the proxy's URL. ``monkeypatch`` is pytest's, which
    restores them."""
    proxy = proxy or f"http://127.0.0.1:{free_ports(1)[0]}"
    for name in PROXY_VARIABLES:
        if name.lower() == "no_proxy":
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, proxy)
    return proxy


#: The ``PINLAKE_``, ``DBT_`` and ``AIRFLOW_`` variables a test run takes from the shell
#: (tests/conftest.py drops the others): where ``make setup`` put the jars, the test JVMs' and
#: Spark sessions' options, and dbt's and Cosmos' telemetry switches.
KEPT_FROM_SHELL = frozenset(
    {
        "PINLAKE_JARS_DIR",
        "PINLAKE_JVM_OPTIONS",
        "PINLAKE_SPARK_CODEGEN",
        "PINLAKE_SPARK_ADAPTIVE",
        "PINLAKE_SPARK_PARTITIONS",
        "DBT_SEND_ANONYMOUS_USAGE_STATS",  # telemetry stays off (the Makefile's)
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY",
    }
)


#: The project's mart models (``models/marts/**/*.sql``), by name: the tests that check that
#: every mart is built, in the DAGs, exported and documented compare with these, so a new mart
#: changes no count in a test (a contributor's trial: three tests held "10").
MART_MODELS: tuple[str, ...] = tuple(
    sorted(p.stem for p in (REPO_ROOT / "models" / "marts").rglob("*.sql"))
)
#: The marts whose results the original project published (the reference data's
#: ``expected/<mart>.csv``, ``../shared/reference-data/aicore``), and the entity mart: a mart of
#: the project's own (a contributor's) has no published result to equal.
PUBLISHED_MARTS: tuple[str, ...] = (
    "rpt_country_with_most_followed_user",
    "rpt_median_follower_count_by_age_group",
    "rpt_median_follower_count_by_join_year",
    "rpt_median_follower_count_by_join_year_and_age_group",
    "rpt_most_followed_user_by_country",
    "rpt_most_popular_category_by_age_group",
    "rpt_most_popular_category_by_country",
    "rpt_most_popular_category_by_year",
    "rpt_users_joined_by_year",
)
ENTITY_MART = "pins"


#: ``pytest -n auto``'s most front workers (:func:`xdist_workers`): the workers that take the work
#: units longest first. The golden unit, one chain of about 260 s alone on 2 cores
#: (tests/conftest.py), bounds the run; the other modules' work (about 860 s of work units in a
#: full run on 2 cores) fits beside it on three more workers, and each further worker would only
#: start a Spark session of its own.
MAX_XDIST_WORKERS = 4
#: The back workers beside them (:func:`back_workers`): they take the work units from the back of
#: the queue, the short modules first, most of which wait on child processes, brokers and
#: timeouts rather than use a core. With the front workers alone the short modules ran last, two
#: at a time, on cores that were mostly idle: a full run on 2 cores left 192 of its 889 CPU-s
#: idle, 150 of them in its last 130 s. With two back workers they run beside the long chains
#: (16 CPU-s idle; pytest 392 s against 444 s, bench/README.md "Back workers").
BACK_XDIST_WORKERS = 2
#: The memory one worker slot asks for: a full run with four workers (on 2 cores) peaked at 11.9
#: GiB in use (the workers' Spark sessions, the golden run's DAG process, the scale-out stack
#: and the stream queries at once; bench/README.md).
XDIST_WORKER_MEMORY = 4 * 2**30
#: The cgroup v2 CPU limit of this process's group: ``"<quota> <period>"`` in microseconds, or
#: ``"max <period>"`` for none (the kernel's Documentation/admin-guide/cgroup-v2.rst, "cpu.max").
#: Container runtimes write it for a CPU limit (``docker run --cpus 2``).
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process can use: those of its CPU affinity (``os.sched_getaffinity``; else
    ``os.cpu_count()``), fewer under a cgroup v2 CPU quota (``cpu_max``, :data:`CGROUP_CPU_MAX`:
    the quota over the period, rounded down, at least 1). A missing or unreadable ``cpu_max``
    means no quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return max(1, min(cpus, int(quota) // int(period)))
    except (OSError, ValueError, ZeroDivisionError):  # no file, no quota ("max"), not cgroup v2
        return cpus


def xdist_workers(cpus: int, memory: int, override: str | None = None) -> int:
    """How many xdist workers ``pytest -n auto`` starts (pyproject.toml's ``addopts``; the hook
    ``pytest_xdist_auto_num_workers`` of tests/conftest.py): a front worker per CPU (``cpus``,
    :func:`usable_cpus`), at least 2 (the golden unit beside everything else), at most
    :data:`MAX_XDIST_WORKERS`, and :data:`BACK_XDIST_WORKERS` back workers (:func:`back_workers`),
    all within one worker per :data:`XDIST_WORKER_MEMORY` of ``memory`` (bytes, the machine's
    total) but never fewer than 2. 2 cores: 2 front and 2 back workers.

    ``override``: the value of ``PYTEST_XDIST_AUTO_NUM_WORKERS`` (pytest-xdist's own variable
    for ``-n auto``), which wins when set: a whole number ≥ 1, or :class:`ValueError` saying so
    (pytest-xdist itself would warn and ignore it)."""
    if override:
        if not override.strip().isdigit() or int(override) < 1:
            raise ValueError(
                f"PYTEST_XDIST_AUTO_NUM_WORKERS must be a whole number of workers >= 1, "
                f"not {override!r}"
            )
        return int(override)
    wanted = max(2, min(cpus, MAX_XDIST_WORKERS)) + BACK_XDIST_WORKERS
    return max(2, min(wanted, memory // XDIST_WORKER_MEMORY))


def back_workers(workers: int) -> int:
    """How many of ``workers`` xdist workers (``-n``, whatever chose it) are back workers: the
    last ones (``gw<N-k>``…), which take the work units from the back of the queue, shortest
    first, while the others take them from the front, longest first (tests/conftest.py's
    scheduler). The first two are always front workers (the golden unit beside the longest
    other chains): ``-n 2`` runs as before, ``-n 3`` has one back worker, four and more have
    :data:`BACK_XDIST_WORKERS`."""
    return min(BACK_XDIST_WORKERS, max(0, workers - 2))


#: The modules of the tests on a worker's broker and API (``kafka_services``,
#: tests/integration/conftest.py): one xdist work unit (``"broker"``), so that one worker starts
#: one broker for all of them and stops it after the last (one for each worker that reached such
#: a module idled to the end of the run: two brokers and APIs, about 30 CPU-s).
BROKER_MODULES = (
    "tests/integration/test_services_status.py",
    "tests/integration/test_ingestion_faults.py",
    "tests/integration/test_ingestion_fuzz.py",
    "tests/integration/test_ingestion_kafka_rest.py",
    "tests/integration/test_ingestion_kinesis.py",
    "tests/integration/test_ingestion_kinesis_sdk.py",
    "tests/integration/test_ingestion_producer.py",
    "tests/integration/test_ingestion_rest_consumer.py",
    "tests/integration/test_ingestion_sink.py",
)


class TwoEndedScopeScheduling(LoadScopeScheduling):
    """pytest-xdist's ``loadscope`` scheduling (a test module per work unit, handed out in
    collection order), with two changes: the modules of ``golden`` are one work unit, named
    ``"golden"``, and so are the modules of each entry of ``units`` (``{name: modules}``: one
    work unit of that name; xdist's own ``loadgroup`` marks do not reach its scheduler under
    pytest 9: it renames ``item._nodeid``, now ``_id``); and the last :func:`back_workers` of
    the workers (``gw<N-k>``…, k of N) take the units from the end of the queue, the others
    from its front, so that the short modules run beside the long chains instead of after them,
    two at a time on mostly idle cores (:data:`BACK_XDIST_WORKERS`).

    ``config``: the controller's (its ``--tx``, as ``-n`` sets it, gives N); ``log``: xdist's."""

    def __init__(
        self,
        config: pytest.Config,
        log: Producer | None = None,
        golden: Iterable[str] = (),
        units: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        super().__init__(config, log)
        named = {"golden": golden, **(units or {})}
        self.unit_of = {module: name for name, modules in named.items() for module in modules}
        self.front = self.numnodes - back_workers(self.numnodes)

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return self.unit_of.get(module, module)

    def _assign_work_unit(self, node: WorkerController) -> None:
        """xdist's, except that a back worker takes the queue's last unit."""
        back = int(node.gateway.id.removeprefix("gw")) >= self.front
        scope, work_unit = self.workqueue.popitem(last=back)
        self.assigned_work.setdefault(node, {})[scope] = work_unit
        collection = self.registered_collections[node]
        node.send_runtest_some(
            [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
        )


def isolated_settings(home: Path) -> Settings:
    """Settings for a throwaway home with the broker and the API on free loopback ports."""
    kafka_port, controller_port, api_port = free_ports(3)
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{kafka_port}",
            controller_port=controller_port,
            external=False,
            partitions=1,
        ),
        api=ApiSettings(host="127.0.0.1", port=api_port, api_key=None, delivery_timeout_ms=30_000),
    )


def reference_draws(aicore_dir: Path) -> list[dict]:
    """The original run's events: the logged posting sequence, then every row once."""
    return [{"sequence_file": aicore_dir / "posting_sequence.csv"}, {"sequential": True}]


def delta_versions(home: Path, schema: str) -> dict[str, int]:
    """``{table: latest Delta version}`` of a schema in the warehouse (from the logs, no Spark)."""
    return {
        table.name: max(int(p.stem) for p in (table / "_delta_log").glob("*.json"))
        for table in sorted((home / "warehouse" / f"{schema}.db").iterdir())
        if (table / "_delta_log").is_dir()
    }


def pretend_ended(run_dir: Path, name: str) -> None:
    """Write ``name``'s pid file and record naming a process that has exited (killed, say)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = int(done.stdout)
    from pinlake.services import process

    process.record_config(run_dir, name, dead, {"port": 1})
    process.pid_file(run_dir, name).write_text(f"{dead}\n")


def table_rows(shown: str) -> dict[str, list[str]]:
    """The body rows of the rich tables printed in ``shown`` (lines that start with ``│``), by
    their first cell: ``[first cell, second, …]``. A cell that wrapped inside its column (a
    console narrower than the table) is joined back with a blank from the lines below it, whose
    first cell is empty; a word folded inside it then reads with a blank in it too. (A first
    cell that wraps starts a row of its own: keep the first column's values short.)"""
    rows: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in shown.splitlines():
        if not line.startswith("│"):
            current = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0] or current is None:
            current = rows[cells[0]] = cells
            continue
        for i, cell in enumerate(cells[: len(current)]):
            if cell:
                current[i] = f"{current[i]} {cell}".strip()
    return rows


@contextlib.contextmanager
def listening(port: int = 0) -> Iterator[int]:
    """A socket listening on 127.0.0.1:``port`` (0: a free port) while the block runs, as a
    service that holds the port would; yields the port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        yield busy.getsockname()[1]


def _given_port(port: int) -> int:
    """The local port the kernel gave a connection to 127.0.0.1:``port``, where something is
    bound but nothing listens (refused at once)."""
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"127.0.0.1:{port} answered"
        return probe.getsockname()[1]


def _aim(tries: int) -> tuple[int, list[socket.socket]]:
    """A port P and the sockets holding P - 14 … P - 2 bound, such that the next connection to
    127.0.0.1:P is given P (:func:`port_given_away`). Raises AssertionError when no port of the
    range gets there within ``tries`` connections each."""
    low, high = ephemeral_port_range()
    rng = random.SystemRandom()
    for _ in range(10):
        port = low + 2 * rng.randrange(16, (high - low) // 2 - 16)  # the parity of low
        held: list[socket.socket] = []
        try:
            for bound in (port, *range(port - 14, port, 2)):  # P itself while searching
                held.append(socket.socket())
                held[-1].bind(("127.0.0.1", bound))
        except OSError:  # one of them is in use: another port
            for sock in held:
                sock.close()
            continue
        for _ in range(tries):
            if _given_port(port) == port - 16:
                held.pop(0).close()  # P: the next connection's to take
                return port, held
        for sock in held:
            sock.close()
    raise AssertionError(f"no port of {low}-{high} was aimed at in {tries} tries each")


@contextlib.contextmanager
def port_given_away(tries: int = 200_000) -> Iterator[int]:
    """A loopback port P inside the kernel's ephemeral range that the kernel will give the next
    connection to 127.0.0.1:P as that connection's own local port, while the block runs: a TCP
    self-connection ("simultaneous open"), which then holds P, and once closed leaves it in
    TIME-WAIT for a minute, so that a server that has not bound P yet cannot. The worst case of
    what a client meets that connects to a service's port before the service listens (a new
    user's ``services up`` with Kafka on 39092 met it by chance).

    How Linux picks the local port of a connection (``__inet_hash_connect``,
    net/ipv4/inet_hashtables.c; the random step since 5.18): for one destination, a port 2 to
    16 past the one it gave the last connection there (ports of the range's lower bound's
    parity first), skipping ports anything has bound. So connections to P, refused while P is
    bound and nothing listens, walk on until one is given P - 16; then P is released, and
    P - 14 … P - 2 stay bound while the block runs: the next connection gets P whatever the
    step. That takes about 15,000 connections (a few tenths of a second), all to P: another
    test's port given away meanwhile (an xdist worker's) is never connected to. Before the real
    port, a decoy aimed at the same way must be given to its next connection, else the test
    fails saying so (a kernel that picks ports otherwise: the test could prove nothing)."""
    import pytest

    decoy, held = _aim(tries)
    try:
        with socket.socket() as probe:
            probe.connect_ex(("127.0.0.1", decoy))
            given = probe.getsockname()[1]
    finally:
        for sock in held:
            sock.close()
    if given != decoy:  # a failure, not a skip: the test would prove nothing (never silently)
        pytest.fail(
            f"this kernel gave a connection to port {decoy} port {given}, not {decoy}: it picks "
            "local ports otherwise than Linux's __inet_hash_connect, and no port can be aimed at",
            pytrace=False,
        )
    port, held = _aim(tries)
    try:
        yield port
    finally:
        for sock in held:
            sock.close()


def render_profiles(env: dict[str, str]) -> dict:
    """profiles.yml as dbt renders it for a process whose environment is ``env``.

    dbt's own :class:`dbt.config.renderer.ProfileRenderer` (native Jinja rendering: a value that
    renders to ``1`` becomes the int 1, which dbt-spark's credentials then refuse), not plain
    Jinja, so a test sees exactly the types dbt sees. Returns the whole document,
    ``{"pinlake": {"target": ..., "outputs": {...}}}``.
    """
    import contextvars

    import yaml
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    from pinlake.config import REPO_ROOT

    def render() -> dict:
        set_invocation_context(dict(env))
        raw = yaml.safe_load((REPO_ROOT / "profiles.yml").read_text())
        return ProfileRenderer({}).render_data(raw)

    # in a context of its own: dbt's invocation environment of this process stays as it was
    return contextvars.copy_context().run(render)


def command_lines(pid: int) -> list[str]:
    """The command lines (arguments joined by spaces) of ``pid`` and its descendants; ``[]`` once
    ``pid`` is gone. A zombie has no command line left and is left out, as is a process that
    ends while it is read: a JVM that a launcher script ``exec``'d in its place (spark-submit's
    ``bin/spark-class``) inherits the script's children, and nobody reaps them."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    lines: list[str] = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # psutil.ZombieProcess is one
            lines.append(" ".join(proc.cmdline()))
    return lines


def cli_exit_code(monkeypatch: object, home: Path, *args: str) -> int | str | None:
    """``pinlake --home HOME ARGS`` run in this process, its settings read anew (the cached
    ones cleared before and after; ``PINLAKE_HOME``, which ``--home`` sets, restored by
    ``monkeypatch``): its exit code (``main`` always ends with one)."""
    from pinlake.cli import get_settings, main

    monkeypatch.setenv("PINLAKE_HOME", str(home))  # type: ignore[attr-defined]
    get_settings.cache_clear()
    try:
        main(["--home", str(home), *args])
    except SystemExit as exc:
        return exc.code
    finally:
        get_settings.cache_clear()
    raise AssertionError("the command returned without an exit code")


def foreground_job(script: str) -> subprocess.Popen:
    """``python -c script`` with its output piped (text), in its own process group, as a
    terminal's foreground job: a Ctrl-C (``os.killpg(job.pid, SIGINT)``) reaches it and its
    children, a ``kill`` (``job.send_signal``) it alone."""
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
