"""The test suite's own clean-up when a CI job is cancelled: SIGTERM to pytest (a runner's cancel,
``timeout``) ended it at once, its xdist workers with it, and no session fixture's teardown ran,
so the brokers, APIs and servers the fixtures had started ran on (two of each after a
``timeout -s TERM 12 pytest -n 2`` of two Kafka modules). tests/conftest.py now ends the run as
Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_a_sigterm_to_pytest_runs_the_session_fixtures_teardown(tmp_path: Path) -> None:
    started, torn_down = tmp_path / "started", tmp_path / "torn-down"
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(f"""\
            import pathlib, time, pytest

            @pytest.fixture(scope="session")
            def service():
                yield  # a broker, an API, ... started here
                pathlib.Path({str(torn_down)!r}).write_text("stopped")

            def test_waits(service):
                pathlib.Path({str(started)!r}).write_text("yes")
                time.sleep(60)
            """)
    )
    run = subprocess.Popen(
        # the suite's conftest, one xdist worker: what `make test` runs, signalled as CI does
        [sys.executable, "-m", "pytest", "-p", "conftest", "-n", "1", "-q"]
        + ["-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path,
        env={  # not this worker's xdist variables: the inner run is a run of its own
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            "PYTHONPATH": str(TESTS),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert run.poll() is None and time.monotonic() < deadline, "the inner test never ran"
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)  # to pytest alone, as `timeout` and CI runners do
        run.wait(timeout=60)
        assert torn_down.read_text() == "stopped"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
