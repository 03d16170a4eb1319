"""API Gateway path rules, applied once to every request before anything routes it.

The API stands in for an AWS API Gateway REST API (in front of the Kafka REST proxy and the
Kinesis proxy), so a request path is read the way API Gateway reads it:

- **Repeated slashes collapse.** A client whose base URL ends in ``/`` sends
  ``POST //topics/<topic>`` or ``PUT //streams/<stream>/record``; API Gateway serves these as
  ``/topics/<topic>`` and ``/streams/<stream>/record`` (observed behaviour the original AiCore
  producers rely on, issue 9 item 1; not spelled out in the AWS docs). Any run of ``/``
  anywhere in the path counts as one.
- **The deployment stage is the first path segment.** API Gateway serves a deployed API at
  ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/`` ("Invoke REST APIs in API
  Gateway"; ``Stage.stageName``: "the first path segment in the URI of a call to API
  Gateway"). With a stage configured (``PINLAKE_API__STAGE``, default ``test``), a path that
  starts with exactly that segment is served without it: ``/test/topics/<topic>`` is
  ``/topics/<topic>``. The plain paths keep working; another first segment is not a stage
  (``/dev/topics/x`` is an unknown path, 404), and the stage is removed once only.
- **A trailing slash is ignored.** ``PUT /streams/<stream>/record/`` is served as
  ``/streams/<stream>/record`` directly, for every route (issue 9 item 1). Starlette would
  answer 307 to the slash-less path instead, which API Gateway never does and a client that
  does not follow redirects takes for a failed put.

:func:`normalise_path` is the rule (pure); :class:`PathRulesMiddleware` applies it to the ASGI
scope, outermost, so that the ``x-api-key`` check, routing and error rendering all see the
normalised path (``/test/healthz`` is as open as ``/healthz``). It also records in the scope,
under :data:`STAGE_KEY`, the stage prefix the client used (``"/test"`` or ``""``), so that a
URL the API hands back (a REST consumer's ``base_uri``) keeps the client's form.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

_SLASHES = re.compile(r"/{2,}")

#: Scope key holding the stage prefix a request was sent under: ``"/<stage>"`` or ``""``.
STAGE_KEY = "pinlake.stage_prefix"
#: Scope key holding the request path as the client sent it (decoded, before the rules), for
#: error messages.
CLIENT_PATH_KEY = "pinlake.client_path"


def stage_prefix(path: str, stage: str = "") -> str:
    """``"/" + stage`` when request path ``path`` is served under ``stage`` by
    :func:`normalise_path` (its first segment, after collapsing slashes, is exactly the stage),
    else ``""``. Pure; never raises."""
    if not stage or not path.startswith("/"):
        return ""
    path = _SLASHES.sub("/", path)
    prefix = "/" + stage
    return prefix if path == prefix or path.startswith(prefix + "/") else ""


def normalise_path(path: str, stage: str = "") -> str:
    """The path API Gateway routes for request path ``path``.

    ``path`` is a decoded request path (``/topics/a.pin``); ``stage`` a stage name without
    slashes, or ``""`` for none. Returns a path that starts with ``/``, holds no ``//`` and ends
    in ``/`` only if it is ``/``: runs of slashes collapsed, then a leading ``/<stage>`` segment
    (an exact, case-sensitive match of the whole segment) removed once, then a trailing slash
    removed. A path that does not start with ``/`` (``*``, ``""``) is returned unchanged. Never
    raises. Examples: ``//streams/s/record/`` -> ``/streams/s/record``; with ``stage="test"``,
    ``/test//topics/t`` -> ``/topics/t`` and ``/test`` -> ``/``, but ``/testing/topics/t`` is
    left as it is.
    """
    if not path.startswith("/"):
        return path
    path = _SLASHES.sub("/", path)
    if stage:
        prefix = "/" + stage
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :] or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def misplaced_stage(path: str, stage: str, roots: Collection[str]) -> tuple[str, str] | None:
    """``(segment, rest)`` when normalised path ``path`` reads as a resource of the API under a
    first segment that is not its stage (``/dev/topics/t`` with stage ``test``, or any
    ``/<x>/topics/t`` with no stage): ``segment`` is that first segment (``"dev"``), ``rest``
    the path without it (``"/topics/t"``). ``roots`` are the first segments of the API's routes
    (``topics``, ``streams``, ...). ``None`` for any other path. Pure; never raises. The 404 of
    such a path names the stage the API has (API Gateway answers a wrong stage with 403
    "Missing Authentication Token", which says nothing)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] in roots or parts[1] == stage or parts[2] not in roots:
        return None
    return parts[1], "/" + "/".join(parts[2:])


def _split_root(path: str, root: str) -> tuple[str, str]:
    """``(root, rest)`` of an ASGI ``path`` that includes the scope's ``root_path`` (as the
    ASGI spec has it); ``("", path)`` when it does not start with it as whole segments."""
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return root, path[len(root) :] or "/"
    return "", path


class PathRulesMiddleware:
    """Pure-ASGI middleware that rewrites ``scope["path"]`` (and ``raw_path``) of HTTP and
    WebSocket requests with :func:`normalise_path` for ``stage``; other scopes pass unchanged.

    Only the part after the scope's ``root_path`` is normalised. Add it last (outermost) so that
    every other middleware sees the normalised path.
    """

    def __init__(self, app: ASGIApp, stage: str = "") -> None:
        self.app = app
        self.stage = stage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: pass the request on with its path normalised, the stage and the path the
        client sent kept in the scope (``STAGE_KEY``, ``CLIENT_PATH_KEY``)."""
        if scope["type"] in ("http", "websocket"):
            root, rest = _split_root(scope["path"], scope.get("root_path", ""))
            normal = root + normalise_path(rest, self.stage)
            scope = dict(scope)
            scope[STAGE_KEY] = stage_prefix(rest, self.stage)
            scope[CLIENT_PATH_KEY] = scope["path"]
            if normal != scope["path"]:
                scope["path"] = normal
                raw = scope.get("raw_path")
                if raw is not None:
                    # the bytes as sent (percent-encoded): the same rule on its literal slashes
                    raw_root, raw_rest = _split_root(raw.decode("latin-1"), root)
                    raw_normal = raw_root + normalise_path(raw_rest, self.stage)
                    scope["raw_path"] = raw_normal.encode("latin-1")
        await self.app(scope, receive, send)
