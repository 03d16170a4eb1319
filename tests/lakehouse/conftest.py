"""One Spark session (and one throwaway PINLAKE_HOME) for the whole pytest session."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinlake.bucket.layout import file_path
from pinlake.config import Settings


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("spark-home"), spark_master="local[1]")


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[object]:
    from pinlake.spark import get_spark

    session = get_spark(spark_settings, app_name="pinlake-tests")
    yield session
    session.stop()
    # py4j logs "Closing down clientserver connection" from __del__ at interpreter exit, after
    # pytest has closed the streams the Airflow tests' logging handlers point at.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture
def write_bucket_file():
    """Write one topics-bucket file the way the S3 sink names it."""
    return _write_bucket_file


def _write_bucket_file(
    bucket: Path, topic: str, first_offset: int, lines: list[str | dict], partition: int = 0
) -> Path:
    path = file_path(bucket, topic, partition, first_offset)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path
