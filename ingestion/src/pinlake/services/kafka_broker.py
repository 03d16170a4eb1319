"""Supervision of a single-node Apache Kafka 4.x broker in KRaft mode, run from the
Maven-resolved jars: configuration, storage format, start, stop, readiness. The client side
(admin, topics, offsets) is :mod:`pinlake.kafka`."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.services import process

NAME = "kafka"

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

LOG4J1 = """\
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def kafka_dir(settings: Settings) -> Path:
    return settings.home / "kafka"


def bootstrap_host_port(settings: Settings) -> tuple[str, int]:
    first = settings.kafka.bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise PinlakeError(f"bad kafka bootstrap server {first!r} (want host:port)")
    return host, int(port)


def server_properties(settings: Settings) -> str:
    host, port = bootstrap_host_port(settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise PinlakeError(
            f"the local broker only listens on loopback; got {host!r} "
            "(set PINLAKE_KAFKA__EXTERNAL=true for an external cluster)"
        )
    cport = settings.kafka.controller_port
    data = kafka_dir(settings) / "data"
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{cport}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": str(settings.kafka.partitions),
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "log.retention.hours": "168",
        "delete.topic.enable": "true",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise PinlakeError("java not found on PATH (Kafka 4 needs Java 17+)")
    return java


def _classpath(settings: Settings) -> str:
    jars = settings.kafka_jars_dir
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise PinlakeError(f"no Kafka broker jars in {jars} (run `make setup`)")
    return f"{jars}/*"


def _jvm_args(settings: Settings) -> list[str]:
    kdir = kafka_dir(settings)
    return [
        _java(),
        "-Xms128m",
        "-Xmx512m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
        f"-Dlog4j.configuration=file:{kdir / 'log4j.properties'}",
        f"-Dkafka.logs.dir={settings.logs_dir}",
        "-cp",
        _classpath(settings),
    ]


def prepare(settings: Settings) -> Path:
    """Write the configs and format the storage on first start; returns server.properties."""
    kdir = kafka_dir(settings)
    kdir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log = settings.logs_dir / "kafka-server.log"
    (kdir / "log4j2.properties").write_text(LOG4J2.format(log=log))
    (kdir / "log4j.properties").write_text(LOG4J1.format(log=log))
    props = kdir / "server.properties"
    props.write_text(server_properties(settings))
    if not (kdir / "data" / "meta.properties").exists():
        cid = new_cluster_id()
        argv = [
            *_jvm_args(settings),
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cid}",
            "-c",
            str(props),
            "--ignore-formatted",
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as exc:
            raise PinlakeError("formatting the Kafka storage timed out") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise PinlakeError("formatting the Kafka storage failed: " + " | ".join(tail))
    return props


def new_cluster_id() -> str:
    """A random KRaft cluster id, as Kafka's own ``Uuid.randomUuid`` makes them.

    Base64url of 16 random bytes; like Kafka, ids starting with '-' are drawn again so that no
    command-line parser can take the id for an option.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def config(settings: Settings) -> dict[str, object]:
    """What a running broker is tied to (recorded beside its pid file, compared by ``services
    up``): its listener, its controller port and the default partition count."""
    return {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "controller_port": settings.kafka.controller_port,
        "partitions": settings.kafka.partitions,
    }


def start(settings: Settings) -> int:
    """Start the broker in the background (no-op if already running); returns its pid."""
    pid = process.read_pid(settings.run_dir, NAME)
    if pid is not None:
        return pid
    props = prepare(settings)
    argv = [*_jvm_args(settings), "kafka.Kafka", str(props)]
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "kafka.out",
        NAME,
        argv,
        env=None,
        config=config(settings),
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    return process.read_pid(settings.run_dir, NAME)


def wait_healthy(settings: Settings, timeout: float = 60.0, pid_: int | None = None) -> None:
    """Wait until the broker answers metadata requests; raises PinlakeError if it exits during
    start-up or is not healthy after ``timeout`` seconds."""
    from pinlake.kafka import healthy

    out = settings.logs_dir / "kafka.out"
    process.wait_healthy(
        lambda: healthy(settings, timeout=1.5),
        timeout=timeout,
        interval=0.3,
        pid=pid_,
        exited=f"the Kafka broker exited during start-up; see {out}",
        not_healthy=(
            f"Kafka at {settings.kafka.bootstrap_servers} not healthy after {timeout:.0f}s; "
            f"see {out}"
        ),
    )
