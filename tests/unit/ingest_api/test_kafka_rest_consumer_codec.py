"""The Kafka REST v2 consumer codec as pure functions (issue 9, item 4): create, subscription,
offsets, seek and partition bodies; Accept negotiation of a read; read limits; record bodies;
base_uri; error codes and bodies."""

from __future__ import annotations

import base64

import orjson
import pytest

from pinlake.ingest_api.errors import KafkaRestError
from pinlake.ingest_api.kafka_rest import consumer_codec as cc
from pinlake.ingest_api.kafka_rest.codec import BINARY_V2, JSON_V2
from pinlake.ingest_api.paths import stage_prefix
from pinlake.ingest_api.wire import CodecError


def code(call, *args) -> tuple[int, int]:
    with pytest.raises(CodecError) as info:
        call(*args)
    return info.value.status, info.value.code


# ---- create ------------------------------------------------------------------------------------
def test_create_defaults_and_fields():
    assert cc.parse_create(None) == cc.InstanceConfig(None, "binary", None, None, None, None)
    got = cc.parse_create(
        {
            "name": "n1",
            "format": "JSON",
            "auto.offset.reset": "Earliest",
            "auto.commit.enable": "false",
            "fetch.min.bytes": 1,
            "consumer.request.timeout.ms": 250,
            "unknown": 1,
        }
    )
    assert got == cc.InstanceConfig("n1", "json", "earliest", False, 1, 250)
    # id overrides name; a JSON boolean and the aliases are accepted
    got = cc.parse_create({"id": "i", "name": "n", "auto.commit.enable": True, "requestWaitMs": 5})
    assert (got.name, got.auto_commit, got.request_wait_ms) == ("i", True, 5)
    assert cc.parse_create({"responseMinBytes": -1}).fetch_min_bytes == -1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"format": "xml"}, (422, 422)),
        ({"format": "avro"}, (422, 42204)),
        ({"format": "protobuf"}, (422, 42204)),
        ({"auto.offset.reset": "smallest"}, (422, 42204)),
        ({"auto.commit.enable": "yes"}, (422, 42204)),
        ({"auto.commit.enable": 1}, (422, 42204)),
        ({"fetch.min.bytes": 10_000_001}, (422, 40001)),
        ({"fetch.min.bytes": -2}, (422, 40001)),
        ({"fetch.min.bytes": "1"}, (400, 400)),
        ({"fetch.min.bytes": True}, (400, 400)),
        ({"consumer.request.timeout.ms": -1}, (422, 42204)),
        ({"name": 5}, (400, 400)),
        ({"name": ""}, (422, 42204)),
        ({"name": "a/b"}, (422, 42204)),
        ({"format": ["json"]}, (400, 400)),
        ([], (400, 400)),
        ("json", (400, 400)),
    ],
)
def test_create_rejects(body, expected):
    assert code(cc.parse_create, body) == expected


def test_invalid_config_message_is_the_proxys():
    with pytest.raises(CodecError) as info:
        cc.parse_create({"auto.offset.reset": "smallest"})
    assert info.value.message.startswith("Invalid consumer configuration: Invalid value smallest")


# ---- bodies ------------------------------------------------------------------------------------
def test_parse_body_and_content_type():
    assert cc.parse_body(b"") is None and cc.parse_body(b"  ") is None
    assert cc.parse_body(b"null") is None
    assert cc.parse_body(b'{"a": 12345678901234567890123}') == {"a": 12345678901234567890123}
    assert code(cc.parse_body, b"{nope") == (400, 400)
    assert code(cc.parse_body, b"\xff") == (400, 400)
    for media in (cc.KAFKA_V2, JSON_V2, BINARY_V2):
        cc.check_content_type(media, b"{}")
    cc.check_content_type("", b"")  # no body, no type: a POST without body
    for media, body in (("application/json", b"{}"), ("text/plain", b""), ("", b"{}")):
        assert code(cc.check_content_type, media, body) == (415, 415)
    with pytest.raises(CodecError) as info:
        cc.check_content_type("application/json", b"{}")
    assert info.value.message.startswith("HTTP 415 Unsupported Media Type: application/json; ")
    assert info.value.message.endswith(f"accepts {cc.KAFKA_V2}, {JSON_V2} or {BINARY_V2}")


def test_subscription():
    assert cc.parse_subscription({"topics": ["a", "b"]}) == cc.Subscription(["a", "b"], None)
    assert cc.parse_subscription({"topic_pattern": "a.*"}) == cc.Subscription(None, "a.*")
    both = cc.parse_subscription({"topics": ["a"], "topic_pattern": "x"})
    assert both == cc.Subscription(["a"], None)
    assert cc.parse_subscription({}) == cc.Subscription(None, None)
    assert code(cc.parse_subscription, None) == (422, 422)
    assert code(cc.parse_subscription, {"topics": [""]}) == (422, 422)
    assert code(cc.parse_subscription, {"topics": [1]}) == (400, 400)
    assert code(cc.parse_subscription, {"topics": "a"}) == (400, 400)
    assert code(cc.parse_subscription, {"topic_pattern": "("}) == (422, 42204)
    assert cc.pattern_subscription("a|b") == "^(a|b)$"


def test_partitions_commit_and_seek_bodies():
    tp = {"topic": "t", "partition": 3}
    assert cc.parse_partitions({"partitions": [tp]}) == [cc.TopicPartition("t", 3)]
    assert cc.parse_partitions({"partitions": []}) == []
    for bad, expected in (
        (None, (422, 422)),
        ({}, (422, 422)),
        ({"partitions": [{"topic": "t", "partition": -1}]}, (422, 422)),
        ({"partitions": [{"topic": "t", "partition": 2**31}]}, (422, 422)),
        ({"partitions": [{"topic": "t"}]}, (422, 422)),
        ({"partitions": [{"topic": "", "partition": 0}]}, (422, 422)),
        ({"partitions": [{"topic": "t", "partition": "0"}]}, (400, 400)),
        ({"partitions": [1]}, (400, 400)),
    ):
        assert code(cc.parse_partitions, bad) == expected, bad
    assert cc.parse_commit(None) is None and cc.parse_commit({}) is None
    got = cc.parse_commit({"offsets": [{**tp, "offset": 7}, {**tp, "offset": 0, "metadata": "m"}]})
    assert got == [cc.PartitionOffset("t", 3, 7, ""), cc.PartitionOffset("t", 3, 0, "m")]
    assert code(cc.parse_commit, {"offsets": [{**tp, "offset": -1}]}) == (422, 422)
    assert code(cc.parse_commit, {"offsets": [{**tp, "offset": 2**63}]}) == (422, 422)
    assert code(cc.parse_commit, {"offsets": [{**tp, "offset": 1, "metadata": 2}]}) == (400, 400)
    offsets, stamps = cc.parse_seek(
        {
            "offsets": [{**tp, "offset": 5}],
            "timestamps": [
                {**tp, "timestamp": "2026-01-02T03:04:05.678Z"},
                {**tp, "timestamp": 1000},
            ],
        }
    )
    assert offsets == [cc.PartitionOffset("t", 3, 5, "")]
    assert stamps == [
        cc.PartitionTimestamp("t", 3, 1767323045678, ""),
        cc.PartitionTimestamp("t", 3, 1000, ""),
    ]
    assert cc.parse_seek({}) == ([], [])
    assert code(cc.parse_seek, None) == (422, 422)
    assert code(cc.parse_seek, {"timestamps": [{**tp, "timestamp": "yesterday"}]}) == (400, 400)
    assert code(cc.parse_seek, {"timestamps": [{**tp, "timestamp": "2026-01-02T03:04"}]}) == (
        400,
        400,
    )


# ---- reads -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (JSON_V2, ("json", JSON_V2)),
        (JSON_V2 + "; charset=utf-8", ("json", JSON_V2)),
        (BINARY_V2, ("binary", BINARY_V2)),
        (cc.KAFKA_V2, ("binary", cc.KAFKA_V2)),
        ("", ("binary", BINARY_V2)),
        ("*/*", ("binary", BINARY_V2)),
        ("application/*", ("binary", BINARY_V2)),
        # the client's q decides first, then the server's qs (json is 0.1, v2 0.9)
        (f"{JSON_V2}, */*;q=0.5", ("json", JSON_V2)),
        (f"{JSON_V2}, {cc.KAFKA_V2}", ("binary", cc.KAFKA_V2)),
        (f"{BINARY_V2};q=0.2, {JSON_V2}", ("json", JSON_V2)),
        ("application/vnd.kafka.avro.v2+json", ("schema", "application/vnd.kafka.avro.v2+json")),
    ],
)
def test_read_format(accept, expected):
    assert cc.read_format(accept) == expected


@pytest.mark.parametrize("accept", ["application/json", "text/plain", f"{JSON_V2};q=0"])
def test_read_format_not_acceptable(accept):
    assert code(cc.read_format, accept) == (406, 406)


def test_read_limits():
    default = cc.InstanceConfig()
    assert cc.read_limits(None, None, default, 1000, 64) == cc.ReadLimits(1.0, 64, 2**63)
    # a positive timeout shortens the wait, never lengthens it; <= 0 is the default
    assert cc.read_limits("200", None, default, 1000, 64).wait_s == 0.2
    assert cc.read_limits("5000", None, default, 1000, 64).wait_s == 1.0
    assert cc.read_limits("0", None, default, 1000, 64).wait_s == 1.0
    assert cc.read_limits("-1", "-1", default, 1000, 64).max_bytes == 64
    assert cc.read_limits(None, "10", default, 1000, 64).max_bytes == 10
    assert cc.read_limits(None, "100", default, 1000, 64).max_bytes == 64
    own = cc.InstanceConfig(fetch_min_bytes=1, request_wait_ms=3000)
    assert cc.read_limits("9000", None, own, 1000, 64) == cc.ReadLimits(3.0, 64, 1)
    assert cc.read_limits(None, None, cc.InstanceConfig(fetch_min_bytes=-1), 1000, 64).min_bytes
    for bad in ("soon", "1.5", "", str(2**63)):
        assert code(cc.read_limits, bad, None, default, 1000, 64) == (404, 404), bad
        assert code(cc.read_limits, None, bad, default, 1000, 64) == (404, 404), bad


def test_record_bodies():
    raw = cc.RawRecord("t", b'"k"', b'{"a": [1, 2.5, null], "b": 12345678901234567890123}', 0, 9)
    assert cc.record_body(raw, "json") == {
        "topic": "t",
        "key": "k",
        "value": {"a": [1, 2.5, None], "b": 12345678901234567890123},
        "partition": 0,
        "offset": 9,
    }
    binary = cc.record_body(cc.RawRecord("t", None, b"\x00\xff", 2, 3), "binary")
    assert binary == {"topic": "t", "key": None, "value": "AP8=", "partition": 2, "offset": 3}
    assert base64.b64decode(binary["value"]) == b"\x00\xff"
    assert cc.record_body(cc.RawRecord("t", None, None, 0, 0), "json")["value"] is None
    assert code(cc.record_body, cc.RawRecord("t", None, b"not json", 0, 0), "json") == (408, 40801)
    assert cc.record_size(cc.RawRecord("t", b"ab", b"cde", 0, 0)) == 5
    assert cc.record_size(cc.RawRecord("t", None, None, 0, 0)) == 0


# ---- responses and errors ----------------------------------------------------------------------
def test_base_uri_and_stage():
    assert cc.base_uri("http://h:1/", "", "g", "i") == "http://h:1/consumers/g/instances/i"
    assert (
        cc.base_uri("http://h:1/", "/test", "g", "i") == "http://h:1/test/consumers/g/instances/i"
    )
    assert cc.base_uri("https://x/root/", "", "g 1", "a%b") == (
        "https://x/root/consumers/g%201/instances/a%25b"
    )
    assert stage_prefix("/test/consumers/g", "test") == "/test"
    assert stage_prefix("//test//consumers/g", "test") == "/test"
    assert stage_prefix("/test", "test") == "/test"
    assert stage_prefix("/testing/consumers/g", "test") == ""
    assert stage_prefix("/consumers/g", "test") == ""
    assert stage_prefix("/test/consumers/g", "") == ""


def test_response_shapes():
    assert cc.create_response("i", "u") == {"instance_id": "i", "base_uri": "u"}
    assert cc.subscription_response(["a"]) == {"topics": ["a"]}
    assert cc.partitions_response([cc.TopicPartition("t", 1)]) == {
        "partitions": [{"topic": "t", "partition": 1}]
    }
    assert cc.committed_response([cc.PartitionOffset("t", 1, 5, "")]) == {
        "offsets": [{"topic": "t", "partition": 1, "offset": 5, "metadata": ""}]
    }


@pytest.mark.parametrize(
    ("error", "status", "error_code", "message"),
    [
        (cc.instance_not_found(), 404, 40403, "Consumer instance not found."),
        (
            cc.instance_exists(),
            409,
            40902,
            "Consumer with specified consumer ID already exists in the specified consumer group.",
        ),
        (cc.illegal_state("x"), 409, 40903, "Illegal state: x"),
        (
            cc.format_mismatch(),
            406,
            40601,
            "The requested embedded data format does not match the deserializer for this "
            "consumer instance",
        ),
        (cc.partition_not_found(), 404, 40402, "Partition not found."),
        (cc.kafka_error("boom", True), 500, 50003, "Kafka error: boom"),
        (cc.kafka_error("gone", False, unknown_partition=True), 404, 40403, "Kafka error: gone"),
        (cc.kafka_error("boom", False), 500, 50002, "Kafka error: boom"),
    ],
)
def test_error_bodies(error, status, error_code, message):
    resp = KafkaRestError(error.status, error.message, error.code).response()
    assert resp.status_code == status
    assert resp.media_type == cc.KAFKA_V2
    assert orjson.loads(resp.body) == {"error_code": error_code, "message": message}
