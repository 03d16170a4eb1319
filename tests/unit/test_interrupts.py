"""Ctrl-C (SIGINT) ends every command with one line and exit 130, after saying what was done.

Typer turns a KeyboardInterrupt into a silent exit code 130 and PySpark's own SIGINT handler
made py4j print two tracebacks (a new user's Ctrl-C on ``pinlake land``: about 40 lines); a
Ctrl-C on ``services up`` left the services it had started running. The Spark session's own
handler is tested on a real session in tests/ingestion/test_spark_interrupt.py, the producer's
on a real API in tests/integration/test_ingestion_producer.py.
"""

from __future__ import annotations

import logging
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pinlake_testing import foreground_job

from pinlake.cli import main
from pinlake.config import Settings
from pinlake.errors import INTERRUPTED, TERMINATED
from pinlake.services import manager, process
from pinlake.spark import _quiet_interrupted_py4j, quiet_py4j


@pytest.fixture(autouse=True)
def _no_interrupt_left() -> object:
    INTERRUPTED.clear()
    yield
    INTERRUPTED.clear()


def _land_raises(monkeypatch: pytest.MonkeyPatch, error: BaseException, interrupt: bool) -> None:
    """``pinlake land``'s step raises ``error`` (after a Ctrl-C was noted, with ``interrupt``)."""
    import pinlake.pipeline.steps as steps

    def step(_settings: Settings, _options: object) -> None:
        if interrupt:
            INTERRUPTED.set()
        raise error

    monkeypatch.setattr(steps, "run_step", step)


def test_a_keyboard_interrupt_in_a_command_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    _land_raises(monkeypatch, KeyboardInterrupt(), interrupt=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "land"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_what_fails_after_a_ctrl_c_is_reported_as_the_interrupt(tmp_path, monkeypatch, capsys):
    """The same Ctrl-C ends the driver JVM (one process group): the next py4j call fails."""
    _land_raises(monkeypatch, ConnectionError("Answer from Java side is empty"), interrupt=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "land"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "error: interrupted\n"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (OSError(28, "No space left on device"), "error: No space left on device\n"),
        (
            OSError(28, "No space left on device", "/b/f.json"),
            "error: /b/f.json: No space left on device\n",
        ),
        (OSError(30, "Read-only file system"), "error: Read-only file system\n"),
    ],
)
def test_a_full_or_failing_disk_is_one_line(tmp_path, monkeypatch, capsys, error, line):
    """A full disk is the storage's fault, not a bug: one line and exit 1, with the file when
    the error names it (helper-56: two tracebacks from ``produce --to bucket``)."""
    _land_raises(monkeypatch, error, interrupt=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "land"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == line


def test_without_a_ctrl_c_an_unexpected_error_still_shows_its_traceback(tmp_path, monkeypatch):
    _land_raises(monkeypatch, ConnectionError("a bug"), interrupt=False)
    with pytest.raises(ConnectionError, match="a bug"):
        main(["--home", str(tmp_path), "land"])


def _record(pathname: str, error: BaseException | None, message: str = "m") -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord("root", logging.ERROR, pathname, 1, message, (), exc_info)


PY4J_FILE = f"{sys.prefix}/lib/python3/site-packages/py4j/java_gateway.py"


def _reentrant_network_error() -> Exception:
    """py4j's Py4JNetworkError of a reentrant read, as its ``send_command`` raises it."""
    try:
        try:
            raise RuntimeError("reentrant call inside <_io.BufferedReader name=3>")
        except RuntimeError as cause:
            raise OSError("Error while sending or receiving") from cause
    except OSError as error:
        return error


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        (
            _record(PY4J_FILE, KeyboardInterrupt(), "KeyboardInterrupt while sending command."),
            False,
        ),
        (_record(PY4J_FILE, _reentrant_network_error(), "Exception while sending command."), False),
        (_record(PY4J_FILE, ConnectionError("Answer from Java side is empty")), True),
        (_record("/work/app/pinlake/land.py", KeyboardInterrupt()), True),
    ],
)
def test_py4j_records_of_an_interrupted_call_are_dropped_and_no_others(record, kept):
    assert _quiet_interrupted_py4j(record) is kept


def test_py4j_info_records_are_not_logged_its_warnings_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A root logger at INFO (Airflow configures one, with a handler on the stderr of that
    moment) got py4j's "Closing down clientserver connection" from each connection's
    ``__del__``: in an Airflow task's log, and in a suite run (2026-12-06), whose captured
    stream was closed by then, as "--- Logging error ---" and a 60-line stack. A level the
    user set for py4j stays theirs."""
    py4j = logging.getLogger("py4j")
    saved = py4j.level
    py4j.setLevel(logging.NOTSET)  # as in a new process: the CLI's runs here set it already
    try:
        with caplog.at_level(logging.INFO):
            quiet_py4j()
            logging.getLogger("py4j.clientserver").info("Closing down clientserver connection")
            logging.getLogger("py4j.java_gateway").warning("Answer from Java side is empty")
        assert [r.getMessage() for r in caplog.records if r.name.startswith("py4j")] == [
            "Answer from Java side is empty"
        ]
        py4j.setLevel(logging.DEBUG)
        quiet_py4j()
        assert py4j.level == logging.DEBUG
    finally:
        py4j.setLevel(saved)


def test_the_stream_stop_request_drops_py4j_records_of_the_call_it_breaks():
    """The stream service (``python -m pinlake.lakehouse.stream``, not the CLI) logged py4j's
    "KeyboardInterrupt while sending command." traceback when a stop broke a call during its
    start-up (a trial: 3 of 5 interrupted ``services up``)."""
    from pinlake.lakehouse.stream import _StopDuringStartUp, _StopRequest
    from pinlake.spark import PY4J_LOGGERS

    for name in PY4J_LOGGERS:
        logging.getLogger(name).removeFilter(_quiet_interrupted_py4j)
    with _StopRequest():
        assert all(
            _quiet_interrupted_py4j in logging.getLogger(name).filters for name in PY4J_LOGGERS
        )
    assert not _quiet_interrupted_py4j(_record(PY4J_FILE, _StopDuringStartUp()))


def test_a_sigint_that_pyspark_took_while_the_session_started_is_a_stop_during_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PySpark's context sets a SIGINT handler of its own while the session starts (it cancels
    the jobs and raises KeyboardInterrupt); a Ctrl-C then ended ``pinlake stream`` with
    ``error: interrupted`` and no summary, in 7 of 30 Ctrl-Cs sent 2.5-10 s after its start
    (the stage's own handler said nothing of it). Any KeyboardInterrupt out of the session's
    start is the stage's stop during start-up, by SIGINT. (The session's start is stood in for:
    PySpark's handler cannot be timed in a test.)"""
    from pinlake import spark
    from pinlake.lakehouse.stream import StreamOptions, _start_up, _StopRequest

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt  # PySpark's handler, inside SparkSession.builder.getOrCreate

    monkeypatch.setattr(spark, "get_spark", interrupted)
    stop = _StopRequest()
    with stop:
        try:
            started = _start_up(Settings(home=tmp_path / "home"), StreamOptions(), stop)
        except KeyboardInterrupt:
            pytest.fail("the KeyboardInterrupt went past the stage: no summary")
    assert started is None
    assert (stop.requested, stop.signal, stop.hurried) == (True, "SIGINT", None)


def test_a_second_signal_kills_the_driver_jvm_at_once_and_is_reported() -> None:
    """Ctrl-C twice on a running ``pinlake stream``: the second one raised KeyboardInterrupt
    and the process ended with its JVM still running queries, whose shutdown hooks then
    printed hundreds of lines of stack traces, and no summary. The second signal now SIGKILLs
    the driver JVM (no hook runs, nothing is printed; the checkpoint replays what it cut short)
    and marks the stop as hurried, so the stage reports it and ends 130. A real child process
    stands in for the driver JVM that PySpark launched (``sparkContext._gateway.proc``)."""
    import sys
    from types import SimpleNamespace

    from pinlake.lakehouse.stream import STOPPED_WITHOUT_WAITING, _StopRequest

    jvm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    accumulators = SimpleNamespace(server_shutdown=False, handle_error=None)  # PySpark's server
    context = SimpleNamespace(_gateway=SimpleNamespace(proc=jvm), _accumulatorServer=accumulators)
    session = SimpleNamespace(sparkContext=context)
    stop = _StopRequest()
    try:
        with stop:
            stop.session_started(session)
            os.kill(os.getpid(), signal.SIGINT)  # the first: a graceful stop
            assert (stop.requested, stop.hurried) == (True, None) and jvm.poll() is None
            os.kill(os.getpid(), signal.SIGINT)  # the second: do not wait
            assert jvm.wait(10) == -signal.SIGKILL
            assert (stop.hurried, stop.signal) == (STOPPED_WITHOUT_WAITING, "SIGINT")
            # the accumulator server's handler reads the broken connection's end: it is shut
            # down first and reports nothing (it printed an EOFError traceback: helper-53)
            assert accumulators.server_shutdown
            assert accumulators.handle_error(None, ("127.0.0.1", 1)) is None
            with pytest.raises(KeyboardInterrupt):  # a third, with nothing left to kill
                os.kill(os.getpid(), signal.SIGINT)
        assert INTERRUPTED.is_set()  # py4j's records of the calls the kill breaks are dropped
    finally:
        INTERRUPTED.clear()
        jvm.kill()
        jvm.wait()


def test_a_graceful_stop_out_of_time_hurries_instead_of_cancelling_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal's graceful stop that finds a micro-batch still writing after
    STOP_GRACE_SECONDS cancelled it with ``query.stop()``, and the JVM printed about 3,600
    lines of stack traces (helper-55's trial: a catch-up's micro-batch of over 30 s under
    load). It now calls ``out_of_time`` (the stop request's hurry: the driver JVM is killed,
    quietly) and stops no query; without ``out_of_time`` (a failure's stop) the query is
    stopped as before. Stand-ins for the query and its writer (their JVM side is
    tests/integration/test_stream_path.py's)."""
    import threading
    from types import SimpleNamespace

    from pinlake.lakehouse import stream

    monkeypatch.setattr(stream, "STOP_GRACE_SECONDS", 0.2)
    stopped: list[str] = []
    query = SimpleNamespace(isActive=True, stop=lambda: stopped.append("query.stop"))
    writer = SimpleNamespace(stopping=threading.Event(), held=False, writing=True)
    hurried: list[str] = []
    stream._stop_gracefully({"pin": query}, {"pin": writer}, out_of_time=lambda: hurried.append(1))
    assert writer.stopping.is_set() and hurried == [1] and stopped == []
    stream._stop_gracefully({"pin": query}, {"pin": writer})
    assert stopped == ["query.stop"]
    writer.writing, writer.held = False, True  # a batch written and held: stopped at once
    stream._stop_gracefully({"pin": query}, {"pin": writer}, out_of_time=lambda: hurried.append(2))
    assert hurried == [1] and stopped == ["query.stop", "query.stop"]


def test_once_interrupted_every_py4j_record_is_dropped_and_others_kept():
    INTERRUPTED.set()
    assert not _quiet_interrupted_py4j(_record(PY4J_FILE, ConnectionError("JVM gone")))
    assert _quiet_interrupted_py4j(_record("/work/app/pinlake/land.py", None))


@pytest.mark.parametrize(("sigterm", "why"), [(False, "interrupted"), (True, "terminated")])
def test_ctrl_c_on_services_up_stops_what_it_started_and_nothing_else(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sigterm: bool,
    why: str,
) -> None:
    """A service that ran before ``services up`` runs on; one the call started is stopped. The
    line says what stopped the call: Ctrl-C, or SIGTERM (which the CLI turns into a
    KeyboardInterrupt after setting TERMINATED; a trial read "interrupted" for its SIGTERM)."""
    if sigterm:
        TERMINATED.set()
    settings = Settings(home=tmp_path / "home")
    run, log = settings.run_dir, settings.logs_dir / "sleep.log"
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    before = process.spawn(run, log, "mariadb", sleep)

    def start_all(_settings: Settings, *_request: object, **_options: object) -> None:
        process.spawn(run, log, "s3", sleep)
        raise KeyboardInterrupt  # Ctrl-C while the next service starts

    monkeypatch.setattr(manager, "start_all", start_all)
    try:
        with pytest.raises(KeyboardInterrupt):
            manager.services_up(settings)
        out = capsys.readouterr().out
        assert f"{why}: stopping what this call started (s3)" in out
        assert "stopped the S3 server" in out and "MariaDB" not in out
        assert process.read_pid(run, "s3") is None
        assert process.read_pid(run, "mariadb") == before
    finally:
        TERMINATED.clear()
        process.stop(run, "mariadb")
        process.stop(run, "s3")


def test_a_second_ctrl_c_during_the_clean_up_kills_what_is_left_instead_of_leaving_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-78: Ctrl-C during ``services up --kafka-brokers 3 --s3 --thrift --spark-cluster``,
    then again 1.5 s later, while its clean-up stopped the stream query gracefully: the
    clean-up ended there and left nine services running, ``services status`` all healthy. A
    Ctrl-C while services stop now kills what is left of them at once, then goes on."""
    import psutil

    settings = Settings(home=tmp_path / "home")
    run, log = settings.run_dir, settings.logs_dir / "sleep.log"
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    pids = {name: process.spawn(run, log, name, sleep) for name in ("stream", "api", "kafka", "s3")}

    def second_ctrl_c(_settings: Settings, *_args: object, **_kwargs: object) -> bool:
        raise KeyboardInterrupt  # during the stream query's graceful stop

    monkeypatch.setattr(manager.stream_process, "stop", second_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            manager.stop_all(settings, only={"stream", "api", "kafka", "s3"})
        out = capsys.readouterr().out
        assert "stopping at once: killing api, kafka, s3, stream" in out
        assert "killed api, kafka, s3, stream" in out
        assert manager.running_services(settings) == set()
        for name, pid in pids.items():
            gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
            assert gone, f"{name} (pid {pid}) runs on"
    finally:
        for name in pids:
            process.kill(run, name)


def test_a_ctrl_c_while_the_chains_stop_still_says_what_they_stopped_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second Ctrl-C came while the chains stopped at once: the S3 server and the API had
    stopped, Kafka had not. The kill line named only Kafka and no line said that the S3 server
    and the API were stopped (they were). Now each stop that ended before the Ctrl-C has its
    line, then the kill line names the rest."""
    settings = Settings(home=tmp_path / "home")
    run, log = settings.run_dir, settings.logs_dir / "sleep.log"
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    pids = {name: process.spawn(run, log, name, sleep) for name in ("api", "kafka", "s3")}
    release, s3_chain = threading.Event(), queue.SimpleQueue()
    s3_stop = manager.s3_server.stop

    def s3_stop_seen(*args: object, **kwargs: object) -> bool:
        s3_chain.put(threading.current_thread())
        return s3_stop(*args, **kwargs)

    def kafka_stop_interrupted(_settings: Settings, *_args: object, **_kwargs: object) -> bool:
        # the S3 server's chain ends first: its stop returned and its thread ended (the stop
        # pool is shut down, so a thread ends with its chain)
        s3_chain.get(timeout=30).join(timeout=30)
        # the second Ctrl-C, while Kafka stops: a real signal to the main thread, which wakes
        # it from its wait on the chains (_thread.interrupt_main only sets a flag, seen when
        # that wait ended: 30 s later, at release.wait's limit)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        release.wait(30)
        return False

    monkeypatch.setattr(manager.kafka_broker, "stop", kafka_stop_interrupted)
    monkeypatch.setattr(manager.s3_server, "stop", s3_stop_seen)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            manager.stop_all(settings, only={"api", "kafka", "s3"})
        out = capsys.readouterr().out
        assert "stopped the ingestion API" in out
        assert "stopped the S3 server" in out
        assert "stopping at once: killing kafka\n" in out
        assert out.index("stopped the S3 server") < out.index("stopping at once")
        assert manager.running_services(settings) == set()
    finally:
        signal.signal(signal.SIGINT, previous)
        release.set()
        for name in pids:
            process.kill(run, name)


@pytest.mark.parametrize("interrupted", ["config record", "pid file"])
def test_a_ctrl_c_before_the_pid_file_leaves_no_service_running_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupted: str
) -> None:
    """A Ctrl-C that comes after a service's process started and before its pid file was
    written: the process is killed before the interrupt goes on, since no ``services down`` or
    clean-up of ``services up`` could find it without its pid file."""
    import psutil

    run, log = tmp_path / "run", tmp_path / "logs" / "sleep.log"
    started: list[int] = []
    record = process.record_config

    def record_config(run_dir: Path, name: str, pid: int, config: dict) -> None:
        started.append(pid)
        if interrupted == "config record":
            raise KeyboardInterrupt
        record(run_dir, name, pid, config)
        monkeypatch.setattr(process, "pid_file", interrupting_pid_file)

    real_pid_file = process.pid_file

    def interrupting_pid_file(run_dir: Path, name: str) -> Path:
        monkeypatch.setattr(process, "pid_file", real_pid_file)
        raise KeyboardInterrupt

    monkeypatch.setattr(process, "record_config", record_config)
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(KeyboardInterrupt):
        process.spawn(run, log, "s3", sleep)
    assert len(started) == 1
    assert not psutil.pid_exists(started[0]) or (
        psutil.Process(started[0]).status() == psutil.STATUS_ZOMBIE
    ), "the started process runs on"
    assert process.read_pid(run, "s3") is None
    assert not process.config_file(run, "s3").exists()


def _fake_dbt(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in ``dbt`` executable that prints ``ready`` and, on SIGINT, takes 1.5 s to clean
    up (then writes its marker), logs a traceback as dbt does and exits 130: (executable,
    marker)."""
    import textwrap

    marker = tmp_path / "cleaned-up"
    child = tmp_path / "dbt"
    script = tmp_path / "dbt.py"
    # a shell wrapper, as pip's and uv's for an interpreter whose path holds a blank, which a
    # "#!" line cannot name (a clone in "my projects/": helper-58)
    child.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} "$@"\n'
    )
    script.write_text(
        textwrap.dedent(f"""\
            import pathlib, signal, sys, time
            def on_int(*_):
                time.sleep(1.5)
                pathlib.Path({str(marker)!r}).write_text("done")
                print("Traceback (most recent call last):", flush=True)  # dbt logs it here
                print("KeyboardInterrupt", file=sys.stderr, flush=True)
                sys.exit(130)
            signal.signal(signal.SIGINT, on_int)
            print("a warning before", file=sys.stderr, flush=True)
            print("ready", flush=True)
            time.sleep(60)
            """)
    )
    child.chmod(0o755)
    return child, marker


def test_ctrl_c_lets_a_dbt_child_end_on_its_own_first(tmp_path):
    """``pinlake dbt`` runs dbt in a child process of the same process group: a Ctrl-C reaches
    both. ``subprocess.run`` killed the child a quarter of a second later, in the middle of its
    cancelling (its queries, its Spark session); the child now ends on its own (here: a child
    that takes 1.5 s to clean up after SIGINT), then pinlake ends with exit 130, without the
    traceback dbt prints of its KeyboardInterrupt (about 40 lines)."""
    import os
    import signal
    import textwrap

    child, marker = _fake_dbt(tmp_path)
    script = textwrap.dedent(f"""\
        import sys
        from pinlake.config import Settings
        from pinlake.lakehouse import dbt
        dbt.dbt_executable = lambda: {str(child)!r}
        try:
            dbt._invoke(Settings(home={str(tmp_path / "home")!r}), ["build"], False)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        """)
    runner = foreground_job(script)
    assert runner.stdout.readline() == "ready\n"
    started = time.monotonic()
    os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
    assert runner.wait(timeout=30) == 130
    assert runner.stdout.read() == "interrupted\n"  # the child's traceback was not passed on
    assert marker.read_text() == "done"  # the child finished its clean-up
    assert time.monotonic() - started >= 1.4
    # its standard error reached ours until the Ctrl-C; dbt's traceback after it did not
    assert runner.stderr.read() == "a warning before\n"


def test_sigterm_stops_a_command_as_ctrl_c_does_and_tells_its_dbt_child(tmp_path):
    """SIGTERM to the ``pinlake`` process only (``kill``, ``timeout``): Python's default ended
    it at once, and ``timeout 60 pinlake demo`` left the services of its first step running.
    Now it stops as on Ctrl-C, with the same clean-up: here ``pinlake dbt build`` sends its dbt
    child SIGINT (which reached pinlake only), lets it clean up, and exits 143 with one line."""
    import signal
    import textwrap

    child, marker = _fake_dbt(tmp_path)
    script = textwrap.dedent(f"""\
        from pinlake import cli
        from pinlake.lakehouse import dbt
        dbt.dbt_executable = lambda: {str(child)!r}
        cli.main(["--home", {str(tmp_path / "home")!r}, "dbt", "build", "--select", "staging"])
        """)
    runner = foreground_job(script)
    assert runner.stdout.readline() == "ready\n"
    runner.send_signal(signal.SIGTERM)  # to pinlake only, not its group
    assert runner.wait(timeout=30) == 143
    assert marker.read_text() == "done"  # the child was told, and finished its clean-up
    assert runner.stderr.read().splitlines()[-1] == "error: terminated"


def test_another_exception_while_dbt_runs_tells_the_dbt_child_and_goes_on(tmp_path):
    """An exception a signal handler raises while the dbt child runs, as Airflow's task timeout
    and termination do (``AirflowTaskTimeout``), left the child running: a dbt run of the
    ``local`` target holds its Spark JVM and the home's embedded metastore, which the task's
    retry then could not open. The child is now told (SIGINT), ends on its own, and the
    exception goes on."""
    import textwrap

    child, marker = _fake_dbt(tmp_path)
    script = textwrap.dedent(f"""\
        import signal, sys
        from pinlake.config import Settings
        from pinlake.lakehouse import dbt
        def timed_out(*_):
            raise TimeoutError("the task timed out")
        signal.signal(signal.SIGUSR1, timed_out)
        dbt.dbt_executable = lambda: {str(child)!r}
        try:
            dbt._invoke(Settings(home={str(tmp_path / "home")!r}), ["build"], False)
        except TimeoutError as exc:
            print(exc, flush=True)
            sys.exit(1)
        """)
    runner = foreground_job(script)
    assert runner.stdout.readline() == "ready\n"
    runner.send_signal(signal.SIGUSR1)  # to the task's process only
    assert runner.wait(timeout=30) == 1
    assert runner.stdout.read() == "the task timed out\n"
    assert marker.read_text() == "done"  # the child was told, and finished its clean-up
    runner.stderr.close()


def test_sigterm_while_the_output_forwarders_start_still_tells_the_dbt_child(tmp_path):
    """A full run on a loaded machine: the SIGTERM came after dbt's first line had been passed
    on but before pinlake waited on the child (its second output thread not started yet), so
    pinlake ended with 143 and left dbt running, never told. Here each output thread's start
    is followed by a pause, which holds pinlake in that window when the signal comes."""
    import textwrap

    child, marker = _fake_dbt(tmp_path)
    script = textwrap.dedent(f"""\
        import threading, time
        from pinlake import cli
        from pinlake.lakehouse import dbt
        start = threading.Thread.start
        def slow_start(self):
            start(self)
            if self.name == "dbt-output":
                time.sleep(3)  # the window: a thread started, the child not waited on yet
        threading.Thread.start = slow_start
        dbt.dbt_executable = lambda: {str(child)!r}
        cli.main(["--home", {str(tmp_path / "home")!r}, "dbt", "build", "--select", "staging"])
        """)
    runner = foreground_job(script)
    assert runner.stdout.readline() == "ready\n"  # passed on by the first thread
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 143
    assert marker.read_text() == "done"  # the child was told, and finished its clean-up
    runner.stdout.close()
    runner.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_process_exits_does_not_change_how_its_command_ended(tmp_path, signum):
    """Ctrl-C twice on ``pinlake stream``, the second right after its summary (helper-53's
    trial): the signal came while Python finalized, after it had put its handlers back to the
    system's default, and the process died by SIGINT (exit -2, the shell's 130) with no line,
    after a summary that said it had stopped well. Here the signal is sent while the process
    finalizes (an object of ``__main__`` cleared then): the process ends with its command's own
    code (``services status`` on a home whose services are down: 3) and prints nothing more."""
    import textwrap

    script = textwrap.dedent(f"""\
        import os, sys

        class Late:  # cleared with __main__'s names, after Python put back its signal handlers
            def __del__(self, kill=os.kill, getpid=os.getpid):
                kill(getpid(), {int(signum)})

        late = Late()
        from pinlake.__main__ import run
        sys.argv = ["pinlake", "--home", {str(tmp_path)!r}, "services", "status"]
        run()
        """)
    from pinlake_testing import isolated_settings

    # the broker and the API on free ports: down whatever else runs on this machine's defaults
    env = isolated_settings(tmp_path).child_env()
    ended = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert ended.returncode == 3, ended.stderr
    assert "kafka" in ended.stdout
    assert "error:" not in ended.stderr


def test_main_restores_the_sigterm_handler_it_found(tmp_path, monkeypatch, capsys):
    import signal

    _land_raises(monkeypatch, KeyboardInterrupt(), interrupt=False)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit):
        main(["--home", str(tmp_path), "land"])
    assert signal.getsignal(signal.SIGTERM) is before


def _exit_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> int:
    """The exit code of ``pinlake ARGS`` in-process on a home under ``tmp_path``, with
    :data:`~pinlake.errors.TERMINATED` clear before and after (a SIGTERM outcome sets it)."""
    from pinlake_testing import cli_exit_code

    TERMINATED.clear()
    try:
        return cli_exit_code(monkeypatch, tmp_path / "home", *args)
    finally:
        TERMINATED.clear()


@pytest.mark.parametrize(
    ("once", "stopped_by", "code", "last_line"),
    [
        (True, "SIGINT", 130, "error: interrupted"),
        (True, "SIGTERM", 143, "error: terminated"),
        (False, "SIGINT", 0, None),  # a continuous sink's normal end, as the stream query's
        (False, "SIGTERM", 0, None),
        (True, None, 0, None),  # caught up
    ],
)
def test_a_sink_once_stopped_before_it_caught_up_ends_as_interrupted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    once: bool,
    stopped_by: str | None,
    code: int,
    last_line: str | None,
) -> None:
    """``sink --once`` cut short by Ctrl-C or SIGTERM printed ``✓ sink`` and exited 0 as if it
    had caught up (helper-47's trial): it now says it stopped before it caught up, after what it
    wrote, and ends as every command does; a continuous sink's graceful stop stays exit 0.
    (The run itself is the sink's, stood in for here; the signal handler's is
    tests/integration/test_ingestion_sink.py's.)"""
    from pinlake.bucket import sink

    done = sink.SinkResult(records=7, files=2, seconds=1.0, stopped_by=stopped_by)
    monkeypatch.setattr(sink.BucketSink, "run", lambda self: done)
    args = ["sink", "--once"] if once else ["sink"]
    assert _exit_code(monkeypatch, tmp_path, *args) == code
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    cut_short = "stopped before it caught up: sink: 7 records in 2 files"
    assert (cut_short in out) == (code != 0), out
    assert ("✓ sink: 7 records in 2 files" in out) == (code == 0), out
    lines = captured.err.strip().splitlines()
    assert (lines[-1] if lines else None) == last_line


def test_a_sink_that_could_not_write_a_buffer_on_stop_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A continuous sink whose stop-time flush failed printed ✓ and exited 0 (the failure was
    suppressed): it now ends with one error naming each partition not written, and exit 1.
    (The run is stood in for; the failing flush itself is
    tests/integration/test_ingestion_sink.py's.)"""
    from pinlake_testing import cli_exit_code

    from pinlake.bucket import sink

    failed = {"pinterest.pin[0]": "from offset 0: cannot write the topics bucket"}
    done = sink.SinkResult(records=7, files=2, seconds=1.0, stopped_by="SIGINT", unwritten=failed)
    monkeypatch.setattr(sink.BucketSink, "run", lambda self: done)
    assert cli_exit_code(monkeypatch, tmp_path / "home", "sink") == 1
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "✗ sink: 7 records in 2 files" in out and "✓" not in out, out
    error = " ".join(captured.err.split())
    assert error.startswith(
        "error: the sink stopped without writing what it had read of 1 partition"
    )
    assert "pinterest.pin[0]: from offset 0: cannot write the topics bucket" in error
    assert "uncommitted in Kafka" in error, error


#: :data:`pinlake.lakehouse.stream.STOPPED_WITHOUT_WAITING`, spelt out: the summary's words
WITHOUT_WAITING = (
    "stopped by a second signal without waiting for the running micro-batches (replayed on the "
    "next start)"
)
#: :data:`pinlake.lakehouse.stream.STOPPED_OUT_OF_TIME`, spelt out
OUT_OF_TIME = (
    "stopped by a signal; a micro-batch still writing after 30 s was cut short (replayed on the "
    "next start)"
)


@pytest.mark.parametrize(
    ("available_now", "stopped", "stopped_by", "code", "last_line"),
    [
        (True, "stopped by a signal before it caught up", "SIGINT", 130, "error: interrupted"),
        (True, "stopped by a signal before it caught up", "SIGTERM", 143, "error: terminated"),
        (True, "stopped by a signal during start-up", "SIGTERM", 143, "error: terminated"),
        (True, "caught up", None, 0, None),
        (False, "stopped by a signal", "SIGINT", 0, None),  # a continuous run's normal end
        (False, "stopped by a signal", "SIGTERM", 0, None),
        # Ctrl-C twice: the second one kills the driver JVM without waiting, in either mode
        (False, WITHOUT_WAITING, "SIGINT", 130, "error: interrupted"),
        (True, WITHOUT_WAITING, "SIGINT", 130, "error: interrupted"),
        # a graceful stop that found a micro-batch still writing after 30 s killed the JVM too
        (False, OUT_OF_TIME, "SIGINT", 130, "error: interrupted"),
        (True, OUT_OF_TIME, "SIGTERM", 143, "error: terminated"),
    ],
)
def test_a_stream_catch_up_stopped_before_it_caught_up_ends_as_interrupted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    available_now: bool,
    stopped: str,
    stopped_by: str | None,
    code: int,
    last_line: str | None,
) -> None:
    """``stream --available-now`` cut short by Ctrl-C or SIGTERM printed its summary and exited
    0 as if it had caught up (helper-48's trial), as ``sink --once`` did: it now ends as every
    command does; a continuous ``stream``'s graceful stop stays exit 0. (The run is stood in
    for; the signal's path through a real one is tests/integration/test_stream_path.py's.)"""
    from pinlake.lakehouse import stream

    done = stream.StreamResult(batches=3, stopped=stopped, stopped_by=stopped_by, seconds=2.0)
    monkeypatch.setattr(stream, "run_stream", lambda settings, options: done)
    args = ["stream", "--available-now"] if available_now else ["stream"]
    assert _exit_code(monkeypatch, tmp_path, *args) == code
    captured = capsys.readouterr()
    assert f"3 micro-batches, {stopped}; 2.0s" in " ".join(captured.out.split())
    lines = captured.err.strip().splitlines()
    assert (lines[-1] if lines else None) == last_line
