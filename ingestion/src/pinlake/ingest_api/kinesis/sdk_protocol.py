"""Kinesis' own JSON protocol, which the AWS SDKs speak (boto3, the AWS CLI, the SDKs for Java,
Go, JavaScript...), backed by the same operations as the API Gateway proxy (:mod:`.operations`).

A request is ``POST /`` (under the stage too) with ``X-Amz-Target: Kinesis_20131202.<Operation>``
and a JSON body of the operation's members (``Content-Type: application/x-amz-json-1.1``); the
answer is the operation's JSON body, or ``{"__type": "<Exception>", "message"}`` with HTTP 400
(503 when Kafka cannot be reached), which the SDKs raise as the named exception (AWS Kinesis API
reference; the JSON 1.1 protocol of botocore's kinesis service model). The request's SigV4
signature is not checked: any credentials work, as with a local endpoint (set
``endpoint_url``). Every ``Data`` is base64, the record's bytes exactly; no mapping template
applies, so a record an SDK puts is the bytes it sent.

Served: CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary, ListStreams,
ListShards, PutRecord, PutRecords, GetShardIterator, GetRecords. Every body is first checked
against the operation's input shape in Kinesis' service model, as the service's request
validation does (:func:`model.check_input`: ``SerializationException`` for a member of another
JSON type, ``ValidationException`` listing every failed min/max/pattern/enum/required), then
for the members pinlake does not act on as AWS does (:data:`model.MEMBER_POLICY`, the one list
of what is honoured, refused or harmlessly ignored, and why: :func:`model.check_members`).
``DryRun`` true on PutRecord, PutRecords, GetShardIterator or GetRecords makes every check and
answers 400 ``DryRunOperationException`` when they pass (nothing written or read), as Kinesis
does (:func:`codec.dry_run_succeeded`). The
shards and streams are paged as AWS documents: ListShards by ``MaxResults`` (at most 1000) and
``NextToken`` (:func:`codec.list_shards_request`), DescribeStream by ``Limit`` (at most 100),
``ExclusiveStartShardId`` and ``HasMoreShards``, ListStreams by ``Limit`` and ``NextToken``.
Another operation (tags, resharding, enhanced fan-out, encryption...) is 400
``UnknownOperationException`` naming those.
CBOR (the AWS SDK for Java's default for Kinesis, ``application/x-amz-cbor-1.1``) is refused
with 400 ``SerializationException`` saying how to turn it off (the SDK's system property or
environment variable: v2 ``aws.cborEnabled``/``CBOR_ENABLED``, v1
``com.amazonaws.sdk.disableCbor``/``AWS_CBOR_DISABLE``; aws/aws-sdk-java-v2#3498).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.errors import KinesisError, amz_json, facade_route
from pinlake.ingest_api.kinesis import codec, model
from pinlake.ingest_api.kinesis.operations import Kinesis, json_body, service_unavailable
from pinlake.ingest_api.request_io import media_type

router = APIRouter(
    tags=["Kinesis (AWS SDK JSON protocol)"],
    route_class=facade_route(KinesisError, service_unavailable),
)

Operation = Callable[[Kinesis, dict[str, Any], Request], Awaitable[dict]]


def _dry_run(data: dict[str, Any]) -> bool:
    """Whether the request asks for a dry run (``DryRun`` true, on the operations whose input
    has it in the service model: PutRecord, PutRecords, GetShardIterator, GetRecords; the
    others refuse it, :func:`model.check_members`)."""
    return data.get("DryRun") is True


async def _list_streams(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    limit, start = codec.list_streams_params(data)
    return await k.list_streams(limit, start)


async def _create_stream(k: Kinesis, data: dict[str, Any], request: Request) -> dict:
    name = codec.sdk_stream_name(data)
    count = codec.shard_count(data, request.app.state.settings.api.default_shard_count)
    return await k.create_stream(name, count)


async def _delete_stream(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    return await k.delete_stream(codec.sdk_stream_name(data))


async def _describe_stream(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    limit = data.get("Limit") or codec.DESCRIBE_STREAM_PAGE
    after = data.get("ExclusiveStartShardId")
    return await k.describe_stream(codec.sdk_stream_name(data), after, limit)


async def _describe_stream_summary(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    return await k.describe_stream_summary(codec.sdk_stream_name(data))


async def _list_shards(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    return await k.list_shards(codec.list_shards_request(data))


async def _put_record(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    stream = codec.sdk_stream_name(data)
    return await k.put_record(stream, data, codec.NATIVE, dry_run=_dry_run(data))


async def _put_records(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    stream = codec.sdk_stream_name(data)
    entries, fields = codec.put_records_entries(data, tutorial=False)
    return await k.put_records(stream, entries, fields, dry_run=_dry_run(data))


async def _get_shard_iterator(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    stream = codec.sdk_stream_name(data)
    shard = codec.sdk_string(data, "ShardId")
    kind = codec.sdk_string(data, "ShardIteratorType")
    seq = codec.sdk_string(data, "StartingSequenceNumber", required=False)
    at = data.get("Timestamp")
    names = codec.SDK_ITERATOR
    return await k.get_shard_iterator(stream, shard, kind, seq, at, names, dry_run=_dry_run(data))


async def _get_records(k: Kinesis, data: dict[str, Any], _request: Request) -> dict:
    iterator = codec.sdk_string(data, "ShardIterator")
    limit = codec.sdk_limit(data, "Limit", codec.MAX_GET_RECORDS, codec.MAX_GET_RECORDS)
    stream = codec.sdk_stream_name(data) if data.get("StreamARN") is not None else None
    return await k.get_records(iterator, limit, stream, dry_run=_dry_run(data))


#: The operations served, by their ``X-Amz-Target`` name.
OPERATIONS: dict[str, Operation] = {
    "CreateStream": _create_stream,
    "DeleteStream": _delete_stream,
    "DescribeStream": _describe_stream,
    "DescribeStreamSummary": _describe_stream_summary,
    "ListStreams": _list_streams,
    "ListShards": _list_shards,
    "PutRecord": _put_record,
    "PutRecords": _put_records,
    "GetShardIterator": _get_shard_iterator,
    "GetRecords": _get_records,
}

#: The CBOR media type the AWS SDK for Java uses for Kinesis unless told otherwise.
CBOR = "application/x-amz-cbor-1.1"


@router.post("/", summary="Kinesis API (X-Amz-Target)")
async def kinesis_api(request: Request) -> Response:
    """One Kinesis operation, named by ``X-Amz-Target`` (:data:`OPERATIONS`); its JSON
    response body. The body is checked against the service model's input shape first
    (:func:`model.check_input`: ``SerializationException``, ``ValidationException``). Without
    ``X-Amz-Target``, ``POST /`` is no resource of the API (404)."""
    target = request.headers.get("x-amz-target")
    if target is None:
        raise StarletteHTTPException(404)
    operation = codec.sdk_operation(target, OPERATIONS)
    if media_type(request) == CBOR:
        raise KinesisError(
            400,
            "CBOR is not served: send JSON (application/x-amz-json-1.1). The AWS SDK for Java "
            "uses CBOR for Kinesis unless told not to: v2 with the system property "
            "aws.cborEnabled=false or the environment variable CBOR_ENABLED=false, v1 with "
            "-Dcom.amazonaws.sdk.disableCbor=true or AWS_CBOR_DISABLE=true.",
            "SerializationException",
        )
    data = await json_body(request, optional=True)
    model.check_input(operation, data)
    model.check_members(operation, data, request.app.state.settings.api.max_record_bytes)
    return amz_json(await OPERATIONS[operation](Kinesis.of(request), data, request))
