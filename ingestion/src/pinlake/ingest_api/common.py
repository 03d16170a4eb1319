"""Request helpers shared by both facades."""

from __future__ import annotations

import json
import re

import orjson
from starlette.requests import Request

from pinlake.ingest_api.backend import KafkaBackend

#: Kafka's legal topic names (and Kinesis' stream names are a subset).
TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class BodyTooLarge(Exception):
    pass


def backend(request: Request) -> KafkaBackend:
    return request.app.state.backend


def media_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, raising BodyTooLarge past ``limit`` bytes (also for chunked bodies)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(body: bytes):
    """Parse JSON (orjson; stdlib fallback for integers beyond 64 bits). Raises ValueError."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body, parse_constant=_no_constants)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            raise ValueError(str(exc)) from None


def dumps(value) -> bytes:
    """Compact JSON text of a parsed value (UTF-8)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()  # ASCII: lone surrogates too
