"""``services status``'s stream block: a query's row names its last micro-batch, and a query that
has run none yet shows ``-`` for the batch and its time, not an empty trigger's (a new user saw
"0 micro-batch(es) since start" above rows with an empty batch and 11-22 ms)."""

from __future__ import annotations

import os

from pinlake.console import console
from pinlake.services.manager import _print_stream_state


def _row(shown: str, name: str) -> list[str]:
    [line] = [line for line in shown.splitlines() if line.strip("│ ").startswith(name)]
    return [cell.strip() for cell in line.strip("│").split("│")]


def _shown(queries: dict) -> str:
    with console.capture() as capture:
        _print_stream_state({"batches": 3, "queries": queries})
    return capture.get()


def test_a_query_without_a_micro_batch_shows_no_batch_and_no_time():
    shown = _shown(
        {
            "pin": {"batch_id": None, "rows": 0, "duration_ms": {"triggerExecution": 11}},
            "geo": {"batch_id": 2, "rows": 40, "duration_ms": {"triggerExecution": 950}},
        }
    )
    assert _row(shown, "pin") == ["pin", "-", "0", "0", "0", "-"]
    assert _row(shown, "geo") == ["geo", "2", "40", "0", "0", "950"]


def test_counts_have_thousands_separators_as_every_count_pinlake_prints():
    """Offsets stay as Kafka's tools print them; the counts (records, lag) as every summary."""
    shown = _shown({"geo": {"batch_id": 7, "rows": 12_345, "duration_ms": {}}})
    assert _row(shown, "geo")[2] == "12,345"


def test_batch_zero_is_a_batch():
    shown = _shown({"user": {"batch_id": 0, "rows": 5, "duration_ms": {"triggerExecution": 70}}})
    assert _row(shown, "user") == ["user", "0", "5", "0", "0", "70"]


def test_a_query_that_starts_is_starting_not_the_last_querys_state(tmp_path):
    """Between ``services up`` spawning the query and its first written state, status showed
    the previous query's ``stopped``: a query process that runs but has not written its own
    state is ``starting``, with the trigger it was started with."""
    import json

    from pinlake.config import Settings
    from pinlake.lakehouse.stream import status_path
    from pinlake.services import process, stream_process

    settings = Settings(home=tmp_path / "home", kafka={"bootstrap_servers": "127.0.0.1:9"})
    settings.run_dir.mkdir(parents=True)
    status_path(settings).write_text(json.dumps({"pid": 1, "state": "stopped", "batches": 9}))
    me = os.getpid()  # this process stands for the query's: a live pid
    process.record_config(settings.run_dir, "stream", me, stream_process.config(settings, 2.5))
    process.pid_file(settings.run_dir, "stream").write_text(f"{me}\n")

    state = stream_process.state(settings, kafka_answers=False)

    assert (state["state"], state["running"], state["pid"]) == ("starting", True, me)
    assert state["trigger_seconds"] == 2.5 and "batches" not in state
    # once the query writes its own state, that is what status shows
    status_path(settings).write_text(json.dumps({"pid": me, "state": "running", "batches": 1}))
    assert stream_process.state(settings, kafka_answers=False)["state"] == "running"
    # and a query that is gone is not starting: its last state, or ended without services down
    process.pid_file(settings.run_dir, "stream").unlink()
    status_path(settings).write_text(json.dumps({"pid": _ended_pid(), "state": "running"}))
    assert stream_process.state(settings, kafka_answers=False)["state"] == process.ENDED
    # until `services down` (helper-91: after it, and after up and down again, it still was)
    stream_process.stop(settings)
    settled = stream_process.state(settings, kafka_answers=False)
    assert (settled["state"], settled["running"]) == ("stopped", False)


def _ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_rows_rates_are_its_micro_batchs_not_an_idle_triggers(tmp_path):
    """``services status`` showed a query's last micro-batch (40 records) beside the rates of
    Spark's last progress, an idle trigger's zeros 10 s later: the rates are the batch's."""
    from pinlake.config import Settings
    from pinlake.lakehouse.stream import BatchWriter, StreamResult

    writer = BatchWriter(Settings(home=tmp_path / "home"), "pin", "app", StreamResult())
    writer.last_batch_id, writer.last_batch_records = 4, 40
    batch = {
        "batchId": 4,
        "numInputRows": 80,  # its quarantine's job read the records again
        "inputRowsPerSecond": 100.0,
        "processedRowsPerSecond": 50.0,
        "durationMs": {"triggerExecution": 800},
    }
    writer.note_progress(batch)
    assert writer.last_batch_rates == (50.0, 25.0)
    idle = {"batchId": 5, "numInputRows": 0, "inputRowsPerSecond": 0.0, "durationMs": {}}
    writer.note_progress(idle)
    writer.note_progress({**batch, "batchId": 3})  # an older batch's: not this row's
    assert writer.last_batch_rates == (50.0, 25.0)
    assert writer.last_batch_durations == {"triggerExecution": 800}


def test_a_query_whose_driver_jvm_ended_says_so_not_py4js_socket_error():
    """helper-88: after a ``kill -9`` of the stream's JVM, ``services status`` showed ``failed
    … error: [Errno 111] Connection refused`` (py4j's connect to a JVM that is gone)."""
    from py4j.protocol import Py4JError, Py4JNetworkError

    from pinlake.lakehouse.stream import JVM_ENDED, _query_error

    refused = ConnectionRefusedError(111, "Connection refused")
    try:
        try:
            raise refused
        except ConnectionRefusedError as exc:
            raise Py4JError("An error occurred while calling o42.awaitTermination") from exc
    except Py4JError as wrapped:
        assert _query_error(wrapped) == JVM_ENDED
    assert _query_error(refused) == JVM_ENDED
    assert _query_error(Py4JNetworkError("Answer from Java side is empty")) == JVM_ENDED
    assert _query_error(ValueError("first line\nsecond")) == "first line"  # any other error


def test_the_last_state_of_a_query_whose_process_ended_is_labelled_so():
    """helper-90: after the query's process was killed, status showed ``stream: … updated <its
    last time>; last micro-batches: input …`` as if current, under a row ``down (ended without
    services down)``. A clean stop's or a running query's line has no label."""
    from pinlake.services import process

    def first_line(state: str) -> str:
        with console.capture() as capture:
            _print_stream_state({"state": state, "batches": 3, "updated_at": "T", "queries": {}})
        return capture.get().splitlines()[0]

    ended = first_line(process.ENDED)
    assert ended.startswith("stream (the last it wrote before its process ended): 3 micro-"), ended
    for state in ("running", "stopped"):
        assert first_line(state).startswith("stream: 3 micro-batches since start"), state


def test_the_lag_of_a_topic_not_read_since_a_restart_counts_from_the_checkpoint(
    tmp_path, monkeypatch
):
    """helper-101: after a ``kill -9`` of the query and a restart, status showed ``read up to
    0`` and every record of geo and user as lag, though they were landed: a topic the running
    query has not read a micro-batch of yet counts from its checkpoint's last commit (the offset
    log's Kafka line, as Spark writes it), and one it has read from its own last batch."""
    import json

    from pinlake import kafka
    from pinlake.config import Settings
    from pinlake.lakehouse.stream import checkpoint_dir, status_path
    from pinlake.services import stream_process

    settings = Settings(home=tmp_path / "home")
    for name, batches in (("geo", {4: 301, 5: 301}), ("user", {0: 20, 1: 41, 2: 45})):
        query = checkpoint_dir(settings) / name
        (query / "offsets").mkdir(parents=True)
        (query / "commits").mkdir()
        topic = settings.stream(name)
        for batch, offset in batches.items():
            metadata = {"batchWatermarkMs": 0, "batchTimestampMs": 1796633047881, "conf": {}}
            lines = ["v1", json.dumps(metadata), json.dumps({topic: {"0": offset}})]
            (query / "offsets" / str(batch)).write_text("\n".join(lines))
        for batch in list(batches)[:-1]:  # the last batch planned, not committed
            (query / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    settings.run_dir.mkdir(parents=True)
    pin = settings.stream("pin")
    status_path(settings).write_text(
        json.dumps({"pid": 1, "state": "stopped", "end_offsets": {pin: {"0": 390}}})
    )
    high = {settings.stream("geo"): 301, settings.stream("user"): 45, pin: 401}
    monkeypatch.setattr(
        kafka,
        "topic_offsets",
        lambda _settings, topics: [kafka.PartitionOffsets(t, 0, 0, high[t]) for t in topics],
    )

    lag = stream_process.state(settings, kafka_answers=True)["lag"]

    assert [(o.topic, o.read_up_to, o.lag) for o in lag] == [
        (pin, 390, 11),
        (settings.stream("geo"), 301, 0),
        (settings.stream("user"), 41, 4),
    ]


def test_status_counts_what_the_query_landed_and_quarantined_since_it_started():
    """helper-101: status showed no quarantine count, so it could not be checked against
    ``raw.stream_quarantine`` (the state file held both totals)."""
    stream = {
        "batches": 5,
        "records": {"pin": 1_200, "geo": 301, "user": 12},
        "quarantined": {"pin": 0, "geo": 0, "user": 29},
    }
    with console.capture() as capture:
        _print_stream_state(stream)
    assert (
        "since start: 1,513 records landed, 29 quarantined (pin 1,200/0, geo 301/0, user 12/29 "
        "landed/quarantined)"
    ) in " ".join(capture.get().split())


def test_the_rates_say_when_the_latest_micro_batch_ran():
    """helper-103: six minutes after the last micro-batch, an idle query's line read ``updated
    <now>; last micro-batches: input 600 records/s``, as if the rate were current: it names the
    latest micro-batch's time (UTC, as ``updated``); a query without one names none."""
    from datetime import datetime, timezone

    def printed(**state: object) -> str:  # the words, whatever the terminal's width
        with console.capture() as capture:
            _print_stream_state({"state": "running", "batches": 3, "queries": {}, **state})
        return " ".join(capture.get().split())

    at = datetime(2026, 12, 7, 10, 51, 3, tzinfo=timezone.utc)
    text = printed(updated_at="2026-12-07T10:57:07+00:00", last_batch_at=at.timestamp())
    assert "; last micro-batches (the latest at 2026-12-07T10:51:03+00:00): input " in text, text
    assert "; last micro-batches: input " in printed(updated_at="T", last_batch_at=None)


def test_a_query_that_ran_no_micro_batch_shows_no_rates():
    """helper-113: a query that had failed at its start read ``0 micro-batches since start …;
    last micro-batches: input — records/s, processed — records/s``: rates of batches that never
    ran. It says it ran none; once one has run, its rates are shown (even if they were 0)."""

    def printed(**state: object) -> str:  # the words, whatever the terminal's width
        with console.capture() as capture:
            _print_stream_state({"state": "failed", "queries": {}, "updated_at": "T", **state})
        return " ".join(capture.get().split())

    assert printed(batches=0, error="boom") == (
        "stream: no micro-batch since start (all tables), updated T; error: boom"
    )
    assert printed() == "stream: no micro-batch since start (all tables), updated T"
    ran = printed(batches=1, input_rows_per_second=0.0, processed_rows_per_second=0.0)
    assert ran.startswith("stream: 1 micro-batch since start (all tables), updated T; last "), ran
    assert "input 0 records/s" in ran, ran


def test_an_available_now_runs_row_says_so_and_when_not_a_trigger():
    """helper-111: after ``stream --available-now`` had caught up and ended, status showed
    ``raw.stream_* every 1.0s`` beside its state, as if a continuous query had stopped."""
    from pinlake.services.manager import _stream_what

    caught_up = {
        "mode": "available-now",
        "trigger_seconds": 1.0,
        "state": "caught up",
        "updated_at": "2026-12-08T00:51:02.123456+00:00",
    }
    assert _stream_what(caught_up) == (
        "raw.stream_* by stream --available-now, at 2026-12-08 00:51:02 UTC"
    )
    assert _stream_what({**caught_up, "mode": "continuous"}) == "raw.stream_* every 1.0s"
    assert _stream_what({"state": "starting", "trigger_seconds": 2.5}) == "raw.stream_* every 2.5s"


def test_a_failed_service_querys_line_gives_its_reason_its_log_and_the_restart(tmp_path):
    """helper-113: a service's query that failed at its start showed ``error: see the log``,
    naming no log and no command. The state holds the reason and the log
    (pinlake.lakehouse.stream), and the line adds the ``services up`` that starts it again."""
    from pinlake.console import PINLAKE

    reason = "the Spark master spark://127.0.0.1:47999 does not answer (log: /h/logs/stream.log)"
    state = {"state": "failed", "service": True, "batches": 0, "queries": {}, "error": reason}
    # the home's broker and API run, and the failed query left no record: its command still
    # starts it (helper-114: `services up --no-stream` was named, which leaves it stopped)
    run = tmp_path / "run"
    run.mkdir()
    for name in ("kafka", "api"):
        (run / f"{name}.pid").write_text(f"{os.getpid()}\n")
    with console.capture() as capture:
        _print_stream_state(state, run)
    line = " ".join(capture.get().split())
    assert line.endswith(
        f"; error: {reason}; once that is fixed, `{PINLAKE} services up` starts it again"
    ), line
    with console.capture() as capture:  # a `pinlake stream` of a terminal: its error was shown
        _print_stream_state({**state, "service": False}, tmp_path / "run")
    assert "services up" not in capture.get()
