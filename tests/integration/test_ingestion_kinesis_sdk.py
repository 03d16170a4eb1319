"""Kinesis' own JSON protocol (``POST /`` with ``X-Amz-Target``), driven by a real AWS SDK
client (boto3) against the API and a real broker: the operations an SDK producer or consumer
calls, their errors as the SDK raises them, and the same records through the API Gateway
proxy's resources."""

from __future__ import annotations

import base64
import uuid

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from ingestion_helpers import serve

from pinlake.config import ApiSettings
from pinlake.ingest_api.kinesis import codec
from pinlake.services.process import free_ports

pytestmark = pytest.mark.kafka

AMZ_JSON = "application/x-amz-json-1.1"


def sdk(url: str):
    """A boto3 Kinesis client of the API at ``url`` (any credentials: none are checked)."""
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = raised.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return status, response["Error"]["Code"], response["Error"]["Message"]


def test_an_sdk_client_creates_puts_reads_and_deletes_a_stream(kafka_services, api):
    client = sdk(kafka_services.api.url)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=2)
    try:
        client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
        described = client.describe_stream(StreamName=name)["StreamDescription"]
        assert described["StreamStatus"] == "ACTIVE" and described["StreamARN"].endswith(name)
        assert [s["ShardId"] for s in described["Shards"]] == [codec.shard_id(0), codec.shard_id(1)]
        summary = client.describe_stream_summary(StreamARN=described["StreamARN"])
        assert summary["StreamDescriptionSummary"]["OpenShardCount"] == 2
        assert client.list_shards(StreamName=name)["Shards"] == described["Shards"]
        later = client.list_shards(StreamName=name, ExclusiveStartShardId=codec.shard_id(0))
        assert [s["ShardId"] for s in later["Shards"]] == [codec.shard_id(1)]
        assert (
            name in client.list_streams(Limit=100, ExclusiveStartStreamName="sdk-")["StreamNames"]
        )

        # the bytes an SDK puts are the record, exactly (no mapping template): binary too
        sent = {
            "k-one": b'{"ind": 1, "title": "caf\xc3\xa9"}',
            "k-two": b"\x00\xff not json",
            "k-three": b"[1, 2]",
            "k-four": b"",
        }
        put = client.put_record(StreamName=name, PartitionKey="k-one", Data=sent["k-one"])
        entries = [{"PartitionKey": k, "Data": v} for k, v in sent.items() if k != "k-one"]
        batch = client.put_records(StreamName=name, Records=entries)
        assert batch["FailedRecordCount"] == 0
        acknowledged = {"k-one": put} | {
            e["PartitionKey"]: r for e, r in zip(entries, batch["Records"], strict=True)
        }
        for key, answer in acknowledged.items():  # routed by the MD5 of the partition key
            assert answer["ShardId"] == codec.shard_id(codec.shard_for(codec.hash_key(key), 2))

        read = {}
        for shard in ("shardId-000000000000", "shardId-000000000001"):
            iterator = client.get_shard_iterator(
                StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            got = client.get_records(ShardIterator=iterator, Limit=100)
            for record in got["Records"]:
                read[record["PartitionKey"]] = (record["Data"], record["SequenceNumber"], shard)
            # the proxy's resource answers the same records for the same shard
            proxied = api.get(f"/streams/{name}/sharditerator", params={"shard-id": shard}).json()[
                "ShardIterator"
            ]
            body = api.get(f"/streams/{name}/records", headers={"Shard-Iterator": proxied}).json()
            assert [base64.b64decode(r["Data"]) for r in body["Records"]] == [
                r["Data"] for r in got["Records"]
            ]
        assert {k: v[0] for k, v in read.items()} == sent
        for key, answer in acknowledged.items():
            assert read[key][1:] == (answer["SequenceNumber"], answer["ShardId"])
        after = client.get_shard_iterator(
            StreamName=name,
            ShardId=acknowledged["k-one"]["ShardId"],
            ShardIteratorType="AFTER_SEQUENCE_NUMBER",
            StartingSequenceNumber=acknowledged["k-one"]["SequenceNumber"],
        )["ShardIterator"]
        rest = client.get_records(ShardIterator=after)["Records"]
        assert b'"ind": 1' not in b"".join(r["Data"] for r in rest)
    finally:
        client.delete_stream(StreamName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_stream(StreamName=name)


def _all_data(client, stream: str) -> bytes:
    """Every record's data on every shard of ``stream``, joined."""
    data = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            got = client.get_records(ShardIterator=iterator, Limit=10_000)
            data += [r["Data"] for r in got["Records"]]
            if not got["Records"]:
                break
            iterator = got["NextShardIterator"]
    return b"\n".join(data)


def test_sdk_errors_are_the_exceptions_kinesis_names(kafka_services):
    client = sdk(kafka_services.api.url)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.put_record(StreamName="no-such-stream", PartitionKey="k", Data=b"x")
    with pytest.raises(client.exceptions.ResourceNotFoundException):  # a batch topic
        client.describe_stream(StreamName=kafka_services.topic("pin"))
    with pytest.raises(client.exceptions.ResourceInUseException):  # the stream query's
        client.delete_stream(StreamName=kafka_services.stream("pin"))
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.create_stream(StreamName=kafka_services.stream("pin"), ShardCount=1)
    with pytest.raises(ClientError) as raised:
        client.describe_stream(
            StreamName=kafka_services.stream("pin"),
            StreamARN="arn:aws:kinesis:us-east-1:123456789012:stream/other",
        )
    assert _error(raised)[:2] == (400, "InvalidArgumentException")
    with pytest.raises(ClientError) as raised:  # not served: named, with what is
        client.add_tags_to_stream(StreamName=kafka_services.stream("pin"), Tags={"a": "b"})
    status, code, message = _error(raised)
    assert (status, code) == (400, "UnknownOperationException")
    assert "'AddTagsToStream' is not served" in message and "PutRecords" in message
    with pytest.raises(client.exceptions.InvalidArgumentException):
        client.get_records(ShardIterator="not-an-iterator")


def test_sdk_requests_the_sdk_itself_would_refuse(kafka_services):
    """What a client other than boto3 may send (boto3 checks these before sending)."""
    url = kafka_services.api.url
    stream = kafka_services.stream("geo")
    with httpx.Client(base_url=url, timeout=30) as http:

        def call(operation: str, body: bytes, content_type: str = AMZ_JSON) -> httpx.Response:
            headers = {
                "x-amz-target": f"Kinesis_20131202.{operation}",
                "content-type": content_type,
            }
            return http.post("/", content=body, headers=headers)

        resp = call("GetRecords", b'{"ShardIterator": "x", "Limit": 0}')
        assert resp.status_code == 400 and resp.headers["content-type"] == AMZ_JSON
        assert resp.json() == {  # the model's min: the service's request validation
            "__type": "ValidationException",
            "message": "1 validation error detected: Value '0' at 'limit' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
        }
        resp = call("PutRecord", b'{"StreamName": "%s", "PartitionKey": "k"}' % stream.encode())
        assert resp.json() == {
            "__type": "ValidationException",
            "message": "1 validation error detected: Value null at 'data' failed to satisfy "
            "constraint: Member must not be null",
        }
        resp = call("PutRecord", b"{not json")
        assert (resp.status_code, resp.json()["__type"]) == (400, "SerializationException")
        resp = call("DescribeStream", b"\xa1", "application/x-amz-cbor-1.1")  # the Java SDK's
        assert (resp.status_code, resp.json()["__type"]) == (400, "SerializationException")
        assert "aws.cborEnabled=false" in resp.json()["message"]
        resp = http.post("/", content=b"{}", headers={"x-amz-target": "DynamoDB_20120810.Scan"})
        assert (resp.status_code, resp.json()["__type"]) == (400, "UnknownOperationException")
        # an SDK given another endpoint path is told where the protocol is served
        resp = http.post(
            "/streams", content=b"{}", headers={"x-amz-target": "Kinesis_20131202.ListStreams"}
        )
        assert resp.status_code == 400 and resp.json()["__type"] == "UnknownOperationException"
        assert "is served at POST / (or POST /test/)" in resp.json()["message"]
        # POST / without X-Amz-Target is no resource of the API: Kafka REST's 404, as before
        resp = http.post("/", content=b"{}")
        assert resp.status_code == 404 and resp.json()["error_code"] == 404


def test_an_sdk_endpoint_under_the_stage(kafka_services):
    """API Gateway serves the API under its stage; so is the SDK protocol (``…/test``)."""
    client = sdk(kafka_services.api.url + "/test")
    stream = kafka_services.stream("user")
    answer = client.put_record(StreamName=stream, PartitionKey="staged", Data=b'{"ind": 1}')
    assert codec.parse_sequence_number(answer["SequenceNumber"]) is not None


def test_an_sdk_client_without_the_api_key_gets_kinesis_errors(kafka_services):
    """With an API key configured, an AWS SDK's request without it (or with a wrong one) is
    refused in Kinesis' JSON shape, which boto3 reads as an error code (a 403 ``{"message":
    "Forbidden"}`` was code "403": the new user's trial); the REST resources keep API
    Gateway's 403. With the key (sent by an event hook) the SDK works."""
    (port,) = free_ports(1)
    settings = kafka_services.model_copy(
        update={"api": ApiSettings(host="127.0.0.1", port=port, api_key="s3cret")}
    )
    stream = kafka_services.stream("pin")
    with serve(settings) as url:
        client = sdk(url)
        with pytest.raises(ClientError) as raised:
            client.describe_stream_summary(StreamName=stream)
        status, code, message = _error(raised)
        assert (status, code) == (403, "MissingAuthenticationTokenException")
        assert "x-api-key" in message
        assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code

        def send(key: str):
            def hook(request, **_):
                request.headers["x-api-key"] = key

            return hook

        client.meta.events.register("before-sign.kinesis.*", send("wrong"))
        with pytest.raises(client.exceptions.AccessDeniedException) as denied:
            client.put_record(StreamName=stream, PartitionKey="k", Data=b"{}")
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        keyed = sdk(url)
        keyed.meta.events.register("before-sign.kinesis.*", send("s3cret"))
        summary = keyed.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        assert summary["StreamName"] == stream
        # the tutorial's REST resources: API Gateway's refusal, unchanged
        resp = httpx.get(f"{url}/streams/{stream}")
        assert (resp.status_code, resp.json()) == (403, {"message": "Forbidden"})
        resp = httpx.get(f"{url}/streams/{stream}", headers={"x-api-key": "no"})
        assert (resp.status_code, resp.json()) == (403, {"message": "Forbidden"})


def test_an_sdk_client_pages_shards_and_streams(kafka_services):
    """ListShards honours MaxResults and pages with NextToken, DescribeStream honours Limit,
    ExclusiveStartShardId and HasMoreShards, ListStreams answers a NextToken; the SDK's
    paginators follow them (all were ignored: one page, the new user's trial). As on AWS, a
    NextToken with the StreamName is InvalidArgumentException, which is why boto3's ListShards
    paginator, which sends both, cannot get a second page from Kinesis either
    (boto/botocore#2009)."""
    client = sdk(kafka_services.api.url)
    name = f"sdk-pages-{uuid.uuid4().hex[:8]}"
    ids = [codec.shard_id(i) for i in range(5)]
    client.create_stream(StreamName=name, ShardCount=5)
    try:
        first = client.list_shards(StreamName=name, MaxResults=2)
        assert [s["ShardId"] for s in first["Shards"]] == ids[:2]
        got, token = list(first["Shards"]), first["NextToken"]
        while token:
            page = client.list_shards(NextToken=token, MaxResults=2)
            got += page["Shards"]
            token = page.get("NextToken")
        assert [s["ShardId"] for s in got] == ids
        assert got == client.list_shards(StreamName=name)["Shards"]
        assert "NextToken" not in client.list_shards(StreamName=name, MaxResults=5)
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            client.list_shards(StreamName=name, NextToken=first["NextToken"])
        assert "NextToken and StreamName cannot be provided together" in _error(raised)[2]
        pages = client.get_paginator("list_shards").paginate(
            StreamName=name, PaginationConfig={"PageSize": 2}
        )
        with pytest.raises(client.exceptions.InvalidArgumentException):
            list(pages)

        described = client.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
        assert [s["ShardId"] for s in described["Shards"]] == ids[:2]
        assert described["HasMoreShards"] is True
        rest = client.describe_stream(StreamName=name, Limit=10, ExclusiveStartShardId=ids[1])[
            "StreamDescription"
        ]
        assert [s["ShardId"] for s in rest["Shards"]] == ids[2:] and not rest["HasMoreShards"]
        pages = client.get_paginator("describe_stream").paginate(
            StreamName=name, PaginationConfig={"PageSize": 2}
        )
        assert [s["ShardId"] for p in pages for s in p["StreamDescription"]["Shards"]] == ids

        streams = client.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
        names = [n for page in streams for n in page["StreamNames"]]
        assert name in names and names == sorted(set(names)) and len(names) > 1
    finally:
        client.delete_stream(StreamName=name)


def test_sdk_paging_members_out_of_the_models_range_are_validation_errors(kafka_services):
    """What boto3 refuses before sending, from another client: MaxResults/Limit 0 were taken."""
    stream = kafka_services.stream("geo")
    with httpx.Client(base_url=kafka_services.api.url, timeout=30) as http:
        for operation, member in (("ListShards", "MaxResults"), ("DescribeStream", "Limit")):
            body = {"StreamName": stream, member: 0}
            headers = {"x-amz-target": f"Kinesis_20131202.{operation}", "content-type": AMZ_JSON}
            resp = http.post("/", json=body, headers=headers)
            assert resp.status_code == 400, (operation, resp.text)
            at = member[0].lower() + member[1:]
            assert resp.json() == {
                "__type": "ValidationException",
                "message": f"1 validation error detected: Value '0' at '{at}' failed to satisfy"
                " constraint: Member must have value greater than or equal to 1",
            }


def test_sdk_errors_name_a_clients_unpaired_surrogate_as_unicode(kafka_services):
    """A message that echoes a member holding an unpaired surrogate names it as U+FFFD: it was
    the escape text ``\\ud800`` (Python's repr) in some messages and the surrogate itself in
    others, which boto3 then raised as a message no UTF-8 terminal can print (the new user's
    trial)."""
    client = sdk(kafka_services.api.url)
    stream = kafka_services.stream("geo")
    calls = [
        lambda: client.describe_stream(StreamName="a\ud800"),
        lambda: client.get_shard_iterator(
            StreamName=stream, ShardId=codec.shard_id(0), ShardIteratorType="\udfff"
        ),
        lambda: client.get_shard_iterator(
            StreamName=stream, ShardId="shardId-\ud800", ShardIteratorType="LATEST"
        ),
        lambda: client.list_shards(
            StreamARN=f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}\udc00"
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as raised:
            call()
        status, code, message = _error(raised)
        assert status == 400 and "\ufffd" in message, message
        assert "\\u" not in message and str(raised.value).encode("utf-8")


def test_the_sdks_record_limit_counts_the_partition_key(kafka_services):
    """A record is its data and its partition key: 1 MiB together is taken, one byte more is
    ValidationException, for PutRecord and for the whole PutRecords request (only the data was
    counted: the new user's trial). A PutRecords entry's ErrorCode is only ever
    ProvisionedThroughputExceededException or InternalFailure (PutRecordsResultEntry
    reference): a record over the limit failed that entry alone with "ValidationException"
    (the next trial), and the entries beside it were written."""
    client = sdk(kafka_services.api.url)
    stream = kafka_services.stream("user")
    limit = kafka_services.api.max_record_bytes
    key = "k\u00e9"  # 3 UTF-8 bytes
    fits, over = b"x" * (limit - 3), b"x" * (limit - 2)
    assert client.put_record(StreamName=stream, PartitionKey=key, Data=fits)["SequenceNumber"]
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.put_record(StreamName=stream, PartitionKey=key, Data=over)
    assert f"less than or equal to {limit - 3} (the record size limit" in _error(raised)[2]
    marker = uuid.uuid4().hex.encode()
    entries = [{"PartitionKey": key, "Data": marker}, {"PartitionKey": key, "Data": over}]
    with pytest.raises(client.exceptions.ValidationException) as raised:
        client.put_records(StreamName=stream, Records=entries)
    status, _code, message = _error(raised)
    assert status == 400 and "'records.2.member.data'" in message, message
    assert f"less than or equal to {limit - 3} (the record size limit" in message
    assert marker not in _all_data(client, stream)  # nothing of the request was written


def test_put_records_over_5_mib_is_refused_whole(kafka_services, api):
    """Seven records of 1 MiB (less 2 bytes, with their key) in one PutRecords were taken, 200
    and FailedRecordCount 0 (the new user's trial): a request carries at most 5 MiB, data and
    partition keys together (PutRecords reference), and Kinesis refuses more whole, 400
    InvalidArgumentException "Records size exceeds 5 MB limit". Five such records are taken;
    the tutorial's resource (Kinesis' own entries or the tutorial's) answers alike."""
    client = sdk(kafka_services.api.url)
    stream = kafka_services.stream("user")
    marker = uuid.uuid4().hex.encode()
    record = {"Data": marker + b"x" * (1024 * 1024 - 2 - len(marker)), "PartitionKey": "k"}
    with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
        client.put_records(StreamName=stream, Records=[record] * 7)
    assert _error(raised) == (400, "InvalidArgumentException", "Records size exceeds 5 MB limit")
    assert marker not in _all_data(client, stream)  # nothing of it was written
    assert client.put_records(StreamName=stream, Records=[record] * 5)["FailedRecordCount"] == 0

    native = {"Data": base64.b64encode(record["Data"]).decode(), "PartitionKey": "k"}
    tutorial = {"data": "y" * (1024 * 1024 - 2), "partition-key": "k"}
    for body in ({"Records": [native] * 6}, {"records": [tutorial] * 6}):
        resp = api.put(f"/streams/{stream}/records", json=body)
        assert resp.status_code == 400, resp.text[:300]
        assert resp.json() == {
            "__type": "InvalidArgumentException",
            "message": "Records size exceeds 5 MB limit",
        }


def test_get_shard_iterator_names_its_inputs_and_serves_at_timestamp(kafka_services, api):
    """AT_SEQUENCE_NUMBER without StartingSequenceNumber was answered "starting-sequence-number
    is not a sequence number of this shard." (the REST mapping's name, for a value nobody gave)
    and AT_TIMESTAMP "Unsupported shard-iterator-type 'AT_TIMESTAMP'" (the new user's trial).
    Kinesis requires the input the type goes with and serves AT_TIMESTAMP (GetShardIterator
    reference): here by Kafka's offsets-for-times, from the first record at or after the time,
    on the SDK protocol and the tutorial's resource, each naming its own inputs."""
    import time

    client = sdk(kafka_services.api.url)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=1)
    try:
        shard = codec.shard_id(0)
        base = {"StreamName": name, "ShardId": shard}
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            client.get_shard_iterator(**base, ShardIteratorType="AT_SEQUENCE_NUMBER")
        message = _error(raised)[2]
        assert "Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber." in message
        assert "starting-sequence-number" not in message
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            client.get_shard_iterator(**base, ShardIteratorType="AT_TIMESTAMP")
        assert "Must specify Timestamp for iterator of type AT_TIMESTAMP" in _error(raised)[2]
        rest = api.get(
            f"/streams/{name}/sharditerator",
            params={"shard-id": shard, "shard-iterator-type": "AT_SEQUENCE_NUMBER"},
        )
        assert rest.status_code == 400 and "and no starting-sequence-number." in rest.text

        client.put_record(StreamName=name, PartitionKey="k", Data=b"before")
        time.sleep(0.05)
        between = time.time()
        time.sleep(0.05)
        client.put_record(StreamName=name, PartitionKey="k", Data=b"after")
        for at, expected in ((between, [b"after"]), (0, [b"before", b"after"])):
            iterator = client.get_shard_iterator(
                **base, ShardIteratorType="AT_TIMESTAMP", Timestamp=at
            )["ShardIterator"]
            got = client.get_records(ShardIterator=iterator)["Records"]
            assert [r["Data"] for r in got] == expected
        iterator = api.get(
            f"/streams/{name}/sharditerator",
            params={"shard-id": shard, "shard-iterator-type": "AT_TIMESTAMP", "timestamp": between},
        ).json()["ShardIterator"]
        got = api.get(f"/streams/{name}/records", headers={"Shard-Iterator": iterator}).json()
        assert [base64.b64decode(r["Data"]) for r in got["Records"]] == [b"after"]
        iterator = client.get_shard_iterator(  # later than every record: past the last one
            **base, ShardIteratorType="AT_TIMESTAMP", Timestamp=time.time()
        )["ShardIterator"]
        assert client.get_records(ShardIterator=iterator)["Records"] == []
    finally:
        client.delete_stream(StreamName=name)


def test_create_stream_members_pinlake_does_not_act_on_are_refused(kafka_services, api):
    """CreateStream with StreamModeDetails ON_DEMAND was taken and the stream described as
    PROVISIONED (the new user's trial): a stream here is a Kafka topic of fixed partitions, so
    ON_DEMAND is refused, naming why, and no stream is created (model.MEMBER_POLICY), on the SDK
    protocol and the tutorial's resource; PROVISIONED is taken. So is a MaxRecordSizeInKiB other
    than the API's limit."""
    client = sdk(kafka_services.api.url)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    refused = [
        lambda: client.create_stream(
            StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"}
        ),
        lambda: client.create_stream(StreamName=name, ShardCount=1, MaxRecordSizeInKiB=2048),
    ]
    for call in refused:
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            call()
        assert "is not served" in _error(raised)[2]
    rest = api.post(f"/streams/{name}", json={"StreamModeDetails": {"StreamMode": "ON_DEMAND"}})
    assert rest.status_code == 400 and "StreamMode 'ON_DEMAND' is not served" in rest.text
    assert name not in client.list_streams(ExclusiveStartStreamName=name[:-1])["StreamNames"]

    client.create_stream(
        StreamName=name,
        ShardCount=1,
        StreamModeDetails={"StreamMode": "PROVISIONED"},
        MaxRecordSizeInKiB=kafka_services.api.max_record_bytes // 1024,
        Tags={"team": "data"},
    )
    try:
        described = client.describe_stream(StreamName=name)["StreamDescription"]
        assert described["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=codec.shard_id(0), ShardIteratorType="LATEST"
        )["ShardIterator"]
        other = f"arn:aws:kinesis:us-east-1:123456789012:stream/{kafka_services.stream('user')}"
        with pytest.raises(client.exceptions.InvalidArgumentException):  # GetRecords' StreamARN
            client.get_records(ShardIterator=iterator, StreamARN=other)
        assert client.get_records(ShardIterator=iterator, StreamARN=described["StreamARN"])
    finally:
        client.delete_stream(StreamName=name)


DRY_RUN = (400, "DryRunOperationException", "Request would have succeeded, but DryRun flag is set.")


def test_dry_run_checks_the_request_and_runs_nothing(kafka_services):
    """DryRun true was refused outright, InvalidArgumentException "DryRun is not served". AWS
    checks the request as it would run it and answers 400 DryRunOperationException when it
    passes, the operation's own error when it does not, and never writes, reads or issues
    anything (Kinesis developer guide, "Test your permissions and request inputs with dry
    run"): PutRecord, PutRecords, GetShardIterator and GetRecords, which have DryRun in the
    service model. CreateStream has none, and DryRun true there creates no stream."""
    client = sdk(kafka_services.api.url)
    name = f"sdk-dry-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=1)
    try:
        shard = codec.shard_id(0)
        with pytest.raises(client.exceptions.DryRunOperationException) as raised:
            client.put_record(StreamName=name, PartitionKey="k", Data=b"dry", DryRun=True)
        assert _error(raised) == DRY_RUN
        records = [{"PartitionKey": "k", "Data": b"dry-batch"}] * 3
        with pytest.raises(client.exceptions.DryRunOperationException) as raised:
            client.put_records(StreamName=name, Records=records, DryRun=True)
        assert _error(raised) == DRY_RUN
        assert _all_data(client, name) == b""  # neither dry run wrote its records

        # a dry run that would fail gets the error the request gets without DryRun
        with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
            client.put_record(StreamName=name + "-no", PartitionKey="k", Data=b"x", DryRun=True)
        assert _error(raised) == (
            400,
            "ResourceNotFoundException",
            f"Stream '{name}-no' under account 123456789012 not found.",
        )
        over = b"x" * (kafka_services.api.max_record_bytes + 1)
        with pytest.raises(client.exceptions.ValidationException) as raised:
            client.put_records(
                StreamName=name, Records=[{"PartitionKey": "k", "Data": over}], DryRun=True
            )
        limit = kafka_services.api.max_record_bytes
        assert _error(raised) == (
            400,
            "ValidationException",
            "1 validation error detected: Value at 'records.1.member.data' failed to satisfy"
            f" constraint: Member must have length less than or equal to {limit}",
        )
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            client.get_shard_iterator(
                StreamName=name, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", DryRun=True
            )
        assert _error(raised)[2] == (
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and"
            " StartingSequenceNumber or (2) TRIM_HORIZON, LATEST or AT_TIMESTAMP and no"
            " StartingSequenceNumber. Request specified AT_SEQUENCE_NUMBER and no"
            " StartingSequenceNumber."
        )
        with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
            client.get_shard_iterator(
                StreamName=name, ShardId=codec.shard_id(1), ShardIteratorType="LATEST", DryRun=True
            )
        assert _error(raised)[2] == (
            f"Shard '{codec.shard_id(1)}' in stream '{name}' under account 123456789012 does not"
            " exist."
        )
        with pytest.raises(client.exceptions.InvalidArgumentException) as raised:
            client.get_records(ShardIterator="not-an-iterator", DryRun=True)
        assert _error(raised) == (400, "InvalidArgumentException", "Invalid ShardIterator.")

        put = client.put_record(StreamName=name, PartitionKey="k", Data=b"real")
        for kind, more in (
            ("TRIM_HORIZON", {}),
            ("AT_SEQUENCE_NUMBER", {"StartingSequenceNumber": put["SequenceNumber"]}),
            ("AT_TIMESTAMP", {"Timestamp": 0}),
        ):
            with pytest.raises(client.exceptions.DryRunOperationException) as raised:
                client.get_shard_iterator(
                    StreamName=name, ShardId=shard, ShardIteratorType=kind, DryRun=True, **more
                )
            assert _error(raised) == DRY_RUN, kind
        iterator = client.get_shard_iterator(
            StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        with pytest.raises(client.exceptions.DryRunOperationException) as raised:
            client.get_records(ShardIterator=iterator, DryRun=True)
        assert _error(raised) == DRY_RUN
        assert [r["Data"] for r in client.get_records(ShardIterator=iterator)["Records"]] == [
            b"real"
        ]
        assert _all_data(client, name) == b"real"
    finally:
        client.delete_stream(StreamName=name)

    # CreateStream has no DryRun in the model (boto3 will not send it): no stream is created
    with httpx.Client(base_url=kafka_services.api.url, timeout=30) as http:
        headers = {"x-amz-target": "Kinesis_20131202.CreateStream", "content-type": AMZ_JSON}
        resp = http.post("/", json={"StreamName": name, "DryRun": True}, headers=headers)
    assert resp.status_code == 400 and resp.json()["__type"] == "InvalidArgumentException"
    assert resp.json()["message"].startswith("DryRun is not served by CreateStream: ")
    assert name not in client.list_streams(ExclusiveStartStreamName=name[:-1])["StreamNames"]


def test_an_iterator_of_a_deleted_stream_never_reads_the_stream_created_in_its_place(
    kafka_services, api
):
    """A shard iterator taken before its stream was deleted and created again under the same
    name read the new stream's records, at the old stream's offsets (the new user's trial). An
    iterator belongs to the stream it was issued for: Kinesis answers ResourceNotFoundException
    "Shard ... in stream ... does not exist" for an iterator of a deleted stream and of a shard
    the new stream lacks (kinesalite's getRecords tests, run against production Kinesis), and
    so does pinlake for a shard the new stream has, on the SDK protocol and the tutorial's
    resource alike. A new iterator reads the new stream."""
    client = sdk(kafka_services.api.url)
    name = f"sdk-again-{uuid.uuid4().hex[:8]}"
    shard0, shard1 = codec.shard_id(0), codec.shard_id(1)

    def gone(shard: str) -> tuple[int, str, str]:
        return (
            400,
            "ResourceNotFoundException",
            f"Shard '{shard}' in stream '{name}' under account 123456789012 does not exist.",
        )

    client.create_stream(StreamName=name, ShardCount=2)
    try:
        client.put_records(
            StreamName=name, Records=[{"PartitionKey": str(i), "Data": b"old"} for i in range(8)]
        )
        old = {
            shard: client.get_shard_iterator(
                StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for shard in (shard0, shard1)
        }
        assert b"old" in [
            r["Data"] for r in client.get_records(ShardIterator=old[shard0])["Records"]
        ]
    finally:
        client.delete_stream(StreamName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.get_records(ShardIterator=old[shard0])
    assert _error(raised) == gone(shard0)

    client.create_stream(StreamName=name, ShardCount=1)
    try:
        client.put_record(StreamName=name, PartitionKey="k", Data=b"new")
        for shard in (shard0, shard1):
            with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
                client.get_records(ShardIterator=old[shard])
            assert _error(raised) == gone(shard)
            with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
                client.get_records(ShardIterator=old[shard], DryRun=True)
            assert _error(raised) == gone(shard)
        resp = api.get(f"/streams/{name}/records", headers={"Shard-Iterator": old[shard0]})
        assert (resp.status_code, resp.json()) == (
            400,
            {"__type": gone(shard0)[1], "message": gone(shard0)[2]},
        )
        new = client.get_shard_iterator(
            StreamName=name, ShardId=shard0, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        got = client.get_records(ShardIterator=new)
        assert [r["Data"] for r in got["Records"]] == [b"new"]
        assert client.get_records(ShardIterator=got["NextShardIterator"])["Records"] == []
    finally:
        client.delete_stream(StreamName=name)
