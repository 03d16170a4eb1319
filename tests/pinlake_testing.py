"""Helpers for any test folder (``tests/`` is on ``sys.path`` through the root conftest)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

from pinlake.config import ApiSettings, KafkaSettings, Settings
from pinlake.services.process import free_ports

#: Start-up chatter that must not reach a user's terminal (tests/ingestion/test_spark_quiet.py,
#: tests/integration/test_stream_path.py): the JDK's line (Spark's launcher always adds
#: --add-modules=jdk.incubator.vector) and Spark's Logging.scala banner, printed when PySpark's
#: driver logger has no level of its own.
INCUBATOR = "WARNING: Using incubator modules: jdk.incubator.vector"
LOG_LEVEL_BANNER = ('Setting default log level to "WARN".', "To adjust logging level use")


def isolated_settings(home: Path) -> Settings:
    """Settings for a throwaway home with the broker and the API on free loopback ports."""
    kafka_port, controller_port, api_port = free_ports(3)
    return Settings(
        home=home,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{kafka_port}",
            controller_port=controller_port,
            external=False,
            partitions=1,
        ),
        api=ApiSettings(host="127.0.0.1", port=api_port, api_key=None, delivery_timeout_ms=30_000),
    )


def reference_draws(aicore_dir: Path) -> list[dict]:
    """The original run's events: the logged posting sequence, then every row once."""
    return [{"sequence_file": aicore_dir / "posting_sequence.csv"}, {"sequential": True}]


def delta_versions(home: Path, schema: str) -> dict[str, int]:
    """``{table: latest Delta version}`` of a schema in the warehouse (from the logs, no Spark)."""
    return {
        table.name: max(int(p.stem) for p in (table / "_delta_log").glob("*.json"))
        for table in sorted((home / "warehouse" / f"{schema}.db").iterdir())
        if (table / "_delta_log").is_dir()
    }


@contextlib.contextmanager
def listening(port: int = 0) -> Iterator[int]:
    """A socket listening on 127.0.0.1:``port`` (0: a free port) while the block runs, as a
    service that holds the port would; yields the port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        yield busy.getsockname()[1]


def render_profiles(env: dict[str, str]) -> dict:
    """profiles.yml as dbt renders it for a process whose environment is ``env``.

    dbt's own :class:`dbt.config.renderer.ProfileRenderer` (native Jinja rendering: a value that
    renders to ``1`` becomes the int 1, which dbt-spark's credentials then refuse), not plain
    Jinja, so a test sees exactly the types dbt sees. Returns the whole document,
    ``{"pinlake": {"target": ..., "outputs": {...}}}``.
    """
    import contextvars

    import yaml
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    from pinlake.config import REPO_ROOT

    def render() -> dict:
        set_invocation_context(dict(env))
        raw = yaml.safe_load((REPO_ROOT / "profiles.yml").read_text())
        return ProfileRenderer({}).render_data(raw)

    # in a context of its own: dbt's invocation environment of this process stays as it was
    return contextvars.copy_context().run(render)
