"""The Spark Thrift server (``HiveThriftServer2``, shipped in the pyspark wheel) as a background
service: ``pinlake services up --thrift`` (which also starts the shared metastore,
:mod:`.metastore`). dbt's ``thrift`` target and any HiveServer2 client (PyHive, beeline, JDBC)
run SQL on it; several sessions at once.

* Started with the wheel's ``bin/spark-submit`` and **the settings of the one session builder**
  (:func:`pinlake.spark.spark_conf`: Delta extensions and catalog, warehouse, time zone, the
  metastore that :func:`pinlake.spark.metastore_connection` decides, the master
  :func:`pinlake.spark.spark_master`: ``PINLAKE_SPARK_MASTER``, else the home's standalone
  cluster while it runs, else ``local[2]``), plus its web UI
  on ``PINLAKE_THRIFT_UI_PORT``. They go in a properties file (``<home>/run/thrift.conf``, mode
  0600: it may hold the metastore password), not on the command line.
* HiveServer2 listens on ``127.0.0.1:<PINLAKE_THRIFT_PORT>`` (default 10000, the ``thrift``
  target's); Hive's scratch and operation-log folders are under ``<home>/thrift``, and so is
  the driver JVM's own scratch (:func:`spark_scratch_dir`: Spark's ``blockmgr-*``, ``spark-*``
  and ``artifacts-*`` folders, which a server killed with ``kill -9`` left in ``/tmp``:
  helper-109); the log is ``<home>/logs/thrift.log``.
* Ready when a real HiveServer2 session answers ``select 1`` (PyHive, as dbt connects).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from pinlake import run_folder
from pinlake.config import Settings, spark_home
from pinlake.errors import PinlakeError
from pinlake.services import process
from pinlake.spark import session_env

NAME = run_folder.THRIFT
MAIN_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
#: Start-up reads the jars, warms the metastore client and the Delta catalog: about 90 s on 2
#: busy cores (stream-and-scale-out notes), so the wait is generous.
START_TIMEOUT = 420.0


def thrift_dir(settings: Settings) -> Path:
    """``<home>/thrift``: Hive's scratch folders and operation logs of the server."""
    return settings.home / "thrift"


def spark_scratch_dir(settings: Settings) -> Path:
    """``<home>/thrift/spark-scratch``: the server's driver JVM's scratch folder
    (:func:`pinlake.spark.scratch_conf`); emptied when the server starts (one server per home:
    what is there was left by one that was killed)."""
    return thrift_dir(settings) / "spark-scratch"


def conf(settings: Settings) -> dict[str, str]:
    """The server's Spark settings: :func:`pinlake.spark.spark_conf` (never restated here) with
    the web UI on, an application name and the driver's scratch in the home
    (:func:`spark_scratch_dir`, as :func:`pinlake.spark.get_spark` puts every session's).
    Raises :class:`PinlakeError` when the metastore is the embedded one (the server would lock
    every other Spark process out of it)."""
    from pinlake.spark import metastore_connection, scratch_conf, spark_conf

    if not metastore_connection(settings).shared:
        raise PinlakeError(
            "the Thrift server needs the shared metastore: start it with "
            f"`{run_folder.up_hint(settings.run_dir, '--metastore')}` (or set "
            "PINLAKE_METASTORE_URL)"
        )
    values = scratch_conf(spark_conf(settings), spark_scratch_dir(settings))
    values.update(
        {
            "spark.app.name": "pinlake-thrift",
            "spark.ui.enabled": "true",
            "spark.ui.port": str(settings.thrift_ui_port),
            # the UI port is recorded and shown by `services status`: no silent other port
            "spark.port.maxRetries": "0",
        }
    )
    return values


def config(settings: Settings) -> dict[str, object]:
    """What a running server is tied to (recorded beside its pid file, compared by ``services
    up``): ports, master, warehouse and metastore URL."""
    from pinlake.spark import metastore_connection, spark_master

    return {
        "port": settings.thrift_port,
        "ui_port": settings.thrift_ui_port,
        "master": spark_master(settings),
        "warehouse": str(settings.warehouse_dir),
        "metastore": metastore_connection(settings).url,
    }


def ui_url(settings: Settings) -> str:
    """The Spark web UI of the server (its JDBC/ODBC Server tab lists sessions and queries)."""
    return f"http://127.0.0.1:{settings.thrift_ui_port}"


def jdbc_url(settings: Settings) -> str:
    """``jdbc:hive2://127.0.0.1:<port>/default`` (beeline, JDBC clients)."""
    return f"jdbc:hive2://127.0.0.1:{settings.thrift_port}/default"


def properties_file(settings: Settings) -> Path:
    """``run/thrift.conf``: the server's Spark properties (the metastore's password among
    them: written 0600, removed when the server is stopped)."""
    return settings.run_dir / "thrift.conf"


def _write_properties(settings: Settings, values: dict[str, str]) -> Path:
    path = properties_file(settings)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key} {value}\n" for key, value in sorted(values.items()))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def argv(settings: Settings) -> list[str]:
    """The ``spark-submit`` command line (the settings are in the properties file)."""
    scratch = thrift_dir(settings)
    hiveconf = {
        "hive.server2.thrift.port": str(settings.thrift_port),
        "hive.server2.thrift.bind.host": "127.0.0.1",
        "hive.exec.scratchdir": str(scratch / "scratch"),
        "hive.exec.local.scratchdir": str(scratch / "local-scratch"),
        # one folder per session, as Hive's default: a session deletes its folder when it
        # closes, so a shared one fails other sessions' opening ("Couldn't create directory")
        "hive.downloaded.resources.dir": str(scratch / "resources" / "${hive.session.id}"),
        "hive.server2.logging.operation.log.location": str(scratch / "operation-logs"),
    }
    props = _write_properties(settings, conf(settings))
    return [
        str(spark_home() / "bin" / "spark-submit"),
        "--properties-file",
        str(props),
        "--class",
        MAIN_CLASS,
        *[arg for key, value in hiveconf.items() for arg in ("--hiveconf", f"{key}={value}")],
        "spark-internal",
    ]


def start(settings: Settings) -> int:
    """Start the server in the background (no-op if running); returns its pid. Raises
    :class:`PinlakeError` when the metastore is not shared or a port is taken."""
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    ports = {"PINLAKE_THRIFT_PORT": settings.thrift_port}
    ports["PINLAKE_THRIFT_UI_PORT"] = settings.thrift_ui_port
    for variable, port in ports.items():
        process.refuse_busy_port(port, variable)
    command = argv(settings)
    env = session_env(settings)
    env["SPARK_HOME"] = str(spark_home())
    shutil.rmtree(spark_scratch_dir(settings), ignore_errors=True)  # a killed server's
    for sub in ("scratch", "local-scratch", "resources", "operation-logs", "spark-scratch"):
        (thrift_dir(settings) / sub).mkdir(parents=True, exist_ok=True)
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "thrift.log",
        NAME,
        command,
        env=env,
        config=config(settings),
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the server (SIGTERM; SIGKILL after ``timeout`` s) and remove its properties file
    (:func:`properties_file`; helper-111: ``services down`` left it); True if it was
    running."""
    stopped = process.stop(settings.run_dir, NAME, timeout=timeout)
    properties_file(settings).unlink(missing_ok=True)
    return stopped


def pid(settings: Settings) -> int | None:
    """The server's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


def healthy(settings: Settings, timeout: float = 10.0) -> bool:
    """True if a HiveServer2 session on ``127.0.0.1:<port>`` answers ``select 1`` (PyHive with
    SASL ``NONE`` auth, as dbt-spark's thrift method connects) within ``timeout`` seconds: a
    server that takes the connection and never answers is not healthy (PyHive's connection has
    no timeout of its own, so the session is asked from a daemon thread). Raises
    :class:`PinlakeError` when PyHive is not installed."""
    if not process.port_answers(settings.thrift_port, timeout=min(1.0, timeout)):
        return False
    try:
        from pyhive import hive  # noqa: F401 - the `thrift` extra of pyproject.toml
    except ImportError as exc:
        raise PinlakeError("PyHive is not installed: run `make setup`") from exc
    answered: list[bool] = []
    asker = threading.Thread(
        target=lambda: answered.append(_answers_select_1(settings.thrift_port)), daemon=True
    )
    asker.start()
    asker.join(timeout)
    return bool(answered and answered[0])


def _answers_select_1(port: int) -> bool:
    """One PyHive session on ``127.0.0.1:port``: True if ``select 1`` returns ``[(1,)]``, False
    on any error (thrift transport and SASL errors while the server starts)."""
    from pyhive import hive

    try:
        conn = hive.connect(host="127.0.0.1", port=port, username="pinlake")
    except Exception:  # noqa: BLE001 - not answering yet
        return False
    try:
        cursor = conn.cursor()
        cursor.execute("select 1")
        return cursor.fetchall() == [(1,)]
    except Exception:  # noqa: BLE001 - not answering yet
        return False
    finally:
        conn.close()


def wait_healthy(
    settings: Settings, timeout: float = START_TIMEOUT, pid_: int | None = None
) -> None:
    """Wait until :func:`healthy`, asked only once the server's Thrift port listens
    (``process.wait_healthy``'s ``ports``); raises PinlakeError if the server exits during
    start-up or does not answer within ``timeout`` seconds (the message names its log)."""
    log = settings.logs_dir / "thrift.log"
    process.wait_healthy(
        lambda: healthy(settings),
        timeout=timeout,
        interval=2.0,
        pid=pid_,
        exited="the Spark Thrift server exited during start-up",
        log=log,
        not_healthy=f"the Spark Thrift server on 127.0.0.1:{settings.thrift_port} did not answer "
        f"within {timeout:.0f}s",
        ports=[settings.thrift_port],
    )
