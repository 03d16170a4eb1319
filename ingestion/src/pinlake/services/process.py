"""Background processes with pid files under ``PINLAKE_HOME/run`` and logs under ``logs``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def read_pid(run_dir: Path, name: str) -> int | None:
    """The pid of a running service, or None (a stale pid file is removed)."""
    path = pid_file(run_dir, name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if not is_alive(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def spawn(
    run_dir: Path, log_path: Path, name: str, argv: list[str], env: dict[str, str] | None = None
) -> int:
    """Start ``argv`` detached (own session), stdout/stderr appended to ``log_path``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    pid_file(run_dir, name).write_text(f"{proc.pid}\n")
    return proc.pid


def stop(run_dir: Path, name: str, timeout: float = 30.0) -> bool:
    """SIGTERM the process group of a service, SIGKILL after ``timeout``; True if it was running."""
    pid = read_pid(run_dir, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_alive(pid):
        time.sleep(0.1)
    if is_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        end = time.monotonic() + 5
        while time.monotonic() < end and is_alive(pid):
            time.sleep(0.05)
    pid_file(run_dir, name).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # spawned with start_new_session: pgid == pid
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that are free right now (for tests and benchmarks that run
    their own broker and API next to anything already listening)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
