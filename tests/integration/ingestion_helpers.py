"""Helpers shared by the ingestion integration tests."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.services.process import free_ports

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"


def make_settings(home: Path) -> Settings:
    """Settings for a throwaway home with the broker and the API on free loopback ports."""
    kafka_port, controller_port, api_port = free_ports(3)
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{kafka_port}",
            controller_port=controller_port,
            external=False,
            partitions=1,
        ),
        api=ApiSettings(host="127.0.0.1", port=api_port, api_key=None, delivery_timeout_ms=30_000),
    )


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
    lines: list[bytes] = []
    for path in sorted((bucket / "topics" / topic).glob("partition=*/*.json")):
        lines.extend(path.read_bytes().splitlines())
    return lines
