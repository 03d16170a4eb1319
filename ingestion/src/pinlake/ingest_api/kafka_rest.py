"""Confluent Kafka REST Proxy v2: produce to a topic / partition, topic metadata."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.backend import BrokerUnavailable, Delivery
from pinlake.ingest_api.common import (
    TOPIC_RE,
    BodyTooLarge,
    backend,
    dumps,
    loads,
    media_type,
    read_body,
)
from pinlake.ingest_api.errors import KafkaRestError, kafka_json

router = APIRouter(tags=["Kafka REST v2"])

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
SCHEMA_FORMATS = (
    "application/vnd.kafka.avro.v2+json",
    "application/vnd.kafka.jsonschema.v2+json",
    "application/vnd.kafka.protobuf.v2+json",
)

_RECORD_SCHEMA = {
    "type": "object",
    "required": ["records"],
    "properties": {
        "records": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "key": {"description": "any JSON (json format) or base64 (binary format)"},
                    "value": {"description": "any JSON (json format) or base64 (binary format)"},
                    "partition": {"type": "integer", "minimum": 0},
                },
            },
        }
    },
}
_PRODUCE_DOC = {
    "requestBody": {
        "required": True,
        "content": {JSON_V2: {"schema": _RECORD_SCHEMA}, BINARY_V2: {"schema": _RECORD_SCHEMA}},
    },
    "responses": {
        "200": {"description": "every record acknowledged (acks=all); offsets per record"},
        "404": {"description": "40401 topic not found / 40402 partition not found"},
        "413": {"description": "request or record too large"},
        "415": {"description": "unsupported content type"},
        "422": {"description": "422 / 42206 malformed body"},
        "503": {"description": "50302 broker not available / 50003 retriable Kafka error"},
    },
}

# Kafka error codes that mean "try again" (rest-utils maps RetriableException to 50003).
_TOPIC_GONE = {3}  # UNKNOWN_TOPIC_OR_PART


def _invalid(message: str, code: int = 42206) -> KafkaRestError:
    return KafkaRestError(422, message, code)


def _check_topic_name(topic: str) -> None:
    if not TOPIC_RE.match(topic) or topic in (".", ".."):
        raise KafkaRestError(404, f"Topic {topic} not found.", 40401)


def _encode(item, fmt: str, what: str) -> bytes | None:
    if item is None:
        return None
    if fmt == "json":
        return dumps(item)
    if not isinstance(item, str):
        raise _invalid(f"{what}: data={item!r:.40} is not a base64 string.")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{what}: data={item!r:.40} is not a valid base64 string.") from None


def parse_records(body: bytes, fmt: str, max_record: int):
    """Validate a v2 produce body into [(key, value, partition)] (raises KafkaRestError)."""
    try:
        data = loads(body)
    except ValueError as exc:
        raise _invalid(f"Unrecognized JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise _invalid("Request body must be a JSON object with a records field.")
    records = data.get("records")
    if records is None:
        raise _invalid("records may not be null", 422)
    if not isinstance(records, list):
        raise _invalid("records must be an array")
    if not records:
        raise _invalid("records may not be empty", 422)
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise _invalid(f"records[{i}] must be an object")
        partition = rec.get("partition")
        if partition is not None and (
            isinstance(partition, bool)
            or not isinstance(partition, int)
            or partition < 0
            or partition > 2**31 - 1
        ):
            raise _invalid(f"records[{i}].partition must be a non-negative integer")
        key = _encode(rec.get("key"), fmt, f"records[{i}].key")
        value = _encode(rec.get("value"), fmt, f"records[{i}].value")
        if len(value or b"") + len(key or b"") > max_record:
            raise KafkaRestError(
                413, f"records[{i}] is larger than the {max_record}-byte record limit", 413
            )
        out.append((key, value, partition))
    return out


def _offset(d: Delivery) -> dict:
    if d.error is None:
        return {"partition": d.partition, "offset": d.offset, "error_code": None, "error": None}
    retriable = d.error.retriable() or d.error.code() < 0
    return {
        "partition": None,
        "offset": None,
        "error_code": 50003 if retriable else 50002,
        "error": d.error.str(),
    }


async def _produce(request: Request, topic: str, partition: int | None) -> Response:
    settings = request.app.state.settings
    ctype = media_type(request)
    if ctype == JSON_V2:
        fmt = "json"
    elif ctype == BINARY_V2:
        fmt = "binary"
    elif ctype in SCHEMA_FORMATS:
        raise KafkaRestError(415, f"Content type {ctype} needs a Schema Registry (not available).")
    else:
        raise KafkaRestError(415, "HTTP 415 Unsupported Media Type")
    try:
        body = await read_body(request, settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KafkaRestError(413, "Request Entity Too Large") from None
    _check_topic_name(topic)
    records = parse_records(body, fmt, settings.api.max_record_bytes)
    be = backend(request)
    try:
        info = await be.topic(topic)
    except BrokerUnavailable:
        raise KafkaRestError(503, "Broker not available.", 50302) from None
    if info is None:
        raise KafkaRestError(404, f"Topic {topic} not found.", 40401)
    if partition is not None:
        records = [(k, v, partition) for k, v, _ in records]
    for _k, _v, p in records:
        if p is not None and p not in info.partitions:
            raise KafkaRestError(404, f"Partition {p} of topic {topic} not found.", 40402)
    try:
        deliveries = await be.produce(topic, records)
    except BrokerUnavailable:
        raise KafkaRestError(503, "Broker not available.", 50302) from None
    offsets = [_offset(d) for d in deliveries]
    failed = [d for d in deliveries if d.error is not None]
    if failed:
        if all(d.error.code() in _TOPIC_GONE for d in failed):
            be.forget(topic)
            raise KafkaRestError(404, f"Topic {topic} not found.", 40401, offsets=offsets)
        retriable = any(o["error_code"] == 50003 for o in offsets)
        raise KafkaRestError(
            503 if retriable else 500,
            f"{len(failed)} of {len(deliveries)} records not acknowledged: {failed[0].error.str()}",
            50003 if retriable else 50002,
            offsets=offsets,
        )
    return kafka_json({"key_schema_id": None, "value_schema_id": None, "offsets": offsets})


@router.post("/topics/{topic}", openapi_extra=_PRODUCE_DOC, summary="Produce records")
async def produce_topic(request: Request, topic: str) -> Response:
    return await _produce(request, topic, None)


@router.post(
    "/topics/{topic}/partitions/{partition}",
    openapi_extra=_PRODUCE_DOC,
    summary="Produce records to one partition",
)
async def produce_partition(request: Request, topic: str, partition: str) -> Response:
    if not partition.isdigit() or len(partition) > 9:
        raise KafkaRestError(404, f"Partition {partition} of topic {topic} not found.", 40402)
    return await _produce(request, topic, int(partition))


async def _info(request: Request, topic: str):
    _check_topic_name(topic)
    try:
        info = await backend(request).topic(topic)
    except BrokerUnavailable:
        raise KafkaRestError(503, "Broker not available.", 50302) from None
    if info is None:
        raise KafkaRestError(404, f"Topic {topic} not found.", 40401)
    return info


def _partition_body(p: int, leader: int) -> dict:
    return {
        "partition": p,
        "leader": leader,
        "replicas": [{"broker": leader, "leader": True, "in_sync": True}],
    }


@router.get("/topics", summary="List topics")
async def list_topics(request: Request) -> Response:
    try:
        return kafka_json(await backend(request).list_topics())
    except BrokerUnavailable:
        raise KafkaRestError(503, "Broker not available.", 50302) from None


@router.get("/topics/{topic}", summary="Topic metadata")
async def get_topic(request: Request, topic: str) -> Response:
    info = await _info(request, topic)
    parts = [_partition_body(p, leader) for p, leader in sorted(info.partitions.items())]
    return kafka_json({"name": topic, "configs": {}, "partitions": parts})


@router.get("/topics/{topic}/partitions", summary="Partitions of a topic")
async def get_partitions(request: Request, topic: str) -> Response:
    info = await _info(request, topic)
    return kafka_json([_partition_body(p, ld) for p, ld in sorted(info.partitions.items())])


@router.get("/topics/{topic}/partitions/{partition}", summary="One partition")
async def get_partition(request: Request, topic: str, partition: str) -> Response:
    info = await _info(request, topic)
    if not partition.isdigit() or int(partition) not in info.partitions:
        raise KafkaRestError(404, f"Partition {partition} of topic {topic} not found.", 40402)
    return kafka_json(_partition_body(int(partition), info.partitions[int(partition)]))


@router.get("/brokers", summary="Broker ids")
async def brokers(request: Request) -> Response:
    be = backend(request)
    import asyncio

    def _ids():
        try:
            return sorted(be.admin.list_topics(timeout=3.0).brokers)
        except Exception as exc:
            raise BrokerUnavailable(str(exc)) from exc

    try:
        return kafka_json({"brokers": await asyncio.to_thread(_ids)})
    except BrokerUnavailable:
        raise KafkaRestError(503, "Broker not available.", 50302) from None
