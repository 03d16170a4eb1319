"""The ingestion API server (:mod:`pinlake.ingest_api.server`, uvicorn) as a background
process: start, stop, pid, health, start-up wait.

The server reads its settings from the environment :meth:`Settings.child_env` builds for it
(every ``PINLAKE_*`` field, the API key included); nothing is written to disk.
"""

from __future__ import annotations

import sys

import httpx

from pinlake import run_folder
from pinlake.config import Settings
from pinlake.loopback import get_local
from pinlake.services import process

NAME = run_folder.API


def config(settings: Settings) -> dict[str, object]:
    """What a running server is tied to (recorded beside its pid file, compared by ``services
    up``): its address, stage, broker and API key (its fingerprint, never the key:
    :func:`pinlake.run_folder.fingerprint`)."""
    key = settings.api.api_key
    return {
        "host": settings.api.host,
        "port": settings.api.port,
        "stage": settings.api.stage,
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "api_key" + process.FINGERPRINT: None
        if key is None
        else process.fingerprint(settings.run_dir, key.get_secret_value()),
    }


def start(settings: Settings) -> int:
    """Start the server in the background (no-op if already running); returns its pid."""
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    # Earlier versions passed the settings (the API key in clear) in this file.
    (settings.run_dir / "api-settings.json").unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pinlake.ingest_api.server"]
    env = settings.child_env()
    env.setdefault("PYTHONUNBUFFERED", "1")
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "api.log",
        NAME,
        argv,
        env=env,
        config=config(settings),
    )


def stop(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the server (SIGTERM, SIGKILL after ``timeout`` s); True if it was running."""
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    """The server's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


def health(settings: Settings, timeout: float = 2.0) -> dict | None:
    """The server's ``/healthz`` body (``{"status": "ok", "kafka": "ok"|"degraded"|"down",
    …}``: :class:`pinlake.ingest_api.backend.watch.ClusterHealth`), or None if it does not
    answer 200 with JSON within ``timeout`` seconds."""
    try:
        resp = get_local(f"{settings.api.url}/healthz", timeout=timeout)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def wait_healthy(settings: Settings, timeout: float = 30.0, pid_: int | None = None) -> None:
    """Wait until ``/healthz`` answers, asked only once the API's port listens
    (``process.wait_healthy``'s ``ports``: no connect may take the port first); raises
    PinlakeError if process ``pid_`` exits during start-up or the server is not healthy after
    ``timeout`` seconds."""
    process.wait_healthy(
        lambda: health(settings, timeout=1.0) is not None,
        timeout=timeout,
        interval=0.2,
        pid=pid_,
        exited="the ingestion API exited during start-up",
        log=settings.logs_dir / "api.log",
        not_healthy=f"ingestion API at {settings.api.url} not healthy after {timeout:.0f}s",
        ports=[settings.api.port],
    )
