"""Each facade maps a broker outage and a codec error once, for every route of its router
(an in-process ASGI app; no Kafka is involved)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from pinlake.ingest_api.errors import (
    AMZ_JSON,
    KAFKA_V2,
    ApiError,
    BrokerUnavailable,
    KafkaRestError,
    KinesisError,
    facade_route,
)
from pinlake.ingest_api.kafka_rest.routes import broker_unavailable
from pinlake.ingest_api.kinesis.operations import service_unavailable
from pinlake.ingest_api.wire import CodecError


def _client(error: type[ApiError], unavailable) -> TestClient:
    router = APIRouter(route_class=facade_route(error, unavailable))

    @router.get("/down")
    async def down():
        raise BrokerUnavailable("gone")

    @router.get("/bad")
    async def bad():
        raise CodecError(422, "nope", 42206, offsets=[])

    app = FastAPI()
    app.include_router(router)

    @app.exception_handler(ApiError)
    async def _render(_request, exc: ApiError):
        return exc.response()

    return TestClient(app)


def test_kafka_rest_routes_answer_503_50302_and_render_codec_errors():
    client = _client(KafkaRestError, broker_unavailable)
    resp = client.get("/down")
    assert resp.status_code == 503
    assert resp.headers["content-type"] == KAFKA_V2
    assert resp.json() == {"error_code": 50302, "message": "Broker not available."}
    resp = client.get("/bad")
    assert resp.status_code == 422
    assert resp.json() == {"error_code": 42206, "message": "nope", "offsets": []}


def test_kinesis_routes_answer_503_service_unavailable_and_render_codec_errors():
    client = _client(KinesisError, service_unavailable)
    resp = client.get("/down")
    assert resp.status_code == 503
    assert resp.headers["content-type"] == AMZ_JSON
    assert resp.json() == {
        "__type": "ServiceUnavailable",  # AWS's common error; Kinesis has no ...Exception
        "message": "Kafka broker not available.",
    }
    resp = client.get("/bad")
    assert resp.status_code == 422
    assert resp.json() == {"__type": 42206, "message": "nope", "offsets": []}


def test_an_error_that_echoes_an_unpaired_surrogate_is_written() -> None:
    """An error message that echoes a client's ``"\\ud800"`` made the response itself fail
    (orjson refuses it): a 500 instead of the error (helper-49). Both facades write it."""
    import json

    for error in (KafkaRestError(422, "Invalid value \ud800", 42204), KinesisError(400, "\udfff")):
        resp = error.response()
        assert json.loads(resp.body)["message"] in ("Invalid value \ud800", "\udfff")


def test_consumer_names_and_settings_must_be_unicode_text() -> None:
    from pinlake.ingest_api.kafka_rest import consumer_codec as cc

    for body in ({"name": "a\ud800"}, {"id": "\udfff"}, {"format": "\ud800"}):
        try:
            cc.parse_create(body)
        except CodecError as exc:
            assert (exc.status, exc.code) == (400, 400)
            assert "unpaired surrogate" in exc.message
        else:
            raise AssertionError(f"{body} was accepted")
