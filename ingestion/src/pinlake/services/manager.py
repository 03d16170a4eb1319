"""``pinlake services up|down|status``: the local broker, the ingestion API, the continuous
stream query (the stream path's Spark Structured Streaming job) and, with
``PINLAKE_SOURCE_DB=mariadb``, the MariaDB source database.

Each service records the configuration it was started with beside its pid file
(:mod:`.process`); ``up`` reuses a running service only when that record equals what the current
settings ask for, and otherwise fails at once, before starting anything
(:func:`check_configuration`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from pinlake import kafka
from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.errors import PinlakeError
from pinlake.services import api_process, kafka_broker, mariadb, process, stream_process

#: Every supervised service, in start order (``down`` stops them in reverse).
SERVICES: tuple[str, ...] = (mariadb.NAME, kafka_broker.NAME, api_process.NAME, stream_process.NAME)


def _port_busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wanted_configs(
    settings: Settings, stream: bool = False, trigger_seconds: float = 1.0
) -> dict[str, dict[str, object]]:
    """The configuration each service ``up`` would run should have, by service name: MariaDB
    when ``settings.source_db`` is ``mariadb``, the broker unless Kafka is external, the API,
    and the stream query with ``stream``."""
    wanted: dict[str, dict[str, object]] = {}
    if settings.source_db == "mariadb":
        wanted[mariadb.NAME] = mariadb.config(settings)
    if not settings.kafka.external:
        wanted[kafka_broker.NAME] = kafka_broker.config(settings)
    wanted[api_process.NAME] = api_process.config(settings)
    if stream:
        wanted[stream_process.NAME] = stream_process.config(settings, trigger_seconds)
    return wanted


def check_configuration(
    settings: Settings, stream: bool = False, trigger_seconds: float = 1.0
) -> None:
    """Fail at once when a service of this home runs with another configuration than the one
    :func:`wanted_configs` gives (other ports, broker, stage, trigger, …, or an unknown one).

    Raises :class:`PinlakeError`, one line: each differing service with its pid and the values
    it runs with and those wanted, the other services that run, and the command that stops them
    (``pinlake --home <home> services down``). Starts and stops nothing.
    """
    wanted = wanted_configs(settings, stream=stream, trigger_seconds=trigger_seconds)
    differ = [
        found
        for name, config in wanted.items()
        if (found := process.mismatch(settings.run_dir, name, config)) is not None
    ]
    if not differ:
        return
    names = {found.name for found in differ}
    others = [
        found
        for name in SERVICES
        if name not in names and (found := process.running(settings.run_dir, name)) is not None
    ]
    message = f"services of {settings.home} already run with another configuration: " + "; ".join(
        process.describe_difference(found, wanted[found.name]) for found in differ
    )
    if others:
        message += "; also running: " + ", ".join(f"{o.name} (pid {o.pid})" for o in others)
    message += f"; stop them first: pinlake --home {settings.home} services down"
    raise PinlakeError(message)


def start_all(
    settings: Settings, quiet: bool = False, stream: bool = False, trigger_seconds: float = 1.0
) -> None:
    """Start (or reuse) MariaDB (``settings.source_db == "mariadb"``), the broker and the API,
    wait until healthy and create the topics; with ``stream``, then start (or reuse) the
    continuous stream query and wait until it runs.

    Raises :class:`PinlakeError` at once, before starting anything, when a running service was
    started with another configuration (:func:`check_configuration`) or a port is taken.
    """
    check_configuration(settings, stream=stream, trigger_seconds=trigger_seconds)
    settings.ensure_dirs()
    say = (lambda _m: None) if quiet else console.print
    if settings.api.host not in ("127.0.0.1", "localhost", "::1") and settings.api.api_key is None:
        say(f"[yellow]warning:[/] API bound to {settings.api.host} without an API key")
    if settings.source_db == "mariadb":
        start_mariadb(settings, say)
    if not settings.kafka.external:
        kpid = kafka_broker.pid(settings)
        if kpid is None:
            host, port = kafka_broker.bootstrap_host_port(settings)
            for p in (port, settings.kafka.controller_port):
                if _port_busy(host, p):
                    raise PinlakeError(f"port {host}:{p} is already in use (choose other ports)")
            kpid = kafka_broker.start(settings)
            say(f"starting Kafka (KRaft) on {settings.kafka.bootstrap_servers} (pid {kpid})")
        kafka_broker.wait_healthy(settings, timeout=90, pid_=kpid)
    else:
        kafka_broker.wait_healthy(settings, timeout=30)
    created = kafka.create_topics(settings)
    if created:
        say(f"created topics: {', '.join(created)}")
    apid = api_process.pid(settings)
    if apid is None:
        if _port_busy(settings.api.host, settings.api.port):
            raise PinlakeError(f"port {settings.api.host}:{settings.api.port} is already in use")
        apid = api_process.start(settings)
        say(f"starting the ingestion API on {settings.api.url} (pid {apid})")
    api_process.wait_healthy(settings, timeout=45, pid_=apid)
    if stream:
        spid = stream_process.pid(settings)
        if spid is None:
            spid = stream_process.start(settings, trigger_seconds=trigger_seconds)
            say(f"starting the stream query (Spark Structured Streaming, pid {spid})")
        stream_process.wait_running(settings, timeout=180, pid_=spid)


def start_mariadb(settings: Settings, say: Callable[[str], object] = console.print) -> int:
    """Start (or reuse) the MariaDB source database and wait until it answers; returns its pid.
    Raises :class:`PinlakeError` when it is not installed, its port is taken or it does not
    start (the message names the install command or its error log)."""
    mpid = mariadb.pid(settings)
    if mpid is None:
        mariadb.binaries()  # not installed: say so before anything else
        if _port_busy("127.0.0.1", settings.mariadb.port):
            raise PinlakeError(
                f"port 127.0.0.1:{settings.mariadb.port} is already in use "
                "(choose another with PINLAKE_MARIADB__PORT)"
            )
        mpid = mariadb.start(settings)
        say(f"starting MariaDB on 127.0.0.1:{settings.mariadb.port} (pid {mpid})")
    mariadb.wait_healthy(settings, timeout=60, pid_=mpid)
    return mpid


def stop_all(settings: Settings, quiet: bool = False) -> None:
    """Stop the stream query (gracefully), the API, the local broker and MariaDB, in that order
    (each one that runs, whatever the settings select)."""
    say = (lambda _m: None) if quiet else console.print
    if stream_process.stop(settings):
        say("stopped the stream query")
    if api_process.stop(settings):
        say("stopped the ingestion API")
    if not settings.kafka.external and kafka_broker.stop(settings, timeout=45):
        say("stopped Kafka")
    if mariadb.stop(settings):
        say("stopped MariaDB")


def services_up(settings: Settings, stream: bool = True, trigger_seconds: float = 1.0) -> None:
    """``pinlake services up``: :func:`start_all`, then one summary line (and, for MariaDB, how
    the source commands select it)."""
    start_all(settings, stream=stream, trigger_seconds=trigger_seconds)
    mariadb_selected = settings.source_db == "mariadb"
    console.print(
        f"[green]✓[/] services up: Kafka {settings.kafka.bootstrap_servers}"
        f"{' (external)' if settings.kafka.external else ''}, API {settings.api.url}"
        + (f" (and {settings.api.invoke_url})" if settings.api.stage else "")
        + (", stream query" if stream else "")
        + (f", MariaDB 127.0.0.1:{settings.mariadb.port}" if mariadb_selected else "")
    )
    if mariadb_selected:
        from pinlake.source.db import safe_url

        safe = safe_url(settings.mariadb.url)
        console.print(
            "source database: MariaDB; `export PINLAKE_SOURCE_DB=mariadb` for the other commands "
            f"(or PINLAKE_SOURCE_URL={safe})",
            markup=False,
            soft_wrap=True,
        )


def services_down(settings: Settings) -> None:
    """``pinlake services down``: :func:`stop_all`."""
    stop_all(settings)
    console.print("[green]✓[/] services down")


def services_status(settings: Settings) -> int:
    """Print health, ports, topic offsets and the stream query's state and lag; 0 if the broker
    and the API are healthy (and the stream query, if it was started, runs, and MariaDB, if it
    runs or is the selected source, answers), else 3."""
    kpid = None if settings.kafka.external else kafka_broker.pid(settings)
    k_ok = kafka.healthy(settings, timeout=2.0)
    a_health = api_process.health(settings)
    rows = [
        (
            "kafka" + (" (external)" if settings.kafka.external else ""),
            settings.kafka.bootstrap_servers,
            kpid or "-",
            "healthy" if k_ok else "down",
        ),
        (
            "api",
            settings.api.url,
            api_process.pid(settings) or "-",
            "healthy"
            if a_health and a_health.get("kafka") == "ok"
            else ("degraded" if a_health else "down"),
        ),
    ]
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
                "healthy" if m_ok else "down",
            ),
        )
    stream = stream_process.state(settings)
    if stream.get("state"):
        rows.append(
            (
                "stream",
                f"raw.stream_* every {stream.get('trigger_seconds', '?')}s",
                stream_process.pid(settings) or "-",
                stream["state"],
            )
        )
    console.print(table("services", ("service", "address", "pid", "state"), rows))
    if stream.get("state"):
        _print_stream_state(stream)
    if k_ok:
        offsets = kafka.topic_offsets(settings, kafka.all_topics(settings))
        console.print(
            table(
                "topics",
                ("topic", "partition", "low", "high", "records"),
                [(o.topic, o.partition, o.low, o.high, o.high - o.low) for o in offsets],
            )
        )
    stream_ok = stream.get("state") in (None, "stopped") or stream["running"]
    return 0 if k_ok and a_health and stream_ok and m_ok else 3


def _print_stream_state(stream: dict) -> None:
    """The stream stage's totals and rates, each table's query's last micro-batch, and the lag
    per partition."""
    rate = stream.get("input_rows_per_second")
    done = stream.get("processed_rows_per_second")
    console.print(
        f"stream: {stream.get('batches', 0)} micro-batch(es) since start (all tables), updated "
        f"{stream.get('updated_at', '-')}; input {rate or 0:,.0f} records/s, processed "
        f"{done or 0:,.0f} records/s"
        + (f"; error: {stream['error']}" if stream.get("error") else "")
    )
    queries = stream.get("queries") or {}
    if queries:
        console.print(
            table(
                "stream queries (last micro-batch)",
                ("table", "batch", "records", "input/s", "processed/s", "took ms"),
                [
                    (
                        name,
                        q.get("batch_id", "-"),
                        q.get("rows") or 0,
                        f"{q.get('input_rows_per_second') or 0:,.0f}",
                        f"{q.get('processed_rows_per_second') or 0:,.0f}",
                        (q.get("duration_ms") or {}).get("triggerExecution", "-"),
                    )
                    for name, q in queries.items()
                ],
            )
        )
    lag = stream.get("lag") or []
    if lag:
        console.print(
            table(
                "stream lag",
                ("topic", "partition", "read up to", "high", "lag"),
                [(p.topic, p.partition, p.read_up_to, p.high, p.lag) for p in lag],
            )
        )
