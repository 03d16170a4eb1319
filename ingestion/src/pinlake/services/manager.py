"""``pinlake services up|down|status``: the local Kafka brokers, the ingestion API, the
continuous stream query (the stream path's Spark Structured Streaming job) and, when asked for,
the MariaDB source database (``PINLAKE_SOURCE_DB=mariadb``), the S3-compatible server, the shared
metastore, the Spark Thrift server and the standalone Spark cluster.

Each service records the configuration it was started with beside its pid file
(:mod:`.process`); ``up`` reuses a running service only when that record equals what the current
settings ask for, and otherwise fails at once, before starting anything
(:func:`check_configuration`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from rich.markup import escape

from pinlake import kafka, run_folder
from pinlake.config import Settings
from pinlake.console import PINLAKE, console, counted, rate_text, table
from pinlake.errors import TERMINATED, PinlakeError, UsageError
from pinlake.services import (
    api_process,
    kafka_broker,
    mariadb,
    process,
    s3_server,
    stream_process,
    thrift_server,
)
from pinlake.services import metastore as metastore_server
from pinlake.services import spark_cluster as standalone
from pinlake.services.request import BROKER_AND_API, SERVICES_UP, UpRequest

#: Every supervised service, in start order (``down`` stops them in reverse).
SERVICES: tuple[str, ...] = (
    s3_server.NAME,
    mariadb.NAME,
    metastore_server.NAME,
    kafka_broker.NAME,
    api_process.NAME,
    stream_process.NAME,
    *standalone.SERVICE_NAMES,
    thrift_server.NAME,
)


def _kafka_node_ports(settings: Settings, node: kafka_broker.Node) -> list[tuple[str, int, str]]:
    """``(host, port, the setting that moves it)`` of ``node``'s listener and controller ports.
    With several nodes the text says which node's port it is and how the setting gives it
    (README: node n listens on the n-th bootstrap server, or on the one given + 2(n − 1); its
    controller port is PINLAKE_KAFKA__CONTROLLER_PORT + 2(n − 1))."""
    listener, controller = "PINLAKE_KAFKA__BOOTSTRAP_SERVERS", "PINLAKE_KAFKA__CONTROLLER_PORT"
    if settings.kafka.brokers > 1:
        # node 1: the port itself, not "+ 0" (helper-112)
        step = f" + {2 * (node.id - 1)}" if node.id > 1 else ""
        listener += f": Kafka node {node.id}'s listener is its entry there, or the one entry{step}"
        controller += f": Kafka node {node.id}'s controller port is that port{step}"
    return [(node.host, node.port, listener), (node.host, node.controller_port, controller)]


def planned_ports(
    settings: Settings, request: UpRequest = BROKER_AND_API, running: bool = False
) -> list[tuple[str, int, str]]:
    """``(host, port, the setting that moves it)`` of every port of every service ``request``
    asks for that does not run now (every one with ``running``): S3, MariaDB (the settings'
    source), the shared metastore, each Kafka node's listener and controller, the API, the
    Thrift server and its UI, the cluster's daemons. Pure but for the pid files' reads."""
    todo = (lambda pid: True) if running else (lambda pid: pid is None)
    planned: list[tuple[str, int, str]] = []
    if request.s3 and todo(s3_server.pid(settings)):
        planned.append(("127.0.0.1", settings.s3.port, "PINLAKE_S3__PORT"))
    if settings.source_db == "mariadb" and todo(mariadb.pid(settings)):
        planned.append(("127.0.0.1", settings.mariadb.port, "PINLAKE_MARIADB__PORT"))
    if request.shared_metastore and todo(metastore_server.pid(settings)):
        planned.append(("127.0.0.1", settings.metastore_port, "PINLAKE_METASTORE_PORT"))
    if request.ingestion and not settings.kafka.external:
        for node in kafka_broker.nodes(settings):
            if todo(kafka_broker.node_pid(settings, node)):
                planned += _kafka_node_ports(settings, node)
    if request.ingestion and todo(api_process.pid(settings)):
        planned.append((settings.api.host, settings.api.port, "PINLAKE_API__PORT"))
    if request.thrift and todo(thrift_server.pid(settings)):
        planned += [
            ("127.0.0.1", settings.thrift_port, "PINLAKE_THRIFT_PORT"),
            ("127.0.0.1", settings.thrift_ui_port, "PINLAKE_THRIFT_UI_PORT"),
        ]
    if request.spark_cluster:
        planned += [
            ("127.0.0.1", port, chooser)
            for port, chooser in standalone.planned_ports(settings, running=running)
        ]
    return planned


def shared_port(ports: list[tuple[str, int, str]]) -> str | None:
    """The line for the first port that two settings of ``ports`` (``(host, port, setting)``)
    both give, or None: the second service would find it taken only once the first runs
    (helper-111: ``make airflow`` with ``AIRFLOW__API__PORT`` equal to ``PINLAKE_API__PORT``
    started, and named that port for the ingestion API). Pure."""
    seen: dict[int, str] = {}
    for _host, port, variable in ports:
        if port in seen:
            # each setting's name, and after the sentence how it gives the port (a cluster's
            # node or worker: "…: Kafka node 2's listener is …", "…; worker 2's web UI is …")
            (first, note1), (second, note2) = map(_setting_and_note, (seen[port], variable))
            how = "; ".join(note for note in (note1, note2) if note)
            return (
                f"{first} and {second} both give port {port}"
                + (f" ({how})" if how else "")
                + ": each service needs a port of its own; choose another for one of them"
            )
        seen[port] = variable
    return None


def _setting_and_note(variable: str) -> tuple[str, str]:
    """``("PINLAKE_…", how it gives the port)`` of a :func:`planned_ports` setting text, whose
    name may be followed by ``: …`` or ``; …`` (a node's or a worker's port)."""
    name = variable.split(":", 1)[0].split(";", 1)[0]
    return name, variable[len(name) :].lstrip(":; ")


def check_ports(settings: Settings, request: UpRequest = BROKER_AND_API) -> str | None:
    """Before ``up`` starts anything: no two services it would start share a port
    (:func:`shared_port`), and every port of every service it would start (one not running
    now: :func:`planned_ports`) is free. Raises :class:`PinlakeError` naming the port and the
    settings that move it, so a taken port never leaves other services half-started.

    Returns a warning naming those ports that lie in the kernel's ephemeral range (any outgoing
    connection may hold one when its service starts; :func:`.process.ephemeral_warning` says
    why it is not refused), None when none does."""
    planned = planned_ports(settings, request)
    if shared := shared_port(planned):
        raise PinlakeError(shared)
    for host, port, variable in planned:
        process.refuse_busy_port(port, variable, host)
    return process.ephemeral_warning((port, variable) for _host, port, variable in planned)


def wanted_configs(
    settings: Settings, request: UpRequest = BROKER_AND_API
) -> dict[str, dict[str, object]]:
    """The configuration each service ``up`` would run should have, by service name: the local
    S3 server with ``request.s3``, MariaDB when ``settings.source_db`` is ``mariadb``, with
    ``request.ingestion`` the broker unless Kafka is external and the API, the stream query with
    ``request.stream``, the shared metastore, the cluster's master and workers and the Thrift
    server when asked for."""
    wanted: dict[str, dict[str, object]] = {}
    if request.s3:
        wanted[s3_server.NAME] = s3_server.config(settings)
    if settings.source_db == "mariadb":
        wanted[mariadb.NAME] = mariadb.config(settings)
    if request.ingestion:
        if not settings.kafka.external:
            wanted.update(kafka_broker.wanted_configs(settings))  # one entry per node
        wanted[api_process.NAME] = api_process.config(settings)
    if request.stream:
        wanted[stream_process.NAME] = stream_process.config(settings, request.trigger_seconds)
    if request.shared_metastore:  # the Thrift server needs the shared metastore
        wanted[metastore_server.NAME] = metastore_server.config(settings)
    if request.spark_cluster:  # the master and each worker
        wanted.update(standalone.wanted_configs(settings))
    if request.thrift:  # with the cluster, that is its master
        wanted[thrift_server.NAME] = thrift_server.config(
            standalone.as_master(settings) if request.spark_cluster else settings
        )
    return wanted


def check_configuration(settings: Settings, request: UpRequest = BROKER_AND_API) -> None:
    """Fail at once when a service of this home runs with another configuration than the one
    :func:`wanted_configs` gives (other ports, broker, stage, trigger, …, or an unknown one).

    Raises :class:`PinlakeError`, one line: each differing service with its pid and the values
    it runs with and those wanted, the other services that run, and the command that stops them
    (``pinlake --home <home> services down``). Starts and stops nothing.
    """
    wanted = wanted_configs(settings, request)
    differ = [
        found
        for name, config in wanted.items()
        if (found := process.mismatch(settings.run_dir, name, config)) is not None
    ]
    if not differ:
        return
    names = {found.name for found in differ}
    # every one that runs: a cluster's other Kafka nodes and its workers too
    others = [
        found
        for found in process.running_all(settings.run_dir, SERVICES)
        if found.name not in names
    ]
    message = f"services of {settings.home} already run with another configuration: " + "; ".join(
        process.describe_difference(found, wanted[found.name]) for found in differ
    )
    if others:
        message += "; also running: " + ", ".join(f"{o.name} (pid {o.pid})" for o in others)
    if again := _as_they_run(settings, request):
        message += f"; to use them as they run, ask for that: `{again}`; or stop them first"
    else:
        message += "; stop them first"
    message += f": `{PINLAKE.at(settings.home)} services down`"
    raise PinlakeError(message)


def _as_they_run(settings: Settings, request: UpRequest) -> str | None:
    """The ``services up`` command (:func:`up_command`) that asks, in this shell, for the
    services of this home as they run, when its options alone make the difference: the Kafka
    nodes' count (``--kafka-brokers``), the cluster's workers (``--workers``) and the stream
    query's trigger (``--trigger-seconds``), which a shell without the home's exports does not
    say (helper-78: a pasted ``services up --thrift`` on a home of three brokers was refused,
    and the only way out named was ``services down``, which loses the in-memory S3 bucket).
    Checked against the configuration records; None when another difference remains (ports,
    addresses, the topics' prefix: settings of the shell, not options)."""
    shell = settings
    nodes = kafka_broker.running_names(settings) if not settings.kafka.external else []
    try:
        if nodes:
            settings = kafka_broker.with_brokers(settings, len(nodes))
        running = running_services(settings)
        workers = [n for n in standalone.SERVICE_NAMES if n != standalone.MASTER and n in running]
        if request.spark_cluster and workers:
            settings = standalone.with_workers(settings, len(workers))
    except (PinlakeError, ValueError):  # a list of servers that names another count
        return None
    stream = process.running(settings.run_dir, stream_process.NAME)
    if request.stream and stream is not None and stream.config:
        trigger = stream.config.get("trigger_seconds", request.trigger_seconds)
        request = replace(request, trigger_seconds=float(trigger))
    wanted = wanted_configs(settings, request)
    if any(process.mismatch(settings.run_dir, name, config) for name, config in wanted.items()):
        return None
    return up_command(settings, request, shell)


@contextmanager
def _stopped_unless_ready(started: bool, stop: Callable[[], object]) -> Iterator[None]:
    """Around a readiness wait: a service this call started (``started``) that fails it (exits,
    or is not ready in time: :class:`PinlakeError`) is stopped again before the error goes on,
    so a failed ``services up`` leaves nothing half-started behind (the error names its log)."""
    try:
        yield
    except PinlakeError:
        if started:
            stop()
        raise


def _ensure_running(
    service: ModuleType,
    settings: Settings,
    announce: Callable[[int], str],
    say: Callable[[str], object],
    timeout: float | None = None,
    before_start: Callable[[], object] = lambda: None,
) -> int:
    """The one way ``up`` brings a supervised service up. ``service``: its module in this
    package (``pid``, ``start``, ``stop`` and ``wait_healthy(settings, timeout, pid_)`` of
    :mod:`.process` records). A service whose pid file names a live process is reused; else
    ``before_start`` runs (port, install and schema checks: they raise), the service starts and
    ``say`` gets ``announce(pid)``. Then it waits until the service is healthy (``timeout``
    seconds; None: the module's default); one this call started that does not get there is
    stopped again (:func:`_stopped_unless_ready`). Returns its pid; raises
    :class:`PinlakeError` (the message names its log)."""
    pid = service.pid(settings)
    started = pid is None
    if started:
        before_start()
        pid = service.start(settings)
        say(announce(pid))
    wait = {} if timeout is None else {"timeout": timeout}
    with _stopped_unless_ready(started, lambda: service.stop(settings)):
        service.wait_healthy(settings, pid_=pid, **wait)
    return pid


def _low_record_limits_warning(settings: Settings, low: dict[str, int]) -> str:
    """The warning of ``services up`` on an external cluster whose topics take smaller records
    than the API (``low``: topic → its ``max.message.bytes``, :func:`kafka.low_record_limits`):
    the API would take such a record and the cluster refuse it (REST 413, Kinesis 400
    ``ValidationException``), so the user hears of it before a producer does."""
    topics = ", ".join(f"{t} ({n:,} bytes)" for t, n in sorted(low.items()))
    most = settings.api.max_record_bytes
    return (
        f"topics {topics} take smaller records than the API (up to {most:,} bytes, with"
        f" Kafka's {kafka.RECORD_OVERHEAD_BYTES:,} around it): the cluster refuses a record"
        f" between the two sizes that the API took, REST with 413 and Kinesis with 400"
        f" ValidationException; {kafka.record_limit_hint(settings)}"
    )


def start_all(settings: Settings, request: UpRequest = BROKER_AND_API, quiet: bool = False) -> None:
    """Start (or reuse) what ``request`` asks for (:class:`UpRequest`; by default the broker(s)
    and the API alone): the shared metastore (:func:`start_metastore`), the local S3 server
    (:func:`start_s3`), MariaDB (``settings.source_db == "mariadb"``), with ``request.ingestion``
    the broker and the API, waiting until healthy, and the topics; then the Spark standalone
    master and workers (:mod:`.spark_cluster`); then the continuous stream query, waiting until
    it runs (on the cluster when ``PINLAKE_SPARK_MASTER`` names it); then the Thrift server,
    whose master the cluster becomes.

    Raises :class:`~pinlake.errors.UsageError` for a request that cannot be served
    (:meth:`UpRequest.problem`), and :class:`PinlakeError` at once, before starting anything,
    when a running service was started with another configuration (:func:`check_configuration`)
    or a port of a service to start is taken (:func:`check_ports`); a port to start inside the
    kernel's ephemeral range is a warning (unless ``quiet``), as is an S3 bucket whose endpoint
    on this machine nothing serves (:func:`.s3_server.unserved_endpoint`).
    """
    check_request(settings, request)
    check_configuration(settings, request)
    if request.ingestion and not settings.kafka.external:
        kafka_broker.check_storage(settings)  # formatted for another broker count: refuse
    # taken: refuse; in the ephemeral range: warn
    ephemeral = check_ports(settings, request)  # the stream query has no port
    settings.ensure_dirs()
    say = (lambda _m: None) if quiet else console.print
    if ephemeral:
        say(f"[yellow]warning:[/] {escape(ephemeral)}")
    before = running_services(settings)
    try:
        _start_requested(settings, request, say)
    except PinlakeError as exc:
        # what this call started keeps running: said (helper-113: the stream query failed, exit
        # 1, and nothing said that the broker and the API it had started ran on)
        now = running_services(settings)
        started = sorted(now - before)
        if not started:
            raise
        names = ", ".join(_row_name(name, run_folder.kafka_nodes(now)) for name in started)
        failed = PinlakeError(
            f"{exc}; this services up started {names}, which keep running (the same `services "
            f"up`, once the cause is fixed, reuses {'them' if len(started) > 1 else 'it'}; "
            f"`{PINLAKE.at(settings.home)} services down` stops the home's services)"
        )
        failed.exit_code = exc.exit_code
        raise failed from exc


def _start_requested(settings: Settings, request: UpRequest, say: Callable[[str], object]) -> None:
    """:func:`start_all`'s starts, in its order, once its checks have passed."""
    if request.shared_metastore:  # first: the stream query's table registration uses it
        start_metastore(settings, say)
    if request.s3:
        start_s3(settings, say)
    # after the server's start: an S3 bucket whose endpoint on this machine nothing serves
    # the fix it names: this call again, with --s3
    again = up_command(settings, replace(request, s3=True))
    if unserved := s3_server.unserved_endpoint(settings, os.environ, again):
        say(f"[yellow]warning:[/] {escape(unserved)}")
    if settings.source_db == "mariadb":
        start_mariadb(settings, say)
    if request.ingestion:
        _start_ingestion(settings, say)
    # before the stream query, which runs on it when PINLAKE_SPARK_MASTER names it (helper-111:
    # `make airflow`'s line for such a worker failed, its query started before the cluster)
    if request.spark_cluster:
        standalone.start(settings, say)
    if request.stream:
        spid = stream_process.pid(settings)
        started = spid is None
        if started:
            spid = stream_process.start(settings, trigger_seconds=request.trigger_seconds)
            say(f"starting the stream query (Spark Structured Streaming, pid {spid})")
        else:  # this up's query now (`services status` counts it)
            stream_process.reused(settings, spid)
        with _stopped_unless_ready(started, lambda: stream_process.stop(settings)):
            stream_process.wait_running(settings, timeout=300, pid_=spid)
    if request.thrift:  # after the cluster: it becomes its master
        start_thrift(settings, say)


def check_request(settings: Settings, request: UpRequest) -> None:
    """Raise :class:`~pinlake.errors.UsageError` (exit 2), one line, for a request that cannot be
    served (:meth:`UpRequest.problem`); starts and stops nothing."""
    if problem := request.problem(settings.source_db):
        raise UsageError(problem)


def _start_ingestion(settings: Settings, say: Callable[[str], object]) -> None:
    """:func:`start_all`'s ingestion: the broker(s) (or an external cluster, waited for),
    pinlake's topics created, every partition in sync (local nodes), then the ingestion API."""
    if settings.api.host not in ("127.0.0.1", "localhost", "::1") and settings.api.api_key is None:
        say(f"[yellow]warning:[/] API bound to {settings.api.host} without an API key")
    if not settings.kafka.external:
        start_kafka(settings, say)
    else:
        kafka_broker.wait_healthy(settings, timeout=30)
    created = kafka.create_topics(settings)
    if created:
        say(f"created topics: {', '.join(created)}")
    if settings.kafka.external:  # its topics are its owner's: pinlake does not raise a limit
        existing = [t for t in kafka.all_topics(settings) if t not in created]
        if existing and (low := kafka.low_record_limits(kafka.admin(settings), settings, existing)):
            say(f"[yellow]warning:[/] {escape(_low_record_limits_warning(settings, low))}")
    if not settings.kafka.external:  # ready: every partition has all its replicas in sync
        kafka.wait_in_sync(settings, timeout=60)
    _ensure_running(
        api_process,
        settings,
        lambda apid: f"starting the ingestion API on {settings.api.url} (pid {apid})",
        say,
        timeout=45,
        before_start=lambda: process.refuse_busy_port(
            settings.api.port, "PINLAKE_API__PORT", settings.api.host
        ),
    )


def start_metastore(settings: Settings, say: Callable[[str], object] = console.print) -> int:
    """Start (or reuse) the shared Hive metastore (:mod:`.metastore`: Derby network server);
    before a first start, create or check its schema explicitly (:func:`.metastore.prepare`).
    Returns its pid. Raises :class:`PinlakeError` when its port is taken, an embedded Spark
    session holds the database, its schema has another version, or it does not start."""

    def prepare() -> None:
        process.refuse_busy_port(settings.metastore_port, "PINLAKE_METASTORE_PORT")
        state = metastore_server.prepare(settings)
        if state != "ready":
            say(
                f"{state} the Hive metastore schema {metastore_server.HIVE_SCHEMA_VERSION} in "
                f"{metastore_server.database_dir(settings)}"
            )

    return _ensure_running(
        metastore_server,
        settings,
        lambda mpid: (
            f"starting the shared metastore on {run_folder.metastore_url(settings)} (pid {mpid})"
        ),
        say,
        timeout=60,
        before_start=prepare,
    )


def start_thrift(settings: Settings, say: Callable[[str], object] = console.print) -> int:
    """Start (or reuse) the Spark Thrift server (:mod:`.thrift_server`) on the shared metastore
    (started first if needed) and wait until a HiveServer2 session answers; returns its pid."""
    from pinlake.spark import spark_master

    start_metastore(settings, say)
    return _ensure_running(
        thrift_server,
        settings,
        lambda tpid: (
            f"starting the Spark Thrift server on {thrift_server.jdbc_url(settings)} "
            f"(master {spark_master(settings)}, pid {tpid}; takes a minute or two)"
        ),
        say,
    )


def start_kafka(settings: Settings, say: Callable[[str], object] = console.print) -> None:
    """Start (or reuse) the ``settings.kafka.brokers`` local KRaft nodes and wait until every
    one is registered. Raises :class:`PinlakeError` when the storage was formatted for another
    node count, a port of a node to start is taken, or a node exits or does not register."""
    stopped = [
        n for n in kafka_broker.nodes(settings) if kafka_broker.node_pid(settings, n) is None
    ]
    for node in stopped:
        for host, port, variable in _kafka_node_ports(settings, node):
            process.refuse_busy_port(port, variable, host)
    for node, npid in kafka_broker.start_nodes(settings).items():
        if settings.kafka.brokers == 1:
            say(f"starting Kafka (KRaft) on {settings.kafka.bootstrap_servers} (pid {npid})")
        else:
            say(f"starting Kafka (KRaft) node {node.id} on {node.address} (pid {npid})")
    timeout = 90 + 30 * (settings.kafka.brokers - 1)

    def stop_started() -> None:  # at once (KRaft stops need a quorum: kafka_broker.stop)
        kafka_broker.stop(settings, names=[node.name for node in stopped])

    with _stopped_unless_ready(bool(stopped), stop_started):
        kafka_broker.wait_healthy(settings, timeout=timeout, pid_=kafka_broker.pid(settings))


def start_s3(settings: Settings, say: Callable[[str], object] = console.print) -> int:
    """Start (or reuse) the local S3-compatible server (moto, in memory) and wait until it
    answers; when ``PINLAKE_BUCKET`` is ``s3://<bucket>/…``, create that bucket on it. Returns
    its pid. Raises :class:`PinlakeError` when its port is taken or it does not start."""
    spid = _ensure_running(
        s3_server,
        settings,
        lambda spid: (
            f"starting the S3 server (moto, in memory) on {s3_server.url(settings)} (pid {spid})"
        ),
        say,
        timeout=30,
        before_start=lambda: process.refuse_busy_port(settings.s3.port, "PINLAKE_S3__PORT"),
    )
    from pinlake.bucket.layout import S3Path

    bucket = settings.bucket_dir
    if isinstance(bucket, S3Path) and s3_server.create_bucket(settings, bucket.bucket):
        say(f"created bucket s3://{bucket.bucket} on {s3_server.url(settings)}")
    return spid


def start_mariadb(settings: Settings, say: Callable[[str], object] = console.print) -> int:
    """Start (or reuse) the MariaDB source database and wait until it answers; returns its pid.
    Raises :class:`PinlakeError` when it is not installed, its port is taken or it does not
    start (the message names the install command or its error log)."""

    def check() -> None:
        mariadb.binaries()  # not installed: say so before anything else
        process.refuse_busy_port(settings.mariadb.port, "PINLAKE_MARIADB__PORT")

    return _ensure_running(
        mariadb,
        settings,
        lambda mpid: f"starting MariaDB on 127.0.0.1:{settings.mariadb.port} (pid {mpid})",
        say,
        timeout=60,
        before_start=check,
    )


def running_services(settings: Settings) -> set[str]:
    """Service names of this home that run now (:data:`SERVICES`, every Kafka node and every
    cluster worker: each pid file of the run folder naming a live process)."""
    return {found.name for found in process.running_all(settings.run_dir)}


def stop_all(settings: Settings, quiet: bool = False, only: set[str] | None = None) -> None:
    """Stop every service of this home that runs, whatever the settings select (``only``: just
    those service names, :func:`running_services`): first the stream query (gracefully: it
    finishes its micro-batch, which reads Kafka and writes to the metastore and the warehouse),
    then four independent chains at once, each in its order: the Thrift server, the Spark
    cluster (workers, then master) and the shared metastore; the ingestion API and the local
    broker(s); MariaDB; the S3 server. One line per stopped service, in that order (unless
    ``quiet``).

    A Ctrl-C or SIGTERM while it stops (a second one, when a first asked for this clean-up)
    hurries it instead of abandoning it: the services stopped before it have their lines, what
    is left of them is killed at once (:func:`_kill_left`), then KeyboardInterrupt goes on. A
    second Ctrl-C during the stream query's graceful stop ended ``services up``'s clean-up there
    and left nine services running (helper-78)."""
    say = (lambda _m: None) if quiet else console.print
    try:
        _stop_in_order(settings, say, only)
    except KeyboardInterrupt:
        _kill_left(settings, say, only)
        raise
    if only is None:  # every service stopped: none is shown as ended on its own any more
        for record in settings.run_dir.glob("*.ended.json"):
            process.forget_ended(settings.run_dir, record.name.removesuffix(".ended.json"))


def _kill_left(settings: Settings, say: Callable[[str], object], only: set[str] | None) -> None:
    """Kill at once (SIGKILL, :func:`.process.stop` with no grace) every service of this home
    that still runs (``only``: of those names), with a line naming them; Ctrl-C is ignored
    meanwhile (a few seconds at most), so that nothing is left running."""
    running = running_services(settings)
    left = sorted(running if only is None else running & only)
    if not left:
        return
    say(f"stopping at once: killing {', '.join(left)}")
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        for name in left:
            process.stop(settings.run_dir, name, timeout=0)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    say(f"killed {', '.join(left)}")


def _stop_in_order(settings: Settings, say: Callable[[str], object], only: set[str] | None) -> None:
    """:func:`stop_all`'s graceful stop: the stream query, then the four chains at once."""

    def wanted(*names: str) -> bool:
        return only is None or bool(only.intersection(names))

    kafka_nodes = {kafka_broker.NAME, *(n for n in only or () if n.startswith("kafka-"))}
    if wanted(stream_process.NAME) and stream_process.stop(settings):
        say("stopped the stream query")
    # (function, what is said when it stopped something): the chains run at once
    chains: list[list[tuple[Callable[[], bool], str]]] = [
        [
            (
                lambda: wanted(thrift_server.NAME) and thrift_server.stop(settings),
                "stopped the Spark Thrift server",
            ),
            (
                lambda: wanted(*standalone.SERVICE_NAMES) and standalone.stop(settings),
                "stopped the Spark cluster (workers, then master)",
            ),
            (
                lambda: wanted(metastore_server.NAME) and metastore_server.stop(settings),
                "stopped the shared metastore",
            ),
        ],
        [
            (
                lambda: wanted(api_process.NAME) and api_process.stop(settings),
                "stopped the ingestion API",
            ),
            (
                lambda: (
                    not settings.kafka.external
                    and wanted(*kafka_nodes)
                    and kafka_broker.stop(
                        settings, timeout=45, names=None if only is None else only & kafka_nodes
                    )
                ),
                "stopped Kafka",
            ),
        ],
        [(lambda: wanted(mariadb.NAME) and mariadb.stop(settings), "stopped MariaDB")],
        [
            (
                lambda: wanted(s3_server.NAME) and s3_server.stop(settings),
                "stopped the S3 server (its buckets are gone: moto keeps them in memory)",
            )
        ],
    ]
    # what each chain's stops returned so far: a Ctrl-C while they run still shows what they
    # stopped before it (then _kill_left names the rest)
    done: list[list[bool]] = [[] for _ in chains]

    def run(chain: list[tuple[Callable[[], bool], str]], results: list[bool]) -> None:
        for stop, _said in chain:
            results.append(stop())

    pool = ThreadPoolExecutor(max_workers=len(chains), thread_name_prefix="stop")
    futures = [
        pool.submit(run, chain, results) for chain, results in zip(chains, done, strict=True)
    ]
    pool.shutdown(wait=False)  # a Ctrl-C while they run is not held up by them (_kill_left)
    try:
        for future in futures:
            future.result()
    finally:
        for chain, results in zip(chains, done, strict=True):
            # (the chain of a Ctrl-C: fewer results than stops)
            for (_stop, said), ran in zip(chain, list(results), strict=False):
                if ran:
                    say(said)


def up_summary(settings: Settings, request: UpRequest = SERVICES_UP) -> str:
    """The line ``pinlake services up`` ends with (after a green check mark): ``services up: ``
    and where each service it started (or found running) answers, in start order: Kafka, the
    API, the stream query, MariaDB when it is the source, the S3 server (and the bucket on it
    when ``PINLAKE_BUCKET`` is one), the shared metastore, the Thrift server, the Spark
    cluster (without ``request.ingestion``, neither Kafka nor the API). Without
    ``request.stream``, a stream query that runs from before is named as such: the option starts
    none and stops none (a trial read the bare line as "no stream query", and ``stream
    --available-now`` then refused to run beside it)."""
    from pinlake.bucket.layout import S3Path

    n = settings.kafka.brokers
    local_cluster = not settings.kafka.external and n > 1
    bucket = settings.bucket_dir
    on_s3 = f", bucket s3://{bucket.bucket}" if isinstance(bucket, S3Path) else ""
    mariadb_selected = settings.source_db == "mariadb"
    ingestion = (
        f", Kafka {settings.kafka.bootstrap_servers}"
        f"{' (external)' if settings.kafka.external else ''}"
        + (f" ({n} brokers, replication factor {n}, min ISR {min(2, n)})" if local_cluster else "")
        + f", API {settings.api.url}"
        + (f" (and {settings.api.invoke_url})" if settings.api.stage else "")
    )
    return "services up:" + (
        (ingestion if request.ingestion else "")
        + (", stream query" if request.stream else "")
        + (
            ", stream query (running from before; --no-stream does not stop it: services down)"
            if request.ingestion and not request.stream and stream_process.pid(settings) is not None
            else ""
        )
        + (f", MariaDB 127.0.0.1:{settings.mariadb.port}" if mariadb_selected else "")
        + (f", S3 {s3_server.url(settings)} (moto, in memory{on_s3})" if request.s3 else "")
        + (f", metastore {run_folder.metastore_url(settings)}" if request.shared_metastore else "")
        + (f", Thrift server {thrift_server.jdbc_url(settings)}" if request.thrift else "")
        + (
            f", Spark cluster {standalone.master_url(settings)} "
            f"({settings.spark_cluster.workers} worker(s))"
            if request.spark_cluster
            else ""
        )
        + _running_from_before(settings, request)
    ).removeprefix(",")


def _running_from_before(settings: Settings, request: UpRequest) -> str:
    """``", also running from before: …"``: the services of the home that run while this
    ``services up`` did not ask for them (helper-62: ``up --s3`` on a running stack named
    neither the metastore, the Thrift server nor the cluster); ``""`` when there are none. Each
    is named at the address it was started with (:func:`as_running`): an S3 server started with
    another ``PINLAKE_S3__PORT`` was named at this shell's port (helper-72)."""
    running = running_services(settings)
    if kafka_broker.running_names(settings):  # any node of a cluster: node 1 may be down
        running.add(kafka_broker.NAME)
    at = as_running(settings)
    asked = {  # service name: whether this `services up` asked for it, what it is called
        kafka_broker.NAME: (request.ingestion, f"Kafka {at.kafka.bootstrap_servers}"),
        api_process.NAME: (request.ingestion, f"API {at.api.url}"),
        # without ingestion (with it, the summary names a query that runs from before)
        stream_process.NAME: (request.ingestion, "stream query"),
        s3_server.NAME: (request.s3, f"S3 {s3_server.url(at)}"),
        mariadb.NAME: (
            settings.source_db == "mariadb",
            f"MariaDB 127.0.0.1:{settings.mariadb.port}",
        ),
        metastore_server.NAME: (
            request.shared_metastore,
            f"metastore {run_folder.metastore_url(at)}",
        ),
        thrift_server.NAME: (request.thrift, f"Thrift server {thrift_server.jdbc_url(at)}"),
        standalone.MASTER: (
            request.spark_cluster,
            f"Spark cluster {run_folder.running_master_url(settings)}",
        ),
    }
    named = [text for name, (wanted, text) in asked.items() if name in running and not wanted]
    return f", also running from before: {', '.join(named)}" if named else ""


def up_command(
    settings: Settings, request: UpRequest = SERVICES_UP, shell: Settings | None = None
) -> str:
    """``pinlake services up`` with the options of a call that asked for ``request`` (the broker
    count, workers and source database of ``settings``), for a line that call prints telling
    its user to run it again: with ``--s3`` added, say, it asks for the same services
    (helper-74: ``services up --no-stream``'s warning named ``services up --s3``, which starts
    the stream query too; after ``--kafka-brokers 3`` it is refused, the broker running with
    another configuration). ``shell``: the settings of the shell the line is for, when they are
    not ``settings``: the broker and worker counts are then written whenever they differ from
    its own too (the default count in a shell that exports another). Pure."""
    return " ".join([str(PINLAKE), "services", "up", *up_options(settings, request, shell)])


def up_options(
    settings: Settings, request: UpRequest = SERVICES_UP, shell: Settings | None = None
) -> list[str]:
    """The options of :func:`up_command`'s ``pinlake services up`` (its words after ``up``;
    ``make airflow``'s banner writes its own program and environment before them). Pure."""
    shell = shell or settings
    words: list[str] = []
    if not request.ingestion:  # no stream query either (UpRequest.problem)
        words.append("--no-ingestion")
    elif not request.stream:
        words.append("--no-stream")
    elif request.trigger_seconds != UpRequest.trigger_seconds:
        words.append(f"--trigger-seconds {request.trigger_seconds:g}")
    if settings.source_db == "mariadb":
        words.append("--source-db mariadb")
    brokers = settings.kafka.brokers
    if (
        request.ingestion
        and not settings.kafka.external
        and (brokers != 1 or brokers != shell.kafka.brokers)
    ):
        words.append(f"--kafka-brokers {brokers}")
    if request.s3:
        words.append("--s3")
    if request.thrift:
        words.append("--thrift")
    elif request.metastore:
        words.append("--metastore")
    if request.spark_cluster:
        workers = settings.spark_cluster.workers
        default = type(settings.spark_cluster).model_fields["workers"].default
        same = workers == default and workers == shell.spark_cluster.workers
        words.append("--spark-cluster" if same else f"--workers {workers}")
    return words


def dag_tasks_request(settings: Settings, environ: Mapping[str, str]) -> UpRequest:
    """What the DAGs' tasks of ``settings`` (the Airflow worker's, whose environment is
    ``environ``) need ``services up`` to start on this home: the broker(s), the API and the
    stream query, and each service of the home they are set to use:

    - ``s3``: the bucket on S3 at this home's server (:func:`.s3_server.serves_endpoint`);
    - ``thrift``: dbt's ``thrift`` target on this machine (``PINLAKE_DBT_TARGET=thrift``, its
      host one of :data:`pinlake.loopback.LOOPBACK_HOSTS`), which needs the shared metastore
      too;
    - ``metastore``: ``PINLAKE_METASTORE_URL`` naming this home's metastore server (Derby's
      network URL on loopback at ``PINLAKE_METASTORE_PORT``, as ``services up --metastore``
      prints it: :func:`pinlake.run_folder.metastore_url`);
    - ``spark_cluster``: ``PINLAKE_SPARK_MASTER`` naming this home's master (on loopback at
      ``PINLAKE_SPARK_CLUSTER__PORT``: :func:`.spark_cluster.master_url`).

    ``make airflow``'s banner and the tasks' "services are not up" line both write it with
    :func:`up_options` (helper-110: they gave ``--s3`` and never ``--thrift`` or
    ``--metastore``, and the pasted line started services the tasks could not use). Pure."""
    from pinlake.location import S3Path
    from pinlake.loopback import LOOPBACK_HOSTS

    return replace(
        SERVICES_UP,
        s3=isinstance(settings.bucket_dir, S3Path) and s3_server.serves_endpoint(settings, environ),
        thrift=settings.dbt_target == "thrift" and settings.thrift_host in LOOPBACK_HOSTS,
        metastore=_on_this_machine(
            (settings.metastore_url or "").removeprefix("jdbc:"), "derby", settings.metastore_port
        ),
        spark_cluster=_on_this_machine(
            settings.spark_master or "", "spark", settings.spark_cluster.port
        ),
    )


def _on_this_machine(url: str, scheme: str, port: int) -> bool:
    """Whether ``url`` is ``<scheme>://<a loopback host>:<port>…`` (a host of
    :data:`pinlake.loopback.LOOPBACK_HOSTS`; ``[::1]`` too). Pure."""
    from urllib.parse import urlsplit

    from pinlake.loopback import LOOPBACK_HOSTS

    parts = urlsplit(url)
    try:
        return (parts.scheme, parts.hostname, parts.port) in {
            (scheme, host, port) for host in LOOPBACK_HOSTS
        }
    except ValueError:  # a port that is not a number
        return False


def s3_hint(settings: Settings, again: str | None = None) -> str:
    """The line ``services up --s3`` prints after its summary: the variables the other commands
    need for the local S3 server, and the bucket; without ``PINLAKE_BUCKET=s3://…`` no bucket was
    created, which it says (helper-62: the first ``sink`` then failed on a missing bucket). With
    ``AWS_PROFILE`` or a key pair in the environment the line has no stand-in keys and says what
    the other commands sign with instead (helper-73: nothing said the keys were left out); a
    profile boto3 cannot read is named, as those commands would name it
    (:func:`pinlake.bucket.layout.s3_client_problem`). ``again``: the call to run again with
    the bucket (default: :func:`up_command` with ``--s3`` alone)."""
    from pinlake.bucket.layout import S3Path, s3_client_problem
    from pinlake.location import aws_key_pair

    again = again or up_command(settings, UpRequest(s3=True))
    env = s3_server.client_env(settings)
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    bucket = settings.bucket_dir
    if isinstance(bucket, S3Path):
        line = (
            f"S3 server (moto, in memory): `export {exports} PINLAKE_BUCKET={bucket}` for the "
            "other commands"
        )
    else:
        line = (
            f"S3 server (moto, in memory): `export {exports}` and PINLAKE_BUCKET=s3://<bucket> "
            f"for the other commands; no bucket was created: run `{again}` again with "
            "PINLAKE_BUCKET set, which creates it"
        )
    profile = os.environ.get("AWS_PROFILE")
    if profile and (problem := s3_client_problem()):
        line += f"; but they cannot sign: {problem}"
    elif "AWS_ACCESS_KEY_ID" not in env:  # the stand-in keys left out: say what signs instead
        line += (
            "; no keys in it: they sign with this shell's AWS_ACCESS_KEY_ID"
            if aws_key_pair(os.environ)
            else f"; no keys in it: they sign with AWS_PROFILE={profile}"
        )
    return line


@contextmanager
def one_at_a_time(settings: Settings) -> Iterator[None]:
    """Hold this home's services lock (``run/services.lock``, a :mod:`filelock` lock, taken by
    :func:`services_up` and :func:`services_down`) while the block runs. Two ``services up`` at
    once on one home raced each other (helper-78): both said they started the shared
    metastore, one "adopted" the schema the other had just created and rewrote its version
    row, and another pair failed saying the metastore database was in use. A call that finds
    the lock held says so on one line and waits (Ctrl-C stops the wait); then it reuses what
    the other started, or refuses it when asked for another configuration."""
    from filelock import FileLock, Timeout

    settings.run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.run_dir / "services.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        console.print(
            f"waiting for another `services up` or `services down` of {settings.home} to finish",
            markup=False,
            soft_wrap=True,
        )
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def services_up(settings: Settings, request: UpRequest = SERVICES_UP) -> None:
    """``pinlake services up``: :func:`start_all` of ``request``, then one summary line (and,
    for MariaDB, how the source commands select it), one call per home at a time
    (:func:`one_at_a_time`). On Ctrl-C the services this call started are stopped again (those
    that ran before it run on) and KeyboardInterrupt goes on. A request that cannot be served is
    refused before the lock (:func:`check_request`): it waited for another call's up (helper-97)."""
    check_request(settings, request)
    with one_at_a_time(settings):
        _services_up(settings, request)


def _services_up(settings: Settings, request: UpRequest) -> None:
    """:func:`services_up` once it holds the home's lock."""
    before = running_services(settings)
    try:
        start_all(settings, request)
    except KeyboardInterrupt:
        started = running_services(settings) - before
        if started:
            why = "terminated" if TERMINATED.is_set() else "interrupted"  # SIGTERM or Ctrl-C
            console.print(f"{why}: stopping what this call started ({', '.join(sorted(started))})")
            stop_all(settings, only=started)
        raise
    mariadb_selected = settings.source_db == "mariadb"
    n = settings.kafka.brokers
    local_cluster = request.ingestion and not settings.kafka.external and n > 1
    summary = up_summary(settings, request)
    console.print(f"[green]✓[/] {escape(summary)}", soft_wrap=True)
    if not request.ingestion and (gone := _ended_ingestion(settings)):
        console.print(
            f"[yellow]note:[/] {' and '.join(gone)} of this home ended without `services down`: "
            f"`{PINLAKE} services status` counts {'them' if len(gone) > 1 else 'it'} down (exit "
            f"3) until `{run_folder.up_hint(settings.run_dir)}` starts "
            f"{'them' if len(gone) > 1 else 'it'} again "
            "or `services down` stops the home's services",
            soft_wrap=True,
        )
    if request.spark_cluster:
        console.print(
            f"Spark cluster: web UI {standalone.ui_url(settings)}; the Spark commands of this home "
            "(land, stream, dbt's local target, export, the Thrift server) run on it while it "
            "runs, unless PINLAKE_SPARK_MASTER names another master",
            markup=False,
            soft_wrap=True,
        )
    if request.shared_metastore:
        console.print(
            "shared metastore: pinlake, dbt's local target and the Thrift server of this home "
            "use it while it runs; for Airflow's DAGs (no one-slot pool) "
            f"`export PINLAKE_METASTORE_URL={run_folder.metastore_url(settings)}`"
            + (
                f"; dbt: --target thrift (web UI {thrift_server.ui_url(settings)})"
                if request.thrift
                else ""
            ),
            markup=False,
            soft_wrap=True,
        )
    if local_cluster and _shell_brokers() != n:  # (none when the shell says it already)
        console.print(
            f"Kafka: {n} brokers; `export PINLAKE_KAFKA__BROKERS={n}` for the other commands "
            "(sink, stream, produce, status), so that they know every node",
            markup=False,
            soft_wrap=True,
        )
    if request.s3:
        again = up_command(settings, request)
        console.print(s3_hint(settings, again), markup=False, soft_wrap=True)
    if mariadb_selected:
        from pinlake.source.db import safe_url

        safe = safe_url(settings.mariadb.url)
        console.print(
            "source database: MariaDB; `export PINLAKE_SOURCE_DB=mariadb` for the other commands "
            f"(or PINLAKE_SOURCE_URL={safe})",
            markup=False,
            soft_wrap=True,
        )


def _ended_ingestion(settings: Settings) -> list[str]:
    """``["Kafka", "the API"]``, those of them with a node (Kafka: any node of a cluster) or a
    process (the API) that ended without ``services down`` (:func:`.process.ended`)."""
    run_dir = settings.run_dir
    ended = {
        name
        for name in run_folder.recorded(run_dir)
        if run_folder.is_ingestion(name) and process.ended(run_dir, name) is not None
    }
    kafka = any(name != api_process.NAME for name in ended)
    return ["Kafka"] * kafka + ["the API"] * (api_process.NAME in ended)


def services_down(settings: Settings) -> None:
    """``pinlake services down``: :func:`stop_all`, not while a ``services up`` of the home runs
    (:func:`one_at_a_time`; a home without a run folder has nothing running).

    When the home ran none, the line says so, with the note of :func:`_print_not_started_here`
    when this home's Kafka ports (not external) or API port still answer: another home's
    services, which only that home's ``services down`` stops (a trial's ``--home H services
    down`` said a bare ✓ while the services it meant ran on)."""
    ran = running_services(settings) if settings.run_dir.is_dir() else set()
    with one_at_a_time(settings) if settings.run_dir.is_dir() else nullcontext():
        stop_all(settings)
    if ran:
        console.print("[green]✓[/] services down")
        return
    console.print("[green]✓[/] services down: this home ran none")
    note_services_of_another_home(settings, kafka_used=True, api_used=True, stopping=True)


def as_running(settings: Settings) -> Settings:
    """``settings`` with the addresses the running services of this home were started with
    (their configuration records, :mod:`.process`): the Kafka nodes
    (:func:`.kafka_broker.as_running`), the API's host and port, the S3 server's, the
    metastore's and the Thrift server's ports. So ``status`` in a shell that exports only
    ``PINLAKE_HOME`` describes what runs, not the defaults. Services that do not run keep the
    settings' values; raises nothing."""
    settings = kafka_broker.as_running(settings)

    def recorded(name: str) -> dict[str, object]:
        found = process.running(settings.run_dir, name)
        return dict(found.config or {}) if found else {}

    api = recorded(api_process.NAME)
    if "port" in api:
        update = {"host": api.get("host", settings.api.host), "port": api["port"]}
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=update)})
    s3 = recorded(s3_server.NAME)
    if "port" in s3:
        settings = settings.model_copy(
            update={"s3": settings.s3.model_copy(update={"port": s3["port"]})}
        )
    ports: dict[str, object] = {}
    if "port" in (ms := recorded(metastore_server.NAME)):
        ports["metastore_port"] = ms["port"]
    thrift = recorded(thrift_server.NAME)
    ports.update({f"thrift_{k}": thrift[k] for k in ("port", "ui_port") if k in thrift})
    return settings.model_copy(update=ports) if ports else settings


#: Seconds ``services status`` gives the Kafka cluster to answer a metadata request. A node
#: answers in milliseconds when idle; on 2 cores busy starting a Thrift server beside Spark jobs
#: an answer can take longer than the 2 s status gave it before, and status then showed a
#: running cluster as down (the likely cause of one scale-out test run without the replication
#: line, a node killed). Nothing listening on the cluster's ports is told at once
#: (:func:`pinlake.kafka.listening`), without this wait.
STATUS_PROBE_SECONDS = 5.0


def services_status(settings: Settings) -> int:
    """Print health, ports, topic offsets and the stream query's state and lag; 0 if the broker
    and the API are healthy and pinlake's topics exist (and the stream query, if it was
    started since the API, runs, and MariaDB, if it runs or is the selected source, answers),
    else 3. A local cluster of several nodes (the one that runs, whatever the settings say) is
    shown node by node, with whether every partition is in sync; a node that is down makes the
    answer 3. The broker and the API do not count on a home whose ``services up`` did not start
    them (``--no-ingestion``, :func:`.run_folder.without_ingestion`): their rows say ``not
    started``."""
    settings = as_running(settings)  # what runs, whatever this shell's environment says
    expected = not run_folder.without_ingestion(settings.run_dir)
    kpid = None if settings.kafka.external else kafka_broker.pid(settings)
    # any node of this home that runs (node 1's pid alone: a cluster whose node 1 was killed
    # was "not started by this home")
    ours = bool(kafka_broker.running_names(settings))
    answers = kafka.healthy(settings, timeout=STATUS_PROBE_SECONDS)
    a_health = api_process.health(settings)
    apid = api_process.pid(settings)
    multi = expected and not settings.kafka.external and settings.kafka.brokers > 1
    kafka_rows, nodes_ok = _kafka_node_rows(settings) if multi else ([], True)
    # counted before the table's other rows are added (to a list of their own: the count once
    # read the S3, metastore and Spark rows too, and a killed node with two Spark workers not
    # yet up read "the KRaft quorum is lost (3 of 3 controller nodes down)")
    nodes_down = sum(row[2] == "-" for row in kafka_rows)
    k_ok = answers and nodes_ok
    rows = list(kafka_rows) or [
        (
            "kafka" + (" (external)" if settings.kafka.external else ""),
            settings.kafka.bootstrap_servers,
            kpid or "-",
            "healthy"
            if k_ok
            else (
                _down(settings, None if settings.kafka.external else kafka_broker.NAME, kpid)
                if expected
                else NOT_STARTED
            ),
        ),
    ]
    rows += [
        (
            "api",
            settings.api.url,
            apid or "-",
            _api_state(a_health)
            if a_health
            else (_down(settings, api_process.NAME, apid) if expected else NOT_STARTED),
        ),
    ]
    s3_rows, s3_ok = _s3_rows(settings)
    rows[:0] = s3_rows
    mpid = mariadb.pid(settings)
    m_ok = True
    if mpid is not None or settings.source_db == "mariadb":
        m_ok = mariadb.healthy(settings, timeout=2.0)
        rows.insert(
            0,
            (
                "mariadb (source)",
                f"127.0.0.1:{settings.mariadb.port}/{settings.mariadb.database}",
                mpid or "-",
                "healthy" if m_ok else _down(settings, mariadb.NAME, mpid),
            ),
        )
    stream = stream_process.state(settings, kafka_answers=answers)
    if stream.get("state"):
        rows.append(
            (
                "stream" + (" (pinlake stream)" if stream.get("foreground") else ""),
                _stream_what(stream),
                stream.get("pid") if stream.get("running") else "-",
                stream["state"] + (" (before this services up)" if stream["earlier"] else ""),
            )
        )
    engine_rows, engine_ok = _engine_rows(settings)
    rows += engine_rows
    cluster_rows, cluster_ok = standalone.status_rows(settings)
    rows += cluster_rows
    console.print(table("services", ("service", "address", "pid", "state"), rows))
    _print_not_started_here(
        settings,
        kafka_answers=answers and not ours and not settings.kafka.external,
        api_answers=bool(a_health) and apid is None,
    )
    metastore_ok = _print_metastore(settings)
    if stream.get("state"):
        _print_stream_state(stream, settings.run_dir)
    if multi and answers:
        _print_replication(settings, down=nodes_down)
    topics_ok = True
    if answers:
        topics = kafka.all_topics(settings)
        # the local nodes whose process has ended (their rows say down) are not waited for
        down = [
            node.id
            for node in (kafka_broker.nodes(settings) if multi else [])
            if kafka_broker.node_pid(settings, node) is None
        ]
        read = kafka.read_topic_offsets(settings, topics, down=down)
        # a partition whose leader did not answer (a node down) is a row too, not a topic gone
        listed: list[tuple] = [(t, p, "-", "-", "no leader answers") for t, p in read.unanswered]
        listed += [(*o, f"{o.high - o.low:,}") for o in read.offsets]
        listed.sort(key=lambda row: (topics.index(row[0]), row[1]))
        console.print(table("topics", ("topic", "partition", "low", "high", "records"), listed))
        missing = missing_topics(settings, read.existing)
        topics_ok = not missing
        if missing:
            console.print(
                f"[yellow]topics missing: {', '.join(missing)}[/] (the API answers 404 for them "
                "and the sink has nothing to read; "
                f"`{run_folder.up_hint(settings.run_dir)}` creates them)",
                soft_wrap=True,
            )
    # a query this `services up` started (or a `pinlake stream` since) that is not running
    stream_ok = stream.get("state") in (None, "stopped") or stream["running"] or stream["earlier"]
    # the ingestion counts where this home's `services up` starts it (not --no-ingestion)
    ingestion_ok = (k_ok and a_health and topics_ok) or not expected
    healthy = ingestion_ok and stream_ok and m_ok and s3_ok and engine_ok and cluster_ok
    if not (healthy and metastore_ok):
        _print_restart_hint(settings)
        return 3
    return 0


#: The option of ``services up`` that starts a service of this record name again; the
#: broker(s), the API and the stream query need none (:func:`.run_folder.up_hint` keeps the
#: home's ingestion as it ran), a Spark worker its cluster's.
_RESTART_OPTIONS = {
    s3_server.NAME: "--s3",
    mariadb.NAME: "--source-db mariadb",
    metastore_server.NAME: "--metastore",
    standalone.MASTER: "--spark-cluster",
    thrift_server.NAME: "--thrift",
}


def _print_restart_hint(settings: Settings) -> None:
    """After a ``services status`` that answers 3: the services of this home that ended without
    ``services down`` (killed, crashed: :func:`.run_folder.recorded` and not running) and the
    ``services up`` that starts them again, with the options each needs
    (:data:`_RESTART_OPTIONS`) and those that keep the home as it ran
    (:func:`.run_folder.up_hint`). helper-111: a killed broker's row said "down" and nothing
    named a command. Nothing when none ended."""
    run_dir = settings.run_dir
    recorded = run_folder.recorded(run_dir)
    ended = sorted(n for n in recorded if run_folder.read_pid(run_dir, n) is None)
    if not ended:
        return
    kinds = [standalone.MASTER if n.startswith("spark-worker-") else n for n in ended]
    options = dict.fromkeys(_RESTART_OPTIONS[k] for k in kinds if k in _RESTART_OPTIONS)
    command = run_folder.up_hint(run_dir, " ".join(options))
    nodes = run_folder.kafka_nodes(recorded)
    names = ", ".join(_row_name(name, nodes) for name in ended)
    console.print(
        f"[yellow]note:[/] {escape(names)} ended without `services down`: "
        f"`{escape(command)}` starts {'them' if len(ended) > 1 else 'it'} again",
        soft_wrap=True,
    )


def _shell_brokers() -> int | None:
    """The Kafka node count this shell's variables give the commands run in it
    (``PINLAKE_KAFKA__BROKERS``, or a bootstrap list of several servers); None when they are
    refused (helper-113: ``up`` told a shell that had exported the count to export it)."""
    from pydantic import ValidationError

    from pinlake.config import KafkaSettings

    try:
        return KafkaSettings().brokers
    except ValidationError:
        return None


def _stream_what(stream: dict[str, object]) -> str:
    """The "what" cell of ``services status``'s stream row (``stream`` as
    :func:`.stream_process.state` gives it): ``raw.stream_* every 1.0s`` for a continuous query;
    for a ``stream --available-now`` run, when its state was written (helper-111: its row read
    "every 1.0s … stopped" long after the catch-up had ended, as if a query had stopped). Pure."""
    if stream.get("mode") == "available-now":
        at = str(stream.get("updated_at") or "")[:19].replace("T", " ")
        return "raw.stream_* by stream --available-now" + (f", at {at} UTC" if at else "")
    return f"raw.stream_* every {stream.get('trigger_seconds', '?')}s"


def _row_name(name: str, nodes: int) -> str:
    """Service ``name`` (a record's: ``kafka-2``, ``spark-worker-2``) as ``services status``'s
    table names its row (``kafka node 2``, ``spark worker 2``; ``kafka`` is ``kafka node 1`` on
    a home of ``nodes`` > 1 Kafka nodes): helper-112 read ``spark-worker-2`` in the note under a
    row ``spark worker 2``. Pure."""
    if name == kafka_broker.NAME:
        return "kafka node 1" if nodes > 1 else name
    for prefix, row in (("kafka-", "kafka node "), ("spark-", "spark ")):
        if name.startswith(prefix):
            return row + name.removeprefix(prefix).replace("-", " ")
    return name


#: ``services status``'s state of the broker and the API on a home whose ``services up`` did
#: not start them (:func:`.run_folder.without_ingestion`).
NOT_STARTED = "not started (services up --no-ingestion)"


def _print_not_started_here(
    settings: Settings, kafka_answers: bool, api_answers: bool, stopping: bool = False
) -> None:
    """A note when this home's (not external) Kafka address or API port answers but this home
    started no such service (no pid: another home's ``services up`` on the same ports, or
    another program): its commands then use that Kafka, whose topics and records are shared
    with whoever started it (a trial's ``sink`` wrote another home's records into its bucket).
    ``kafka_answers``, ``api_answers``: each answers without a pid of this home's; ``stopping``
    (``services down``): the note says that this home's ``services down`` leaves them running."""
    foreign = []
    if kafka_answers:
        foreign.append(f"Kafka at {settings.kafka.bootstrap_servers}")
    if api_answers:
        foreign.append(f"the API at {settings.api.url}")
    if foreign:
        many = len(foreign) > 1
        they, them = ("they answer", "them") if many else ("it answers", "it")
        tail = (
            f"; {'they run' if many else 'it runs'} on: stop {them} from the home that started "
            f"{them} (`{PINLAKE.command} --home <that home> services down`)"
            if stopping
            else "; this home's commands use what answers and share its topics (other ports: "
            "PINLAKE_KAFKA__BOOTSTRAP_SERVERS, PINLAKE_API__PORT)"
        )
        console.print(
            f"[yellow]note: this home ({escape(str(settings.home))}) did not start "
            f"{' or '.join(foreign)}, "
            f"but {they} there: another home's `services up` or another program{escape(tail)}[/]",
            soft_wrap=True,
        )


def note_services_of_another_home(
    settings: Settings, kafka_used: bool, api_used: bool, stopping: bool = False
) -> None:
    """Before a command that reads or writes this home's Kafka (``kafka_used``: ``sink``,
    ``stream``) or posts to its API (``api_used``: ``produce --to api`` without ``--api-url``),
    the note of :func:`_print_not_started_here` when this home runs no such service but one
    answers at its address: a trial's ``sink`` in a new home wrote the records of another
    home's demo into its bucket without a word, and only ``services status`` said why
    (helper-107). ``stopping``: after a ``services down`` of a home that ran none (the note
    says that such services run on). Nothing for an external Kafka or a service this home
    runs; the probes are a read of the kernel's listening ports
    (:func:`pinlake.kafka.listening`) and, for the API, a ``/healthz`` request."""
    kafka_answers = (
        kafka_used
        and not settings.kafka.external
        and not kafka_broker.running_names(settings)
        and kafka.listening(settings)
    )
    api_answers = (
        api_used and api_process.pid(settings) is None and api_process.health(settings) is not None
    )
    _print_not_started_here(
        settings, kafka_answers=kafka_answers, api_answers=api_answers, stopping=stopping
    )


def missing_topics(settings: Settings, existing: set[str]) -> list[str]:
    """pinlake's topics (:func:`pinlake.kafka.all_topics`: batch and stream, in table order)
    that are not among ``existing``: deleted since ``services up`` made them (a DeleteStream
    through the Kinesis proxy once did that to a batch topic), or made under another
    ``PINLAKE_TOPIC_PREFIX``."""
    return [t for t in kafka.all_topics(settings) if t not in existing]


def _print_metastore(settings: Settings) -> bool:
    """One line naming the metastore this home's Spark commands, dbt and Airflow use
    (:func:`pinlake.spark.metastore_connection`) unless it is the home's metastore server (a
    row of the status table): the embedded Derby database, by its folder, or
    ``PINLAKE_METASTORE_URL``, which wins over a running server (not connected to here;
    secrets shown as ``***``). False when it cannot be used (an unknown URL, its JDBC driver not
    resolved: the line says why)."""
    from pinlake.spark import metastore_connection

    try:
        used = metastore_connection(settings)
    except PinlakeError as exc:
        console.print(f"metastore: unusable: {exc}", markup=False)
        return False
    if used.kind == "server":
        return True
    if used.kind == "embedded":
        line = (
            f"metastore: embedded Derby in {used.location} (one Spark JVM at a time; "
            f"`{run_folder.up_hint(settings.run_dir, '--metastore')}` shares it)"
        )
    else:
        line = f"metastore: {used.location} (PINLAKE_METASTORE_URL; not checked here)"
        if metastore_server.pid(settings) is not None:
            line += "; this home's metastore server runs, unused"
    console.print(line, markup=False)
    return True


def _state(healthy: bool, unhealthy: str = "down") -> str:
    return "healthy" if healthy else unhealthy


def _down(settings: Settings, name: str | None, pid: int | None = None) -> str:
    """The state of service ``name`` that is not healthy: :func:`.process.down_state` when its
    process does not run (``pid`` None), else ``down``; ``name`` None: not this home's process
    (an external cluster)."""
    return process.down_state(settings.run_dir, name) if name and pid is None else "down"


def _s3_rows(settings: Settings) -> tuple[list[tuple], bool]:
    """The status row of the local S3 server when it runs (``healthy`` when it answers
    ``ListBuckets``) or ended without being stopped (:data:`~pinlake.services.process.ENDED`:
    its buckets, in moto's memory, are gone), and whether it is healthy (True without one)."""
    pid = s3_server.pid(settings)
    if pid is not None:
        up = s3_server.healthy(settings, timeout=2.0)
        return [("s3 (moto, in memory)", s3_server.url(settings), pid, _state(up))], up
    ended = process.ended(settings.run_dir, s3_server.NAME)
    if ended is None:
        return [], True
    port = ended.get("port", settings.s3.port)
    at = settings.model_copy(update={"s3": settings.s3.model_copy(update={"port": port})})
    return [("s3 (moto, in memory)", s3_server.url(at), "-", process.ENDED)], False


def _engine_rows(settings: Settings) -> tuple[list[tuple], bool]:
    """Status rows of the shared metastore and the Spark Thrift server (those that run, and
    those that ended without being stopped, :data:`~pinlake.services.process.ENDED`: address,
    web UI, pid, ``healthy`` when the metastore accepts connections / a HiveServer2 session
    answers ``select 1``) and whether each of them is healthy."""
    rows, ok = [], True
    mpid = metastore_server.pid(settings)
    if mpid is not None:
        up = metastore_server.healthy(settings, timeout=2.0)
        ok = ok and up
        address = run_folder.running_metastore_url(settings) or run_folder.metastore_url(settings)
        rows.append(("metastore (Derby)", address, mpid, _state(up)))
    elif process.ended(settings.run_dir, metastore_server.NAME) is not None:
        ok = False
        rows.append(("metastore (Derby)", run_folder.metastore_url(settings), "-", process.ENDED))
    tpid = thrift_server.pid(settings)
    address = f"{thrift_server.jdbc_url(settings)} · UI {thrift_server.ui_url(settings)}"
    if tpid is not None:
        up = thrift_server.healthy(settings)
        ok = ok and up
        rows.append(("thrift (Spark)", address, tpid, _state(up, "starting or down")))
    elif process.ended(settings.run_dir, thrift_server.NAME) is not None:
        ok = False
        rows.append(("thrift (Spark)", address, "-", process.ENDED))
    return rows, ok


def _kafka_node_rows(settings: Settings) -> tuple[list[tuple], bool]:
    """One status row per local node (``kafka node n``, address, pid, and its state: ``down``
    when its process does not run, whatever the cluster's metadata says (the controller keeps a
    killed node registered until its session times out), else ``healthy`` when the metadata
    names it and ``running`` when not yet) and whether every node is healthy."""
    registered = set(kafka.broker_ids(settings, timeout=STATUS_PROBE_SECONDS))
    rows, ok = [], True
    for node in kafka_broker.nodes(settings):
        npid = kafka_broker.node_pid(settings, node)
        state = (
            _down(settings, node.name, npid)
            if npid is None
            else ("healthy" if node.id in registered else "running")
        )
        ok = ok and state == "healthy"
        rows.append((f"kafka node {node.id}", node.address, npid or "-", state))
    return rows, ok


def _print_replication(settings: Settings, down: int = 0) -> None:
    """One line: every partition of pinlake's topics in sync, or what is not (ISR shrunk after
    a node went down, a partition without a leader). With ``down`` of the local nodes down
    (each a KRaft controller, a voter) and no majority left, that the quorum is lost instead:
    the brokers' metadata is then the last they had (helper-62: two of three nodes down still
    read "2 of 3 brokers registered … ISR [1, 2]")."""
    n = settings.kafka.brokers
    if down and 2 * down >= n:
        console.print(
            f"replication: the KRaft quorum is lost ({down} of {n} controller nodes down): no "
            "metadata changes and no acknowledged writes (the API answers 503) until a majority "
            f"runs again (`{run_folder.up_hint(settings.run_dir)}` restarts the nodes)",
            markup=False,
            soft_wrap=True,
        )
        return
    try:
        meta = kafka.admin(settings).list_topics(timeout=5)
    except Exception as exc:  # noqa: BLE001 - the line says so instead
        console.print(f"replication: no metadata answer ({exc})", markup=False)
        return
    problems = kafka.replication_problems(meta, kafka.all_topics(settings), n)
    console.print(
        f"replication: factor {n}, min ISR {min(2, n)}; "
        + ("every partition in sync" if not problems else "; ".join(problems)),
        markup=False,
        soft_wrap=True,
    )


def _api_state(health: dict) -> str:
    """The API row's state from its ``/healthz`` body
    (:class:`pinlake.ingest_api.backend.watch.ClusterHealth`): ``healthy`` when its Kafka is
    ``ok``, else ``degraded`` with what its Kafka lacks (helper-114: a cluster that had lost
    its quorum read ``healthy``)."""
    kafka_state = health.get("kafka")
    if kafka_state == "ok":
        return "healthy"
    if kafka_state != "degraded":
        return "degraded: its Kafka does not answer"
    lacks = []
    dead = health.get("brokers_not_answering") or []
    if dead:
        nodes = ", ".join(map(str, dead))
        lacks.append(
            f"node {nodes} does not answer" if len(dead) == 1 else f"nodes {nodes} do not answer"
        )
    for key, what in (
        ("partitions_without_leader", "without a leader"),
        ("partitions_under_replicated", "under-replicated"),
    ):
        if health.get(key):
            lacks.append(f"{counted(len(health[key]), 'partition', 'partitions')} {what}")
    return "degraded: " + "; ".join(lacks or ["its Kafka is degraded"])


def _query_row(name: str, query: dict) -> tuple:
    """A stream query's row of ``services status``: ``-`` for the batch and its time until it
    has run a micro-batch."""
    batch = query.get("batch_id")
    took = (query.get("duration_ms") or {}).get("triggerExecution", "-")
    return (
        name,
        "-" if batch is None else batch,
        f"{query.get('rows') or 0:,}",
        rate_text(query.get("input_rows_per_second")),
        rate_text(query.get("processed_rows_per_second")),
        "-" if batch is None else took,
    )


def _print_stream_state(stream: dict, run_dir: Path | None = None) -> None:
    """The stream stage's totals and rates, the records it landed and quarantined since it
    started (per table), each table's query's last micro-batch, and the lag
    per partition. A query that has run no micro-batch yet shows ``-`` for the batch and its
    time (Spark's last progress is then an empty trigger's, not a micro-batch's). The state of
    a query from before the running ``services up`` (``earlier``: a ``--no-stream`` up after
    one with the stream, helper-75) is labelled so, line and tables: it read as current. So is
    the last state of a query whose process ended without writing its own (killed, crashed:
    :data:`pinlake.services.process.ENDED`): its ``updated`` time and rates read as now's. A
    service's query that failed: the ``services up`` of the home's run folder ``run_dir`` that
    starts it again (helper-113: "error: see the log" and no command)."""
    rate = stream.get("input_rows_per_second")
    done = stream.get("processed_rows_per_second")
    before = ""
    if stream.get("earlier"):
        before = " (before this services up)"
    elif stream.get("state") == process.ENDED:
        before = " (the last it wrote before its process ended)"
    batches = counted(stream.get("batches", 0), "micro-batch", "micro-batches")
    latest = ""
    if isinstance(stream.get("last_batch_at"), int | float):
        # helper-103: an idle query's rates are its last micro-batches', which read as now's
        at = datetime.fromtimestamp(stream["last_batch_at"], timezone.utc).isoformat()
        latest = f" (the latest at {at})"
    rates = (
        f"; last micro-batches{latest}: input {rate_text(rate)} records/s, processed "
        f"{rate_text(done)} records/s"
    )
    if not stream.get("batches") and not latest:
        # a query that ran none has no rates to show (helper-113: "0 micro-batches …
        # input — records/s" beside a query that had failed at its start)
        batches, rates = "no micro-batch", ""
    console.print(
        f"stream{before}: {batches} since start (all tables), updated "
        f"{stream.get('updated_at', '-')}{rates}"
        + (f"; error: {stream['error']}" if stream.get("error") else "")
        + (
            f"; once that is fixed, `{run_folder.up_hint(run_dir, stream=True)}` starts it again"
            if stream.get("state") == "failed" and stream.get("service") and run_dir is not None
            else ""
        )
    )
    landed, quarantined = stream.get("records"), stream.get("quarantined")
    if isinstance(landed, dict) and isinstance(quarantined, dict):
        # what raw.stream_* and raw.stream_quarantine gained since the query started
        # (helper-101: status had no quarantine count to check the tables against)
        console.print(
            f"since start: {sum(landed.values()):,} records landed, "
            f"{sum(quarantined.values()):,} quarantined ("
            + ", ".join(
                f"{name} {landed.get(name, 0):,}/{quarantined.get(name, 0):,}" for name in landed
            )
            + " landed/quarantined)"
        )
    queries = stream.get("queries") or {}
    if queries:
        console.print(
            table(
                f"stream queries (last micro-batch){before}",
                ("table", "batch", "records", "input/s", "processed/s", "took ms"),
                [_query_row(name, q) for name, q in queries.items()],
            )
        )
    lag = stream.get("lag") or []
    if lag:
        console.print(
            table(
                f"stream lag{before}",
                ("topic", "partition", "read up to", "high", "lag"),
                [(p.topic, p.partition, p.read_up_to, p.high, f"{p.lag:,}") for p in lag],
            )
        )
