"""Faults: the broker stops during production; services CLI against the running stack."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import orjson
from ingestion_helpers import JSON_V2, bucket_lines, marked

from pinlake.produce import ProduceOptions
from pinlake.produce.api import produce_api
from pinlake.services import kafka
from pinlake.sink import run_sink


def _events(marker: str, n: int):
    for i in range(n):
        row = {"m": marker, "i": i, "title": f"pin {i}"}
        yield i, {"pin": row, "geo": {"m": marker, "i": i}, "user": None}


def test_broker_outage_api_5xx_producer_retries_bucket_exactly_once(
    kafka_services, marker, tmp_path
):
    settings = kafka_services
    n = 1500
    # 1,500 events at 150/s: production lasts about 10 s, well past the broker stop at 1.5 s.
    # Requests already handed to Kafka when the broker stops are held until it is back (their
    # fate is unknown, so failing them would invite duplicates); 64 workers leave some free to
    # send new requests during the outage, which get 5xx and are retried.
    options = ProduceOptions(events=n, batch_size=1, concurrency=64, rate=150.0)
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = produce_api(settings, _events(marker, n), options, show_progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            box["error"] = exc

    producer = threading.Thread(target=run, daemon=True)
    producer.start()
    time.sleep(1.5)
    statuses = []
    assert kafka.stop(settings, timeout=0)  # a crash: SIGTERM, then SIGKILL at once
    down_at = time.monotonic()
    try:
        with httpx.Client(base_url=settings.api.url, timeout=30) as client:
            body = orjson.dumps({"records": [{"value": {"m": "probe"}}]})
            while time.monotonic() - down_at < 4.0:
                resp = client.post(
                    f"/topics/{settings.topic('user')}",
                    content=body,
                    headers={"content-type": JSON_V2},
                )
                statuses.append(resp.status_code)
                time.sleep(0.1)
            assert client.get("/healthz").json()["kafka"] == "down"
    finally:
        kafka.start(settings)
        kafka.wait_healthy(settings, timeout=90)
    assert any(s >= 500 for s in statuses), statuses
    assert 200 not in statuses[-5:], statuses
    producer.join(timeout=180)
    assert not producer.is_alive()
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.failed == 0, result.errors
    assert result.acknowledged == 2 * n
    assert result.retries > 0  # the outage was visible to the producer
    bucket = tmp_path / "bucket"
    run_sink(settings, once=True, bucket=bucket, flush_size=500, quiet=True)
    for table in ("pin", "geo"):
        counts = marked(bucket_lines(bucket, settings.topic(table)), marker)
        assert counts == {i: 1 for i in range(n)}, (table, len(counts))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{settings.api.url}/healthz").json()["kafka"] == "ok":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the API did not see the broker come back")


def _services(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinlake", "services", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_services_cli_status_and_idempotent_up(kafka_services):
    settings = kafka_services
    env = dict(settings.dbt_env(), COLUMNS="200")
    up = _services(env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "starting" not in up.stdout  # both already running: nothing started twice
    status = _services(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for table in ("pin", "geo", "user"):
        assert settings.topic(table) in status.stdout
        assert settings.stream(table) in status.stdout
    assert "healthy" in status.stdout
    # a home with nothing running reports down with a non-zero code
    env2 = dict(
        env,
        PINLAKE_HOME=str(settings.home / "nothing"),
        PINLAKE_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1",
        PINLAKE_API__PORT="1",
    )
    down = _services(env2, "status")
    assert down.returncode != 0
    assert "down" in down.stdout
