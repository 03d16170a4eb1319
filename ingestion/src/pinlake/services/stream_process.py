"""The continuous stream query (:mod:`pinlake.lakehouse.stream`) as a background service:
start, graceful stop, pid, and its state for ``pinlake services status``.

The query writes its state to ``<home>/run/stream-status.json`` after every micro-batch; the
status adds what only Kafka knows: the lag of every stream partition (the high watermark minus
the offset the query has read up to).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, NamedTuple

import psutil

from pinlake import kafka, run_folder
from pinlake.config import TABLES, Settings
from pinlake.lakehouse.stream import StreamOptions, committed_offsets, read_status, write_status
from pinlake.services import process
from pinlake.spark import LOCAL_MASTER, session_env

NAME = run_folder.STREAM
#: A graceful stop lets the running micro-batch finish (up to 30 s) and Spark shut down.
STOP_TIMEOUT = 60.0


def config(settings: Settings, trigger_seconds: float = 1.0) -> dict[str, object]:
    """What a running query is tied to (recorded beside its pid file, compared by ``services
    up``): the broker, the topics' prefix, the home's tables and the trigger interval."""
    return {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "topic_prefix": settings.topic_prefix,
        "warehouse": str(settings.warehouse_dir),
        "trigger_seconds": float(trigger_seconds),
    }


def start(settings: Settings, trigger_seconds: float = 1.0, warm_up: bool = True) -> int:
    """Start ``python -m pinlake.lakehouse.stream`` in the background (no-op if running);
    returns its pid. Its log is ``logs/stream.log``. ``warm_up``: see ``StreamOptions``.

    Its Spark runs on :data:`pinlake.spark.LOCAL_MASTER` unless ``PINLAKE_SPARK_MASTER`` names
    a master, also while the home's standalone cluster runs: a query that never ends would keep
    its cluster cores for good (the cluster gives each application its own).

    Raises :class:`~pinlake.errors.UsageError` before anything starts for a ``trigger_seconds``
    :class:`~pinlake.lakehouse.stream.StreamOptions` refuses."""
    StreamOptions(trigger_seconds=trigger_seconds, warm_up=warm_up)  # its checks, here at once
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    settle_ended(settings)  # the query to start writes its own state; until then, not "ended"
    env = session_env(settings)
    if settings.spark_master is None:  # never the home's cluster (see above)
        env["PINLAKE_SPARK_MASTER"] = LOCAL_MASTER
    env["PINLAKE_STREAM_TRIGGER_SECONDS"] = str(trigger_seconds)
    env["PINLAKE_STREAM_WARM_UP"] = "1" if warm_up else "0"
    env.setdefault("PYTHONUNBUFFERED", "1")
    argv = [sys.executable, "-m", "pinlake.lakehouse.stream"]
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "stream.log",
        NAME,
        argv,
        env=env,
        config=config(settings, trigger_seconds),
    )


def stop(settings: Settings, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the query gracefully (SIGTERM to the service only; SIGKILL after ``timeout`` s);
    True if it was running. A state left by a query whose process ended without writing its
    last one (:func:`settle_ended`) is settled too."""
    stopped = process.stop(settings.run_dir, NAME, timeout=timeout, root_first=True)
    settle_ended(settings)
    return stopped


def settle_ended(settings: Settings) -> None:
    """Mark ``stopped`` the state of a query whose process ended (killed, crashed) while its
    state said ``running``: ``services status`` shows such a query ``down (ended without
    services down)`` until ``services down`` or a new query (README), and showed it so after
    both (helper-91). Its counts and last micro-batches are kept. A query that runs, in the
    services or in a terminal, is left alone."""
    status = read_status(settings)
    if not status or status.get("state") != "running" or pid(settings) is not None:
        return
    if _foreground(status.get("pid")):
        return
    status["state"] = "stopped"
    write_status(settings, status)


def pid(settings: Settings) -> int | None:
    """The query's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


class PartitionLag(NamedTuple):
    """How far the query is behind on one stream partition (records)."""

    topic: str
    partition: int
    read_up_to: int
    high: int

    @property
    def lag(self) -> int:
        """Records written to the partition that the query has not read (0 when caught up)."""
        return max(0, self.high - self.read_up_to)


def state(settings: Settings, kafka_answers: bool | None = None) -> dict[str, Any]:
    """The query's last written state (see the module docstring) with ``running`` (its process
    is alive) and, when Kafka answers, ``lag``: a :class:`PartitionLag` per stream partition.

    A query process that runs but has not written its own state yet (it starts: imports, the
    Spark session, the warm-up) is ``starting``, with the trigger it was started with, never
    the state a previous query left (``stopped``). ``earlier``: the process is gone and the last
    ``services up`` it belonged to ran before the running API started
    (:func:`_before_the_running_api`): an earlier ``services up``'s, which ``services status``
    shows but does not count. The offset read up to is the query's last micro-batch's, or,
    for a topic it has not read in this run, its checkpoint's last commit
    (:func:`~pinlake.lakehouse.stream.committed_offsets`). ``kafka_answers``:
    whether the caller found the cluster answering (None: ask it here, up to 2 s when it does
    not)."""
    status = dict(read_status(settings) or {})
    current = pid(settings)
    if current is None and _foreground(status.get("pid")):
        current = status["pid"]  # a `pinlake stream` in a terminal: no pid file, the state's pid
        status["foreground"] = True
    status["running"] = current is not None
    if current is not None and status.get("pid") != current:
        started = run_folder.read_config(settings.run_dir, NAME, current) or {}
        status = {
            "state": "starting",
            "pid": current,
            "running": True,
            "trigger_seconds": started.get("trigger_seconds", "?"),
        }
    if status.get("state") == "running" and not status["running"]:
        status["state"] = process.ENDED  # its process ended without writing its last state
    status["earlier"] = not status["running"] and _before_the_running_api(settings)
    if kafka_answers is None:
        kafka_answers = kafka.healthy(settings, timeout=2.0)
    if kafka_answers:
        # the query's own last micro-batch of a topic, else its checkpoint's last commit
        read = committed_offsets(settings)
        for topic, partitions in (status.get("end_offsets") or {}).items():
            read.setdefault(topic, {}).update(partitions)
        topics = [settings.stream(t) for t in TABLES]
        status["lag"] = [
            PartitionLag(
                o.topic,
                o.partition,
                int((read.get(o.topic) or {}).get(str(o.partition), o.low)),
                o.high,
            )
            for o in kafka.topic_offsets(settings, topics)
        ]
    return status


def _before_the_running_api(settings: Settings) -> bool:
    """The query belonged to a ``services up`` from before this home's running ingestion API
    started: its state is the last of an earlier ``services up`` (say ``failed``), not of this
    one, which started no query (``--no-stream``). The query's record (:func:`config`, kept as
    :func:`~pinlake.run_folder.ended_file` once its process ended unstopped) is written when a
    ``services up`` starts it and again when one reuses it (:func:`reused`); the newest of it
    and the state file counts (a ``pinlake stream`` in a terminal has no record). The state
    file's time alone made a query that a later ``services up`` reused, after restarting a
    killed API, "before this services up", and its kill went uncounted (helper-95: exit 0).
    False when no API runs or nothing was written."""
    from pinlake.lakehouse.stream import status_path
    from pinlake.services import api_process

    if api_process.pid(settings) is None:
        return False
    records = (
        run_folder.config_file(settings.run_dir, NAME),
        run_folder.ended_file(settings.run_dir, NAME),
        status_path(settings),
    )
    try:
        started = run_folder.pid_file(settings.run_dir, api_process.NAME).stat().st_mtime
    except FileNotFoundError:
        return False
    written = [path.stat().st_mtime for path in records if path.exists()]
    return bool(written) and max(written) < started


def reused(settings: Settings, pid_: int) -> None:
    """Mark the running query ``pid_`` as this ``services up``'s (it asked for the query and
    found it running): its record's time becomes now (:func:`_before_the_running_api`). Never
    raises (a query without a record, started by hand, stays as it is)."""
    record = run_folder.config_file(settings.run_dir, NAME)
    if run_folder.read_config(settings.run_dir, NAME, pid_) is not None:
        with contextlib.suppress(OSError):
            os.utime(record)


def _foreground(pid_: object) -> bool:
    """``pid_`` (a state file's) is a live ``pinlake stream`` process: a stream stage run in a
    terminal, which has no pid file (a pid reused by another program is not one)."""
    if not isinstance(pid_, int) or not run_folder.is_alive(pid_):
        return False
    try:
        argv = psutil.Process(pid_).cmdline()
    except psutil.Error:
        return False
    return "stream" in argv and any("pinlake" in arg for arg in argv)


def wait_running(settings: Settings, timeout: float = 180.0, pid_: int | None = None) -> None:
    """Wait until the query (process ``pid_``) has written the state ``running``; raises
    PinlakeError if the process exits first (the log says why) or after ``timeout`` seconds."""

    def running() -> bool:
        status = read_status(settings) or {}
        return status.get("state") == "running" and status.get("pid") == pid_

    process.wait_healthy(
        running,
        timeout=timeout,
        interval=0.5,
        pid=pid_,
        exited="the stream query exited during start-up",
        log=settings.logs_dir / "stream.log",
        not_healthy=f"the stream query did not start within {timeout:.0f}s",
    )


def caught_up(settings: Settings) -> bool:
    """True when the running query has committed every record now in the stream topics (its
    last micro-batch read up to every partition's high watermark)."""
    status = state(settings)
    lag = status.get("lag")
    return bool(status.get("running")) and lag is not None and all(p.lag == 0 for p in lag)


def wait_caught_up(settings: Settings, timeout: float = 300.0) -> None:
    """Wait until :func:`caught_up`; raises PinlakeError if the query stops or ``timeout``
    seconds pass first."""
    process.wait_healthy(
        lambda: caught_up(settings),
        timeout=timeout,
        interval=0.5,
        pid=pid(settings),
        exited="the stream query stopped",
        log=settings.logs_dir / "stream.log",
        not_healthy=f"the stream query did not catch up within {timeout:.0f}s",
    )
