"""Fixtures of the lakehouse tests (the Spark session is in tests/conftest.py).

The modules of a worker land into one home (``spark_settings``): give each test's bucket files
records of their own. A file with the name, size and content of a file another test landed
from another bucket is a copy of it, and land does not land it again
(tests/lakehouse/test_land.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pinlake.bucket.layout import file_path


@pytest.fixture(scope="session")
def write_bucket_file():
    """Write one topics-bucket file the way the S3 sink names it."""
    return _write_bucket_file


def _write_bucket_file(
    bucket: Path, topic: str, first_offset: int, lines: list[str | dict | list], partition: int = 0
) -> Path:
    path = file_path(bucket, topic, partition, first_offset)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path
