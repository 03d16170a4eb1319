"""Shared pytest fixtures, among them the session's one "golden" pipeline run.

``golden``: the AiCore reference rows, produced as the original producer sent them (the logged
posting sequence, repeats included, then every row once) through the stream path: put to the
Kinesis proxy, landed by the stream query (``--available-now``), then dbt build → dbt docs
generate → export, composed from :mod:`pinlake.pipeline.steps`. Every mart, contract, docs and
export assertion reads this one run (built once per session, lazily).

``api_path_home``: the same events posted through the Kafka REST proxy (the batch path) in a
home of its own with its broker and API running; the Airflow batch DAG test sinks, lands and
builds them (tests/dags), and the bucket-equality test proves its sink writes exactly what the
producer writes straight into a bucket. So both paths are checked against the published marts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pinlake_testing import isolated_settings, reference_draws

from pinlake.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
#: CI checks out shared/ beside the repository clone.
AICORE_DIR = REPO_ROOT.parent / "shared" / "reference-data" / "aicore"


#: The longest chains of the session (each one module, so one xdist worker under
#: ``--dist loadscope``), started first so that they run side by side on the two workers while
#: the short tests fill in around them: the Kafka-path DAG runs, and the golden run's checks.
FIRST_MODULES = ("dags/test_batch_e2e.py", "integration/test_reference_data.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(Path(__file__).parent).as_posix()
        return FIRST_MODULES.index(module) if module in FIRST_MODULES else len(FIRST_MODULES)

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A throwaway home for the worker's one in-process Spark session (local[1])."""
    return Settings(home=tmp_path_factory.mktemp("spark-home"), spark_master="local[1]")


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[object]:
    """The worker's Spark session (Delta, Hive metastore of ``spark_settings``), started once."""
    from pinlake.spark import get_spark

    session = get_spark(spark_settings, app_name="pinlake-tests")
    yield session
    session.stop()
    # py4j logs "Closing down clientserver connection" from __del__ at interpreter exit, after
    # pytest has closed the streams the Airflow tests' logging handlers point at.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def aicore_dir() -> Path:
    """The real AiCore reference folder (required: fails, never skips, when missing)."""
    if not (AICORE_DIR / "geolocation_data.csv").is_file():
        pytest.fail(f"reference data missing: {AICORE_DIR} (put shared/ beside the clone)")
    return AICORE_DIR


@dataclass
class GoldenRun:
    """The golden run's home and the typed results of its steps."""

    settings: Settings
    produced: list
    streamed: object
    exported: object
    timings: dict[str, float]


@pytest.fixture(scope="session")
def golden(aicore_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> GoldenRun:
    """The whole stream pipeline over the reference data, once per session (about 3 min):
    the events put through the Kinesis proxy, landed by ``stream --available-now``, built,
    documented and exported."""
    from pinlake.lakehouse.dbt import DbtCommand
    from pinlake.lakehouse.export import ExportOptions
    from pinlake.lakehouse.stream import StreamOptions
    from pinlake.pipeline.runner import Runner
    from pinlake.pipeline.steps import ServicesDown, ServicesUp, SourceLoad
    from pinlake.produce import ProduceToApi

    settings = isolated_settings(tmp_path_factory.mktemp("golden"))
    run = Runner(settings)
    run.run("source load", SourceLoad(aicore_dir))
    run.run("services up", ServicesUp(stream=False))
    try:
        produced = [
            run.run("produce → Kinesis proxy", ProduceToApi(**draws, stream=True, batch_size=100))
            for draws in reference_draws(aicore_dir)
        ]
        streamed, _, _, exported = run.spark(
            ("stream --available-now", StreamOptions(available_now=True)),
            ("dbt build", DbtCommand(["build"])),
            ("dbt docs generate", DbtCommand(["docs", "generate"])),
            ("export", ExportOptions()),
        )
    finally:
        run.run("services down", ServicesDown())
    return GoldenRun(settings, produced, streamed, exported, run.timings)


@pytest.fixture(scope="session")
def api_path_home(aicore_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The reference events posted through the API into Kafka (not yet sunk), services up."""
    from pinlake.pipeline.runner import Runner
    from pinlake.pipeline.steps import ServicesDown, ServicesUp, SourceLoad
    from pinlake.produce import ProduceToApi

    settings = isolated_settings(tmp_path_factory.mktemp("api-path"))
    run = Runner(settings)
    run.run("source load", SourceLoad(aicore_dir))
    run.run("services up", ServicesUp(stream=False))
    try:
        for draws in reference_draws(aicore_dir):
            run.run("produce → API → Kafka", ProduceToApi(**draws, batch_size=20))
        yield settings
    finally:
        run.run("services down", ServicesDown())
