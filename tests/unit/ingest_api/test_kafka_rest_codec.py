"""The Kafka REST v2 produce codec as pure functions: content types, ``parse_records``
(acceptance, rejection, base64, partition bounds, size limits, unicode) and partition checks."""

from __future__ import annotations

import base64
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.ingest_api.kafka_rest import codec
from pinlake.ingest_api.kafka_rest.codec import BINARY_V2, JSON_V2, Record
from pinlake.ingest_api.wire import CodecError, dumps, has_long_digit_run, loads

#: No example database on disk, no per-example deadline (a loaded machine must not flake).
FAST = settings(database=None, deadline=None)

# Integers of any size, also beyond 64 bits (where orjson alone would turn them into floats).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
good_partitions = st.none() | st.integers(0, codec.MAX_PARTITION)


def body(records) -> bytes:
    return orjson.dumps({"records": records})


def rejected(raw: bytes, fmt: codec.Format = "json", max_record: int = 1000) -> CodecError:
    with pytest.raises(CodecError) as info:
        codec.parse_records(raw, fmt, max_record)
    return info.value


@settings(FAST, max_examples=60)
@given(st.lists(st.tuples(json_values, json_values, good_partitions), min_size=1, max_size=4))
def test_json_records_are_stored_as_their_json_text(entries):
    records = [{"key": k, "value": v, "partition": p} for k, v, p in entries]
    parsed = codec.parse_records(dumps({"records": records}), "json", 10**6)
    assert len(parsed) == len(entries)
    for rec, (k, v, p) in zip(parsed, entries, strict=True):
        assert rec.partition == p
        assert rec.key is None if k is None else loads(rec.key) == k
        assert rec.value is None if v is None else loads(rec.value) == v


def test_integers_beyond_64_bits_are_stored_exactly():
    raw = b'{"records":[{"value":{"n":-9223372036854775809,"m":18446744073709551616}}]}'
    (rec,) = codec.parse_records(raw, "json", 100)
    assert rec.value == b'{"n":-9223372036854775809,"m":18446744073709551616}'
    assert loads(b"[1.5e300, 12345678901234567890123]") == [1.5e300, 12345678901234567890123]


# bytes mostly of digits (and a non-ASCII digit, U+0660, which ``\d`` on bytes does not match)
digit_heavy = st.text(alphabet="0123456789 a.-\u0660", max_size=80).map(str.encode)


@settings(FAST, max_examples=300)
@given(st.binary(max_size=80) | digit_heavy)
def test_long_digit_run_check_is_the_regex_it_replaced(raw):
    """The fast check that sends a body to the exact parser finds what ``\\d{19}`` finds (ASCII
    digits only: a bytes pattern's ``\\d``), nothing more or less."""
    assert has_long_digit_run(raw) == (re.search(rb"\d{19}", raw) is not None)


def test_a_json_string_keeps_its_quotes_and_unicode():
    (rec,) = codec.parse_records(body([{"key": "k", "value": "héllo ☃"}]), "json", 100)
    assert rec == Record(b'"k"', '"héllo ☃"'.encode(), None)


@FAST
@given(st.text(max_size=30))
def test_any_unicode_text_survives_a_round_trip(text):
    raw = orjson.dumps({"records": [{"value": text}]}) if text.isprintable() else None
    if raw is None:  # lone surrogates etc.: as the stdlib's escaped JSON text
        import json

        raw = json.dumps({"records": [{"value": text}]}).encode()
    (rec,) = codec.parse_records(raw, "json", 10**6)
    assert loads(rec.value) == text


@FAST
@given(st.binary(max_size=200), st.binary(max_size=20))
def test_binary_records_are_the_bytes_of_their_base64(value, key):
    records = [{"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}]
    assert codec.parse_records(body(records), "binary", 10**6) == [Record(key, value, None)]


@pytest.mark.parametrize("value", ["not base64!!", "abc", 5, {"a": 1}, ["x"], True])
def test_binary_rejects_what_is_not_base64_text(value):
    err = rejected(body([{"value": value}]), "binary")
    assert (err.status, err.code) == (400, 400)  # rest-utils: Jackson's mapping error
    assert "base64 string" in err.message


@FAST
@given(st.integers(-(2**40), 2**40))
def test_partition_must_be_a_32_bit_non_negative_int(partition):
    raw = body([{"value": 1, "partition": partition}])
    if 0 <= partition <= 2**31 - 1:
        assert codec.parse_records(raw, "json", 100)[0].partition == partition
    else:
        err = rejected(raw)
        assert (err.status, err.code) == (422, 42206)


@pytest.mark.parametrize("partition", [True, False, "0", 1.0, [0], {}])
def test_partition_of_another_type_is_rejected(partition):
    err = rejected(body([{"value": 1, "partition": partition}]))
    assert (err.status, err.code) == (400, 400)


@FAST
@given(st.integers(0, 64), st.integers(0, 64), st.integers(1, 100))
def test_size_limit_counts_key_plus_value_bytes(key_len, value_len, limit):
    records = [
        {
            "key": base64.b64encode(b"k" * key_len).decode(),
            "value": base64.b64encode(b"v" * value_len).decode(),
        }
    ]
    if key_len + value_len <= limit:
        assert codec.parse_records(body(records), "binary", limit)[0].value == b"v" * value_len
    else:
        err = rejected(body(records), "binary", limit)
        assert (err.status, err.code) == (413, 413)


# (the HTTP contract test test_malformed_body_is_4xx sends a dozen more through the server)
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"  ", 400),
        (b"null", 400),
        (b'"records"', 400),
        (b'{"records": false}', 400),
        (b'{"records": "x"}', 400),
        (b'{"records": [null]}', 400),
        (b'{"records": [[]]}', 400),
        (b'{"records": [{"value": Infinity}]}', 400),
        # beyond a double (helper-82: stored as null, or with a big integer as Infinity)
        (b'{"records": [{"value": {"age": 1e999}}]}', 400),
        (b'{"records": [{"value": {"i": 18446744073709551616, "age": -1.8e308}}]}', 400),
        (b'{"records": [{"value": 1}], "records": []}', 422),
        (b'{"records":[{"value":' + b"[" * 5000 + b"]" * 5000 + b"}]}", 400),
    ],
)
def test_malformed_bodies_are_400_and_invalid_ones_422(raw, status):
    """Not JSON, or a field of the wrong JSON type: 400 / 400 (rest-utils' Jackson mappers;
    docs/ingestion-apis-and-performance.md 1.3); records empty: 422 / 422 (bean validation)."""
    err = rejected(raw)
    assert (err.status, err.code) == (status, status)


@FAST
@given(st.binary(max_size=300), st.sampled_from(["json", "binary"]))
def test_any_bytes_are_records_or_a_4xx_codec_error(raw, fmt):
    try:
        records = codec.parse_records(raw, fmt, 100)
    except CodecError as exc:
        assert (exc.status, exc.code) in ((400, 400), (422, 42206), (422, 422), (413, 413))
    else:
        assert records and all(isinstance(r, Record) for r in records)


@pytest.mark.parametrize(("media_type", "fmt"), [(JSON_V2, "json"), (BINARY_V2, "binary")])
def test_embedded_formats_served(media_type, fmt):
    assert codec.embedded_format(media_type) == fmt


@pytest.mark.parametrize(
    "media_type",
    [
        "application/json",
        "text/plain",
        "",
        "application/vnd.kafka.v2+json",
        "application/vnd.kafka.avro.v2+json",
        "application/vnd.kafka.protobuf.v2+json",
    ],
)
def test_other_media_types_are_415(media_type):
    with pytest.raises(CodecError) as info:
        codec.embedded_format(media_type)
    assert (info.value.status, info.value.code) == (415, 415)
    if "avro" not in media_type and "protobuf" not in media_type:
        # kafka-rest's words first, then what was sent and what the resource accepts
        assert info.value.message == (
            f"HTTP 415 Unsupported Media Type: {media_type or 'no Content-Type'}; this resource "
            "accepts application/vnd.kafka.json.v2+json or application/vnd.kafka.binary.v2+json"
        )


@pytest.mark.parametrize("topic", ["bad/name", "x" * 250, "..", ".", "ünï", ""])
def test_impossible_topic_names_are_404_40401(topic):
    with pytest.raises(CodecError) as info:
        codec.check_topic_name(topic)
    assert (info.value.status, info.value.code) == (404, 40401)


def test_possible_topic_names_pass():
    for topic in ("pinterest.pin", "a", "x" * 249, "A-b_c.1"):
        codec.check_topic_name(topic)


def test_path_partition_and_placement():
    assert codec.path_partition("t", "0") == 0
    assert codec.path_partition("t", "999999999") == 999_999_999
    for text in ("x", "-1", "1234567890", ""):
        with pytest.raises(CodecError) as info:
            codec.path_partition("t", text)
        assert (info.value.status, info.value.code) == (404, 40402)
    records = [Record(None, b"1", None), Record(None, b"2", 3)]
    assert codec.place_records(records, "t", {0, 1}, 1) == [
        Record(None, b"1", 1),
        Record(None, b"2", 1),
    ]
    assert codec.place_records(records[:1], "t", {0}, None) == records[:1]
    with pytest.raises(CodecError) as info:
        codec.place_records(records, "t", {0, 1}, None)
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        40402,
        "Partition 3 of topic t not found.",
    )


@pytest.mark.parametrize("topic", ["__consumer_offsets", "__transaction_state", "__x"])
def test_kafkas_internal_topics_are_not_produced_to(topic):
    with pytest.raises(CodecError) as info:
        codec.check_writable(topic)
    assert (info.value.status, info.value.code) == (403, 40301)
    assert f"Cannot append to internal topic {topic}" in info.value.message
    codec.check_writable("_one_underscore")  # not internal: passes


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([10], (413, 413)),
        ([10, 18], (413, 413)),
        ([17], (403, 40301)),
        ([87], (422, 42206)),
        ([10, 87], (422, 42206)),
        ([10, 7], None),  # one request timed out: the cluster's, a 5xx
        ([1], None),
        ([-192], None),  # librdkafka's local message timeout
        ([], None),
    ],
)
def test_a_produce_refused_by_the_requests_fault_is_4xx(codes, expected):
    fault = codec.produce_fault(codes, "Broker: Message size too large")
    if expected is None:
        assert fault is None
    else:
        assert (fault.status, fault.code) == expected
        assert fault.message.endswith(": Broker: Message size too large")


def test_numbers_within_a_double_are_kept_and_beyond_it_refused():
    """``wire.loads`` keeps every integer exact and every number a double holds (1e308, an
    underflow to 0.0 is a double's rounding), and refuses one beyond the largest double, on
    either parser (orjson, or the stdlib's for a body with a long digit run): such a number was
    acknowledged and stored as ``null`` or ``Infinity`` (helper-82)."""
    from pinlake.ingest_api.wire import dumps, loads

    big = 18446744073709551616
    assert loads(b'{"a":1e308,"b":18446744073709551616}') == {"a": 1e308, "b": big}
    assert dumps(loads(b'{"a":1e308,"b":18446744073709551616}')) == (
        b'{"a":1e+308,"b":18446744073709551616}'
    )
    assert loads(b"[1e-999]") == [0.0]
    long_mantissa = b"[" + b"9" * 400 + b"e0]"
    for body in (b"[1e999]", b'{"b":18446744073709551616,"a":-1.8e308}', long_mantissa):
        with pytest.raises(ValueError, match="out of range"):
            loads(body)


@pytest.mark.parametrize("digits", ["1", "12345678901234567890123"])  # orjson's, json's branch
def test_a_repeated_key_keeps_its_last_value_and_a_fraction_is_a_double(digits):
    """What Confluent's REST Proxy makes of a record value (a Jackson ``JsonNode`` read by a
    default ``ObjectMapper``: the last of a repeated key, a double for a fraction or an
    exponent), on both of ``loads``' parsers (orjson's, and the stdlib's for a long digit
    run); the README documents it."""
    body = f'{{"a": 1, "b": {digits}, "a": 2.50, "c": 1E2}}'.encode()
    assert loads(body) == {"a": 2.5, "b": int(digits), "c": 100.0}
    assert dumps(loads(body)) == f'{{"a":2.5,"b":{digits},"c":100.0}}'.encode()
