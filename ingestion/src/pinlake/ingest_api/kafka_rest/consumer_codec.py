"""Kafka REST Proxy v2 consumer requests and responses as pure functions.

Source: kafka-rest (``confluentinc/kafka-rest``, HEAD of 2026-08): ``resources/v2/
ConsumersResource.java`` (routes, ``@Produces``/``@Consumes``), ``entities/v2/*`` (bodies:
``CreateConsumerInstanceRequest``, ``ConsumerSubscriptionRecord``, ``ConsumerOffsetCommitRequest``,
``ConsumerCommittedRequest``, ``ConsumerSeekRequest``, ``ConsumerSeekToRequest``,
``ConsumerAssignmentRequest``, ``JsonConsumerRecord``, ``BinaryConsumerRecord``), ``Errors.java``
(codes), ``Versions.java`` (media types and their ``qs`` weights), ``KafkaRestExceptionMapper``
(408 / 40801 for a record the JSON deserializer refuses) and ``v2/KafkaConsumerReadTask.java``
(read timeout, ``max_bytes``, ``fetch.min.bytes``); the Confluent REST Proxy API v2 reference
("Consumers"). Jersey's rules where kafka-rest leaves them to it: a query parameter that is not a
number is 404 (JAX-RS ``@QueryParam`` conversion), an unacceptable ``Accept`` is 406 / 406 and
an unsupported ``Content-Type`` 415 / 415.

Errors are :class:`~pinlake.ingest_api.wire.CodecError` (HTTP status, v2 ``error_code``); the
router's route class renders them as ``{"error_code", "message"}``. Deliberate differences from
kafka-rest, each the safer reading: unknown body fields are ignored; a body field of the wrong
JSON type is 400 / 400 (Jackson's mapping error) rather than a 500; a consumer ``name`` holding
``/`` is refused (it could never be addressed); the schema formats (avro, jsonschema, protobuf)
are refused at creation (no Schema Registry here).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

from pinlake.ingest_api.kafka_rest.codec import (
    BINARY_V2,
    JSON_V2,
    MAX_PARTITION,
    SCHEMA_FORMATS,
    bad_body,
    unsupported_media_type,
)
from pinlake.ingest_api.wire import CodecError, is_unicode, loads

#: The v2 media type without an embedded format (control requests and responses).
KAFKA_V2 = "application/vnd.kafka.v2+json"
#: What the consumers resource consumes (``@Consumes`` of ``ConsumersResource``).
REQUEST_TYPES = frozenset({KAFKA_V2, JSON_V2, BINARY_V2, *SCHEMA_FORMATS})
#: The most a partition offset can be (a Java long).
MAX_OFFSET = 2**63 - 1
#: kafka-rest's ``fetch.min.bytes`` range (``PROXY_FETCH_MIN_BYTES_VALIDATOR``).
MAX_FETCH_MIN_BYTES = 10_000_000

Format = Literal["json", "binary"]
#: The read a ``GET …/records`` is routed to by its ``Accept`` header; ``schema`` is one of the
#: schema formats, which no instance here has (so it is always a format mismatch).
ReadFormat = Literal["json", "binary", "schema"]

#: ``(server media type, qs, read)`` of the ``GET …/records`` methods (``Versions.java``:
#: binary 1.0, v2 0.9 on the binary method, json and the schema formats 0.1).
_READ_TYPES: tuple[tuple[str, float, ReadFormat], ...] = (
    (BINARY_V2, 1.0, "binary"),
    (KAFKA_V2, 0.9, "binary"),
    (JSON_V2, 0.1, "json"),
    *((t, 0.1, "schema") for t in SCHEMA_FORMATS),
)


# ---- errors ------------------------------------------------------------------------------------
def instance_not_found() -> CodecError:
    """404 / 40403 (``Errors.consumerInstanceNotFoundException``)."""
    return CodecError(404, "Consumer instance not found.", 40403)


def instance_exists() -> CodecError:
    """409 / 40902 (``Errors.consumerAlreadyExistsException``)."""
    return CodecError(
        409,
        "Consumer with specified consumer ID already exists in the specified consumer group.",
        40902,
    )


def illegal_state(detail: str) -> CodecError:
    """409 / 40903 (``Errors.illegalStateException``): e.g. subscribe after assign."""
    return CodecError(409, f"Illegal state: {detail}", 40903)


def format_mismatch() -> CodecError:
    """406 / 40601 (``Errors.consumerFormatMismatch``): the ``Accept`` of a read names another
    embedded format than the instance's."""
    return CodecError(
        406,
        "The requested embedded data format does not match the deserializer for this consumer "
        "instance",
        40601,
    )


def not_acceptable() -> CodecError:
    """406 / 406: no media type the read produces is acceptable (Jersey)."""
    return CodecError(406, "HTTP 406 Not Acceptable", 406)


def invalid_config(detail: str) -> CodecError:
    """422 / 42204 (``Errors.invalidConsumerConfigException``)."""
    return CodecError(422, f"Invalid consumer configuration: {detail}", 42204)


def partition_not_found() -> CodecError:
    """404 / 40402 (``Errors.partitionNotFoundException``): ``GET …/offsets`` without a body."""
    return CodecError(404, "Partition not found.", 40402)


def constraint(message: str) -> CodecError:
    """422 / 422: a body that breaks an entity's constraints (bean validation)."""
    return CodecError(422, message, 422)


def undecodable(detail: str) -> CodecError:
    """408 / 40801: a json consumer read a key or value that is not JSON text
    (``KafkaRestExceptionMapper`` maps the deserializer's ``SerializationException`` so)."""
    return CodecError(408, f"Error deserializing key/value as JSON: {detail}", 40801)


def kafka_error(detail: str, retriable: bool, unknown_partition: bool = False) -> CodecError:
    """A Kafka error as rest-utils' ``KafkaExceptionMapper`` answers it: 404 / 40403 for a topic
    or partition that does not exist (``UnknownTopicOrPartitionException``), 500 / 50003 for a
    retriable one (``RetriableException``), else 500 / 50002 ("Kafka error: …")."""
    if unknown_partition:
        return CodecError(404, f"Kafka error: {detail}", 40403)
    if retriable:
        return CodecError(500, f"Kafka error: {detail}", 50003)
    return CodecError(500, f"Kafka error: {detail}", 50002)


# ---- request bodies ----------------------------------------------------------------------------
def check_content_type(media_type: str, body: bytes) -> None:
    """Raise 415 / 415 unless the request's media type (parameters stripped) is one the consumers
    resource consumes; a request without body and without ``Content-Type`` passes."""
    if not media_type and not body:
        return
    if media_type not in REQUEST_TYPES:
        raise unsupported_media_type(media_type, (KAFKA_V2, JSON_V2, BINARY_V2))


def parse_body(body: bytes) -> Any:
    """The JSON value of a request body; ``None`` for an empty body or ``null``. Raises 400 / 400
    for anything that is not JSON text."""
    if not body.strip():
        return None
    try:
        return loads(body)
    except ValueError as exc:
        raise bad_body(f"Unrecognized JSON body: {exc}") from None


def _object(data: Any, what: str) -> dict:
    if not isinstance(data, dict):
        raise bad_body(f"{what} must be a JSON object")
    return data


def _string(data: dict, field: str) -> str | None:
    """A string field of a consumer request (a name, a setting), None when absent. 400 / 400
    for another JSON type, or for a string with an unpaired surrogate (JSON's ``"\\ud800"``,
    which the parser lets through): such a name has no UTF-8 bytes for a URL or Kafka's
    config, where it failed with a 500."""
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise bad_body(f"{field} must be a string")
    return value if value is None else _unicode(value, field)


def _int(data: dict, field: str, what: str | None = None) -> int | None:
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_body(f"{what or field} must be an integer")
    return value


def _list(data: dict, field: str) -> list | None:
    value = data.get(field)
    if value is not None and not isinstance(value, list):
        raise bad_body(f"{field} must be an array")
    return value


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """A ``POST /consumers/{group}`` body, checked.

    ``name``: the instance's name (``id`` overrides ``name``; ``None``: one is generated).
    ``format``: ``json`` or ``binary`` (default ``binary``). ``auto_offset_reset``: ``earliest``,
    ``latest``, ``none`` or ``None`` (Kafka's default, ``latest``). ``auto_commit``: ``None`` is
    Kafka's default (true). ``fetch_min_bytes``: -1..10,000,000 or ``None`` (wait the whole read
    timeout). ``request_wait_ms``: the instance's read timeout in ms, ``None`` for the proxy's.
    """

    name: str | None = None
    format: Format = "binary"
    auto_offset_reset: str | None = None
    auto_commit: bool | None = None
    fetch_min_bytes: int | None = None
    request_wait_ms: int | None = None


def parse_create(data: Any) -> InstanceConfig:
    """Check a parsed ``POST /consumers/{group}`` body (``None``: every default).

    Fields: ``name``, ``id``, ``format`` (case-insensitive), ``auto.offset.reset``,
    ``auto.commit.enable`` (``"true"``/``"false"`` or a JSON boolean), ``fetch.min.bytes``
    (alias ``responseMinBytes``), ``consumer.request.timeout.ms`` (alias ``requestWaitMs``).
    Raises 400 / 400 for a field of the wrong JSON type; 422 / 422 for an unknown format;
    422 / 42204 for a schema format, a bad ``auto.offset.reset`` or ``auto.commit.enable``, or a
    name that is empty or holds ``/``; 422 / 40001 for ``fetch.min.bytes`` out of range
    (``Errors.invalidConsumerConfigConstraintException``).
    """
    if data is None:
        return InstanceConfig()
    data = _object(data, "The consumer instance request")
    given_id = _string(data, "id")
    name = given_id if given_id is not None else _string(data, "name")
    if name is not None and (not name or "/" in name):
        raise invalid_config(f"instance name {name!r} must be non-empty and hold no '/'")
    fmt_text = _string(data, "format")
    fmt = "binary" if fmt_text is None else fmt_text.lower()
    if fmt in ("avro", "jsonschema", "protobuf"):
        raise invalid_config(f"format {fmt} needs a Schema Registry (not available)")
    if fmt not in ("json", "binary"):
        raise constraint("Invalid format type.")
    reset = _string(data, "auto.offset.reset")
    if reset is not None:
        reset = reset.strip().lower()
        if reset not in ("earliest", "latest", "none"):
            raise invalid_config(
                f"Invalid value {reset} for configuration auto.offset.reset: "
                "String must be one of: latest, earliest, none"
            )
    commit_raw = data.get("auto.commit.enable")
    if commit_raw is None or isinstance(commit_raw, bool):
        auto_commit = commit_raw
    elif isinstance(commit_raw, str) and commit_raw.strip().lower() in ("true", "false"):
        auto_commit = commit_raw.strip().lower() == "true"
    else:
        raise invalid_config(
            f"Invalid value {commit_raw} for configuration enable.auto.commit: "
            "Expected value to be either true or false"
        )
    min_field = "fetch.min.bytes" if "fetch.min.bytes" in data else "responseMinBytes"
    min_bytes = _int(data, min_field, "fetch.min.bytes")
    if min_bytes is not None and not -1 <= min_bytes <= MAX_FETCH_MIN_BYTES:
        raise CodecError(
            422,
            "Invalid consumer configuration. It does not abide by the constraints: "
            f"Invalid value {min_bytes} for configuration fetch.min.bytes: Value must be "
            f"in [-1, {MAX_FETCH_MIN_BYTES}]",
            40001,
        )
    wait_field = (
        "consumer.request.timeout.ms" if "consumer.request.timeout.ms" in data else "requestWaitMs"
    )
    wait_ms = _int(data, wait_field, "consumer.request.timeout.ms")
    if wait_ms is not None and wait_ms < 0:
        raise invalid_config(f"consumer.request.timeout.ms {wait_ms} must not be negative")
    return InstanceConfig(name, fmt, reset, auto_commit, min_bytes, wait_ms)  # type: ignore[arg-type]


class Subscription(NamedTuple):
    """What an instance subscribes to: ``topics`` (a list) or ``pattern`` (a Java-style regular
    expression matched against whole topic names); both ``None`` is a no-op."""

    topics: list[str] | None
    pattern: str | None


def _unicode(value: str, what: str) -> str:
    """``value``, unless it holds an unpaired surrogate (JSON's ``"\\ud800"``, which the parser
    lets through): 400 / 400. Every string of a consumer body that reaches Kafka's client goes
    through here: librdkafka crashed the whole API process (a segfault) on a subscription to
    such a topic name, and a partition's name failed with a 500 (helper-51's trial)."""
    if not is_unicode(value):
        raise bad_body(f"{what} must be Unicode text: it holds an unpaired surrogate")
    return value


def _topic(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise bad_body(f"{what} must be a string")
    if not value:
        raise constraint(f"{what} may not be empty")
    return _unicode(value, what)


def parse_subscription(data: Any) -> Subscription:
    """Check a parsed ``POST …/subscription`` body ``{"topics": [..]}`` or
    ``{"topic_pattern": "re"}`` (``topics`` wins when both are given, as in kafka-rest).

    Raises 422 / 422 for no body (``@NotNull``) or an empty topic name, 400 / 400 for wrong
    JSON types, 422 / 42204 for a pattern that is not a valid regular expression.
    """
    if data is None:
        raise constraint("subscription may not be null")
    data = _object(data, "The subscription")
    topics = _list(data, "topics")
    if topics is not None:
        return Subscription([_topic(t, f"topics[{i}]") for i, t in enumerate(topics)], None)
    pattern = _string(data, "topic_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise invalid_config(
                f"topic_pattern {pattern!r} is not a regular expression: {exc}"
            ) from None
    return Subscription(None, pattern)


def pattern_subscription(pattern: str) -> str:
    """The librdkafka subscription of a whole-name pattern: librdkafka reads a topic starting
    with ``^`` as a regular expression that may match part of a name, Java's
    ``subscribe(Pattern)`` the whole name, hence ``^(pattern)$``."""
    return f"^({pattern})$"


class TopicPartition(NamedTuple):
    """A partition of a topic, as the bodies name it."""

    topic: str
    partition: int


class PartitionOffset(NamedTuple):
    """An offset of a partition with the commit metadata (``""`` when none was given)."""

    topic: str
    partition: int
    offset: int
    metadata: str


class PartitionTimestamp(NamedTuple):
    """A timestamp (epoch milliseconds) of a partition, for a seek by time."""

    topic: str
    partition: int
    timestamp_ms: int
    metadata: str


def _partition_of(item: Any, what: str) -> TopicPartition:
    item = _object(item, what)
    topic = _topic(item.get("topic"), f"{what}.topic")
    partition = _int(item, "partition", f"{what}.partition")
    if partition is None or not 0 <= partition <= MAX_PARTITION:
        raise constraint(f"{what}.partition must be an integer in [0, {MAX_PARTITION}]")
    return TopicPartition(topic, partition)


def _metadata(item: dict, what: str) -> str:
    value = item.get("metadata")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_body(f"{what}.metadata must be a string")
    return _unicode(value, f"{what}.metadata")


def _offset(item: dict, what: str) -> int:
    offset = _int(item, "offset", f"{what}.offset")
    if offset is None or not 0 <= offset <= MAX_OFFSET:
        raise constraint(f"{what}.offset must be an integer in [0, {MAX_OFFSET}]")
    return offset


def parse_partitions(data: Any, field: str = "partitions") -> list[TopicPartition]:
    """The ``partitions`` list of an assignment, seek-to or committed-offsets body
    (``{"partitions": [{"topic", "partition"}, ...]}``), in order.

    Raises 422 / 422 for no body (``@NotNull``), a missing ``partitions``, an empty topic or a
    partition outside [0, 2**31 - 1]; 400 / 400 for wrong JSON types.
    """
    if data is None:
        raise constraint("The request body may not be null")
    items = _list(_object(data, "The request body"), field)
    if items is None:
        raise constraint(f"{field} may not be null")
    return [_partition_of(item, f"{field}[{i}]") for i, item in enumerate(items)]


def parse_commit(data: Any) -> list[PartitionOffset] | None:
    """A parsed ``POST …/offsets`` body: ``None`` (no body, or no ``offsets``) commits what the
    instance has returned so far; else the given ``offsets`` (``[{"topic", "partition",
    "offset", "metadata"?}]``: the offset of the last record processed; ``offset + 1`` is
    committed, as kafka-rest does). Raises 422 / 422 or 400 / 400 like :func:`parse_partitions`.
    """
    if data is None:
        return None
    items = _list(_object(data, "The offsets request"), "offsets")
    if items is None:
        return None
    out = []
    for i, item in enumerate(items):
        what = f"offsets[{i}]"
        tp = _partition_of(item, what)
        out.append(PartitionOffset(*tp, _offset(item, what), _metadata(item, what)))
    return out


def _timestamp_ms(value: Any, what: str) -> int:
    """Epoch milliseconds of an ISO 8601 instant (``2026-01-02T03:04:05.678Z``, as Jackson
    writes a Java ``Instant``) or of a number of epoch milliseconds."""
    from datetime import datetime

    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise constraint(f"{what} must not be negative")
        return value
    if not isinstance(value, str):
        raise bad_body(f"{what} must be an ISO 8601 instant")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_body(f"{what} {value!r} is not an ISO 8601 instant") from None
    if moment.tzinfo is None:
        raise bad_body(f"{what} {value!r} has no time zone")
    millis = int(moment.timestamp() * 1000)
    if millis < 0:
        raise constraint(f"{what} must not be before 1970")
    return millis


def parse_seek(data: Any) -> tuple[list[PartitionOffset], list[PartitionTimestamp]]:
    """A parsed ``POST …/positions`` body ``{"offsets": [{"topic", "partition", "offset",
    "metadata"?}], "timestamps": [{"topic", "partition", "timestamp", "metadata"?}]}`` (either
    list may be absent): ``(offsets, timestamps)``. Raises 422 / 422 for no body, bad offsets
    or partitions; 400 / 400 for wrong JSON types or a timestamp that is not an instant.
    """
    if data is None:
        raise constraint("The request body may not be null")
    data = _object(data, "The seek request")
    offsets = []
    for i, item in enumerate(_list(data, "offsets") or []):
        what = f"offsets[{i}]"
        tp = _partition_of(item, what)
        offsets.append(PartitionOffset(*tp, _offset(item, what), _metadata(item, what)))
    stamps = []
    for i, item in enumerate(_list(data, "timestamps") or []):
        what = f"timestamps[{i}]"
        tp = _partition_of(item, what)
        millis = _timestamp_ms(item.get("timestamp"), f"{what}.timestamp")
        stamps.append(PartitionTimestamp(*tp, millis, _metadata(item, what)))
    return offsets, stamps


# ---- reads -------------------------------------------------------------------------------------
def _accept_entries(accept: str) -> list[tuple[str, float]]:
    entries = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if "/" not in media:
            media = media + "/*" if media == "*" else media
        entries.append((media, min(max(q, 0.0), 1.0)))
    return entries


def _accepts(client: str, server: str) -> bool:
    if client in ("*/*", "*"):
        return True
    ctype, _, csub = client.partition("/")
    stype, _, _ = server.partition("/")
    return client == server or (csub == "*" and ctype == stype)


def read_format(accept: str) -> tuple[ReadFormat, str]:
    """Which read a ``GET …/records`` is, from its ``Accept`` header, and the response's media
    type: ``("json", JSON_V2)``, ``("binary", BINARY_V2 or KAFKA_V2)`` or ``("schema", type)``.

    JAX-RS content negotiation over the read methods' ``@Produces`` (``Versions.java``): the
    client's quality ``q`` first, then the server's ``qs`` (binary 1.0, the bare v2 type 0.9 on
    the binary read, json and the schema formats 0.1). No header, or ``*/*``, is the binary read.
    Raises 406 / 406 when no produced type is acceptable (``application/json``, ``text/plain``).
    """
    entries = _accept_entries(accept) or [("*/*", 1.0)]
    best: tuple[float, float, ReadFormat, str] | None = None
    for media, q in entries:
        if q <= 0:
            continue
        for server, qs, fmt in _READ_TYPES:
            if _accepts(media, server) and (best is None or (q, qs) > best[:2]):
                best = (q, qs, fmt, server)
    if best is None:
        raise not_acceptable()
    return best[2], best[3]


def _query_long(value: str | None) -> int:
    if value is None:
        return -1
    text = value.strip()
    if not re.fullmatch(r"[+-]?\d{1,19}", text) or not -(2**63) <= int(text) < 2**63:
        raise CodecError(404, "HTTP 404 Not Found", 404)
    return int(text)


class ReadLimits(NamedTuple):
    """How one read runs: ``wait_s`` seconds at most; at most ``max_bytes`` of keys and values
    answered; it ends early once more than ``min_bytes`` were read."""

    wait_s: float
    max_bytes: int
    min_bytes: int


def read_limits(
    timeout: str | None,
    max_bytes: str | None,
    config: InstanceConfig,
    default_timeout_ms: int,
    request_max_bytes: int,
) -> ReadLimits:
    """The limits of ``GET …/records?timeout=<ms>&max_bytes=<n>`` (``KafkaConsumerReadTask``).

    The wait is the instance's ``consumer.request.timeout.ms`` (else ``default_timeout_ms``),
    shortened to ``timeout`` when that is positive. ``max_bytes`` <= 0 or absent is no limit
    but ``request_max_bytes`` (``consumer.request.max.bytes``). ``min_bytes`` is the instance's
    ``fetch.min.bytes``; -1 or absent never ends a read early. Raises 404 / 404 for a parameter
    that is not a 64-bit integer (JAX-RS ``@QueryParam`` conversion).
    """
    timeout_ms = _query_long(timeout)
    limit = _query_long(max_bytes)
    wait_ms = config.request_wait_ms if config.request_wait_ms is not None else default_timeout_ms
    if timeout_ms > 0:
        wait_ms = min(wait_ms, timeout_ms)
    limit = request_max_bytes if limit <= 0 else min(limit, request_max_bytes)
    min_bytes = config.fetch_min_bytes
    if min_bytes is None or min_bytes < 0:
        min_bytes = 2**63
    return ReadLimits(wait_ms / 1000, limit, min_bytes)


class RawRecord(NamedTuple):
    """One Kafka record as read: raw key and value bytes (``None`` for a Kafka null)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


def _json_of(data: bytes | None, what: str) -> Any:
    if data is None:
        return None
    try:
        return loads(data)
    except ValueError as exc:
        raise undecodable(f"{what} is not JSON text ({exc})") from None


def record_body(record: RawRecord, fmt: Format) -> dict:
    """One element of a read's response: ``{"topic", "key", "value", "partition", "offset"}``.

    ``binary``: key and value as standard base64 text (``BinaryConsumerRecord``). ``json``: the
    JSON values their bytes hold (``JsonConsumerRecord``); bytes that are not JSON text raise
    408 / 40801. A Kafka null stays ``null``.
    """
    if fmt == "binary":
        key = None if record.key is None else base64.b64encode(record.key).decode()
        value = None if record.value is None else base64.b64encode(record.value).decode()
    else:
        where = f"{record.topic}/{record.partition}@{record.offset}"
        key = _json_of(record.key, f"key of {where}")
        value = _json_of(record.value, f"value of {where}")
    return {
        "topic": record.topic,
        "key": key,
        "value": value,
        "partition": record.partition,
        "offset": record.offset,
    }


def record_size(record: RawRecord) -> int:
    """The bytes a record counts for against ``max_bytes``: its key and value lengths."""
    return len(record.key or b"") + len(record.value or b"")


# ---- responses ---------------------------------------------------------------------------------
def base_uri(base_url: str, stage_prefix: str, group: str, instance: str) -> str:
    """The ``base_uri`` of a new instance: the URL the client called (scheme, host, root path:
    ``base_url``), the stage prefix it used (``"/test"`` or ``""``), then
    ``/consumers/<group>/instances/<instance>`` with both names percent-encoded."""
    root = base_url.rstrip("/") + stage_prefix
    return f"{root}/consumers/{quote(group, safe='')}/instances/{quote(instance, safe='')}"


def create_response(instance_id: str, uri: str) -> dict:
    """``{"instance_id", "base_uri"}`` (``CreateConsumerInstanceResponse``)."""
    return {"instance_id": instance_id, "base_uri": uri}


def subscription_response(topics: list[str]) -> dict:
    """``{"topics": [...]}`` (``ConsumerSubscriptionResponse``)."""
    return {"topics": list(topics)}


def partitions_response(partitions: list[TopicPartition]) -> dict:
    """``{"partitions": [{"topic", "partition"}, ...]}`` (``ConsumerAssignmentResponse``)."""
    return {"partitions": [{"topic": t, "partition": p} for t, p in partitions]}


def committed_response(offsets: list[PartitionOffset]) -> dict:
    """``{"offsets": [{"topic", "partition", "offset", "metadata"}, ...]}``
    (``ConsumerCommittedResponse``): the committed offset is the next one to read."""
    return {
        "offsets": [
            {"topic": t, "partition": p, "offset": o, "metadata": m} for t, p, o, m in offsets
        ]
    }
