"""``services status`` of a home beside another home's services (real broker and API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.services.manager import services_status

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
