"""Contract tests of the Kafka REST v2 produce endpoints (real broker, real HTTP)."""

from __future__ import annotations

import base64
import json

import httpx
import orjson
import pytest
from ingestion_helpers import BINARY_V2, HEALTHY, JSON_V2, marked, read_topic, serve

from pinlake.config import ApiSettings
from pinlake.services.process import free_ports

pytestmark = pytest.mark.kafka


def post(api: httpx.Client, topic: str, body, ctype: str = JSON_V2, path: str | None = None):
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return api.post(path or f"/topics/{topic}", content=content, headers={"content-type": ctype})


def test_produce_json_records_returns_offsets_and_lands(kafka_services, api, marker):
    topic = kafka_services.topic("pin")
    records = [{"value": {"m": marker, "i": i}} for i in range(5)]
    records.append({"key": "k1", "value": {"m": marker, "i": 5}})
    resp = post(api, topic, {"records": records})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/vnd.kafka.v2+json")
    body = resp.json()
    assert body["key_schema_id"] is None and body["value_schema_id"] is None
    assert len(body["offsets"]) == 6
    offsets = [o["offset"] for o in body["offsets"]]
    assert offsets == sorted(offsets) and len(set(offsets)) == 6
    for o in body["offsets"]:
        assert o["partition"] == 0 and o["error_code"] is None and o["error"] is None
    assert marked(read_topic(kafka_services, topic), marker) == {i: 1 for i in range(6)}


def test_json_format_stores_json_text(kafka_services, api, marker):
    topic = kafka_services.topic("geo")
    resp = post(api, topic, {"records": [{"key": "abc", "value": f"s-{marker}"}, {"value": None}]})
    assert resp.status_code == 200
    values = read_topic(kafka_services, topic)
    assert f'"s-{marker}"'.encode() in values  # a JSON string keeps its quotes


def test_binary_format_decodes_base64(kafka_services, api, marker):
    topic = kafka_services.topic("user")
    raw = json.dumps({"m": marker, "i": 0}).encode()
    body = {
        "records": [
            {"key": base64.b64encode(b"k").decode(), "value": base64.b64encode(raw).decode()}
        ]
    }
    resp = post(api, topic, body, BINARY_V2)
    assert resp.status_code == 200, resp.text
    assert marked(read_topic(kafka_services, topic), marker) == {0: 1}


def test_binary_format_rejects_bad_base64(kafka_services, api):
    resp = post(
        api, kafka_services.topic("user"), {"records": [{"value": "not base64!!"}]}, BINARY_V2
    )
    assert resp.status_code == 400
    assert resp.json()["error_code"] == 400


def test_partition_endpoint_and_record_partition(kafka_services, api, marker):
    topic = kafka_services.topic("pin")
    resp = post(
        api,
        topic,
        {"records": [{"value": {"m": marker, "i": 0}}]},
        path=f"/topics/{topic}/partitions/0",
    )
    assert resp.status_code == 200 and resp.json()["offsets"][0]["partition"] == 0
    resp = post(api, topic, {"records": [{"value": 1, "partition": 0}]})
    assert resp.status_code == 200
    for path, body in (
        (f"/topics/{topic}/partitions/7", {"records": [{"value": 1}]}),
        (None, {"records": [{"value": 1, "partition": 3}]}),
    ):
        resp = post(api, topic, body, path=path)
        assert resp.status_code == 404 and resp.json()["error_code"] == 40402


@pytest.mark.parametrize("topic", ["does-not-exist", "bad/name", "x" * 300, "..", "ünï"])
def test_unknown_topic_is_404_40401_and_not_created(kafka_services, api, topic):
    resp = post(api, topic, {"records": [{"value": 1}]})
    assert resp.status_code == 404
    assert resp.json()["error_code"] in (40401, 404)
    assert "does-not-exist" not in api.get("/topics").json()


@pytest.mark.parametrize(
    "ctype",
    [
        "application/json",
        "text/plain",
        "",
        "application/vnd.kafka.v2+json",
        "application/vnd.kafka.avro.v2+json",
    ],
)
def test_wrong_content_type_is_415(kafka_services, api, ctype):
    resp = post(api, kafka_services.topic("pin"), {"records": [{"value": 1}]}, ctype)
    assert resp.status_code == 415 and resp.json()["error_code"] == 415


def test_content_type_parameters_are_accepted(kafka_services, api):
    resp = post(
        api, kafka_services.topic("pin"), {"records": [{"value": 1}]}, JSON_V2 + "; charset=utf-8"
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, 400),  # helper-47's trial: 422 / 42206, where kafka-rest says 400
        (b"", 400, 400),
        (b"[]", 400, 400),
        (b'{"records": []}', 422, 422),
        (b'{"records": null}', 422, 422),
        (b'{"foo": 1}', 422, 422),
        (b'{"records": {"value": 1}}', 400, 400),
        (b'{"records": [1, 2]}', 400, 400),
        (b'{"records": [{"value": 1, "partition": "0"}]}', 400, 400),
        (b'{"records": [{"value": 1, "partition": -1}]}', 422, 42206),
        (b'{"records": [{"value": NaN}]}', 400, 400),
        # beyond a double: acknowledged and stored as null (helper-82)
        (b'{"records": [{"value": {"ind": 5, "age": 1e999}}]}', 400, 400),
        (b"\xff\xfe\x00", 400, 400),
    ],
)
def test_malformed_body_is_4xx(kafka_services, api, body, status, code):
    """Not JSON, or a field of the wrong JSON type: 400 / 400, as the consumer routes answer
    (rest-utils' Jackson mappers); an empty ``records`` 422 / 422; a negative partition 42206."""
    resp = post(api, kafka_services.topic("pin"), body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error_code"] == code


def test_too_large_is_413(kafka_services, api):
    big = "x" * (kafka_services.api.max_record_bytes + 10)
    resp = post(api, kafka_services.topic("pin"), {"records": [{"value": big}]})
    assert resp.status_code == 413 and resp.json()["error_code"] == 413
    huge = b'{"records":[' + b",".join([b'{"value":"' + b"y" * 1000 + b'"}'] * 11_000) + b"]}"
    resp = post(api, kafka_services.topic("pin"), huge)
    assert resp.status_code == 413


def test_metadata_endpoints(kafka_services, api):
    topics = api.get("/topics").json()
    for table in ("pin", "geo", "user"):
        assert kafka_services.topic(table) in topics
        assert kafka_services.stream(table) in topics
    assert not any(t.startswith("__") for t in topics)
    info = api.get(f"/topics/{kafka_services.topic('pin')}").json()
    assert info["name"] == kafka_services.topic("pin")
    assert info["partitions"][0]["partition"] == 0
    assert info["partitions"][0]["replicas"][0]["in_sync"] is True
    resp = api.get("/topics/nope-nope")
    assert resp.status_code == 404 and resp.json()["error_code"] == 40401
    assert api.get("/brokers").json() == {"brokers": [1]}
    assert api.get("/healthz").json() == HEALTHY
    assert api.get("/openapi.json").status_code == 200
    assert api.get("/docs").status_code == 200
    resp = api.get("/no/such/route")
    assert resp.status_code == 404 and resp.json()["error_code"] == 404


def test_api_key_is_enforced(kafka_services):
    (port,) = free_ports(1)
    settings = kafka_services.model_copy(
        update={"api": ApiSettings(host="127.0.0.1", port=port, api_key="s3cret")}
    )
    with serve(settings) as url:
        topic = kafka_services.topic("pin")
        body = orjson.dumps({"records": [{"value": 1}]})
        headers = {"content-type": JSON_V2}
        assert httpx.post(f"{url}/topics/{topic}", content=body, headers=headers).status_code == 403
        bad = {**headers, "x-api-key": "wrong"}
        assert httpx.post(f"{url}/topics/{topic}", content=body, headers=bad).status_code == 403
        good = {**headers, "x-api-key": "s3cret"}
        assert httpx.post(f"{url}/topics/{topic}", content=body, headers=good).status_code == 200
        assert httpx.get(f"{url}/streams", headers={"x-api-key": "s3cret"}).status_code == 200
        assert httpx.get(f"{url}/streams").status_code == 403
        assert httpx.get(f"{url}/healthz").status_code == 200


# ---- API Gateway path rules (issue 9, item 1) ------------------------------------------------
# Requests name the whole URL: an httpx client's base URL drops a path's leading slashes.


def test_produce_through_api_gateway_paths(kafka_services, api, marker):
    """Repeated slashes (a base URL ending in "/"), the default stage and a trailing slash are
    served directly (200, no redirect) and every record is in Kafka."""
    topic = kafka_services.topic("geo")
    stage = kafka_services.api.stage
    assert stage == "test"  # the default: the invoke URL of the original producers' stage
    base = kafka_services.api.url
    paths = [
        f"//topics/{topic}",
        f"/{stage}/topics/{topic}",
        f"/topics/{topic}/",
        f"/{stage}//topics/{topic}/",
        f"///topics/{topic}/partitions/0//",
    ]
    for i, path in enumerate(paths):
        resp = post(api, topic, {"records": [{"value": {"m": marker, "i": i}}]}, path=base + path)
        assert resp.status_code == 200, (path, resp.status_code, resp.text)
        assert resp.json()["offsets"][0]["error_code"] is None
    assert marked(read_topic(kafka_services, topic), marker) == {i: 1 for i in range(len(paths))}
    resp = post(api, topic, {"records": [{"value": 1}]}, path=f"{base}/dev/topics/{topic}")
    assert resp.status_code == 404 and resp.json() == {
        "error_code": 404,
        "message": f"HTTP 404 Not Found: POST /dev/topics/{topic}. 'dev' is not this API's "
        f"stage: use /{stage}/topics/{topic} or /topics/{topic}.",
    }


def test_configured_stage_and_api_key(kafka_services, marker):
    """A stage set in the settings replaces the default; the API key check sees the normalised
    path, so the open paths stay open under the stage."""
    (port,) = free_ports(1)
    settings = kafka_services.model_copy(
        update={"api": ApiSettings(host="127.0.0.1", port=port, api_key="k", stage="prod")}
    )
    topic = kafka_services.topic("user")
    body = orjson.dumps({"records": [{"value": {"m": marker, "i": 0}}]})
    headers = {"content-type": JSON_V2}
    with serve(settings) as url:
        assert httpx.get(f"{url}/prod/healthz/").json() == HEALTHY
        resp = httpx.post(f"{url}/prod/topics/{topic}", content=body, headers=headers)
        assert resp.status_code == 403
        keyed = {**headers, "x-api-key": "k"}
        resp = httpx.post(f"{url}/prod//topics/{topic}/", content=body, headers=keyed)
        assert resp.status_code == 200, resp.text
        resp = httpx.post(f"{url}/test/topics/{topic}", content=body, headers=keyed)
        assert resp.status_code == 404
    assert marked(read_topic(kafka_services, topic), marker) == {0: 1}


def test_a_produce_the_broker_refuses_by_the_requests_fault_is_4xx(kafka_services, api, marker):
    """A record the broker refuses because of the request, not the cluster, is answered 4xx on
    both facades (a retry would fail the same way), never 500/503: Kafka's internal topics
    (403 / 40301; the Kinesis proxy has no such stream) and a record larger than the topic's
    ``max.message.bytes`` though within the API's record limit (413 / 413; Kinesis 400
    ValidationException; in a PutRecords beside records taken, that entry's InternalFailure,
    as a PutRecordsResultEntry's ErrorCode is only that or
    ProvisionedThroughputExceededException)."""
    from confluent_kafka.admin import NewTopic

    from pinlake import kafka

    resp = post(api, "__consumer_offsets", {"records": [{"value": 1}]})
    assert resp.status_code == 403 and resp.json()["error_code"] == 40301, resp.text
    assert "internal topic __consumer_offsets" in resp.json()["message"]
    for method, path in (("PUT", "/streams/__consumer_offsets/record"), ("GET", "/streams/__x")):
        resp = api.request(method, path, json={"Data": {"a": 1}, "PartitionKey": "k"})
        assert resp.status_code == 400, resp.text
        assert resp.json()["__type"] == "ResourceNotFoundException"

    topic = f"small-{marker}"
    client = kafka.admin(kafka_services)
    new = NewTopic(topic, num_partitions=1, config={"max.message.bytes": "1000"})
    client.create_topics([new])[topic].result(30)
    assert kafka.wait_for_leaders(client, [topic], 1, 30)
    big = {"m": marker, "i": 1, "pad": "x" * 3000}
    assert len(orjson.dumps(big)) < kafka_services.api.max_record_bytes
    resp = post(api, topic, {"records": [{"value": big}]})
    assert resp.status_code == 413, resp.text
    body = resp.json()
    assert body["error_code"] == 413 and body["message"].startswith("Record too large for the")
    assert body["offsets"][0]["error_code"] == 50002
    resp = api.put(f"/streams/{topic}/record", json={"Data": big, "PartitionKey": "k"})
    assert resp.status_code == 400 and resp.json()["__type"] == "ValidationException", resp.text
    small = {"m": marker, "i": 0}
    entries = [{"data": json.dumps(v), "partition-key": "k"} for v in (small, big)]
    resp = api.put(f"/streams/{topic}/records", json={"records": entries})
    assert resp.status_code == 200, resp.text
    assert resp.json()["FailedRecordCount"] == 1, resp.text
    ok, refused = resp.json()["Records"]
    # a PutRecords entry's ErrorCode is one AWS gives per entry: the broker's refusal of a
    # record within the API's limit is pinlake's own failure (PutRecordsResultEntry reference)
    assert "SequenceNumber" in ok and refused["ErrorCode"] == "InternalFailure"
    assert "max.message.bytes" in refused["ErrorMessage"]
    assert marked(read_topic(kafka_services, topic), marker) == {0: 1}


def test_the_kinesis_proxy_never_touches_a_batch_topic(kafka_services, api, marker):
    """DeleteStream on a batch topic deleted it, records not yet sunk included, and PutRecord
    wrote to it: the Kinesis proxy answers for a batch topic as for a stream that does not
    exist, and the topic keeps its records."""
    topic = kafka_services.topic("geo")
    assert post(api, topic, {"records": [{"value": {"m": marker, "i": 0}}]}).status_code == 200
    for method, path, body in (
        ("DELETE", f"/streams/{topic}", None),
        ("GET", f"/streams/{topic}", None),
        ("PUT", f"/streams/{topic}/record", {"Data": {"m": marker, "i": 1}, "PartitionKey": "k"}),
        ("GET", f"/streams/{topic}/sharditerator?shard-id=shardId-000000000000", None),
    ):
        resp = api.request(method, path, json=body)
        assert resp.status_code == 400, (method, path, resp.text)
        assert resp.json()["__type"] == "ResourceNotFoundException"
    resp = api.post(f"/streams/{topic}", json={"ShardCount": 1})
    assert resp.status_code == 400 and "batch topic of the Kafka REST proxy" in resp.text
    assert topic not in api.get("/streams").json()["StreamNames"]
    assert marked(read_topic(kafka_services, topic), marker) == {0: 1}  # still there, once
