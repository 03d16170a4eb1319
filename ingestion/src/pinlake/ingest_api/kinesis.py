"""The API Gateway "Kinesis proxy" of the AWS tutorial, backed by Kafka.

A stream is a topic, a shard a partition (chosen by the MD5 of the partition key, as Kinesis
does over the 128-bit hash-key space), and a sequence number encodes (partition, offset).
Errors use Kinesis' ``{"__type", "message"}`` bodies with HTTP 400 (the "strict" gateway; the
console tutorial's default would pass them through with 200).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.backend import BrokerUnavailable, Delivery
from pinlake.ingest_api.common import TOPIC_RE, BodyTooLarge, backend, dumps, loads, read_body
from pinlake.ingest_api.errors import KinesisError, amz_json

router = APIRouter(tags=["Kinesis proxy"])

ACCOUNT = "123456789012"
REGION = "us-east-1"
ITERATOR_TTL = 300.0
MAX_HASH = 2**128 - 1
MAX_PUT_RECORDS = 500
MAX_GET_RECORDS = 10_000


# ---- encodings ------------------------------------------------------------------------------
def shard_id(partition: int) -> str:
    return f"shardId-{partition:012d}"


def parse_shard_id(text: str) -> int | None:
    if text.startswith("shardId-"):
        text = text[len("shardId-") :]
    if not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def sequence_number(partition: int, offset: int) -> str:
    """A decimal string like Kinesis': '49' + 6-digit partition + 20-digit offset."""
    return f"49{partition:06d}{offset:020d}"


def parse_sequence_number(text: str) -> tuple[int, int] | None:
    if len(text) != 28 or not text.isdigit() or not text.startswith("49"):
        return None
    return int(text[2:8]), int(text[8:])


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def shard_for(hash_value: int, shards: int) -> int:
    return min(shards - 1, (hash_value * shards) >> 128)


def hash_range(partition: int, shards: int) -> dict:
    start = (partition << 128) // shards
    end = (((partition + 1) << 128) // shards) - 1
    return {"StartingHashKey": str(start), "EndingHashKey": str(end)}


def make_iterator(stream: str, partition: int, offset: int) -> str:
    raw = orjson.dumps({"s": stream, "p": partition, "o": offset, "t": round(time.time(), 3)})
    return base64.urlsafe_b64encode(raw).decode()


def read_iterator(text: str) -> tuple[str, int, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        stream, partition, offset, issued = data["s"], data["p"], data["o"], data["t"]
        ok = (
            isinstance(stream, str)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in (partition, offset))
            and isinstance(issued, (int, float))
            and partition >= 0
            and offset >= 0
        )
    except (ValueError, TypeError, KeyError, UnicodeEncodeError, binascii.Error):
        ok = False
    if not ok:
        raise KinesisError(400, "Invalid ShardIterator.", "InvalidArgumentException")
    if time.time() - issued > ITERATOR_TTL:
        raise KinesisError(
            400,
            "Iterator expired. The iterator was created more than 5 minutes ago.",
            "ExpiredIteratorException",
        )
    return stream, partition, offset


def not_found(stream: str) -> KinesisError:
    return KinesisError(
        400, f"Stream {stream} under account {ACCOUNT} not found.", "ResourceNotFoundException"
    )


def unavailable() -> KinesisError:
    return KinesisError(503, "Kafka broker not available.", "ServiceUnavailableException")


def invalid(message: str) -> KinesisError:
    return KinesisError(400, message, "InvalidArgumentException")


# ---- request parsing ------------------------------------------------------------------------
async def _json_body(request: Request, *, optional: bool = False):
    settings = request.app.state.settings
    try:
        body = await read_body(request, settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KinesisError(413, "Request Entity Too Large", "RequestEntityTooLarge") from None
    if not body.strip() and optional:
        return {}
    try:
        data = loads(body)
    except ValueError:
        raise KinesisError(400, "Malformed JSON request body.", "SerializationException") from None
    if not isinstance(data, dict):
        raise KinesisError(400, "Request body must be a JSON object.", "SerializationException")
    return data


def _data_bytes(value, *, literal_strings: bool) -> bytes:
    """Record bytes from a ``Data`` field: a JSON value becomes its compact JSON text (the
    tutorial's ``$util.base64Encode($input.json('$.Data'))``); a string is base64 of the bytes,
    or (``literal_strings``, the tutorial's PutRecords ``data``) the text itself."""
    if value is None:
        raise invalid("Data must not be null.")
    if isinstance(value, str):
        if literal_strings:
            return value.encode("utf-8", "surrogatepass")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("Data is neither a JSON object nor valid base64 text.") from None
    return dumps(value)


def _partition_key(value) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 256:
        raise invalid("PartitionKey must be a string of 1 to 256 characters.")
    return value


def _route(rec: dict, key: str, shards: int) -> int:
    explicit = rec.get("ExplicitHashKey")
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit.isdigit() or int(explicit) > MAX_HASH:
            raise invalid("ExplicitHashKey must be a decimal 128-bit integer.")
        return shard_for(int(explicit), shards)
    return shard_for(hash_key(key), shards)


async def _stream_info(request: Request, stream: str):
    if not TOPIC_RE.match(stream) or len(stream) > 128:
        raise not_found(stream)
    try:
        info = await backend(request).topic(stream)
    except BrokerUnavailable:
        raise unavailable() from None
    if info is None:
        raise not_found(stream)
    return info


def _put_result(d: Delivery) -> dict:
    if d.error is None:
        return {
            "SequenceNumber": sequence_number(d.partition, d.offset),
            "ShardId": shard_id(d.partition),
        }
    return {"ErrorCode": "InternalFailure", "ErrorMessage": d.error.str()}


# ---- stream management -------------------------------------------------------------------
@router.get("/streams", summary="ListStreams")
async def list_streams(request: Request) -> Response:
    try:
        names = await backend(request).list_topics()
    except BrokerUnavailable:
        raise unavailable() from None
    return amz_json({"HasMoreStreams": False, "StreamNames": names})


@router.post("/streams/{stream}", summary="CreateStream")
async def create_stream(request: Request, stream: str) -> Response:
    settings = request.app.state.settings
    data = await _json_body(request, optional=True)
    count = data.get("ShardCount", settings.api.default_shard_count)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 64:
        raise invalid("ShardCount must be an integer from 1 to 64.")
    if not TOPIC_RE.match(stream) or len(stream) > 128 or stream.startswith("__"):
        raise invalid("StreamName must match [a-zA-Z0-9_.-]{1,128}.")
    try:
        result = await backend(request).create_topic(stream, count)
    except BrokerUnavailable:
        raise unavailable() from None
    if result == "exists":
        raise KinesisError(
            400,
            f"Stream {stream} under account {ACCOUNT} already exists.",
            "ResourceInUseException",
        )
    return amz_json({})


@router.delete("/streams/{stream}", summary="DeleteStream")
async def delete_stream(request: Request, stream: str) -> Response:
    if not TOPIC_RE.match(stream) or stream.startswith("__"):
        raise not_found(stream)
    try:
        deleted = await backend(request).delete_topic(stream)
    except BrokerUnavailable:
        raise unavailable() from None
    if not deleted:
        raise not_found(stream)
    return amz_json({})


@router.get("/streams/{stream}", summary="DescribeStream")
async def describe_stream(request: Request, stream: str) -> Response:
    info = await _stream_info(request, stream)
    be = backend(request)
    n = len(info.partitions)
    shards = []
    for p in sorted(info.partitions):
        try:
            low, _high = await asyncio.to_thread(be.watermarks, stream, p)
        except BrokerUnavailable:
            raise unavailable() from None
        shards.append(
            {
                "ShardId": shard_id(p),
                "HashKeyRange": hash_range(p, n),
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
    settings = request.app.state.settings
    data = await _json_body(request)
    info = await _stream_info(request, stream)
    key = _partition_key(data.get("PartitionKey"))
    payload = _data_bytes(data.get("Data"), literal_strings=False)
    if len(payload) > settings.api.max_record_bytes:
        raise KinesisError(
            413, "Record is larger than the record size limit.", "InvalidArgumentException"
        )
    partition = _route(data, key, len(info.partitions))
    try:
        (delivery,) = await backend(request).produce(stream, [(key.encode(), payload, partition)])
    except BrokerUnavailable:
        raise unavailable() from None
    if delivery.error is not None:
        raise KinesisError(
            503, f"Record not acknowledged: {delivery.error.str()}", "InternalFailure"
        )
    return amz_json(_put_result(delivery))


@router.put("/streams/{stream}/records", summary="PutRecords")
async def put_records(request: Request, stream: str) -> Response:
    settings = request.app.state.settings
    data = await _json_body(request)
    info = await _stream_info(request, stream)
    if "records" in data:
        entries, literal, dkey, pkey = data["records"], True, "data", "partition-key"
    elif "Records" in data:
        entries, literal, dkey, pkey = data["Records"], False, "Data", "PartitionKey"
    else:
        raise invalid("Body needs a records (or Records) array.")
    if not isinstance(entries, list) or not entries:
        raise invalid("records must be a non-empty array.")
    if len(entries) > MAX_PUT_RECORDS:
        raise invalid(f"At most {MAX_PUT_RECORDS} records per PutRecords request.")
    n = len(info.partitions)
    results: list[dict | None] = [None] * len(entries)
    to_send: list[tuple[bytes, bytes, int]] = []
    index: list[int] = []
    for i, rec in enumerate(entries):
        try:
            if not isinstance(rec, dict):
                raise invalid("Each record must be an object.")
            key = _partition_key(rec.get(pkey))
            payload = _data_bytes(rec.get(dkey), literal_strings=literal)
            if len(payload) > settings.api.max_record_bytes:
                raise invalid("Record is larger than the record size limit.")
            partition = _route(rec, key, n)
        except KinesisError as exc:
            results[i] = {"ErrorCode": exc.code, "ErrorMessage": exc.message}
            continue
        to_send.append((key.encode(), payload, partition))
        index.append(i)
    if to_send:
        try:
            deliveries = await backend(request).produce(stream, to_send)
        except BrokerUnavailable:
            raise unavailable() from None
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
    params = request.query_params
    shard = params.get("shard-id") or params.get("ShardId")
    if shard is None:
        raise invalid("Query parameter shard-id is required.")
    kind = (params.get("shard-iterator-type") or "TRIM_HORIZON").upper()
    info = await _stream_info(request, stream)
    partition = parse_shard_id(shard)
    if partition is None or partition not in info.partitions:
        raise KinesisError(
            400,
            f"Shard {shard} in stream {stream} under account {ACCOUNT} does not exist",
            "ResourceNotFoundException",
        )
    be = backend(request)
    try:
        low, high = await asyncio.to_thread(be.watermarks, stream, partition)
    except BrokerUnavailable:
        raise unavailable() from None
    if kind == "TRIM_HORIZON":
        offset = low
    elif kind == "LATEST":
        offset = high
    elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        seq = parse_sequence_number(params.get("starting-sequence-number", ""))
        if seq is None or seq[0] != partition:
            raise invalid("starting-sequence-number is not a sequence number of this shard.")
        offset = seq[1] + (kind == "AFTER_SEQUENCE_NUMBER")
    else:
        raise invalid(f"Unsupported shard-iterator-type {kind}.")
    return amz_json({"ShardIterator": make_iterator(stream, partition, offset)})


@router.get("/streams/{stream}/records", summary="GetRecords")
async def get_records(request: Request, stream: str) -> Response:
    iterator = request.headers.get("shard-iterator")
    if not iterator:
        raise invalid("Header Shard-Iterator is required.")
    it_stream, partition, offset = read_iterator(iterator)
    if it_stream != stream:
        raise invalid("The shard iterator belongs to another stream.")
    limit_text = request.query_params.get("limit", str(MAX_GET_RECORDS))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_GET_RECORDS:
        raise invalid(f"limit must be from 1 to {MAX_GET_RECORDS}.")
    info = await _stream_info(request, stream)
    if partition not in info.partitions:
        raise not_found(stream)
    be = backend(request)
    try:
        msgs, _low, high = await asyncio.to_thread(
            be.read, stream, partition, offset, int(limit_text)
        )
    except BrokerUnavailable:
        raise unavailable() from None
    records = []
    next_offset = offset
    size = 0
    for msg in msgs:
        value = msg.value() or b""
        size += len(value)
        if records and size > 10 * 1024 * 1024:
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
        next_offset = max(offset, _low)
    behind = 0
    if next_offset < high and records:
        behind = max(0, int(time.time() * 1000 - msgs[len(records) - 1].timestamp()[1]))
    return amz_json(
        {
            "Records": records,
            "NextShardIterator": make_iterator(stream, partition, next_offset),
            "MillisBehindLatest": behind,
        }
    )
