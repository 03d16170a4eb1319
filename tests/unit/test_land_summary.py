"""The closing line of ``pinlake land`` (:func:`pinlake.lakehouse.land.print_land_summary`)."""

from __future__ import annotations

import shlex

import pytest

from pinlake.console import PINLAKE
from pinlake.lakehouse.land import LandResult, print_land_summary
from pinlake.lakehouse.stream import STOPPED_WITHOUT_WAITING


def _last_line(capsys: pytest.CaptureFixture[str], result: LandResult) -> str:
    print_land_summary(result)
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_a_load_that_landed_files_gives_its_rate_on_one_line(capsys) -> None:
    result = LandResult(files_found=3, files_landed=3, seconds=12.0, spark_startup_seconds=4.0)
    result.records["pin"] = 8_000
    line = _last_line(capsys, result)
    assert line.startswith("3 files found: 3 landed now, 0 rejected now")
    assert line.endswith("12.0s (4.0s Spark start-up, 1,000 records/s after it)")


def test_a_load_of_one_record_gives_its_rate_in_fractions(capsys) -> None:
    """Landing one record said "0 records/s after it" (a new-user trial)."""
    result = LandResult(files_found=1, files_landed=1, seconds=43.4, spark_startup_seconds=10.3)
    result.records["user"] = 1
    assert _last_line(capsys, result).endswith("(10.3s Spark start-up, 0.03 records/s after it)")


def test_a_load_with_nothing_new_gives_no_rate(capsys) -> None:
    """A second ``land`` of the same bucket said "0 records/s after it" (a new-user trial)."""
    result = LandResult(files_found=3, files_seen_before=3, seconds=18.5, spark_startup_seconds=4.1)
    line = _last_line(capsys, result)
    assert line.startswith("3 files found: 0 landed now, 0 rejected now, 3 landed or")
    assert line.endswith("18.5s (4.1s Spark start-up)")
    assert "records/s" not in line


def test_empty_files_that_landed_are_named_in_the_count(capsys) -> None:
    """An empty bucket file counted as landed with no word that it held nothing (a trial)."""
    result = LandResult(files_found=2, files_landed=2, seconds=40.2, spark_startup_seconds=6.7)
    result.records["pin"] = 5
    result.files_empty = ["topics/pinterest.geo/partition=0/pinterest.geo+0+0000005000.json"]
    line = _last_line(capsys, result)
    assert line.startswith(
        "2 files found: 2 landed now (1 of them empty: no record, e.g. topics/pinterest.geo/"
        "partition=0/pinterest.geo+0+0000005000.json), 0 rejected"
    )
    one = LandResult(files_found=1, files_landed=1, seconds=1.0)
    assert _last_line(capsys, one).startswith("1 file found: 1 landed now, 0 rejected now")


def test_events_without_a_row_are_named_with_why():
    """A few events on the reference folder (whose pin table is a 2,019-row sample) gave 0 pin
    records and the summary did not say why."""
    from pinlake.produce.options import ProduceResult

    result = ProduceResult("bucket", events=5, missing={"pin": 3, "geo": 0, "user": 0})
    assert result.missing_line() == (
        "no pin record for 3 of 5 events: the source's pin table has no row with the index "
        "they drew (an index missing from a table sends nothing for it)"
    )
    both = ProduceResult("api", events=10, missing={"pin": 2, "geo": 1, "user": 0})
    assert both.missing_line().startswith(
        "no pin record for 2 of 10 events; no geo record for 1 of 10 events: "
        "the source's pin and geo tables have no row"
    )
    assert ProduceResult("api", events=4, missing={"pin": 0}).missing_line() is None
    assert ProduceResult("api", events=4).missing_line() is None


@pytest.mark.parametrize(
    ("catch_up", "stopped", "named"),
    [
        (True, "caught up", "records' age at landing (API acknowledgement → raw Delta, the wait"),
        # a catch-up cut short landed records that waited too (helper-51's trial: "latency")
        (True, "stopped by a signal before it caught up", "records' age at landing (API ackn"),
        # so did one that a second Ctrl-C stopped (this session's trial: "latency")
        (True, STOPPED_WITHOUT_WAITING, "records' age at landing (API acknowledgement"),
        (False, STOPPED_WITHOUT_WAITING, "latency API → raw Delta p50 1.50s"),
        (False, "stopped", "latency API → raw Delta p50 1.50s"),
        (False, "stopped by a signal", "latency API → raw Delta p50 1.50s"),
    ],
)
def test_a_catch_up_run_names_its_latency_as_the_records_age(capsys, catch_up, stopped, named):
    """``stream --available-now`` said "latency API → raw Delta p50 20.90s": mostly how long
    the records waited for the run, not the stream's latency."""
    from pinlake.lakehouse.stream import StreamResult, print_stream_summary

    result = StreamResult(catch_up=catch_up)
    result.stopped, result.batches = stopped, 2
    result.latency_ms = {"p50": 1500.0, "p99": 2500.0}
    print_stream_summary(result)
    assert named in " ".join(capsys.readouterr().out.split())


def test_the_land_and_stream_tables_count_with_thousands_separators(capsys) -> None:
    """``land`` printed ``2000`` where ``produce`` and ``report`` print ``2,000`` (helper-48's
    trial); the stream stage's table is the same rows (``TableTotals.summary_rows``)."""
    from pinlake.lakehouse.stream import StreamResult, print_stream_summary

    result = LandResult(files_found=1_234, files_landed=1_234, seconds=5.0)
    result.records.update(pin=2_000, geo=12_345_678, user=0)
    result.quarantined["geo"] = 1_500
    assert result.summary_rows() == [
        ("pin", "2,000", "0"),
        ("geo", "12,345,678", "1,500"),
        ("user", "0", "0"),
        ("total", "12,347,678", "1,500"),
    ]
    print_land_summary(result)
    out = capsys.readouterr().out
    assert "12,347,678" in out and "1,234 files found: 1,234 landed now" in out
    streamed = StreamResult(records={"pin": 1_000, "geo": 0, "user": 0}, stopped="caught up")
    print_stream_summary(streamed)
    assert "1,000" in capsys.readouterr().out


def test_land_on_an_empty_bucket_of_a_home_that_never_landed_starts_no_spark(
    tmp_path, monkeypatch, capsys
) -> None:
    """``land`` on an existing bucket without a file started Spark, created the nine raw tables
    and said "0 files found" (about 20 s): with nothing landed before there is nothing to
    recover or to name as gone, so it ends at once, naming what writes the files. A home whose
    manifest exists still starts Spark (its gone files, its unfinished loads)."""
    from pinlake_testing import cli_exit_code

    import pinlake.spark
    from pinlake.console import PINLAKE

    def no_spark(*_args, **_kwargs):
        raise AssertionError("Spark started")

    monkeypatch.setattr(pinlake.spark, "get_spark", no_spark)
    home, bucket = tmp_path / "home", tmp_path / "bucket"
    (bucket / "topics").mkdir(parents=True)
    assert cli_exit_code(monkeypatch, home, "land", "--bucket", str(bucket)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"nothing to land: {bucket} holds no file under its batch topics' folders "
        f"(topics/<topic>/partition=<p>/): `{PINLAKE.at(home)} produce --to bucket` writes them"
    ) in out
    assert "0 files found: 0 landed now, 0 rejected now" in out
    assert not (home / "warehouse" / "raw.db").exists()

    class Started(Exception):
        pass

    def spark_started(*_args, **_kwargs):
        raise Started

    monkeypatch.setattr(pinlake.spark, "get_spark", spark_started)
    (home / "warehouse" / "raw.db" / "_loaded_files" / "_delta_log").mkdir(parents=True)
    with pytest.raises(Started):
        cli_exit_code(monkeypatch, home, "land", "--bucket", str(bucket))


def test_the_land_and_stream_summaries_name_a_command_that_counts_the_quarantine(
    capsys, monkeypatch, tmp_path
) -> None:
    """Both summaries said where quarantined records are and no way to read them whole: the
    README's ``dbt show`` gave 5 rows with each reason cut to 20 characters (helper-105). They
    name ``dbt show`` with JSON output and a limit, on the summary's home."""
    from pinlake.lakehouse.stream import StreamResult, print_stream_summary

    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "my home"))
    home = shlex.quote(str(tmp_path / "my home"))
    query = (
        "select table_name, reason, count(*) as n from raw.{} group by table_name, reason "
        "order by table_name, n desc"
    )
    land = LandResult(files_found=1, files_landed=1, seconds=5.0)
    land.records["pin"], land.quarantined["pin"] = 3, 2
    print_land_summary(land)
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"2 quarantined (lines, or elements of JSON arrays) in raw.quarantine, each with its "
        f"reason and raw_text; `{PINLAKE.command} --home {home} dbt show --quiet --output json "
        f'--limit 100 --inline "{query.format("quarantine")}"` counts them by reason'
    ) in out
    stream = StreamResult()
    stream.stopped, stream.batches, stream.quarantined["geo"] = "stopped", 1, 1
    print_stream_summary(stream)
    out = " ".join(capsys.readouterr().out.split())
    assert f'--limit 100 --inline "{query.format("stream_quarantine")}"` counts them)' in out
