"""Error bodies: Kafka REST `{"error_code", "message"}`, Kinesis `{"__type", "message"}`."""

from __future__ import annotations

import orjson
from starlette.responses import Response

KAFKA_V2 = "application/vnd.kafka.v2+json"
AMZ_JSON = "application/x-amz-json-1.1"


class ApiError(Exception):
    """A whole-request failure rendered in the style of the API that raised it."""

    def __init__(self, status: int, message: str, code: int | str | None = None, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else status
        self.extra = extra


class KafkaRestError(ApiError):
    def response(self) -> Response:
        body = {"error_code": self.code, "message": self.message, **self.extra}
        return Response(orjson.dumps(body), status_code=self.status, media_type=KAFKA_V2)


class KinesisError(ApiError):
    def response(self) -> Response:
        body = {"__type": self.code, "message": self.message, **self.extra}
        return Response(orjson.dumps(body), status_code=self.status, media_type=AMZ_JSON)


def kafka_json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=KAFKA_V2)


def amz_json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=AMZ_JSON)
