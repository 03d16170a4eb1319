"""Kinesis' service model as the AWS SDKs know it: the input constraints of the served
operations and what pinlake does with the members it does not simply use.

:data:`SHAPES` copies the shapes of botocore's kinesis service model (``kinesis/2013-12-02/
service-2.json``, the AWS SDKs' contract; tests/unit/ingest_api compare them with the installed
model); :func:`check_input` applies them to every request of Kinesis' own JSON protocol before
its operation runs, in the service's words (``SerializationException`` for a member of another
JSON type, ``ValidationException`` for a constraint). :data:`MEMBER_POLICY` is the one list of
members that are honoured as far as a Kafka-backed stream can, refused or harmlessly ignored,
and why; :func:`check_members` refuses what it says. Pure functions, as
:mod:`~pinlake.ingest_api.kinesis.codec`, whose rules and errors they use.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from pinlake.ingest_api.kinesis.codec import invalid, quote, unicode_text
from pinlake.ingest_api.wire import CodecError


# ---- the service model's input constraints (the JSON protocol's request validation) ---------
class Shape(NamedTuple):
    """One shape of Kinesis' service model (botocore's ``kinesis/2013-12-02/service-2.json``,
    the AWS SDKs' contract): its JSON ``type`` and constraints. ``min``/``max`` bound an
    integer's value, a string's length in characters, a blob's length in bytes, a list's or a
    map's number of entries; ``pattern`` must match a whole string; ``enum`` lists a string's
    values. A ``structure`` has ``members`` (``(name, shape)`` pairs) and ``required`` ones; a
    ``list`` its ``member`` shape; a ``map`` its ``key`` and ``value`` shapes."""

    type: str
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    members: tuple[tuple[str, str], ...] = ()
    required: tuple[str, ...] = ()
    member: str | None = None
    key: str | None = None
    value: str | None = None


_STREAM = (("StreamName", "StreamName"), ("StreamARN", "StreamARN"), ("StreamId", "StreamId"))

#: The input shapes of the served operations and every shape they hold, copied from botocore's
#: kinesis service model (botocore 1.44.8, requirements.lock; tests/unit/ingest_api compare them
#: with the installed model). The one place the JSON protocol's member rules are written:
#: :func:`check_input` applies them to every request before its operation runs.
SHAPES: dict[str, Shape] = {
    "StreamName": Shape("string", 1, 128, r"[a-zA-Z0-9_.-]+"),
    "StreamARN": Shape("string", 1, 2048, r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+"),
    "StreamId": Shape("string", 1, 24, r"[a-z0-9]{20}-[a-z0-9]{3}"),
    "ShardId": Shape("string", 1, 128, r"[a-zA-Z0-9_.-]+"),
    "NextToken": Shape("string", 1, 1_048_576),
    "ShardIterator": Shape("string", 1, 512),
    "PartitionKey": Shape("string", 1, 256),
    "HashKey": Shape("string", pattern=r"^(0|([1-9]\d{0,38}))$"),
    "SequenceNumber": Shape("string", pattern=r"^(0|([1-9]\d{0,128}))$"),
    "Data": Shape("blob", 0, 10_485_760),
    "Timestamp": Shape("timestamp"),
    "BooleanObject": Shape("boolean"),
    "PositiveIntegerObject": Shape("integer", 1),
    "NaturalIntegerObject": Shape("integer", 0),
    "MaxRecordSizeInKiB": Shape("integer", 1024, 10240),
    "DescribeStreamInputLimit": Shape("integer", 1, 10_000),
    "GetRecordsInputLimit": Shape("integer", 1, 10_000),
    "ListShardsInputLimit": Shape("integer", 1, 10_000),
    "ListStreamsInputLimit": Shape("integer", 1, 10_000),
    "ShardIteratorType": Shape(
        "string",
        enum=(
            "AT_SEQUENCE_NUMBER",
            "AFTER_SEQUENCE_NUMBER",
            "TRIM_HORIZON",
            "LATEST",
            "AT_TIMESTAMP",
        ),
    ),
    "ShardFilterType": Shape(
        "string",
        enum=(
            "AFTER_SHARD_ID",
            "AT_TRIM_HORIZON",
            "FROM_TRIM_HORIZON",
            "AT_LATEST",
            "AT_TIMESTAMP",
            "FROM_TIMESTAMP",
        ),
    ),
    "StreamMode": Shape("string", enum=("PROVISIONED", "ON_DEMAND")),
    "RecordDistributionStrategy": Shape("string", enum=("AUTO", "USER_PARTITION_KEY")),
    "TagKey": Shape("string", 1, 128),
    "TagValue": Shape("string", 0, 256),
    "TagMap": Shape("map", 1, 200, key="TagKey", value="TagValue"),
    "StreamModeDetails": Shape(
        "structure", members=(("StreamMode", "StreamMode"),), required=("StreamMode",)
    ),
    "ShardFilter": Shape(
        "structure",
        members=(("Type", "ShardFilterType"), ("ShardId", "ShardId"), ("Timestamp", "Timestamp")),
        required=("Type",),
    ),
    "PutRecordsRequestEntry": Shape(
        "structure",
        members=(
            ("Data", "Data"),
            ("ExplicitHashKey", "HashKey"),
            ("PartitionKey", "PartitionKey"),
        ),
        required=("Data",),
    ),
    "PutRecordsRequestEntryList": Shape("list", 1, 500, member="PutRecordsRequestEntry"),
    "CreateStreamInput": Shape(
        "structure",
        members=(
            ("StreamName", "StreamName"),
            ("ShardCount", "PositiveIntegerObject"),
            ("StreamModeDetails", "StreamModeDetails"),
            ("Tags", "TagMap"),
            ("WarmThroughputMiBps", "NaturalIntegerObject"),
            ("MaxRecordSizeInKiB", "MaxRecordSizeInKiB"),
            ("RecordDistributionStrategy", "RecordDistributionStrategy"),
        ),
        required=("StreamName",),
    ),
    "DeleteStreamInput": Shape(
        "structure", members=(*_STREAM, ("EnforceConsumerDeletion", "BooleanObject"))
    ),
    "DescribeStreamInput": Shape(
        "structure",
        members=(
            *_STREAM,
            ("Limit", "DescribeStreamInputLimit"),
            ("ExclusiveStartShardId", "ShardId"),
        ),
    ),
    "DescribeStreamSummaryInput": Shape("structure", members=_STREAM),
    "ListStreamsInput": Shape(
        "structure",
        members=(
            ("Limit", "ListStreamsInputLimit"),
            ("ExclusiveStartStreamName", "StreamName"),
            ("NextToken", "NextToken"),
        ),
    ),
    "ListShardsInput": Shape(
        "structure",
        members=(
            *_STREAM,
            ("NextToken", "NextToken"),
            ("ExclusiveStartShardId", "ShardId"),
            ("MaxResults", "ListShardsInputLimit"),
            ("StreamCreationTimestamp", "Timestamp"),
            ("ShardFilter", "ShardFilter"),
        ),
    ),
    "PutRecordInput": Shape(
        "structure",
        members=(
            *_STREAM,
            ("Data", "Data"),
            ("PartitionKey", "PartitionKey"),
            ("ExplicitHashKey", "HashKey"),
            ("SequenceNumberForOrdering", "SequenceNumber"),
            ("DryRun", "BooleanObject"),
        ),
        required=("Data",),
    ),
    "PutRecordsInput": Shape(
        "structure",
        members=(*_STREAM, ("Records", "PutRecordsRequestEntryList"), ("DryRun", "BooleanObject")),
        required=("Records",),
    ),
    "GetShardIteratorInput": Shape(
        "structure",
        members=(
            *_STREAM,
            ("ShardId", "ShardId"),
            ("ShardIteratorType", "ShardIteratorType"),
            ("StartingSequenceNumber", "SequenceNumber"),
            ("Timestamp", "Timestamp"),
            ("DryRun", "BooleanObject"),
        ),
        required=("ShardId", "ShardIteratorType"),
    ),
    "GetRecordsInput": Shape(
        "structure",
        members=(
            ("ShardIterator", "ShardIterator"),
            ("Limit", "GetRecordsInputLimit"),
            ("StreamARN", "StreamARN"),
            ("StreamId", "StreamId"),
            ("DryRun", "BooleanObject"),
        ),
        required=("ShardIterator",),
    ),
}

#: Patterns are whole-string matches of ASCII classes, as the service's (Java) validation reads
#: them: ``\d`` is 0-9 only, and no ``$`` lets a trailing newline through.
_PATTERNS = {s.pattern: re.compile(s.pattern, re.ASCII) for s in SHAPES.values() if s.pattern}
#: How many constraint failures one ValidationException lists, at most (as the service does).
MAX_VALIDATION_ERRORS = 10
#: The JSON types each model type is read from.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "blob": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "timestamp": (int, float, str),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}
_JSON_NAMES = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _json_name(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return _JSON_NAMES.get(type(value), "a number")


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _blob_length(text: str) -> int:
    """The byte length of base64 ``text`` without decoding it (its validity is checked where
    the bytes are read, :func:`.codec.blob_data`)."""
    return len(text) * 3 // 4 - text[-2:].count("=")


def _deserialize(shape: Shape, value: Any, path: str) -> None:
    """Raise 400 ``SerializationException`` for a value of another JSON type than its shape's
    (the service cannot read the body into the operation's input: "class java.lang.String can
    not be converted to an Integer"), checked through lists, maps and structures."""
    kinds = _JSON_TYPES[shape.type]
    is_bool = isinstance(value, bool)
    if not isinstance(value, kinds) or (is_bool and shape.type != "boolean"):
        expected = {"structure": "an object", "map": "an object", "list": "an array"}.get(
            shape.type, f"a {shape.type}"
        )
        raise CodecError(
            400,
            f"Member '{path}' must be {expected} ({shape.type}), not {_json_name(value)}.",
            "SerializationException",
        )
    if shape.type == "structure":
        for name, member in shape.members:
            if value.get(name) is not None:
                _deserialize(SHAPES[member], value[name], _join(path, name))
    elif shape.type == "list":
        for i, item in enumerate(value):
            if item is not None:
                _deserialize(SHAPES[shape.member], item, f"{path}.{i + 1}.member")
    elif shape.type == "map":
        for k, item in value.items():
            if item is not None:
                _deserialize(SHAPES[shape.value], item, f"{path}.{unicode_text(k)}")


def _join(path: str, name: str) -> str:
    return f"{path}.{_lower_first(name)}" if path else _lower_first(name)


def _shown(value: Any, shape: Shape) -> str:
    """How a failed member's value is named in a validation message: ``'<text>'`` for a string
    (:func:`quote`) or a number, ``null``, nothing for a blob, list, map or structure."""
    if value is None:
        return "null"
    if shape.type in ("string", "integer"):
        return quote(str(value))
    return ""


def _violations(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    """Append to ``errors`` every constraint of ``shape`` that ``value`` (of the right JSON
    type, :func:`_deserialize`) fails, in the service's words
    (:func:`.codec.constraint_failed`)."""

    def fail(constraint: str) -> None:
        shown = _shown(value, shape)
        errors.append(
            f"Value{' ' + shown if shown else ''} at '{path}' failed to satisfy constraint: "
            f"Member must {constraint}"
        )

    if shape.type == "integer":
        size, what = value, "value"
    elif shape.type in ("string", "list", "map"):
        size, what = len(value), "length"
    elif shape.type == "blob":
        size, what = _blob_length(value), "length"
    else:
        size, what = None, ""
    if size is not None and shape.min is not None and size < shape.min:
        fail(f"have {what} greater than or equal to {shape.min}")
    if size is not None and shape.max is not None and size > shape.max:
        fail(f"have {what} less than or equal to {shape.max}")
    if shape.enum and value not in shape.enum:
        fail(f"satisfy enum value set: [{', '.join(shape.enum)}]")
    if shape.pattern is not None and not _PATTERNS[shape.pattern].fullmatch(value):
        fail(f"satisfy regular expression pattern: {shape.pattern}")
    if shape.type == "structure":
        for name, member in shape.members:
            sub, at = value.get(name), _join(path, name)
            if sub is None:
                if name in shape.required:
                    errors.append(
                        f"Value null at '{at}' failed to satisfy constraint: "
                        "Member must not be null"
                    )
                continue
            _violations(SHAPES[member], sub, at, errors)
    elif shape.type == "list":
        for i, item in enumerate(value):
            if item is not None:
                _violations(SHAPES[shape.member], item, f"{path}.{i + 1}.member", errors)
    elif shape.type == "map":
        for k, item in value.items():
            at = f"{path}.{unicode_text(k)}"
            _violations(SHAPES[shape.key], k, at, errors)
            if item is not None:
                _violations(SHAPES[shape.value], item, at, errors)


def check_input(operation: str, data: dict[str, Any]) -> None:
    """Check a JSON-protocol request body ``data`` against the service model's input shape of
    ``operation`` (:data:`SHAPES`), as Kinesis' request validation does before the operation
    runs: a member of another JSON type is 400 ``SerializationException``; then every missing
    required member and every failed ``min``/``max``/``pattern``/``enum`` is listed, up to
    :data:`MAX_VALIDATION_ERRORS`, in one 400 ``ValidationException``: "2 validation errors
    detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value
    greater than or equal to 1; ..." (the AWS Kinesis API reference's "Common Errors",
    ``ValidationError``: "The input fails to satisfy the constraints specified by an AWS
    service"; the words are the service's). Members the model does not have are ignored, and
    JSON ``null`` is an absent member. Values are named with :func:`quote`."""
    shape = SHAPES[f"{operation}Input"]
    _deserialize(shape, data, "")
    errors: list[str] = []
    _violations(shape, data, "", errors)
    if errors:
        shown = errors[:MAX_VALIDATION_ERRORS]
        plural = "s" if len(shown) > 1 else ""
        raise CodecError(
            400,
            f"{len(shown)} validation error{plural} detected: {'; '.join(shown)}",
            "ValidationException",
        )


# ---- members the model has and pinlake does not act on as AWS does --------------------------
#: What pinlake does with each member of a served operation's input (:data:`SHAPES`) that it
#: does not simply use as AWS does: the one place this is decided and written down. Each is
#: ``honoured`` (as far as a Kafka-backed stream can, saying what it means here), ``refused``
#: (400 ``InvalidArgumentException`` naming why, :func:`check_members`; a value pinlake does
#: act on as asked is accepted) or ``ignored`` (harmless: nothing a client can observe differs).
#: Every other member of the served inputs is used as the AWS Kinesis API reference says
#: (tests/unit/ingest_api check that each member is one or the other). Member meanings:
#: botocore's kinesis service model and the API reference of each operation.
MEMBER_POLICY: dict[str, str] = {
    "CreateStream.StreamModeDetails": (
        "refused for ON_DEMAND, honoured for PROVISIONED: a stream is a Kafka topic whose"
        " partitions (its shards) are fixed at ShardCount when it is created and never scaled"
        " on demand, so every stream is PROVISIONED (DescribeStream says so); an ON_DEMAND"
        " stream was created PROVISIONED without a word (the new user's trial)"
    ),
    "CreateStream.MaxRecordSizeInKiB": (
        "honoured when it is the API's record limit (PINLAKE_API__MAX_RECORD_BYTES, 1024 KiB by"
        " default: every stream takes records up to it), refused otherwise: the limit is the"
        " API's, not a stream's"
    ),
    "CreateStream.RecordDistributionStrategy": (
        "honoured for USER_PARTITION_KEY (AWS's default: a record's shard is the MD5 of its"
        " partition key, or its ExplicitHashKey), refused for AUTO (records spread evenly,"
        " ignoring the key), which pinlake does not do"
    ),
    "CreateStream.Tags": (
        "ignored: no operation served here reads tags back (ListTagsForStream and the other"
        " tag operations are UnknownOperationException), and tags change nothing a stream does"
    ),
    "CreateStream.WarmThroughputMiBps": (
        "ignored: it sizes an on-demand stream's ready throughput, and pinlake never throttles"
        " a stream (no ProvisionedThroughputExceededException): all its throughput is warm"
    ),
    "DeleteStream.EnforceConsumerDeletion": (
        "ignored: no consumer registers through this API, and a stream pinlake's stream query"
        " reads is refused whatever it says (ResourceInUseException, stream_in_use)"
    ),
    "ListShards.ShardFilter": (
        "honoured: AFTER_SHARD_ID starts after its ShardId; AT_TRIM_HORIZON,"
        " FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP and FROM_TIMESTAMP list every shard, which"
        " is what each selects on a stream never resharded: every shard is open, none closed"
        " or expired (a time before the stream was created is taken as after it)"
    ),
    "ListShards.StreamCreationTimestamp": (
        "ignored: it tells apart streams of one name created at different times; the stream"
        " named is the one that exists"
    ),
    "PutRecord.SequenceNumberForOrdering": (
        "ignored: a shard's sequence numbers (its Kafka offsets) already increase in the order"
        " records arrive, which is the order it asks for"
    ),
    "GetRecords.StreamARN": (
        "honoured: it must name the iterator's stream (InvalidArgumentException otherwise)"
    ),
    "*.StreamId": (
        "ignored, as AWS does: 'Not Implemented. Reserved for future use.' (service model)"
    ),
    "*.DryRun": (
        "honoured, as AWS does: with DryRun true, PutRecord, PutRecords, GetShardIterator and"
        " GetRecords make every check the request would and answer 400"
        " DryRunOperationException if it passes them, the error it would get if not, and write,"
        " read or issue nothing (Kinesis developer guide, 'Test your permissions and request"
        " inputs with dry run'; no 1-per-second dry-run limit: pinlake never throttles). An"
        " operation whose input has no DryRun in the service model (CreateStream, DeleteStream"
        " and the other stream operations; the tutorial's CreateStream body) refuses DryRun"
        " true rather than ignore it as an unknown member and run what the client meant only"
        " to check"
    ),
}


def has_dry_run(operation: str) -> bool:
    """Whether ``operation``'s input has ``DryRun`` in the service model (:data:`SHAPES`):
    PutRecord, PutRecords, GetShardIterator and GetRecords among the served ones."""
    return "DryRun" in dict(SHAPES[f"{operation}Input"].members)


def check_members(operation: str, data: dict[str, Any], max_record_bytes: int) -> None:
    """Raise 400 ``InvalidArgumentException`` for a member value :data:`MEMBER_POLICY` refuses,
    naming the member and why; ``data`` is the request body (JSON protocol, after
    :func:`check_input`; or the tutorial's CreateStream body, whose members are read alike).
    ``DryRun`` true is refused only where the model has no DryRun (:func:`has_dry_run`); where
    it has one, the operation runs its checks and answers ``DryRunOperationException``."""
    if data.get("DryRun") is True and not has_dry_run(operation):
        raise invalid(
            f"DryRun is not served by {operation}: Kinesis has it on PutRecord, PutRecords,"
            " GetShardIterator, GetRecords and SubscribeToShard only, and pinlake does not run a"
            f" {operation} a client asked only to check. Send it without DryRun (or with DryRun"
            " false)."
        )
    if operation != "CreateStream":
        return
    details = data.get("StreamModeDetails")
    mode = details.get("StreamMode") if isinstance(details, dict) else None
    if mode is not None and mode != "PROVISIONED":
        raise invalid(
            f"StreamMode {quote(str(mode))} is not served: a stream here is a Kafka topic whose"
            " partitions (its shards) are fixed at its ShardCount when it is created and never"
            " scaled on demand. Create it PROVISIONED (give a ShardCount, or none for the"
            " API's default)."
        )
    size = data.get("MaxRecordSizeInKiB")
    if size is not None and (
        not isinstance(size, int) or isinstance(size, bool) or size * 1024 != max_record_bytes
    ):
        raise invalid(
            f"MaxRecordSizeInKiB {quote(str(size))} is not served: every stream here takes"
            f" records of up to the API's limit, {max_record_bytes // 1024} KiB"
            f" ({max_record_bytes} bytes, PINLAKE_API__MAX_RECORD_BYTES). Leave it out, or"
            " give that."
        )
    strategy = data.get("RecordDistributionStrategy")
    if strategy is not None and strategy != "USER_PARTITION_KEY":
        raise invalid(
            f"RecordDistributionStrategy {quote(str(strategy))} is not served: a record's shard"
            " is the MD5 of its partition key (or its ExplicitHashKey), USER_PARTITION_KEY."
        )
