"""``kafka_broker.stop`` ends a local KRaft cluster whose nodes stop at once: a node left running
once fewer than a majority of the quorum's voters run can never finish its controlled shutdown
(KAFKA-13907), so it is killed after ``LOST_QUORUM_GRACE`` seconds instead of at the stop's
timeout; while a majority runs, every node gets the whole timeout.

The nodes here are real child processes (``python -c``) with the nodes' service names: on
SIGTERM each one exits at once, exits a second later (a controlled shutdown that completes), or
records the signal and goes on running (a broker whose quorum is gone). The real brokers' stop is
the scale-out test's teardown (tests/integration/test_scale_out.py).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pinlake.config import KafkaSettings, Settings
from pinlake.services import kafka_broker, process

#: what a node does on SIGTERM
EXITS = "sys.exit(0)"
EXITS_A_SECOND_LATER = "time.sleep(1); sys.exit(0)"
STUCK = "pass"


SPAWNED: list[int] = []


@pytest.fixture(autouse=True)
def _no_stand_in_left() -> Iterator[None]:
    """Kill whatever stand-in a failed test left running."""
    yield
    for pid in SPAWNED:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    SPAWNED.clear()


def _node(settings: Settings, name: str, on_term: str) -> int:
    """Spawn a stand-in node named ``name`` that writes ``term`` to ``<name>.marker`` on
    SIGTERM, then does ``on_term`` (and writes ``exited`` if that returns by exiting); returned
    (its pid) once its SIGTERM handler is in place (it writes ``ready``)."""
    marker = settings.home / f"{name}.marker"
    code = (
        "import signal, sys, time\n"
        f"def term(*_):\n    open({str(marker)!r}, 'w').write('term')\n"
        f"    try:\n        {on_term}\n"
        f"    except SystemExit:\n        open({str(marker)!r}, 'w').write('exited'); raise\n"
        "signal.signal(signal.SIGTERM, term)\n"
        f"open({str(marker)!r}, 'w').write('ready')\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    log = settings.home / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    pid = process.spawn(settings.run_dir, log, name, [sys.executable, "-c", code])
    SPAWNED.append(pid)
    for _ in range(600):  # its SIGTERM handler is in place once it says so
        if marker.is_file() and marker.read_text() == "ready":
            return pid
        time.sleep(0.05)
    raise AssertionError(f"stand-in node {name} did not start: {log.read_text()}")


def _settings(tmp_path: Path, brokers: int) -> Settings:
    settings = Settings(home=tmp_path / "home", kafka=KafkaSettings(brokers=brokers))
    settings.ensure_dirs()
    return settings


def _stop_in_thread(
    settings: Settings, timeout: float, names: list[str] | None = None
) -> threading.Thread:
    stopper = threading.Thread(
        target=kafka_broker.stop, args=(settings,), kwargs={"timeout": timeout, "names": names}
    )
    stopper.start()
    return stopper


def test_nodes_left_without_a_quorum_are_killed_not_waited_for(tmp_path):
    settings = _settings(tmp_path, brokers=3)
    pids = {
        "kafka": _node(settings, "kafka", EXITS),
        "kafka-2": _node(settings, "kafka-2", EXITS_A_SECOND_LATER),
        "kafka-3": _node(settings, "kafka-3", STUCK),
    }
    assert kafka_broker.running_names(settings) == list(pids)
    stopper = _stop_in_thread(settings, timeout=600)  # far beyond the join below
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "the node without a quorum was waited for"
    marks = {name: (settings.home / f"{name}.marker").read_text() for name in pids}
    # the two that could finish did, on their own; the third got SIGTERM first, then SIGKILL
    assert marks == {"kafka": "exited", "kafka-2": "exited", "kafka-3": "term"}
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids.values()
    )
    assert kafka_broker.running_names(settings) == []
    assert not list(settings.run_dir.glob("kafka*.pid"))


def test_a_single_node_keeps_its_quorum_and_gets_the_whole_timeout(tmp_path):
    """One voter is its own majority: a node that does not stop is killed at the timeout only."""
    settings = _settings(tmp_path, brokers=1)
    pid = _node(settings, "kafka", STUCK)
    stopper = _stop_in_thread(settings, timeout=600)
    stopper.join(timeout=kafka_broker.LOST_QUORUM_GRACE + 1)
    assert stopper.is_alive()  # still waiting: the lost-quorum rule does not apply
    assert (settings.home / "kafka.marker").read_text() == "term"
    assert psutil.Process(pid).is_running()
    process.kill(settings.run_dir, "kafka")  # what the timeout would do, now
    stopper.join(timeout=60)
    assert not stopper.is_alive()
    assert kafka_broker.running_names(settings) == []


def test_stopping_some_nodes_counts_the_others_still_running_as_voters(tmp_path):
    """What ``services up`` does with the nodes it started when they did not get ready: it
    stops those alone. Node 1, not stopped, still runs: with it the stuck node keeps a majority
    (two of three) and is waited for; once node 1 is gone too it is killed after the grace."""
    settings = _settings(tmp_path, brokers=3)
    _node(settings, "kafka", STUCK)
    _node(settings, "kafka-2", EXITS)
    stuck = _node(settings, "kafka-3", STUCK)
    stopper = _stop_in_thread(settings, timeout=600, names=["kafka-2", "kafka-3"])
    stopper.join(timeout=kafka_broker.LOST_QUORUM_GRACE + 2)
    assert stopper.is_alive()  # kafka + kafka-3: still a majority, so no SIGKILL yet
    assert (settings.home / "kafka.marker").read_text() == "ready"  # never signalled
    assert (settings.home / "kafka-2.marker").read_text() == "exited"
    assert psutil.Process(stuck).is_running()
    process.kill(settings.run_dir, "kafka")  # node 1 goes: kafka-3 alone has no quorum
    gone = time.monotonic()
    stopper.join(timeout=60)  # far below the stop's timeout of 600 s
    assert not stopper.is_alive(), "the node without a quorum was waited for"
    assert time.monotonic() - gone >= kafka_broker.LOST_QUORUM_GRACE  # it had its grace
    assert (settings.home / "kafka-3.marker").read_text() == "term"  # SIGTERM, then SIGKILL
    assert not psutil.pid_exists(stuck) or psutil.Process(stuck).status() == "zombie"
    assert kafka_broker.running_names(settings) == []


def test_stopping_nodes_that_do_not_run_is_a_no_op(tmp_path):
    settings = _settings(tmp_path, brokers=3)
    pid = _node(settings, "kafka", STUCK)
    assert kafka_broker.stop(settings, names=["kafka-2", "kafka-9"]) is False
    assert psutil.Process(pid).is_running()
    assert (settings.home / "kafka.marker").read_text() == "ready"
