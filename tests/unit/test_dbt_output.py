"""What of dbt's output ``pinlake dbt`` passes on (pinlake.lakehouse.dbt._invoke): everything,
but PySpark's JSON record of each SQL error with the JVM's whole stack trace (about 8 KB before
dbt's own words for the same error: helper-56)."""

from __future__ import annotations

import logging
import shlex
import sys
import textwrap
from pathlib import Path

from pinlake.config import Settings
from pinlake.lakehouse import dbt


def _record(logger: str) -> str:
    """A record as PySpark's JSON formatter writes it, with a stack trace."""
    from pyspark.logger.logger import JSONFormatter

    try:
        raise RuntimeError("[UNRESOLVED_COLUMN.WITH_SUGGESTION] nope")
    except RuntimeError:
        record = logging.LogRecord(logger, logging.ERROR, __file__, 1, "nope", (), sys.exc_info())
    return JSONFormatter().format(record)


def test_pyspark_query_records_are_told_from_other_lines() -> None:
    assert dbt.pyspark_query_log(_record("SQLQueryContextLogger") + "\n")
    assert dbt.pyspark_query_log(_record("DataFrameQueryContextLogger"))
    assert not dbt.pyspark_query_log(_record("py4j"))
    for line in ('{"ts": not json', "12:00:00  Database Error in model x", "{}", ""):
        assert not dbt.pyspark_query_log(line)


def test_dbt_output_passes_on_without_them(tmp_path: Path, capfd, monkeypatch) -> None:
    record = _record("SQLQueryContextLogger")
    script = tmp_path / "dbt.py"
    script.write_text(
        textwrap.dedent(f"""\
            import sys
            print("12:00:00  1 of 1 ERROR creating sql view model x", flush=True)
            print({record!r}, file=sys.stderr, flush=True)
            print("Database Error in model x: [UNRESOLVED_COLUMN] nope", file=sys.stderr)
            sys.exit(1)
            """)
    )
    child = tmp_path / "dbt"
    child.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))}\n")
    child.chmod(0o755)
    monkeypatch.setattr(dbt, "dbt_executable", lambda: str(child))
    assert dbt._invoke(Settings(home=tmp_path / "home"), ["run"], in_process=False) == 1
    out, err = capfd.readouterr()
    assert out == "12:00:00  1 of 1 ERROR creating sql view model x\n"
    assert err == "Database Error in model x: [UNRESOLVED_COLUMN] nope\n"
