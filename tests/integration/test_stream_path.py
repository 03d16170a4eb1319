"""The stream path end to end: Kinesis-proxy API -> Kafka -> the stream query -> raw Delta.

A real broker and API (two shards per stream), the stream query in processes of its own as users
run it (``pinlake services up`` / ``pinlake stream``), read back by path with the test session's
Spark. Every record the API acknowledged (its sequence number says where it is) must be in the raw
stream tables or their quarantine exactly once, across a SIGKILL of a query mid-way, a restart as
the continuous service, its graceful stop and a restart in ``--available-now`` mode.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pinlake_testing import INCUBATOR, LOG_LEVEL_BANNER, isolated_settings

from pinlake.config import Settings
from pinlake.ingest_api.kinesis.codec import parse_sequence_number
from pinlake.lakehouse.tables import stream_table_path
from pinlake.schemas import stream_table

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.spark]

Delivery = tuple[str, int, int]  # (stream, shard, offset)


@pytest.fixture(scope="module")
def stream_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Broker + API (no stream query yet) on a home of its own, two shards per stream."""
    from pinlake.services.manager import start_all, stop_all

    base = isolated_settings(tmp_path_factory.mktemp("stream-path"))
    settings = base.model_copy(
        update={
            "spark_master": "local[1]",
            "spark_driver_memory": "1g",
            "kafka": base.kafka.model_copy(update={"partitions": 2}),
        }
    )
    try:
        start_all(settings, quiet=True)
        yield settings
    finally:
        stop_all(settings, quiet=True)


def _put(
    settings: Settings, table: str, data: list[bytes], first_key: int, *, sdk: bool = False
) -> set[Delivery]:
    """PutRecords (Kinesis-native entries, base64 Data) in requests of 500, through the API
    Gateway proxy's resource or (``sdk``) an AWS SDK client (boto3, Kinesis' own protocol);
    returns where the API said each acknowledged record is."""
    stream = settings.stream(table)
    acked: set[Delivery] = set()
    client = None
    if sdk:
        import boto3

        client = boto3.client(
            "kinesis",
            endpoint_url=settings.api.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    with httpx.Client(base_url=settings.api.url, timeout=60) as http:
        for start in range(0, len(data), 500):
            chunk = data[start : start + 500]
            keys = [f"k{first_key + i}" for i in range(start, start + len(chunk))]
            if client is not None:
                entries = zip(chunk, keys, strict=True)
                answer = client.put_records(
                    StreamName=stream, Records=[{"Data": d, "PartitionKey": k} for d, k in entries]
                )
            else:
                body = {
                    "StreamName": stream,
                    "Records": [
                        {"Data": base64.b64encode(d).decode(), "PartitionKey": k}
                        for d, k in zip(chunk, keys, strict=True)
                    ],
                }
                resp = http.put(f"/streams/{stream}/records", json=body)
                assert resp.status_code == 200, resp.text
                answer = resp.json()
            assert answer["FailedRecordCount"] == 0
            for record in answer["Records"]:
                shard, offset = parse_sequence_number(record["SequenceNumber"])
                acked.add((stream, shard, offset))
    return acked


def _users(first: int, n: int, bad_every: int = 0) -> list[bytes]:
    rows = []
    for i in range(first, first + n):
        if bad_every and i % bad_every == 0:
            rows.append(b'{"ind": "not a number"}')
        else:
            user = {"ind": i, "first_name": "F", "last_name": "L", "age": 30, "date_joined": "d"}
            rows.append(json.dumps(user).encode())
    return rows


def _landed(spark, settings: Settings) -> Counter:
    """How often each (stream, shard, offset) is in the raw stream tables and the quarantine."""
    seen: Counter = Counter()
    for name in (*(stream_table(t) for t in ("pin", "geo", "user")), "stream_quarantine"):
        path = stream_table_path(settings, name)
        if (path / "_delta_log" / f"{0:020d}.json").is_file():  # the table's first commit
            rows = (
                spark.read.format("delta").load(str(path)).select("_topic", "_partition", "_offset")
            )
            seen.update(tuple(r) for r in rows.collect())
    return seen


def _committed_rows(settings: Settings) -> int:
    """Rows in the raw stream tables and their quarantine, from their Delta logs' ``add``
    actions (``numRecords``; the tables are append-only): a cheap check to wait on, no Spark."""
    rows = 0
    for name in (*(stream_table(t) for t in ("pin", "geo", "user")), "stream_quarantine"):
        for commit in (stream_table_path(settings, name) / "_delta_log").glob("*.json"):
            for line in commit.read_text().splitlines():
                action = json.loads(line)
                if "add" in action:
                    rows += json.loads(action["add"]["stats"])["numRecords"]
    return rows


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.5)


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen]]:
    """Processes a test starts; whatever still runs at its end is killed (with its JVM)."""
    import psutil

    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):  # it may end meanwhile
                root = psutil.Process(proc.pid)
                for member in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        member.kill()
            proc.wait(30)


def _cli(settings: Settings, *args: str, columns: int = 0) -> subprocess.CompletedProcess[str]:
    """``pinlake ARGS`` on ``settings``' home, run to its end, output captured; ``columns``: the
    width of its tables (rich reads ``COLUMNS``), so that a cell's text is not wrapped."""
    return subprocess.run(
        [sys.executable, "-m", "pinlake", *args],
        env={**settings.child_env(), **({"COLUMNS": str(columns)} if columns else {})},
        capture_output=True,
        text=True,
        check=False,
    )


def _pinlake(
    settings: Settings, log: Path, children: list[subprocess.Popen], *args: str
) -> subprocess.Popen:
    """``pinlake ARGS`` in the background, output to ``log``, from a shell set up for another
    Spark install too: its ``PYTHONPATH`` holds that Spark's ``python/``, whose pyspark (here
    one that refuses to import) came before the virtualenv's (pinlake.__main__ drops it)."""
    handle = log.open("ab")
    env = settings.child_env()
    env.pop("SPARK_CONF_DIR", None)  # as from a user's shell: get_spark points Spark at its conf
    another = log.parent / "another-spark" / "python"
    (another / "pyspark").mkdir(parents=True, exist_ok=True)
    (another / "pyspark" / "__init__.py").write_text("raise ImportError('another Spark')\n")
    env["PYTHONPATH"] = str(another)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinlake", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    children.append(proc)
    return proc


def _in_a_terminal(
    settings: Settings, children: list[subprocess.Popen], *args: str
) -> subprocess.Popen[str]:
    """``pinlake ARGS`` as from a user's terminal: a process group of its own (which Ctrl-C,
    ``timeout`` or a scheduler signals whole, its JVMs included), output captured as text."""
    env = settings.child_env()
    env.pop("SPARK_CONF_DIR", None)  # as from a user's shell: get_spark points Spark at its conf
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinlake", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    children.append(proc)
    return proc


def test_exactly_once_across_a_sigkill_a_graceful_stop_and_a_restart(
    spark, stream_home: Settings, tmp_path: Path, children: list[subprocess.Popen]
) -> None:
    from pinlake.services import stream_process

    settings = stream_home
    acked = _put(settings, "user", _users(0, 3000, bad_every=250), first_key=0)

    # 1. `pinlake stream` in small micro-batches, killed with SIGKILL once it has landed some
    # (in --available-now mode: it registers the raw tables itself, no helper JVM, no warm-up)
    log = tmp_path / "stream.log"
    killed = _pinlake(
        settings, log, children, "stream", "--available-now", "--max-records-per-batch", "100"
    )
    _wait_for(lambda: _committed_rows(settings) > 0, 180, f"a first micro-batch ({log})")
    killed.send_signal(signal.SIGKILL)
    killed.wait(30)
    before_restart = sum(_landed(spark, settings).values())
    assert 0 < before_restart < len(acked)  # cut short: 3000 records take 30 micro-batches
    acked |= _put(settings, "user", _users(3000, 500, bad_every=100), first_key=3000)

    # 2. the service (`services up` starts it): restarts from the checkpoint, catches up
    # (no warm-up: how fast its first micro-batches are is bench/bench_stream.py's business)
    pid = stream_process.start(settings, trigger_seconds=0.5, warm_up=False)  # teardown stops it
    stream_process.wait_running(settings, timeout=180, pid_=pid)
    _wait_for(
        lambda: _committed_rows(settings) >= len(acked),
        180,
        "the service to catch up",
    )
    state = stream_process.state(settings)
    assert state["state"] == "running" and state["running"]
    assert state["service"] is True  # a second stream stage is told `services down` stops it
    assert state["queries"]["user"]["batch_id"] is not None  # a query per table
    shown = _cli(settings, "services", "status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "stream queries" in shown.stdout and "stream lag" in shown.stdout, shown.stdout
    assert {(p.topic, p.partition) for p in state["lag"]} >= {
        (settings.stream("user"), 0),
        (settings.stream("user"), 1),
    }
    # the API killed and `services up` again, which restarts it and reuses the running query;
    # then the query killed: it was that services up's, so status counts it down (helper-95:
    # "(before this services up)" and exit 0, the query's last state being older than the API)
    _reused_by_an_up_then_killed(settings, pid)
    shown = _cli(settings, "services", "status", columns=400)  # the state cell on one line
    out = " ".join(shown.stdout.split())
    assert shown.returncode == 3, out
    assert "ended without services down" in out and "before this services up" not in out, out
    # the service again, from its checkpoint
    pid = stream_process.start(settings, trigger_seconds=0.5, warm_up=False)
    stream_process.wait_running(settings, timeout=180, pid_=pid)

    # graceful stop: the process ends by itself, having written its final state
    assert stream_process.stop(settings)
    final = stream_process.state(settings)
    assert final["state"] == "stopped" and not final["running"]

    # 3. records put while no query runs (by an AWS SDK client: Kinesis' own protocol) are
    # landed by --available-now, which then stops. First a catch-up cut short by SIGTERM to its
    # process group, its driver JVM included (timeout, systemd, a scheduler's kill): it ended
    # 1 with a py4j traceback blaming the stream query, and by SIGTERM to its pid alone 0, as if
    # it had caught up (helper-48's trial); it ends as terminated, 143, in one line
    acked |= _put(settings, "user", _users(3500, 300, bad_every=50), first_key=3500, sdk=True)
    landed_before = _committed_rows(settings)
    cut = _in_a_terminal(
        settings, children, "stream", "--available-now", "--max-records-per-batch", "10"
    )
    _wait_for(lambda: _committed_rows(settings) > landed_before, 180, "a catch-up's first batch")
    os.killpg(cut.pid, signal.SIGTERM)
    out, _ = cut.communicate(timeout=120)
    assert cut.returncode == 143, out[-3000:]
    assert out.rstrip().endswith("error: terminated"), out[-3000:]
    assert "stopped by a signal before it caught up" in out, out[-3000:]
    assert "Traceback" not in out and "stream query failed" not in out, out[-3000:]
    assert _committed_rows(settings) < len(acked)  # 300 records take 30 micro-batches
    done = _pinlake(settings, tmp_path / "available-now.log", children, "stream", "--available-now")
    assert done.wait(300) == 0, (tmp_path / "available-now.log").read_text()[-3000:]
    # the users' terminal: no JVM or Spark start-up chatter from either `pinlake stream`
    for output in (log.read_text(), (tmp_path / "available-now.log").read_text()):
        assert INCUBATOR not in output
        assert not any(line in output for line in LOG_LEVEL_BANNER)

    landed = _landed(spark, settings)
    duplicates = {d: n for d, n in landed.items() if n > 1}
    assert not duplicates, f"landed more than once: {list(duplicates.items())[:5]}"
    assert set(landed) == acked, (
        f"missing {len(acked - set(landed))}, unexpected {len(set(landed) - acked)}"
    )
    quarantined = spark.read.format("delta").load(
        str(stream_table_path(settings, "stream_quarantine"))
    )
    assert quarantined.count() == 12 + 5 + 6  # every 250th of 3000, 100th of 500, 50th of 300
    assert {r["reason"] for r in quarantined.select("reason").distinct().collect()} == {
        "field 'ind' does not fit type bigint"
    }


def _reused_by_an_up_then_killed(settings: Settings, pid: int) -> None:
    """Kill the API (SIGKILL), run ``services up``'s start (it restarts the API and reuses the
    query ``pid``: asserted), then SIGKILL the query's process alone, as a user's ``kill -9``
    does, and wait until it and its Spark JVM have ended."""
    import psutil

    from pinlake.services import api_process, stream_process
    from pinlake.services.manager import start_all
    from pinlake.services.request import UpRequest

    api = psutil.Process(api_process.pid(settings))
    api.kill()
    api.wait(30)
    start_all(settings, UpRequest(trigger_seconds=0.5), quiet=True)
    assert stream_process.pid(settings) == pid and api_process.pid(settings) not in (None, api.pid)
    query = psutil.Process(pid)
    jvms = query.children(recursive=True)
    query.kill()
    query.wait(30)
    _gone, left = psutil.wait_procs(jvms, timeout=60)
    for child in left:  # its JVM ends with its parent's pipe; never left behind by this test
        child.kill()


def test_stream_refuses_a_second_query_on_the_same_home(stream_home: Settings) -> None:
    """One stream stage per home (one checkpoint): a second `pinlake stream` says so, exits 2."""
    from filelock import FileLock

    from pinlake.lakehouse.stream import checkpoint_dir

    checkpoint_dir(stream_home).parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(checkpoint_dir(stream_home)) + ".lock", timeout=30):
        done = _cli(stream_home, "stream", "--available-now")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: a stream query already runs on"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_stop_during_start_up_is_at_once_and_ctrl_c_once_running_is_graceful(
    stream_home: Settings, tmp_path: Path, children: list[subprocess.Popen]
) -> None:
    """1. ``services down`` (SIGTERM) while the continuous query still starts (its Spark
    session, the table registration beside it) ends it at once: the stage reports the stop,
    writes its state ``stopped``, and leaves no process behind; the registration is ended, not
    waited for (its marker is written only once it is done: the next start registers again).
    2. Ctrl-C in the terminal of a ``pinlake stream`` that runs (SIGINT to its process group,
    its JVMs included) while records arrive is the graceful stop the README promises: the
    running micro-batch finishes, every record the stage counted is committed, the summary is
    printed, exit 0, and no JVM stack trace or Python traceback reaches the terminal (the
    Spark session's own Ctrl-C handler used to take it: the micro-batch cancelled mid-write,
    exit 130, stack traces; then the stop, timed by Spark's trigger flag, cut about one batch
    in three short under this load).
    Its own home and topic prefix on the module's broker: no other test's topics, checkpoint or
    metastore are touched."""
    import threading

    import psutil
    from confluent_kafka import Producer

    from pinlake.lakehouse.stream import read_status
    from pinlake.lakehouse.tables import registered_marker
    from pinlake.services import stream_process

    settings = stream_home.model_copy(update={"home": tmp_path / "home", "topic_prefix": "ctrlc"})
    pid = stream_process.start(settings, trigger_seconds=0.5)
    service = psutil.Process(pid)

    def command(proc: psutil.Process) -> str:
        """Its command line; "" once it has ended (a zombie too: the launcher's short-lived
        children)."""
        try:
            return " ".join(proc.cmdline())
        except psutil.Error:
            return ""

    def starting_beside_its_registration() -> bool:
        kids = service.children(recursive=True)
        registering = [p for p in kids if "pinlake.lakehouse.tables" in command(p)]
        own_jvm = [p for p in service.children() if p not in registering and "java" in command(p)]
        state = read_status(settings) or {}
        return bool(registering and own_jvm) and state.get("state") == "starting"

    try:
        _wait_for(starting_beside_its_registration, 120, "the query's start-up")
        left = service.children(recursive=True)
    finally:
        assert stream_process.stop(settings)  # SIGTERM; SIGKILL only after STOP_TIMEOUT s
    _gone, alive = psutil.wait_procs(left, timeout=30)  # the JVMs' own shutdown
    assert not alive, [p.cmdline()[:3] for p in alive]
    log = (settings.logs_dir / "stream.log").read_text()
    result = json.loads(log.strip().splitlines()[-1])  # printed only by a stage that ended
    assert result["stopped"] == "stopped by a signal during start-up", log[-3000:]
    assert "Traceback" not in log, log[-3000:]  # py4j's record of the call the stop broke
    assert result["batches"] == 0
    assert (read_status(settings) or {}).get("state") == "stopped"
    assert not registered_marker(settings).exists()

    # 2. `pinlake stream` as from a terminal: a process group of its own that Ctrl-C signals
    terminal = _in_a_terminal(settings, children, "stream", "--no-warm-up")

    def running() -> bool:
        state = read_status(settings) or {}
        return state.get("state") == "running" and state.get("pid") == terminal.pid

    _wait_for(running, 180, "`pinlake stream` to run")
    # `services status` shows it as running, though no pid file names it (a trial saw "died")
    shown = stream_process.state(settings, kafka_answers=False)
    assert (shown["state"], shown["running"], shown.get("foreground")) == ("running", True, True)
    sending = threading.Event()
    sending.set()

    def produce() -> None:  # records keep arriving while Ctrl-C comes
        producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
        ind = 0
        while sending.is_set():
            for _ in range(50):
                user = {"ind": ind, "first_name": "F", "last_name": "L", "age": 30}
                producer.produce(settings.stream("user"), json.dumps(user).encode(), b"k")
                ind += 1
            producer.flush(10)
            time.sleep(0.05)

    sender = threading.Thread(target=produce, daemon=True)
    sender.start()
    try:
        _wait_for(lambda: _committed_rows(settings) > 0, 120, "a first micro-batch")
        os.killpg(terminal.pid, signal.SIGINT)  # Ctrl-C
        out, _ = terminal.communicate(timeout=120)
    finally:
        sending.clear()
        sender.join(30)
    assert terminal.returncode == 0, out[-3000:]
    assert "stopped by a signal" in out and "during start-up" not in out, out[-3000:]
    assert "Traceback" not in out and "\tat " not in out and "ERROR" not in out, out[-3000:]
    final = read_status(settings) or {}
    assert final.get("state") == "stopped" and final["service"] is False  # a terminal's
    counted = sum(final["records"].values()) + sum(final["quarantined"].values())
    assert counted > 0 and _committed_rows(settings) == counted  # the last batch written whole


def test_a_service_query_that_fails_records_its_reason_and_its_log(
    stream_home: Settings, tmp_path: Path
) -> None:
    """helper-113: a service's query that failed with pinlake's own error (a master that does
    not answer) left ``error: see the log`` in its state, which ``services status`` showed,
    naming no log. The state holds the reason and the service's log. (The service's process,
    as ``services up`` starts it; it fails before any JVM starts.)"""
    from pinlake.lakehouse.stream import read_status
    from pinlake.services.process import free_ports
    from pinlake.spark import session_env

    (port,) = free_ports(1)  # nothing listens there
    settings = stream_home.model_copy(update={"home": tmp_path / "home", "topic_prefix": "x"})
    env = {**session_env(settings), "PINLAKE_SPARK_MASTER": f"spark://127.0.0.1:{port}"}
    done = subprocess.run(
        [sys.executable, "-m", "pinlake.lakehouse.stream"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    state = read_status(settings) or {}
    assert state.get("state") == "failed", state
    error = state.get("error", "")
    assert error.startswith(f"the Spark master spark://127.0.0.1:{port} does not answer"), error
    assert error.endswith(f" (log: {settings.logs_dir / 'stream.log'})"), error


def test_a_query_that_fails_at_its_start_fails_the_start(
    stream_home: Settings, tmp_path: Path
) -> None:
    """`services up` reported ✓ when the stream query failed a second later, reading a damaged
    checkpoint (helper-48's trial: Spark's MALFORMED_LOG_FILE). The stage now reports
    ``running`` only once every query has read its checkpoint: the service ends, and its
    start fails with the query's error in the message. Its own home and topic prefix."""
    from pinlake.errors import PinlakeError
    from pinlake.lakehouse.stream import checkpoint_dir, read_status
    from pinlake.services import stream_process

    settings = stream_home.model_copy(update={"home": tmp_path / "home", "topic_prefix": "damaged"})
    offsets = checkpoint_dir(settings) / "pin" / "offsets"
    offsets.mkdir(parents=True)
    (offsets.parent / "metadata").write_text('{"id":"0a6c1f8e-1d59-4b1e-9a57-4f3c0e3d9b21"}\n')
    (offsets / "0").write_text("not an offset log\n")
    pid = stream_process.start(settings, trigger_seconds=0.5, warm_up=False)
    with pytest.raises(PinlakeError) as raised:
        stream_process.wait_running(settings, timeout=180, pid_=pid)
    text = str(raised.value)
    assert text.startswith("the stream query exited during start-up"), text
    assert "MALFORMED_LOG_FILE" in text, text  # the reason, from the service's log
    assert "Traceback" not in text
    state = read_status(settings) or {}
    assert state.get("state") == "failed" and "MALFORMED_LOG_FILE" in state.get("error", "")
