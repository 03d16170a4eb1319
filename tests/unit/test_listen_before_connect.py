"""No client connects to a service's port before something listens on it
(:mod:`pinlake.services.process`): a connection to a port nothing listens on may be given that
very port as its own local port (a TCP self-connection), and the service then cannot bind it.
A new user's ``services up`` with Kafka on 39092 failed so (tests/integration/
test_ports_given_away.py starts real servers on such ports).

The rule is read from the kernel's table of listening sockets (never a probe ``bind``). Here:
that read, the start-up wait that asks nothing before its ports listen, the port check that
never connects to a free port, the Kafka wait that makes no admin client before every node's
client port listens, the waits of the other services naming their ports, the status probes
and commands that make no Kafka client, HTTP request or MariaDB connection while the service's
port does not listen, and the warning of ``up`` about ports inside the kernel's ephemeral range.
Real sockets and child processes of this test only; no service is started.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from pinlake_testing import listening, port_given_away

from pinlake import loopback
from pinlake.config import (
    ApiSettings,
    KafkaSettings,
    MariadbSettings,
    S3Settings,
    Settings,
    SparkClusterSettings,
)
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError
from pinlake.services import (
    api_process,
    kafka_broker,
    manager,
    mariadb,
    metastore,
    process,
    s3_server,
    thrift_server,
)
from pinlake.services.process import free_ports
from pinlake.services.request import UpRequest

# /proc/net/tcp and /proc/net/tcp6 as Linux writes them (proc(5)): 127.0.0.1:9092 (0x2384) and
# 0.0.0.0:8082 (0x1F92) listen (state 0A); 127.0.0.1:40000 (0x9C40) is connected to 9092 (01);
# [::ffff:127.0.0.1]:9093 (0x2385, a JVM's) listens; [::1]:7077 (0x1BA5) is in TIME-WAIT (06);
# 127.0.0.1:39092 (0x98B4) is a connection to itself, in TIME-WAIT.
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:1F92 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:9C40 0100007F:2384 01 00000000:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:98B4 0100007F:98B4 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 0000000000000000FFFF00000100007F:2385 00000000000000000000000000000000:0000 0A 00000000
   1: 00000000000000000000000001000000:1BA5 00000000000000000000000001000000:9C41 06 00000000
"""


def test_the_listening_ports_are_read_from_the_kernels_tables(tmp_path: Path) -> None:
    tcp, tcp6 = tmp_path / "tcp", tmp_path / "tcp6"
    tcp.write_text(TCP)
    tcp6.write_text(TCP6)
    assert loopback.listening_ports([tcp, tcp6]) == {9092, 8082, 9093}
    assert loopback.listening_ports([tcp, tmp_path / "no-ipv6"]) == {9092, 8082}  # IPv6 off
    assert loopback.self_connected(39092, [tcp, tcp6])
    assert not any(loopback.self_connected(port, [tcp, tcp6]) for port in (9092, 40000, 7077))


def test_a_listener_is_seen_and_a_bound_or_closed_port_is_not() -> None:
    with listening() as port:
        assert port in loopback.listening_ports()
        assert loopback.ports_listening([port])
    assert not loopback.ports_listening([port])
    with socket.socket() as bound:  # bound, not listening: no client could connect to it
        bound.bind(("127.0.0.1", 0))
        assert not loopback.ports_listening([bound.getsockname()[1]])
    assert loopback.ports_listening([])


def test_without_the_proc_tables_psutil_reads_them_and_unknown_lets_the_client_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not Linux: psutil's table of connections; none readable (macOS without root: AccessDenied):
    nothing to go by, so the check connects as it did without the rule."""
    missing = (tmp_path / "tcp", tmp_path / "tcp6")
    monkeypatch.setattr(loopback, "TCP_TABLES", missing)
    with listening() as port:
        assert port in loopback.listening_ports()

    def denied(kind: str) -> list:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    assert loopback.listening_ports() is None
    assert loopback.ports_listening([free_ports(1)[0]])


def test_the_wait_asks_nothing_until_its_port_listens(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    asked: list[float] = []
    opened: list[float] = []
    server = socket.socket()

    def listen_later() -> None:
        time.sleep(0.6)
        server.bind(("127.0.0.1", port))
        server.listen()
        opened.append(time.monotonic())

    def check() -> bool:
        asked.append(time.monotonic())
        return process.port_answers(port)

    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        process.wait_healthy(
            check,
            timeout=10,
            interval=0.05,
            pid=None,
            exited="exited",
            not_healthy="not healthy",
            ports=[port],
        )
    finally:
        thread.join()
        server.close()
    assert opened and asked and asked[0] >= opened[0]


def test_while_its_port_does_not_listen_the_wait_still_sees_an_exit_and_times_out(
    tmp_path: Path,
) -> None:
    (port,) = free_ports(1)
    log = tmp_path / "logs" / "svc.log"
    log.parent.mkdir()
    code = "import sys; print('ERROR bind failed', flush=True); sys.exit(1)"
    pid = process.spawn(tmp_path / "run", log, "svc", [sys.executable, "-c", code])

    def never() -> bool:
        raise AssertionError("asked before the port listened")

    wait = {"interval": 0.05, "exited": "the service exited", "not_healthy": "not healthy"}
    with pytest.raises(PinlakeError) as exited:
        process.wait_healthy(never, timeout=30, pid=pid, log=log, ports=[port], **wait)
    assert str(exited.value).splitlines() == [
        f"the service exited; see {log}, whose last errors are:",
        "  | ERROR bind failed",
    ]
    with pytest.raises(PinlakeError) as timed_out:
        process.wait_healthy(never, timeout=0.3, pid=None, ports=[port], **wait)
    assert str(timed_out.value) == "not healthy"


def test_the_port_check_never_connects_to_a_port_nothing_listens_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Such a connection may be given the port itself, "answer" (a self-connection) and call a
    free port taken: ``up`` refused 127.0.0.1:39092 as "already in use" so."""
    dialled: list[tuple] = []
    connect_ex = socket.socket.connect_ex

    def spy(self: socket.socket, address: tuple) -> int:
        dialled.append(address)
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect_ex", spy)
    (free,) = free_ports(1)
    assert not process.port_answers(free)
    process.refuse_busy_port(free, "PINLAKE_API__PORT")
    assert dialled == []
    with listening() as port:
        assert process.port_answers(port)
        with pytest.raises(PinlakeError, match=f"port 127.0.0.1:{port} is already in use"):
            process.refuse_busy_port(port, "PINLAKE_API__PORT")
    assert dialled == [("127.0.0.1", port)] * 2


def test_a_port_held_by_a_connection_to_itself_is_refused_naming_its_setting() -> None:
    """What a client that connected to a port while nothing listened may leave (the port the
    kernel gave it being that very one): the service would fail to bind it for a minute,
    SO_REUSEADDR or not (a second ``services up`` soon after a trial's failure would have failed
    again so, on the first one's TIME-WAIT). ``up`` now says so before it starts anything."""
    with port_given_away() as port:
        with socket.socket() as client:
            assert client.connect_ex(("127.0.0.1", port)) == 0  # itself answered
            assert client.getsockname() == ("127.0.0.1", port)
    assert not process.port_answers(port)  # nothing listens
    assert loopback.self_connected(port)  # its TIME-WAIT
    with pytest.raises(PinlakeError) as refused:
        process.refuse_busy_port(port, "PINLAKE_API__PORT")
    assert str(refused.value) == (
        f"port 127.0.0.1:{port} is held by a connection from that port to itself (a TCP "
        "self-connection, or its TIME-WAIT, which ends within a minute): wait, or choose "
        "another with PINLAKE_API__PORT"
    )


def _three_nodes(home: Path) -> Settings:
    """Three nodes on six free ports: node n's client port base + 2(n - 1), its controller port
    the next one."""
    base = process.free_port_block(6)
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{base}", controller_port=base + 1, brokers=3
        ),
    )


def _pretend_nodes_run(settings: Settings, pids: dict[int, int]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    for node in kafka_broker.nodes(settings):
        pid = pids.get(node.id, psutil.Process().pid)
        process.pid_file(settings.run_dir, node.name).write_text(f"{pid}\n")


def test_the_kafka_wait_makes_no_client_before_every_nodes_client_port_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """librdkafka dials every bootstrap server and every broker the metadata names, in the
    background: its client exists only once all of them listen (the nodes are this process,
    pretended; their client ports open one after another)."""
    import pinlake.kafka

    settings = _three_nodes(tmp_path)
    _pretend_nodes_run(settings, {})
    nodes = kafka_broker.nodes(settings)
    made: list[float] = []
    opened: list[float] = []
    servers: list[socket.socket] = []

    def broker_ids(settings: Settings, timeout: float = 2.0) -> list[int]:
        made.append(time.monotonic())
        return [1, 2, 3]

    def open_one_by_one() -> None:
        for node in nodes:
            time.sleep(0.4)
            servers.append(socket.socket())
            servers[-1].bind(("127.0.0.1", node.port))
            servers[-1].listen()
        opened.append(time.monotonic())

    monkeypatch.setattr(pinlake.kafka, "broker_ids", broker_ids)
    thread = threading.Thread(target=open_one_by_one)
    thread.start()
    try:
        kafka_broker.wait_healthy(settings, timeout=20)
    finally:
        thread.join()
        for server in servers:
            server.close()
    assert made and opened and made[0] >= opened[0]
    assert not any(node.controller_port in loopback.listening_ports() for node in nodes)


def test_no_kafka_client_is_made_while_no_node_of_pinlakes_own_cluster_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``services status``, ``stream`` and ``sink`` with the broker down: each made a librdkafka
    client that dialed the broker's port until its timeout (status 2 s, stream 5 s, sink 10 s),
    every dial a connect to a port nothing listens on (:func:`pinlake.kafka.listening`). Now
    they answer at once and make no client; an external cluster is still asked (only a client
    can tell). The sink answers before it makes the bucket's folder."""
    import confluent_kafka
    import confluent_kafka.admin

    from pinlake import kafka
    from pinlake.cli import main

    clients: list[str] = []

    def client(kind: str) -> type:
        def made(*args: object, **kwargs: object) -> None:
            clients.append(kind)
            raise RuntimeError("no broker here")

        return made  # type: ignore[return-value]

    monkeypatch.setattr(confluent_kafka.admin, "AdminClient", client("admin"))
    monkeypatch.setattr(confluent_kafka, "Consumer", client("consumer"))
    kafka_port, controller_port, api_port = free_ports(3)  # nothing listens there
    server = f"127.0.0.1:{kafka_port}"
    local = Settings(
        home=tmp_path / "home",
        kafka=KafkaSettings(bootstrap_servers=server, controller_port=controller_port),
    )
    assert not kafka.listening(local)
    assert not kafka.healthy(local) and kafka.broker_ids(local) == []
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", server)
    monkeypatch.setenv("PINLAKE_KAFKA__CONTROLLER_PORT", str(controller_port))
    monkeypatch.setenv("PINLAKE_API__PORT", str(api_port))
    home = ["--home", str(tmp_path / "home")]
    with pytest.raises(SystemExit) as exit_info:
        main([*home, "services", "status"])
    assert exit_info.value.code == 3
    kafka_row = next(line for line in capsys.readouterr().out.splitlines() if " kafka " in line)
    assert server in kafka_row and "down" in kafka_row, kafka_row
    start = f"`{PINLAKE.at(tmp_path / 'home')} services up`"
    for command in (["stream", "--available-now"], ["sink", "--once"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*home, *command])
        assert exit_info.value.code == 1, command
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == (
            f"error: Kafka at {server} is not reachable (nothing listens on port {kafka_port}): "
            f"start it with {start}"
        )
    # the sink stopped before it made the home's bucket folder (helper-74: it made it, empty)
    assert not (tmp_path / "home" / "bucket").exists()
    assert clients == []
    with listening() as port:  # a node listens: the client asks it
        assert kafka.listening(
            local.model_copy(
                update={
                    "kafka": KafkaSettings(
                        bootstrap_servers=f"127.0.0.1:{port}", controller_port=controller_port
                    )
                }
            )
        )
    external = KafkaSettings(bootstrap_servers=server, external=True)
    assert kafka.listening(local.model_copy(update={"kafka": external}))
    assert not kafka.healthy(local.model_copy(update={"kafka": external}))
    assert clients == ["admin"]


def test_the_http_and_mariadb_probes_connect_only_to_a_listening_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``services status`` asks the API, S3 and the Spark cluster over HTTP
    (:func:`pinlake.loopback.get_local`) and MariaDB over its protocol, and ``produce --to api``
    the API's ``/healthz`` first: with the service down, each connected to a port nothing
    listens on. Now none connects there; a listening port is asked as before."""
    import httpx
    import pymysql

    asked: list[str] = []

    def get(url: str, **kwargs: object) -> httpx.Response:
        asked.append(url)
        return httpx.Response(200, request=httpx.Request("GET", url))

    def connect(**kwargs: object) -> None:
        asked.append(f"mysql:{kwargs['port']}")
        raise pymysql.err.OperationalError(2003, "refused")

    monkeypatch.setattr(httpx, "get", get)
    monkeypatch.setattr(pymysql, "connect", connect)
    (free,) = free_ports(1)
    with pytest.raises(httpx.ConnectError, match=f"nothing listens on port {free}"):
        loopback.get_local(f"http://127.0.0.1:{free}/healthz", timeout=1)
    down = Settings(home=tmp_path, api=ApiSettings(port=free), mariadb=MariadbSettings(port=free))
    assert api_process.health(down) is None
    assert not mariadb.healthy(down)
    assert asked == []
    # the producer's first request, the API's /healthz (aiohttp), likewise
    from pinlake.produce import ProduceToApi
    from pinlake.produce.http import post_records

    to = ProduceToApi(api_url=f"http://127.0.0.1:{free}")
    with pytest.raises(PinlakeError) as refused:
        post_records(down, iter([]), to, show_progress=False)
    assert str(refused.value).startswith(
        f"the ingestion API at http://127.0.0.1:{free} is not reachable (nothing listens on port "
        f"{free}): start it with `"
    )
    # an --api-url that is not the home's API: `services up` would not start anything there
    # (helper-82: it was named for port 8099, and started the API on 8082)
    elsewhere = Settings(home=tmp_path, api=ApiSettings(port=free + 1))
    with pytest.raises(PinlakeError) as refused:
        post_records(elsewhere, iter([]), to, show_progress=False)
    assert str(refused.value).endswith(
        f"): it is not this home's API (http://127.0.0.1:{free + 1}, which `{PINLAKE} services "
        "up` starts; PINLAKE_API__PORT moves it): check --api-url"
    )
    with listening() as port:
        assert loopback.get_local(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        up = Settings(home=tmp_path, mariadb=MariadbSettings(port=port))
        assert not mariadb.healthy(up)  # asked: the fake server refuses
    assert asked == [f"http://127.0.0.1:{port}/healthz", f"mysql:{port}"]


def test_a_kafka_node_that_exits_before_its_port_listens_is_named_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pinlake.kafka

    settings = _three_nodes(tmp_path)
    log = kafka_broker.server_log(settings, kafka_broker.nodes(settings)[2])
    dying = process.spawn(
        settings.run_dir, log, "dying", [sys.executable, "-c", "import time; time.sleep(0.5)"]
    )
    _pretend_nodes_run(settings, {3: dying})
    monkeypatch.setattr(pinlake.kafka, "broker_ids", lambda *a, **k: pytest.fail("a client"))
    started = time.monotonic()
    with pytest.raises(PinlakeError) as failed:
        kafka_broker.wait_healthy(settings, timeout=30)
    assert str(failed.value).startswith("Kafka node 3 exited during start-up; see ")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("service", "port"),
    [
        (api_process, lambda s: s.api.port),
        (s3_server, lambda s: s.s3.port),
        (mariadb, lambda s: s.mariadb.port),
        (metastore, lambda s: s.metastore_port),
        (thrift_server, lambda s: s.thrift_port),
    ],
    ids=["api", "s3", "mariadb", "metastore", "thrift"],
)
def test_every_service_wait_names_the_port_it_connects_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service, port
) -> None:
    api, s3, db, ms, thrift = free_ports(5)
    settings = Settings(
        home=tmp_path,
        api=ApiSettings(port=api),
        s3=S3Settings(port=s3),
        mariadb=MariadbSettings(port=db),
        metastore_port=ms,
        thrift_port=thrift,
    )
    seen: dict = {}
    monkeypatch.setattr(process, "wait_healthy", lambda check, **kwargs: seen.update(kwargs))
    service.wait_healthy(settings, timeout=1, pid_=None)
    assert seen["ports"] == [port(settings)]


EPHEMERAL = (32768, 60999)


def test_ports_inside_the_ephemeral_range_are_a_warning_not_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "ephemeral_port_range", lambda: EPHEMERAL)
    assert process.ephemeral_warning([(9092, "X"), (32767, "Y"), (61000, "Z")]) is None
    assert process.ephemeral_warning([(39092, "PINLAKE_KAFKA__BOOTSTRAP_SERVERS")]) == (
        "port 39092 (PINLAKE_KAFKA__BOOTSTRAP_SERVERS) is in the kernel's ephemeral port range "
        "32768-60999 (/proc/sys/net/ipv4/ip_local_port_range), from which any outgoing "
        "connection on this machine may take its local port: one that holds it when the "
        'service starts makes the start fail with "Address already in use"; ports below 32768, '
        "or reserved (sysctl net.ipv4.ip_local_reserved_ports), are safe from that"
    )
    both = process.ephemeral_warning([(32768, "A"), (9092, "B"), (60999, "C")])
    assert both is not None and both.startswith("ports 32768 (A), 60999 (C) are in the kernel's")


def test_up_warns_about_each_port_to_start_inside_the_range_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the ports of services ``up`` would start (Kafka node 2's named with its step), in one
    line, before the first service starts (stopped here at the broker's start)."""
    low = process.free_port_block(7)  # the range: these seven ports, free
    # drawn below the kernel's own range, before the range is made these seven ports: drawn
    # after, below a block that starts near FREE_PORT_FLOOR, there was no room (a flaky failure)
    (outside,) = free_ports(1)
    while low <= outside <= low + 6:
        (outside,) = free_ports(1)
    monkeypatch.setattr(process, "ephemeral_port_range", lambda: (low, low + 6))
    settings = Settings(
        home=tmp_path,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{low}", controller_port=low + 1, brokers=2
        ),
        api=ApiSettings(port=outside, api_key=None),
        spark_cluster=SparkClusterSettings(
            workers=1, port=low + 4, ui_port=low + 5, worker_ui_port=low + 6
        ),
    )
    warning = manager.check_ports(settings, UpRequest(stream=False, spark_cluster=True))
    assert warning is not None
    named = warning.split(" are in the kernel's")[0]
    assert named == (
        f"ports {low} (PINLAKE_KAFKA__BOOTSTRAP_SERVERS: Kafka node 1's listener is its entry "
        f"there, or the one entry), {low + 1} (PINLAKE_KAFKA__CONTROLLER_PORT: Kafka node 1's "
        f"controller port is that port), {low + 2} (PINLAKE_KAFKA__BOOTSTRAP_SERVERS: Kafka "
        f"node 2's listener is its entry there, or the one entry + 2), {low + 3} "
        "(PINLAKE_KAFKA__CONTROLLER_PORT: Kafka node 2's controller port is that port + 2), "
        f"{low + 4} (PINLAKE_SPARK_CLUSTER__PORT), {low + 5} (PINLAKE_SPARK_CLUSTER__UI_PORT), "
        f"{low + 6} (PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT)"
    )

    def stop_here(settings: Settings, say: object) -> None:
        raise PinlakeError("stopped before the broker")

    monkeypatch.setattr(manager, "start_kafka", stop_here)
    with pytest.raises(PinlakeError, match="stopped before the broker"):
        manager.start_all(settings)
    out = capsys.readouterr().out
    assert "warning: ports " + str(low) in out
    assert f"{outside} (PINLAKE_API__PORT)" not in out
