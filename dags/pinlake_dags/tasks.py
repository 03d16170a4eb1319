"""Run-time callables of the batch DAG (imported by the DAG file; nothing here runs at import).

They call pinlake's Python API in the task's own process rather than the ``pinlake`` CLI in a
subprocess: with the embedded ``local`` target, Spark is then started once per task process and,
under ``dag.test()`` (every task in one process), once for the whole run, so land, the dbt tasks
(Cosmos' dbtRunner invocation) and export share one Spark session and one Derby metastore
connection instead of fighting over the Derby lock.
"""

from __future__ import annotations

from typing import Any

from pinlake_dags.common import safe_run_id, settings


def check_services() -> None:
    """Fail with one clear message unless Kafka and the ingestion API are healthy."""
    from airflow.exceptions import AirflowFailException

    s = settings()
    try:
        from pinlake.services.manager import services_status

        code = services_status(s)
        problem = None if code == 0 else f"`pinlake services status` exited with {code}"
    except Exception as exc:  # any failure to even ask means "not up"
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise AirflowFailException(
            "pinlake services are not up for PINLAKE_HOME="
            f"{s.home} (Kafka {s.kafka.bootstrap_servers}, ingestion API {s.api.url}; "
            f"{problem}). Start them with `pinlake services up` (same environment as the "
            "Airflow worker), then clear this task."
        )


def _run(options: Any) -> dict[str, Any]:
    """Run the pipeline step of ``options`` in this task's process; its result as JSON (XCom)."""
    from pydantic import TypeAdapter

    from pinlake.pipeline.steps import run_step

    result = run_step(settings(), options)
    return TypeAdapter(type(result)).dump_python(result, mode="json")


def sink_once() -> dict[str, Any]:
    """Check the services, then drain the batch topics into the topics bucket (``sink --once``)."""
    check_services()
    from pinlake.bucket.sink import SinkOptions

    return _run(SinkOptions(once=True))


def land() -> dict[str, Any]:
    """Load new topics-bucket files into raw Delta tables (``pinlake land``)."""
    from pinlake.lakehouse.land import LandOptions

    return _run(LandOptions())


def export(run_id: str) -> dict[str, Any]:
    """Write every mart to ``$PINLAKE_HOME/exports/<run id>/<mart>.csv`` (``pinlake export``)."""
    from pinlake.lakehouse.export import ExportOptions

    return _run(ExportOptions(out=settings().home / "exports" / safe_run_id(run_id)))
