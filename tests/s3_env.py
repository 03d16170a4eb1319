"""Fixtures for the S3 tests: a real S3-compatible server (moto's, a separate process on
loopback, started and stopped by :mod:`pinlake.services.s3_server` as ``pinlake services up
--s3`` does), one per worker session, and a fresh bucket per test with the standard AWS
variables pointing at it."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinlake.config import S3Settings, Settings
from pinlake.services.process import free_ports


def credential_process(folder: Path) -> str:
    """A profile's ``credential_process`` line (AWS config file syntax) whose process, a script
    written to ``folder``, prints the temporary keys ``PROCKEY``/``procsecret``/``proctoken`` as
    the AWS CLI's "Sourcing credentials with an external process" describes: what SSO wrappers
    and password managers give a profile."""
    process = folder / "process.py"
    process.write_text(
        "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'PROCKEY', "
        "'SecretAccessKey': 'procsecret', 'SessionToken': 'proctoken'}))\n"
    )
    return f"credential_process = {sys.executable} {process}\n"


@dataclass(frozen=True)
class S3Server:
    """The running server: the settings it was started with and its client variables."""

    settings: Settings
    env: dict[str, str]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port, under a throwaway home (in memory)."""
    from pinlake.services import s3_server as service

    (port,) = free_ports(1)
    settings = Settings(home=tmp_path_factory.mktemp("s3-home"), s3=S3Settings(port=port))
    pid = service.start(settings)
    try:
        service.wait_healthy(settings, timeout=60, pid_=pid)
        env = {**service.client_env(settings), **service.LOCAL_CREDENTIALS}
        yield S3Server(settings, env)
    finally:
        service.stop(settings)


@pytest.fixture()
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket on the server (``s3://<name>``), with ``AWS_ENDPOINT_URL`` and the
    credentials set in this process's environment for the test."""
    from pinlake.services import s3_server as service

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    name = f"pinlake-{uuid.uuid4().hex[:12]}"
    assert service.create_bucket(s3_server.settings, name)
    return f"s3://{name}"
