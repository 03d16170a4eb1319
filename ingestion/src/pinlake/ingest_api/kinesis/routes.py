"""The API Gateway "Kinesis proxy" resources of the AWS tutorial, backed by Kafka.

Each route reads its operation's inputs the way the tutorial's integration request maps them
(path, query string, ``Shard-Iterator`` header, the body through the mapping templates:
:mod:`.codec`) and calls the operation (:mod:`.operations`), whose body it returns. Errors use
Kinesis' ``{"__type", "message"}`` bodies with HTTP 400 (the "strict" gateway; the console
tutorial's default would pass them through with 200). A broker that cannot be reached is
answered once for every route by the router's route class: 503 ``ServiceUnavailable`` (AWS's
common error).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.errors import KinesisError, amz_json, facade_route
from pinlake.ingest_api.kinesis import codec, model
from pinlake.ingest_api.kinesis.operations import Kinesis, json_body, service_unavailable

router = APIRouter(
    tags=["Kinesis proxy"], route_class=facade_route(KinesisError, service_unavailable)
)


# ---- stream management -------------------------------------------------------------------
@router.get("/streams", summary="ListStreams")
async def list_streams(request: Request) -> Response:
    """``{"HasMoreStreams", "StreamNames"}`` (:meth:`Kinesis.list_streams`): ``Limit``
    (1-10000, at most 100 returned, default 100) and ``ExclusiveStartStreamName``, from the
    JSON body (the AWS SDK shape; the tutorial's client sends ``{}``) or the query string."""
    data = await json_body(request, optional=True)
    params = {k: v for k, v in request.query_params.items() if k not in data}
    limit, start = codec.list_streams_params({**params, **data})
    return amz_json(await Kinesis.of(request).list_streams(limit, start))


@router.post("/streams/{stream}", summary="CreateStream")
async def create_stream(request: Request, stream: str) -> Response:
    """Create a stream of ``ShardCount`` shards (body optional, default
    ``PINLAKE_API__DEFAULT_SHARD_COUNT``); ``{}`` once it is usable
    (:meth:`Kinesis.create_stream`). The body's other CreateStream members are read as on the
    SDK protocol (:data:`model.MEMBER_POLICY`: an ON_DEMAND ``StreamModeDetails`` is
    refused)."""
    settings = request.app.state.settings
    data = await json_body(request, optional=True)
    model.check_members("CreateStream", data, settings.api.max_record_bytes)
    count = codec.shard_count(data, settings.api.default_shard_count)
    return amz_json(await Kinesis.of(request).create_stream(stream, count))


@router.delete("/streams/{stream}", summary="DeleteStream")
async def delete_stream(request: Request, stream: str) -> Response:
    """Delete a stream (:meth:`Kinesis.delete_stream`)."""
    return amz_json(await Kinesis.of(request).delete_stream(stream))


@router.get("/streams/{stream}", summary="DescribeStream")
async def describe_stream(request: Request, stream: str) -> Response:
    """``{"StreamDescription": {...}}`` with one shard per partition (hash-key range and the
    sequence number of its oldest record; :meth:`Kinesis.describe_stream`)."""
    return amz_json(await Kinesis.of(request).describe_stream(stream))


# ---- writing -------------------------------------------------------------------------------
@router.put("/streams/{stream}/record", summary="PutRecord")
async def put_record(request: Request, stream: str) -> Response:
    """``{"SequenceNumber", "ShardId"}`` once the record is acknowledged; the record is the JSON
    text of the body's ``Data`` (the tutorial's template: :func:`codec.put_record_data`;
    :meth:`Kinesis.put_record`)."""
    data = await json_body(request)
    return amz_json(await Kinesis.of(request).put_record(stream, data, codec.PUT_RECORD))


@router.put("/streams/{stream}/records", summary="PutRecords")
async def put_records(request: Request, stream: str) -> Response:
    """``{"FailedRecordCount", "Records": [...]}`` (:meth:`Kinesis.put_records`): the
    tutorial's ``records[i].data`` stored as the template renders it, Kinesis' own
    ``Records[i].Data`` as base64 (:func:`codec.put_records_entries`)."""
    data = await json_body(request)
    entries, fields = codec.put_records_entries(data)
    return amz_json(await Kinesis.of(request).put_records(stream, entries, fields))


# ---- reading -------------------------------------------------------------------------------
@router.get("/streams/{stream}/sharditerator", summary="GetShardIterator")
async def get_shard_iterator(request: Request, stream: str) -> Response:
    """``{"ShardIterator"}`` for query ``shard-id`` and ``shard-iterator-type`` (default
    TRIM_HORIZON, the tutorial's fixed type; also LATEST, AT/AFTER_SEQUENCE_NUMBER with
    ``starting-sequence-number``, AT_TIMESTAMP with ``timestamp``, seconds since the epoch or
    an ISO 8601 date; :meth:`Kinesis.get_shard_iterator`, whose messages name these)."""
    params = request.query_params
    shard = params.get("shard-id") or params.get("ShardId")
    if shard is None:
        raise codec.invalid("Query parameter shard-id is required.")
    kind = (params.get("shard-iterator-type") or "TRIM_HORIZON").upper()
    seq = params.get("starting-sequence-number")
    at = params.get("timestamp")
    kinesis = Kinesis.of(request)
    names = codec.REST_ITERATOR
    return amz_json(await kinesis.get_shard_iterator(stream, shard, kind, seq, at, names))


@router.get("/streams/{stream}/records", summary="GetRecords")
async def get_records(request: Request, stream: str) -> Response:
    """``{"Records", "NextShardIterator", "MillisBehindLatest"}`` for the ``Shard-Iterator``
    header (query ``limit`` 1-10,000); record ``Data`` is base64, at most 10 MiB per call
    (:meth:`Kinesis.get_records`)."""
    iterator = request.headers.get("shard-iterator")
    if not iterator:
        raise codec.invalid("Header Shard-Iterator is required.")
    limit = codec.get_records_limit(request.query_params.get("limit"))
    return amz_json(await Kinesis.of(request).get_records(iterator, limit, stream))
