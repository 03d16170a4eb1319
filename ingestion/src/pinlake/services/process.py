"""Background processes with pid files under ``PINLAKE_HOME/run`` and logs under ``logs``.

Beside each pid file, ``<name>.json`` records the configuration the service was started with
(ports, addresses, options: ``{"pid": 123, "config": {...}}``; the records are
:mod:`pinlake.run_folder`'s), so that ``services up`` can tell a service it may reuse from one
started with other settings (:func:`mismatch`). Liveness, zombies and stopping a process tree
go through psutil; the start-up wait of a service (:func:`wait_healthy`) and the wait for a
stopped one to exit (:func:`wait_exited`) through tenacity.

**No client connects to a port before something listens on it**
(:func:`pinlake.loopback.ports_listening`, a pure read of the kernel's table of listening sockets;
never a probe ``bind``, which would hold the port for an instant itself): not a service's start-up
wait (:func:`wait_healthy`'s ``ports``), not the check that a port is taken (:func:`port_answers`),
not a client of pinlake's own Kafka (:func:`pinlake.kafka.listening`). An outgoing connection to a
port that nothing listens on may be given that very port as its local one when the port lies in the
kernel's ephemeral range (:func:`ephemeral_port_range`): the SYN then meets itself (a TCP
self-connection, "simultaneous open"), the connection is established, and once closed it stays in
TIME-WAIT for a minute; meanwhile a service that binds the port fails with "Address already in use",
SO_REUSEADDR or not. A new user's ``services up`` with Kafka on 39092 failed so (``ss``: ``TIME-WAIT
127.0.0.1:39092 127.0.0.1:39092``): the start-up wait's admin client (librdkafka, reconnecting in
the background) had connected to 39092 before the broker bound it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from pinlake.errors import PinlakeError
from pinlake.loopback import ports_listening, self_connected

# the run folder's records (pinlake.run_folder): re-exported, the supervisors name them from here
from pinlake.run_folder import (  # noqa: F401
    FINGERPRINT,
    Running,
    config_file,
    ended,
    fingerprint,
    forget_ended,
    is_alive,
    pid_file,
    read_config,
    read_pid,
    record_config,
    running,
    running_all,
)
from pinlake.services.jvm import refused_option


def mismatch(run_dir: Path, name: str, wanted: dict[str, Any]) -> Running | None:
    """The running service ``name`` if its recorded configuration differs from ``wanted`` (or is
    unknown); None if it does not run or runs with exactly ``wanted``."""
    service = running(run_dir, name)
    if service is None:
        return None
    if service.config == json.loads(json.dumps(wanted)):  # compared as recorded (JSON)
        return None
    return service


def describe_difference(service: Running, wanted: dict[str, Any]) -> str:
    """``"kafka (pid 12) runs with bootstrap_servers=127.0.0.1:9092 controller_port=9093, not
    bootstrap_servers=127.0.0.1:19092 controller_port=19093"``: the keys that differ. A secret's
    fingerprint (a key ending :data:`FINGERPRINT`) is never shown: ``"mariadb (pid 12) runs with
    another password than the one set now"``."""
    if service.config is None:
        return f"{service.name} (pid {service.pid}) runs with an unknown configuration"
    keys = [k for k in wanted if service.config.get(k) != wanted[k]]
    keys += [k for k in service.config if k not in wanted]
    # ``*_sha256``: a secret's digest in the records of pinlake before the fingerprints
    plain = [k for k in keys if not k.endswith((FINGERPRINT, "_sha256"))]
    secrets = sorted(
        {
            re.sub(f"({FINGERPRINT}|_sha256)$", "", k).replace("_", " ")
            for k in keys
            if k not in plain
        }
    )
    parts = []
    if plain:
        have = " ".join(f"{k}={service.config.get(k)}" for k in plain)
        want = " ".join(f"{k}={wanted.get(k)}" for k in plain)
        parts.append(f"{have}, not {want}")
    if secrets:
        parts.append(f"another {' and '.join(secrets)} than the one set now")
    return f"{service.name} (pid {service.pid}) runs with " + "; and with ".join(parts)


#: How every line :func:`mark_start` writes begins: a service's logs are appended to by each of
#: its starts, and what went wrong is read after the last such line (:func:`log_excerpt`).
START_MARK = "=== pinlake: "


def mark_start(logs: Iterable[Path], name: str) -> None:
    """Append ``=== pinlake: <name> starts at <UTC time, seconds> ===`` to each of ``logs``
    (creating them and their folders): where one start of a service begins in logs that every
    start appends to, for a reader and for :func:`log_excerpt`, which quotes nothing before it
    (a failed start quoted an earlier start's errors first). Raises OSError."""
    when = datetime.now(UTC).isoformat(timespec="seconds")
    for log in logs:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"{START_MARK}{name} starts at {when} ===\n")


def spawn(
    run_dir: Path,
    log_path: Path,
    name: str,
    argv: list[str],
    env: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
    own_logs: Iterable[Path] = (),
) -> int:
    """Start ``argv`` detached (own session, so its pid is its process group), stdout/stderr
    appended to ``log_path``, and write its pid file and its configuration record (``config``,
    see :func:`record_config`; ``{}`` when None); returns the pid. ``log_path`` and
    ``own_logs`` (the logs the service appends to itself, e.g. a JVM's log4j file) get the
    start's line first (:func:`mark_start`).

    Whatever interrupts the start after the process exists and before its pid file does (a
    Ctrl-C, a SIGTERM turned into KeyboardInterrupt, a full disk) kills the new process group
    before it is raised: a service without a pid file is one that no ``services down`` and no
    clean-up of ``services up`` can see, and it would hold its ports until found by hand."""
    run_dir.mkdir(parents=True, exist_ok=True)
    mark_start([log_path, *own_logs], name)
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
    try:
        record_config(run_dir, name, proc.pid, config or {})
        pid_file(run_dir, name).write_text(f"{proc.pid}\n")
    except BaseException:
        _signal(proc.pid, _tree(proc.pid), signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)
        pid_file(run_dir, name).unlink(missing_ok=True)
        config_file(run_dir, name).unlink(missing_ok=True)
        raise
    forget_ended(run_dir, name)  # started again
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
        forget_ended(run_dir, name)  # one that had ended: stopped now
        return False
    procs = _tree(pid)
    if root_first and procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            procs[0].send_signal(signal.SIGTERM)
    else:
        _signal(pid, procs, signal.SIGTERM)
    alive = wait_exited(procs, timeout)
    if alive:
        _signal(pid, alive, signal.SIGKILL)
        wait_exited(alive, 5.0)
    pid_file(run_dir, name).unlink(missing_ok=True)
    config_file(run_dir, name).unlink(missing_ok=True)
    forget_ended(run_dir, name)  # if a reader saw it exit meanwhile
    return True


#: ``services status``'s state of a service whose process ended without being stopped (killed,
#: crashed) since it was started (:func:`pinlake.run_folder.ended`), until it is started or
#: stopped again.
ENDED = "down (ended without services down)"


def down_state(run_dir: Path, name: str) -> str:
    """``services status``'s state of service ``name`` whose process does not run:
    :data:`ENDED` when it ended without being stopped (README "services status"), else
    ``down``. Every row of a service pinlake starts says it the same way (helper-80: a killed
    Kafka and API read plain ``down``, as a killed Spark worker did)."""
    return ENDED if ended(run_dir, name) is not None else "down"


#: How often :func:`wait_exited` looks (seconds).
EXIT_POLL_SECONDS = 0.05


def wait_exited(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` seconds for ``procs`` to exit; returns those still running.

    A process has exited once it is gone or a zombie (:func:`~pinlake.run_folder.is_alive`,
    which reaps our own children). ``psutil.wait_procs`` waits for the zombie of an orphan to be
    reaped, which is up to init: a service started by another ``pinlake`` process (``services
    up``) is one, and some inits reap only every few seconds (2 s in the sandbox this was
    measured in, for each service ``services down`` stopped).
    """
    return Retrying(
        retry=retry_if_result(bool),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(EXIT_POLL_SECONDS),
        retry_error_callback=lambda state: state.outcome.result(),
    )(lambda: [p for p in procs if p.is_running() and is_alive(p.pid)])


def kill(run_dir: Path, name: str) -> bool:
    """SIGKILL a service's process group and its descendants at once, leaving its pid and
    configuration files to whoever stops it (:func:`stop`); True if it was running."""
    pid = read_pid(run_dir, name)
    if pid is None:
        return False
    _signal(pid, _tree(pid), signal.SIGKILL)
    return True


def _tree(pid: int) -> list[psutil.Process]:
    """Process ``pid`` and its descendants (``[]`` once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal(pgid: int, procs: list[psutil.Process], sig: signal.Signals) -> None:
    """Signal the process group (spawned with start_new_session: pgid == pid) and each of
    ``procs`` (a descendant may have left the group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)


#: Lines of a log that say why a service failed: a Java exception or its cause, a Python
#: traceback's last line, a log4j/logging ERROR or FATAL record, and the Java launcher's own
#: refusals of an option, which come before its "Error: Could not create the Java Virtual
#: Machine." ("Unrecognized VM option 'X'", "Improperly specified VM option 'X'", "Invalid
#: maximum heap size: -Xmx…", "Unrecognized option: --x"; a trial's excerpt had only the
#: "Error:" lines, not the option they were about).
_ERROR_LINE = re.compile(
    r"(Exception|Error\b|\bERROR\b|\bFATAL\b|^Caused by|Traceback"
    r"|^Unrecognized (VM )?option\b|^Improperly specified VM option\b|^Invalid \w)"
)


def log_excerpt(
    log: Path, lines: int = 12, tail_bytes: int = 256 * 1024, named: bool = False
) -> str:
    """What the end of ``log`` says went wrong, for an error message: its last ``lines`` lines
    that name an error (exceptions, ``Caused by``, ERROR/FATAL records), else its last 5
    non-empty lines; each cut to 300 characters and indented under a heading (``the last
    errors in <log>:``, ``the end of <log>:``; after text that names the log already,
    ``named``: ``, whose last errors are:``, ``, which ends:``). Only what the last start
    wrote: nothing before the log's last :data:`START_MARK` line. Reads at most the last
    ``tail_bytes`` bytes; "" when the log is missing, unreadable or empty since that start."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - tail_bytes))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    rows = [row.rstrip() for row in text.splitlines() if row.strip()]
    starts = [n for n, row in enumerate(rows) if row.startswith(START_MARK)]
    rows = rows[starts[-1] + 1 :] if starts else rows
    errors = [row for row in rows if _ERROR_LINE.search(row) and not row.lstrip().startswith("at ")]
    chosen = errors[-lines:] if errors else rows[-5:]
    if not chosen:
        return ""
    if named:
        heading = ", whose last errors are:" if errors else ", which ends:"
    else:
        heading = f"\n{'the last errors in' if errors else 'the end of'} {log}:"
    return f"{heading}\n" + "\n".join(f"  | {row[:300]}" for row in chosen)


def with_logs(message: str, logs: Sequence[Path]) -> str:
    """``message`` and ``see <log>`` for each of ``logs`` that exists, each followed by what its
    end says (:func:`log_excerpt` with ``named``): ``message; see /h/logs/api.log, whose last
    errors are: | …``, two logs joined by ``; and``; ``message`` alone when none exists. The one
    way a service's error names its logs: made one line (the CLI's errors are), ``see X`` and
    the excerpt's heading named the log twice ("see X the end of X:", helper-111). A log that
    shows a JVM refused an option adds the variable that gives it
    (:func:`pinlake.services.jvm.refused_option`) to ``message``."""
    found = [log for log in logs if log.exists()]
    if not found:
        return message
    excerpts = [log_excerpt(log, named=True) for log in found]
    seen = "; and ".join(f"{log}{excerpt}" for log, excerpt in zip(found, excerpts, strict=True))
    return f"{message}{refused_option(' '.join(excerpts))}; see {seen}"


def wait_healthy(
    check: Callable[[], bool],
    *,
    timeout: float,
    interval: float,
    pid: int | None,
    exited: str,
    not_healthy: str,
    log: Path | list[Path] | None = None,
    ports: Collection[int] = (),
    watch: Callable[[], object] | None = None,
) -> None:
    """Call ``check`` every ``interval`` seconds until it returns True.

    ``ports``: the local TCP ports ``check`` connects to (or makes a client that dials them):
    ``check`` is not called at all until something listens on every one of them
    (:func:`ports_listening`), so that no connection of the wait can take a port before its
    service binds it (this module's docstring). ``watch``: called first on every attempt,
    whatever the ports; it raises when another process the wait depends on has exited (a Kafka
    node other than ``pid``).

    Raises :class:`PinlakeError` with ``exited`` as soon as process ``pid`` (if given) is no
    longer alive, or with ``not_healthy`` after ``timeout`` seconds; either message is followed
    by :func:`with_logs` of the service's ``log`` (or of its logs) when one is
    given: where to look, and what the end of each says went wrong, so that the reason is in
    the error itself (a CI log shows it; the service's home may be gone by then).
    """
    logs = [] if log is None else log if isinstance(log, list) else [log]

    def attempt() -> bool:
        if watch is not None:
            watch()
        if ports_listening(ports) and check():
            return True
        if pid is not None and not is_alive(pid):
            raise PinlakeError(with_logs(exited, logs))
        return False

    try:
        Retrying(
            retry=retry_if_result(lambda ok: not ok),
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            reraise=True,
        )(attempt)
    except RetryError:
        raise PinlakeError(with_logs(not_healthy, logs)) from None


#: Where :func:`free_ports` looks: above the well-known defaults of the services pinlake runs
#: (Kafka 9092, HiveServer2 10000, the metastore 9083, Spark 7077/8080/4040…) and below the
#: kernel's ephemeral range.
FREE_PORT_FLOOR = 15_000


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's ephemeral (client-side) port range, ``(low, high)`` inclusive: Linux's
    ``/proc/sys/net/ipv4/ip_local_port_range``, else IANA's 49152–65535 (RFC 6335, §6)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49_152, 65_535


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port`` (``host``: an address of this
    machine): False at once when nothing listens on ``port`` (:func:`ports_listening`, a pure
    read), else whether a connect succeeds within ``timeout`` seconds.

    It never connects to a port nothing listens on: such a connect may be given ``port`` itself
    as its local port (this module's docstring), and then "answers" (a self-connection: a free
    port called taken) and leaves the port in TIME-WAIT for a minute, which no server binds."""
    if not ports_listening([port]):
        return False
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host.strip("[]"), port)) == 0


def port_owner(port: int) -> str | None:
    """``pid <n> (<command>)`` of the process that listens on TCP ``port`` of this machine, the
    command shortened to its program and last two arguments (a JVM's class path is kilobytes;
    a Kafka node's last ones are its main class and properties file, which name its home);
    None when no process of those this user may see listens there."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                argv = psutil.Process(conn.pid).cmdline()
                if len(argv) > 3:
                    argv = [os.path.basename(argv[0]), "…", *argv[-2:]]
                return f"pid {conn.pid} ({' '.join(argv)[:200]})"
    except (psutil.Error, OSError):
        return None
    return None


def refuse_busy_port(port: int, chooser: str, host: str = "127.0.0.1") -> None:
    """Raise :class:`PinlakeError` when ``host:port`` already answers (:func:`port_answers`),
    before a service is started on it: ``port 127.0.0.1:9092 is already in use by pid 4242
    (java … kafka.Kafka /home/u/a/kafka/server.properties) (choose another with
    PINLAKE_KAFKA__BOOTSTRAP_SERVERS)``, the listener named by :func:`port_owner` when it can
    be (helper-80: another home's Kafka read as an unknown program); or when a connection from
    the port to itself holds it (:func:`self_connected`: left by a client that connected to the
    port while nothing listened, the service would fail to bind it for up to a minute).
    ``chooser`` names the setting that moves it (and how, when the port is derived from it)."""
    if port_answers(port, host):
        owner = port_owner(port)
        by = f" by {owner}" if owner else ""
        raise PinlakeError(
            f"port {host}:{port} is already in use{by} (choose another with {chooser})"
        )
    if self_connected(port):
        raise PinlakeError(
            f"port {host}:{port} is held by a connection from that port to itself (a TCP "
            "self-connection, or its TIME-WAIT, which ends within a minute): wait, or choose "
            f"another with {chooser}"
        )


def ephemeral_warning(ports: Iterable[tuple[int, str]]) -> str | None:
    """A warning naming those of ``ports`` (``(port, the setting that moves it)``, of services
    about to start) that lie in the kernel's ephemeral range (:func:`ephemeral_port_range`);
    None when none does. One line: ``ports 39092 (PINLAKE_KAFKA__BOOTSTRAP_SERVERS), 39093
    (PINLAKE_KAFKA__CONTROLLER_PORT) are in the kernel's ephemeral port range 32768-60999 …``.

    A warning, not a refusal: pinlake's own clients never connect to a port before it listens
    (this module's docstring), and such ports work. What is left is any other outgoing
    connection, which the kernel may give that port as its local one while the service starts:
    another program's, a Kafka node's to its peers, a running API's producer reconnecting to a
    broker that is started again. That is rare (one port among the range's, for each
    connection made meanwhile), refusing would stop homes that work, and on a host whose range
    starts low (some set 1024) no port would be left. Ports reserved with
    ``net.ipv4.ip_local_reserved_ports`` are never given to a connection (the kernel's
    ip-sysctl documentation); the warning names that way out too."""
    low, high = ephemeral_port_range()
    inside = [(port, chooser) for port, chooser in ports if low <= port <= high]
    if not inside:
        return None
    names = ", ".join(f"{port} ({chooser})" for port, chooser in inside)
    several = len(inside) > 1
    return (
        f"port{'s' if several else ''} {names} {'are' if several else 'is'} in the kernel's "
        f"ephemeral port range {low}-{high} (/proc/sys/net/ipv4/ip_local_port_range), from which "
        "any outgoing connection on this machine may take its local port: one that holds it "
        'when the service starts makes the start fail with "Address already in use"; ports '
        f"below {low}, or reserved (sysctl net.ipv4.ip_local_reserved_ports), are safe from that"
    )


def _bindable(port: int) -> bool:
    """Whether loopback ``port`` can be bound right now (it is bound once and released)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that are free right now (for tests and benchmarks that run
    their own broker and API next to anything already listening).

    They are drawn at random between :data:`FREE_PORT_FLOOR` and the start of the kernel's
    ephemeral range (:func:`ephemeral_port_range`) and each is bound once to check it: a port
    the kernel hands out (``bind(0)``) is an ephemeral one, which any outgoing connection may
    take as its local port before the service binds it (EADDRINUSE at start-up, seen with the
    Spark Thrift server while three Kafka brokers and Spark were busy; pinlake's own start-up
    waits no longer connect before a port listens, :func:`ports_listening`, but any other
    connection still may). Raises :class:`PinlakeError` when ``n`` such ports are not found in
    50·n tries.
    """
    low, _high = ephemeral_port_range()
    if low - FREE_PORT_FLOOR < 10 * n:
        raise PinlakeError(f"no room for {n} ports below the ephemeral range (starts at {low})")
    rng = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(50 * n):
        port = rng.randrange(FREE_PORT_FLOOR, low)
        if port in chosen or not _bindable(port):
            continue
        chosen.append(port)
        if len(chosen) == n:
            return chosen
    raise PinlakeError(f"found only {len(chosen)} of {n} free ports in {FREE_PORT_FLOOR}-{low - 1}")


def free_port_block(n: int, attempts: int = 200) -> int:
    """The first of ``n`` consecutive loopback ports that are free right now, all below the
    ephemeral range (:func:`free_ports`): for a stack whose services derive their ports from one
    base (Kafka node k on base + 2(k-1), worker k's web UI on base + k - 1…). Raises
    :class:`PinlakeError` after ``attempts`` tries."""
    low, _high = ephemeral_port_range()
    for _ in range(attempts):
        (base,) = free_ports(1)
        if base + n <= low and all(_bindable(port) for port in range(base, base + n)):
            return base
    raise PinlakeError(f"no {n} consecutive free loopback ports in {attempts} tries")
