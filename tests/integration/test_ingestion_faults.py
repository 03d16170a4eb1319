"""Faults: the broker stops during production; services CLI against the running stack."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import orjson
import pytest
from ingestion_helpers import JSON_V2, bucket_lines, marked

from pinlake.bucket.sink import BucketSink, SinkOptions
from pinlake.ingest_api.errors import AMZ_JSON
from pinlake.produce import ProduceToApi
from pinlake.produce.events import paced
from pinlake.produce.http import post_records
from pinlake.services import kafka_broker

pytestmark = pytest.mark.kafka


def _events(marker: str, n: int):
    for i in range(n):
        row = {"m": marker, "i": i, "title": f"pin {i}"}
        yield i, {"pin": row, "geo": {"m": marker, "i": i}, "user": None}


def _produce_in_thread(settings, events, options: ProduceToApi):
    """Run ``post_records`` in a thread; returns the thread and a box for its result or error."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = post_records(settings, events, options, show_progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's assertions
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _finished(thread: threading.Thread, box: dict, n: int):
    thread.join(timeout=180)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.failed == 0, result.errors
    assert result.acknowledged == 2 * n  # one pin and one geo record per event
    return result


@pytest.mark.slow
def test_broker_outage_api_5xx_producer_retries_bucket_exactly_once(
    kafka_services, marker, tmp_path, capsys
):
    settings = kafka_services
    # Producer A runs across a broker crash. Its requests already handed to Kafka are held until
    # the broker is back (their fate is unknown, so failing them would invite duplicates).
    n = 1500
    during = ProduceToApi(events=n, batch_size=1, concurrency=64)
    thread_a, box_a = _produce_in_thread(settings, paced(_events(marker, n), 150.0), during)
    time.sleep(1.5)
    statuses = []
    assert kafka_broker.stop(settings, timeout=0)  # a crash: SIGTERM, then SIGKILL at once
    down_at = time.monotonic()
    late = f"{marker}-late"
    m = 100
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
            # both Kinesis facades answer the same outage with AWS's common 503 error
            down = {"__type": "ServiceUnavailable", "message": "Kafka broker not available."}
            stream = settings.stream("user")
            proxy = {"StreamName": stream, "Data": {"m": "probe"}, "PartitionKey": "p"}
            resp = client.put(f"/streams/{stream}/record", json=proxy)
            assert (resp.status_code, resp.json()) == (503, down)
            sdk = {"StreamName": stream, "Data": "cHJvYmU=", "PartitionKey": "p"}
            target = {"x-amz-target": "Kinesis_20131202.PutRecord", "content-type": AMZ_JSON}
            resp = client.post("/", content=orjson.dumps(sdk), headers=target)
            assert (resp.status_code, resp.json()) == (503, down)
        # Producer B starts while the API knows the broker is down: its first requests get 503
        # at once, and it must retry until the broker is back.
        thread_b, box_b = _produce_in_thread(
            settings, _events(late, m), ProduceToApi(events=m, batch_size=1, concurrency=4)
        )
        time.sleep(1.5)
    finally:
        kafka_broker.start(settings)
        kafka_broker.wait_healthy(settings, timeout=90)
    assert any(s >= 500 for s in statuses), statuses
    assert 200 not in statuses[-5:], statuses
    _finished(thread_a, box_a, n)
    result_b = _finished(thread_b, box_b, m)
    assert result_b.retries > 0  # the outage was visible to the producer
    # ... and said at its start, with what starts the broker (helper-111: 75 s of retries
    # against a killed broker, then a line that named no command); A started before it
    # (A, with no bar either, says its first retry once: helper-113, nothing said it into a
    # pipe; B's warning at its start already says it retries, so B says nothing more)
    shown = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    warnings = [line for line in shown if "answers but its Kafka does not" in line]
    assert len(warnings) == 1, shown
    retried = [line for line in shown if line not in warnings]
    assert len(retried) <= 1, shown
    assert all(line.endswith(": retrying, each request for up to 90 s") for line in retried), shown
    assert warnings[0].startswith(
        f"warning: the ingestion API at {settings.api.url} answers but its Kafka does not "
        "(/healthz: kafka down): requests are retried until it is back, each for up to 90 s "
        "(then the run stops); "
        f"Kafka at {settings.kafka.bootstrap_servers} is not reachable"
    ), warnings
    assert "services up" in warnings[0], warnings
    bucket = tmp_path / "bucket"
    BucketSink(settings, SinkOptions(once=True, bucket=bucket, flush_size=500)).run()
    for table in ("pin", "geo"):
        lines = bucket_lines(bucket, settings.topic(table))
        counts = marked(lines, marker)
        assert counts == {i: 1 for i in range(n)}, (table, len(counts))
        assert marked(lines, late) == {i: 1 for i in range(m)}, table
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{settings.api.url}/healthz").json()["kafka"] == "ok":
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the API did not see the broker come back")


def _services(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pinlake", "services", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_services_cli_status_and_idempotent_up(kafka_services):
    settings = kafka_services
    env = dict(settings.child_env(), COLUMNS="200")
    up = _services(env, "up", "--no-stream")  # the stream query: tests/integration/test_stream_path
    assert up.returncode == 0, up.stdout + up.stderr
    assert "starting" not in up.stdout  # both already running: nothing started twice
    status = _services(env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for table in ("pin", "geo", "user"):
        assert settings.topic(table) in status.stdout
        assert settings.stream(table) in status.stdout
    assert "healthy" in status.stdout
    # the metastore this home's Spark commands use: none runs, so the embedded one, by folder
    line = next(line for line in status.stdout.splitlines() if line.startswith("metastore: "))
    assert f"embedded Derby in {settings.home / 'metastore' / 'metastore_db'} (" in line, line
    # topics that do not exist (another prefix here; a deleted topic alike) are named, and 3
    other = _services(dict(env, PINLAKE_TOPIC_PREFIX="elsewhere"), "status")
    assert other.returncode == 3, other.stdout + other.stderr
    assert "topics missing: elsewhere.pin, streaming-elsewhere-pin" in other.stdout
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
