"""The ingestion API (uvicorn) as a background process."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.services import process

NAME = "api"


def settings_file(settings: Settings) -> Path:
    return settings.run_dir / "api-settings.json"


def dump_settings(settings: Settings) -> dict:
    data = settings.model_dump(mode="json")
    key = settings.api.api_key
    data["api"]["api_key"] = key.get_secret_value() if key is not None else None
    return data


def load_settings(path: Path) -> Settings:
    return Settings.model_validate(json.loads(path.read_text()))


def start(settings: Settings) -> int:
    pid = process.read_pid(settings.run_dir, NAME)
    if pid is not None:
        return pid
    path = settings_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(dump_settings(settings), fh)
    argv = [sys.executable, "-m", "pinlake.ingest_api.server", "--settings", str(path)]
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return process.spawn(settings.run_dir, settings.logs_dir / "api.log", NAME, argv, env=env)


def stop(settings: Settings, timeout: float = 15.0) -> bool:
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    return process.read_pid(settings.run_dir, NAME)


def health(settings: Settings, timeout: float = 2.0) -> dict | None:
    try:
        resp = httpx.get(f"{settings.api.url}/healthz", timeout=timeout)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def wait_healthy(settings: Settings, timeout: float = 30.0, pid_: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health(settings, timeout=1.0) is not None:
            return
        if pid_ is not None and not process.is_alive(pid_):
            raise PinlakeError(
                f"the ingestion API exited during start-up; see {settings.logs_dir / 'api.log'}"
            )
        time.sleep(0.2)
    raise PinlakeError(f"ingestion API at {settings.api.url} not healthy after {timeout:.0f}s")
