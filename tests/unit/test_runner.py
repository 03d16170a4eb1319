"""The composition runner's stage lines (pinlake.pipeline.runner.Runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.pipeline.runner import Runner
from pinlake.pipeline.steps import ServicesDown


def test_a_clean_up_after_an_interrupted_stage_has_no_stage_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An interrupted demo said ``4/13 services down`` while its stage 4 is the stream
    production: the clean-up (``services down`` on a home with nothing running) is named as
    such, counts no stage and takes no stage time; the stages before it keep theirs."""
    run = Runner(Settings(home=tmp_path / "home"), total=13)
    run.run("services down", ServicesDown())
    run.clean_up("services down", ServicesDown())
    out = capsys.readouterr().out
    assert "1/13 services down" in out
    assert "clean-up: services down" in out and "2/13" not in out
    assert run.done == 1 and list(run.timings) == ["services down"]
