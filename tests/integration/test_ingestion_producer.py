"""`produce --to api` (batch and stream paths) and an external Kafka cluster."""

from __future__ import annotations

import base64
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from ingestion_helpers import HEALTHY, marked, read_topic

from pinlake import cli, kafka
from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.errors import TERMINATED, PinlakeError
from pinlake.produce import ProduceToApi
from pinlake.produce.http import post_events, post_records
from pinlake.services import api_process, kafka_broker
from pinlake.services.manager import start_all, stop_all
from pinlake.services.process import free_ports

pytestmark = pytest.mark.kafka


def _events(marker: str, n: int, tables=("pin", "geo", "user")):
    for i in range(n):
        yield (
            i,
            {
                t: ({"m": marker, "i": i, "t": t} if t in tables else None)
                for t in ("pin", "geo", "user")
            },
        )


def test_produce_batched_requests_to_topics(kafka_services, marker):
    opts = ProduceToApi(events=250, batch_size=40, concurrency=3)
    result = post_events(kafka_services, _events(marker, 300, ("pin", "user")), opts)
    assert result.destination == "api" and result.events == 250
    assert result.records == {"pin": 250, "geo": 0, "user": 250}
    for table in ("pin", "user"):
        counts = marked(read_topic(kafka_services, kafka_services.topic(table)), marker)
        assert counts == {i: 1 for i in range(250)}


def test_a_shell_behind_a_proxy_reaches_the_api_directly(kafka_services, marker, monkeypatch):
    """From a company network's shell (HTTP_PROXY and the others, no NO_PROXY), the API's health
    check went to the proxy for 127.0.0.1 (pinlake.loopback) and ``services status`` called the
    API down; the producer (aiohttp, which reads no proxy variable) posts to it directly."""
    from pinlake_testing import behind_a_proxy

    behind_a_proxy(monkeypatch)
    assert api_process.health(kafka_services, timeout=5) == HEALTHY
    result = post_events(kafka_services, _events(marker, 5, ("geo",)), ProduceToApi(events=5))
    assert result.records == {"pin": 0, "geo": 5, "user": 0}
    counts = marked(read_topic(kafka_services, kafka_services.topic("geo")), marker)
    assert counts == {i: 1 for i in range(5)}


def test_produce_to_streams_single_and_batched(kafka_services, api, marker):
    for batch in (1, 25):
        opts = ProduceToApi(stream=True, batch_size=batch, concurrency=4)
        res = post_records(
            kafka_services, _events(f"{marker}{batch}", 60), opts, show_progress=False
        )
        assert res.failed == 0 and res.acknowledged == 180, res.errors
    stream = kafka_services.stream("geo")
    it = api.get(
        f"/streams/{stream}/sharditerator", params={"shard-id": "shardId-000000000000"}
    ).json()["ShardIterator"]
    datas = []
    for _ in range(50):
        body = api.get(f"/streams/{stream}/records", headers={"Shard-Iterator": it}).json()
        datas += [base64.b64decode(r["Data"]) for r in body["Records"]]
        it = body["NextShardIterator"]
        if not body["Records"]:
            break
    for batch in (1, 25):
        assert marked(datas, f"{marker}{batch}") == {i: 1 for i in range(60)}
    row = json.loads(datas[-1])
    assert set(row) == {"m", "i", "t"}  # the row's JSON text, not a wrapper


def test_producer_reports_unacknowledged_records(kafka_services, marker):
    """404 for an unknown topic is not retried; the records count as failed, the CLI errors."""
    settings = kafka_services.model_copy(update={"topic_prefix": f"nosuch{marker}"})
    opts = ProduceToApi(events=3)
    res = post_records(settings, _events(marker, 3), opts, show_progress=False)
    assert res.acknowledged == 0 and res.failed == 9 and res.retries == 0
    assert "40401" in res.errors[0]
    with pytest.raises(PinlakeError, match="9 records were not acknowledged"):
        post_events(settings, _events(marker, 3), opts)
    with pytest.raises(PinlakeError, match="not reachable"):
        post_events(settings, _events(marker, 3), ProduceToApi(api_url="http://127.0.0.1:1"))


def _paced(marker: str, seconds: float = 0.005):
    """Events without end, one every ``seconds``: only Ctrl-C ends a run over them."""
    i = 0
    while True:
        time.sleep(seconds)
        yield i, {t: {"m": marker, "i": i, "t": t} for t in ("pin", "geo", "user")}
        i += 1


def _ctrl_c_once(count: Callable[[], int], sig: int = signal.SIGINT) -> threading.Thread:
    """``sig`` (SIGINT: Ctrl-C) to this process (its main thread) once ``count()`` is above
    100."""

    def interrupt() -> None:
        while count() <= 100:
            time.sleep(0.05)
        os.kill(os.getpid(), sig)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_ends_a_run_with_what_was_acknowledged(kafka_services, marker, capsys, sig):
    """Ctrl-C during ``produce --to api`` (asyncio's runner cancels the run): the summary says
    what the API acknowledged, every acknowledged record is in Kafka, and the command then ends
    as Ctrl-C does. A new user's Ctrl-C printed nothing of what had been sent. SIGTERM, through
    the CLI's handler, does the same (helper-80: 18 of 18 runs ended with no summary, a few
    with tracebacks from inside the event loop, one hung)."""
    assert threading.current_thread() is threading.main_thread()  # where signals are handled
    # Python's own handler, as in a `pinlake produce` process (a Spark test of this worker may
    # have set the session's): asyncio's runner only takes SIGINT over from that one
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    drawn = marker + sig.name
    on_sigterm = signal.signal(signal.SIGTERM, cli._terminate)  # as `pinlake produce` runs
    try:
        events = _paced(drawn)
        seen = {"n": 0}

        def counted():
            for event in events:
                seen["n"] += 1
                yield event

        _ctrl_c_once(lambda: seen["n"], sig)
        # two records a request: batches not yet full when the run stops are drawn, not sent
        options = ProduceToApi(batch_size=2)
        res = post_records(kafka_services, counted(), options, show_progress=False)
        assert res.interrupted and not res.stopped and res.failed == 0
        # every record of the events drawn is in one count (helper-80: the rest of the event
        # being drawn, and unfull batches, were in none)
        assert res.acknowledged + res.in_flight + res.not_sent == 3 * res.events, res
        in_kafka = sum(
            sum(marked(read_topic(kafka_services, kafka_services.topic(t)), drawn).values())
            for t in ("pin", "geo", "user")
        )
        # the run went past the 100th event (Ctrl-C came then) and the API acknowledged records of
        # it; how many of the last events' records were still in flight is the timing's choice
        assert res.events > 100 and 0 < res.acknowledged <= 3 * res.events
        assert res.acknowledged <= in_kafka <= res.acknowledged + res.in_flight

        # the command: the summary table, then KeyboardInterrupt (the CLI: "error: interrupted")
        seen["n"] = 0
        events = _paced(marker + sig.name + "b")
        _ctrl_c_once(lambda: seen["n"], sig)
        with pytest.raises(KeyboardInterrupt):
            post_events(kafka_services, counted(), ProduceToApi())
        out = capsys.readouterr().out
        assert "(interrupted)" in out and "records in flight (not counted)" in out
        assert "records drawn, not sent" in out
        assert TERMINATED.is_set() == (sig == signal.SIGTERM)  # the CLI's "error: terminated"
    finally:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, previous)
        TERMINATED.clear()


def test_external_cluster_skips_the_local_broker_and_warns_of_its_smaller_topics(
    kafka_services, capsys
):
    """Pointing at an existing cluster: only the API is started and stopped. Its topics are its
    owner's: a stream topic there that takes smaller records than the API's limit keeps its
    limit, ``services up`` warns of it, and the Kinesis proxy's refusal of such a record says
    what mends it on that cluster (before, nothing compared the limits, and the refusal said
    that ``services up`` raises them, which it does only on the local brokers)."""
    from confluent_kafka.admin import ConfigResource, NewTopic

    (port,) = free_ports(1)
    with tempfile.TemporaryDirectory(prefix="pinlake-ext-") as tmp:
        settings = Settings(
            home=Path(tmp) / "home",
            kafka=KafkaSettings(
                bootstrap_servers=kafka_services.kafka.bootstrap_servers,
                controller_port=free_ports(1)[0],
                external=True,
            ),
            api=ApiSettings(port=port),
            topic_prefix=f"ext{os.getpid()}x{port}",  # its own topics on the shared broker
        )
        client = kafka.admin(kafka_services)
        stream = settings.stream("pin")
        older = {"max.message.bytes": "1048588"}  # Kafka's default, below the API's 1 MiB + 4 KiB
        partitions = settings.kafka.partitions
        (made,) = client.create_topics([NewTopic(stream, partitions, 1, config=older)]).values()
        made.result(timeout=30)
        assert kafka.wait_for_leaders(client, [stream], partitions, 30)
        try:
            start_all(settings)
            out = capsys.readouterr().out
            assert kafka_broker.pid(settings) is None
            assert api_process.pid(settings) is not None
            assert httpx.get(f"{settings.api.url}/healthz").json()["kafka"] == "ok"
            text = " ".join(out.split())  # as one line, whatever the console's width
            warning = text[text.index("warning: topics") : text.index("starting the ingestion")]
            assert f"topics {stream} (1,048,588 bytes) take smaller records" in warning, out
            assert "max.message.bytes to 1052672 on the cluster" in warning
            assert "PINLAKE_API__MAX_RECORD_BYTES (now 1048576)" in warning
            (described,) = client.describe_configs(
                [ConfigResource(ConfigResource.Type.TOPIC, stream)]
            ).values()
            assert described.result(timeout=30)["max.message.bytes"].value == "1048588"  # kept
            # the AiCore route stores Data as its JSON text: quotes included, 1 MiB with "k"
            text = "y" * (settings.api.max_record_bytes - 3)
            refused = httpx.put(
                f"{settings.api.url}/streams/{stream}/record",
                json={"Data": text, "PartitionKey": "k"},
                timeout=30,
            )
            assert (refused.status_code, refused.json()["__type"]) == (400, "ValidationException")
            message = refused.json()["message"]
            assert "Message size too large" in message and "on the cluster" in message, message
            assert "services up" not in message
        finally:
            stop_all(settings, quiet=True)
            for future in client.delete_topics(kafka.all_topics(settings)).values():
                future.result(timeout=30)
        assert api_process.pid(settings) is None
        assert kafka.healthy(kafka_services)  # the "external" broker is untouched
