"""Background processes with pid files under ``PINLAKE_HOME/run`` and logs under ``logs``.

Liveness, zombies and stopping a process tree go through psutil; the start-up wait of a
service (:func:`wait_healthy`) through tenacity.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import psutil
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from pinlake.errors import PinlakeError


def pid_file(run_dir: Path, name: str) -> Path:
    """``run_dir/<name>.pid``: the pid of service ``name``, one decimal line."""
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
    """True if ``pid`` runs; a zombie counts as dead (and is reaped if it is our child)."""
    if not psutil.pid_exists(pid):
        return False
    try:
        zombie = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # another user's process: it exists, and we cannot tell more
    if zombie:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # ours: reap it; another parent's: not ours to reap
    return not zombie


def spawn(
    run_dir: Path, log_path: Path, name: str, argv: list[str], env: dict[str, str] | None = None
) -> int:
    """Start ``argv`` detached (own session, so its pid is its process group), stdout/stderr
    appended to ``log_path``, and write its pid file; returns the pid."""
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


def stop(run_dir: Path, name: str, timeout: float = 30.0, root_first: bool = False) -> bool:
    """SIGTERM a service's process group and its descendants, SIGKILL those left after
    ``timeout`` seconds (0: at once) and wait up to 5 s more; True if it was running.

    ``root_first``: SIGTERM only the service's own process and let it stop its children (the
    stream query stops its Spark JVM after the running micro-batch); whatever is left after
    ``timeout`` is killed.
    """
    pid = read_pid(run_dir, name)
    if pid is None:
        return False
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    if root_first and procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            procs[0].send_signal(signal.SIGTERM)
    else:
        _signal(pid, procs, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=timeout)
    if alive:
        _signal(pid, alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    pid_file(run_dir, name).unlink(missing_ok=True)
    return True


def _signal(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    """Signal the process group (spawned with start_new_session: pgid == pid) and each of
    ``procs`` (a descendant may have left the group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)


def wait_healthy(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float,
    pid: int | None,
    exited: str,
    not_healthy: str,
) -> None:
    """Call ``check`` every ``interval`` seconds until it returns True.

    Raises :class:`PinlakeError` with ``exited`` as soon as process ``pid`` (if given) is no
    longer alive, or with ``not_healthy`` after ``timeout`` seconds.
    """

    def attempt() -> bool:
        if check():
            return True
        if pid is not None and not is_alive(pid):
            raise PinlakeError(exited)
        return False

    try:
        Retrying(
            retry=retry_if_result(lambda ok: not ok),
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            reraise=True,
        )(attempt)
    except RetryError:
        raise PinlakeError(not_healthy) from None


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
