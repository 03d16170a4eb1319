"""The ingestion benchmark's HTTP baseline: a no-op produce endpoint on the API's server stack.

    python bench/noop_server.py [--bare]     # settings from the PINLAKE_* environment, as the API

``POST /topics/{topic}`` reads the request body (under the API's size limit) and answers a fixed
200 with the body of a one-record produce response, without parsing, validating or producing
anything: what one record per request could reach if the API's own work cost nothing.

"The stack" is everything the API's requests pass through that is not the produce work, taken
from the API's own code so the two cannot drift apart:

- the server: :func:`pinlake.ingest_api.server.serve` (one uvicorn process, uvloop, httptools,
  no access log, the same collector settings);
- the framework: a FastAPI app with the API's options, its Kafka REST route class, and the same
  middleware in the same order (API Gateway path rules outermost, then the ``x-api-key`` check
  when a key is set), so request paths go through the same normalisation.

With ``--bare`` the app is a plain ASGI callable instead (no FastAPI, no middleware) that does
the same: the ceiling of the HTTP server alone, printed for information (the share of a request
FastAPI and the middleware take).

Not part of the product API: it is started only by bench/bench_ingestion.py.
"""

from __future__ import annotations

import argparse
import sys

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from pinlake.config import Settings
from pinlake.ingest_api.app import ApiKeyMiddleware
from pinlake.ingest_api.errors import KafkaRestError, facade_route
from pinlake.ingest_api.kafka_rest.routes import broker_unavailable
from pinlake.ingest_api.paths import PathRulesMiddleware
from pinlake.ingest_api.request_io import BodyTooLarge, read_body
from pinlake.ingest_api.server import serve

#: The answer to every request: a one-record produce response, byte for byte the API's shape.
FIXED_BODY = (
    b'{"key_schema_id":null,"value_schema_id":null,'
    b'"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}]}'
)
MEDIA_TYPE = "application/vnd.kafka.v2+json"


def noop_app(settings: Settings) -> FastAPI:
    """A FastAPI app with the API's options, route class and middleware and one route,
    ``POST /topics/{topic}``: read the body, answer :data:`FIXED_BODY` (413 past the limit)."""
    app = FastAPI(title="pinlake no-op baseline", redirect_slashes=False)
    router = APIRouter(route_class=facade_route(KafkaRestError, broker_unavailable))
    limit = settings.api.max_request_bytes

    @router.post("/topics/{topic}")
    async def produce_noop(request: Request, topic: str) -> Response:
        try:
            await read_body(request, limit)
        except BodyTooLarge:
            raise KafkaRestError(413, "Request Entity Too Large") from None
        return Response(FIXED_BODY, media_type=MEDIA_TYPE)

    app.include_router(router)

    @app.exception_handler(KafkaRestError)
    async def _api_error(_request: Request, exc: KafkaRestError) -> Response:
        return exc.response()

    # as create_app: the last one added runs first (path rules, then the API key, then routing)
    key = settings.api.api_key
    if key is not None and key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, key=key.get_secret_value())
    app.add_middleware(PathRulesMiddleware, stage=settings.api.stage)
    return app


_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(FIXED_BODY)).encode()),
    ],
}
_BODY = {"type": "http.response.body", "body": FIXED_BODY}


async def bare_app(scope, receive, send) -> None:
    """Plain ASGI: read the whole body, answer :data:`FIXED_BODY` (lifespan accepted)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(_START)
    await send(_BODY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", action="store_true", help="plain ASGI, no FastAPI/middleware")
    args = parser.parse_args(argv)
    settings = Settings()
    serve(bare_app if args.bare else noop_app(settings), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
