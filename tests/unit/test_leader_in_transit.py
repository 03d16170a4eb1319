"""A partition whose leader is in transit is asked again, not reported as a broker outage.

Found in a full test run: DescribeStream right after CreateStream answered 503 "Kafka broker not
available" (12 of 40 tries on an idle machine): the new topic's metadata named a leader a moment
before that broker served ListOffsets, which answered NOT_LEADER_OR_FOLLOWER, a code librdkafka
does not flag retriable. The rule (pinlake.kafka.leader_moving_errors) is checked here on a
stand-in for the consumer's one call; the real-broker test is
tests/integration/test_ingestion_kinesis.py (a new stream read at once).
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from pinlake import kafka
from pinlake.ingest_api.backend import Delivery
from pinlake.ingest_api.backend.consumers import KafkaFailure, _failure
from pinlake.ingest_api.errors import BrokerUnavailable
from pinlake.ingest_api.kafka_rest.routes import _offset


class Answers:
    """``get_watermark_offsets`` that raises the given error codes in turn, then answers."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.calls: list[dict] = []

    def get_watermark_offsets(self, tp, timeout: float, cached: bool) -> tuple[int, int]:  # noqa: ANN001
        self.calls.append({"topic": tp.topic, "partition": tp.partition, "cached": cached})
        if self.codes:
            raise KafkaException(KafkaError(self.codes.pop(0)))
        return (3, 8)


@pytest.mark.parametrize("code", sorted(kafka.leader_moving_errors()))
def test_a_leader_in_transit_is_asked_again(code: int) -> None:
    consumer = Answers(code, code)
    assert kafka.watermarks(consumer, "t", 2, timeout=5.0) == (3, 8)
    assert consumer.calls == [{"topic": "t", "partition": 2, "cached": False}] * 3


def test_a_partition_the_clients_cache_does_not_know_yet_is_asked_again() -> None:
    """A topic deleted and created again: the client's cache still holds the old one."""
    consumer = Answers(KafkaError._UNKNOWN_PARTITION)
    assert kafka.watermarks(consumer, "t", 4, timeout=5.0) == (3, 8)
    assert len(consumer.calls) == 2


def test_another_error_is_raised_at_once() -> None:
    consumer = Answers(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException) as raised:
        kafka.watermarks(consumer, "t", 0, timeout=5.0)
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert len(consumer.calls) == 1


def test_a_leader_that_never_arrives_is_raised_after_the_timeout() -> None:
    consumer = Answers(*[KafkaError.NOT_LEADER_FOR_PARTITION] * 1000)
    started = time.monotonic()
    with pytest.raises(KafkaException) as raised:
        kafka.watermarks(consumer, "t", 0, timeout=0.3)
    assert raised.value.args[0].code() == KafkaError.NOT_LEADER_FOR_PARTITION
    assert 0.3 <= time.monotonic() - started < 3.0
    assert 2 <= len(consumer.calls) < 1000


def test_every_retry_policy_counts_a_leader_in_transit_as_transient() -> None:
    assert kafka.leader_moving_errors() <= kafka.transient_errors()


@pytest.mark.parametrize("code", sorted(kafka.leader_moving_errors()))
def test_the_rest_proxy_answers_a_leader_in_transit_retriable(code: int) -> None:
    """50003 (rest-utils: a Java RetriableException), for a consumer call and for a produced
    record alike; a broker that cannot be reached stays 50302, a missing topic 40403."""
    failure = _failure(KafkaException(KafkaError(code)))
    assert isinstance(failure, KafkaFailure) and failure.retriable
    entry = _offset(Delivery(error=KafkaError(code)))
    assert entry["error_code"] == 50003
    unreachable = _failure(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert isinstance(unreachable, BrokerUnavailable)
    refused = _failure(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert isinstance(refused, KafkaFailure) and not refused.retriable
    gone = _failure(KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)))
    assert isinstance(gone, KafkaFailure) and gone.unknown_partition
