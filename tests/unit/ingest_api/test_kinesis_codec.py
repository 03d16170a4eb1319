"""The Kinesis-proxy codec as pure functions: sequence numbers, shard routing over the 128-bit
hash-key space, shard iterators and PutRecord(s) entry validation."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinlake.ingest_api.kinesis import codec
from pinlake.ingest_api.wire import CodecError

partitions = st.integers(0, 999_999)
offsets = st.integers(0, 10**20 - 1)
hashes = st.integers(0, codec.MAX_HASH)
shard_counts = st.integers(1, codec.MAX_SHARDS)
times = st.floats(0, 4e9, allow_nan=False)

#: No example database on disk, no per-example deadline (a loaded machine must not flake).
FAST = settings(database=None, deadline=None)


@FAST
@given(partitions, offsets)
def test_sequence_number_round_trips_and_is_28_digits(partition, offset):
    seq = codec.sequence_number(partition, offset)
    assert len(seq) == 28 and seq.isdigit() and seq.startswith("49")
    assert codec.parse_sequence_number(seq) == (partition, offset)


@FAST
@given(partitions, offsets, offsets)
def test_sequence_numbers_order_like_offsets_within_a_shard(partition, a, b):
    sa, sb = codec.sequence_number(partition, a), codec.sequence_number(partition, b)
    assert (int(sa) < int(sb)) == (a < b)
    assert (sa < sb) == (a < b)  # also as strings: same length


@FAST
@given(st.text(max_size=40))
def test_parse_sequence_number_accepts_only_its_own_format(text):
    parsed = codec.parse_sequence_number(text)
    assert parsed is None or codec.sequence_number(*parsed) == text


@FAST
@given(st.integers(0, 10**12 - 1))
def test_shard_id_round_trips(partition):
    sid = codec.shard_id(partition)
    assert sid.startswith("shardId-") and len(sid) == len("shardId-") + 12
    assert codec.parse_shard_id(sid) == partition


@pytest.mark.parametrize("text", ["", "shardId-", "shardId-x1", "shardId-0000000000001", "-1"])
def test_parse_shard_id_rejects_malformed(text):
    assert codec.parse_shard_id(text) is None


def test_hash_key_is_md5_of_utf8_as_big_endian_int():
    assert codec.hash_key("") == 0xD41D8CD98F00B204E9800998ECF8427E
    assert codec.hash_key("é") == int.from_bytes(hashlib.md5("é".encode()).digest(), "big")


@FAST
@given(hashes, shard_counts)
def test_shard_for_is_in_range_and_inside_that_shards_hash_range(hash_value, shards):
    shard = codec.shard_for(hash_value, shards)
    assert 0 <= shard < shards
    rng = codec.hash_range(shard, shards)
    assert int(rng["StartingHashKey"]) <= hash_value <= int(rng["EndingHashKey"])


@FAST
@given(shard_counts)
def test_hash_ranges_tile_the_whole_hash_key_space(shards):
    ranges = [codec.hash_range(p, shards) for p in range(shards)]
    assert ranges[0]["StartingHashKey"] == "0"
    assert int(ranges[-1]["EndingHashKey"]) == codec.MAX_HASH
    for left, right in zip(ranges, ranges[1:], strict=False):
        assert int(left["EndingHashKey"]) + 1 == int(right["StartingHashKey"])


@FAST
@given(st.text(max_size=30), st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1), times)
def test_iterator_round_trips_until_it_expires(stream, partition, offset, now):
    it = codec.make_iterator(stream, partition, offset, now=now)
    assert codec.read_iterator(it, now=now) == (stream, partition, offset, None)
    later = now + codec.ITERATOR_TTL - 1
    assert codec.read_iterator(it, now=later) == (stream, partition, offset, None)
    with pytest.raises(CodecError) as info:
        codec.read_iterator(it, now=now + codec.ITERATOR_TTL + 1)
    assert (info.value.status, info.value.code) == (400, "ExpiredIteratorException")


def test_an_iterator_carries_the_topic_id_of_its_stream():
    """An iterator names the incarnation of the stream it was issued for (its Kafka topic ID),
    so that GetRecords can tell it from a stream deleted and created again under its name (an
    old iterator read the new stream's records: the new user's trial); one long enough for the
    service model (ShardIterator: at most 512 characters) with the longest stream name."""
    topic_id = "3q2-7u_vAAAAAAAAAAAAAA"
    it = codec.make_iterator("s" * codec.MAX_STREAM_NAME, 2**31 - 1, 2**63 - 1, topic_id=topic_id)
    assert codec.read_iterator(it).topic_id == topic_id
    assert len(it) <= 512
    assert codec.read_iterator(codec.make_iterator("s", 0, 5)) == codec.ShardIterator("s", 0, 5)


@FAST
@given(st.text(max_size=80))
def test_read_iterator_rejects_any_other_text_as_invalid_argument(text):
    try:
        stream, partition, offset, _topic_id = codec.read_iterator(text, now=0.0)
    except CodecError as exc:
        assert exc.status == 400
        assert exc.code in ("InvalidArgumentException", "ExpiredIteratorException")
    else:
        assert partition >= 0 and offset >= 0 and isinstance(stream, str)


@pytest.mark.parametrize(
    "payload",
    [
        {"s": "x", "p": -1, "o": 0, "t": 0},
        {"s": "x", "p": 0, "o": -5, "t": 0},
        {"s": "x", "p": True, "o": 0, "t": 0},
        {"s": 1, "p": 0, "o": 0, "t": 0},
        {"s": "x", "p": 0, "o": 0},
        {"s": "x", "p": 0, "o": 0, "t": 0, "i": 5},
        [1, 2],
    ],
)
def test_read_iterator_rejects_tampered_iterators(payload):
    text = base64.urlsafe_b64encode(orjson.dumps(payload)).decode()
    with pytest.raises(CodecError) as info:
        codec.read_iterator(text, now=0.0)
    assert info.value.code == "InvalidArgumentException"


def test_start_offset_of_each_iterator_type():
    seq = codec.sequence_number(2, 7)
    assert codec.start_offset("TRIM_HORIZON", 2, 3, 10, None) == 3
    assert codec.start_offset("LATEST", 2, 3, 10, None) == 10
    assert codec.start_offset("AT_SEQUENCE_NUMBER", 2, 3, 10, seq) == 7
    assert codec.start_offset("AFTER_SEQUENCE_NUMBER", 2, 3, 10, seq) == 8
    last = codec.sequence_number(2, 9)
    assert codec.start_offset("AFTER_SEQUENCE_NUMBER", 2, 3, 10, last) == 10  # the next one
    trimmed = codec.sequence_number(2, 1)  # no longer stored: from the oldest stored record
    assert codec.start_offset("AT_SEQUENCE_NUMBER", 2, 3, 10, trimmed) == 1
    for kind, partition, start in (
        ("AT_SEQUENCE_NUMBER", 1, seq),  # a sequence number of another shard
        ("AT_SEQUENCE_NUMBER", 2, None),
        ("AT_TIMESTAMP", 2, None),
        # a record the shard does not have yet: an iterator there skipped offsets 10..99998
        # (helper-47's trial); offset 9 is the last record, 10 the next one's
        ("AT_SEQUENCE_NUMBER", 2, codec.sequence_number(2, 10)),
        ("AFTER_SEQUENCE_NUMBER", 2, codec.sequence_number(2, 99_999)),
    ):
        with pytest.raises(CodecError) as info:
            codec.start_offset(kind, partition, 3, 10, start)
        assert info.value.code == "InvalidArgumentException"


def test_get_shard_iterator_inputs_are_named_as_each_protocol_names_them():
    """AT_SEQUENCE_NUMBER without a sequence number was "starting-sequence-number is not a
    sequence number of this shard." on the SDK protocol, where nothing was given and the member
    is StartingSequenceNumber; AT_TIMESTAMP was "Unsupported shard-iterator-type" (the new
    user's trial). Kinesis says the input is required for the type (GetShardIterator
    reference), in each protocol's names: the SDK's members, the tutorial's query parameters."""
    for names in (codec.SDK_ITERATOR, codec.REST_ITERATOR):
        other = codec.REST_ITERATOR if names == codec.SDK_ITERATOR else codec.SDK_ITERATOR
        for kind, seq, at, words in (
            (
                "AT_SEQUENCE_NUMBER",
                None,
                None,
                f"Request specified AT_SEQUENCE_NUMBER and no {names.sequence}.",
            ),
            ("LATEST", "1", None, f"Request specified LATEST and also a {names.sequence}."),
            (
                "AT_TIMESTAMP",
                None,
                None,
                f"Must specify {names.timestamp} for iterator of type AT_TIMESTAMP.",
            ),
            ("AT_TIMESTAMP", None, "soon", f"{names.timestamp} 'soon' is not a timestamp"),
            ("AT_TIMESTAMP", None, 4102444800, f"The {names.timestamp} cannot be later than"),
            ("AT_TIME", None, None, f"Unsupported {names.kind} 'AT_TIME'"),
        ):
            with pytest.raises(CodecError) as info:
                codec.iterator_arguments(kind, seq, at, names)
            assert info.value.code == "InvalidArgumentException"
            assert words in info.value.message, info.value.message
            assert other.sequence not in info.value.message
        with pytest.raises(CodecError) as info:
            codec.start_offset("AT_SEQUENCE_NUMBER", 2, 3, 10, "12", names)
        assert info.value.message.startswith(f"{names.sequence} '12' used in GetShardIterator")
    for at in (
        1459799926.48,
        "1459799926.480",
        "2016-04-04T19:58:46.480-00:00",
        "2016-04-04T19:58:46.480",
    ):
        assert (
            codec.iterator_arguments("AT_TIMESTAMP", None, at, codec.SDK_ITERATOR) == 1459799926480
        )
    assert codec.iterator_arguments("LATEST", None, None, codec.SDK_ITERATOR) is None


@pytest.mark.parametrize(("text", "ok"), [(None, 10_000), ("1", 1), ("10000", 10_000)])
def test_get_records_limit_accepts_1_to_10000(text, ok):
    assert codec.get_records_limit(text) == ok


@pytest.mark.parametrize("text", ["0", "10001", "-1", "x", ""])
def test_get_records_limit_rejects_others(text):
    with pytest.raises(CodecError, match="limit must be from 1 to 10000"):
        codec.get_records_limit(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@FAST
@given(json_values)
def test_put_record_data_stores_the_json_text_of_any_value(value):
    # PutRecord template: $util.base64Encode($input.json('$.Data')), the value's JSON text
    data = codec.put_record_data(value)
    assert orjson.loads(data) == value
    assert data == orjson.dumps(value)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("this is a test", b'"this is a test"'),  # quotes kept: its JSON text
        ("hello123", b'"hello123"'),  # never decoded as base64
        ("eyJhIjoxfQ==", b'"eyJhIjoxfQ=="'),  # a pre-encoding producer's base64, as a string
        ({"ind": 1, "first_name": "Ada"}, b'{"ind":1,"first_name":"Ada"}'),
        ([{"ind": 1}], b'[{"ind":1}]'),
        (12.5, b"12.5"),
        (None, b"null"),
    ],
)
def test_put_record_stores_exactly_what_the_template_stores(value, stored):
    entry = codec.put_entry(
        {"Data": value, "PartitionKey": "p-1"}, codec.PUT_RECORD, max_bytes=100, shards=1
    )
    assert entry.data == stored


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ('{"ind":1}', b'{"ind":1}'),  # a string's own characters, unquoted
        ("this is a test", b"this is a test"),
        ("héllo", "héllo".encode()),
        ({"ind": 1, "name": "Ada"}, b"{ind=1, name=Ada}"),  # Java's Map text, not JSON
        ([1, "x", {"a": None}], b"[1, x, {a=null}]"),
        (5, b"5"),
        (True, b"true"),
    ],
)
def test_put_records_stores_the_value_as_the_tutorial_template_renders_it(value, stored):
    # PutRecords template: $util.base64Encode($elem.data)
    assert codec.put_records_data(value) == stored


@FAST
@given(st.text(max_size=50))
def test_put_records_string_data_is_stored_as_its_text(text):
    assert codec.put_records_data(text) == text.encode("utf-8", "surrogatepass")


@FAST
@given(st.binary(max_size=200))
def test_native_records_data_is_a_base64_blob(raw):
    assert codec.blob_data(base64.b64encode(raw).decode()) == raw


@pytest.mark.parametrize(
    ("fields", "entry"),
    [
        (codec.TUTORIAL, {"data": None, "partition-key": "k"}),
        (codec.NATIVE, {"Data": "%%%", "PartitionKey": "k"}),
        (codec.NATIVE, {"Data": {"a": 1}, "PartitionKey": "k"}),
    ],
)
def test_bad_data_is_invalid_argument(fields, entry):
    with pytest.raises(CodecError) as info:
        codec.put_entry(entry, fields, max_bytes=100, shards=1)
    assert (info.value.status, info.value.code) == (400, "InvalidArgumentException")


@FAST
@given(st.text(min_size=1, max_size=256), shard_counts)
def test_put_entry_routes_by_md5_of_the_partition_key(key, shards):
    entry = codec.put_entry(
        {"Data": {"a": 1}, "PartitionKey": key}, codec.PUT_RECORD, max_bytes=2048, shards=shards
    )
    assert entry == (key.encode(), b'{"a":1}', codec.shard_for(codec.hash_key(key), shards))


@FAST
@given(hashes, shard_counts)
def test_explicit_hash_key_overrides_the_partition_key(hash_value, shards):
    entry = {"data": "x", "partition-key": "k", "ExplicitHashKey": str(hash_value)}
    got = codec.put_entry(entry, codec.TUTORIAL, max_bytes=10, shards=shards)
    assert got.partition == codec.shard_for(hash_value, shards)


@pytest.mark.parametrize(
    "entry",
    [
        "not an object",
        {"data": None, "partition-key": "k"},
        {"data": "x", "partition-key": "k", "ExplicitHashKey": str(2**128)},
        {"data": "x", "partition-key": "k", "ExplicitHashKey": "-1"},
        {"data": "x", "partition-key": "k", "ExplicitHashKey": 5},
    ],
)
def test_put_entry_rejects_invalid_entries(entry):
    with pytest.raises(CodecError) as info:
        codec.put_entry(entry, codec.TUTORIAL, max_bytes=10, shards=3)
    assert (info.value.status, info.value.code) == (400, "InvalidArgumentException")


@pytest.mark.parametrize(
    ("given", "text"),
    [
        (5, "5"),
        (12345678901234567890, "12345678901234567890"),
        (4.5, "4.5"),
        (True, "true"),
        ({"user": 7}, "{user=7}"),
        (["a", 1], "[a, 1]"),
    ],
)
def test_a_template_writes_a_partition_key_that_is_not_a_string_as_its_text(given, text):
    """The tutorial's templates write the key inside quotes (``"$input.path('$.PartitionKey')"``,
    ``"$elem.partition-key"``): ``"PartitionKey": 5`` reaches Kinesis as ``"5"`` and is routed by
    MD5 of ``"5"``; it was refused with 400. Kinesis' own API takes strings only."""
    for fields, entry in (
        (codec.PUT_RECORD, {"Data": {"a": 1}, "PartitionKey": given}),
        (codec.TUTORIAL, {"data": "x", "partition-key": given}),
    ):
        got = codec.put_entry(entry, fields, max_bytes=100, shards=4)
        assert got.key == text.encode()
        assert got.partition == codec.shard_for(codec.hash_key(text), 4)
    with pytest.raises(CodecError) as info:
        codec.put_entry(
            {"Data": "eA==", "PartitionKey": given}, codec.NATIVE, max_bytes=100, shards=4
        )
    assert (info.value.status, info.value.code) == (400, "InvalidArgumentException")


@pytest.mark.parametrize(
    ("fields", "entry", "index", "message"),
    [
        (
            codec.PUT_RECORD,
            {"Data": 1},
            None,
            "Value null at 'partitionKey' failed to satisfy constraint: Member must not be null",
        ),
        (codec.PUT_RECORD, {"PartitionKey": "k"}, None, "Value null at 'data' failed"),
        (codec.TUTORIAL, {"partition-key": "k"}, 2, "Value null at 'records.3.member.data'"),
        (
            codec.NATIVE,
            {"Data": "", "PartitionKey": ""},
            0,
            "at 'records.1.member.partitionKey'"
            " failed to satisfy constraint: Member must have length greater than or equal to 1",
        ),
        (
            codec.TUTORIAL,
            {"data": "x", "partition-key": "k" * 257},
            None,
            "Member must have length less than or equal to 256",
        ),
    ],
)
def test_a_missing_or_out_of_range_member_is_a_validation_error(fields, entry, index, message):
    """Kinesis' request validation answers ValidationException, naming the member (helper-47's
    trial: InvalidArgumentException before)."""
    with pytest.raises(CodecError) as info:
        codec.put_entry(entry, fields, max_bytes=10, shards=3, index=index)
    assert (info.value.status, info.value.code) == (400, "ValidationException")
    assert info.value.message.startswith("1 validation error detected: ")
    assert message in info.value.message


@FAST
@given(st.integers(1, 64))
def test_put_entry_size_limit_is_on_the_data_bytes(limit):
    fits = {"data": "y" * (limit - 1), "partition-key": "k"}  # with the key's byte: the limit
    taken = codec.put_entry(fits, codec.TUTORIAL, max_bytes=limit, shards=1)
    assert taken.data == b"y" * (limit - 1)
    over = {"data": "y" * (limit + 1), "partition-key": "k"}
    with pytest.raises(CodecError) as info:
        codec.put_entry(over, codec.TUTORIAL, max_bytes=limit, shards=1)
    assert (info.value.status, info.value.code) == (400, "ValidationException")
    assert info.value.message == (
        "1 validation error detected: Value at 'data' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


def test_an_oversized_put_records_entry_is_named_as_aws_names_it():
    """A 1.5 MB record against the 1 MiB limit: Kinesis' ValidationException (HTTP 400), not a
    gateway 413; in a PutRecords body the member is named 1-based (``records.3.member.data``)."""
    limit = 1024 * 1024
    over = {"Data": base64.b64encode(b"y" * 1_500_000).decode(), "PartitionKey": "k"}
    with pytest.raises(CodecError) as info:
        codec.put_entry(over, codec.NATIVE, max_bytes=limit, shards=1, index=2)
    assert (info.value.status, info.value.code) == (400, "ValidationException")
    assert "Value at 'records.3.member.data'" in info.value.message
    assert info.value.message.endswith("less than or equal to 1048576")


def test_put_records_over_5_mib_together_is_refused_whole():
    """A PutRecords request carries at most 5 MiB, data and partition keys together (PutRecords
    reference); past it Kinesis answers 400 InvalidArgumentException "Records size exceeds 5 MB
    limit" (seven records of 1 MiB were taken: the new user's trial). A record limit set above
    5 MiB raises the request's to it."""
    limit = codec.MAX_PUT_RECORDS_BYTES
    assert limit == 5 * 1024 * 1024
    exact = [codec.PutEntry(b"k", b"x" * (1024 * 1024 - 1), 0)] * 5  # 5 MiB with the keys
    codec.check_put_records_size(exact, 1024 * 1024)
    with pytest.raises(CodecError) as info:  # one partition key's byte more
        codec.check_put_records_size([*exact, codec.PutEntry(b"k", b"", 0)], 1024 * 1024)
    assert (info.value.status, info.value.code) == (400, "InvalidArgumentException")
    assert info.value.message == "Records size exceeds 5 MB limit"
    big = [codec.PutEntry(b"k", b"x" * (8 * 1024 * 1024 - 1), 0)]
    codec.check_put_records_size(big, 8 * 1024 * 1024)


def test_put_records_entries_shapes_and_limits():
    assert codec.put_records_entries({"records": [1]}) == ([1], codec.TUTORIAL)
    assert codec.put_records_entries({"Records": [1]}) == ([1], codec.NATIVE)
    assert len(codec.put_records_entries({"records": [{}] * 500})[0]) == 500
    for body, code in (
        ({}, "ValidationException"),  # Value null at 'records'
        ({"records": []}, "ValidationException"),  # length >= 1
        ({"records": [{}] * 501}, "ValidationException"),  # length <= 500
        ({"records": {}}, "InvalidArgumentException"),  # not an array
    ):
        with pytest.raises(CodecError) as info:
            codec.put_records_entries(body)
        assert info.value.code == code, body
    with pytest.raises(CodecError) as info:
        codec.put_records_entries({"Records": [{}] * 501})
    assert info.value.message.endswith(
        "at 'records' failed to satisfy constraint: Member must have length less than or equal"
        " to 500"
    )


@pytest.mark.parametrize(
    ("body", "optional", "expected"),
    [(b"", True, {}), (b"  ", True, {}), (b'{"a":1}', False, {"a": 1})],
)
def test_json_object_accepts_objects(body, optional, expected):
    assert codec.json_object(body, optional=optional) == expected


@pytest.mark.parametrize(
    "body", [b"", b"{oops", b"[]", b"1", b"\xff", b'{"Data": {"latitude": 1e999}}']
)
def test_json_object_rejects_other_bodies_as_serialization_errors(body):
    with pytest.raises(CodecError) as info:
        codec.json_object(body)
    assert (info.value.status, info.value.code) == (400, "SerializationException")


def test_a_number_beyond_a_double_is_named_not_called_malformed():
    """helper-84: ``{"Data": {"ind": 1e999}}`` (JSON text) got "Malformed JSON request body.",
    where the REST proxy names the number and the limit."""
    with pytest.raises(CodecError) as info:
        codec.json_object(b'{"StreamName": "s", "Data": {"ind": 1, "age": -1e999}}')
    assert (info.value.status, info.value.code) == (400, "SerializationException")
    assert info.value.message == (
        "Invalid JSON request body: number -1e999 is out of range: beyond the largest IEEE 754"
        " double (about 1.8e308), which a JSON number must fit here."
    )
    with pytest.raises(CodecError, match=r"^Malformed JSON request body\.$"):
        codec.json_object(b'{"Data": 1e99')  # not JSON text at all: as before


def test_shard_count_and_stream_names():
    assert codec.shard_count({}, 5) == 5
    assert codec.shard_count({"ShardCount": 64}, 5) == 64
    for bad in (0, 65, True, "3", 1.0):
        with pytest.raises(CodecError, match="ShardCount"):
            codec.shard_count({"ShardCount": bad}, 5)
    assert codec.is_stream_name("a" * 128) and not codec.is_stream_name("a" * 129)
    assert not codec.is_stream_name("bad name")
    codec.check_new_stream_name("ok-name_1.x")
    for bad in ("__consumer_offsets", "bad name", ""):
        with pytest.raises(CodecError, match="StreamName"):
            codec.check_new_stream_name(bad)


def test_stream_names_leave_out_the_batch_topics_and_internal_ones():
    topics = ["pinterest.pin", "streaming-pinterest-pin", "__consumer_offsets", "it-1", "a"]
    assert codec.stream_names(topics, {"pinterest.pin", "pinterest.geo"}) == [
        "a",
        "it-1",
        "streaming-pinterest-pin",
    ]


def test_list_streams_pages_with_limit_and_exclusive_start():
    names = [f"s{i:03d}" for i in range(250)]
    assert codec.list_streams_page(names[:3], 100, None) == (names[:3], False)
    assert codec.list_streams_page(names[:3], 2, None) == (names[:2], True)
    assert codec.list_streams_page(names[:3], 2, "s001") == (["s002"], False)
    assert codec.list_streams_page(names[:3], 3, "s000x") == (["s001", "s002"], False)
    assert codec.list_streams_page(names[:3], 5, "s002") == ([], False)
    # never more than 100 per call, even with a larger Limit (ListStreams reference)
    page, more = codec.list_streams_page(names, 10_000, None)
    assert (page, more) == (names[:100], True)
    collected, start = [], None
    while True:  # the documented paging loop collects every name once
        page, more = codec.list_streams_page(names, 30, start)
        collected += page
        if not more:
            break
        start = page[-1]
    assert collected == names


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, (100, None)),
        ({"Limit": 1}, (1, None)),
        ({"Limit": "10000", "ExclusiveStartStreamName": "s.1"}, (10_000, "s.1")),
    ],
)
def test_list_streams_params(data, expected):
    assert codec.list_streams_params(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"Limit": 0},
        {"Limit": 10_001},
        {"Limit": "x"},
        {"Limit": True},
        {"Limit": 1.5},
        {"ExclusiveStartStreamName": ""},
        {"ExclusiveStartStreamName": "bad name"},
        {"ExclusiveStartStreamName": 5},
    ],
)
def test_list_streams_params_rejects_bad_values(data):
    with pytest.raises(CodecError) as info:
        codec.list_streams_params(data)
    assert (info.value.status, info.value.code) == (400, "InvalidArgumentException")


def test_kafkas_internal_topics_are_not_streams():
    for name in ("__consumer_offsets", "__transaction_state"):
        assert not codec.is_stream_name(name)
        with pytest.raises(CodecError):
            codec.check_new_stream_name(name)
    assert codec.is_stream_name("_x") and codec.is_stream_name("streaming-1-pin")
    assert codec.stream_names(["__consumer_offsets", "s", "b.pin"], {"b.pin"}) == ["s"]


def test_batch_topics_are_never_streams():
    """DeleteStream on ``pinterest.pin`` deleted the Kafka REST side's batch topic, records the
    sink had not written yet included; PutRecord and DescribeStream served it too. One rule
    answers every stream route: not a stream (ResourceNotFound), and CreateStream says why."""
    batch = {"pinterest.pin", "pinterest.geo"}
    assert codec.stream_name_problem("streaming-pinterest-pin", batch) is None
    why = codec.stream_name_problem("pinterest.pin", batch)
    assert why == (
        "StreamName 'pinterest.pin' is a batch topic of the Kafka REST proxy "
        "(POST /topics/pinterest.pin), not a stream."
    )
    assert "internal topics" in codec.stream_name_problem("__consumer_offsets", batch)
    assert "must match" in codec.stream_name_problem("bad name", batch)
    with pytest.raises(CodecError) as info:
        codec.check_stream("pinterest.geo", batch)
    assert (info.value.status, info.value.code) == (400, "ResourceNotFoundException")
    with pytest.raises(CodecError) as info:
        codec.check_new_stream_name("__consumer_offsets", batch)
    assert info.value.code == "InvalidArgumentException"
    assert (
        info.value.message == "StreamName '__consumer_offsets' is one of Kafka's internal topics."
    )


# ---- Kinesis' own JSON protocol (the AWS SDKs) ---------------------------------------------
SERVED = ("PutRecord", "GetRecords")


def test_sdk_operation_is_the_target_after_the_api_version():
    assert codec.sdk_operation("Kinesis_20131202.PutRecord", SERVED) == "PutRecord"


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("Kinesis_20131202.AddTagsToStream", "'AddTagsToStream' is not served"),
        ("Kinesis_20131202.", "is not served"),
        ("DynamoDB_20120810.GetItem", "serves Kinesis (Kinesis_20131202.<Operation>) only"),
        ("Kinesis_20991231.PutRecord", "serves Kinesis (Kinesis_20131202.<Operation>) only"),
        ("PutRecord", "serves Kinesis"),
    ],
)
def test_sdk_operation_refuses_what_is_not_served(target, words):
    with pytest.raises(CodecError) as raised:
        codec.sdk_operation(target, SERVED)
    assert (raised.value.status, raised.value.code) == (400, "UnknownOperationException")
    assert words in raised.value.message
    if "not served" in words:
        assert "GetRecords, PutRecord" in raised.value.message  # what is, sorted


ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"StreamName": "s-1.x_y"}, "s-1.x_y"),
        ({"StreamARN": ARN + "s1"}, "s1"),
        ({"StreamARN": "arn:aws:kinesis:eu-west-1:000000000000:stream/s1"}, "s1"),
        ({"StreamName": "s1", "StreamARN": ARN + "s1"}, "s1"),
    ],
)
def test_sdk_stream_name_from_the_name_or_the_arn(data, name):
    assert codec.sdk_stream_name(data) == name


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        ({}, "InvalidArgumentException", "Either StreamName or StreamARN"),
        ({"StreamName": "a/b"}, "ValidationException", "at 'streamName'"),
        ({"StreamName": ""}, "ValidationException", "at 'streamName'"),
        ({"StreamName": "x" * 129}, "ValidationException", "at 'streamName'"),
        ({"StreamName": 7}, "ValidationException", "at 'streamName'"),
        ({"StreamARN": "s1"}, "ValidationException", "at 'streamARN'"),
        (
            {"StreamARN": ARN.replace("stream/", "table/") + "s1"},
            "ValidationException",
            "at 'streamARN'",
        ),
        ({"StreamARN": ARN}, "ValidationException", "at 'streamARN'"),
        ({"StreamName": "s1", "StreamARN": ARN + "s2"}, "InvalidArgumentException", "different"),
    ],
)
def test_sdk_stream_name_refusals(data, code, words):
    with pytest.raises(CodecError) as raised:
        codec.sdk_stream_name(data)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert words in raised.value.message, raised.value.message


def test_sdk_members():
    assert (
        codec.sdk_string({"ShardId": "shardId-000000000001"}, "ShardId") == "shardId-000000000001"
    )
    assert codec.sdk_string({}, "StartingSequenceNumber", required=False) is None
    with pytest.raises(CodecError) as raised:
        codec.sdk_string({}, "ShardIterator")
    assert raised.value.code == "ValidationException"
    assert "at 'shardIterator' failed to satisfy constraint: Member must not be null" in str(
        raised.value
    )
    with pytest.raises(CodecError, match="ShardId must be a string"):
        codec.sdk_string({"ShardId": 1}, "ShardId")
    assert codec.sdk_limit({}, "Limit", 10_000, 10_000) == 10_000
    assert codec.sdk_limit({"Limit": 1}, "Limit", 10_000, 10_000) == 1
    for bad in (0, 10_001, True, "5", 2.0):
        with pytest.raises(CodecError, match="Limit must be an integer from 1 to 10000"):
            codec.sdk_limit({"Limit": bad}, "Limit", 10_000, 10_000)


def test_sdk_put_records_reads_only_kinesis_own_member():
    """``records`` is the tutorial's mapping, not a member of Kinesis' own PutRecords."""
    entries, fields = codec.put_records_entries({"Records": [{}]}, tutorial=False)
    assert (entries, fields) == ([{}], codec.NATIVE)
    with pytest.raises(CodecError, match="at 'records' failed"):
        codec.put_records_entries({"records": [{"data": "x"}]}, tutorial=False)


@pytest.mark.parametrize("key", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_a_partition_key_with_an_unpaired_surrogate_is_refused(key):
    """JSON's ``"\\ud800"`` escape parses (the stdlib parser, RFC 8259 leaves it undefined) but
    has no UTF-8 bytes: the key's encoding raised UnicodeEncodeError, a 500 (helper-49)."""
    for fields in (codec.PUT_RECORD, codec.NATIVE):
        entry = {"PartitionKey": key, "Data": "eyJhIjogMX0=" if fields is codec.NATIVE else {}}
        with pytest.raises(CodecError) as raised:
            codec.put_entry(entry, fields, max_bytes=1024, shards=2)
        assert (raised.value.status, raised.value.code) == (400, "InvalidArgumentException")
        assert "unpaired surrogate" in raised.value.message
    assert codec.partition_key("\U0001f600") == "\U0001f600"  # beyond the BMP: valid text


@pytest.mark.parametrize("fields", [codec.NATIVE, codec.PUT_RECORD, codec.TUTORIAL])
@pytest.mark.parametrize("key", ["k", "k" * 256, "\u00e9\u20ac"])  # 1, 256 and 5 UTF-8 bytes
def test_the_record_limit_is_on_data_and_partition_key_together(fields, key):
    """PutRecord/PutRecordsRequestEntry ``Data``: "When the data blob ... is added to the
    partition key size, the total size must not exceed the maximum record size"; only the data
    was counted (the new user's trial). Both the tutorial's mapping and Kinesis' own body."""
    limit = 1000
    room = limit - len(key.encode())

    def entry(size: int) -> dict:
        data = {
            codec.NATIVE: base64.b64encode(b"x" * size).decode(),
            codec.PUT_RECORD: "y" * (size - 2),  # stored as its JSON text, quotes included
            codec.TUTORIAL: "z" * size,
        }[fields]
        return {fields.data: data, fields.partition_key: key}

    taken = codec.put_entry(entry(room), fields, max_bytes=limit, shards=1)
    assert len(taken.data) + len(taken.key) == limit
    with pytest.raises(CodecError) as info:
        codec.put_entry(entry(room + 1), fields, max_bytes=limit, shards=1, index=0)
    assert (info.value.status, info.value.code) == (400, "ValidationException")
    assert "Value at 'records.1.member.data'" in info.value.message
    assert f"less than or equal to {room} (the record size limit, {limit} bytes" in (
        info.value.message
    )


@pytest.mark.parametrize("digit", ["\u00b2", "\u0663", "\uff11"])  # ², Arabic-Indic 3, fullwidth 1
def test_numbers_in_text_are_ascii_digits_only(digit):
    """``str.isdigit`` took these: ``int`` refuses ``²`` (each read crashed the route, a 500)
    and reads the others (``٣`` was 3). Every number read from text is ASCII digits now."""
    from pinlake.ingest_api.kafka_rest import codec as rest_codec

    assert codec.parse_shard_id(f"shardId-{digit}") is None
    assert codec.parse_sequence_number("49" + digit * 26) is None
    for call in (
        lambda: codec.get_records_limit(digit),
        lambda: codec.list_streams_params({"Limit": digit}),
        lambda: codec.route({"ExplicitHashKey": digit}, "k", 2),
        lambda: rest_codec.path_partition("t", digit),
    ):
        with pytest.raises(CodecError):
            call()


def test_a_name_with_a_trailing_newline_is_no_stream_or_topic():
    """``TOPIC_RE`` ended in ``$``, which matches before a final newline: ``a\\n`` was taken as
    a stream name (CreateStream sent it to the broker) and as a topic name."""
    from pinlake.ingest_api.kafka_rest import codec as rest_codec

    assert codec.stream_name_problem("a\n", ()) is not None
    with pytest.raises(CodecError):
        codec.sdk_stream_name({"StreamName": "a\n"})
    with pytest.raises(CodecError):
        codec.sdk_stream_name({"StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/a\n"})
    with pytest.raises(CodecError):
        rest_codec.check_topic_name("a\n")
