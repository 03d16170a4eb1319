"""Hostile and malformed requests over HTTP (hypothesis): no 5xx, the API stays up, valid
records land exactly once.

The protocol rules themselves are fuzzed on the pure codecs in ``tests/unit/ingest_api`` (with
many more examples, in milliseconds); here fewer examples go through uvicorn to the real broker
to prove the server as a whole never answers 5xx and keeps running.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingestion_helpers import BINARY_V2, JSON_V2, marked, read_topic

pytestmark = pytest.mark.kafka


def _jd(value) -> bytes:
    return json.dumps(value).encode()


COMMON = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
content_types = st.sampled_from(
    [
        JSON_V2,
        BINARY_V2,
        "application/json",
        "",
        "text/plain",
        "application/vnd.kafka.v2+json",
        JSON_V2 + "; charset=utf-8",
        "application/vnd.kafka.avro.v2+json",
        "multipart/form-data",
    ]
) | st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s)
record = st.fixed_dictionaries(
    {},
    optional={
        "key": json_value,
        "value": json_value,
        "partition": st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none(), st.booleans()),
        "extra": json_value,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_value.map(_jd),
    st.fixed_dictionaries({"records": st.lists(record, max_size=5)}).map(_jd),
    st.fixed_dictionaries({"records": json_value}).map(_jd),
    st.lists(
        st.sampled_from(
            [
                b"{",
                b"}",
                b"[",
                b"]",
                b'"records"',
                b":",
                b",",
                b"null",
                b"1e999",
                b"NaN",
                b"\x00",
                b"\xff",
                b'"\\ud800"',
            ]
        ),
        max_size=20,
    ).map(b"".join),
)
names = st.one_of(
    st.sampled_from(
        [
            "pinterest.pin",
            "pinterest.geo",
            "nope",
            "..",
            ".",
            "a" * 260,
            "streaming-pinterest-pin",
            "__consumer_offsets",
        ]
    ),
    st.text(min_size=1, max_size=40),
)


def _safe(name: str) -> str:
    return quote(name, safe="") or "x"


def _check(resp) -> None:
    assert resp.status_code < 500, (resp.request.method, resp.request.url, resp.text[:300])


@COMMON
@given(name=names, ctype=content_types, body=bodies, by_partition=st.booleans())
def test_fuzz_kafka_rest_produce(api, name, ctype, body, by_partition):
    path = f"/topics/{_safe(name)}" + ("/partitions/0" if by_partition else "")
    headers = {"content-type": ctype} if ctype else {}
    try:
        resp = api.post(path, content=body, headers=headers)
    except UnicodeEncodeError:
        return  # httpx refuses non-latin-1 header values before sending
    _check(resp)
    if resp.status_code == 200:
        offsets = resp.json()["offsets"]
        assert all(o["error_code"] is None and o["offset"] is not None for o in offsets)


kinesis_bodies = st.one_of(
    bodies,
    st.fixed_dictionaries(
        {},
        optional={
            "Data": json_value,
            "PartitionKey": json_value,
            "StreamName": json_value,
            "ExplicitHashKey": json_value,
        },
    ).map(_jd),
    st.fixed_dictionaries(
        {
            "records": st.lists(
                st.one_of(
                    json_value,
                    st.fixed_dictionaries(
                        {}, optional={"data": json_value, "partition-key": json_value}
                    ),
                ),
                max_size=5,
            )
        }
    ).map(_jd),
)


@COMMON
@given(
    name=names,
    op=st.sampled_from(["record", "records", "iterator", "get", "describe", "list"]),
    body=kinesis_bodies,
    header=st.text(max_size=60),
    shard=st.text(max_size=20),
)
def test_fuzz_kinesis(api, name, op, body, header, shard):
    stream = _safe(name)
    try:
        if op == "record":
            resp = api.put(f"/streams/{stream}/record", content=body)
        elif op == "records":
            resp = api.put(f"/streams/{stream}/records", content=body)
        elif op == "iterator":
            resp = api.get(f"/streams/{stream}/sharditerator", params={"shard-id": shard})
        elif op == "get":
            resp = api.get(f"/streams/{stream}/records", headers={"Shard-Iterator": header})
        elif op == "describe":
            resp = api.get(f"/streams/{stream}")
        else:
            resp = api.get("/streams")
    except (UnicodeEncodeError, ValueError, httpx.InvalidURL):
        return  # not sendable as HTTP (httpx rejects the header)
    _check(resp)


MIXED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
plans = st.lists(
    st.one_of(
        st.tuples(st.just("valid"), st.integers(1, 4), st.booleans()),
        st.tuples(st.just("bad"), bodies, content_types),
    ),
    min_size=1,
    max_size=8,
)


def test_valid_records_of_mixed_traffic_land_exactly_once(kafka_services, api):
    """Interleave valid and hostile requests (each generated plan under its own marker):
    every acknowledged valid record is in Kafka exactly once afterwards, and the API is up."""
    import uuid

    topic = kafka_services.topic("geo")
    checks: list[tuple[str, int]] = []

    @MIXED
    @given(plan=plans)
    def send(plan):
        marker = uuid.uuid4().hex
        sent = 0
        for item in plan:
            if item[0] == "valid":
                _, n, binary = item
                values = [{"m": marker, "i": sent + j} for j in range(n)]
                if binary:
                    recs = [{"value": base64.b64encode(orjson.dumps(v)).decode()} for v in values]
                    ctype = BINARY_V2
                else:
                    recs, ctype = [{"value": v} for v in values], JSON_V2
                resp = api.post(
                    f"/topics/{topic}",
                    content=orjson.dumps({"records": recs}),
                    headers={"content-type": ctype},
                )
                assert resp.status_code == 200, resp.text
                sent += n
            else:
                _, body, ctype = item
                try:
                    resp = api.post(
                        f"/topics/{topic}",
                        content=body,
                        headers={"content-type": ctype} if ctype else {},
                    )
                except (UnicodeEncodeError, httpx.LocalProtocolError):
                    continue  # httpx refuses the header value before sending
                _check(resp)
        checks.append((marker, sent))

    send()
    assert checks
    values = read_topic(kafka_services, topic)
    for marker, sent in checks:
        assert marked(values, marker) == {i: 1 for i in range(sent)}
    assert api.get("/healthz").json()["status"] == "ok"


def test_service_survives_abuse(kafka_services, api):
    """Chunked bodies over the limit, deep nesting, many headers: answers stay < 500."""
    limit = kafka_services.api.max_request_bytes

    def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    resp = api.post("/topics/pinterest.pin", content=chunks(), headers={"content-type": JSON_V2})
    assert resp.status_code == 413
    deep = b'{"records":[{"value":' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    resp = api.post("/topics/pinterest.pin", content=deep, headers={"content-type": JSON_V2})
    assert resp.status_code == 400  # not JSON orjson reads: 400 / 400
    resp = api.post(
        "/topics/pinterest.pin",
        content=b'{"records":[{"value":1}]}',
        headers={"content-type": JSON_V2, **{f"x-h{i}": "v" * 50 for i in range(50)}},
    )
    assert resp.status_code == 200
    assert api.get("/healthz").status_code == 200
