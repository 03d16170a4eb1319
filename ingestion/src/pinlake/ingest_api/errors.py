"""Errors and how each facade renders them, mapped in one place per facade.

- Kafka REST v2 bodies are ``{"error_code": int, "message": str}`` with the media type
  ``application/vnd.kafka.v2+json`` (Confluent REST Proxy v2 API reference, "Errors").
- Kinesis bodies are ``{"__type": "<ExceptionName>", "message": str}`` with
  ``application/x-amz-json-1.1`` (AWS Kinesis API reference, "Common Errors").

Every body is written by :func:`pinlake.ingest_api.wire.dumps`, which writes any value the
request parser returns: a message or record that echoes a client's string with an unpaired
surrogate (JSON's ``"\\ud800"``) is escaped, never a failed response (it was a 500).

Routes let :class:`BrokerUnavailable` (from the backend) and
:class:`~pinlake.ingest_api.wire.CodecError` (from a pure codec) propagate; the route class that
:func:`facade_route` makes for each facade's router turns them into that facade's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from pinlake.ingest_api.wire import CodecError, dumps

KAFKA_V2 = "application/vnd.kafka.v2+json"
AMZ_JSON = "application/x-amz-json-1.1"


class BrokerUnavailable(Exception):
    """Kafka cannot be reached; each facade answers 503 (see :func:`facade_route`)."""


class ApiError(Exception):
    """A whole-request failure, rendered by :meth:`response` in the style of its facade.

    ``status`` is the HTTP status, ``code`` the facade's error code (defaults to ``status``),
    ``extra`` more body fields (e.g. the per-record ``offsets`` of a failed produce).
    """

    def __init__(self, status: int, message: str, code: int | str | None = None, **extra) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else status
        self.extra = extra

    def response(self) -> Response:
        """The error as its facade answers it (status, body, media type)."""
        raise NotImplementedError


class KafkaRestError(ApiError):
    """Kafka REST v2 error: ``{"error_code", "message", **extra}``, ``KAFKA_V2`` media type."""

    def response(self) -> Response:
        """``{"error_code", "message", **extra}`` with ``status``, as ``KAFKA_V2``."""
        body = {"error_code": self.code, "message": self.message, **self.extra}
        return Response(dumps(body), status_code=self.status, media_type=KAFKA_V2)


class KinesisError(ApiError):
    """Kinesis error: ``{"__type", "message", **extra}``, ``AMZ_JSON`` media type, and the code
    in the ``x-amzn-ErrorType`` header too, as AWS's JSON protocol sends it (an SDK reads
    either: botocore the body's ``__type``, the AWS SDK for Java v2 the header first)."""

    def response(self) -> Response:
        """``{"__type", "message", **extra}`` with ``status`` and ``x-amzn-ErrorType``, as
        ``AMZ_JSON``."""
        body = {"__type": self.code, "message": self.message, **self.extra}
        headers = {"x-amzn-ErrorType": str(self.code)}
        return Response(dumps(body), self.status, headers=headers, media_type=AMZ_JSON)


def kafka_json(body: Any, status: int = 200) -> Response:
    """A Kafka REST v2 response (``application/vnd.kafka.v2+json``)."""
    return Response(dumps(body), status_code=status, media_type=KAFKA_V2)


def amz_json(body: Any, status: int = 200) -> Response:
    """A Kinesis response (``application/x-amz-json-1.1``)."""
    return Response(dumps(body), status_code=status, media_type=AMZ_JSON)


def facade_route(error: type[ApiError], unavailable: Callable[[], ApiError]) -> type[APIRoute]:
    """A route class for one facade's router that maps, for every route of it:

    - :class:`BrokerUnavailable` to ``unavailable()`` (the facade's 503);
    - :class:`CodecError` to ``error(status, message, code, **extra)``.

    Other exceptions pass through unchanged (an :class:`ApiError` is rendered by the app's
    handler, anything else becomes a 500).
    """

    class FacadeRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except BrokerUnavailable:
                    raise unavailable() from None
                except CodecError as exc:
                    raise error(exc.status, exc.message, exc.code, **exc.extra) from None

            return handle

    FacadeRoute.__name__ = f"{error.__name__.removesuffix('Error')}Route"
    return FacadeRoute
