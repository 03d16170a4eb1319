"""The Kinesis operations over the Kafka backend, one method each, shared by both ways of
calling them: the API Gateway proxy's REST resources (:mod:`.routes`) and Kinesis' own JSON
protocol that the AWS SDKs speak (:mod:`.sdk_protocol`).

Each method takes the operation's inputs already read from the request (validated by
:mod:`.codec`) and returns the response body as a dict in the shape of the AWS Kinesis API
reference (the proxy passes Kinesis' responses through, so both callers answer the same body).
Errors are :class:`~pinlake.ingest_api.wire.CodecError` or
:class:`~pinlake.ingest_api.errors.KinesisError` (rendered as ``{"__type", "message"}``); a
broker that cannot be reached raises :class:`~pinlake.ingest_api.errors.BrokerUnavailable`
(503 ``ServiceUnavailable``, the router's route class).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from pinlake import kafka
from pinlake.config import TABLES, Settings
from pinlake.ingest_api.backend import Delivery, KafkaBackend, TopicInfo
from pinlake.ingest_api.errors import AMZ_JSON, KinesisError
from pinlake.ingest_api.kinesis import codec
from pinlake.ingest_api.kinesis.codec import ACCOUNT, REGION, sequence_number, shard_id
from pinlake.ingest_api.request_io import BodyTooLarge, backend, media_type, read_body
from pinlake.ingest_api.wire import REQUEST_FAULTS, TOO_LARGE

#: GetRecords returns at most 10 MiB of data per call (GetRecords reference).
MAX_GET_BYTES = 10 * 1024 * 1024


def service_unavailable() -> KinesisError:
    """503 ``ServiceUnavailable``: Kafka cannot be reached. The code is the AWS APIs' common
    error for "a temporary failure of the server" (Kinesis API reference, Common Errors); the
    Kinesis API defines no ``ServiceUnavailableException`` (Firehose's), and the SDKs retry a 503
    whatever its code."""
    return KinesisError(503, "Kafka broker not available.", "ServiceUnavailable")


def stream_arn(stream: str) -> str:
    """The ARN of a stream: ``arn:aws:kinesis:<REGION>:<ACCOUNT>:stream/<name>``."""
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"


#: The media types (parameters stripped) a Kinesis body is read as: none (API Gateway reads a
#: body without a Content-Type as ``application/json``), ``application/json`` (the tutorial's
#: mapping templates are for it) and the AWS JSON protocol's (the SDK's, also on the gateway
#: resources: ``GET /streams`` with ListStreams' JSON body).
JSON_MEDIA_TYPES = frozenset({"", "application/json", AMZ_JSON, "application/x-amz-json-1.0"})


async def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (:func:`codec.json_object`); 413
    ``RequestEntityTooLarge`` past the API's request limit; 415 ``UnsupportedMediaType`` for a
    body of a media type not in :data:`JSON_MEDIA_TYPES` (a form or text body was read as JSON
    and refused as a SerializationException). API Gateway answers 415 to a body whose
    Content-Type has no mapping template when the integration has templates ("When there are
    no templates defined", the console's default: docs.aws.amazon.com/apigateway, "Method
    request behavior for payloads without mapping templates")."""
    settings = request.app.state.settings
    try:
        body = await read_body(request, settings.api.max_request_bytes)
    except BodyTooLarge:
        raise KinesisError(413, "Request Entity Too Large", "RequestEntityTooLarge") from None
    sent = media_type(request)
    if body and sent not in JSON_MEDIA_TYPES:
        raise KinesisError(
            415,
            f"Unsupported Media Type: {sent}; send the JSON body as application/json (the "
            f"tutorial's mapping templates) or {AMZ_JSON} (the AWS SDK's)",
            "UnsupportedMediaType",
        )
    return codec.json_object(body, optional=optional)


def _description(stream: str) -> dict:
    """The fields DescribeStream and DescribeStreamSummary share: an ``ACTIVE`` provisioned
    stream, 24 h retention, no enhanced monitoring, no encryption."""
    return {
        "StreamName": stream,
        "StreamARN": stream_arn(stream),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


def _put_result(d: Delivery, settings: Settings) -> dict:
    """PutRecord's result, or a PutRecords entry: ``SequenceNumber``/``ShardId`` once
    acknowledged; else ``ErrorCode`` ``InternalFailure`` and the broker's ``ErrorMessage``.

    A PutRecords entry's ``ErrorCode`` is only ever one AWS gives per entry: "ErrorCodes can be
    either ProvisionedThroughputExceededException or InternalFailure" (PutRecordsResultEntry
    reference; botocore's kinesis model). A record the request got wrong fails the whole
    request instead (:meth:`Kinesis.put_records`); a record within the limits that the broker
    refuses all the same (a topic whose ``max.message.bytes`` is below the API's record limit)
    is pinlake's fault, an internal failure, and is said so, with what mends it
    (:func:`pinlake.kafka.record_limit_hint`: the local brokers' or an external cluster's)."""
    if d.error is None:
        return {
            "SequenceNumber": sequence_number(d.partition, d.offset),
            "ShardId": shard_id(d.partition),
        }
    message = d.error.str()
    if d.error.code() in REQUEST_FAULTS:
        message = f"Kafka refused the record: {_refusal(d, settings)}."
    return {"ErrorCode": "InternalFailure", "ErrorMessage": message}


def _refusal(d: Delivery, settings: Settings) -> str:
    """The broker's message for a record it refused (``d.error`` set); for one too large for
    the stream's topic, which the API's limit took, what mends it
    (:func:`pinlake.kafka.record_limit_hint`)."""
    message = d.error.str()
    if d.error.code() in TOO_LARGE:
        message += " (the stream's topic takes less than the API's record limit:"
        message += f" {kafka.record_limit_hint(settings)})"
    return message


@dataclass
class Kinesis:
    """The Kinesis operations of one request's app: its settings and Kafka backend."""

    settings: Settings
    backend: KafkaBackend

    @classmethod
    def of(cls, request: Request) -> Kinesis:
        """The operations for the app serving ``request``."""
        return cls(request.app.state.settings, backend(request))

    @property
    def batch_topics(self) -> set[str]:
        """The Kafka REST side's topics (``<prefix>.<table>``): never streams."""
        return {self.settings.topic(table) for table in TABLES}

    async def stream_info(self, stream: str) -> TopicInfo:
        """The topic of ``stream``; 400 ``ResourceNotFoundException`` for a name that is no
        stream (:func:`codec.check_stream`) or a stream that does not exist."""
        codec.check_stream(stream, self.batch_topics)
        info = await self.backend.metadata.topic(stream)
        if info is None:
            raise codec.stream_not_found(stream)
        return info

    async def iterator_topic(self, it: codec.ShardIterator) -> TopicInfo:
        """The topic of the stream a shard iterator was issued for; 400
        ``ResourceNotFoundException`` "Shard 'shardId-…' in stream '…' under account … does
        not exist." (:func:`codec.shard_not_found`) when that stream or its shard is gone: the
        stream was deleted, or deleted and created again under its name (the iterator's topic
        ID is not the topic's, :class:`codec.ShardIterator`), or has fewer shards now.

        A shard iterator belongs to the stream it was issued for: an iterator of a deleted
        stream, and of a shard the stream created again under its name does not have, is
        answered ResourceNotFoundException with these words by Kinesis itself (kinesalite's
        test/getRecords.js, "should return ResourceNotFoundException if shard or stream does not
        exist", checked against production Kinesis in kinesalite commit 7d62e92, 2018-03-25,
        https://github.com/mhart/kinesalite). For an iterator of a shard the new stream does
        have, that test notes production answered InternalFailure (500), an AWS fault it does
        not assert and no AWS document describes (the GetRecords reference lists
        ResourceNotFoundException, "The requested resource could not be found. The stream might
        not be specified correctly", and ExpiredIteratorException, "The provided iterator
        exceeds the maximum age allowed", neither for this): pinlake answers the documented
        error of the other two cases, ResourceNotFoundException, rather than read the new
        stream's records with the old stream's offsets. An iterator without a topic ID (a
        broker without topic IDs) is checked by stream and shard only."""
        gone = codec.shard_not_found(shard_id(it.partition), it.stream)
        codec.check_stream(it.stream, self.batch_topics)
        metadata = self.backend.metadata
        info = await metadata.topic(it.stream)
        if info is not None and None not in (it.topic_id, info.topic_id):
            if info.topic_id != it.topic_id:  # the cache may predate the iterator's stream
                metadata.forget(it.stream)
                info = await metadata.topic(it.stream)
            if info is not None and info.topic_id not in (None, it.topic_id):
                raise gone
        if info is None or it.partition not in info.partitions:
            raise gone
        return info

    # ---- stream management ---------------------------------------------------------------
    async def list_streams(self, limit: int, exclusive_start: str | None) -> dict:
        """``{"HasMoreStreams", "StreamNames"}``: the streams (every topic but the batch
        topics, :func:`codec.stream_names`), sorted, one page (:func:`codec.list_streams_page`),
        and a ``NextToken`` for the next page when ``HasMoreStreams`` (ListStreams reference;
        the SDKs' ListStreams paginator follows it)."""
        topics = await self.backend.metadata.list_topics()
        names = codec.stream_names(topics, self.batch_topics)
        page, more = codec.list_streams_page(names, limit, exclusive_start)
        answer: dict[str, Any] = {"HasMoreStreams": more, "StreamNames": page}
        if more:
            answer["NextToken"] = codec.make_next_token("ListStreams", None, page[-1])
        return answer

    async def create_stream(self, stream: str, shards: int) -> dict:
        """Create a stream of ``shards`` shards; ``{}`` once it is usable, 400
        ``ResourceInUseException`` if it exists, ``InvalidArgumentException`` for a name that
        cannot be a stream (:func:`codec.check_new_stream_name`)."""
        codec.check_new_stream_name(stream, self.batch_topics)
        if not await self.backend.create_topic(stream, shards):
            raise KinesisError(
                400,
                f"Stream {codec.quote(stream)} under account {ACCOUNT} already exists.",
                "ResourceInUseException",
            )
        return {}

    async def delete_stream(self, stream: str) -> dict:
        """Delete a stream; ``{}``, or 400 ``ResourceNotFoundException`` (for a batch topic too:
        :func:`codec.stream_name_problem`), or 400 ``ResourceInUseException`` for a stream that
        pinlake's stream query reads (:func:`codec.stream_in_use`)."""
        codec.check_stream(stream, self.batch_topics)
        if stream in {self.settings.stream(table) for table in TABLES}:
            raise codec.stream_in_use(stream)
        if not await self.backend.delete_topic(stream):
            raise codec.stream_not_found(stream)
        return {}

    async def shards(
        self, stream: str, after: str | None, limit: int, most: int
    ) -> tuple[list[dict], bool]:
        """``(shards, more)``: a page of the shards of ``stream``, one per partition, in shard
        id order (:func:`codec.shard_page`: after shard id ``after``, at most ``limit`` and
        ``most``): ``ShardId``, ``HashKeyRange`` and the ``SequenceNumberRange`` from its oldest
        record (Shard reference); ``more`` when shards after the page remain."""
        info = await self.stream_info(stream)
        n = len(info.partitions)
        page, more = codec.shard_page(info.partitions, after, limit, most)
        shards = []
        for p in page:
            low, _high = await asyncio.to_thread(self.backend.reader.watermarks, stream, p)
            shards.append(
                {
                    "ShardId": shard_id(p),
                    "HashKeyRange": codec.hash_range(p, n),
                    "SequenceNumberRange": {"StartingSequenceNumber": sequence_number(p, low)},
                }
            )
        return shards, more

    async def list_shards(self, request: codec.ShardsRequest) -> dict:
        """``{"Shards": [...]}`` for a ListShards ``request`` (:func:`codec.list_shards_request`),
        at most :data:`codec.LIST_SHARDS_PAGE`, with a ``NextToken``
        (:func:`codec.make_next_token`) when shards after the page remain (ListShards
        reference)."""
        shards, more = await self.shards(
            request.stream, request.after, request.limit, codec.LIST_SHARDS_PAGE
        )
        answer: dict[str, Any] = {"Shards": shards}
        if more:
            last = shards[-1]["ShardId"]
            answer["NextToken"] = codec.make_next_token("ListShards", request.stream, last)
        return answer

    async def describe_stream(
        self,
        stream: str,
        after: str | None = None,
        limit: int = codec.DESCRIBE_STREAM_PAGE,
    ) -> dict:
        """``{"StreamDescription": {...}}``, ``ACTIVE``, with the shards after shard id
        ``after`` (``ExclusiveStartShardId``), at most ``limit`` and
        :data:`codec.DESCRIBE_STREAM_PAGE` (:meth:`shards`), and ``HasMoreShards`` when more
        remain (DescribeStream reference)."""
        shards, more = await self.shards(stream, after, limit, codec.DESCRIBE_STREAM_PAGE)
        description = _description(stream)
        return {"StreamDescription": {**description, "Shards": shards, "HasMoreShards": more}}

    async def describe_stream_summary(self, stream: str) -> dict:
        """``{"StreamDescriptionSummary": {...}}``: DescribeStream without the shards, with
        ``OpenShardCount`` (DescribeStreamSummary reference)."""
        info = await self.stream_info(stream)
        summary = {**_description(stream), "OpenShardCount": len(info.partitions)}
        return {"StreamDescriptionSummary": {**summary, "ConsumerCount": 0}}

    # ---- writing -------------------------------------------------------------------------
    async def put_record(
        self, stream: str, body: Any, fields: codec.EntryFields, *, dry_run: bool = False
    ) -> dict:
        """``{"SequenceNumber", "ShardId"}`` once the record is acknowledged; ``body`` read with
        ``fields`` (:func:`codec.put_entry`); 400 ``ValidationException`` for a record (data and
        partition key together) over the record limit or refused by the broker by the request's
        fault, 503 ``InternalFailure`` if Kafka does not acknowledge it. ``dry_run``: every
        check, then 400 ``DryRunOperationException`` (:func:`codec.dry_run_succeeded`) instead
        of writing the record."""
        info = await self.stream_info(stream)
        entry = codec.put_entry(
            body,
            fields,
            max_bytes=self.settings.api.max_record_bytes,
            shards=len(info.partitions),
        )
        if dry_run:
            raise codec.dry_run_succeeded()
        (delivery,) = await self.backend.producer.produce(stream, [entry])
        if delivery.error is not None and delivery.error.code() in REQUEST_FAULTS:
            raise KinesisError(
                400, f"Record refused: {_refusal(delivery, self.settings)}", "ValidationException"
            )
        if delivery.error is not None:
            raise KinesisError(
                503, f"Record not acknowledged: {delivery.error.str()}", "InternalFailure"
            )
        return _put_result(delivery, self.settings)

    async def put_records(
        self,
        stream: str,
        entries: list[Any],
        fields: codec.EntryFields,
        *,
        dry_run: bool = False,
    ) -> dict:
        """``{"FailedRecordCount", "Records": [...]}``, one result per entry in order
        (PutRecords reference).

        Every entry is checked before any is written (:func:`codec.put_entry`): one the request
        got wrong (a partition key or data missing or of the wrong length, a record over the
        record size limit, a bad ``ExplicitHashKey``) fails the whole request with its 400, as
        PutRecord does, and nothing is written: Kinesis validates the request before it writes
        a record, and a PutRecords entry's ``ErrorCode`` is only ever
        ``ProvisionedThroughputExceededException`` or ``InternalFailure``
        (PutRecordsResultEntry reference), so a record too large is never a per-entry failure.
        So do records over 5 MiB together (:func:`codec.check_put_records_size`: 400
        ``InvalidArgumentException`` "Records size exceeds 5 MB limit").
        A per-entry ``InternalFailure`` is a record Kafka did not take (:func:`_put_result`);
        when Kafka took none, 503 ``InternalFailure``, or 400 ``ValidationException`` when the
        broker refused every one of them by its size (as PutRecord answers). ``dry_run``: every
        check, then 400 ``DryRunOperationException`` (:func:`codec.dry_run_succeeded`), nothing
        written."""
        info = await self.stream_info(stream)
        n = len(info.partitions)
        max_bytes = self.settings.api.max_record_bytes
        to_send = [
            codec.put_entry(rec, fields, max_bytes=max_bytes, shards=n, index=i)
            for i, rec in enumerate(entries)
        ]
        codec.check_put_records_size(to_send, max_bytes)
        if dry_run:
            raise codec.dry_run_succeeded()
        producer = self.backend.producer
        deliveries = await producer.produce(stream, to_send)
        if len(to_send) > 1:
            # the broker refuses a record batch whole when it is over the topic's size
            # limit; Kinesis takes each record on its own (PutRecords keeps no order)
            for k, d in enumerate(deliveries):
                if d.error is not None and d.error.code() in TOO_LARGE:
                    (deliveries[k],) = await producer.produce(stream, [to_send[k]])
        results = [_put_result(d, self.settings) for d in deliveries]
        failed = sum(1 for r in results if "ErrorCode" in r)
        if failed == len(results):
            if all(d.error.code() in REQUEST_FAULTS for d in deliveries):
                raise KinesisError(
                    400,
                    f"Records refused: {_refusal(deliveries[0], self.settings)}",
                    "ValidationException",
                )
            raise KinesisError(
                503,
                "No record was acknowledged.",
                "InternalFailure",
                FailedRecordCount=failed,
                Records=results,
            )
        return {"FailedRecordCount": failed, "Records": results}

    # ---- reading -------------------------------------------------------------------------
    async def get_shard_iterator(
        self,
        stream: str,
        shard: str,
        kind: str,
        starting_sequence_number: str | None,
        timestamp: Any = None,
        names: codec.IteratorMembers = codec.SDK_ITERATOR,
        *,
        dry_run: bool = False,
    ) -> dict:
        """``{"ShardIterator"}`` of type ``kind`` on ``shard`` (:func:`codec.start_offset`;
        AT_TIMESTAMP at the shard's first record whose Kafka timestamp, which GetRecords answers
        as ``ApproximateArrivalTimestamp``, is at or after ``timestamp``, past its last record
        when none is: "If a record with this exact time stamp does not exist, the iterator
        returned is for the next (later) record. If the time stamp is older than the current
        trim horizon, the iterator returned is for the oldest untrimmed data record"
        (GetShardIterator reference), by Kafka's offsets-for-times); 400
        ``ResourceNotFoundException`` for a shard the stream does not have,
        ``InvalidArgumentException`` for inputs that do not go together
        (:func:`codec.iterator_arguments`, naming them as the protocol does: ``names``).
        ``dry_run``: every check (a sequence number against the shard's offsets too), then 400
        ``DryRunOperationException`` (:func:`codec.dry_run_succeeded`) instead of the
        iterator. The stream's topic is asked of the broker anew (not the cached metadata):
        the iterator carries its topic ID, which a stream created again outside this process
        within the cache's time has changed (helper-59's review)."""
        self.backend.metadata.forget(stream)
        info = await self.stream_info(stream)
        partition = codec.parse_shard_id(shard)
        if partition is None or partition not in info.partitions:
            raise codec.shard_not_found(shard, stream)
        millis = codec.iterator_arguments(kind, starting_sequence_number, timestamp, names)
        reader = self.backend.reader
        if millis is not None:
            if dry_run:  # nothing is left to check: the time is resolved by reading records
                raise codec.dry_run_succeeded()
            offset = await asyncio.to_thread(reader.offset_for_time, stream, partition, millis)
        else:
            low, high = await asyncio.to_thread(reader.watermarks, stream, partition)
            offset = codec.start_offset(kind, partition, low, high, starting_sequence_number, names)
            if dry_run:
                raise codec.dry_run_succeeded()
        iterator = codec.make_iterator(stream, partition, offset, topic_id=info.topic_id)
        return {"ShardIterator": iterator}

    async def get_records(
        self, iterator: str, limit: int, stream: str | None = None, *, dry_run: bool = False
    ) -> dict:
        """``{"Records", "NextShardIterator", "MillisBehindLatest"}`` from ``iterator``
        (:func:`codec.read_iterator`), at most ``limit`` records and 10 MiB of data; record
        ``Data`` is base64. ``stream``: the stream the request names (the proxy's path), which
        must be the iterator's; ``InvalidArgumentException`` otherwise. An iterator whose stream
        or shard is gone, or whose stream was deleted and created again since, is 400
        ``ResourceNotFoundException`` (:meth:`iterator_topic`). ``dry_run``: every check (the
        iterator, its expiry, its stream and shard), then 400 ``DryRunOperationException``
        (:func:`codec.dry_run_succeeded`), no record read."""
        it = codec.read_iterator(iterator)
        it_stream, partition, offset = it.stream, it.partition, it.offset
        if stream is not None and it_stream != stream:
            raise codec.invalid("The shard iterator belongs to another stream.")
        info = await self.iterator_topic(it)
        if dry_run:
            raise codec.dry_run_succeeded()
        msgs, low, high = await asyncio.to_thread(
            self.backend.reader.read, it_stream, partition, offset, limit
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
        return {
            "Records": records,
            "NextShardIterator": codec.make_iterator(
                it_stream, partition, next_offset, topic_id=info.topic_id
            ),
            "MillisBehindLatest": behind,
        }
