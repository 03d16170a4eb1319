"""``services status`` and ``services down`` of a home beside another home's services (real broker
and API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pinlake_testing import isolated_settings

from pinlake.config import Settings
from pinlake.console import PINLAKE
from pinlake.services.manager import services_down, services_status

pytestmark = pytest.mark.kafka


def test_a_home_that_started_nothing_is_told_whose_services_answer(
    kafka_services: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial's second home on the default ports showed the first home's Kafka and API as
    ``healthy`` and then sank the first home's records into its own bucket: the status now
    says that this home did not start what answers on its addresses. The home that started
    them gets no such note."""
    other = kafka_services.model_copy(update={"home": tmp_path / "other"})
    services_status(other)
    out = capsys.readouterr().out
    assert (
        f"note: this home ({other.home}) did not start Kafka at "
        f"{other.kafka.bootstrap_servers} or the API at {other.api.url}, but they answer there"
    ) in out, out
    services_status(kafka_services)
    assert "did not start" not in capsys.readouterr().out


def test_services_down_of_a_home_that_ran_none_says_so_and_leaves_the_others_running(
    kafka_services: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--home H services down`` in a home that started nothing said a bare ``✓ services
    down`` while another home's Kafka and API ran on, on H's ports (a trial took it for
    stopped): it now says that this home ran none, and names what still answers and how it is
    stopped. The services it does not own run on. A home where nothing answers gets no note."""
    from pinlake import kafka
    from pinlake.services import api_process

    other = kafka_services.model_copy(update={"home": tmp_path / "other"})
    services_down(other)
    out = " ".join(capsys.readouterr().out.split())
    assert "✓ services down: this home ran none" in out, out
    assert (
        f"note: this home ({other.home}) did not start Kafka at "
        f"{other.kafka.bootstrap_servers} or the API at {other.api.url}, but they answer there: "
        "another home's `services up` or another program; they run on: stop them from the home "
        f"that started them (`{PINLAKE.command} --home <that home> services down`)"
    ) in out, out
    assert kafka.healthy(kafka_services) and api_process.health(kafka_services) is not None

    lone = isolated_settings(tmp_path / "lone")
    services_down(lone)
    out = capsys.readouterr().out
    assert "✓ services down: this home ran none" in out and "note:" not in out, out


def test_a_failed_query_of_an_earlier_services_up_is_shown_not_counted(
    kafka_services: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a stream query failed, ``services down`` and ``services up --no-stream``, status
    exited 3 on the old ``failed`` row (helper-47's trial): a state written before the running
    API started is an earlier ``services up``'s, shown as such and not counted. One written
    since (a query of this one, or a ``pinlake stream`` run since) still counts."""
    import json
    import os

    from pinlake import run_folder
    from pinlake.lakehouse.stream import status_path

    state = status_path(kafka_services)
    api_started = run_folder.pid_file(kafka_services.run_dir, "api").stat().st_mtime
    state.write_text(json.dumps({"pid": 999_999_999, "state": "failed", "error": "lost data"}))
    try:
        os.utime(state, (api_started - 60, api_started - 60))
        assert services_status(kafka_services) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "failed (before this services up)" in out, out
        # its totals too: they read as the running query's (helper-75)
        assert "stream (before this services up): 0 micro-batches since start" in out, out
        os.utime(state, (api_started + 60, api_started + 60))
        assert services_status(kafka_services) == 3
        out = " ".join(capsys.readouterr().out.split())
        assert "failed" in out and "before this services up" not in out, out
        assert "stream: 0 micro-batches since start" in out, out
    finally:
        state.unlink()
