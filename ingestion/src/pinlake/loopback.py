"""This machine's loopback and a shell's proxy: the one rule for which HTTP clients of pinlake
follow ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (a company network's, which httpx, botocore
and aiohttp's ``trust_env`` apply to every host that ``NO_PROXY`` does not name).

A server on loopback (``localhost``, ``127.0.0.0/8``, ``::1``: every service pinlake starts, a
local MinIO) is reached directly, never through the proxy, where ``127.0.0.1`` is the proxy's own
host ("Failed to connect to proxy URL"); any other host through the proxy the shell names, as
boto3 and the original AiCore producers (``requests``) do. Pure but for :func:`get_local`'s
request; no pinlake import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx


def on_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine's loopback: ``localhost``, an address in
    ``127.0.0.0/8`` or ``::1``. False for a URL without a scheme (``127.0.0.1:5000`` has no host
    to :func:`urllib.parse.urlsplit`), another name, or ``0.0.0.0``."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        return False


def get_local(url: str, timeout: float) -> httpx.Response:
    """``GET url`` of a service pinlake started on loopback (an HTTP health or state check),
    never through a proxy (httpx's ``trust_env=False``). ``timeout`` in seconds. Raises what
    :func:`httpx.get` raises (:class:`httpx.HTTPError`)."""
    import httpx

    return httpx.get(url, timeout=timeout, trust_env=False)


#: Loopback's names, as ``NO_PROXY`` lists hosts.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def no_proxy_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``NO_PROXY`` and ``no_proxy`` for a process pinlake starts whose clients read the proxy
    variables themselves (the JVMs' AWS SDK in Spark's ``s3a://``, Airflow's httpx): the
    entries ``environ`` names (either spelling), then :data:`LOOPBACK_HOSTS`. A land from the
    local S3 server went to the shell's proxy and failed after six minutes of retries
    (helper-69)."""
    given = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    hosts = [h.strip() for h in given.split(",") if h.strip()]
    merged = ",".join(dict.fromkeys([*hosts, *LOOPBACK_HOSTS]))
    return {"NO_PROXY": merged, "no_proxy": merged}
