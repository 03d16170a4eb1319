"""The one-slot pool ``pinlake_spark`` serialises the DAGs' Spark tasks only while they use the
embedded Derby metastore (one JVM at a time); with the shared metastore (``PINLAKE_METASTORE_URL``
as ``pinlake services up --metastore`` prints it) they run side by side (issue 11, section 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
SPARK_POOL = "pinlake_spark"


def _pools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, set[str]]:
    """``{dag_id: pools of its Spark tasks}`` (every task but the batch DAG's ``sink``, which
    starts no Spark) of the DAGs parsed with ``env``."""
    from airflow.models.dagbag import DagBag

    monkeypatch.setenv("PINLAKE_DBT_TARGET", "local")
    monkeypatch.setenv("PINLAKE_DBT_MANIFEST", str(tmp_path / "no-manifest.json"))
    monkeypatch.delenv("PINLAKE_METASTORE_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    assert bag.import_errors == {}
    return {
        dag_id: {t.pool for t in bag.dags[dag_id].tasks if t.task_id != "sink"}
        for dag_id in ("pinterest_batch", "pinterest_stream")
    }


def test_embedded_metastore_tasks_queue_in_the_one_slot_pool(monkeypatch, tmp_path) -> None:
    assert _pools(monkeypatch, tmp_path) == {
        "pinterest_batch": {SPARK_POOL},
        "pinterest_stream": {SPARK_POOL},
    }
    embedded = f"jdbc:derby:;databaseName={tmp_path}/metastore/metastore_db;create=true"
    pools = _pools(monkeypatch, tmp_path, PINLAKE_METASTORE_URL=embedded)
    assert pools["pinterest_stream"] == {SPARK_POOL}


@pytest.mark.parametrize(
    "url",
    ["jdbc:derby://127.0.0.1:1527/metastore_db", "jdbc:postgresql://db:5432/metastore"],
)
def test_shared_metastore_tasks_run_side_by_side(monkeypatch, tmp_path, url: str) -> None:
    pools = _pools(monkeypatch, tmp_path, PINLAKE_METASTORE_URL=url)
    assert pools == {"pinterest_batch": {"default_pool"}, "pinterest_stream": {"default_pool"}}


def test_the_metastore_variable_is_read_in_any_case_as_the_tasks_read_it(
    monkeypatch, tmp_path
) -> None:
    """The tasks' settings read ``pinlake_metastore_url`` (pydantic-settings reads names in any
    case); the DAG read only ``PINLAKE_METASTORE_URL``, and queued a shared metastore's tasks
    in the one-slot pool."""
    url = "jdbc:derby://127.0.0.1:1527/metastore_db"
    pools = _pools(monkeypatch, tmp_path, pinlake_metastore_url=url)
    assert pools == {"pinterest_batch": {"default_pool"}, "pinterest_stream": {"default_pool"}}
