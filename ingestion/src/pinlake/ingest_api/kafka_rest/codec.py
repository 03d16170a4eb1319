"""Kafka REST Proxy v2 produce requests as pure functions: content types, the ``records`` body,
base64/JSON encoding of keys and values, topic and partition checks.

Source: Confluent REST Proxy v2 API reference ("Content Types", "POST /topics/(string:topic_name)",
"Errors") and kafka-rest's ``ProduceRequest``/``NoSchemaRecordSerializer`` as of today: a
``json`` record is stored as the JSON text of its value, a ``binary`` one as the bytes its base64
text decodes to. Errors are :class:`~pinlake.ingest_api.wire.CodecError` with the HTTP status and
the v2 ``error_code``; the routes' route class renders them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Iterable
from typing import Any, Literal, NamedTuple

from pinlake.ingest_api.wire import (
    INVALID_TOPIC,
    REQUEST_FAULTS,
    TOO_LARGE,
    TOPIC_RE,
    CodecError,
    dumps,
    is_digits,
    is_internal_topic,
    loads,
)

JSON_V2 = "application/vnd.kafka.json.v2+json"
BINARY_V2 = "application/vnd.kafka.binary.v2+json"
SCHEMA_FORMATS = (
    "application/vnd.kafka.avro.v2+json",
    "application/vnd.kafka.jsonschema.v2+json",
    "application/vnd.kafka.protobuf.v2+json",
)
#: A Kafka partition number is a signed 32-bit int.
MAX_PARTITION = 2**31 - 1

Format = Literal["json", "binary"]


class Record(NamedTuple):
    """One record to produce; ``None`` key/value is a Kafka null, ``None`` partition lets the
    producer's partitioner choose."""

    key: bytes | None
    value: bytes | None
    partition: int | None


def invalid(message: str, code: int = 42206) -> CodecError:
    """422 with ``error_code`` 42206 ("invalid payload") or 422 (bean validation)."""
    return CodecError(422, message, code)


def bad_body(message: str) -> CodecError:
    """400 / 400: a body that is not JSON, or a field of the wrong JSON type: what rest-utils'
    ``JsonParseExceptionMapper`` and ``JsonMappingExceptionMapper`` answer for Jackson's errors
    (docs/ingestion-apis-and-performance.md, 1.3: malformed JSON, bad base64, wrong type)."""
    return CodecError(400, message, 400)


def topic_not_found(topic: str) -> CodecError:
    """404 / 40401, the v2 "topic not found"."""
    return CodecError(404, f"Topic {topic} not found.", 40401)


def partition_not_found(topic: str, partition: object) -> CodecError:
    """404 / 40402, the v2 "partition not found"."""
    return CodecError(404, f"Partition {partition} of topic {topic} not found.", 40402)


def embedded_format(media_type: str) -> Format:
    """The embedded format of a produce request's media type (parameters already stripped).

    ``json`` and ``binary`` are served; the schema formats (avro, jsonschema, protobuf) need a
    Schema Registry and anything else, plain ``application/json`` included, is unsupported:
    both raise 415 / 415 (kafka-rest's produce resource consumes only the v2 media types).
    """
    if media_type == JSON_V2:
        return "json"
    if media_type == BINARY_V2:
        return "binary"
    if media_type in SCHEMA_FORMATS:
        raise CodecError(
            415, f"Content type {media_type} needs a Schema Registry (not available).", 415
        )
    raise unsupported_media_type(media_type, (JSON_V2, BINARY_V2))


def unsupported_media_type(media_type: str, accepted: Iterable[str]) -> CodecError:
    """415 / 415 with kafka-rest's message (``HTTP 415 Unsupported Media Type``, Jersey's) followed
    by what was sent and the media types the resource accepts, e.g. ``HTTP 415 Unsupported Media
    Type: application/json; this resource accepts application/vnd.kafka.json.v2+json or
    application/vnd.kafka.binary.v2+json``."""
    sent = media_type or "no Content-Type"
    names = list(accepted)
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    return CodecError(
        415, f"HTTP 415 Unsupported Media Type: {sent}; this resource accepts {listed}", 415
    )


def check_writable(topic: str) -> None:
    """Raise 403 / 40301 for one of Kafka's internal topics
    (:func:`~pinlake.ingest_api.wire.is_internal_topic`): the broker refuses to append to them,
    which is the client's fault, not a 5xx."""
    if is_internal_topic(topic):
        raise CodecError(
            403,
            f"Cannot append to internal topic {topic}: Kafka's own topics are not produced to.",
            40301,
        )


def produce_fault(codes: Iterable[int], detail: str) -> CodecError | None:
    """The whole request's 4xx when every failed record of a produce failed by the request's
    fault (``codes``: their Kafka error codes, all in
    :data:`~pinlake.ingest_api.wire.REQUEST_FAULTS`):
    413 / 413 for a record too large for the topic, 403 / 40301 for a topic that cannot be
    written, 422 / 42206 for a record the broker refused; ``None`` when any failure is the
    cluster's (the caller answers 5xx). ``detail`` is the broker's message, kept in the answer.
    kafka-rest itself answers 200 with per-record 50002 here; pinlake never answers 200 for a
    record that was not acknowledged (README, "ingestion API")."""
    codes = set(codes)
    if not codes or not codes <= REQUEST_FAULTS:
        return None
    if codes <= TOO_LARGE:
        return CodecError(413, f"Record too large for the topic: {detail}", 413)
    if codes == {INVALID_TOPIC}:
        return CodecError(403, f"The topic cannot be written: {detail}", 40301)
    return CodecError(422, f"Records refused by the broker: {detail}", 42206)


def check_topic_name(topic: str) -> None:
    """Raise 404 / 40401 for a name Kafka cannot have (``.``, ``..``, illegal characters,
    longer than 249): such a topic cannot exist, so the broker need not be asked."""
    if not TOPIC_RE.match(topic) or topic in (".", ".."):
        raise topic_not_found(topic)


def path_partition(topic: str, text: str) -> int:
    """The partition of ``/topics/{topic}/partitions/{text}``: decimal digits, at most 9 of
    them (a 32-bit partition); otherwise 404 / 40402."""
    if not is_digits(text) or len(text) > 9:
        raise partition_not_found(topic, text)
    return int(text)


def encode_data(item: Any, fmt: Format, what: str) -> bytes | None:
    """Bytes of a record's ``key`` or ``value`` (``what`` names it in errors).

    ``json``: the compact JSON text of any JSON value (a string keeps its quotes). ``binary``:
    the bytes of standard base64 text; anything else is 400 / 400. ``None`` stays None.
    """
    if item is None:
        return None
    if fmt == "json":
        return dumps(item)
    if not isinstance(item, str):
        raise bad_body(f"{what}: data={item!r:.40} is not a base64 string.")
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError):
        raise bad_body(f"{what}: data={item!r:.40} is not a valid base64 string.") from None


def _valid_partition(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PARTITION


def parse_records(body: bytes, fmt: Format, max_record: int) -> list[Record]:
    """Validate a v2 produce body ``{"records": [{"key"?, "value"?, "partition"?}, ...]}``.

    Returns one :class:`Record` per entry, in order. Raises :class:`CodecError`:
    400 / 400 for a body that is not JSON or not a JSON object, a ``records`` that is not an
    array, an entry that is not an object, a ``partition`` that is not an integer, or bad
    base64 (rest-utils' Jackson mappers); 422 / 42206 for a ``partition`` outside
    [0, 2**31 - 1]; 422 / 422 for ``records`` missing, null or empty ("records may not be empty");
    413 / 413 when a record's key + value bytes exceed ``max_record``.
    """
    try:
        data = loads(body)
    except ValueError as exc:
        raise bad_body(f"Unrecognized JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise bad_body("Request body must be a JSON object with a records field.")
    records = data.get("records")
    if records is None:
        raise invalid("records may not be null", 422)
    if not isinstance(records, list):
        raise bad_body("records must be an array")
    if not records:
        raise invalid("records may not be empty", 422)
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise bad_body(f"records[{i}] must be an object")
        partition = rec.get("partition")
        if partition is not None and (
            not isinstance(partition, int) or isinstance(partition, bool)
        ):
            raise bad_body(f"records[{i}].partition must be an integer")
        if partition is not None and not _valid_partition(partition):
            raise invalid(f"records[{i}].partition must be a non-negative integer")
        key = encode_data(rec.get("key"), fmt, f"records[{i}].key")
        value = encode_data(rec.get("value"), fmt, f"records[{i}].value")
        if len(value or b"") + len(key or b"") > max_record:
            raise CodecError(
                413, f"records[{i}] is larger than the {max_record}-byte record limit", 413
            )
        out.append(Record(key, value, partition))
    return out


def place_records(
    records: list[Record], topic: str, partitions: Collection[int], path_partition: int | None
) -> list[Record]:
    """The records with the path's partition applied (it overrides each record's), checked
    against the topic's ``partitions``: a partition the topic lacks is 404 / 40402."""
    if path_partition is not None:
        records = [Record(k, v, path_partition) for k, v, _ in records]
    for rec in records:
        if rec.partition is not None and rec.partition not in partitions:
            raise partition_not_found(topic, rec.partition)
    return records
