"""Fixtures of the ingestion tests: an isolated PINLAKE_HOME per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import Settings, get_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    for name in ("PINLAKE_SOURCE_URL", "PINLAKE_BUCKET", "PINLAKE_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home)
