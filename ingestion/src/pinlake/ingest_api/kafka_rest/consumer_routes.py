"""Kafka REST Proxy v2 consumer routes (``/consumers/...``), as kafka-rest's
``resources/v2/ConsumersResource`` serves them.

Requests are parsed by :mod:`.consumer_codec` (pure); instances live in
:class:`~pinlake.ingest_api.backend.consumers.ConsumerRegistry`, whose blocking calls run in a
worker thread. Registry errors become the v2 errors here (:func:`_call`); a broker that cannot be
reached is 503 / 50302 for every route (the router's route class, as for produce). Control
responses are ``application/vnd.kafka.v2+json``; a read answers in the media type its ``Accept``
chose. A route without a response body answers 204.

Routes (``{base}`` is ``/consumers/{group}/instances/{instance}``): ``POST /consumers/{group}``,
``DELETE {base}``, ``POST|GET|DELETE {base}/subscription``, ``GET {base}/records``,
``POST|GET {base}/offsets``, ``POST|GET {base}/assignments``, ``POST {base}/positions``,
``POST {base}/positions/beginning``, ``POST {base}/positions/end``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.backend.consumers import (
    ConsumerRegistry,
    FormatMismatch,
    IllegalState,
    InstanceExists,
    InstanceNotFound,
    KafkaFailure,
)
from pinlake.ingest_api.errors import KafkaRestError, facade_route, kafka_json
from pinlake.ingest_api.kafka_rest import consumer_codec as cc
from pinlake.ingest_api.kafka_rest.routes import broker_unavailable
from pinlake.ingest_api.paths import STAGE_KEY
from pinlake.ingest_api.request_io import BodyTooLarge, backend, media_type, read_body
from pinlake.ingest_api.wire import dumps

router = APIRouter(
    prefix="/consumers",
    tags=["Kafka REST v2 consumers"],
    route_class=facade_route(KafkaRestError, broker_unavailable),
)

_INSTANCE = "/{group}/instances/{instance}"
_NO_CONTENT = {"204": {"description": "done"}}


def _registry(request: Request) -> ConsumerRegistry:
    return backend(request).consumers


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking registry call in a worker thread; its errors become v2 errors:
    not found 404 / 40403, exists 409 / 40902, illegal state 409 / 40903, format mismatch
    406 / 40601, a Kafka error 404 / 40403 (no such topic or partition), 500 / 50003
    (retriable) or 500 / 50002."""
    try:
        return await asyncio.to_thread(fn, *args)
    except InstanceNotFound:
        raise cc.instance_not_found() from None
    except InstanceExists:
        raise cc.instance_exists() from None
    except IllegalState as exc:
        raise cc.illegal_state(str(exc)) from None
    except FormatMismatch:
        raise cc.format_mismatch() from None
    except KafkaFailure as exc:
        raise cc.kafka_error(str(exc), exc.retriable, exc.unknown_partition) from None


async def _body(request: Request) -> Any:
    """The request's JSON body (``None`` when empty), after the content-type check (415) and
    the size limit (413)."""
    try:
        raw = await read_body(request, request.app.state.settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KafkaRestError(413, "Request Entity Too Large") from None
    cc.check_content_type(media_type(request), raw)
    return cc.parse_body(raw)


def _no_content() -> Response:
    return Response(status_code=204)


@router.post("/{group}", summary="Create a consumer instance")
async def create_instance(request: Request, group: str) -> Response:
    """Body ``{"name"?, "format"?: "json"|"binary", "auto.offset.reset"?,
    "auto.commit.enable"?, "fetch.min.bytes"?, "consumer.request.timeout.ms"?}`` (optional);
    200 ``{"instance_id", "base_uri"}``; 409 / 40902 if the name is taken in the group."""
    config = cc.parse_create(await _body(request))
    name = await _call(
        _registry(request).create,
        group,
        config.name,
        config.format,
        config.auto_offset_reset,
        config.auto_commit,
        config,
    )
    uri = cc.base_uri(str(request.base_url), request.scope.get(STAGE_KEY, ""), group, name)
    return kafka_json(cc.create_response(name, uri))


@router.delete(_INSTANCE, status_code=204, responses=_NO_CONTENT, summary="Delete an instance")
async def delete_instance(request: Request, group: str, instance: str) -> Response:
    """Close the instance (it leaves the group); 204, or 404 / 40403."""
    await _call(_registry(request).delete, group, instance)
    return _no_content()


@router.post(_INSTANCE + "/subscription", status_code=204, responses=_NO_CONTENT)
async def subscribe(request: Request, group: str, instance: str) -> Response:
    """Body ``{"topics": [...]}`` or ``{"topic_pattern": "regex"}``; 204. 409 / 40903 when the
    instance is manually assigned."""
    sub = cc.parse_subscription(await _body(request))
    await _call(_registry(request).subscribe, group, instance, sub.topics, sub.pattern)
    return _no_content()


@router.get(_INSTANCE + "/subscription", summary="Subscribed topics")
async def get_subscription(request: Request, group: str, instance: str) -> Response:
    """``{"topics": [...]}``."""
    topics = await _call(_registry(request).subscription, group, instance)
    return kafka_json(cc.subscription_response(topics))


@router.delete(_INSTANCE + "/subscription", status_code=204, responses=_NO_CONTENT)
async def unsubscribe(request: Request, group: str, instance: str) -> Response:
    """Drop the subscription (or manual assignment); 204."""
    await _call(_registry(request).unsubscribe, group, instance)
    return _no_content()


@router.get(_INSTANCE + "/records", summary="Read records")
async def read_records(request: Request, group: str, instance: str) -> Response:
    """``[{"topic", "key", "value", "partition", "offset"}, ...]`` for ``Accept``
    ``application/vnd.kafka.json.v2+json`` (JSON values) or
    ``application/vnd.kafka.binary.v2+json`` (base64); query ``timeout`` (ms) and
    ``max_bytes``. 406 / 40601 when the instance has the other format, 406 / 406 for an
    unacceptable ``Accept``, 408 / 40801 for a record a json instance cannot decode."""
    fmt, produced = cc.read_format(request.headers.get("accept", ""))
    registry = _registry(request)
    # 40403 before 40601 and before the query is read, as kafka-rest checks them
    found = await _call(registry.get, group, instance)
    if fmt == "schema" or fmt != found.fmt:
        raise cc.format_mismatch()
    settings = request.app.state.settings.api
    limits = cc.read_limits(
        request.query_params.get("timeout"),
        request.query_params.get("max_bytes"),
        found.meta if isinstance(found.meta, cc.InstanceConfig) else cc.InstanceConfig(),
        settings.consumer_request_timeout_ms,
        settings.consumer_request_max_bytes,
    )

    def convert(record: tuple) -> dict:
        return cc.record_body(cc.RawRecord(*record), fmt)

    records = await _call(registry.read, group, instance, fmt, *limits, convert)
    return Response(dumps(records), media_type=produced)


@router.post(_INSTANCE + "/offsets", summary="Commit offsets")
async def commit_offsets(request: Request, group: str, instance: str) -> Response:
    """No body: commit what the instance has answered; ``{"offsets": [{"topic", "partition",
    "offset", "metadata"?}]}``: commit each ``offset + 1``. 200 ``[]`` (kafka-rest's
    ``CommitOffsetsResponse`` of an empty list)."""
    offsets = cc.parse_commit(await _body(request))
    await _call(_registry(request).commit, group, instance, offsets)
    return kafka_json([])


@router.get(_INSTANCE + "/offsets", summary="Committed offsets")
async def committed_offsets(request: Request, group: str, instance: str) -> Response:
    """Body ``{"partitions": [{"topic", "partition"}]}`` (a GET with a body, as in kafka-rest);
    ``{"offsets": [{"topic", "partition", "offset", "metadata"}]}`` for the partitions that
    have a committed offset. No body: 404 / 40402."""
    data = await _body(request)
    if data is None:
        raise cc.partition_not_found()
    partitions = cc.parse_partitions(data)
    found = await _call(_registry(request).committed, group, instance, partitions)
    return kafka_json(cc.committed_response([cc.PartitionOffset(*o) for o in found]))


@router.post(_INSTANCE + "/assignments", status_code=204, responses=_NO_CONTENT)
async def assign(request: Request, group: str, instance: str) -> Response:
    """Body ``{"partitions": [{"topic", "partition"}]}``; 204. 409 / 40903 when subscribed."""
    partitions = cc.parse_partitions(await _body(request))
    await _call(_registry(request).assign, group, instance, partitions)
    return _no_content()


@router.get(_INSTANCE + "/assignments", summary="Assigned partitions")
async def get_assignments(request: Request, group: str, instance: str) -> Response:
    """``{"partitions": [{"topic", "partition"}]}``: what the instance reads now."""
    found = await _call(_registry(request).assignment, group, instance)
    return kafka_json(cc.partitions_response([cc.TopicPartition(*p) for p in found]))


@router.post(_INSTANCE + "/positions", status_code=204, responses=_NO_CONTENT)
async def seek(request: Request, group: str, instance: str) -> Response:
    """Body ``{"offsets"?: [{"topic", "partition", "offset"}], "timestamps"?: [{"topic",
    "partition", "timestamp"}]}``; 204. 409 / 40903 for a partition not assigned."""
    offsets, stamps = cc.parse_seek(await _body(request))
    await _call(
        _registry(request).seek,
        group,
        instance,
        [(t, p, o) for t, p, o, _ in offsets],
        [(t, p, ms) for t, p, ms, _ in stamps],
    )
    return _no_content()


async def _seek_to(request: Request, group: str, instance: str, end: bool) -> Response:
    partitions = cc.parse_partitions(await _body(request))
    await _call(_registry(request).seek_to, group, instance, partitions, end)
    return _no_content()


@router.post(_INSTANCE + "/positions/beginning", status_code=204, responses=_NO_CONTENT)
async def seek_to_beginning(request: Request, group: str, instance: str) -> Response:
    """Body ``{"partitions": [{"topic", "partition"}]}``: read them from their first record."""
    return await _seek_to(request, group, instance, False)


@router.post(_INSTANCE + "/positions/end", status_code=204, responses=_NO_CONTENT)
async def seek_to_end(request: Request, group: str, instance: str) -> Response:
    """Body ``{"partitions": [{"topic", "partition"}]}``: read only records produced from now."""
    return await _seek_to(request, group, instance, True)
