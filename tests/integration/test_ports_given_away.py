"""Every service comes up on a port inside the kernel's ephemeral range, even on one that the
kernel gives the next connection to it as that connection's own local port
(:func:`pinlake_testing.port_given_away`: the worst case, made certain).

From a new user's trial: ``services up`` with Kafka on 127.0.0.1:39092 failed with "Socket
server failed to bind to 127.0.0.1:39092: Address already in use" while nothing listened there:
the start-up wait's admin client (librdkafka) had connected to 39092 before the broker bound it,
and the kernel had given that connection 39092 as its own local port (a TCP self-connection;
``ss`` showed ``TIME-WAIT 127.0.0.1:39092 127.0.0.1:39092``). No pinlake client now connects to
a port before something listens on it (:mod:`pinlake.services.process`): not the port check of
``up`` (which called such a port in use: its connection "answered"), not a start-up wait.

Each start runs in a child process in a network namespace of its own (:func:`_isolated`), so
that no connection of another test (an xdist worker's) can take the port first; the other ports
(Kafka's controller port, the broker the API produces to) are free ones below the range.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pinlake.config import ApiSettings, KafkaSettings, MariadbSettings, S3Settings, Settings
from pinlake.errors import PinlakeError
from pinlake.services import api_process, kafka_broker, manager, mariadb, process, s3_server

#: each test starts a service in a child process: about 25 s for the module, outside the fast loop
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
#: What the child process prints before its result (one JSON object).
RESULT = "RESULT "


def _settings(home: Path, **ports: int) -> Settings:
    """Settings of ``home``: the given ports (``kafka``, ``api``, ``s3``, ``mariadb``), every
    other port of the ones used here a free one below the ephemeral range."""
    kafka, controller, api, s3, db = process.free_ports(5)
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{ports.get('kafka', kafka)}",
            controller_port=controller,
            partitions=1,
        ),
        api=ApiSettings(host="127.0.0.1", port=ports.get("api", api), api_key=None),
        s3=S3Settings(port=ports.get("s3", s3)),
        mariadb=MariadbSettings(port=ports.get("mariadb", db)),
    )


#: The services that start without a broker: ``{name: (the setting that moves its port, its
#: module)}``. ``services up`` starts each so (``manager._ensure_running``): its port checked,
#: then started, then awaited.
SERVERS = {
    "api": ("PINLAKE_API__PORT", api_process),
    "s3": ("PINLAKE_S3__PORT", s3_server),
    "mariadb": ("PINLAKE_MARIADB__PORT", mariadb),
}


def _start(service: str, path: str, home: str) -> dict:
    """In the child: start ``service`` on a port given away, ``services up``'s way (``path``) or
    by its wait alone, check that it answers, stop it; ``{"port", "in_range"}``."""
    from pinlake_testing import port_given_away

    from pinlake.kafka import broker_ids

    with port_given_away() as port:
        low, high = process.ephemeral_port_range()
        settings = _settings(Path(home), **{service: port})
        try:
            if service == "kafka" and path == "services up":
                manager.start_kafka(settings, say=lambda _line: None)
            elif service == "kafka":
                kafka_broker.wait_healthy(settings, timeout=90, pid_=kafka_broker.start(settings))
            else:
                variable, module = SERVERS[service]
                if path == "services up":
                    process.refuse_busy_port(port, variable)
                module.wait_healthy(settings, timeout=45, pid_=module.start(settings))
            if service == "kafka":
                assert broker_ids(settings, timeout=10) == [1]
            elif service == "api":
                assert api_process.health(settings, timeout=5) == {"status": "ok", "kafka": "down"}
            else:
                assert SERVERS[service][1].healthy(settings, timeout=5)
        finally:
            manager.stop_all(settings, quiet=True)
    return {"port": port, "in_range": low <= port <= high}


def _loopback_up() -> None:
    """Bring ``lo`` up (a new network namespace has it down): SIOCGIFFLAGS, then SIOCSIFFLAGS
    with IFF_UP."""
    import fcntl
    import socket
    import struct

    with socket.socket() as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, 0x8913, request))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))


def _child(own_network: bool, arguments: dict) -> None:
    """The child's main: ``_start(**arguments)``; prints :data:`RESULT` and ``{"ok": …}``,
    or ``{"error": the PinlakeError's message, or why no port could be given away}``."""
    if own_network:
        _loopback_up()
    try:
        result = {"ok": _start(**arguments)}
    except PinlakeError as exc:
        result = {"error": str(exc)}
    except pytest.fail.Exception as exc:  # no port could be given away on this kernel
        result = {"error": str(exc)}
    print(RESULT + json.dumps(result), flush=True)


@functools.cache
def _unshare() -> list[str]:
    """The command prefix that runs a child in a user and network namespace of its own
    (``unshare --user --map-root-user --net``), or ``[]`` where none can be made (no
    ``unshare``; user namespaces off, as under a container's default seccomp profile)."""
    command = shutil.which("unshare")
    if command is None:
        return []
    prefix = [command, "--user", "--map-root-user", "--net"]
    tried = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    return prefix if tried.returncode == 0 else []


def _isolated(service: str, path: str, home: Path) -> dict:
    """``_start(service, path, home)`` in a child process in a network namespace of its own,
    loopback up: the ports there are the child's alone. Where no namespace can be made, in a
    plain child: another process's connection may then, rarely, take the port first. Fails the
    test with the child's error; stops what the child left."""
    prefix = _unshare()
    bootstrap = (
        "import json, sys; "
        f"sys.path[:0] = [{str(HERE.parent)!r}, {str(HERE)!r}]; "
        "import test_ports_given_away as t; "
        "t._child(sys.argv[1] == 'own', json.loads(sys.argv[2]))"
    )
    own = "own" if prefix else "shared"
    arguments = {"service": service, "path": path, "home": str(home)}
    argv = [*prefix, sys.executable, "-c", bootstrap, own, json.dumps(arguments)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        manager.stop_all(Settings(home=home), quiet=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    assert lines, f"the child printed no result (exit {done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(lines[-1][len(RESULT) :])
    if "error" in result:
        pytest.fail(result["error"], pytrace=False)
    return result["ok"]


@pytest.mark.kafka
@pytest.mark.parametrize("path", ["services up", "the wait alone"])
def test_kafka_comes_up_on_a_port_given_to_the_next_connection(tmp_path: Path, path: str) -> None:
    """``services up``'s way (the port check, the start, the wait) and the wait alone (as after
    a start without the check): before, the first named the port in use, the second failed as
    the trial did (the broker could not bind)."""
    assert _isolated("kafka", path, tmp_path / "home")["in_range"]


@pytest.mark.parametrize("path", ["services up", "the wait alone"])
@pytest.mark.parametrize("service", list(SERVERS))
def test_a_server_comes_up_on_a_port_given_to_the_next_connection(
    tmp_path: Path, service: str, path: str
) -> None:
    """The API (uvicorn: "[Errno 98] error while attempting to bind on address"), the S3 server
    (moto) and MariaDB, each ``up``'s way (its port checked, started, awaited) and by its wait
    alone. No broker runs: the API answers ``/healthz`` without one."""
    assert _isolated(service, path, tmp_path / "home")["in_range"]
