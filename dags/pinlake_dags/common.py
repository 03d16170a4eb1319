"""What the pinlake DAGs share: project paths, Assets, the dbt set-up and the task callables.

Import-time rules (the DAG processor imports this on every parse): no I/O, no Spark, no
:class:`pinlake.config.Settings`. Paths are derived from this file's location and the only
inputs read at import time are a few environment variables (schedule, retries, dbt target,
manifest path). Everything that needs the pinlake settings (``PINLAKE_HOME`` ...) is computed
inside the task callables, at run time.
"""

from __future__ import annotations

import logging
import math
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset

log = logging.getLogger(__name__)

#: Repository root = the dbt project (``dags/pinlake_dags/common.py`` -> two levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT
PROFILES_YML = REPO_ROOT / "profiles.yml"
DBT_EXECUTABLE = REPO_ROOT / ".venv" / "bin" / "dbt"
DBT_PROFILE = "pinlake"

#: Default manifest location: what a plain ``dbt parse`` in the repository root writes.
DEFAULT_MANIFEST = REPO_ROOT / "target" / "manifest.json"

#: The Airflow pool that serialises every task using the embedded Spark + Derby metastore.
SPARK_POOL = "pinlake_spark"
#: dbt targets that run on a server (many concurrent sessions are fine there).
SERVER_TARGETS = frozenset({"thrift", "databricks"})

RAW_TABLES: tuple[str, ...] = ("pin", "geo", "user")
MART_SCHEMA = "marts"


# ---- import-time configuration (environment variables only) ----------------------------------
#: The dbt targets of profiles.yml a DAG runs on.
DBT_TARGETS = ("local", "thrift", "databricks")


def setting_variable(name: str) -> tuple[str, str]:
    """``(spelling, value)`` of the pinlake setting's variable ``name`` (``PINLAKE_DBT_TARGET``)
    as pinlake's settings read it, in any case (:func:`pinlake.config.read_spelling`: a pure
    function, no :class:`~pinlake.config.Settings` at import time); value ``""`` when unset.
    A task's settings read ``pinlake_dbt_target`` while the DAG read ``PINLAKE_DBT_TARGET``
    only."""
    from pinlake.config import read_spelling

    spelling = read_spelling(name)
    return spelling, os.environ.get(spelling, "")


def dbt_target() -> str:
    """The dbt target of the batch DAG (same variable as profiles.yml: ``PINLAKE_DBT_TARGET``,
    read as the settings read it: :func:`setting_variable`); raises ValueError naming the
    variable and :data:`DBT_TARGETS` for another (it imported, and failed only when a task
    ran)."""
    name, value = setting_variable("PINLAKE_DBT_TARGET")
    target = value.strip() or "local"
    if target not in DBT_TARGETS:
        raise ValueError(f"{name}={target!r}: want one of {', '.join(DBT_TARGETS)}")
    return target


def env_number(name: str, default: float, whole: bool = False) -> float:
    """The number in environment variable ``name`` (``default`` when unset or empty): from 0 to
    :data:`_MOST`, a whole number with ``whole``. Raises ValueError naming the variable and its
    value (``int('abc')``'s own message named neither, and failed every DAG's import)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = -1
    if not (0 <= value <= _MOST and math.isfinite(value)):
        kind = "whole number" if whole else "number of seconds"
        raise ValueError(f"{name}={text!r}: want a {kind} from 0 to {_MOST:,}")
    return value


#: The largest retry count or delay taken (a delay of a year, in seconds; more than any retry).
_MOST = 365 * 86_400


def shared_metastore() -> bool:
    """True when ``PINLAKE_METASTORE_URL`` names a metastore several processes may use at once:
    a Derby network server (``jdbc:derby://…``, the one ``pinlake services up --metastore``
    runs and prints the line to export) or another database such as PostgreSQL. Unset, or an
    embedded ``jdbc:derby:`` URL: the embedded metastore (one process at a time). Read as
    the settings read it (:func:`setting_variable`)."""
    url = setting_variable("PINLAKE_METASTORE_URL")[1].strip()
    if not url.startswith("jdbc:"):
        return False
    return url.startswith("jdbc:derby://") or not url.startswith("jdbc:derby:")


def uses_embedded_spark(target: str) -> bool:
    """True when the DAG's Spark tasks share the one-process embedded Derby metastore: a target
    run in local Spark sessions (not ``thrift``/``databricks``) without a shared metastore. Only
    then do they queue in the one-slot pool :data:`SPARK_POOL`."""
    return target not in SERVER_TARGETS and not shared_metastore()


def manifest_path() -> Path:
    """Where the DAGs read the dbt manifest (``PINLAKE_DBT_MANIFEST`` overrides the default)."""
    override = os.environ.get("PINLAKE_DBT_MANIFEST")
    return Path(override).expanduser() if override else DEFAULT_MANIFEST


def batch_schedule() -> str | None:
    """``PINLAKE_AIRFLOW_SCHEDULE`` (cron, preset such as ``@hourly``, or ``none``); daily."""
    value = os.environ.get("PINLAKE_AIRFLOW_SCHEDULE", "@daily").strip()
    return None if value.lower() in ("", "none", "null") else value


def stream_schedule() -> str | None:
    """``PINLAKE_AIRFLOW_STREAM_SCHEDULE`` (cron, preset or ``none``); every 5 minutes."""
    value = os.environ.get("PINLAKE_AIRFLOW_STREAM_SCHEDULE", "*/5 * * * *").strip()
    return None if value.lower() in ("", "none", "null") else value


def default_args() -> dict[str, Any]:
    """Retries with a delay.

    ``PINLAKE_AIRFLOW_RETRIES`` (2), ``PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS`` (300); raises
    ValueError naming a variable whose value is no such number (:func:`env_number`).
    """
    return {
        "owner": "pinlake",
        "retries": int(env_number("PINLAKE_AIRFLOW_RETRIES", 2, whole=True)),
        "retry_delay": timedelta(seconds=env_number("PINLAKE_AIRFLOW_RETRY_DELAY_SECONDS", 300)),
    }


# ---- Assets ----------------------------------------------------------------------------------
# Logical, location-independent URIs: the same table keeps its Asset whatever PINLAKE_HOME or
# warehouse it lives in, so downstream DAGs can schedule on them. The ``pinlake`` scheme has no
# Airflow normaliser, so the URI is stored as written.
def raw_asset(table: str) -> Asset:
    """The Airflow asset of ``raw.<table>`` (``pinlake://raw/<table>``): an outlet of the batch
    DAG's ``land`` task, and for ``stream_<table>`` of the stream DAG's ``stream`` task."""
    return Asset(name=f"pinlake.raw.{table}", uri=f"pinlake://raw/{table}", group="pinlake")


def mart_models() -> list[str]:
    """The mart models of the project (``models/marts/**/*.sql``: the entity mart and the
    reporting marts; the repository, not state)."""
    return sorted(path.stem for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql"))


def mart_asset(model: str) -> Asset:
    """The Airflow asset of the mart ``model`` (``pinlake://marts/<model>``)."""
    return Asset(name=f"pinlake.marts.{model}", uri=f"pinlake://marts/{model}", group="pinlake")


RAW_ASSETS: list[Asset] = [raw_asset(t) for t in RAW_TABLES]
#: The stream path's raw tables (``raw.stream_<table>``).
STREAM_RAW_ASSETS: list[Asset] = [raw_asset(f"stream_{t}") for t in RAW_TABLES]


# ---- run-time helpers ------------------------------------------------------------------------
def settings():  # noqa: ANN201 - pinlake is imported lazily (run time only)
    """Fresh :class:`pinlake.config.Settings` from the task's environment. A ``PINLAKE_*``
    variable that nothing reads (a misspelt setting) is a warning in the task's log, as it is
    on the CLI's stderr, and so is a setting set in two spellings
    (:func:`pinlake.config.variable_warnings`). Settings pydantic rejects fail the task at
    once, without retries, with the CLI's one line (``invalid settings: PINLAKE_API__PORT='abc':
    …``; :func:`pinlake.config.invalid_settings`), not pydantic's error: a retry would read the
    same environment."""
    from pydantic import ValidationError

    from pinlake.config import Settings, invalid_settings, variable_warnings

    for line in variable_warnings(os.environ):
        log.warning(line)
    try:
        return Settings()
    except ValidationError as exc:
        from airflow.exceptions import AirflowFailException

        raise AirflowFailException(invalid_settings(exc)) from None


#: dbt resource types that the DAGs' dbt tasks leave out (``DBT_EXCLUDE_RESOURCE_TYPES``, read by
#: ``dbt test`` and ``dbt build``): the unit tests. Their inputs are static, so a scheduled run
#: would spend about 28 s (of 73 s of test tasks, on the reference data) proving again what CI
#: proved (bench/README.md, "The DAGs without unit tests"; dbt docs, "Unit tests": run them in
#: development and CI, and exclude them from production runs with
#: ``--exclude-resource-type unit_test``; docs/conventions.md, the CI order). Under Cosmos'
#: ``AFTER_EACH`` they would also run only after their model was built, where ``dbt build`` runs
#: them first. `make test` runs every unit test (tests/dags/test_batch_e2e.py). A
#: ``DBT_EXCLUDE_RESOURCE_TYPES`` in the worker's environment wins (empty: leave nothing out).
EXCLUDED_RESOURCE_TYPES = "unit_test"


def excluded_resource_types() -> list[str]:
    """The dbt resource types the DAGs' dbt tasks leave out: the worker's
    ``DBT_EXCLUDE_RESOURCE_TYPES`` when it is set (whitespace-separated, as dbt reads it; empty:
    none), else :data:`EXCLUDED_RESOURCE_TYPES`. The Cosmos tasks get it as that variable
    (:func:`dbt_env_for_cosmos`), the stream DAG's in-process ``dbt build`` as
    ``--exclude-resource-type`` (``pinlake_dags.tasks.dbt_build_command``)."""
    return os.environ.get("DBT_EXCLUDE_RESOURCE_TYPES", EXCLUDED_RESOURCE_TYPES).split()


def dbt_env_for_cosmos() -> dict[str, str]:
    """``pinlake.lakehouse.dbt.dbt_env`` minus what Cosmos decides itself (project, profiles,
    target dir), plus the resource types the DAGs leave out (:data:`EXCLUDED_RESOURCE_TYPES`).

    Cosmos runs dbt in a temporary copy of the project and reads ``target/`` there (run results,
    and the partial-parse file it caches for the next task), so ``DBT_TARGET_PATH`` is dbt's
    default ``target`` (relative to the project Cosmos runs): an absolute path inherited from the
    worker's environment would hide the partial-parse file and make every task parse the whole
    project again. A task's log is a file, not a terminal: dbt writes no ANSI colours to it
    (:func:`pinlake.lakehouse.dbt.dbt_env`).
    """
    from pinlake.lakehouse.dbt import dbt_env
    from pinlake.spark import make_scratch_dir

    s = settings()
    env = dbt_env(s, terminal=False)
    make_scratch_dir(s)  # its local target's driver scratch (dbt_env)
    for key in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR"):
        env.pop(key, None)
    env["DBT_TARGET_PATH"] = "target"
    env["DBT_EXCLUDE_RESOURCE_TYPES"] = " ".join(excluded_resource_types())  # the worker's wins
    return env


def inject_dbt_env(context: Any, operator: Any) -> None:
    """Cosmos interceptor: give each dbt task this run's pinlake environment (not import time)."""
    operator.env = {**(operator.env or {}), **dbt_env_for_cosmos()}


def safe_run_id(run_id: str) -> str:
    """``run_id`` as a folder or file name: each run of characters other than letters, digits,
    ``_ . -`` becomes ``_`` (an Airflow run id holds ``:`` and ``+``); ``run`` if none is left."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_") or "run"
