"""The closing line of ``pinlake land`` (:func:`pinlake.lakehouse.land.print_land_summary`)."""

from __future__ import annotations

import pytest

from pinlake.lakehouse.land import LandResult, print_land_summary


def _last_line(capsys: pytest.CaptureFixture[str], result: LandResult) -> str:
    print_land_summary(result)
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_a_load_that_landed_files_gives_its_rate_on_one_line(capsys) -> None:
    result = LandResult(files_found=3, files_landed=3, seconds=12.0, spark_startup_seconds=4.0)
    result.records["pin"] = 8_000
    line = _last_line(capsys, result)
    assert line.startswith("3 file(s) found: 3 landed now, 0 rejected now")
    assert line.endswith("12.0s (4.0s Spark start-up, 1,000 records/s after it)")


def test_a_load_with_nothing_new_gives_no_rate(capsys) -> None:
    """A second ``land`` of the same bucket said "0 records/s after it" (a new-user trial)."""
    result = LandResult(files_found=3, files_seen_before=3, seconds=18.5, spark_startup_seconds=4.1)
    line = _last_line(capsys, result)
    assert line.startswith("3 file(s) found: 0 landed now, 0 rejected now, 3 landed or")
    assert line.endswith("18.5s (4.1s Spark start-up)")
    assert "records/s" not in line
