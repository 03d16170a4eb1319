"""Incremental staging equals a full refresh, over deliveries from both paths arriving in parts.

Raw rows are appended by hand (their ``_ingested_at`` chosen, as the batch and stream writers
would stamp them) in parts; after each part ``dbt run`` builds the staging model
incrementally (Delta merge on ``ind``). The result must be exactly what ``--full-refresh`` builds
from all parts at once, including the cases that make incremental deduplication hard: late
duplicates, a copy that was stamped earlier but committed later than the row kept, copies
with the same stamp ordered by offset as a number, and a partial record (a part of the fields)
that the complete row delivered later replaces.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pinlake.config import Settings
from pinlake.lakehouse.dbt import DbtCommand, run_dbt
from pinlake.lakehouse.tables import ensure_raw_tables
from pinlake.schemas import raw_table_ddl, stream_table_ddl

pytestmark = [pytest.mark.spark, pytest.mark.slow]

T0 = datetime(2031, 1, 1)  # later than any row another test of this worker lands
MODEL = "stg_pinterest__users"


def _append(
    spark, path: str, rows: list[tuple[int, int, int, datetime]], partial: bool = False
) -> None:
    """Append users ``(ind, partition, offset, ingested_at)`` to raw.user (batch) or
    raw.stream_user (stream) with that path's metadata; ``partial``: with ``ind`` and
    ``first_name`` only (a record put by hand); ``_rescued_data`` NULL."""
    last, age, joined = (None, None, None) if partial else ("L", 30, "2020-01-01 00:00:00")

    def fields(i: int) -> tuple:  # the delivered fields, then _rescued_data
        return (i, "F", last and f"{last}{i}", age, joined, None)

    if path == "batch":
        data = [fields(i) + ("pinterest.user", p, o, None, "f", "l", at) for i, p, o, at in rows]
        spark.createDataFrame(data, raw_table_ddl("user")).write.format("delta").mode(
            "append"
        ).saveAsTable("raw.`user`")
    else:
        data = [
            fields(i)
            + ("streaming-pinterest-user", p, o, None, at, f"k{i}", f"49{p:06d}{o:020d}", 0, at)
            for i, p, o, at in rows
        ]
        spark.createDataFrame(data, stream_table_ddl("user")).write.format("delta").mode(
            "append"
        ).saveAsTable("raw.stream_user")


def _staged(spark) -> set[tuple]:
    rows = spark.table(f"staging.{MODEL}").collect()
    assert len(rows) == len({r["ind"] for r in rows}), "more than one row per ind"
    return {tuple(r) for r in rows}


def _dbt(settings: Settings, *args: str) -> None:
    run_dbt(settings, DbtCommand(["run", "--select", MODEL, *args], in_process=True))


def test_incremental_runs_over_parts_equal_a_full_refresh(spark, spark_settings: Settings) -> None:
    ensure_raw_tables(spark, spark_settings)
    run_dbt(spark_settings, DbtCommand(["seed"], in_process=True))  # the rules' data staging reads
    minutes = [T0 + timedelta(minutes=m) for m in range(20)]
    parts = [
        ("batch", [(i, 0, 100 + i, minutes[0]) for i in range(1, 6)]),
        # late duplicates of 4 and 5 (lose), first deliveries of 6..8
        ("stream", [(i, 1, 200 + i, minutes[5]) for i in range(4, 9)]),
        # stamped before the stream part but committed after it: its 6 replaces the stream's 6
        ("batch", [(6, 0, 300, minutes[3]), (9, 0, 301, minutes[3])]),
        # a late duplicate of 1; three copies of 10 with one stamp: offset 3 < 20 < 100 wins
        ("stream", [(1, 0, 1, minutes[9]), (10, 2, 20, minutes[9]), (10, 2, 3, minutes[9])]),
        ("stream", [(10, 2, 100, minutes[9]), (11, 0, 7, minutes[10])]),
        # partial records (a part of the fields): 12's is kept until the complete row comes
        # and then loses to it; 9's comes after its complete row and loses at once
        ("stream", [(12, 0, 8, minutes[11]), (9, 0, 9, minutes[11])], True),
        ("batch", [(12, 0, 302, minutes[12])]),
    ]
    for path, rows, *partial in parts:
        _append(spark, path, rows, *partial)
        _dbt(spark_settings)
    incremental = _staged(spark)

    _dbt(spark_settings, "--full-refresh")
    full = _staged(spark)

    assert incremental == full
    kept = {
        r["ind"]: (r["_delivery_path"], r["_partition"], r["_offset"])
        for r in spark.table(f"staging.{MODEL}").where("ind between 1 and 12").collect()
    }
    assert kept == {
        1: ("batch", 0, 101),
        2: ("batch", 0, 102),
        3: ("batch", 0, 103),
        4: ("batch", 0, 104),
        5: ("batch", 0, 105),
        6: ("batch", 0, 300),
        7: ("stream", 1, 207),
        8: ("stream", 1, 208),
        9: ("batch", 0, 301),
        10: ("stream", 2, 3),
        11: ("stream", 0, 7),
        12: ("batch", 0, 302),
    }
