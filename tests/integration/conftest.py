"""Fixtures for the ingestion integration tests: a real KRaft broker and the API on free ports."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ingestion_helpers import make_settings

from pinlake.config import Settings


@pytest.fixture(scope="session")
def kafka_services() -> Iterator[Settings]:
    """Kafka (KRaft) + the ingestion API under a temp PINLAKE_HOME; stopped afterwards."""
    from pinlake.services.manager import start_all, stop_all

    with tempfile.TemporaryDirectory(prefix="pinlake-it-") as tmp:
        settings = make_settings(Path(tmp) / "home")
        try:
            start_all(settings, quiet=True)
            yield settings
        finally:
            stop_all(settings, quiet=True)


@pytest.fixture()
def api(kafka_services: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kafka_services.api.url, timeout=30) as client:
        yield client


@pytest.fixture()
def marker() -> str:
    return uuid.uuid4().hex[:12]
