"""scripts/supervise_group.sh, which `make airflow` runs `airflow standalone` through: a stop
reaches the command's whole process group, escalates with one line per step, leaves no process
behind, and ends the script by the signal that asked for it (make then says "Interrupt", not
"Error 143": helper-74's `make airflow` trial, where the escalation was silent).

The command here is a small bash program in the roles Airflow's processes play: one that ends
on SIGINT, one that ignores it (its scheduler after a Ctrl-C), one that ignores SIGTERM too, and
a child of each that must not outlive the group (LocalExecutor's workers). Each writes the pids
of its group to a file, so that the test can check that none is left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "supervise_group.sh"

#: the command's program: the traps it is given, a child (``sleep``) in the background, both
#: pids in ``pids``, then "ready" in ``ready``
PROGRAM = """
{traps}
sleep 300 &
echo "$$ $!" > "$1.tmp" && mv "$1.tmp" "$1"
while :; do sleep 0.2; done
"""


def _start(tmp_path: Path, traps: str = "", grace: int = 1) -> tuple[subprocess.Popen, list[int]]:
    """The script running the program with ``traps``; returns it and the program's two pids."""
    pids = tmp_path / "pids"
    script = subprocess.Popen(
        [
            "bash",
            str(SCRIPT),
            "--grace",
            str(grace),
            "bash",
            "-c",
            PROGRAM.format(traps=traps),
            "program",
            str(pids),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not pids.is_file():
        assert script.poll() is None, script.communicate()
        assert time.monotonic() < deadline, "the program did not start"
        time.sleep(0.05)
    return script, [int(p) for p in pids.read_text().split()]


def _alive(pids: list[int], wait: float = 5.0) -> list[int]:
    """The pids of ``pids`` that still run ``wait`` seconds from now, or that stop running
    before then (a zombie has ended; a SIGKILL takes effect a moment after it is sent)."""

    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + wait
    while (alive := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _stop(script: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[int, list[str]]:
    """Send ``sig`` to the script alone (as the terminal's Ctrl-C reaches it and make, not the
    command's own group); its exit code and stderr lines."""
    script.send_signal(sig)
    _out, err = script.communicate(timeout=60)
    return script.returncode, err.splitlines()


def test_a_command_that_ends_on_ctrl_c_ends_with_its_child_and_the_script_as_interrupted(
    tmp_path: Path,
) -> None:
    script, pids = _start(tmp_path, grace=5)
    code, lines = _stop(script)
    assert code == -signal.SIGINT  # ended by SIGINT: make says "Interrupt"
    assert lines == [
        "stopping `bash -c` (SIGINT to its processes); SIGTERM in 5 s and SIGKILL in 10 s if it "
        "has not ended"
    ]
    assert _alive(pids) == []


def test_a_command_that_ignores_ctrl_c_gets_sigterm_after_the_grace_and_says_so(
    tmp_path: Path,
) -> None:
    script, pids = _start(tmp_path, traps="trap '' INT")
    code, lines = _stop(script)
    assert code == -signal.SIGINT
    assert len(lines) == 2, lines
    assert lines[1].startswith("`bash -c` still running ")
    assert lines[1].endswith(" s after SIGINT: SIGTERM to its processes")
    assert _alive(pids) == []


def test_a_command_that_ignores_sigterm_too_is_killed_and_the_script_ends_as_terminated(
    tmp_path: Path,
) -> None:
    script, pids = _start(tmp_path, traps="trap '' INT TERM")
    code, lines = _stop(script, signal.SIGTERM)
    assert code == -signal.SIGTERM  # make says "Terminated"
    # SIGTERM was the stop itself: SIGKILL comes next, not a second SIGTERM (helper-76: the
    # line named SIGTERM twice)
    assert lines[0] == (
        "stopping `bash -c` (SIGTERM to its processes); SIGKILL in 1 s if it has not ended"
    )
    assert [line.rsplit(":", 1)[1] for line in lines[1:]] == [" SIGKILL to its processes"]
    assert lines[1].endswith(" s after SIGTERM: SIGKILL to its processes")
    assert _alive(pids) == []


def test_a_command_that_ignores_both_after_ctrl_c_gets_sigterm_then_sigkill(
    tmp_path: Path,
) -> None:
    script, pids = _start(tmp_path, traps="trap '' INT TERM")
    code, lines = _stop(script)
    assert code == -signal.SIGINT
    assert [line.rsplit(":", 1)[1] for line in lines[1:]] == [
        " SIGTERM to its processes",
        " SIGKILL to its processes",
    ]
    assert _alive(pids) == []


def test_a_command_that_ends_by_itself_gives_its_status_and_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    orphan = tmp_path / "orphan"
    done = subprocess.run(
        ["bash", str(SCRIPT), "bash", "-c", f'sleep 300 & echo $! > "{orphan}"; exit 3'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (3, "")
    assert _alive([int(orphan.read_text())]) == []


@pytest.mark.parametrize("args", [[], ["--grace"], ["--grace", "soon", "true"], ["--grace", "1"]])
def test_a_call_without_a_command_or_with_a_grace_that_is_no_number_is_its_usage(
    args: list[str],
) -> None:
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: ") and done.stderr.count("\n") == 1, done.stderr


def test_make_airflow_runs_standalone_through_it() -> None:
    text = (SCRIPT.parent / "airflow_standalone.sh").read_text()
    assert 'exec "$REPO/scripts/supervise_group.sh" "$BIN/airflow" standalone\n' in text
    assert os.access(SCRIPT, os.X_OK)
