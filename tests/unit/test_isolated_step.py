"""A step run in its own process (pinlake.pipeline.isolated.run_isolated) fails as it would in
this one: its own error, message and exit code, raised here and printed by no one but the
caller. The child printed it too, so the demo showed a failed ``dbt build``'s error twice, the
second time as ``dbt build failed in its own process: …`` (helper-68)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pinlake_testing import foreground_job

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.lakehouse.land import LandOptions
from pinlake.pipeline.isolated import Stage, run_isolated
from pinlake.pipeline.steps import run_step


def test_a_failed_step_is_its_own_error_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")  # no topics bucket: land stops before Spark
    # the home its hints name (pinlake.console.PinlakeCommand), as the child has it
    monkeypatch.setenv("PINLAKE_HOME", str(settings.home))
    with pytest.raises(PinlakeError) as here:
        run_step(settings, LandOptions())
    capfd.readouterr()
    with pytest.raises(PinlakeError) as child:
        run_isolated(settings, [Stage("land", LandOptions())])
    assert (str(child.value), child.value.exit_code) == (str(here.value), here.value.exit_code)
    assert "does not exist" in str(child.value)
    assert str(child.value) not in capfd.readouterr().err  # the caller's to print


def _runner(
    tmp_path: Path, child: list[str] | None, options: str, raise_in_popen: bool = False
) -> subprocess.Popen:
    """A process that runs ``run_isolated`` on one stage of ``options`` (Python source) as the
    CLI would, SIGTERM turned into KeyboardInterrupt (``pinlake.cli._terminate``), exiting 130
    on KeyboardInterrupt; in its own process group, as a terminal's foreground job. SIGUSR1
    raises another exception, as Airflow's task timeout does (``TimeoutError``: exit 1).
    ``child``: the step child's command instead of pinlake's (its results file appended).
    ``raise_in_popen``: the step's ``Popen`` raises that exception once its child started, as
    when the signal comes while ``Popen`` has not returned yet."""
    script = textwrap.dedent(f"""\
        import signal, sys
        from pinlake import cli
        from pinlake.config import Settings
        from pinlake.pipeline import isolated
        from pinlake.pipeline.steps import SourceInit
        if {child!r} is not None:
            isolated.child_command = lambda out: [*{child!r}, str(out)]
        if {raise_in_popen!r}:
            import pathlib, subprocess, time
            class Started(subprocess.Popen):
                def __init__(self, *args, **kwargs):
                    super().__init__(*args, **kwargs)
                    ready = pathlib.Path({str(tmp_path / "ready")!r})
                    for _ in range(600):  # the child's start-up, its handler set
                        if ready.exists():
                            break
                        time.sleep(0.05)
                    raise TimeoutError("the task timed out")
            import types
            from pinlake import errors
            errors.subprocess = types.SimpleNamespace(**{{**vars(subprocess), "Popen": Started}})
        signal.signal(signal.SIGTERM, cli._terminate)
        def timed_out(*_):
            raise TimeoutError("the task timed out")
        signal.signal(signal.SIGUSR1, timed_out)
        try:
            isolated.run_isolated(
                Settings(home={str(tmp_path / "home")!r}), [isolated.Stage("step", {options})]
            )
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        except TimeoutError:
            print("timed out", flush=True)
            sys.exit(1)
        """)
    return foreground_job(script)


def _slow_to_end(tmp_path: Path, marker: Path, seconds: float, ready: str) -> Path:
    """A child script that, on SIGINT, takes ``seconds`` to clean up, writes ``marker`` and
    exits 130; ``ready`` (a statement) runs once its handler is set."""
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(f"""\
            import pathlib, signal, sys, time
            def on_int(*_):
                time.sleep({seconds})
                pathlib.Path({str(marker)!r}).write_text("done")
                sys.exit(130)
            signal.signal(signal.SIGINT, on_int)
            {ready}
            time.sleep(60)
            """)
    )
    return script


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 130, "interrupted"),
        (signal.SIGUSR1, 1, "timed out"),
    ],
    ids=["Ctrl-C", "SIGTERM", "another exception"],
)
def test_a_signal_lets_the_steps_child_end_on_its_own_first(
    tmp_path: Path, signum: signal.Signals, code: int, said: str
) -> None:
    """``subprocess.run`` killed the step's child a quarter of a second after a Ctrl-C, in the
    middle of its own interrupt handling (a Spark step's cancelled jobs), and never told it of
    a SIGTERM, which reached the parent only (``timeout 60 pinlake demo`` during ``land``). The
    child now gets SIGINT in each case, another exception's too (an Airflow task's timeout),
    and ends on its own (here: a child that takes 1.5 s to clean up after SIGINT, then writes
    its marker)."""
    marker = tmp_path / "cleaned-up"
    script = _slow_to_end(tmp_path, marker, 1.5, 'print("ready", flush=True)')
    runner = _runner(tmp_path, [sys.executable, str(script)], "SourceInit()")
    assert runner.stdout.readline() == "ready\n"
    started = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
    else:
        runner.send_signal(signum)  # the parent only
    assert runner.wait(timeout=30) == code
    assert runner.stdout.read() == f"{said}\n"
    assert marker.read_text() == "done"  # the child finished its clean-up
    assert time.monotonic() - started >= 1.4
    runner.stderr.close()


def test_an_exception_while_the_child_starts_lets_it_end_too(tmp_path: Path) -> None:
    """A full run's case of the test above (Airflow-like timeout, SIGUSR1) found the child's
    marker missing: the signal came while ``Popen`` had not returned, so the step's child ran
    on, never told. Here ``Popen`` raises once the child has started; the child gets SIGINT
    and ends on its own (``pinlake.errors.start_child``, which dbt's child starts with too)."""
    marker = tmp_path / "cleaned-up"
    ready = f"pathlib.Path({str(tmp_path / 'ready')!r}).write_text('')"
    script = _slow_to_end(tmp_path, marker, 0.5, ready)
    runner = _runner(tmp_path, [sys.executable, str(script)], "SourceInit()", raise_in_popen=True)
    assert runner.wait(timeout=30) == 1
    assert runner.stdout.read() == "timed out\n"
    assert marker.read_text() == "done"  # told, and ended on its own
    runner.stderr.close()


def test_ctrl_c_in_a_step_ends_its_child_without_a_traceback(tmp_path: Path) -> None:
    """The step's child printed Python's traceback of its KeyboardInterrupt (about 20 lines,
    ``source init`` here) under the CLI's one ``error: interrupted``; it now ends with exit
    code 130 and nothing on standard error, as the CLI does."""
    runner = _runner(tmp_path, None, "SourceInit(rows=3_000_000)")
    assert "1 step" in runner.stdout.readline()  # the stage's rule: the child runs it
    time.sleep(1.0)  # into the step's work
    os.killpg(runner.pid, signal.SIGINT)
    assert runner.wait(timeout=30) == 130
    assert runner.stdout.read() == "interrupted\n"
    assert runner.stderr.read() == ""
