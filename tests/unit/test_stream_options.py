"""Stream-stage options that cannot work are refused before a Spark JVM starts
(pinlake.lakehouse.stream.StreamOptions, the CLI's bounds, ``services up``)."""

from __future__ import annotations

import pytest

from pinlake.cli import main
from pinlake.config import Settings
from pinlake.errors import UsageError
from pinlake.lakehouse.stream import MAX_RECORDS_PER_BATCH, MAX_TRIGGER_SECONDS, StreamOptions


@pytest.mark.parametrize(
    ("args", "why"),
    [
        # Spark took "inf seconds" as a trigger only to fail after its start-up
        (["stream", "--trigger-seconds", "1e400"], "inf is not in 0.1–86,400"),
        # Typer's bound check let nan through to "Input should be less than or equal to 86400"
        (["stream", "--trigger-seconds", "nan"], "nan is not in 0.1–86,400"),
        (["stream", "--trigger-seconds", "0.05"], "0.05 is not in 0.1–86,400"),
        (["services", "up", "--trigger-seconds", "1e400"], "inf is not in 0.1–86,400"),
        (["services", "up", "--trigger-seconds", "-inf"], "-inf is not in 0.1–86,400"),
        # the Kafka source reads maxOffsetsPerTrigger as a Java long
        (["stream", "--max-records-per-batch", str(2**63)], "less than or equal to"),
    ],
)
def test_the_cli_refuses_them_in_one_line(tmp_path, capsys, args, why) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: Invalid value for '{args[-2]}': ") and "\n" not in err, err
    assert why in err
    assert not (tmp_path / "home" / "run").exists()  # nothing was started


@pytest.mark.parametrize(
    "options",
    [
        {"trigger_seconds": float("inf")},
        {"trigger_seconds": float("nan")},
        {"trigger_seconds": 0.0},
        {"max_records_per_batch": 0},
        {"max_records_per_batch": MAX_RECORDS_PER_BATCH + 1},
    ],
)
def test_every_caller_gets_the_same_rules(options) -> None:
    """The DAGs, the demo and the service's own process build StreamOptions without the CLI."""
    with pytest.raises(UsageError):
        StreamOptions(**options)


def test_the_bounds_themselves_are_taken() -> None:
    assert StreamOptions(trigger_seconds=MAX_TRIGGER_SECONDS).trigger_seconds == 86_400
    largest = StreamOptions(trigger_seconds=0.1, max_records_per_batch=2**63 - 1)
    assert largest.max_records_per_batch == MAX_RECORDS_PER_BATCH


def test_the_service_is_not_started_with_a_trigger_it_would_fail_on(tmp_path) -> None:
    from pinlake.services import stream_process

    settings = Settings(home=tmp_path / "home")
    with pytest.raises(UsageError, match="trigger seconds: inf is not in 0.1–86,400"):
        stream_process.start(settings, trigger_seconds=float("inf"))
    assert not stream_process.state(settings, kafka_answers=False)["running"]
    assert not (settings.run_dir / f"{stream_process.NAME}.pid").exists()


def test_the_table_registration_is_reaped_when_it_ends() -> None:
    """The stream stage's background registration ended within a minute and stayed a
    ``<defunct>`` child of the continuous query's process for as long as that ran (helper-61):
    it is waited for as soon as it ends, and the stage can still ask it for its code."""
    import subprocess
    import sys
    from pathlib import Path

    from pinlake.lakehouse.stream import reap_when_done

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    reap_when_done(child).join(timeout=30)
    assert not Path(f"/proc/{child.pid}").exists()  # reaped: not even a zombie
    assert child.poll() == 0


@pytest.mark.parametrize(
    ("state", "how"),
    [
        ({"pid": 41, "service": True}, "`{p} services up` started it; `{p} services down` stops"),
        ({"pid": 42, "service": False}, "stop it with Ctrl-C in the terminal where `{p} stream`"),
        (None, "stop it with `{p} services down`, or Ctrl-C in the terminal where `{p} stream`"),
    ],
)
def test_a_second_stream_stage_is_told_how_the_running_query_stops(tmp_path, state, how) -> None:
    """helper-80: ``stream --available-now`` beside the query ``services up`` started was told
    to press Ctrl-C in the terminal where ``pinlake stream`` runs; that query has none. The
    refusal names how the running query stops, from the state it writes (``service``)."""
    import json

    from pinlake.console import PINLAKE
    from pinlake.lakehouse.stream import already_running, status_path

    settings = Settings(home=tmp_path / "home")
    if state is not None:
        status_path(settings).parent.mkdir(parents=True)
        status_path(settings).write_text(json.dumps(state))
    message = already_running(settings)
    assert message.startswith(f"a stream query already runs on {settings.home} (pid ")
    assert f"(pid {state['pid'] if state else '?'})" in message
    assert how.format(p=PINLAKE) in message
    assert ("services down" in message) == (state is None or state["service"])
