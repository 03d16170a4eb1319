"""What of dbt's output ``pinlake dbt`` passes on (pinlake.lakehouse.dbt._invoke): everything,
but PySpark's JSON record of each SQL error with the JVM's whole stack trace (about 8 KB before
dbt's own words for the same error: helper-56)."""

from __future__ import annotations

import gc
import logging
import shlex
import sys
import textwrap
import warnings
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
    gc.collect()  # what earlier tests of this worker left (py4j sockets of a session): not ours
    with warnings.catch_warnings(record=True) as caught:  # its pipes closed (helper-68: unclosed)
        warnings.simplefilter("always", ResourceWarning)
        assert dbt._invoke(Settings(home=tmp_path / "home"), ["run"], in_process=False) == 1
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    out, err = capfd.readouterr()
    assert out == "12:00:00  1 of 1 ERROR creating sql view model x\n"
    assert err == "Database Error in model x: [UNRESOLVED_COLUMN] nope\n"


def test_a_jvm_stack_trace_in_dbts_error_text_is_one_line(tmp_path: Path) -> None:
    """dbt's text of a Spark error (a Py4JJavaError's message) held the JVM's whole stack trace
    under its one message (a contributor's violated check constraint: about 50 lines here, 280
    with Spark's task logs); each run of frames is one line naming dbt's log, which keeps them."""
    log = tmp_path / "dbt.log"
    lines = [
        "11:37:45    Runtime Error in model rpt_tmp (models/marts/reporting/rpt_tmp.sql)\n",
        "  An error occurred while calling o76.sql.\n",
        "  : org.apache.spark.sql.delta.schema.DeltaInvariantViolationException: [DELTA_VIOLATE"
        "_CONSTRAINT_WITH_VALUES] CHECK constraint n_big (n >= 100) violated by row with values:\n",
        "   - n : 1\n",
        "  \tat org.apache.spark.sql.delta.schema.DeltaInvariantViolationException$.apply("
        "InvariantViolationException.scala:106)\n",
        "  \tat org.apache.spark.sql.catalyst.expressions.GeneratedClass$SpecificUnsafeProjection"
        ".apply(Unknown Source)\n",
        "  \tat java.base/java.lang.Thread.run(Thread.java:840)\n",
        "  Caused by: java.lang.ClassNotFoundException: org.apache.spark.sql.delta.Foo\n",
        "  \t... 24 more\n",
        "11:37:45  Done. PASS=0 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=1\n",
    ]
    out = list(dbt.trim_jvm_frames(iter(lines), log))
    assert out == [
        *lines[:4],
        f"      … 3 lines of the JVM's stack trace (in full: {log})\n",
        lines[7],
        f"      … 1 line of the JVM's stack trace (in full: {log})\n",
        lines[9],
    ]
    # a trace at the end of the output is said too; other indented text stays
    assert list(dbt.trim_jvm_frames(iter(lines[4:5]), log))[0].startswith("      … 1 line of")
    plain = ["  at least one row\n", "\tat the end (no frame)\n", "    1 of 1 START\n"]
    assert list(dbt.trim_jvm_frames(iter(plain), log)) == plain
