"""Errors that reach an AWS SDK's request (Kinesis' own JSON protocol, ``X-Amz-Target``) before
or outside a Kinesis operation are in that protocol's shape, which botocore reads as an error
code: the API key refusal and an unexpected failure (an in-process app; no Kafka involved)."""

from __future__ import annotations

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from fastapi.testclient import TestClient
from pinlake_testing import isolated_settings

from pinlake.config import ApiSettings
from pinlake.ingest_api import create_app
from pinlake.ingest_api.app import key_refusal
from pinlake.ingest_api.kinesis import sdk_protocol

TARGET = {"x-amz-target": "Kinesis_20131202.ListStreams"}


def _botocore_error(status: int, headers: dict[str, str], body: bytes) -> dict:
    """The error botocore's JSON protocol parser makes of a response (what boto3 raises)."""
    model = ServiceModel({"metadata": {"protocol": "json"}, "operations": {}, "shapes": {}})
    parser = create_parser(model.metadata["protocol"])
    parsed = parser.parse({"status_code": status, "headers": headers, "body": body}, None)
    return parsed["Error"]


@pytest.fixture()
def app(tmp_path):
    settings = isolated_settings(tmp_path / "home")
    settings = settings.model_copy(
        update={"api": ApiSettings(host="127.0.0.1", port=1, api_key="k")}
    )
    return create_app(settings)


def test_the_key_refusal_is_read_by_botocore_as_a_kinesis_error_code():
    for given, expected in ((None, "MissingAuthenticationTokenException"), (b"x", "Access")):
        status, headers, body = key_refusal(True, given)
        error = _botocore_error(status, headers, body)
        assert error["Code"].startswith(expected) and headers["x-amzn-errortype"] == error["Code"]
        assert "x-api-key" in error["Message"]
    assert key_refusal(False, None) == (
        403,
        {"content-type": "application/json"},
        b'{"message":"Forbidden"}',
    )


def test_an_sdk_request_without_the_key_is_refused_in_kinesis_shape(app):
    client = TestClient(app)
    for path in ("/", "/test/", "/streams", "/no/such/path"):
        resp = client.post(path, content=b"{}", headers=TARGET)
        assert resp.status_code == 403 and resp.headers["x-amzn-errortype"] == (
            "MissingAuthenticationTokenException"
        )
        assert resp.json()["__type"] == "MissingAuthenticationTokenException", path
        resp = client.post(path, content=b"{}", headers={**TARGET, "x-api-key": "no"})
        assert (resp.status_code, resp.json()["__type"]) == (400, "AccessDeniedException")
    for path in ("/streams", "/topics/t"):  # the REST resources: API Gateway's 403
        resp = client.get(path)
        assert (resp.status_code, resp.json()) == (403, {"message": "Forbidden"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/topics/pinterest.pin"),  # helper-80: the Kafka REST proxy's 415
        ("POST", "/test/topics/pinterest.pin"),
        ("GET", "/topics"),
        ("POST", "/consumers/g"),
        ("PUT", "/streams/s/record"),
        ("GET", "/streams"),
        ("GET", "/healthz"),
        ("POST", "/kinesis"),
    ],
)
def test_an_sdk_request_to_another_path_is_told_where_the_protocol_is_served(app, method, path):
    """README: a request with ``X-Amz-Target`` to another path is told where the protocol is
    served. ``POST /topics/<topic>`` answered the Kafka REST proxy's 415 for the SDK's content
    type instead; now every path but the root answers Kinesis' 400 naming ``POST /``, in the
    shape botocore reads (after the key check, which comes first)."""
    client = TestClient(app)
    headers = {**TARGET, "x-api-key": "k", "content-type": "application/x-amz-json-1.1"}
    resp = client.request(method, path, content=b"{}", headers=headers)
    assert resp.status_code == 400, resp.text
    error = _botocore_error(resp.status_code, dict(resp.headers), resp.content)
    assert error["Code"] == "UnknownOperationException"
    assert error["Message"] == (
        "X-Amz-Target 'Kinesis_20131202.ListStreams': Kinesis' own API (the AWS SDKs' protocol) is "
        f"served at POST / (or POST /test/): give the SDK the API's root as its endpoint URL, "
        f"not {method} {path}."
    )


def test_an_unexpected_failure_of_an_sdk_request_is_internal_failure(app, monkeypatch):
    """A 500 was Kafka REST's body, which botocore read as code "500"."""

    async def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setitem(sdk_protocol.OPERATIONS, "ListStreams", broken)
    client = TestClient(app, raise_server_exceptions=False)
    resp = client.post("/", content=b"{}", headers={**TARGET, "x-api-key": "k"})
    assert resp.status_code == 500
    assert resp.json() == {"__type": "InternalFailure", "message": "Internal Server Error"}
    error = _botocore_error(resp.status_code, dict(resp.headers), resp.content)
    assert error["Code"] == "InternalFailure"
