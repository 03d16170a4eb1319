"""This machine's loopback, its listening ports and a shell's proxy.

Which local TCP ports something listens on (:func:`listening_ports`, :func:`ports_listening`,
:func:`self_connected`): pure reads of the kernel's tables of sockets, the rule before any client
of a service pinlake runs connects (pinlake.services.process's docstring says why).

The one rule for which HTTP clients of pinlake follow ``HTTP_PROXY``/``HTTPS_PROXY``/
``ALL_PROXY`` (a company network's, which httpx, botocore and aiohttp's ``trust_env`` apply to
every host that ``NO_PROXY`` does not name).

A server on loopback (``localhost``, ``127.0.0.0/8``, ``::1``: every service pinlake starts, a
local MinIO) is reached directly, never through the proxy, where ``127.0.0.1`` is the proxy's own
host ("Failed to connect to proxy URL"); any other host through the proxy the shell names, as
boto3 and the original AiCore producers (``requests``) do. Pure but for :func:`get_local`'s
request and the reads of the kernel's tables; no pinlake import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psutil

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
    :func:`httpx.get` raises (:class:`httpx.HTTPError`), and :class:`httpx.ConnectError` at once,
    without connecting, when nothing listens on the URL's port (:func:`ports_listening`: a
    service that is down; a connect to its port could take the port from it,
    pinlake.services.process's docstring)."""
    import httpx

    if (port := nothing_listens(url)) is not None:
        raise httpx.ConnectError(
            f"nothing listens on port {port}", request=httpx.Request("GET", url)
        )
    return httpx.get(url, timeout=timeout, trust_env=False)


def nothing_listens(url: str) -> int | None:
    """The port of ``url`` (its scheme's default, 80 or 443, when it names none) when ``url`` is
    on this machine's loopback (:func:`on_loopback`) and nothing listens on that port
    (:func:`ports_listening`); else None, and for any other host (only a connection can tell).
    Asked before a client of a service on loopback connects: a service that is down answers at
    once, and no connect takes its port (pinlake.services.process's docstring)."""
    if not on_loopback(url):
        return None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return None if ports_listening([port]) else port


def loopback_s3_endpoint(environ: Mapping[str, str]) -> tuple[str, str, int] | None:
    """``(variable, url, port)`` of the S3 endpoint ``environ`` names
    (:func:`pinlake.location.s3_endpoint`) when it is on loopback, its port the URL's or its
    scheme's; None for none, another host, or a port that is not a number (the bucket's client
    names that variable: ``layout.s3_client``). Pure."""
    from pinlake.location import s3_endpoint

    named = s3_endpoint(environ)
    if named is None or not on_loopback(named[1]):
        return None
    parts = urlsplit(named[1])
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return named[0], named[1], port


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


#: The kernel's tables of TCP sockets (Linux, ``proc(5)``: a heading, then one row per socket of
#: this network namespace: ``sl local_address rem_address st …``, the local address as
#: ``<hex address>:<hex port>``, the state in hex).
TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
#: The state of a listening socket in :data:`TCP_TABLES` (``TCP_LISTEN``, 10).
LISTEN_STATE = "0A"


def _table_rows(tables: Iterable[Path] | None = None) -> list[list[str]] | None:
    """The rows of the kernel's tables of TCP sockets (``tables``, default :data:`TCP_TABLES`;
    those that cannot be read are skipped), each split into its fields; None when none can be
    read (not Linux)."""
    rows: list[list[str]] = []
    readable = False
    for table in TCP_TABLES if tables is None else tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        rows += [fields for line in lines if len(fields := line.split()) > 3]
    return rows if readable else None


def _port(address: str) -> int:
    """The port of a table's ``<hex address>:<hex port>``."""
    return int(address.rpartition(":")[2], 16)


def listening_ports(tables: Iterable[Path] | None = None) -> frozenset[int] | None:
    """The local TCP ports something listens on now, on any address, IPv4 or IPv6 (a listener on
    ``[::ffff:127.0.0.1]:9092``, as a JVM's, counts for 9092).

    A pure read of the kernel's tables of sockets: the rows in state ``0A`` of ``tables``
    (:data:`TCP_TABLES`; those that cannot be read are skipped); where none can be read (not
    Linux), ``psutil.net_connections``. None when neither can be read (psutil's AccessDenied:
    macOS without root)."""
    rows = _table_rows(tables)
    if rows is not None:
        return frozenset(_port(row[1]) for row in rows if row[3] == LISTEN_STATE)
    try:
        found = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):  # AccessDenied among them
        return None
    return frozenset(c.laddr.port for c in found if c.status == psutil.CONN_LISTEN and c.laddr)


def self_connected(port: int, tables: Iterable[Path] | None = None) -> bool:
    """Whether a TCP connection from local ``port`` to itself exists (the same address and port
    at both ends, in any state): a self-connection, or its TIME-WAIT, which lasts a minute.
    Until it is gone no server can bind ``port``, SO_REUSEADDR or not. Read from the kernel's
    tables (:func:`listening_ports`' ``tables``); False where they cannot be read."""
    return any(row[1] == row[2] and _port(row[1]) == port for row in _table_rows(tables) or [])


def ports_listening(ports: Iterable[int]) -> bool:
    """Whether something listens on every one of ``ports`` (local TCP ports, any address;
    :func:`listening_ports`): the rule before any connection to a port of a service that may
    still be starting. True for no ports, and when the kernel's tables cannot be read (nothing
    to go by: the caller connects as it would without the rule).

    On any address is enough: once anything is bound to a port, the kernel never gives that port
    to an outgoing connection as its local one, so no self-connection can take it."""
    wanted = set(ports)
    if not wanted:
        return True
    listening = listening_ports()
    return listening is None or wanted <= listening
