"""Which records of a produce request the API acknowledged (pinlake.produce.http.unacknowledged):
the rule that decides what a retry sends again, so that a retry never duplicates an
acknowledged record nor drops an unacknowledged one."""

from __future__ import annotations

import orjson
import pytest

from pinlake.produce.http import unacknowledged


def _body(value: object) -> bytes:
    return orjson.dumps(value)


def _offset(n: int) -> dict:
    return {"partition": 0, "offset": n, "error_code": None, "error": None}


def _failed_offset() -> dict:
    return {"partition": None, "offset": None, "error_code": 50003, "error": "broker down"}


def test_rest_proxy_all_acknowledged():
    body = _body({"offsets": [_offset(7), _offset(8), _offset(9)]})
    assert unacknowledged([0, 1, 2], 200, body, stream=False) == []


def test_rest_proxy_5xx_with_partial_offsets_resends_only_the_failed_records():
    # pending holds indexes into the original request: a second try of records 1, 4 and 5
    body = _body({"offsets": [_offset(3), _failed_offset(), _offset(4)], "error_code": 50003})
    assert unacknowledged([1, 4, 5], 500, body, stream=False) == [4]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b"Service Unavailable"),  # not JSON
        (500, _body(["offsets"])),  # JSON, but not an object
        (500, _body({"error_code": 50003, "message": "timeout"})),  # no offsets
        (200, _body({"offsets": [_offset(1)]})),  # one entry for two records
        (200, _body({"offsets": [_offset(1), {"offset": 2, "error_code": 40403}]})),
        (429, _body({"offsets": [_offset(1), _offset(2)]})),  # throttled: nothing was taken
    ],
)
def test_a_response_that_does_not_acknowledge_each_record_resends_them(status, body):
    left = unacknowledged([0, 1], status, body, stream=False)
    if status == 200 and b"40403" in body:
        assert left == [1]
    else:
        assert left == [0, 1]


def test_kinesis_put_records_partial_failure_resends_only_the_failed_entries():
    body = _body(
        {
            "FailedRecordCount": 1,
            "Records": [
                {"SequenceNumber": "4960", "ShardId": "shardId-000000000000"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "broker down"},
                {"SequenceNumber": "4961", "ShardId": "shardId-000000000000"},
            ],
        }
    )
    assert unacknowledged([0, 1, 2], 200, body, stream=True) == [1]


def test_kinesis_put_record_acknowledged_by_its_sequence_number():
    body = _body({"SequenceNumber": "4960", "ShardId": "shardId-000000000000"})
    assert unacknowledged([0], 200, body, stream=True) == []
    assert unacknowledged([0], 500, body, stream=True) == [0]  # a 5xx is never an ack
    assert unacknowledged([0], 200, _body({"ShardId": "x"}), stream=True) == [0]
