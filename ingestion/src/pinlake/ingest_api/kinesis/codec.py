"""The Kinesis side of the API Gateway "Kinesis proxy" as pure functions.

A stream is a topic and a shard a partition. This module holds every encoding between the two
worlds: shard ids, sequence numbers (partition + offset), MD5 hash keys and the shard whose hash
range holds them, shard iterators, and the validation of PutRecord(s) entries. Nothing here
imports FastAPI or Kafka; errors are :class:`~pinlake.ingest_api.wire.CodecError` carrying the
Kinesis exception name as ``code`` (HTTP 400 unless said otherwise), which the routes' route
class renders as ``{"__type", "message"}``.

Sources: AWS Kinesis API reference (PutRecord, PutRecords, GetShardIterator, GetRecords,
CreateStream, DescribeStream, ListStreams, "Common Errors") and the API Gateway tutorial "Create a
REST API as an Amazon Kinesis proxy" (docs/ingestion-apis-and-performance.md §2.1, aicore-reference
§1.6). The record bytes are what the tutorial's mapping templates store, never a guess per request:

* PutRecord (``PUT /streams/{s}/record``): ``"Data": "$util.base64Encode($input.json('$.Data'))"``
  stores the **JSON text** of the body's ``Data``: an object its compact JSON, a string with its
  quotes (``"hello123"`` is the 10 bytes ``"hello123"``), a number its digits
  (:func:`put_record_data`);
* PutRecords (``PUT /streams/{s}/records``, body ``{"records": [{"data", "partition-key"}]}``):
  ``"Data": "$util.base64Encode($elem.data)"`` stores the **value** ``$elem.data`` as Velocity
  renders it: a string's own characters, unquoted; an object or array as Java's ``Map``/``List``
  text (``{a=1, b=x}``), which is not JSON (:func:`put_records_data`; the rendering of objects is
  inferred from VTL, ingestion-apis-and-performance.md §2.1);
* Kinesis' own PutRecords body (``{"Records": [{"Data", "PartitionKey"}]}``, as the AWS SDKs
  send it, no template): ``Data`` is a base64 blob (:func:`blob_data`);
* Kinesis' own JSON protocol, which the AWS SDKs speak (``POST /``, ``X-Amz-Target:
  Kinesis_20131202.<Operation>``, :func:`sdk_operation`): every ``Data`` is a base64 blob, the
  record bytes exactly (:data:`NATIVE`), and a stream is named by ``StreamName`` or
  ``StreamARN`` (:func:`sdk_stream_name`); its requests are first checked against the service
  model (:mod:`pinlake.ingest_api.kinesis.model`).

The consumers (the stream stage, :mod:`pinlake.lakehouse.records`) unwrap what real producers put
in ``Data``: a JSON object, an array of them, or a JSON string holding base64 of either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from pinlake.ingest_api.wire import (
    TOPIC_RE,
    CodecError,
    NumberOutOfRange,
    dumps,
    is_digits,
    is_internal_topic,
    is_unicode,
    loads,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
#: Shard iterators expire 5 minutes after they were issued (GetShardIterator reference).
ITERATOR_TTL = 300.0
#: The largest hash key: hash keys are 128-bit (MD5) integers.
MAX_HASH = 2**128 - 1
#: PutRecords takes at most 500 records (PutRecords reference).
MAX_PUT_RECORDS = 500
#: A PutRecords request carries at most 5 MiB of records, data and partition keys together
#: (PutRecords reference: "Each record in the request can be as large as 1 MiB, up to a limit
#: of 5 MiB for the entire request, including partition keys"; :func:`check_put_records_size`).
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024
#: GetRecords' Limit is 1 to 10,000 (GetRecords reference).
MAX_GET_RECORDS = 10_000
#: The most shards CreateStream accepts here (a local stand-in for the account's shard quota).
MAX_SHARDS = 64
#: ListStreams returns 100 names when no Limit is given, and never more (ListStreams reference:
#: "If you specify a value greater than 100, at most 100 results are returned"); Limit is 1-10000.
LIST_STREAMS_PAGE = 100
MAX_LIST_STREAMS_LIMIT = 10_000
#: Stream names are 1 to 128 of ``[a-zA-Z0-9_.-]`` (CreateStream reference).
MAX_STREAM_NAME = 128
ITERATOR_TYPES = (
    "TRIM_HORIZON",
    "LATEST",
    "AT_SEQUENCE_NUMBER",
    "AFTER_SEQUENCE_NUMBER",
    "AT_TIMESTAMP",
)


class IteratorMembers(NamedTuple):
    """How a protocol names GetShardIterator's inputs, which its messages name: the iterator
    type, the starting sequence number and the timestamp."""

    kind: str
    sequence: str
    timestamp: str


#: Kinesis' own members (GetShardIterator reference), on the JSON protocol the SDKs speak.
SDK_ITERATOR = IteratorMembers("ShardIteratorType", "StartingSequenceNumber", "Timestamp")
#: The tutorial's query parameters (``GET /streams/{s}/sharditerator?shard-id=...``).
REST_ITERATOR = IteratorMembers("shard-iterator-type", "starting-sequence-number", "timestamp")


#: The most characters of a client's value that an error message repeats.
QUOTED_CHARS = 256
#: A code point U+D800-U+DFFF in a ``str``: parsed JSON holds one only unpaired (a pair of
#: escapes is decoded to the one character it encodes).
_SURROGATE = re.compile("[\ud800-\udfff]")


def quote(text: str) -> str:
    """A client's text as every Kinesis error message names it: in single quotes, as the
    service's validation messages do (``Value 'a/b' at 'streamName' ...``), each unpaired
    surrogate (JSON's ``"\\ud800"``, which no UTF-8 encodes) shown as U+FFFD, the replacement
    character a UTF-8 decoder puts for what it cannot read, and text past :data:`QUOTED_CHARS`
    cut with ``...``. The message is then always Unicode text: its body is UTF-8 JSON that every
    client decodes to what it shows, never an escape that decodes to an unpaired surrogate (which
    boto3 then cannot print) nor Python's ``repr`` of one (the text ``\\ud800``, which is also
    what a client that sent a backslash sees)."""
    if len(text) > QUOTED_CHARS:
        text = text[:QUOTED_CHARS] + "..."
    return f"'{unicode_text(text)}'"


def unicode_text(text: str) -> str:
    """``text`` with each unpaired surrogate replaced by U+FFFD (:func:`quote`'s rule, for a
    client's text a message names without quotes: a map key in a member's path)."""
    return text if is_unicode(text) else _SURROGATE.sub("\ufffd", text)


def constraint_failed(field: str, constraint: str, value: str = "") -> CodecError:
    """400 ``ValidationException`` in the words of the Kinesis service's request validation:
    "1 validation error detected: Value[ <value>] at '<field>' failed to satisfy constraint:
    Member must <constraint>". ``field`` is the member's path (``partitionKey``, ``records``,
    ``records.3.member.data``: 1-based, as AWS names it)."""
    shown = f" {value}" if value else ""
    return CodecError(
        400,
        f"1 validation error detected: Value{shown} at '{field}' failed to satisfy "
        f"constraint: Member must {constraint}",
        "ValidationException",
    )


def record_too_large(field: str, max_bytes: int, key_bytes: int = 0) -> CodecError:
    """400 ``ValidationException`` for a record over the record size limit ``max_bytes``.

    The limit is on the data and the partition key together: "When the data blob (the payload
    before base64-encoding) is added to the partition key size, the total size must not exceed
    the maximum record size" (PutRecord and PutRecordsRequestEntry references, ``Data``); "The
    record size limit applies to the total size of the partition key and data blob" (PutRecords
    reference). Data alone over the limit: "... Value at 'data' failed to satisfy constraint:
    Member must have length less than or equal to 1048576"; data within it that the
    partition key's ``key_bytes`` (UTF-8) bring over it: the same words with the length left to
    the data (``max_bytes - key_bytes``), saying why. ``field`` is where the data sat (``data``,
    ``records.3.member.data``)."""
    if not key_bytes:
        return constraint_failed(field, f"have length less than or equal to {max_bytes}")
    return constraint_failed(
        field,
        f"have length less than or equal to {max_bytes - key_bytes} (the record size limit,"
        f" {max_bytes} bytes, less the partition key's {key_bytes} bytes: the data blob and the"
        " partition key together must not exceed it)",
    )


def _member(index: int | None, name: str) -> str:
    """A PutRecord field's path, or a PutRecords entry's (``records.<index + 1>.member.<name>``)."""
    return name if index is None else f"records.{index + 1}.member.{name}"


def invalid(message: str) -> CodecError:
    """400 ``InvalidArgumentException``."""
    return CodecError(400, message, "InvalidArgumentException")


def stream_not_found(stream: str) -> CodecError:
    """400 ``ResourceNotFoundException`` for a stream."""
    return CodecError(
        400,
        f"Stream {quote(stream)} under account {ACCOUNT} not found.",
        "ResourceNotFoundException",
    )


def stream_in_use(stream: str) -> CodecError:
    """400 ``ResourceInUseException`` for DeleteStream of a stream that pinlake's stream query
    reads (``streaming-pinterest-<table>``): Kinesis refuses to delete a stream with registered
    consumers (DeleteStream reference, ``EnforceConsumerDeletion``). Deleting one lost the
    records the query had not landed, and the query, its checkpoint ahead of the new topic's
    offsets, failed at every start since."""
    return CodecError(
        400,
        f"Stream {quote(stream)} under account {ACCOUNT} has registered consumers: pinlake's stream"
        " query lands it into raw Delta, and it is not deleted.",
        "ResourceInUseException",
    )


#: DryRunOperationException's message. Kinesis documents the exception and its status, not its
#: words; these are EC2's for its DryRunOperation, the AWS APIs' one documented dry-run answer.
DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."


def dry_run_succeeded() -> CodecError:
    """400 ``DryRunOperationException``: a request with ``DryRun`` true passed every check the
    operation makes and was not run. "If all checks pass, the API returns HTTP 400 with a
    DryRunOperationException, confirming that the request would have succeeded without the
    DryRun parameter. If any check fails, the API returns the same error that the actual
    operation would return" ("Test your permissions and request inputs with dry run", Kinesis
    Data Streams developer guide: https://docs.aws.amazon.com/streams/latest/dev/kds-dryrun-
    validation.html; botocore's kinesis model: "The request was rejected because the DryRun
    parameter was specified"). The message: :data:`DRY_RUN_MESSAGE`."""
    return CodecError(400, DRY_RUN_MESSAGE, "DryRunOperationException")


def shard_not_found(shard: str, stream: str) -> CodecError:
    """400 ``ResourceNotFoundException`` for a shard of a stream."""
    return CodecError(
        400,
        f"Shard {quote(shard)} in stream {quote(stream)} under account {ACCOUNT} does not exist.",
        "ResourceNotFoundException",
    )


# ---- names and numbers ---------------------------------------------------------------------
def is_stream_name(stream: str) -> bool:
    """True for a name a stream (and its topic) can have: 1-128 of ``[a-zA-Z0-9_.-]``, not one
    of Kafka's internal topics (:func:`stream_name_problem` without batch topics)."""
    return stream_name_problem(stream, ()) is None


def shard_id(partition: int) -> str:
    """Kinesis' shard id of a partition: ``shardId-`` + 12 digits (``shardId-000000000004``)."""
    return f"shardId-{partition:012d}"


def parse_shard_id(text: str) -> int | None:
    """The partition of a shard id (the ``shardId-`` prefix is optional), None if malformed."""
    if text.startswith("shardId-"):
        text = text[len("shardId-") :]
    if not is_digits(text) or len(text) > 12:
        return None
    return int(text)


def sequence_number(partition: int, offset: int) -> str:
    """A 28-digit decimal string like Kinesis' (which orders within a shard): ``49`` +
    6-digit partition + 20-digit offset. ``partition`` < 10**6, ``offset`` < 10**20."""
    return f"49{partition:06d}{offset:020d}"


#: :func:`sequence_number` as a Spark SQL expression over the columns named ``{partition}`` and
#: ``{offset}`` (the stream stage computes it for every row it lands).
SEQUENCE_NUMBER_SQL = (
    "concat('49', lpad(cast({partition} as string), 6, '0'), "
    "lpad(cast({offset} as string), 20, '0'))"
)


def parse_sequence_number(text: str) -> tuple[int, int] | None:
    """``(partition, offset)`` of a :func:`sequence_number`, None for any other text."""
    if len(text) != 28 or not is_digits(text) or not text.startswith("49"):
        return None
    return int(text[2:8]), int(text[8:])


# ---- routing over the 128-bit hash-key space -----------------------------------------------
def hash_key(partition_key: str) -> int:
    """The 128-bit hash key of a partition key: MD5 of its UTF-8 bytes as a big-endian
    integer (Kinesis' rule, PutRecord reference)."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def shard_for(hash_value: int, shards: int) -> int:
    """The shard (0 .. ``shards``-1) whose :func:`hash_range` holds ``hash_value``
    (0 .. :data:`MAX_HASH`); the hash-key space is split into ``shards`` equal ranges."""
    return min(shards - 1, (hash_value * shards) >> 128)


def hash_range(partition: int, shards: int) -> dict[str, str]:
    """DescribeStream's ``HashKeyRange`` of a shard: decimal ``StartingHashKey`` and
    ``EndingHashKey`` (both inclusive); the ranges of 0 .. ``shards``-1 tile 0 .. MAX_HASH."""
    start = (partition << 128) // shards
    end = (((partition + 1) << 128) // shards) - 1
    return {"StartingHashKey": str(start), "EndingHashKey": str(end)}


# ---- shard iterators -----------------------------------------------------------------------
class ShardIterator(NamedTuple):
    """What a shard iterator (:func:`make_iterator`) holds: where it reads, ``offset`` in
    ``partition`` of ``stream``, and ``topic_id``, the Kafka topic ID of the stream it was
    issued for (None when the broker gave none), which a stream deleted and created again under
    the same name does not have."""

    stream: str
    partition: int
    offset: int
    topic_id: str | None = None


def make_iterator(
    stream: str,
    partition: int,
    offset: int,
    now: float | None = None,
    topic_id: str | None = None,
) -> str:
    """An opaque shard iterator: URL-safe base64 of the stream, partition, offset, the time it
    was issued (``now``, seconds since the epoch; default the current time) and the stream's
    topic ID (``topic_id``, when there is one)."""
    issued = round(time.time() if now is None else now, 3)
    fields: dict[str, Any] = {"s": stream, "p": partition, "o": offset, "t": issued}
    if topic_id is not None:
        fields["i"] = topic_id
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode()


def read_iterator(text: str, now: float | None = None) -> ShardIterator:
    """The :class:`ShardIterator` of a :func:`make_iterator` iterator (``topic_id`` None for
    one made without).

    Raises :class:`CodecError` 400 ``InvalidArgumentException`` for text that is not one, and
    400 ``ExpiredIteratorException`` once it is older than :data:`ITERATOR_TTL` at ``now``.
    """
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text.encode("ascii")))
        stream, partition, offset, issued = data["s"], data["p"], data["o"], data["t"]
        topic_id = data.get("i")
        ok = (
            isinstance(stream, str)
            and all(isinstance(x, int) and not isinstance(x, bool) for x in (partition, offset))
            and isinstance(issued, (int, float))
            and partition >= 0
            and offset >= 0
            and (topic_id is None or isinstance(topic_id, str))
        )
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeEncodeError, binascii.Error):
        ok = False
    if not ok:
        raise invalid("Invalid ShardIterator.")
    if (time.time() if now is None else now) - issued > ITERATOR_TTL:
        raise CodecError(
            400,
            "Iterator expired. The iterator was created more than 5 minutes ago.",
            "ExpiredIteratorException",
        )
    return ShardIterator(stream, partition, offset, topic_id)


def parse_timestamp(value: Any, member: str) -> float:
    """Seconds since the epoch of GetShardIterator's ``Timestamp``: "the Unix epoch date with
    precision in milliseconds. For example, 2016-04-04T19:58:46.480-00:00 or 1459799926.480"
    (GetShardIterator reference): a number (what the SDKs send, botocore's JSON protocol), or
    text of a number or of an ISO 8601 date (a date without an offset is UTC). Raises 400
    ``InvalidArgumentException`` naming ``member`` otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    shown = quote(value) if isinstance(value, str) else "given"
    raise invalid(
        f"{member} {shown} is not a timestamp: seconds since the epoch (1459799926.480) or an"
        " ISO 8601 date (2016-04-04T19:58:46.480-00:00)."
    )


def iterator_arguments(
    kind: str,
    starting_sequence_number: str | None,
    timestamp: Any,
    names: IteratorMembers,
    now: float | None = None,
) -> int | None:
    """Check a GetShardIterator request's type and the inputs it goes with, as Kinesis does
    (GetShardIterator reference; the service's words as kinesalite, a replica of the service's
    answers, has them), naming each input as the protocol does (``names``): a type not in
    :data:`ITERATOR_TYPES`; AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER without a starting
    sequence number, or another type with one ("Must either specify (1) AT_SEQUENCE_NUMBER or
    AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no
    StartingSequenceNumber. Request specified AT_SEQUENCE_NUMBER and no
    StartingSequenceNumber."); AT_TIMESTAMP without a timestamp, or one later than ``now``
    (default the current time). Each is 400 ``InvalidArgumentException``. Returns the
    timestamp in milliseconds since the epoch for AT_TIMESTAMP, else None."""
    if kind not in ITERATOR_TYPES:
        raise invalid(
            f"Unsupported {names.kind} {quote(kind)} (one of {', '.join(ITERATOR_TYPES)})."
        )
    with_sequence = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
    if with_sequence != (starting_sequence_number is not None):
        which = "no" if with_sequence else "also a"
        raise invalid(
            f"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and"
            f" {names.sequence} or (2) TRIM_HORIZON, LATEST or AT_TIMESTAMP and no"
            f" {names.sequence}. Request specified {kind} and {which} {names.sequence}."
        )
    if kind != "AT_TIMESTAMP":
        return None
    if timestamp is None:
        raise invalid(
            f"Must specify {names.timestamp} for iterator of type AT_TIMESTAMP. Current request"
            f" has no {names.timestamp}."
        )
    millis = int(parse_timestamp(timestamp, names.timestamp) * 1000)
    current = int((time.time() if now is None else now) * 1000)
    if millis > current:
        raise invalid(
            f"The {names.timestamp} cannot be later than the current time. {names.timestamp}"
            f" in milliseconds: {millis}, current time in milliseconds: {current}."
        )
    return max(millis, 0)


def start_offset(
    kind: str,
    partition: int,
    low: int,
    high: int,
    starting_sequence_number: str | None,
    names: IteratorMembers = SDK_ITERATOR,
) -> int:
    """The offset a GetShardIterator of type ``kind`` starts at in a partition holding offsets
    ``low`` .. ``high``-1: TRIM_HORIZON ``low``, LATEST ``high``, AT/AFTER_SEQUENCE_NUMBER the
    sequence number's offset (+1 for AFTER; one no longer stored reads from ``low``). The
    request is checked first (:func:`iterator_arguments`; AT_TIMESTAMP is resolved by the
    records' times, :meth:`~pinlake.ingest_api.kinesis.operations.Kinesis.get_shard_iterator`,
    not here). Raises ``InvalidArgumentException`` for a sequence number of another shard, or
    one no record has yet (offset ``high`` or later): Kinesis refuses a sequence number that
    did not come from the stream, and an iterator there would skip every record before it.
    Messages name the inputs as the protocol does (``names``)."""
    iterator_arguments(kind, starting_sequence_number, None, names)
    if kind == "TRIM_HORIZON":
        return low
    if kind == "LATEST":
        return high
    assert starting_sequence_number is not None  # iterator_arguments: AT/AFTER_SEQUENCE_NUMBER
    seq = parse_sequence_number(starting_sequence_number)
    if seq is None or seq[0] != partition:
        raise invalid(
            f"{names.sequence} {quote(starting_sequence_number)} used in GetShardIterator on"
            f" shard {shard_id(partition)} is invalid: it is not a sequence number of this shard."
        )
    if seq[1] >= high:
        following = sequence_number(partition, high)
        raise invalid(
            f"{names.sequence} {quote(starting_sequence_number)} used in"
            f" GetShardIterator on shard {shard_id(partition)} is invalid because it did"
            f" not come from this stream (the shard's next record gets {following})."
        )
    return seq[1] + (kind == "AFTER_SEQUENCE_NUMBER")


def get_records_limit(text: str | None) -> int:
    """GetRecords' ``limit`` query parameter: 1 to :data:`MAX_GET_RECORDS` (the default)."""
    text = str(MAX_GET_RECORDS) if text is None else text
    if not is_digits(text) or not 1 <= int(text) <= MAX_GET_RECORDS:
        raise invalid(f"limit must be from 1 to {MAX_GET_RECORDS}.")
    return int(text)


# ---- request bodies ------------------------------------------------------------------------
def json_object(body: bytes, *, optional: bool = False) -> dict[str, Any]:
    """A request body that must be a JSON object (an empty body is ``{}`` when ``optional``);
    400 ``SerializationException`` otherwise: "Malformed JSON request body." for text that is
    not JSON, the reason for a number beyond a double (:class:`NumberOutOfRange`: the REST
    proxy names it too)."""
    if optional and not body.strip():
        return {}
    try:
        data = loads(body)
    except NumberOutOfRange as exc:  # JSON text, but not one pinlake can store unchanged
        raise CodecError(
            400, f"Invalid JSON request body: {exc}.", "SerializationException"
        ) from None
    except ValueError:
        raise CodecError(400, "Malformed JSON request body.", "SerializationException") from None
    if not isinstance(data, dict):
        raise CodecError(400, "Request body must be a JSON object.", "SerializationException")
    return data


def shard_count(data: dict[str, Any], default: int) -> int:
    """CreateStream's ``ShardCount`` (``default`` when absent; the tutorial's is 5): an
    integer from 1 to :data:`MAX_SHARDS`."""
    count = data.get("ShardCount", default)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SHARDS:
        raise invalid(f"ShardCount must be an integer from 1 to {MAX_SHARDS}.")
    return count


def stream_name_problem(stream: str, batch_topics: Collection[str]) -> str | None:
    """Why ``stream`` is not a stream of the Kinesis proxy, else None: a name Kinesis refuses
    (1-128 of ``[a-zA-Z0-9_.-]``, CreateStream reference), one of Kafka's internal topics, or
    one of ``batch_topics``, the Kafka REST side's topics (``<prefix>.<table>``), which the
    proxy never lists, writes, reads or deletes: DeleteStream on one deleted the batch topic
    with records the sink had not written yet. The one rule of every stream route."""
    if not TOPIC_RE.match(stream) or len(stream) > MAX_STREAM_NAME:
        return "StreamName must match [a-zA-Z0-9_.-]{1,128}."
    if is_internal_topic(stream):
        return f"StreamName {quote(stream)} is one of Kafka's internal topics."
    if stream in batch_topics:
        return (
            f"StreamName {quote(stream)} is a batch topic of the Kafka REST proxy "
            f"(POST /topics/{stream}), not a stream."
        )
    return None


def check_stream(stream: str, batch_topics: Collection[str]) -> None:
    """Raise 400 ``ResourceNotFoundException`` unless ``stream`` can be a stream
    (:func:`stream_name_problem`): what Kinesis answers for a stream that does not exist."""
    if stream_name_problem(stream, batch_topics) is not None:
        raise stream_not_found(stream)


def check_new_stream_name(stream: str, batch_topics: Collection[str] = ()) -> None:
    """A name CreateStream accepts (:func:`stream_name_problem`); 400
    ``InvalidArgumentException`` naming why not."""
    problem = stream_name_problem(stream, batch_topics)
    if problem is not None:
        raise invalid(problem)


def put_record_data(value: Any) -> bytes:
    """The bytes PutRecord's template stores for body field ``Data`` = ``value`` (any decoded
    JSON value): its compact JSON text, ``$util.base64Encode($input.json('$.Data'))`` (tutorial
    PutRecord template). ``"this is a test"`` gives ``b'"this is a test"'`` (quotes kept),
    ``{"a": 1}`` gives ``b'{"a":1}'``. Never raises."""
    return dumps(value)


def vtl_text(value: Any) -> str:
    """How Velocity renders a value read with ``$input.path`` (a Java object): a string as is,
    ``null`` as ``null``, booleans ``true``/``false``, numbers as their JSON text, an object as
    Java's ``Map.toString`` (``{a=1, b=x}``), an array as ``List.toString`` (``[1, x]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={vtl_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(vtl_text(v) for v in value) + "]"
    return dumps(value).decode()


def put_records_data(value: Any) -> bytes:
    """The bytes the tutorial's PutRecords template stores for ``records[i].data`` = ``value``:
    ``$util.base64Encode($elem.data)`` (tutorial PutRecords template), i.e. the UTF-8 of
    :func:`vtl_text`. A string is stored as its own characters (a producer sends the row's JSON
    text); an object becomes ``{k=v, ...}``, not JSON, as on AWS (the stream stage quarantines
    it). Raises ``InvalidArgumentException`` for null (the template has no value to encode)."""
    if value is None:
        raise invalid("data must not be null.")
    return vtl_text(value).encode("utf-8", "surrogatepass")


def blob_data(value: Any) -> bytes:
    """The bytes of a Kinesis-native ``Records[i].Data`` (no template): a base64 blob, as the
    Kinesis PutRecords API takes it (PutRecordsRequestEntry reference). Raises
    ``InvalidArgumentException`` for anything but a string of valid base64."""
    if not isinstance(value, str):
        raise invalid("Data must be a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Data is not valid base64.") from None


def partition_key(value: Any, field: str = "partitionKey") -> str:
    """A ``PartitionKey``: a string of 1 to 256 characters (PutRecord reference). Missing or
    of another length: ``ValidationException`` (:func:`constraint_failed`, at ``field``), as
    Kinesis answers; not a string, or a string with an unpaired surrogate (JSON's ``"\\ud800"``,
    which the stdlib parser lets through and no UTF-8 encodes: it crashed the route with a 500),
    ``InvalidArgumentException``."""
    if value is None:
        raise constraint_failed(field, "not be null", "null")
    if not isinstance(value, str):
        raise invalid("PartitionKey must be a string of 1 to 256 characters.")
    if not 1 <= len(value) <= 256:
        bound = "greater than or equal to 1" if not value else "less than or equal to 256"
        raise constraint_failed(field, f"have length {bound}")
    if not is_unicode(value):  # its bytes are the record's key and their MD5 the route
        raise invalid(
            "PartitionKey must be Unicode text: it holds an unpaired surrogate (a \\ud800-"
            "\\udfff escape without its pair), which has no UTF-8 bytes."
        )
    return value


def route(entry: dict[str, Any], key: str, shards: int) -> int:
    """The shard of an entry: its ``ExplicitHashKey`` (a decimal 0 .. MAX_HASH) if given,
    else the MD5 :func:`hash_key` of its partition key ``key``."""
    explicit = entry.get("ExplicitHashKey")
    if explicit is not None:
        if not isinstance(explicit, str) or not is_digits(explicit) or int(explicit) > MAX_HASH:
            raise invalid("ExplicitHashKey must be a decimal 128-bit integer.")
        return shard_for(int(explicit), shards)
    return shard_for(hash_key(key), shards)


class PutEntry(NamedTuple):
    """One record to produce: the partition key's UTF-8 bytes, the data, the partition."""

    key: bytes
    data: bytes
    partition: int


class EntryFields(NamedTuple):
    """Field names of a PutRecord body or a PutRecords entry, the rule that turns the data
    field's value into the record bytes (see the module docstring), and whether a mapping
    template renders the partition key (``templated``): the tutorial's templates write it inside
    quotes (``"PartitionKey": "$input.path('$.PartitionKey')"``, ``"$elem.partition-key"``), so
    a number, boolean, object or array arrives at Kinesis as its text (:func:`vtl_text`: ``42``
    as ``"42"``); Kinesis' own API takes a string only."""

    data: str
    partition_key: str
    to_bytes: Callable[[Any], bytes]
    templated: bool


#: PutRecord's body: ``Data`` stored as its JSON text (the tutorial's PutRecord template).
PUT_RECORD = EntryFields("Data", "PartitionKey", put_record_data, templated=True)
#: The tutorial's PutRecords entries (``records[i].data``, ``records[i].partition-key``).
TUTORIAL = EntryFields("data", "partition-key", put_records_data, templated=True)
#: Kinesis' own PutRecords entries (``Records[i].Data`` base64, ``Records[i].PartitionKey``).
NATIVE = EntryFields("Data", "PartitionKey", blob_data, templated=False)


def put_entry(
    entry: Any, fields: EntryFields, *, max_bytes: int, shards: int, index: int | None = None
) -> PutEntry:
    """Validate one PutRecord body or PutRecords entry into a :class:`PutEntry`.

    Checks, in order: an object, its partition key (through a template, as its text:
    :class:`EntryFields`), its data field (present; its bytes by
    ``fields.to_bytes``), the record size (the data and the partition key's UTF-8 bytes
    together, :func:`record_too_large`) and the route (:func:`route`). Raises
    :class:`CodecError` 400 ``InvalidArgumentException`` (a value of the wrong type), or 400
    ``ValidationException`` (:func:`constraint_failed`) for a partition key or data that is
    missing, a key of another length, a record past ``max_bytes``; ``index`` is the entry's place
    in a PutRecords body (0-based; named 1-based as AWS does), ``None`` for a PutRecord body.
    """
    if not isinstance(entry, dict):
        raise invalid("Each record must be an object.")
    given = entry.get(fields.partition_key)
    if fields.templated and given is not None:  # the template writes its text (EntryFields)
        given = vtl_text(given)
    key = partition_key(given, _member(index, "partitionKey"))
    if fields.data not in entry:
        raise constraint_failed(_member(index, "data"), "not be null", "null")
    payload = fields.to_bytes(entry[fields.data])
    if len(payload) > max_bytes:
        raise record_too_large(_member(index, "data"), max_bytes)
    key_bytes = key.encode()
    if len(payload) + len(key_bytes) > max_bytes:
        raise record_too_large(_member(index, "data"), max_bytes, len(key_bytes))
    return PutEntry(key_bytes, payload, route(entry, key, shards))


def put_records_entries(
    data: dict[str, Any], *, tutorial: bool = True
) -> tuple[list[Any], EntryFields]:
    """The entries of a PutRecords body and their field names: the tutorial's ``records``
    (only when ``tutorial``: the proxy's resource, not Kinesis' own protocol) or Kinesis' own
    ``Records``, a non-empty array of at most :data:`MAX_PUT_RECORDS`: missing, empty or
    longer, ``ValidationException`` as Kinesis answers (:func:`constraint_failed`); not an
    array, ``InvalidArgumentException``."""
    if tutorial and "records" in data:
        entries, fields = data["records"], TUTORIAL
    elif "Records" in data:
        entries, fields = data["Records"], NATIVE
    else:
        raise constraint_failed("records", "not be null", "null")
    if not isinstance(entries, list):
        raise invalid("records must be an array.")
    if not entries:
        raise constraint_failed("records", "have length greater than or equal to 1", "[]")
    if len(entries) > MAX_PUT_RECORDS:
        raise constraint_failed("records", f"have length less than or equal to {MAX_PUT_RECORDS}")
    return entries, fields


def check_put_records_size(entries: Collection[PutEntry], max_record_bytes: int) -> None:
    """Raise 400 ``InvalidArgumentException`` "Records size exceeds 5 MB limit" for the records
    of one PutRecords request (each checked by :func:`put_entry`) whose data and partition keys
    (UTF-8) add up to more than :data:`MAX_PUT_RECORDS_BYTES`: the whole request is refused,
    nothing written, in the service's words (its answer as SDK users quote it:
    snowplow/enrich#685, aws/amazon-kinesis-streams-for-fluent-bit#21; the limit, PutRecords
    reference). The API's own request size limit (``PINLAKE_API__MAX_REQUEST_BYTES``, 413) is
    another check, on the body's bytes (base64 and JSON included). A record limit configured
    above 5 MiB (``PINLAKE_API__MAX_RECORD_BYTES``) raises this one to it, so that a record
    PutRecord takes can always be put alone by PutRecords too."""
    limit = max(MAX_PUT_RECORDS_BYTES, max_record_bytes)
    if sum(len(e.key) + len(e.data) for e in entries) > limit:
        mib = "5 MB" if limit == MAX_PUT_RECORDS_BYTES else f"{limit} bytes"
        raise invalid(f"Records size exceeds {mib} limit")


# ---- ListStreams ---------------------------------------------------------------------------
def stream_names(topics: list[str], batch_topics: set[str]) -> list[str]:
    """The streams among Kafka ``topics`` (:func:`stream_name_problem`: not the batch topics,
    the Kafka REST side's ``<prefix>.<table>``, nor Kafka's internal ones), sorted."""
    return sorted(t for t in topics if stream_name_problem(t, batch_topics) is None)


def list_streams_params(data: dict[str, Any]) -> tuple[int, str | None]:
    """``(limit, exclusive_start)`` of a ListStreams request given as ``data`` (the JSON body
    or the query parameters, ``Limit`` and ``ExclusiveStartStreamName``; a query value is text).

    ``Limit`` is an integer from 1 to 10000 (default :data:`LIST_STREAMS_PAGE`);
    ``ExclusiveStartStreamName`` a stream name. Raises ``InvalidArgumentException`` otherwise
    (ListStreams reference). A ``NextToken`` (:func:`read_next_token`, from the answer to the
    previous page) starts after the last name of that page, as the SDKs' ListStreams
    paginator asks ("NextToken": botocore's kinesis paginators).
    """
    limit = data.get("Limit", LIST_STREAMS_PAGE)
    if isinstance(limit, str) and is_digits(limit):
        limit = int(limit)
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise invalid(f"Limit must be an integer from 1 to {MAX_LIST_STREAMS_LIMIT}.")
    if not 1 <= limit <= MAX_LIST_STREAMS_LIMIT:
        raise invalid(f"Limit must be an integer from 1 to {MAX_LIST_STREAMS_LIMIT}.")
    start = data.get("ExclusiveStartStreamName")
    if start is not None and not (isinstance(start, str) and is_stream_name(start)):
        raise invalid("ExclusiveStartStreamName must match [a-zA-Z0-9_.-]{1,128}.")
    token = data.get("NextToken")
    if token is not None:  # the page after the one that gave it (whatever else is given)
        start = read_next_token("ListStreams", token)[1]
    return limit, start


def list_streams_page(
    names: list[str], limit: int, exclusive_start: str | None
) -> tuple[list[str], bool]:
    """``(StreamNames, HasMoreStreams)``: of the sorted ``names``, those after
    ``exclusive_start`` (all when None; it need not be a stream), at most ``limit`` and never
    more than :data:`LIST_STREAMS_PAGE`; ``HasMoreStreams`` when names after the page remain."""
    after = [n for n in sorted(names) if exclusive_start is None or n > exclusive_start]
    size = min(limit, LIST_STREAMS_PAGE)
    return after[:size], len(after) > size


# ---- Kinesis' own JSON protocol (the AWS SDKs) ---------------------------------------------
#: The ``X-Amz-Target`` prefix of Kinesis' JSON 1.1 protocol: the service and API version the
#: AWS SDKs call (botocore's kinesis service model, ``targetPrefix``).
TARGET_PREFIX = "Kinesis_20131202"
#: The stream ARN pinlake answers and reads: ``arn:aws:kinesis:<region>:<account>:stream/<name>``.
STREAM_ARN_PREFIX = "arn:aws:kinesis:"


def sdk_operation(target: str, served: Collection[str]) -> str:
    """The operation of an ``X-Amz-Target`` header: ``Kinesis_20131202.PutRecord`` gives
    ``PutRecord``. Raises 400 ``UnknownOperationException`` (the JSON protocol's answer to a
    target it does not know) for another service or version, or an operation not in
    ``served``, naming those that are."""
    service, _, operation = target.partition(".")
    if service != TARGET_PREFIX:
        raise CodecError(
            400,
            f"X-Amz-Target {quote(target)}: this endpoint serves Kinesis"
            f" ({TARGET_PREFIX}.<Operation>)"
            " only.",
            "UnknownOperationException",
        )
    if operation not in served:
        raise CodecError(
            400,
            f"Operation {quote(operation)} is not served by pinlake's Kinesis endpoint (served: "
            f"{', '.join(sorted(served))}).",
            "UnknownOperationException",
        )
    return operation


def sdk_stream_name(data: dict[str, Any]) -> str:
    """The stream a JSON-protocol request names: ``StreamName``, or the name at the end of
    ``StreamARN`` (``arn:aws:kinesis:<region>:<account>:stream/<name>``; when both are given
    they must agree). "You must use either the StreamARN or the StreamName parameter, or both"
    (PutRecord reference): neither is 400 ``InvalidArgumentException``; a name Kinesis' request
    validation refuses (1-128 of ``[a-zA-Z0-9_.-]``) or an ARN of another form is 400
    ``ValidationException`` (:func:`constraint_failed`)."""
    name, arn = data.get("StreamName"), data.get("StreamARN")
    if name is None and arn is None:
        raise invalid("Either StreamName or StreamARN must be provided.")
    if name is not None and (
        not isinstance(name, str) or not TOPIC_RE.match(name) or len(name) > MAX_STREAM_NAME
    ):
        raise constraint_failed(
            "streamName",
            "satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length from 1 to 128",
            quote(name) if isinstance(name, str) else "",
        )
    if arn is not None:
        resource = arn.rsplit(":", 1)[-1] if isinstance(arn, str) else ""
        from_arn = resource.removeprefix("stream/")
        if (
            not isinstance(arn, str)
            or not arn.startswith(STREAM_ARN_PREFIX)
            or not resource.startswith("stream/")
            or not TOPIC_RE.match(from_arn)
        ):
            raise constraint_failed(
                "streamARN",
                "satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
                quote(arn) if isinstance(arn, str) else "",
            )
        if name is not None and name != from_arn:
            raise invalid(
                f"StreamName {quote(name)} and StreamARN {quote(arn)} name different streams."
            )
        return from_arn
    return name


def sdk_string(data: dict[str, Any], member: str, *, required: bool = True) -> str | None:
    """A string member of a JSON-protocol request (``ShardId``, ``ShardIterator``, ...): missing
    and ``required``, 400 ``ValidationException`` as Kinesis' request validation answers (the
    member named in lower camel case); not a string, ``InvalidArgumentException``."""
    value = data.get(member)
    if value is None:
        if required:
            raise constraint_failed(member[0].lower() + member[1:], "not be null", "null")
        return None
    if not isinstance(value, str):
        raise invalid(f"{member} must be a string.")
    return value


def sdk_limit(data: dict[str, Any], member: str, maximum: int, default: int) -> int:
    """An integer member from 1 to ``maximum`` (``default`` when absent): GetRecords'
    ``Limit`` (1-10,000). Raises ``InvalidArgumentException`` otherwise."""
    value = data.get(member, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise invalid(f"{member} must be an integer from 1 to {maximum}.")
    return value


# ---- paging shards: ListShards and DescribeStream --------------------------------------------
#: ListShards returns 1000 shards when no MaxResults is given, and never more (ListShards
#: reference, MaxResults: "The default value is 1000. If you specify a value greater than 1000,
#: at most 1000 results are returned").
LIST_SHARDS_PAGE = 1000
#: DescribeStream returns 100 shards when no Limit is given, and never more (DescribeStream
#: reference, Limit: "The default value is 100. If you specify a value greater than 100, at most
#: 100 results are returned").
DESCRIBE_STREAM_PAGE = 100
#: A NextToken is usable for 300 seconds (ListShards reference, NextToken: "Tokens expire after
#: 300 seconds ... If you specify an expired token in a call to ListShards, you get
#: ExpiredNextTokenException").
NEXT_TOKEN_TTL = 300.0


def make_next_token(
    operation: str, stream: str | None, after: str, now: float | None = None
) -> str:
    """An opaque ``NextToken`` of ``operation`` (``ListShards``, ``ListStreams``): URL-safe
    base64 of the operation, the stream (ListShards: the token names it, ListShards reference:
    "the latter unambiguously identifies the stream"), the last shard id or stream name of the
    page it follows (``after``) and the time it was issued (``now``; default the current time)."""
    issued = round(time.time() if now is None else now, 3)
    raw = orjson.dumps({"o": operation, "s": stream, "a": after, "t": issued})
    return base64.urlsafe_b64encode(raw).decode()


def read_next_token(operation: str, token: Any, now: float | None = None) -> tuple[str | None, str]:
    """``(stream, after)`` of a :func:`make_next_token` token of ``operation``.

    Raises 400 ``InvalidArgumentException`` for anything else (another operation's token
    too), 400 ``ExpiredNextTokenException`` once it is older than :data:`NEXT_TOKEN_TTL` at
    ``now`` (ListShards reference)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        ok = (
            data["o"] == operation
            and (data["s"] is None or isinstance(data["s"], str))
            and isinstance(data["a"], str)
            and isinstance(data["t"], (int, float))
            and not isinstance(data["t"], bool)
        )
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeEncodeError, binascii.Error):
        ok = False
    if not ok:
        raise invalid(f"Invalid NextToken for {operation}.")
    if (time.time() if now is None else now) - data["t"] > NEXT_TOKEN_TTL:
        raise CodecError(
            400,
            "The timestamp of the NextToken expired: a NextToken is valid for 300 seconds.",
            "ExpiredNextTokenException",
        )
    return data["s"], data["a"]


def shard_page(
    partitions: Collection[int], after: str | None, limit: int, most: int
) -> tuple[list[int], bool]:
    """``(page, more)``: of ``partitions``, in shard id order, those whose :func:`shard_id`
    comes after ``after`` (all when None; it need not be a shard of the stream), at most
    ``limit`` and never more than ``most``; ``more`` when shards after the page remain (a
    ListShards ``NextToken``, DescribeStream's ``HasMoreShards``)."""
    rest = [p for p in sorted(partitions) if after is None or shard_id(p) > after]
    size = min(limit, most)
    return rest[:size], len(rest) > size


class ShardsRequest(NamedTuple):
    """What a ListShards request asks: the ``stream``, the shards after ``after`` (None: from
    the first), at most ``limit`` of them."""

    stream: str
    after: str | None
    limit: int


def list_shards_request(data: dict[str, Any], now: float | None = None) -> ShardsRequest:
    """A JSON-protocol ListShards body (checked by
    :func:`~pinlake.ingest_api.kinesis.model.check_input`) as a :class:`ShardsRequest` (ListShards
    reference).

    With ``NextToken`` (:func:`read_next_token`), the stream and the start are the token's and
    the request may name neither: "Don't specify StreamName or StreamCreationTimestamp if you
    specify NextToken", ExclusiveStartShardId "You cannot specify this parameter if you
    specify NextToken"; each of them (``StreamARN`` too) with a token is 400
    ``InvalidArgumentException`` ("NextToken and StreamName cannot be provided together.", as
    the service answers). Without it, the stream is :func:`sdk_stream_name`'s and the start
    ``ExclusiveStartShardId``, or a ``ShardFilter`` of type ``AFTER_SHARD_ID`` (whose
    ``ShardId`` is then required; AT_TIMESTAMP and FROM_TIMESTAMP require a ``Timestamp``); the
    other filter types select every shard here, where every shard is open and none has
    expired. ``MaxResults`` defaults to :data:`LIST_SHARDS_PAGE`.
    """
    limit = data.get("MaxResults") or LIST_SHARDS_PAGE
    token = data.get("NextToken")
    if token is not None:
        for member in (
            "StreamName",
            "StreamARN",
            "ExclusiveStartShardId",
            "StreamCreationTimestamp",
        ):
            if data.get(member) is not None:
                raise invalid(f"NextToken and {member} cannot be provided together.")
        stream, after = read_next_token("ListShards", token, now)
        if stream is None:
            raise invalid("Invalid NextToken for ListShards.")
        return ShardsRequest(stream, after, limit)
    stream = sdk_stream_name(data)
    after = data.get("ExclusiveStartShardId")
    shard_filter = data.get("ShardFilter")
    if shard_filter is not None and shard_filter.get("Type") == "AFTER_SHARD_ID":
        if shard_filter.get("ShardId") is None:
            raise invalid("ShardFilter of type AFTER_SHARD_ID requires a ShardId.")
        after = shard_filter["ShardId"]
    if (
        shard_filter is not None
        and shard_filter.get("Type") in ("AT_TIMESTAMP", "FROM_TIMESTAMP")
        and shard_filter.get("Timestamp") is None
    ):
        raise invalid(f"ShardFilter of type {shard_filter['Type']} requires a Timestamp.")
    return ShardsRequest(stream, after, limit)
