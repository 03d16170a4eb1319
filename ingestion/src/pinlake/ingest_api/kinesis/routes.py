"""The API Gateway "Kinesis proxy" routes of the AWS tutorial, backed by Kafka.

Encodings and request validation are :mod:`.codec` (pure); this module talks to the backend and
shapes the Kinesis responses (AWS Kinesis API reference). Errors use Kinesis'
``{"__type", "message"}`` bodies with HTTP 400 (the "strict" gateway; the console tutorial's
default would pass them through with 200). A broker that cannot be reached is answered once for
every route by the router's route class: 503 ``ServiceUnavailableException``.
"""

from __future__ import annotations

import asyncio
import base64
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake.config import TABLES
from pinlake.ingest_api.backend import Delivery, TopicInfo
from pinlake.ingest_api.errors import KinesisError, amz_json, facade_route
from pinlake.ingest_api.kinesis import codec
from pinlake.ingest_api.kinesis.codec import ACCOUNT, REGION, sequence_number, shard_id
from pinlake.ingest_api.request_io import BodyTooLarge, backend, read_body
from pinlake.ingest_api.wire import REQUEST_FAULTS, TOO_LARGE

#: GetRecords returns at most 10 MiB of data per call (GetRecords reference).
MAX_GET_BYTES = 10 * 1024 * 1024


def service_unavailable() -> KinesisError:
    """503 ``ServiceUnavailableException``: Kafka cannot be reached."""
    return KinesisError(503, "Kafka broker not available.", "ServiceUnavailableException")


router = APIRouter(
    tags=["Kinesis proxy"], route_class=facade_route(KinesisError, service_unavailable)
)


async def _json_body(request: Request, *, optional: bool = False) -> dict:
    settings = request.app.state.settings
    try:
        body = await read_body(request, settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KinesisError(413, "Request Entity Too Large", "RequestEntityTooLarge") from None
    return codec.json_object(body, optional=optional)


def _batch_topics(request: Request) -> set[str]:
    """The Kafka REST side's topics (``<prefix>.<table>``): never streams of this proxy."""
    settings = request.app.state.settings
    return {settings.topic(table) for table in TABLES}


async def _stream_info(request: Request, stream: str) -> TopicInfo:
    codec.check_stream(stream, _batch_topics(request))
    info = await backend(request).metadata.topic(stream)
    if info is None:
        raise codec.stream_not_found(stream)
    return info


def _put_result(d: Delivery) -> dict:
    """PutRecord's result, or a PutRecords entry: ``SequenceNumber``/``ShardId`` once
    acknowledged; else ``ErrorCode`` ``ValidationException`` when the broker refused the record
    by its own fault (:data:`~pinlake.ingest_api.wire.REQUEST_FAULTS`, e.g. too large for the
    stream's topic), ``InternalFailure`` otherwise, and the broker's ``ErrorMessage``."""
    if d.error is None:
        return {
            "SequenceNumber": sequence_number(d.partition, d.offset),
            "ShardId": shard_id(d.partition),
        }
    code = "ValidationException" if d.error.code() in REQUEST_FAULTS else "InternalFailure"
    return {"ErrorCode": code, "ErrorMessage": d.error.str()}


# ---- stream management -------------------------------------------------------------------
@router.get("/streams", summary="ListStreams")
async def list_streams(request: Request) -> Response:
    """``{"HasMoreStreams", "StreamNames"}``: the streams (every topic but the batch topics, see
    :func:`codec.stream_names`), sorted, a page at a time (ListStreams reference): ``Limit``
    (1-10000, at most 100 returned, default 100) and ``ExclusiveStartStreamName``, from the
    JSON body (the AWS SDK shape; the tutorial's client sends ``{}``) or the query string."""
    data = await _json_body(request, optional=True)
    params = {k: v for k, v in request.query_params.items() if k not in data}
    limit, start = codec.list_streams_params({**params, **data})
    topics = await backend(request).metadata.list_topics()
    names = codec.stream_names(topics, _batch_topics(request))
    page, more = codec.list_streams_page(names, limit, start)
    return amz_json({"HasMoreStreams": more, "StreamNames": page})


@router.post("/streams/{stream}", summary="CreateStream")
async def create_stream(request: Request, stream: str) -> Response:
    """Create a stream of ``ShardCount`` shards (body optional); ``{}`` once it is usable,
    400 ``ResourceInUseException`` if it exists."""
    settings = request.app.state.settings
    data = await _json_body(request, optional=True)
    count = codec.shard_count(data, settings.api.default_shard_count)
    codec.check_new_stream_name(stream, _batch_topics(request))
    if not await backend(request).create_topic(stream, count):
        raise KinesisError(
            400,
            f"Stream {stream} under account {ACCOUNT} already exists.",
            "ResourceInUseException",
        )
    return amz_json({})


@router.delete("/streams/{stream}", summary="DeleteStream")
async def delete_stream(request: Request, stream: str) -> Response:
    """Delete a stream; ``{}``, or 400 ``ResourceNotFoundException`` (for a batch topic too:
    :func:`codec.stream_name_problem`), or 400 ``ResourceInUseException`` for a stream that
    pinlake's stream query reads (:func:`codec.stream_in_use`)."""
    codec.check_stream(stream, _batch_topics(request))
    settings = request.app.state.settings
    if stream in {settings.stream(table) for table in TABLES}:
        raise codec.stream_in_use(stream)
    if not await backend(request).delete_topic(stream):
        raise codec.stream_not_found(stream)
    return amz_json({})


@router.get("/streams/{stream}", summary="DescribeStream")
async def describe_stream(request: Request, stream: str) -> Response:
    """``{"StreamDescription": {...}}`` with one shard per partition (hash-key range and the
    sequence number of its oldest record)."""
    info = await _stream_info(request, stream)
    reader = backend(request).reader
    n = len(info.partitions)
    shards = []
    for p in sorted(info.partitions):
        low, _high = await asyncio.to_thread(reader.watermarks, stream, p)
        shards.append(
            {
                "ShardId": shard_id(p),
                "HashKeyRange": codec.hash_range(p, n),
                "SequenceNumberRange": {"StartingSequenceNumber": sequence_number(p, low)},
            }
        )
    return amz_json(
        {
            "StreamDescription": {
                "StreamName": stream,
                "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
                "StreamStatus": "ACTIVE",
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "Shards": shards,
                "HasMoreShards": False,
                "RetentionPeriodHours": 24,
                "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
                "EncryptionType": "NONE",
            }
        }
    )


# ---- writing -------------------------------------------------------------------------------
@router.put("/streams/{stream}/record", summary="PutRecord")
async def put_record(request: Request, stream: str) -> Response:
    """``{"SequenceNumber", "ShardId"}`` once the record is acknowledged; the record is the JSON
    text of the body's ``Data`` (:func:`codec.put_record_data`); 400 ``ValidationException``
    for data over the record limit (as Kinesis answers), 503 ``InternalFailure`` if Kafka does
    not acknowledge it."""
    settings = request.app.state.settings
    data = await _json_body(request)
    info = await _stream_info(request, stream)
    entry = codec.put_entry(
        data, codec.PUT_RECORD, max_bytes=settings.api.max_record_bytes, shards=len(info.partitions)
    )
    (delivery,) = await backend(request).producer.produce(stream, [entry])
    result = _put_result(delivery)
    if result.get("ErrorCode") == "ValidationException":
        raise KinesisError(400, f"Record refused: {delivery.error.str()}", "ValidationException")
    if delivery.error is not None:
        raise KinesisError(
            503, f"Record not acknowledged: {delivery.error.str()}", "InternalFailure"
        )
    return amz_json(result)


@router.put("/streams/{stream}/records", summary="PutRecords")
async def put_records(request: Request, stream: str) -> Response:
    """``{"FailedRecordCount", "Records": [...]}``, one result per entry in order (the tutorial's
    ``records[i].data`` stored as the template renders it, Kinesis' ``Records[i].Data`` as
    base64: :mod:`.codec`): HTTP 200
    with per-entry ``ErrorCode``/``ErrorMessage`` for invalid or failed ones (PutRecords
    reference); 503 ``InternalFailure`` when Kafka acknowledged none of the valid ones."""
    settings = request.app.state.settings
    data = await _json_body(request)
    info = await _stream_info(request, stream)
    entries, fields = codec.put_records_entries(data)
    n = len(info.partitions)
    results: list[dict | None] = [None] * len(entries)
    to_send: list[codec.PutEntry] = []
    index: list[int] = []
    for i, rec in enumerate(entries):
        try:
            entry = codec.put_entry(
                rec, fields, max_bytes=settings.api.max_record_bytes, shards=n, index=i
            )
        except codec.CodecError as exc:
            results[i] = {"ErrorCode": exc.code, "ErrorMessage": exc.message}
            continue
        to_send.append(entry)
        index.append(i)
    if to_send:
        producer = backend(request).producer
        deliveries = await producer.produce(stream, to_send)
        if len(to_send) > 1:
            # the broker refuses a record batch whole when it is over the topic's size limit;
            # Kinesis takes each record on its own (PutRecords does not promise their order)
            for k, d in enumerate(deliveries):
                if d.error is not None and d.error.code() in TOO_LARGE:
                    (deliveries[k],) = await producer.produce(stream, [to_send[k]])
        for i, d in zip(index, deliveries, strict=True):
            results[i] = _put_result(d)
    failed = sum(1 for r in results if "ErrorCode" in r)
    if to_send and all("ErrorCode" in results[i] for i in index) and failed == len(results):
        if any(results[i]["ErrorCode"] == "InternalFailure" for i in index):
            raise KinesisError(
                503,
                "No record was acknowledged.",
                "InternalFailure",
                FailedRecordCount=failed,
                Records=results,
            )
    return amz_json({"FailedRecordCount": failed, "Records": results})


# ---- reading -------------------------------------------------------------------------------
@router.get("/streams/{stream}/sharditerator", summary="GetShardIterator")
async def get_shard_iterator(request: Request, stream: str) -> Response:
    """``{"ShardIterator"}`` for query ``shard-id`` and ``shard-iterator-type`` (default
    TRIM_HORIZON, the tutorial's fixed type; also LATEST, AT/AFTER_SEQUENCE_NUMBER with
    ``starting-sequence-number``)."""
    params = request.query_params
    shard = params.get("shard-id") or params.get("ShardId")
    if shard is None:
        raise codec.invalid("Query parameter shard-id is required.")
    kind = (params.get("shard-iterator-type") or "TRIM_HORIZON").upper()
    info = await _stream_info(request, stream)
    partition = codec.parse_shard_id(shard)
    if partition is None or partition not in info.partitions:
        raise codec.shard_not_found(shard, stream)
    low, high = await asyncio.to_thread(backend(request).reader.watermarks, stream, partition)
    offset = codec.start_offset(kind, partition, low, high, params.get("starting-sequence-number"))
    return amz_json({"ShardIterator": codec.make_iterator(stream, partition, offset)})


@router.get("/streams/{stream}/records", summary="GetRecords")
async def get_records(request: Request, stream: str) -> Response:
    """``{"Records", "NextShardIterator", "MillisBehindLatest"}`` for the ``Shard-Iterator``
    header (query ``limit`` 1-10,000); record ``Data`` is base64, at most 10 MiB per call."""
    iterator = request.headers.get("shard-iterator")
    if not iterator:
        raise codec.invalid("Header Shard-Iterator is required.")
    it_stream, partition, offset = codec.read_iterator(iterator)
    if it_stream != stream:
        raise codec.invalid("The shard iterator belongs to another stream.")
    limit = codec.get_records_limit(request.query_params.get("limit"))
    info = await _stream_info(request, stream)
    if partition not in info.partitions:
        raise codec.stream_not_found(stream)
    msgs, low, high = await asyncio.to_thread(
        backend(request).reader.read, stream, partition, offset, limit
    )
    records = []
    next_offset = offset
    size = 0
    for msg in msgs:
        value = msg.value() or b""
        size += len(value)
        if records and size > MAX_GET_BYTES:
            break
        key = msg.key()
        records.append(
            {
                "SequenceNumber": sequence_number(partition, msg.offset()),
                "ApproximateArrivalTimestamp": msg.timestamp()[1] / 1000.0,
                "Data": base64.b64encode(value).decode(),
                "PartitionKey": key.decode("utf-8", "replace") if key is not None else "",
            }
        )
        next_offset = msg.offset() + 1
    if not msgs:
        next_offset = max(offset, low)
    behind = 0
    if next_offset < high and records:
        behind = max(0, int(time.time() * 1000 - msgs[len(records) - 1].timestamp()[1]))
    return amz_json(
        {
            "Records": records,
            "NextShardIterator": codec.make_iterator(stream, partition, next_offset),
            "MillisBehindLatest": behind,
        }
    )
