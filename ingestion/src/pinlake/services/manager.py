"""``pinlake services up|down|status``: the local broker and the ingestion API."""

from __future__ import annotations

import socket

from pinlake import kafka
from pinlake.config import Settings
from pinlake.console import console, table
from pinlake.errors import PinlakeError
from pinlake.services import api_process, kafka_broker


def _port_busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start_all(settings: Settings, quiet: bool = False) -> None:
    """Start (or reuse) both services, wait until healthy and create the topics."""
    settings.ensure_dirs()
    say = (lambda _m: None) if quiet else console.print
    if settings.api.host not in ("127.0.0.1", "localhost", "::1") and settings.api.api_key is None:
        say(f"[yellow]warning:[/] API bound to {settings.api.host} without an API key")
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


def stop_all(settings: Settings, quiet: bool = False) -> None:
    say = (lambda _m: None) if quiet else console.print
    if api_process.stop(settings):
        say("stopped the ingestion API")
    if not settings.kafka.external and kafka_broker.stop(settings, timeout=45):
        say("stopped Kafka")


def services_up(settings: Settings) -> None:
    start_all(settings)
    console.print(
        f"[green]✓[/] services up: Kafka {settings.kafka.bootstrap_servers}"
        f"{' (external)' if settings.kafka.external else ''}, API {settings.api.url}"
    )


def services_down(settings: Settings) -> None:
    stop_all(settings)
    console.print("[green]✓[/] services down")


def services_status(settings: Settings) -> int:
    """Print health, ports and topic offsets; 0 if both services are healthy, else 3."""
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
    console.print(table("services", ("service", "address", "pid", "state"), rows))
    if k_ok:
        offsets = kafka.topic_offsets(settings, kafka.all_topics(settings))
        console.print(
            table(
                "topics",
                ("topic", "partition", "low", "high", "records"),
                [(o.topic, o.partition, o.low, o.high, o.high - o.low) for o in offsets],
            )
        )
    return 0 if k_ok and a_health else 3
