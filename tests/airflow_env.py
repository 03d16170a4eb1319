"""Airflow in a throw-away AIRFLOW_HOME for the DAG tests (a pytest plugin of tests/conftest.py).

The environment is set when this file is imported, before anything imports ``airflow`` (Airflow
reads AIRFLOW_HOME once, on import). The dbt manifest the DAGs render from is written by
``dbt parse`` (no connection, no Spark) once per test run and copied into the same temporary
folder; the sqlite metadata DB (``airflow db migrate``, once per run, copied) and the
``pinlake_spark`` pool are only created for the tests that run DAGs. :class:`DagTestProcess` runs
``dag.test()`` runs in a process of their own (tests/dags/run_dag_test.py): by default every task
in that process, one after the other; with ``parallelism`` through Airflow's LocalExecutor, tasks
side by side (:class:`ExecutionApiServer`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pinlake.config import Settings

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


def _run_shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test run's folder that its xdist workers share (pytest's base temporary folder of the
    run, whose ``popen-gw<n>`` folders are the workers'; pytest keeps the last three runs' and
    removes older ones), else this process's own base temporary folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """``<run folder>/<name>``, written by ``build(folder)`` once per test run: the first worker
    to ask builds it (under a file lock; a failed build leaves nothing, so the next asker tries
    again and fails the same way), the others wait for it and read it."""
    from filelock import FileLock

    done = _run_shared(tmp_path_factory) / name
    with FileLock(f"{done}.lock"):
        if not done.is_dir():
            partial = done.with_name(f"{name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            build(partial)
            partial.rename(done)
    return done


def _dbt_parse(target: Path) -> None:
    env = {
        **os.environ,
        **Settings(home=_TMP / "parse-home").child_env(),  # pinlake's project, profile, target
    }
    dbt = str(VENV_BIN / "dbt")
    logs = str(_TMP / "dbt-logs")
    _run([dbt, "parse", "--quiet", "--target-path", str(target), "--log-path", logs], env=env)


def _airflow_db_migrate(home: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    airflow = [sys.executable, "-m", "airflow"]
    _run([*airflow, "db", "migrate"], env=env)
    _run([*airflow, "pools", "set", "pinlake_spark", "1", "embedded Spark: one at a time"], env=env)


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dbt parse`` of the project (no connection, no Spark), once per test run: the first
    worker parses, each copies the target folder (manifest and saved parse) to ``MANIFEST``'s."""
    if not MANIFEST.is_file():
        parsed = _once_per_run(tmp_path_factory, "dbt-target", _dbt_parse)
        shutil.copytree(parsed, MANIFEST.parent, dirs_exist_ok=True)
    assert MANIFEST.is_file()
    return MANIFEST


@pytest.fixture(scope="session")
def dagbag(dbt_manifest: Path):
    from airflow.models.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS), include_examples=False)


@pytest.fixture(scope="session")
def airflow_db(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """A migrated sqlite metadata DB with the ``pinlake_spark`` pool: ``airflow db migrate`` once
    per test run (in a home of its own), the DB file copied into each worker's AIRFLOW_HOME (a
    sqlite DB per worker: each worker's DAG runs write to their own)."""
    migrated = _once_per_run(tmp_path_factory, "airflow-home", _airflow_db_migrate)
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    shutil.copy2(migrated / "airflow.db", AIRFLOW_HOME / "airflow.db")
    return AIRFLOW_HOME


class ExecutionApiServer:
    """Airflow's Execution API alone (``airflow api-server --apps execution``) on a free loopback
    port, its output in ``log``: the server an executor's task processes talk to (in Airflow 3 a
    task process never opens the metadata DB; it gets its start, XComs and final state through
    this API, authenticated by a JWT the executor signs with ``[api_auth] jwt_secret``).
    ``dag.test()`` without an executor builds the same app in its own process instead.

    ``env``: the Airflow environment the executor has (same AIRFLOW_HOME and metadata DB);
    :attr:`env` adds what both sides must agree on (the server's URL, a random JWT secret) and
    the executor's settings. Raises ``AssertionError`` (with the log's end) if the server does not
    answer ``GET /execution/health`` within ``timeout`` seconds.
    """

    def __init__(self, env: dict[str, str], log: Path, parallelism: int, timeout: float = 180):
        import httpx

        from pinlake.services import process

        (port,) = process.free_ports(1)
        self.url = f"http://127.0.0.1:{port}/execution/"
        self.env = {
            **env,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self.url,
            # HS512: at least 64 bytes
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        }
        self.log = log
        command = [sys.executable, "-m", "airflow", "api-server", "--apps", "execution"]
        with log.open("w") as handle:
            self.proc = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            process.wait_healthy(
                healthy,
                timeout=timeout,
                interval=0.5,
                pid=self.proc.pid,
                exited="exited",
                not_healthy="did not answer",
            )
        except Exception as exc:
            self.close()
            raise AssertionError(
                f"the Execution API server {exc}:\n{log.read_text()[-5000:]}"
            ) from exc

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)


class DagTestProcess:
    """The ``run_dag_test.py`` process of one home's DAG runs: one JVM and one set of imports for
    all of them; its output goes to ``<home>/dag-test.log``. ``env``: the home's
    :func:`pinlake.spark.session_env` plus the DAGs' configuration.

    ``parallelism`` 0 (default): ``dag.test()`` runs every task in that process, one at a time.
    ``parallelism`` n > 0: ``dag.test(use_executor=True)`` hands the ready tasks to Airflow's
    LocalExecutor (``AIRFLOW__CORE__PARALLELISM`` n worker processes, each task in a process of
    its own, as a scheduler's executor runs them), which report to an :class:`ExecutionApiServer`
    started here (log ``<home>/execution-api.log``); independent tasks then run side by side,
    within their pool's slots (``default_pool``: 128). The task logs are Airflow's, under
    ``AIRFLOW_HOME/logs``."""

    def __init__(self, home: Path, env: dict[str, str], parallelism: int = 0) -> None:
        self.home = home
        self.log = home / "dag-test.log"
        self.executor = parallelism > 0
        self.api: ExecutionApiServer | None = None
        if self.executor:
            self.api = ExecutionApiServer(env, home / "execution-api.log", parallelism)
            env = self.api.env
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
        upstream: bool = True,
        timeout: float = 800,
    ) -> dict:
        """One ``dag.test()`` of ``dag_id`` (of the subset around ``task_ids`` if given, with
        or without what is downstream of them, with or without what is upstream); its outcome
        (``{"run_id", "state", "tags", "tasks": {id: state}, "seconds": {id: seconds}, "intervals":
        {id: [start, end] (ISO 8601)}, "pools": {id: pool}, "xcom": {id: return value}, "log"}``,
        see tests/dags/run_dag_test.py)."""
        request = {"dag_id": dag_id, "task_ids": list(task_ids)}
        options = {"downstream": downstream, "upstream": upstream, "executor": self.executor}
        return self._request(name, {**request, **options}, timeout)

    def dbt(self, name: str, args: list[str], timeout: float = 300) -> dict:
        """``dbt ARGS`` in this process, on its JVM and the home's metastore (as the DAG runs'
        dbt tasks); its outcome (``{"returncode", "seconds", "results": {unique id: status},
        "log"}``, see tests/dags/run_dag_test.py)."""
        return self._request(name, {"dbt": list(args)}, timeout)

    def _request(self, name: str, request: dict, timeout: float) -> dict:
        """Send ``request`` with its outcome file ``<home>/<name>.json``; wait for and return
        the outcome (an error in the process fails the caller's test with its traceback)."""
        out = self.home / f"{name}.json"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"out": str(out), **request}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while not out.is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not finish:\n{self.log.read_text()[-5000:]}")
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
        if self.api is not None:
            self.api.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TMP, ignore_errors=True)
