"""A folder whose path holds a blank, reached through a link without one
(pinlake.blank_free): for Spark's launcher and mariadb-install-db, which split such paths."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from pinlake.blank_free import blank_free_path


def test_a_temp_folder_with_a_blank_too_falls_back_to_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a ``TMPDIR`` that holds a blank, the link was not made and the blank reached Spark's
    launcher (helper-68): it is made in ``/tmp``."""
    folder = tmp_path / "my projects" / "conf"
    folder.mkdir(parents=True)
    temp = tmp_path / "my temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    link = Path(blank_free_path(str(folder)))
    try:
        assert link.parent == Path("/tmp") and not re.search(r"\s", str(link))
        assert link.resolve() == folder.resolve()
        assert blank_free_path(str(folder)) == str(link)  # made once
    finally:
        link.unlink()
    assert blank_free_path("/tmp") == "/tmp"  # no blank: as it is
