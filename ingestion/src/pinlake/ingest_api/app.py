"""FastAPI app factory: the two facades' routers, the API key, generic error bodies, health.

Broker and codec errors are mapped by each facade's route class
(:func:`pinlake.ingest_api.errors.facade_route`); the handlers here render :class:`ApiError`
and what no facade claims (unknown routes, unexpected exceptions): under ``/streams`` as
Kinesis bodies, elsewhere as Kafka REST v2 bodies. Request paths are read the API Gateway way
(repeated slashes, the stage segment, a trailing slash) by :mod:`pinlake.ingest_api.paths`,
before the API key check and routing.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from pinlake import kafka
from pinlake.config import Settings
from pinlake.ingest_api.backend import KafkaBackend
from pinlake.ingest_api.errors import AMZ_JSON, KAFKA_V2, ApiError, KinesisError, kafka_json
from pinlake.ingest_api.kafka_rest.consumer_routes import router as kafka_rest_consumer_router
from pinlake.ingest_api.kafka_rest.routes import router as kafka_rest_router
from pinlake.ingest_api.kinesis.codec import quote
from pinlake.ingest_api.kinesis.routes import router as kinesis_router
from pinlake.ingest_api.kinesis.sdk_protocol import router as kinesis_sdk_router
from pinlake.ingest_api.paths import CLIENT_PATH_KEY, PathRulesMiddleware, misplaced_stage
from pinlake.ingest_api.wire import dumps

log = logging.getLogger("pinlake.api")

OPEN_PATHS = frozenset({"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})
#: Where the docs page's Swagger UI files are served from the API itself (fastapi-offline's
#: copies: an offline machine showed a blank page when they came from a CDN, helper-80); open
#: as the page is.
DOCS_STATIC = "/docs/static"

#: The Kinesis proxy's resources; what no route there claims is answered in Kinesis' shape.
KINESIS_ROOT = "/streams"


def _is_kinesis_path(path: str) -> bool:
    return path == KINESIS_ROOT or path.startswith(KINESIS_ROOT + "/")


#: How a request says it speaks Kinesis' own JSON protocol (the AWS SDKs'): this header names
#: the operation (``Kinesis_20131202.<Operation>``), whatever the path it was sent to.
AMZ_TARGET = b"x-amz-target"


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def key_refusal(sdk: bool, given: bytes | None) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` refusing a request whose ``x-api-key`` is missing
    (``given`` None) or wrong, in the shape its client reads.

    - The REST resources (both facades): API Gateway's answer to a missing or invalid API key,
      403 ``{"message": "Forbidden"}`` (API Gateway developer guide, "Gateway response types":
      ``INVALID_API_KEY``/``MISSING_AUTHENTICATION_TOKEN``).
    - Kinesis' own JSON protocol (``sdk``: the request has ``X-Amz-Target``): the protocol's
      error, ``{"__type", "message"}`` with ``x-amzn-ErrorType``, which botocore's JSON parser
      reads as the error code (``__type``; a 403 without it was read as code "403"). The codes
      are AWS's common errors (AWS Kinesis API reference, "Common Errors"): no key is
      ``MissingAuthenticationToken``, HTTP 403 ("The request must contain either a valid
      (registered) AWS access key ID or X.509 certificate"), named with the ``Exception`` suffix
      as AWS's JSON-protocol services send it; a wrong key is ``AccessDeniedException``, HTTP 400
      ("You do not have sufficient access to perform this action"), also a modeled error of
      Kinesis' operations, so an SDK raises its own class for it
      (``client.exceptions.AccessDeniedException`` in boto3). Each message says how an SDK
      sends the key.
    """
    if not sdk:
        return 403, {"content-type": "application/json"}, b'{"message":"Forbidden"}'
    how = (
        " An AWS SDK sends it as a header of every request; with boto3: client.meta.events."
        'register("before-sign.kinesis.*", lambda request, **_: request.headers.__setitem__'
        '("x-api-key", KEY)).'
    )
    if given is None:
        status, code = 403, "MissingAuthenticationTokenException"
        message = "Missing Authentication Token: this API needs its key in the x-api-key header."
    else:
        status, code = 400, "AccessDeniedException"
        message = "The x-api-key header does not hold this API's key."
    body = dumps({"__type": code, "message": message + how})
    return status, {"content-type": AMZ_JSON, "x-amzn-errortype": code}, body


def _open_path(path: str) -> bool:
    """A path served without the API key: :data:`OPEN_PATHS` and the docs page's files."""
    return path in OPEN_PATHS or path.startswith(DOCS_STATIC + "/")


class ApiKeyMiddleware:
    """Pure-ASGI check of ``x-api-key`` when a key is configured; a request without the key is
    refused in its protocol's shape (:func:`key_refusal`): API Gateway's 403 on the REST
    resources, Kinesis' JSON error for an AWS SDK's request (``X-Amz-Target``).

    It runs inside :class:`~pinlake.ingest_api.paths.PathRulesMiddleware`, so ``OPEN_PATHS``
    are matched after normalisation (``/test/healthz/`` is open as ``/healthz`` is).
    """

    def __init__(self, app, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope, receive, send):
        """ASGI: refuse an HTTP request to a path that is not open without the key."""
        # (the type first: a lifespan scope has no path, and reading it broke the start-up)
        if scope["type"] == "http" and not _open_path(scope["path"]):
            given = _header(scope, b"x-api-key")
            if not hmac.compare_digest(given or b"", self.key):
                sdk = _header(scope, AMZ_TARGET) is not None
                status, headers, body = key_refusal(sdk, given)
                raw = [(k.encode(), v.encode()) for k, v in headers.items()]
                raw.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": raw})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def sdk_elsewhere(target: str, method: str, sent: str, stage: str) -> KinesisError:
    """Kinesis' 400 ``UnknownOperationException`` for an AWS SDK's request (``X-Amz-Target``,
    Kinesis' own JSON protocol) sent as ``method sent`` instead of to ``POST /`` (or ``POST
    /<stage>/``), naming where the protocol is served (README "Kinesis")."""
    at = "POST /" + (f" (or POST /{stage}/)" if stage else "")
    return KinesisError(
        400,
        f"X-Amz-Target {quote(target)}: Kinesis' own API (the AWS SDKs' protocol) is served at"
        f" {at}: give the SDK the API's root as its endpoint URL, not {method} {sent}.",
        "UnknownOperationException",
    )


class SdkPathMiddleware:
    """Pure-ASGI: a request with ``X-Amz-Target`` (an AWS SDK's, Kinesis' own JSON protocol) to
    any path but the root is answered :func:`sdk_elsewhere` before routing. The routes of that
    path would answer in their own protocol instead (helper-80: ``POST /topics/<topic>`` got
    the Kafka REST proxy's 415 for the SDK's ``application/x-amz-json-1.1``, with no word of
    where Kinesis is served). It runs inside :class:`~pinlake.ingest_api.paths.PathRulesMiddleware`
    (the path without the stage)."""

    def __init__(self, app, stage: str) -> None:
        self.app = app
        self.stage = stage

    async def __call__(self, scope, receive, send):
        """ASGI: answer an SDK's request to a path but the root; pass anything else on."""
        if scope["type"] == "http" and scope["path"] not in ("/", scope.get("root_path", "") + "/"):
            target = _header(scope, AMZ_TARGET)
            if target is not None:
                sent = scope.get(CLIENT_PATH_KEY, scope["path"])
                refusal = sdk_elsewhere(target.decode("latin-1"), scope["method"], sent, self.stage)
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    """The ingestion API for ``settings`` (Kafka at ``settings.kafka.bootstrap_servers``).

    Kafka REST v2 under ``/topics``, ``/brokers`` and ``/consumers``, the Kinesis proxy under
    ``/streams``, Kinesis' own JSON protocol (the AWS SDKs') at ``POST /``, ``/healthz``
    (``{"status": "ok", "kafka": "ok"|"down"}``) and the OpenAPI docs (``/docs``: Swagger UI,
    its files served by the API under :data:`DOCS_STATIC`, fastapi-offline's). With
    ``settings.api.api_key`` set, every other path needs the ``x-api-key`` header
    (:func:`key_refusal`: API Gateway's 403, or Kinesis' error for an AWS SDK's request).

    Every path is also served with repeated slashes, under ``/<settings.api.stage>`` and with a
    trailing slash (:func:`pinlake.ingest_api.paths.normalise_path`; never a redirect). An
    unknown path or method answers 404/405 in Kinesis' shape under ``/streams``
    (``{"__type": "UnknownOperationException", "message"}``), else in Kafka REST v2's; so does
    an unexpected failure (500: ``InternalFailure`` there and for any request with
    ``X-Amz-Target``). Kinesis' own JSON protocol, which the AWS SDKs speak, is ``POST /``
    with ``X-Amz-Target`` (:mod:`pinlake.ingest_api.kinesis.sdk_protocol`); such a request to
    another path or method is 400 in Kinesis' shape, naming where it is served.

    Raises ``ValueError`` if the stage is also the first segment of a route (``topics``,
    ``streams``, ...): the plain paths would then be read as staged ones.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.backend = KafkaBackend(settings)
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.backend.close)

    app = FastAPIOffline(
        static_url=DOCS_STATIC,
        title="pinlake ingestion API",
        version="1",
        description=(
            "Kafka REST Proxy v2 produce endpoints and the API Gateway Kinesis proxy, "
            "backed by a Kafka cluster. Records are acknowledged only after acks=all."
        ),
        lifespan=lifespan,
        redoc_url=None,
        # paths are normalised before routing (trailing slash included): never a 307
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.include_router(kafka_rest_router)
    app.include_router(kafka_rest_consumer_router)
    app.include_router(kinesis_router)
    app.include_router(kinesis_sdk_router)
    stage = settings.api.stage
    roots = {route.path.split("/")[1] for route in app.routes} | {"healthz"}

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        path = request.url.path
        sent = request.scope.get(CLIENT_PATH_KEY, path)
        hint, shape_path = "", path
        wrong = misplaced_stage(path, stage, roots) if exc.status_code == 404 else None
        if wrong is not None:
            segment, rest = wrong
            shape_path = rest
            hint = (
                f" '{segment}' is not this API's stage: use /{stage}{rest} or {rest}."
                if stage
                else f" This API has no stage '{segment}': use {rest}."
            )
        target = request.headers.get("x-amz-target")
        if target is not None and exc.status_code in (404, 405):
            # an AWS SDK's request at the root with another method (SdkPathMiddleware answers
            # it on any other path)
            return sdk_elsewhere(target, request.method, sent, stage).response()
        if _is_kinesis_path(shape_path):
            message = {
                404: f"The Kinesis proxy has no resource {sent}.{hint}",
                405: f"The Kinesis proxy has no {request.method} method on {sent}.",
            }.get(exc.status_code, f"HTTP {exc.status_code} on {sent}.")
            resp = KinesisError(exc.status_code, message, "UnknownOperationException").response()
            resp.headers.update(headers or {})
            return resp
        phrase = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        return Response(
            dumps(
                {
                    "error_code": exc.status_code,
                    "message": f"HTTP {exc.status_code} {phrase}: {request.method} {sent}.{hint}",
                }
            ),
            status_code=exc.status_code,
            media_type=KAFKA_V2,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        return kafka_json({"error_code": 422, "message": str(exc.errors()[:3])}, 422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        if "x-amz-target" in request.headers or _is_kinesis_path(request.url.path):
            # an AWS SDK reads the code from __type (a Kafka REST body was code "500")
            return KinesisError(500, "Internal Server Error", "InternalFailure").response()
        return kafka_json({"error_code": 500, "message": "Internal Server Error"}, 500)

    topics = kafka.all_topics(settings)

    @app.get("/healthz", tags=["health"], summary="Liveness and the Kafka cluster's health")
    async def healthz(request: Request) -> Response:
        """``{"status": "ok", "kafka": "ok"|"degraded"|"down", …}``: the server is alive, and
        the cluster as ``BrokerWatch.health`` finds it, its brokers and the partitions of
        pinlake's topics (:class:`pinlake.ingest_api.backend.watch.ClusterHealth`)."""
        be: KafkaBackend = request.app.state.backend
        health = await asyncio.to_thread(be.watch.health, topics, 1.0)
        return Response(orjson.dumps(health.body()), media_type="application/json")

    if stage and stage in roots:
        raise ValueError(f"API stage {stage!r} is also a path of the API: choose another name")
    # The last one added runs first: the path rules, then the API key check, then an AWS SDK's
    # request to another path than the root, then routing.
    app.add_middleware(SdkPathMiddleware, stage=stage)
    key = settings.api.api_key
    if key is not None and key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, key=key.get_secret_value())
    app.add_middleware(PathRulesMiddleware, stage=stage)
    return app
