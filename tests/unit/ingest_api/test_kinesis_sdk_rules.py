"""The rules of Kinesis' own JSON protocol as pure functions: the service model's input
constraints (:func:`model.check_input`), paging shards and streams with ``NextToken`` and
``ExclusiveStartShardId``, and how messages name a client's text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore
import pytest

from pinlake.ingest_api.kinesis import codec
from pinlake.ingest_api.kinesis.model import (
    MEMBER_POLICY,
    SHAPES,
    check_input,
    check_members,
    has_dry_run,
)
from pinlake.ingest_api.kinesis.sdk_protocol import OPERATIONS
from pinlake.ingest_api.wire import CodecError, is_unicode

MODEL_DIR = Path(botocore.__file__).parent / "data" / "kinesis" / "2013-12-02"


def _model() -> dict:
    plain = MODEL_DIR / "service-2.json"
    if plain.exists():
        return json.loads(plain.read_text())
    return json.loads(gzip.decompress((MODEL_DIR / "service-2.json.gz").read_bytes()))


def _refusal(operation: str, data: dict) -> CodecError:
    with pytest.raises(CodecError) as raised:
        check_input(operation, data)
    return raised.value


def test_the_constraints_are_the_installed_service_models():
    """Every shape of :data:`model.SHAPES` is the model's, for every served operation's input
    and every shape it holds: a botocore upgrade that changes one fails here."""
    shapes = _model()["shapes"]
    seen: set[str] = set()

    def compare(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        model, ours = shapes[name], SHAPES[name]
        assert ours.type == model["type"], name
        assert (ours.min, ours.max) == (model.get("min"), model.get("max")), name
        assert ours.pattern == model.get("pattern"), name
        assert ours.enum == tuple(model.get("enum", ())), name
        members = {k: v["shape"] for k, v in model.get("members", {}).items()}
        assert dict(ours.members) == members, name
        assert set(ours.required) == set(model.get("required", ())), name
        for key in ("member", "key", "value"):
            assert getattr(ours, key) == model.get(key, {}).get("shape"), name
        for inner in [
            *members.values(),
            *(model[k]["shape"] for k in ("member", "key", "value") if k in model),
        ]:
            compare(inner)

    operations = _model()["operations"]
    for operation in OPERATIONS:
        compare(operations[operation]["input"]["shape"])
        assert operations[operation]["input"]["shape"] == f"{operation}Input"


@pytest.mark.parametrize(
    "operation, data, words",
    [
        ("ListShards", {"StreamName": "s", "MaxResults": 0}, "Value '0' at 'maxResults'"),
        ("ListShards", {"StreamName": "s", "MaxResults": 10_001}, "less than or equal to 10000"),
        ("DescribeStream", {"StreamName": "s", "Limit": 0}, "Value '0' at 'limit'"),
        ("DescribeStream", {"StreamName": "s", "ExclusiveStartShardId": "a/b"}, "at 'exclusiveSt"),
        ("ListStreams", {"Limit": 0}, "greater than or equal to 1"),
        ("ListStreams", {"NextToken": ""}, "at 'nextToken'"),
        ("GetRecords", {"ShardIterator": "x", "Limit": 10_001}, "less than or equal to 10000"),
        ("GetRecords", {"ShardIterator": "x" * 513}, "at 'shardIterator'"),
        ("GetRecords", {}, "Value null at 'shardIterator'"),
        ("CreateStream", {"StreamName": "s", "ShardCount": 0}, "at 'shardCount'"),
        ("CreateStream", {"StreamName": "s\n"}, "regular expression pattern: [a-zA-Z0-9_.-]+"),
        ("CreateStream", {"StreamName": "s", "Tags": {}}, "at 'tags'"),
        ("CreateStream", {"StreamName": "s", "StreamModeDetails": {}}, "streamModeDetails.stream"),
        ("PutRecord", {"StreamName": "s", "Data": "", "PartitionKey": "k" * 257}, "partitionKey"),
        ("PutRecord", {"StreamName": "s", "Data": "", "ExplicitHashKey": "007"}, "explicitHash"),
        ("PutRecord", {"StreamName": "s", "Data": "", "ExplicitHashKey": "\u0663"}, "explicitHash"),
        ("PutRecords", {"StreamName": "s", "Records": []}, "Value at 'records'"),
        ("PutRecords", {"Records": [{"PartitionKey": "k"}]}, "'records.1.member.data'"),
        ("GetShardIterator", {"ShardId": "s", "ShardIteratorType": "x"}, "enum value set"),
        (
            "GetShardIterator",
            {"ShardId": "s", "ShardIteratorType": "LATEST", "StartingSequenceNumber": "49\u00b2"},
            "startingSequenceNumber",
        ),
        ("DeleteStream", {"StreamARN": "arn:aws:kinesis:x:1:stream/s"}, "at 'streamARN'"),
        ("DescribeStreamSummary", {"StreamId": "x"}, "at 'streamId'"),
    ],
)
def test_every_constraint_of_the_model_is_a_validation_exception(operation, data, words):
    """The model's min/max/pattern/enum/required, as the service's request validation answers
    them (MaxResults 0 was accepted, the new user's trial); patterns match whole ASCII text."""
    error = _refusal(operation, data)
    assert (error.status, error.code) == (400, "ValidationException")
    assert error.message.startswith("1 validation error detected: ") and words in error.message


def test_a_request_within_the_model_passes():
    check_input("ListShards", {"StreamName": "s", "MaxResults": 10_000, "Other": [1]})
    check_input("PutRecords", {"Records": [{"Data": "", "PartitionKey": "k"}] * 500})
    check_input("PutRecord", {"Data": "eA==", "ExplicitHashKey": "0", "StreamName": None})
    check_input("ListStreams", {})


def test_every_failed_constraint_is_listed_up_to_ten():
    error = _refusal(
        "ListShards", {"StreamName": "", "MaxResults": 0, "ExclusiveStartShardId": "/"}
    )
    assert error.message.startswith("4 validation errors detected: Value '' at 'streamName'")
    assert error.message.count("; ") == 3
    many = {"Records": [{"PartitionKey": ""}] * 20}
    assert _refusal("PutRecords", many).message.startswith("10 validation errors detected: ")


@pytest.mark.parametrize(
    "operation, data",
    [
        ("GetRecords", {"ShardIterator": "x", "Limit": "5"}),
        ("GetRecords", {"ShardIterator": 5}),
        ("ListShards", {"StreamName": "s", "MaxResults": True}),
        ("PutRecords", {"Records": {}}),
        ("PutRecords", {"Records": [{"Data": 1, "PartitionKey": "k"}]}),
        ("CreateStream", {"StreamName": "s", "StreamModeDetails": "ON_DEMAND"}),
        ("DeleteStream", {"StreamName": "s", "EnforceConsumerDeletion": "yes"}),
    ],
)
def test_a_member_of_another_json_type_is_a_serialization_exception(operation, data):
    error = _refusal(operation, data)
    assert (error.status, error.code) == (400, "SerializationException")


def test_a_shard_page_follows_the_exclusive_start_and_the_limits():
    parts = [3, 0, 2, 1]
    assert codec.shard_page(parts, None, 10, 100) == ([0, 1, 2, 3], False)
    assert codec.shard_page(parts, None, 2, 100) == ([0, 1], True)
    assert codec.shard_page(parts, codec.shard_id(1), 1, 100) == ([2], True)
    assert codec.shard_page(parts, codec.shard_id(2), 5, 100) == ([3], False)
    assert codec.shard_page(parts, None, 10_000, 3) == ([0, 1, 2], True)  # at most the page
    assert codec.shard_page(parts, "zzz", 5, 100) == ([], False)


def test_a_next_token_round_trips_and_expires():
    token = codec.make_next_token("ListShards", "s1", codec.shard_id(4), now=1000.0)
    assert codec.read_next_token("ListShards", token, now=1300.0) == ("s1", codec.shard_id(4))
    with pytest.raises(CodecError) as raised:
        codec.read_next_token("ListShards", token, now=1300.5)
    assert raised.value.code == "ExpiredNextTokenException"
    for other in ("not-a-token", token[:-4], codec.make_next_token("ListStreams", None, "a")):
        with pytest.raises(CodecError) as raised:
            codec.read_next_token("ListShards", other, now=1000.0)
        assert raised.value.code == "InvalidArgumentException"


def test_list_shards_request_rules():
    req = codec.list_shards_request({"StreamName": "s", "MaxResults": 2})
    assert req == codec.ShardsRequest("s", None, 2)
    assert codec.list_shards_request({"StreamName": "s"}).limit == codec.LIST_SHARDS_PAGE
    after = {"StreamName": "s", "ExclusiveStartShardId": codec.shard_id(1)}
    assert codec.list_shards_request(after).after == codec.shard_id(1)
    filtered = {"StreamName": "s", "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "x"}}
    assert codec.list_shards_request(filtered).after == "x"
    token = codec.make_next_token("ListShards", "s", codec.shard_id(0))
    assert codec.list_shards_request({"NextToken": token, "MaxResults": 1}) == (
        codec.ShardsRequest("s", codec.shard_id(0), 1)
    )
    for member, value in (
        ("StreamName", "s"),
        ("StreamARN", "arn:aws:kinesis:us-east-1:123456789012:stream/s"),
        ("ExclusiveStartShardId", codec.shard_id(0)),
        ("StreamCreationTimestamp", 1.0),
    ):
        with pytest.raises(CodecError) as raised:
            codec.list_shards_request({"NextToken": token, member: value})
        assert raised.value.code == "InvalidArgumentException"
        assert raised.value.message == f"NextToken and {member} cannot be provided together."
    for shard_filter in ({"Type": "AFTER_SHARD_ID"}, {"Type": "AT_TIMESTAMP"}):
        with pytest.raises(CodecError) as raised:
            codec.list_shards_request({"StreamName": "s", "ShardFilter": shard_filter})
        assert raised.value.code == "InvalidArgumentException"


def test_list_streams_follows_its_next_token():
    token = codec.make_next_token("ListStreams", None, "b")
    limit, start = codec.list_streams_params({"NextToken": token, "Limit": 2})
    assert (limit, start) == (2, "b")
    assert codec.list_streams_page(["a", "b", "c", "d", "e"], limit, start) == (["c", "d"], True)


@pytest.mark.parametrize("text", ["a\ud800", "\udfff", "x\udc00y\ud800"])
def test_every_message_names_a_clients_text_as_unicode(text):
    """A message that echoes a client's unpaired surrogate (JSON's ``"\\ud800"``) names it as
    U+FFFD, in quotes, never as the escape text ``\\ud800`` (``repr``) nor as the surrogate
    itself (an escape that decodes to text no client can encode): the new user's trial."""
    arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{text}"
    calls = [
        lambda: codec.sdk_stream_name({"StreamName": text}),
        lambda: codec.sdk_stream_name({"StreamARN": arn}),
        lambda: codec.sdk_stream_name({"StreamName": "s", "StreamARN": arn + "/"}),
        lambda: codec.sdk_operation(f"Kinesis_20131202.{text}", {"ListStreams"}),
        lambda: codec.sdk_operation(f"{text}.ListStreams", {"ListStreams"}),
        lambda: codec.start_offset(text, 0, 0, 1, None),
        lambda: check_input("GetShardIterator", {"ShardId": text, "ShardIteratorType": text}),
        lambda: check_input("PutRecord", {"Data": "", "ExplicitHashKey": text}),
        lambda: check_input("CreateStream", {"StreamName": text, "Tags": {text: text * 300}}),
    ]
    errors = [codec.stream_not_found(text), codec.shard_not_found(text, text)]
    errors.append(codec.stream_in_use(text))
    for call in calls:
        with pytest.raises(CodecError) as raised:
            call()
        errors.append(raised.value)
    for error in errors:
        assert is_unicode(error.message) and "\\u" not in error.message, error.message
        assert "\ufffd" in error.message, error.message


def test_quote_cuts_long_text():
    assert codec.quote("ok") == "'ok'"
    assert codec.quote("a\ud800b") == "'a\ufffdb'"
    long = codec.quote("x" * 10_000)
    assert len(long) == codec.QUOTED_CHARS + 5 and long.endswith("...'")


#: The members of the served inputs pinlake uses as the API reference says (every other one is
#: in MEMBER_POLICY).
USED = {
    "StreamName",
    "StreamARN",
    "ShardCount",
    "Limit",
    "ExclusiveStartShardId",
    "ExclusiveStartStreamName",
    "NextToken",
    "MaxResults",
    "Data",
    "PartitionKey",
    "ExplicitHashKey",
    "Records",
    "ShardId",
    "ShardIteratorType",
    "StartingSequenceNumber",
    "Timestamp",
    "ShardIterator",
}


def test_every_member_of_a_served_input_is_used_or_has_its_policy():
    """Each member a served operation's input has in the installed service model is either used
    as AWS says or listed in MEMBER_POLICY (honoured / refused / ignored, and why): an
    ON_DEMAND StreamModeDetails was accepted and the stream created PROVISIONED without a word
    (the new user's trial)."""
    shapes = _model()["shapes"]
    unlisted = []
    for operation in OPERATIONS:
        for member in shapes[f"{operation}Input"]["members"]:
            listed = {f"{operation}.{member}", f"*.{member}"} & MEMBER_POLICY.keys()
            used = member in USED and f"{operation}.{member}" not in MEMBER_POLICY
            if not listed and not used:
                unlisted.append(f"{operation}.{member}")
    assert unlisted == []
    for key, policy in MEMBER_POLICY.items():
        assert policy.split(" ")[0].rstrip(":,") in ("honoured", "refused", "ignored"), key


@pytest.mark.parametrize(
    ("operation", "data", "words"),
    [
        ("CreateStream", {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}}, "StreamMode"),
        ("CreateStream", {"MaxRecordSizeInKiB": 2048}, "MaxRecordSizeInKiB '2048'"),
        ("CreateStream", {"MaxRecordSizeInKiB": {}}, "MaxRecordSizeInKiB '{}'"),  # REST body
        ("CreateStream", {"RecordDistributionStrategy": "AUTO"}, "RecordDistributionStrategy"),
        ("CreateStream", {"DryRun": True}, "DryRun is not served by CreateStream"),
        ("DeleteStream", {"DryRun": True}, "DryRun is not served by DeleteStream"),
        ("ListShards", {"DryRun": True}, "DryRun is not served by ListShards"),
    ],
)
def test_a_member_pinlake_does_not_act_on_is_refused_naming_it(operation, data, words):
    with pytest.raises(CodecError) as raised:
        check_members(operation, {"StreamName": "s", **data}, 1024 * 1024)
    assert (raised.value.status, raised.value.code) == (400, "InvalidArgumentException")
    assert words in raised.value.message and "is not served" in raised.value.message


def test_a_member_value_pinlake_acts_on_is_accepted():
    check_members(
        "CreateStream",
        {
            "StreamName": "s",
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "MaxRecordSizeInKiB": 1024,
            "RecordDistributionStrategy": "USER_PARTITION_KEY",
            "Tags": {"team": "data"},
            "WarmThroughputMiBps": 10,
        },
        1024 * 1024,
    )
    check_members("PutRecords", {"DryRun": False, "StreamId": "x"}, 1024 * 1024)


def test_dry_run_is_left_to_the_operations_whose_model_has_it():
    """DryRun true was refused outright ("DryRun is not served") where Kinesis' model has it;
    AWS checks the request and answers DryRunOperationException (Kinesis developer guide, "Test
    your permissions and request inputs with dry run"). check_members lets it through to the
    operation there, and only there: the served operations whose input has DryRun in the
    installed model are exactly has_dry_run's."""
    shapes = _model()["shapes"]
    with_dry_run = {op for op in OPERATIONS if "DryRun" in shapes[f"{op}Input"]["members"]}
    assert with_dry_run == {"PutRecord", "PutRecords", "GetShardIterator", "GetRecords"}
    assert {op for op in OPERATIONS if has_dry_run(op)} == with_dry_run
    for operation in sorted(with_dry_run):
        check_members(operation, {"StreamName": "s", "DryRun": True}, 1024 * 1024)


def test_a_dry_run_that_passes_is_dry_run_operation_exception():
    error = codec.dry_run_succeeded()
    assert (error.status, error.code, error.message) == (
        400,
        "DryRunOperationException",
        "Request would have succeeded, but DryRun flag is set.",
    )
