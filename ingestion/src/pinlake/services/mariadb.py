"""Supervision of a local MariaDB server, the MySQL-compatible source database (the stand-in for
the original AiCore RDS MySQL instance), started by ``pinlake services up`` when
``PINLAKE_SOURCE_DB=mariadb`` (or ``services up --source-db mariadb``).

The server is the OS package's ``mariadbd`` (``apt-get install -y mariadb-server``; ``make
setup`` installs it as root), run as a child process of this home, never the system service:

* datadir ``<home>/mariadb/data`` (created by ``mariadb-install-db`` on first start), its own
  pid file ``<home>/mariadb/mariadbd.pid``, socket ``<home>/run/mariadb.sock``, error log
  ``<home>/logs/mariadb.err``; pinlake's own pid file is ``<home>/run/mariadb.pid``;
* listening on ``127.0.0.1:<PINLAKE_MARIADB__PORT>`` only (default 3307);
* ``<home>/mariadb/init.sql`` (mode 0600, run at every start) creates the database
  (``pinterest_data``) and its user (``pinlake``, password ``PINLAKE_MARIADB__PASSWORD``);
* as root it runs with ``--user=root`` (mariadbd refuses root otherwise).

Clients connect with :attr:`pinlake.config.MariadbSettings.url`
(``mysql+pymysql://pinlake:…@127.0.0.1:3307/pinterest_data?charset=utf8mb4``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pinlake import run_folder
from pinlake.blank_free import blank_free_path
from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.loopback import ports_listening
from pinlake.services import process

NAME = run_folder.MARIADB
#: The one command that installs the server (Debian/Ubuntu package).
INSTALL_COMMAND = "apt-get install -y mariadb-server"

_SERVER_NAMES = ("mariadbd", "mysqld")
_INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/bin", "/usr/local/bin")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,64}")
#: A unix socket path longer than this does not fit ``sockaddr_un`` (108 bytes on Linux).
_MAX_SOCKET_PATH = 100
#: Small InnoDB files: a source of a few hundred thousand rows needs no more (24 MB datadir).
_INNODB = (
    "--innodb-log-file-size=8M",
    "--innodb-buffer-pool-size=64M",
    "--innodb-data-file-path=ibdata1:10M:autoextend",
)


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for folder in _SBIN:
            path = Path(folder) / name
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


def install_hint() -> str:
    """The one command that installs the server here (``sudo`` unless running as root)."""
    return INSTALL_COMMAND if os.geteuid() == 0 else f"sudo {INSTALL_COMMAND}"


def binaries() -> tuple[str, str]:
    """``(server, install_db)``: the paths of ``mariadbd`` (or ``mysqld``) and
    ``mariadb-install-db`` (or ``mysql_install_db``), looked up on PATH and in the sbin folders.

    Raises :class:`PinlakeError` naming the install command when either is missing.
    """
    server, install_db = _find(_SERVER_NAMES), _find(_INSTALL_DB_NAMES)
    missing = [
        names[0]
        for names, found in ((_SERVER_NAMES, server), (_INSTALL_DB_NAMES, install_db))
        if found is None
    ]
    if server is None or install_db is None:
        raise PinlakeError(
            f"the MariaDB server is not installed (no {', '.join(missing)}): "
            f"run `{install_hint()}` (or `make setup` as root)"
        )
    return server, install_db


def mariadb_dir(settings: Settings) -> Path:
    """``<home>/mariadb``: the datadir, the server's own pid file and ``init.sql``."""
    return settings.home / "mariadb"


def data_dir(settings: Settings) -> Path:
    """``<home>/mariadb/data``: the server's datadir."""
    return mariadb_dir(settings) / "data"


def socket_path(settings: Settings) -> Path:
    """``<home>/run/mariadb.sock``, or a file in the temporary folder named after the home when
    that path is too long for a unix socket."""
    path = settings.run_dir / "mariadb.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"pinlake-mariadb-{digest}.sock"


def config(settings: Settings) -> dict[str, object]:
    """What a running server is tied to (recorded beside its pid file, compared by ``services
    up``): its port, database, user and password (its fingerprint, never the password:
    :func:`pinlake.run_folder.fingerprint`)."""
    password = settings.mariadb.password.get_secret_value()
    return {
        "port": settings.mariadb.port,
        "database": settings.mariadb.database,
        "user": settings.mariadb.user,
        "password" + process.FINGERPRINT: process.fingerprint(settings.run_dir, password),
    }


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def init_sql(settings: Settings) -> str:
    """The statements the server runs at every start: the database (utf8mb4) and its user with
    every privilege on it. Raises :class:`PinlakeError` for a database or user name that is not
    1-64 letters, digits or ``_``."""
    m = settings.mariadb
    for what, name in (("database", m.database), ("user", m.user)):
        if not _IDENTIFIER.fullmatch(name):
            raise PinlakeError(
                f"PINLAKE_MARIADB__{what.upper()}={name!r}: use 1-64 letters, digits or _"
            )
    user = f"{_sql_string(m.user)}@'%'"
    password = _sql_string(m.password.get_secret_value())
    return (
        f"CREATE DATABASE IF NOT EXISTS `{m.database}` CHARACTER SET utf8mb4;\n"
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {password};\n"
        f"ALTER USER {user} IDENTIFIED BY {password};\n"
        f"GRANT ALL PRIVILEGES ON `{m.database}`.* TO {user};\n"
    )


def _as_root() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []


def prepare(settings: Settings) -> tuple[str, Path]:
    """Write ``init.sql`` and create the datadir on first start (``mariadb-install-db``);
    returns ``(server binary, init.sql path)``. Raises :class:`PinlakeError` when the server is
    not installed or the datadir cannot be created (with the tail of the tool's output)."""
    server, install_db = binaries()
    mdir = mariadb_dir(settings)
    mdir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    init = mdir / "init.sql"
    text = init_sql(settings)
    fd = os.open(init, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    data = data_dir(settings)
    if not (data / "mysql").is_dir():
        # the tool runs `chown $user $dir` unquoted: a home in "my projects/" failed with
        # "chown: cannot access '…/my'" (helper-68); a link without blanks leads to the folder
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        argv = [
            install_db,
            "--no-defaults",
            f"--datadir={blank_free_path(str(data))}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *_as_root(),
            *_INNODB,
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired as exc:
            raise PinlakeError(f"creating the MariaDB datadir {data} timed out") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            shutil.rmtree(data, ignore_errors=True)
            raise PinlakeError(f"creating the MariaDB datadir {data} failed: " + " | ".join(tail))
    return server, init


def start(settings: Settings) -> int:
    """Start the server in the background (no-op if already running); returns its pid. Raises
    :class:`PinlakeError` when it is not installed or its datadir cannot be created."""
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    server, init = prepare(settings)
    sock = socket_path(settings)
    sock.unlink(missing_ok=True)
    argv = [
        server,
        "--no-defaults",
        f"--datadir={data_dir(settings)}",
        f"--socket={sock}",
        f"--pid-file={mariadb_dir(settings) / 'mariadbd.pid'}",
        f"--port={settings.mariadb.port}",
        "--bind-address=127.0.0.1",
        "--skip-name-resolve",
        f"--log-error={settings.logs_dir / 'mariadb.err'}",
        f"--init-file={init}",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
        "--skip-log-bin",
        *_INNODB,
        *_as_root(),
    ]
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "mariadb.out",
        NAME,
        argv,
        env=None,
        config=config(settings),
        own_logs=[settings.logs_dir / "mariadb.err"],
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the server (SIGTERM: a clean InnoDB shutdown; SIGKILL after ``timeout`` s); True if
    it was running."""
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    """The server's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


def healthy(settings: Settings, timeout: float = 1.0) -> bool:
    """True if the database answers ``SELECT 1`` on ``127.0.0.1:<port>`` as the pinlake user;
    False at once, without connecting, when nothing listens on the port (pinlake.services.process's
    rule)."""
    import pymysql

    m = settings.mariadb
    if not ports_listening([m.port]):
        return False
    try:
        conn = pymysql.connect(
            host="127.0.0.1",
            port=m.port,
            user=m.user,
            password=m.password.get_secret_value(),
            database=m.database,
            connect_timeout=timeout,
            read_timeout=timeout,
        )
    except pymysql.MySQLError:
        return False
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except pymysql.MySQLError:
        return False
    finally:
        conn.close()


def wait_healthy(settings: Settings, timeout: float = 60.0, pid_: int | None = None) -> None:
    """Wait until :func:`healthy`, asked only once the server's TCP port listens
    (``process.wait_healthy``'s ``ports``); raises PinlakeError if process ``pid_`` exits during
    start-up or the server does not answer after ``timeout`` seconds."""
    err = settings.logs_dir / "mariadb.err"
    process.wait_healthy(
        lambda: healthy(settings),
        timeout=timeout,
        interval=0.3,
        pid=pid_,
        exited="the MariaDB server exited during start-up",
        log=err,
        not_healthy=(
            f"MariaDB on 127.0.0.1:{settings.mariadb.port} not healthy after {timeout:.0f}s"
        ),
        ports=[settings.mariadb.port],
    )
