"""Helpers shared by the ingestion integration tests."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from confluent_kafka import Consumer, TopicPartition
from pinlake_testing import isolated_settings as make_settings  # noqa: F401 (for the tests)

from pinlake.bucket.layout import list_files, read_records
from pinlake.config import Settings
from pinlake.ingest_api import create_app

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
#: ``/healthz`` of an API whose one-node cluster is whole: node 1 answers, and every partition
#: of pinlake's topics has its leader and its one replica in sync
#: (pinlake.ingest_api.backend.watch.ClusterHealth)
HEALTHY = {
    "status": "ok",
    "kafka": "ok",
    "brokers": [1],
    "brokers_not_answering": [],
    "partitions_without_leader": [],
    "partitions_under_replicated": [],
}


def read_topic(settings: Settings, topic: str, timeout: float = 20.0) -> list[bytes | None]:
    """Every value in partition 0.. of ``topic`` (from the beginning up to the high watermark)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": "pinlake-test-reader",
            "enable.auto.commit": False,
        }
    )
    values: list[bytes | None] = []
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            got = 0
            deadline = time.monotonic() + timeout
            while got < high - low and time.monotonic() < deadline:
                for msg in consumer.consume(500, timeout=0.5):
                    if msg.error() is None:
                        values.append(msg.value())
                        got += 1
            consumer.unassign()
    finally:
        consumer.close()
    return values


def marked(values, marker: str) -> Counter:
    """Counter of the ``i`` field of JSON values carrying ``"m": marker``."""
    out: Counter = Counter()
    for value in values:
        if value is None:
            continue
        try:
            data = json.loads(value)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("m") == marker:
            out[data.get("i")] += 1
    return out


def bucket_lines(bucket: Path, topic: str) -> list[bytes]:
    """Every line of ``topic``'s bucket files, in delivery order."""
    return [line for f in list_files(bucket, topic) for line in read_records(f.path)]


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The API for ``settings`` under uvicorn in a thread of this process; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.api.port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the in-process API did not start"
        yield f"http://127.0.0.1:{settings.api.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
