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

Each test starts a real server; the port's next connection is the server's to take. The other
ports (Kafka's controller port, the broker the API produces to) are free ones below the range.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pinlake_testing import port_given_away

from pinlake.config import ApiSettings, KafkaSettings, MariadbSettings, S3Settings, Settings
from pinlake.errors import PinlakeError
from pinlake.services import api_process, kafka_broker, manager, mariadb, process, s3_server


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


def _in_range(port: int) -> bool:
    low, high = process.ephemeral_port_range()
    return low <= port <= high


@pytest.mark.kafka
@pytest.mark.parametrize("path", ["services up", "the wait alone"])
def test_kafka_comes_up_on_a_port_given_to_the_next_connection(tmp_path: Path, path: str) -> None:
    """``services up``'s way (the port check, the start, the wait) and the wait alone (as after
    a start without the check): before, the first named the port in use, the second failed as
    the trial did (the broker could not bind)."""
    with port_given_away() as port:
        assert _in_range(port)
        settings = _settings(tmp_path / "home", kafka=port)
        try:
            if path == "services up":
                manager.start_kafka(settings, say=lambda _line: None)
            else:
                pid = kafka_broker.start(settings)
                kafka_broker.wait_healthy(settings, timeout=90, pid_=pid)
            from pinlake.kafka import broker_ids

            assert broker_ids(settings, timeout=10) == [1]
        finally:
            kafka_broker.stop(settings)


#: The services that start without a broker: ``{name: (the setting that moves its port, its
#: module)}``. ``up`` starts each as ``services up`` does (``manager._ensure_running``): its port
#: checked, then started, then awaited.
SERVERS = {
    "api": ("PINLAKE_API__PORT", api_process),
    "s3": ("PINLAKE_S3__PORT", s3_server),
    "mariadb": ("PINLAKE_MARIADB__PORT", mariadb),
}


@pytest.mark.parametrize("path", ["services up", "the wait alone"])
@pytest.mark.parametrize("name", list(SERVERS))
def test_a_server_comes_up_on_a_port_given_to_the_next_connection(
    tmp_path: Path, name: str, path: str
) -> None:
    """The API (uvicorn: "[Errno 98] error while attempting to bind on address"), the S3 server
    (moto) and MariaDB, each ``up``'s way (its port checked, started, awaited) and by its wait
    alone. No broker runs: the API answers ``/healthz`` without one."""
    variable, service = SERVERS[name]
    if name == "mariadb":
        try:
            mariadb.binaries()
        except PinlakeError as exc:
            pytest.skip(str(exc))
    with port_given_away() as port:
        settings = _settings(tmp_path / "home", **{name: port})
        try:
            if path == "services up":
                process.refuse_busy_port(port, variable)
            pid = service.start(settings)
            service.wait_healthy(settings, timeout=45, pid_=pid)
            if name == "api":
                assert api_process.health(settings, timeout=5) == {"status": "ok", "kafka": "down"}
            else:
                assert service.healthy(settings, timeout=5)
        finally:
            service.stop(settings)
