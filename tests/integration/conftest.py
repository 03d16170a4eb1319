"""Fixtures for the ingestion integration tests: a real KRaft broker and the API on free ports.

The broker and the API of ``kafka_services`` are the worker's, shared by the tests of
``BROKER_MODULES`` (tests/pinlake_testing.py: one xdist work unit, so one worker runs them one
after the other): started by the first test that asks for them and stopped after the last test
of those modules (:func:`pytest_runtest_teardown`), not at the session's end: a session
fixture's broker and API idled on to the end of the run, on each worker that had reached such
a module.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ingestion_helpers import make_settings
from pinlake_testing import BROKER_MODULES

from pinlake.config import Settings

#: The worker's broker and API while its tests run: ``{"settings": Settings, "tmp": folder}``.
_RUNNING: dict[str, object] = {}


def _stop() -> None:
    """Stop the worker's broker and API and remove their home, if they run."""
    from pinlake.services.manager import stop_all

    settings = _RUNNING.pop("settings", None)
    tmp = _RUNNING.pop("tmp", None)
    try:
        if isinstance(settings, Settings):
            stop_all(settings, quiet=True)
    finally:
        if isinstance(tmp, str):
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def kafka_services() -> Settings:
    """Kafka (KRaft) + the ingestion API under a temp PINLAKE_HOME: the worker's, started by the
    first test that asks and stopped after the last (the module docstring)."""
    from pinlake.services.manager import start_all

    settings = _RUNNING.get("settings")
    if isinstance(settings, Settings):
        return settings
    tmp = tempfile.mkdtemp(prefix="pinlake-it-")
    _RUNNING["tmp"] = tmp
    settings = make_settings(Path(tmp) / "home")
    _RUNNING["settings"] = settings
    try:
        start_all(settings, quiet=True)
    except BaseException:
        _stop()
        raise
    return settings


def _module(item: pytest.Item | None) -> str | None:
    return None if item is None else item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last test of ``BROKER_MODULES`` in a row (the worker's next test is of another
    module, or there is none): stop the worker's broker and API. Tests of those modules that do
    not ask for them keep them running for the ones after."""
    if _module(item) in BROKER_MODULES and _module(nextitem) not in BROKER_MODULES:
        _stop()


def pytest_sessionfinish() -> None:
    """Whatever ended the run (a failure, Ctrl-C): the broker and the API do not outlive it."""
    _stop()


@pytest.fixture()
def api(kafka_services: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kafka_services.api.url, timeout=30) as client:
        yield client


@pytest.fixture()
def marker() -> str:
    return uuid.uuid4().hex[:12]
