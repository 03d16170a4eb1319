"""Run-time callables of the DAGs (imported by the DAG files; nothing here runs at import).

They call pinlake's Python API in the task's own process rather than the ``pinlake`` CLI in a
subprocess: with the embedded ``local`` target, Spark is then started once per task process and,
under ``dag.test()`` (every task in one process), once for the whole run, so land, the dbt tasks
(Cosmos' dbtRunner invocation) and export share one Spark session and one Derby metastore
connection instead of fighting over the Derby lock.
"""

from __future__ import annotations

from typing import Any

from pinlake_dags.common import excluded_resource_types, safe_run_id, settings


def check_services() -> None:
    """Fail with one clear message unless Kafka and the ingestion API are healthy."""
    from airflow.exceptions import AirflowFailException

    s = settings()
    try:
        from pinlake.services.manager import services_status

        code = services_status(s)
        problem = None if code == 0 else f"the services status check returned {code}"
    except Exception as exc:  # any failure to even ask means "not up"
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        import os
        from shlex import quote

        from pinlake.console import pinlake_command
        from pinlake.services.manager import dag_tasks_request, up_options

        # read in the task's log, not in the worker's shell: the script's own path; with the
        # options of the services the tasks use (--s3, --thrift, --metastore, --spark-cluster),
        # as `make airflow`'s banner says (helper-110: pasted without --s3, the next try failed
        # on the S3 server)
        options = up_options(s, dag_tasks_request(s, os.environ))
        start = " ".join(
            [
                f"PINLAKE_HOME={quote(str(s.home))}",
                pinlake_command(absolute=True),
                "services",
                "up",
                *options,
            ]
        )
        raise AirflowFailException(
            "pinlake services are not up for PINLAKE_HOME="
            f"{s.home} (Kafka {s.kafka.bootstrap_servers}, ingestion API {s.api.url}; "
            f"{problem}). Start them with `{start}` (and the other PINLAKE_ settings of the "
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


def stream_catch_up() -> dict[str, Any]:
    """Land what the stream topics hold (``pinlake stream --available-now``), unless the
    continuous stream query runs on this home: it lands every record within seconds already,
    and a second query on its checkpoint is refused. The task is then skipped (Airflow's
    ``skipped`` state, with the reason in its log; raises ``AirflowSkipException``): it did
    nothing (helper-110: it ended ``success`` with an XCom that said "skipped"), and the DAG's
    ``dbt_build`` runs after it all the same (trigger rule ``none_failed``)."""
    from pinlake.services import stream_process

    s = settings()
    running = stream_process.pid(s)
    if running is not None:
        from airflow.exceptions import AirflowSkipException

        raise AirflowSkipException(
            f"the continuous stream query (pid {running}) lands the stream topics"
        )
    check_services()
    from pinlake.lakehouse.stream import StreamOptions

    return _run(StreamOptions(available_now=True))


def dbt_docs_generate() -> dict[str, Any]:
    """``dbt docs generate`` in this process, into ``$PINLAKE_HOME/dbt/target``."""
    from pinlake.lakehouse.dbt import DbtCommand

    return _run(DbtCommand(["docs", "generate"], in_process=True))


def dbt_build_command() -> Any:
    """The stream DAG's ``dbt build``, in this process, without the resource types the DAGs
    leave out (``--exclude-resource-type``: the unit tests; :func:`pinlake_dags.common.
    excluded_resource_types`), as the batch DAG's Cosmos tasks: a ``DbtCommand``."""
    from pinlake.lakehouse.dbt import DbtCommand

    args = ["build"]
    for kind in excluded_resource_types():
        args += ["--exclude-resource-type", kind]
    return DbtCommand(args, in_process=True)


def dbt_build() -> dict[str, Any]:
    """``dbt build`` in this process (incremental staging merges only what is new;
    :func:`dbt_build_command`)."""
    return _run(dbt_build_command())
