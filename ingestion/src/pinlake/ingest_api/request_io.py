"""Reading an HTTP request: the body under a size limit, the media type, the app's backend."""

from __future__ import annotations

from starlette.requests import Request

from pinlake.ingest_api.backend import KafkaBackend
from pinlake.ingest_api.wire import is_digits


class BodyTooLarge(Exception):
    """The request body is longer than the limit (each facade answers 413)."""


def backend(request: Request) -> KafkaBackend:
    """The :class:`KafkaBackend` the app's lifespan created."""
    return request.app.state.backend


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower-cased (``""`` when absent)."""
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; raises BodyTooLarge past ``limit`` bytes (also for chunked bodies,
    which are counted while they stream in)."""
    length = request.headers.get("content-length")
    if length is not None and is_digits(length) and int(length) > limit:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
