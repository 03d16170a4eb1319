"""The run folder (``PINLAKE_HOME/run``): what a home runs, and where Spark reaches it.

Every service pinlake starts (:mod:`pinlake.services`) has a pid file ``run/<name>.pid`` and,
beside it, ``run/<name>.json``: ``{"pid": 123, "config": {...}}``, the configuration it was
started with (ports, addresses, options). This module reads and writes those records; the
supervisors in :mod:`pinlake.services` start and stop the processes.

From the records it also gives the addresses of the two services a Spark session of the home
connects to (:mod:`pinlake.spark` decides with them): the shared metastore's JDBC URL and its
client driver's jar (:mod:`pinlake.services.metastore` runs the server) and the standalone
master's URL (:mod:`pinlake.services.spark_cluster`). Liveness goes through psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from pinlake.config import Settings, local_master_url
from pinlake.errors import PinlakeError

#: The shared metastore's record name, and its Derby database under ``<home>/metastore`` (the
#: embedded default's too).
METASTORE = "metastore"
METASTORE_DATABASE = "metastore_db"
#: The source MariaDB server's record name (:mod:`pinlake.services.mariadb`).
MARIADB = "mariadb"
#: The standalone Spark master's record name.
SPARK_MASTER = "spark-master"
#: The Spark Thrift server's record name (:mod:`pinlake.services.thrift_server`).
THRIFT = "thrift"


#: The record names of the ingestion's services: Kafka's nodes (``kafka``, then ``kafka-2``, …;
#: :mod:`pinlake.services.kafka_broker`) and the API (:mod:`pinlake.services.api_process`).
KAFKA = "kafka"
API = "api"
#: A Kafka node's record name: ``kafka`` (node 1), ``kafka-<n>``.
_KAFKA_NODE = re.compile(rf"{KAFKA}(-\d+)?")
#: The local S3 server's record name (:mod:`pinlake.services.s3_server`).
S3 = "s3"
#: The continuous stream query's record name (:mod:`pinlake.services.stream_process`).
STREAM = "stream"


def metastore_database_dir(settings: Settings) -> Path:
    """``<home>/metastore/metastore_db``: the home's Derby database, which the embedded default
    creates on first use and this home's metastore server serves."""
    return settings.metastore_dir / METASTORE_DATABASE


def pid_file(run_dir: Path, name: str) -> Path:
    """``run_dir/<name>.pid``: the pid of service ``name``, one decimal line."""
    return run_dir / f"{name}.pid"


def config_file(run_dir: Path, name: str) -> Path:
    """``run_dir/<name>.json``: the configuration service ``name`` was started with."""
    return run_dir / f"{name}.json"


def ended_file(run_dir: Path, name: str) -> Path:
    """``run_dir/<name>.ended.json``: the record of service ``name`` after its process ended
    without being stopped (killed, crashed): :func:`read_pid` moves it there."""
    return run_dir / f"{name}.ended.json"


def read_pid(run_dir: Path, name: str) -> int | None:
    """The pid of a running service, or None. A stale pid file (its process ended without
    being stopped: killed, crashed) is removed and its configuration record becomes
    :func:`ended_file`'s, which ``services status`` shows as down until the service is started
    or stopped again (helper-62: a killed S3 server left no trace, and status exited 0)."""
    path = pid_file(run_dir, name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if not is_alive(pid):
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # none: started by an older pinlake, or moved already
            config_file(run_dir, name).replace(ended_file(run_dir, name))
        return None
    return pid


def forget_ended(run_dir: Path, name: str) -> None:
    """Remove service ``name``'s :func:`ended_file` (it was started or stopped since); never
    raises."""
    with contextlib.suppress(OSError):
        ended_file(run_dir, name).unlink(missing_ok=True)


def recorded(run_dir: Path) -> set[str]:
    """The names of the services of ``run_dir`` that run or ended without ``services down``:
    their pid files (a stale one too) and :func:`ended_file`'s records. Reads file names only."""
    names = {path.name.removesuffix(".pid") for path in run_dir.glob("*.pid")}
    suffix = ended_file(run_dir, "").name
    return names | {path.name.removesuffix(suffix) for path in run_dir.glob(f"*{suffix}")}


def is_ingestion(name: str) -> bool:
    """Whether service ``name`` is a Kafka node (``kafka``, ``kafka-<n>``) or the API."""
    return name == API or _KAFKA_NODE.fullmatch(name) is not None


def without_ingestion(run_dir: Path) -> bool:
    """Whether the home of ``run_dir`` has services (:func:`recorded`) and none of them is a
    Kafka node or the ingestion API (:func:`is_ingestion`): a home of ``services up
    --no-ingestion``. False for a home with none, whose ``services up`` starts the broker and
    the API."""
    names = recorded(run_dir)
    return bool(names) and not any(is_ingestion(name) for name in names)


def kafka_nodes(names: set[str]) -> int:
    """How many of the service names ``names`` are Kafka nodes (``kafka``, ``kafka-<n>``)."""
    return sum(_KAFKA_NODE.fullmatch(name) is not None for name in names)


def up_hint(run_dir: Path, options: str = "", stream: bool = False) -> str:
    """``pinlake services up <options>`` for a line that tells the user to start a service,
    with the options that keep the home's services as they run or ran (:func:`recorded`):

    - ``--no-ingestion`` on a home of ``services up --no-ingestion`` (:func:`without_ingestion`),
      where the plain command would start the broker, the API and the stream query too
      (helper-97);
    - on a home whose broker or API runs or ran: ``--no-stream`` when no stream query does
      (a home of ``services up --no-stream``, where the plain command would start one:
      helper-110), and ``--kafka-brokers N`` for a cluster of N nodes (the plain command asks
      for one, and is refused: the broker runs with another configuration).

    ``stream``: the command is to start the stream query (a line about the query itself: one
    that failed at its start leaves no record, and ``--no-stream`` then kept it stopped:
    helper-114); neither ``--no-stream`` nor ``--no-ingestion``."""
    from pinlake.console import PINLAKE

    names = recorded(run_dir)
    words = [str(PINLAKE), "services", "up"]
    if without_ingestion(run_dir) and not stream:
        words.append("--no-ingestion")
    elif any(is_ingestion(name) for name in names):
        if STREAM not in names and not stream:
            words.append("--no-stream")
        if (nodes := kafka_nodes(names)) > 1:
            words.append(f"--kafka-brokers {nodes}")
    return " ".join([*words, *options.split()])


def _loopback_s3_endpoint(settings: Settings) -> tuple[str, bool, bool] | None:
    """``(variable, its port is this home's S3 server's, that server runs)`` when the S3
    endpoint the AWS variables name is on loopback
    (:func:`pinlake.loopback.loopback_s3_endpoint`); None for one elsewhere (AWS, another
    machine's server) or none."""
    from pinlake.loopback import loopback_s3_endpoint

    found = loopback_s3_endpoint(os.environ)
    if found is None:
        return None
    variable, _, port = found
    return variable, port == settings.s3.port, read_pid(settings.run_dir, S3) is not None


def s3_unreachable_hint(settings: Settings) -> str:
    """What to do when the S3 endpoint of the AWS variables does not answer, as the end of the
    error's line (``": …"``), or ``""`` when pinlake cannot tell (an endpoint off this
    machine, or this home's server running there). On loopback: this home's S3 server
    (``services up --s3``) is not running (the command that starts it), or runs on another
    port (check the variable): helper-109 got only "AWS_ENDPOINT_URL and AWS_REGION choose the
    endpoint" after a typo in the port and after the home's server was killed."""
    found = _loopback_s3_endpoint(settings)
    if found is None:
        return ""
    variable, home_port, runs = found
    home = settings.s3.url
    start = up_hint(settings.run_dir, "--s3")
    if home_port:
        return "" if runs else f": start this home's S3 server with `{start}`"
    if runs:
        return f": this home's S3 server runs at {home}, not there: check {variable}"
    return f": no server of this home is there (`{start}` starts its S3 server at {home})"


def s3_missing_bucket_hint(settings: Settings, bucket: str) -> str:
    """The end of the line of a bucket that does not exist (``": …"``), ``""`` unless the
    endpoint is this home's running S3 server, where ``services up --s3`` creates the bucket
    ``PINLAKE_BUCKET`` names (helper-109: the line gave no hint); the variable is in the hint,
    which a shell that set it for one command only would not have. ``bucket``:
    ``s3://<name>``."""
    found = _loopback_s3_endpoint(settings)
    if found is None or not (found[1] and found[2]):
        return ""
    start = up_hint(settings.run_dir, "--s3")
    return f": `PINLAKE_BUCKET={shlex.quote(bucket)} {start}` creates it"


def ended(run_dir: Path, name: str) -> dict[str, Any] | None:
    """The configuration service ``name`` was started with, when its process ended without
    being stopped (:func:`ended_file`) and it has not been started since; else None."""
    if read_pid(run_dir, name) is not None:
        return None
    try:
        record = json.loads(ended_file(run_dir, name).read_text())
    except (OSError, ValueError):
        return None
    config = record.get("config") if isinstance(record, dict) else None
    return config if isinstance(config, dict) else {}


def record_config(run_dir: Path, name: str, pid: int, config: dict[str, Any]) -> None:
    """Write ``{"pid": pid, "config": config}`` to ``<name>.json`` (atomically: a temporary file
    renamed). ``config`` holds JSON scalars only (str, int, float, bool, None)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    target = config_file(run_dir, name)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"pid": pid, "config": config}, sort_keys=True) + "\n")
    tmp.replace(target)


def read_config(run_dir: Path, name: str, pid: int) -> dict[str, Any] | None:
    """The configuration recorded for service ``name`` running as ``pid``; None when there is no
    record, it cannot be read, or it belongs to another pid (a service started by an older
    pinlake, or by hand)."""
    try:
        record = json.loads(config_file(run_dir, name).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("pid") != pid:
        return None
    config = record.get("config")
    return config if isinstance(config, dict) else None


@dataclass(frozen=True)
class Running:
    """A running service of a home and the configuration it was started with (None: unknown)."""

    name: str
    pid: int
    config: dict[str, Any] | None


def running(run_dir: Path, name: str) -> Running | None:
    """Service ``name`` if it runs (its pid file names a live process), with its recorded
    configuration; None if it does not run."""
    pid = read_pid(run_dir, name)
    if pid is None:
        return None
    return Running(name, pid, read_config(run_dir, name, pid))


def recorded_while_running(run_dir: Path, name: str, key: str) -> Any:
    """The value of ``key`` in the configuration service ``name`` was started with, while it
    runs; None when it does not run or its record lacks it. For the lines that name where the
    home's service runs when a command looked elsewhere (helper-109: a typo in an address was
    told to start what runs)."""
    found = running(run_dir, name)
    return (found.config or {}).get(key) if found is not None else None


def running_all(run_dir: Path, order: tuple[str, ...] = ()) -> list[Running]:
    """Every service of the run folder that runs (each pid file naming a live process), those
    named in ``order`` first and in its order, the others (a cluster's second and third Kafka
    node, its workers) by name."""
    names = sorted(path.stem for path in run_dir.glob("*.pid"))
    names = [n for n in order if n in names] + [n for n in names if n not in order]
    return [found for name in names if (found := running(run_dir, name)) is not None]


#: The end of a configuration key whose value is a secret's fingerprint (:func:`fingerprint`).
FINGERPRINT = "_fingerprint"


def fingerprint(run_dir: Path, secret: str) -> str:
    """12 hex digits of HMAC-SHA256 of ``secret`` under the run folder's own random key
    (``run/.fingerprint-key``: 32 bytes, its owner's only, made once): what a configuration
    record (mode 0644) holds of a password or an API key, so that ``services up`` tells a changed
    one from the same, while a reader of the record cannot test guesses against it as against a
    plain SHA-256 (helper-62: a MariaDB password's digest in ``run/mariadb.json`` and in the
    refusal's text). Raises OSError when the key can be neither read nor made."""
    import hashlib
    import hmac
    import secrets

    key_file = run_dir / ".fingerprint-key"
    try:
        key = key_file.read_bytes()
    except FileNotFoundError:
        run_dir.mkdir(parents=True, exist_ok=True)
        temp = run_dir / f".fingerprint-key.{os.getpid()}.tmp"
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_bytes(32))
        try:
            os.link(temp, key_file)  # the first of two processes that make one wins
        except FileExistsError:
            pass
        finally:
            temp.unlink(missing_ok=True)
        key = key_file.read_bytes()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()[:12]


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


def metastore_url(settings: Settings) -> str:
    """The JDBC URL of the shared metastore's database at ``settings.metastore_port`` (Derby's
    network client; the URL never creates the database)."""
    return f"jdbc:derby://127.0.0.1:{settings.metastore_port}/{METASTORE_DATABASE}"


def running_metastore_url(settings: Settings) -> str | None:
    """The URL of this home's running metastore server (at the port it was started with), else
    None."""
    port = recorded_while_running(settings.run_dir, METASTORE, "port")
    return None if port is None else f"jdbc:derby://127.0.0.1:{port}/{METASTORE_DATABASE}"


def metastore_jars_dir(settings: Settings) -> Path:
    """``<jars>/metastore``: Derby's server, client and tools, PostgreSQL's driver, the scripts
    (jvm/pom.xml, profile ``metastore``)."""
    return settings.jars_dir / "metastore"


def metastore_client_jar(settings: Settings, kind: str = "derbyclient") -> Path:
    """The JDBC driver jar a Spark driver needs for a metastore URL: ``derbyclient`` (Derby's
    network client) or ``postgresql``. Raises :class:`PinlakeError` when ``make setup`` has not
    resolved it."""
    found = sorted(metastore_jars_dir(settings).glob(f"{kind}-*.jar"))
    if not found:
        raise PinlakeError(
            f"{kind} jar not found in {metastore_jars_dir(settings)}: run `make setup` "
            "(jvm/pom.xml, profile metastore)"
        )
    return found[-1]


def running_master_url(settings: Settings) -> str | None:
    """``spark://127.0.0.1:<port>`` of this home's standalone master if it runs (the port it was
    started with), else None."""
    found = running(settings.run_dir, SPARK_MASTER)
    if found is None:
        return None
    return local_master_url((found.config or {}).get("port", settings.spark_cluster.port))
