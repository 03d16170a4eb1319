"""Which of pinlake's HTTP clients follow a shell's proxy (pinlake.loopback): a server on
loopback is reached directly, a remote one through the proxy. The loopback services' side, each
behind a proxy that does not answer: tests/ingestion/test_s3_bucket.py (the S3 client and the
server's health), tests/integration/test_ingestion_producer.py (the API's health, the producer),
tests/integration/test_scale_out.py (the Spark master's state)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pinlake_testing import behind_a_proxy

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.loopback import no_proxy_env, on_loopback
from pinlake.produce import ProduceToApi
from pinlake.produce.http import post_events


def test_an_endpoint_on_loopback_is_this_machines() -> None:
    loopback = ["http://127.0.0.1:5000", "http://localhost:9000", "http://[::1]:5000/x"]
    loopback.append("https://127.8.9.10")
    assert all(on_loopback(url) for url in loopback)
    others = ["https://s3.eu-west-1.amazonaws.com", "http://10.0.0.5:9000", "http://minio:9000"]
    others += ["127.0.0.1:5000", "http://0.0.0.0:5000"]  # no scheme: no host; any: not loopback
    assert not any(on_loopback(url) for url in others)


@pytest.fixture()
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A forward proxy on loopback that answers every request ``502 Bad Gateway`` (it reaches
    nothing) and records each request line; the shell's proxy variables name it."""
    seen: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                seen.append(head.split(b"\r\n", 1)[0].decode())
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    behind_a_proxy(monkeypatch, f"http://127.0.0.1:{port}")
    yield seen
    server.close()


def test_the_producer_reaches_a_remote_api_through_the_shells_proxy(
    proxy: list[str], tmp_path: Path
) -> None:
    """The original producers (``requests``) follow the shell's proxy to API Gateway, so does
    pinlake's for an API that is not on loopback; it posted such a URL directly, and behind a
    company network's proxy reached nothing."""
    remote = "http://api.example.invalid:8082"
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(PinlakeError, match="is not healthy: 502"):
        post_events(settings, iter([]), ProduceToApi(api_url=remote, events=1))
    assert proxy == [f"GET {remote}/healthz HTTP/1.1"]


def test_the_processes_pinlake_starts_reach_loopback_directly() -> None:
    """Spark's JVMs (the AWS SDK of ``s3a://``) read the proxy variables themselves: a land from
    the local S3 server went to the shell's proxy and failed after six minutes of retries
    (helper-69); with loopback in ``NO_PROXY`` it landed (pinlake.spark.launcher_env,
    pinlake.services.spark_cluster.daemon_env)."""
    loopback = "127.0.0.1,localhost,::1"
    assert no_proxy_env({}) == {"NO_PROXY": loopback, "no_proxy": loopback}
    shell = {"no_proxy": ".corp.example, 127.0.0.1", "HTTP_PROXY": "http://proxy:3128"}
    merged = f".corp.example,{loopback}"
    assert no_proxy_env(shell) == {"NO_PROXY": merged, "no_proxy": merged}
