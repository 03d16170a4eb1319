"""A step run in its own process (pinlake.pipeline.isolated.run_isolated) fails as it would in
this one: its own error, message and exit code, raised here and printed by no one but the
caller. The child printed it too, so the demo showed a failed ``dbt build``'s error twice, the
second time as ``dbt build failed in its own process: …`` (helper-68)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.isolated import Stage, run_isolated
from pinlake.pipeline.steps import run_step


def test_a_failed_step_is_its_own_error_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")  # no topics bucket: land stops before Spark
    # the home its hints name (pinlake.console.PinlakeCommand), as the child has it
    monkeypatch.setenv("PINLAKE_HOME", str(settings.home))
    with pytest.raises(PinlakeError) as here:
        run_step(settings, LandOptions())
    capfd.readouterr()
    with pytest.raises(PinlakeError) as child:
        run_isolated(settings, [Stage("land", LandOptions())])
    assert (str(child.value), child.value.exit_code) == (str(here.value), here.value.exit_code)
    assert "does not exist" in str(child.value)
    assert str(child.value) not in capfd.readouterr().err  # the caller's to print
