"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: CI checks out shared/ beside the repository clone.
AICORE_DIR = REPO_ROOT.parent / "shared" / "reference-data" / "aicore"


@pytest.fixture(scope="session")
def aicore_dir() -> Path:
    """The real AiCore reference folder (required: fails, never skips, when missing)."""
    if not (AICORE_DIR / "geolocation_data.csv").is_file():
        pytest.fail(f"reference data missing: {AICORE_DIR} (put shared/ beside the clone)")
    return AICORE_DIR
