"""Airflow in a throw-away AIRFLOW_HOME for the DAG tests (a pytest plugin of tests/conftest.py).

The environment is set when this file is imported, before anything imports ``airflow`` (Airflow
reads AIRFLOW_HOME once, on import). The dbt manifest the DAGs render from is written by
``dbt parse`` (no connection, no Spark) into the same temporary folder, once per session; the
sqlite metadata DB (``airflow db migrate``) and the ``pinlake_spark`` pool are only created for the
tests that run DAGs. :class:`DagTestProcess` runs ``dag.test()`` runs in a process of their own
(tests/dags/run_dag_test.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
VENV_BIN = Path(sys.executable).parent

_TMP = Path(tempfile.mkdtemp(prefix="pinlake-dag-tests-"))
AIRFLOW_HOME = _TMP / "airflow"
MANIFEST = _TMP / "dbt-target" / "manifest.json"

AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_ANALYTICS": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "PINLAKE_DBT_MANIFEST": str(MANIFEST),
}
os.environ.update(AIRFLOW_ENV)
for _name in ("PINLAKE_DBT_TARGET", "PINLAKE_AIRFLOW_SCHEDULE", "PINLAKE_AIRFLOW_RETRIES"):
    os.environ.pop(_name, None)
if str(DAGS) not in sys.path:  # what Airflow's DAG processor does with the bundle root
    sys.path.append(str(DAGS))


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {done.returncode}\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """``dbt parse`` of the project into the session's temp folder."""
    if not MANIFEST.is_file():
        env = {
            **os.environ,
            "DBT_PROFILES_DIR": str(REPO),
            "PINLAKE_HOME": str(_TMP / "parse-home"),
        }
        _run(
            [
                str(VENV_BIN / "dbt"),
                "parse",
                "--quiet",
                "--target-path",
                str(MANIFEST.parent),
                "--log-path",
                str(_TMP / "dbt-logs"),
            ],
            env=env,
        )
    assert MANIFEST.is_file()
    return MANIFEST


@pytest.fixture(scope="session")
def dagbag(dbt_manifest: Path):
    from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), include_examples=False)


@pytest.fixture(scope="session")
def airflow_db(dbt_manifest: Path) -> Path:
    """A migrated sqlite metadata DB with the ``pinlake_spark`` pool (once per session)."""
    airflow = [sys.executable, "-m", "airflow"]
    _run([*airflow, "db", "migrate"])
    _run([*airflow, "pools", "set", "pinlake_spark", "1", "embedded Spark: one at a time"])
    return AIRFLOW_HOME


class DagTestProcess:
    """The ``run_dag_test.py`` process of one home's DAG runs: one JVM and one set of imports for
    all of them; its output goes to ``<home>/dag-test.log``. ``env``: the home's
    :meth:`Settings.child_env` plus the DAGs' configuration."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.log = home / "dag-test.log"
        with self.log.open("w") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "tests" / "dags" / "run_dag_test.py")],
                env=env,
                stdin=subprocess.PIPE,
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )

    def run(
        self,
        name: str,
        dag_id: str = "pinterest_batch",
        task_ids: tuple[str, ...] = (),
        downstream: bool = True,
        timeout: float = 800,
    ) -> dict:
        """One ``dag.test()`` of ``dag_id`` (of the subset around ``task_ids`` if given, with
        or without what is downstream of them); its outcome (``{"run_id", "state", "tasks":
        {id: state}, "xcom": {id: return value}, "log"}``)."""
        out = self.home / f"{name}.json"
        request = {"out": str(out), "dag_id": dag_id, "task_ids": list(task_ids)}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({**request, "downstream": downstream}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while not out.is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dag.test() did not finish:\n{self.log.read_text()[-5000:]}")
            time.sleep(0.5)
        result = json.loads(out.read_text())
        assert "error" not in result, result["error"]
        result["log"] = str(self.log)
        return result

    def close(self) -> None:
        """End the process (it exits when its stdin closes), its JVM with it."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TMP, ignore_errors=True)
