"""Supervision of the local Apache Kafka 4.x cluster in KRaft mode, run from the
Maven-resolved jars: ``settings.kafka.brokers`` nodes (1 by default), each a broker and a
controller (``process.roles=broker,controller``) on loopback; configuration, storage format,
start, stop, readiness. The client side (admin, topics, offsets, the in-sync rule) is
:mod:`pinlake.kafka`.

Node 1 is the service ``kafka`` (state in ``home/kafka``, pid file ``run/kafka.pid``, logs
``logs/kafka.out`` and ``logs/kafka-server.log``), exactly as a single broker always was; node
n > 1 is ``kafka-<n>`` (``home/kafka-<n>``, ``run/kafka-<n>.pid``, ``logs/kafka-<n>.out``).
Every node is formatted with the same cluster id, lists every node in
``controller.quorum.voters`` and sets the replication rules of :func:`server_properties`.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import uuid
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pinlake import run_folder
from pinlake.config import Settings, host_port
from pinlake.errors import PinlakeError, UsageError
from pinlake.services import jvm, process

NAME = run_folder.KAFKA  # node 1's; node n's is kafka-<n> (node_name)

#: Hosts a local node may listen on.
LOOPBACK = ("127.0.0.1", "localhost", "::1")

#: Failover timing of a cluster of several nodes (Kafka's defaults: 9000, 2000, 30000 ms). A node
#: that dies (kill -9) is fenced by the controller once its session expires; only then do its
#: partitions get new leaders and leave it out of their ISR, and until then ``acks=all`` writes
#: to them wait. Shorter than the default so that the ingestion API's delivery timeout
#: (``PINLAKE_API__DELIVERY_TIMEOUT_MS``, 10 s) rides over a failover, the active controller's
#: included; a lagging follower leaves the ISR after 10 s instead of 30 s.
FAILOVER = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "750",
    "replica.lag.time.max.ms": "10000",
}

#: A one-node quorum's own setting: its active controller appends no no-op record to the
#: metadata log (Kafka's default: one every 500 ms). KIP-835's records move the log's end so
#: that the other nodes' lag metrics show a quorum that stopped; a single node has no other
#: node, and an idle one took 1.23 CPU-s a minute with them, 0.82 without (bench/README.md, "An
#: idle Kafka node"). A cluster keeps them.
ONE_NODE = {"metadata.max.idle.interval.ms": "0"}

#: Each node's log4j2 configuration (Kafka logs through SLF4J 1.7, bound to log4j2 by
#: log4j-slf4j-impl, jvm/pom.xml): Kafka's warnings and errors, and other libraries' INFO, to
#: ``logs/kafka-server.log`` (``kafka-<n>-server.log``); what reaches stdout/stderr goes to the
#: node's ``.out`` log (:func:`out_log`).
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


def kafka_dir(settings: Settings) -> Path:
    """State directory of node 1 (``home/kafka``): its configs, ``data/`` and ``cluster.json``."""
    return settings.home / "kafka"


@dataclass(frozen=True)
class Node:
    """One local KRaft node: ``id`` is its ``node.id`` (1-based), ``name`` its service name
    (pid file, configuration record, log names), ``port`` its client (PLAINTEXT) listener,
    ``controller_port`` its CONTROLLER listener, ``dir`` its state directory."""

    id: int
    name: str
    host: str
    port: int
    controller_port: int
    dir: Path

    @property
    def address(self) -> str:
        """``host:port`` of the client listener (its entry in the bootstrap servers)."""
        return f"{self.host}:{self.port}"


def node_name(node_id: int) -> str:
    """The service name of node ``node_id``: ``kafka`` for node 1, ``kafka-<id>`` after."""
    return NAME if node_id == 1 else f"{NAME}-{node_id}"


def nodes(settings: Settings) -> list[Node]:
    """The local nodes ``settings`` asks for, in ``node.id`` order (node n: the n-th bootstrap
    server, controller port ``settings.kafka.controller_ports[n-1]``).

    Raises :class:`PinlakeError` when a server is not on loopback, or when two
    listeners of the cluster share a port.
    """
    out = []
    k = settings.kafka
    for i, (server, cport) in enumerate(zip(k.servers, k.controller_ports, strict=True), start=1):
        host, port = host_port(server)
        if host not in LOOPBACK:
            raise PinlakeError(
                f"the local broker only listens on loopback; got {host!r} "
                "(set PINLAKE_KAFKA__EXTERNAL=true for an external cluster)"
            )
        home = kafka_dir(settings) if i == 1 else settings.home / node_name(i)
        out.append(Node(i, node_name(i), host, port, cport, home))
    ports = [p for node in out for p in (node.port, node.controller_port)]
    if len(set(ports)) != len(ports):
        raise PinlakeError(
            "the Kafka nodes' client and controller ports must all differ: "
            + ", ".join(f"node {n.id} {n.port}/{n.controller_port}" for n in out)
        )
    return out


def server_properties(settings: Settings, node: Node | None = None) -> str:
    """``server.properties`` of ``node`` (default: node 1) for a cluster of N =
    ``settings.kafka.brokers`` nodes: its own node.id, listeners and log dir, every node as a
    quorum voter, ``default.replication.factor`` and the internal topics' replication factor N,
    ``min.insync.replicas`` (and the internal topics' min ISR) min(2, N), and with N > 1 the
    shorter failover timing :data:`FAILOVER`, with N = 1 :data:`ONE_NODE`. Raises PinlakeError
    as :func:`nodes` does."""
    cluster = nodes(settings)
    node = node or cluster[0]
    n = len(cluster)
    min_isr = str(min(2, n))
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.id),
        "controller.quorum.voters": ",".join(
            f"{x.id}@{x.host}:{x.controller_port}" for x in cluster
        ),
        "listeners": f"PLAINTEXT://{node.address},CONTROLLER://{node.host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.dir / "data"),
        "num.partitions": str(settings.kafka.partitions),
        "default.replication.factor": str(n),
        "min.insync.replicas": min_isr,
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": str(n),
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": str(n),
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(n),
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "log.retention.hours": "168",
        "delete.topic.enable": "true",
    }
    if n > 1:
        lines.update(FAILOVER)
    else:
        lines.update(ONE_NODE)
    return "".join(f"{k}={jvm.properties_value(v)}\n" for k, v in lines.items())


def _classpath(settings: Settings) -> str:
    jars = settings.kafka_jars_dir
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise PinlakeError(f"no Kafka broker jars in {jars} (run `make setup`)")
    return f"{jars}/*"


def _jvm_args(settings: Settings, node: Node) -> list[str]:
    """The JVM command line of ``node`` up to the main class: heap 512 MB for a single broker,
    384 MB per node of a larger cluster."""
    return [
        *jvm.java(settings, "Kafka 4"),
        "-Xms128m",
        "-Xmx512m" if settings.kafka.brokers == 1 else "-Xmx384m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={settings.logs_dir}",
        "-cp",
        _classpath(settings),
    ]


def out_log(settings: Settings, node: Node) -> Path:
    """The stdout/stderr log of ``node`` (``logs/kafka.out``, ``logs/kafka-<n>.out``)."""
    return settings.logs_dir / f"{node.name}.out"


def server_log(settings: Settings, node: Node) -> Path:
    """The log4j2 log of ``node`` (:data:`LOG4J2`; ``logs/kafka-server.log``,
    ``logs/kafka-<n>-server.log``): where the broker's own errors go."""
    return settings.logs_dir / f"{node.name}-server.log"


def _exited(settings: Settings, node: Node, message: str) -> str:
    """``message`` with where to look when ``node`` exited and what its logs' ends say went
    wrong: :func:`~pinlake.services.process.with_logs` of its server log and its ``.out``
    log."""
    return process.with_logs(message, [server_log(settings, node), out_log(settings, node)])


def _cluster_file(settings: Settings) -> Path:
    """``home/kafka/cluster.json``: ``{"cluster_id", "brokers"}`` the storage was formatted for."""
    return kafka_dir(settings) / "cluster.json"


def _meta_cluster_id(node: Node) -> str | None:
    """The ``cluster.id`` in ``node``'s formatted storage (``data/meta.properties``), or None."""
    try:
        text = (node.dir / "data" / "meta.properties").read_text()
    except OSError:
        return None
    found = re.search(r"^cluster\.id=(\S+)$", text, re.MULTILINE)
    return found.group(1) if found else None


def formatted_brokers(settings: Settings) -> int | None:
    """How many nodes this home's Kafka storage was formatted for: ``cluster.json``'s count, 1
    for storage formatted by an older pinlake (node 1's ``meta.properties`` alone), None if
    nothing was formatted yet."""
    try:
        return int(json.loads(_cluster_file(settings).read_text())["brokers"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return 1 if (kafka_dir(settings) / "data" / "meta.properties").exists() else None


def check_storage(settings: Settings) -> None:
    """Raise :class:`PinlakeError` (one line: the count it has, the options that use it, the
    directories to delete instead) when this home's Kafka storage was formatted for another
    number of nodes than ``settings.kafka.brokers``: a KRaft quorum and its topics'
    replicas cannot change size by a restart."""
    have, want = formatted_brokers(settings), settings.kafka.brokers
    if have is None or have == want:
        return
    dirs = [kafka_dir(settings), *sorted(settings.home.glob(f"{NAME}-[0-9]*"))]
    raise PinlakeError(
        f"the Kafka storage of {settings.home} was formatted for {have} broker(s), not {want}: "
        f"use --kafka-brokers {have} (PINLAKE_KAFKA__BROKERS={have}), or stop the services and "
        f"delete {' '.join(str(d) for d in dirs)} (its topics are lost), or use another home"
    )


def prepare(settings: Settings) -> dict[int, Path]:
    """Write every node's configs and format the storage of each node not yet formatted (in
    parallel, all with one cluster id); returns ``{node id: server.properties}``.

    Raises :class:`PinlakeError` when the storage was formatted for another node count
    (:func:`check_storage`) or formatting fails or takes over 120 s.
    """
    check_storage(settings)
    cluster = nodes(settings)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    props: dict[int, Path] = {}
    for node in cluster:
        node.dir.mkdir(parents=True, exist_ok=True)
        log = jvm.properties_value(str(server_log(settings, node)))
        (node.dir / "log4j2.properties").write_text(LOG4J2.format(log=log))
        props[node.id] = node.dir / "server.properties"
        props[node.id].write_text(server_properties(settings, node))
    todo = [n for n in cluster if not (n.dir / "data" / "meta.properties").exists()]
    if todo:
        known = [cid for n in cluster if (cid := _meta_cluster_id(n)) is not None]
        cid = known[0] if known else new_cluster_id()
        with ThreadPoolExecutor(max_workers=len(todo)) as pool:
            errors = list(pool.map(lambda n: _format(settings, n, cid, props[n.id]), todo))
        failed = [e for e in errors if e]
        if failed:
            raise PinlakeError("; ".join(failed))
        _cluster_file(settings).write_text(
            json.dumps({"cluster_id": cid, "brokers": len(cluster)}) + "\n"
        )
    return props


def _format(settings: Settings, node: Node, cid: str, props: Path) -> str | None:
    """Format ``node``'s storage with cluster id ``cid``; None if done, else the error."""
    argv = [
        *_jvm_args(settings, node),
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cid}",
        "-c",
        str(props),
        "--ignore-formatted",
    ]
    what = "the Kafka storage" if settings.kafka.brokers == 1 else f"node {node.id}'s storage"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return f"formatting {what} timed out"
    if done.returncode != 0:
        return f"formatting {what} failed: {jvm.last_words(done.stderr or done.stdout)}"
    return None


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
    """What a running node is tied to (recorded beside each node's pid file, compared by
    ``services up``): the cluster's listeners, its first controller port, the default partition
    count and the number of nodes."""
    return {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "controller_port": settings.kafka.controller_port,
        "partitions": settings.kafka.partitions,
        "brokers": settings.kafka.brokers,
    }


def with_brokers(settings: Settings, brokers: int) -> Settings:
    """``settings`` with ``brokers`` local nodes (``services up --kafka-brokers``): a bootstrap
    list that was derived from one server is derived again from that server, an explicit list
    is kept (and must then name ``brokers`` servers). Raises :class:`UsageError` otherwise."""
    from pydantic import ValidationError

    from pinlake.config import KafkaSettings, error_message

    k = settings.kafka
    if brokers == k.brokers:
        return settings
    first = k.servers[0] if k.servers else k.bootstrap_servers
    try:
        derived = KafkaSettings(**{**k.model_dump(), "bootstrap_servers": first})
        base = first if derived.bootstrap_servers == k.bootstrap_servers else k.bootstrap_servers
        kafka = KafkaSettings(**{**k.model_dump(), "bootstrap_servers": base, "brokers": brokers})
    except ValidationError as exc:
        raise UsageError(f"--kafka-brokers {brokers}: {error_message(exc.errors()[0])}") from None
    return settings.model_copy(update={"kafka": kafka})


def wanted_configs(settings: Settings) -> dict[str, dict[str, object]]:
    """``{service name: config}`` of every node ``settings`` asks for (all with :func:`config`)."""
    return {node.name: config(settings) for node in nodes(settings)}


def start_nodes(settings: Settings) -> dict[Node, int]:
    """Start every node of ``settings`` that is not running (formatting storage first, see
    :func:`prepare`); returns ``{node: pid}`` of the nodes started (empty if all ran)."""
    stopped = [n for n in nodes(settings) if process.read_pid(settings.run_dir, n.name) is None]
    if not stopped:
        return {}
    props = prepare(settings)
    return {
        node: process.spawn(
            settings.run_dir,
            out_log(settings, node),
            node.name,
            [*_jvm_args(settings, node), "kafka.Kafka", str(props[node.id])],
            env=None,
            config=config(settings),
            own_logs=[server_log(settings, node)],
        )
        for node in stopped
    }


def start(settings: Settings) -> int:
    """Start every node that is not running (see :func:`start_nodes`); returns node 1's pid."""
    started = {node.id: npid for node, npid in start_nodes(settings).items()}
    pid_ = started.get(1) or pid(settings)
    if pid_ is None:
        raise PinlakeError(_exited(settings, nodes(settings)[0], "the Kafka broker exited at once"))
    return pid_


def running_names(settings: Settings) -> list[str]:
    """Service names of the nodes of this home that run now (whatever the settings say)."""
    names = [NAME] + sorted(
        (p.stem for p in settings.run_dir.glob(f"{NAME}-*.pid") if p.stem[6:].isdigit()),
        key=lambda name: int(name[6:]),
    )
    return [name for name in names if process.read_pid(settings.run_dir, name) is not None]


#: Seconds the nodes still running get to exit once they are fewer than a majority of the
#: KRaft quorum's voters (:func:`stop`), before they are killed.
LOST_QUORUM_GRACE = 3.0


def stop(settings: Settings, timeout: float = 30.0, names: Collection[str] | None = None) -> bool:
    """Stop the nodes ``names`` (service names, :func:`running_names`; default: every node of
    this home that runs, whatever the settings say), all at once: SIGTERM, then SIGKILL for any
    node left after ``timeout`` s; True if any of them was running.

    A node's controlled shutdown needs the KRaft quorum to record it, that is a majority of its
    voters (every node here). Once fewer than a majority of the nodes still run (those being
    stopped and any other), those left cannot finish it: their broker retries its shutdown
    heartbeat for ever (KAFKA-13907, where the Kafka maintainers settle on a timeout and a dirty
    shutdown; Kafka's own system tests kill such nodes, apache/kafka#11238). So they get
    :data:`LOST_QUORUM_GRACE` seconds, then SIGKILL (their logs are recovered at the next
    start; nothing written to a log is lost). Stopping three nodes at once next to other JVMs'
    shutdowns hit this: 45 s, the timeout ``services down`` gives Kafka, instead of about 6 s.
    Voters are counted as running processes: nodes that run but never formed a quorum are not
    seen as without one, and get the whole ``timeout`` (all at once). Names that do not run are
    skipped."""
    running = running_names(settings)
    chosen = [name for name in running if names is None or name in names]
    if not chosen:
        return False
    majority = as_running(settings).kafka.brokers // 2 + 1
    others = [name for name in running if name not in chosen]  # running, not stopped here
    with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
        stopping = {
            name: pool.submit(process.stop, settings.run_dir, name, timeout=timeout)
            for name in chosen
        }
        lost_at: float | None = None
        while left := {name: future for name, future in stopping.items() if not future.done()}:
            voters = len(left) + sum(
                process.read_pid(settings.run_dir, n) is not None for n in others
            )
            if lost_at is None and voters < majority:
                lost_at = time.monotonic()
            if lost_at is not None and time.monotonic() - lost_at >= LOST_QUORUM_GRACE:
                for name in left:
                    process.kill(settings.run_dir, name)
                break
            wait(left.values(), timeout=0.2, return_when=FIRST_COMPLETED)
    for future in stopping.values():
        future.result()  # a node's stop that failed raises here
    return True


def pid(settings: Settings) -> int | None:
    """Node 1's pid (the single broker's), None if it does not run."""
    return process.read_pid(settings.run_dir, NAME)


def node_pid(settings: Settings, node: Node) -> int | None:
    """``node``'s pid, None if it does not run."""
    return process.read_pid(settings.run_dir, node.name)


def as_running(settings: Settings) -> Settings:
    """``settings`` with the Kafka settings the running local cluster of this home was started
    with (from a running node's configuration record), so that ``status`` describes what runs
    whatever the environment says; ``settings`` itself if no node runs or Kafka is external."""
    if settings.kafka.external:
        return settings
    from pinlake.config import KafkaSettings

    for name in running_names(settings):
        found = process.running(settings.run_dir, name)
        recorded = found.config if found else None
        if recorded and "brokers" in recorded:
            kafka = KafkaSettings(**{**settings.kafka.model_dump(), **recorded, "external": False})
            return settings.model_copy(update={"kafka": kafka})
    return settings


def wait_healthy(settings: Settings, timeout: float = 60.0, pid_: int | None = None) -> None:
    """Wait until the cluster answers metadata requests naming all ``settings.kafka.brokers``
    brokers (one for an external cluster); raises PinlakeError if node 1 (``pid_``) or a node
    started with a pid file exits meanwhile, or when they are not there after ``timeout`` s.

    For a local cluster, no admin client is made before every node's client port listens
    (``process.wait_healthy``'s ``ports``): librdkafka dials the bootstrap servers and every
    broker the metadata names, and keeps reconnecting in the background, and a connect to a
    port nothing listens on yet may be given that very port as its local one, which the node
    then fails to bind ("Socket server failed to bind to 127.0.0.1:39092: Address already in
    use", a new user's trial with ports in the kernel's ephemeral range)."""
    from pinlake.kafka import broker_ids

    local = not settings.kafka.external
    want = settings.kafka.brokers if local else 1
    watched = {n: p for n in nodes(settings) if (p := node_pid(settings, n))} if local else {}
    first = nodes(settings)[0]
    logs = [server_log(settings, first), out_log(settings, first)]

    def watch() -> None:
        for node, npid in watched.items():
            if not process.is_alive(npid):
                raise PinlakeError(
                    _exited(
                        settings,
                        node,
                        ("the Kafka broker" if want == 1 else f"Kafka node {node.id}")
                        + " exited during start-up",
                    )
                )

    have = "not healthy" if want == 1 else f"has not all {want} brokers registered"
    process.wait_healthy(
        lambda: len(broker_ids(settings, timeout=1.5)) >= want,
        timeout=timeout,
        interval=0.3,
        pid=pid_,
        exited="the Kafka broker exited during start-up",
        log=logs,
        not_healthy=f"Kafka at {settings.kafka.bootstrap_servers} {have} after {timeout:.0f}s",
        ports=[node.port for node in nodes(settings)] if local else [],
        watch=watch,
    )
