"""Kafka REST Proxy v2 routes: produce to a topic or a partition, topic and broker metadata.

Request parsing is :mod:`.codec` (pure); this module talks to the backend and shapes responses
(Confluent REST Proxy v2 API reference). A broker that cannot be reached is answered once for
every route by the router's route class: 503 / 50302 "Broker not available.".
"""

from __future__ import annotations

from confluent_kafka import KafkaError
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake import kafka
from pinlake.ingest_api.backend import Delivery, TopicInfo
from pinlake.ingest_api.errors import KafkaRestError, facade_route, kafka_json
from pinlake.ingest_api.kafka_rest import codec
from pinlake.ingest_api.kafka_rest.codec import BINARY_V2, JSON_V2
from pinlake.ingest_api.request_io import BodyTooLarge, backend, media_type, read_body
from pinlake.ingest_api.wire import is_digits


def broker_unavailable() -> KafkaRestError:
    """503 / 50302, the v2 "broker not available"."""
    return KafkaRestError(503, "Broker not available.", 50302)


router = APIRouter(
    tags=["Kafka REST v2"], route_class=facade_route(KafkaRestError, broker_unavailable)
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
        "400": {"description": "400 / 400 body not JSON, a field of the wrong type, bad base64"},
        "422": {"description": "422 / 422 records empty; 42206 a partition out of range"},
        "503": {"description": "50302 broker not available / 50003 retriable Kafka error"},
    },
}

# Kafka error codes that mean the topic is gone (deleted since its metadata was cached): the
# request is answered 404 / 40401 and the cached metadata dropped.
_TOPIC_GONE = {KafkaError.UNKNOWN_TOPIC_OR_PART}


def _offset(d: Delivery) -> dict:
    """One ``offsets[i]`` entry; a failed record carries 50003 (retriable) or 50002 (other
    Kafka error), as rest-utils' KafkaExceptionMapper does (Java's RetriableException, among
    them a leader in transit: :func:`pinlake.kafka.is_transient`)."""
    if d.error is None:
        return {"partition": d.partition, "offset": d.offset, "error_code": None, "error": None}
    retriable = kafka.is_transient(d.error) or d.error.code() < 0
    return {
        "partition": None,
        "offset": None,
        "error_code": 50003 if retriable else 50002,
        "error": d.error.str(),
    }


async def _produce(request: Request, topic: str, partition: int | None) -> Response:
    settings = request.app.state.settings
    fmt = codec.embedded_format(media_type(request))
    try:
        body = await read_body(request, settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KafkaRestError(413, "Request Entity Too Large") from None
    codec.check_topic_name(topic)
    codec.check_writable(topic)
    records = codec.parse_records(body, fmt, settings.api.max_record_bytes)
    be = backend(request)
    info = await be.metadata.topic(topic)
    if info is None:
        raise codec.topic_not_found(topic)
    records = codec.place_records(records, topic, info.partitions, partition)
    deliveries = await be.producer.produce(topic, records)
    offsets = [_offset(d) for d in deliveries]
    failed = [d for d in deliveries if d.error is not None]
    if failed:
        if all(d.error.code() in _TOPIC_GONE for d in failed):
            be.metadata.forget(topic)
            raise KafkaRestError(404, f"Topic {topic} not found.", 40401, offsets=offsets)
        fault = codec.produce_fault((d.error.code() for d in failed), failed[0].error.str())
        if fault is not None:
            raise KafkaRestError(fault.status, fault.message, fault.code, offsets=offsets)
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
    """Produce ``records`` to ``topic``; 200 with one ``offsets`` entry per record, in order,
    once every record is acknowledged (acks=all)."""
    return await _produce(request, topic, None)


@router.post(
    "/topics/{topic}/partitions/{partition}",
    openapi_extra=_PRODUCE_DOC,
    summary="Produce records to one partition",
)
async def produce_partition(request: Request, topic: str, partition: str) -> Response:
    """Produce ``records`` to one partition (the path's partition overrides the records')."""
    return await _produce(request, topic, codec.path_partition(topic, partition))


async def _info(request: Request, topic: str) -> TopicInfo:
    codec.check_topic_name(topic)
    info = await backend(request).metadata.topic(topic)
    if info is None:
        raise codec.topic_not_found(topic)
    return info


def _partition_body(p: int, leader: int) -> dict:
    return {
        "partition": p,
        "leader": leader,
        "replicas": [{"broker": leader, "leader": True, "in_sync": True}],
    }


@router.get("/topics", summary="List topics")
async def list_topics(request: Request) -> Response:
    """``["topic", ...]``: every topic but Kafka's internal ones."""
    return kafka_json(await backend(request).metadata.list_topics())


@router.get("/topics/{topic}", summary="Topic metadata")
async def get_topic(request: Request, topic: str) -> Response:
    """``{"name", "configs": {}, "partitions": [{"partition", "leader", "replicas"}]}``."""
    info = await _info(request, topic)
    parts = [_partition_body(p, leader) for p, leader in sorted(info.partitions.items())]
    return kafka_json({"name": topic, "configs": {}, "partitions": parts})


@router.get("/topics/{topic}/partitions", summary="Partitions of a topic")
async def get_partitions(request: Request, topic: str) -> Response:
    """``[{"partition", "leader", "replicas"}, ...]``."""
    info = await _info(request, topic)
    return kafka_json([_partition_body(p, ld) for p, ld in sorted(info.partitions.items())])


@router.get("/topics/{topic}/partitions/{partition}", summary="One partition")
async def get_partition(request: Request, topic: str, partition: str) -> Response:
    """``{"partition", "leader", "replicas"}``; 404 / 40402 if the topic has no such one."""
    info = await _info(request, topic)
    if not is_digits(partition) or int(partition) not in info.partitions:
        raise codec.partition_not_found(topic, partition)
    return kafka_json(_partition_body(int(partition), info.partitions[int(partition)]))


@router.get("/brokers", summary="Broker ids")
async def brokers(request: Request) -> Response:
    """``{"brokers": [id, ...]}``."""
    return kafka_json({"brokers": await backend(request).metadata.broker_ids()})
