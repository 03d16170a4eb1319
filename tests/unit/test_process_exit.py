"""``process.wait_exited``, the wait of every service's stop: a process has exited once it is gone
or a zombie. The zombie of a service ``services up`` started (an orphan, init's to reap) used to be
waited for until init reaped it: 2 s per service in the sandbox this was measured in.

The processes are real (``python -c``); the zombie is the child of a parent that never reaps it,
as an orphan is until init comes round."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest
from pinlake_testing import command_lines

from pinlake.services import process

#: a parent that starts a child which exits at once, prints the child's pid and never reaps it
NEGLECTFUL_PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'pass'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture()
def parent() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", NEGLECTFUL_PARENT], stdout=subprocess.PIPE, text=True
    )
    yield proc
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait(timeout=30)


def test_a_zombie_that_its_parent_has_not_reaped_has_exited(parent) -> None:
    assert parent.stdout is not None
    zombie = psutil.Process(int(parent.stdout.readline()))
    assert process.wait_exited([zombie], timeout=30) == []
    assert zombie.status() == psutil.STATUS_ZOMBIE  # exited, not reaped: the parent's to reap
    # what stop() waited with before: an unreaped zombie is still "alive" to psutil
    _gone, alive = psutil.wait_procs([zombie], timeout=0.5)
    assert alive == [zombie]


def test_a_running_process_is_returned_and_one_that_exits_is_not(parent) -> None:
    running = psutil.Process(parent.pid)
    assert process.wait_exited([running], timeout=0.2) == [running]
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child:
        ended = psutil.Process(child.pid)
        assert process.wait_exited([ended], timeout=30) == []
        assert not psutil.pid_exists(child.pid)  # our own child's zombie: reaped on the way
    assert process.wait_exited([], timeout=0) == []


def test_command_lines_leave_out_a_zombie_child(parent) -> None:
    """A JVM that spark-submit's launcher script exec'd keeps the script's unreaped children:
    reading the Thrift server's command lines met one in CI (psutil.ZombieProcess)."""
    assert parent.stdout is not None
    zombie = psutil.Process(int(parent.stdout.readline()))
    assert process.wait_exited([zombie], timeout=30) == []
    assert zombie.status() == psutil.STATUS_ZOMBIE
    with pytest.raises(psutil.ZombieProcess):
        zombie.cmdline()  # what the test of the Thrift server's class-data archive called
    [line] = command_lines(parent.pid)
    assert line == " ".join([sys.executable, "-c", NEGLECTFUL_PARENT])  # the zombie left out
    assert command_lines(zombie.pid) == []
