"""The topic sink: Confluent S3 sink layout, atomic files, exactly once across a kill -9."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time

import orjson
import pytest
from ingestion_helpers import BINARY_V2, JSON_V2, bucket_lines, marked

from pinlake.bucket.sink import BucketSink, SinkOptions, run_sink
from pinlake.console import PINLAKE

pytestmark = pytest.mark.kafka


def produce(api, topic: str, marker: str, n: int, batch: int = 100) -> None:
    for start in range(0, n, batch):
        recs = [{"value": {"m": marker, "i": i}} for i in range(start, min(n, start + batch))]
        resp = api.post(
            f"/topics/{topic}",
            content=orjson.dumps({"records": recs}),
            headers={"content-type": JSON_V2},
        )
        assert resp.status_code == 200, resp.text


def _unwritten_error(settings, options: SinkOptions) -> str:
    """The one error of a sink run (:func:`run_sink`) that could not write one partition, its
    whitespace folded; its opening words checked."""
    from pinlake.errors import PinlakeError

    with pytest.raises(PinlakeError) as raised:
        run_sink(settings, options)
    text = " ".join(str(raised.value).split())
    assert text.startswith("the sink stopped without writing what it had read of 1 partition")
    return text


def test_sink_layout_and_invalid_json_is_kept(kafka_services, api, marker, tmp_path):
    topic = kafka_services.topic("user")
    produce(api, topic, marker, 25)
    junk = base64.b64encode(b"not json {" + marker.encode()).decode()
    multi = base64.b64encode(b'{"m": "%s",\n "i": 25}' % marker.encode()).decode()
    resp = api.post(
        f"/topics/{topic}",
        content=orjson.dumps({"records": [{"value": junk}, {"value": multi}]}),
        headers={"content-type": BINARY_V2},
    )
    assert resp.status_code == 200
    bucket = tmp_path / "bucket"
    options = SinkOptions(once=True, bucket=bucket, flush_size=10, flush_interval=60)
    result = BucketSink(kafka_services, options).run()
    assert result.records >= 27
    pdir = bucket / "topics" / topic / "partition=0"
    files = sorted(p.name for p in pdir.iterdir())
    assert files and all(n.startswith(f"{topic}+0+") and n.endswith(".json") for n in files)
    assert all(len(n.split("+")[2]) == len("0000000000.json") for n in files)
    assert files[0] == f"{topic}+0+0000000000.json"
    assert not [n for n in files if n.startswith(".")]  # no temp files left
    lines = bucket_lines(bucket, topic)
    assert marked(lines, marker) == {i: 1 for i in range(26)}
    assert b"not json {" + marker.encode() in lines
    # names follow first offsets: each file starts where the previous one ended
    offsets = [int(n.split("+")[2][:10]) for n in files]
    sizes = [len((pdir / n).read_bytes().splitlines()) for n in files]
    assert all(a + s == b for a, s, b in zip(offsets, sizes, offsets[1:], strict=False))
    # a second --once run is caught up and writes nothing
    again = BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=10)).run()
    assert again.records == 0


def test_a_bucket_that_lost_the_files_the_sink_committed_is_a_warning(
    kafka_services, api, marker, tmp_path, capsys
):
    """helper-62: the in-memory S3 server restarted empty, and ``sink --once`` said "✓ 0
    records" over a bucket without the records its group had committed. The sink warns for
    each partition whose files are gone (it does not write them again)."""
    import shutil

    topic = kafka_services.topic("geo")
    produce(api, topic, marker, 12)
    bucket = tmp_path / "bucket"
    BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=5)).run()
    assert "warning" not in capsys.readouterr().err  # a new bucket: nothing committed before
    shutil.rmtree(bucket / "topics" / topic)
    again = BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=5)).run()
    err = " ".join(capsys.readouterr().err.split())
    assert again.topics[topic] == 0  # nothing new to write: the records stay lost here
    assert f"warning: the bucket holds no file of {topic}[0] below offset " in err, err
    assert "the sink does not write those records again" in err
    assert err.count("warning:") == 1  # the other topics' files are there


def test_redelivery_rewrites_the_same_files(kafka_services, api, marker, tmp_path):
    """A new consumer group re-reading into the same bucket (as after a crash between rename and
    commit) cuts batches at the existing files: identical files, never overlapping records."""
    topic = kafka_services.topic("pin")
    produce(api, topic, marker, 40)
    bucket = tmp_path / "bucket"
    BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=10)).run()
    pdir = bucket / "topics" / topic / "partition=0"
    before = {p.name: p.read_bytes() for p in pdir.iterdir()}
    other = SinkOptions(once=True, bucket=bucket, flush_size=50, group_id=f"other-{marker}")
    BucketSink(kafka_services, other).run()
    after = {p.name: p.read_bytes() for p in pdir.iterdir()}
    assert after == before
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(40)}


def test_two_sinks_of_one_bucket_at_once_both_catch_up(kafka_services, api, marker, tmp_path):
    """helper-88: ``sink --once &`` then ``sink --once`` 0.3 s later: the first wrote every
    record; the second waited 60 s for records its group had committed meanwhile, then failed
    (``sink made no progress for 60s``). Both now end caught up, every record in the bucket
    once."""
    import threading

    topic = kafka_services.topic("geo")
    produce(api, topic, marker, 30)
    bucket = tmp_path / "bucket"
    results: dict[str, object] = {}

    def sink(name: str) -> None:
        try:
            results[name] = BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket)).run()
        except Exception as exc:  # recorded, asserted below
            results[name] = exc

    threads = [threading.Thread(target=sink, args=(name,)) for name in ("first", "second")]
    threads[0].start()
    time.sleep(0.3)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    assert sum(r.topics[topic] for r in results.values()) >= 30  # together, all of them
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(30)}


def _sink_process(settings, bucket, *extra):
    env = dict(os.environ)
    env.update(
        PINLAKE_HOME=str(settings.home),
        PINLAKE_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
    )
    argv = [sys.executable, "-m", "pinlake", "sink", "--bucket", str(bucket), *extra]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_sink_killed_mid_run_then_restarted_is_exactly_once(kafka_services, api, marker, tmp_path):
    topic = kafka_services.topic("geo")
    n = 3000
    produce(api, topic, marker, n, batch=500)
    bucket = tmp_path / "bucket"
    proc = _sink_process(kafka_services, bucket, "--flush-size", "13", "--flush-interval", "30")
    try:
        pdir = bucket / "topics" / topic / "partition=0"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pdir.exists() and len(list(pdir.glob("*.json"))) >= 20:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    partial = len(list(pdir.glob("*.json")))
    assert partial >= 20
    done = _sink_process(kafka_services, bucket, "--once", "--flush-size", "250")
    out, _ = done.communicate(timeout=120)
    assert done.returncode == 0, out.decode()
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(n)}
    assert not list(pdir.glob(".*"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_continuous_sink_stops_gracefully_on_a_signal(kafka_services, api, marker, tmp_path, sig):
    """A continuous `pinlake sink`'s normal end is Ctrl-C or SIGTERM: it writes what it read,
    the records still in its buffer too, prints its summary and exits 0 (README, "Ctrl-C"; a
    ``--once`` run cut short ends as interrupted instead: tests/unit/test_interrupts.py).

    The worker's broker holds the records of the tests that ran on it before, in whatever
    order (a backlog of 20,000 records in the topic had the signal sent before the sink had
    read this test's): a ``--once`` run on the bucket writes and commits them first, so that
    the continuous run (the bucket's consumer group) reads this test's 35 records alone."""
    topic = kafka_services.topic("user")
    bucket = tmp_path / "bucket"
    pdir = bucket / "topics" / topic / "partition=0"
    run_sink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=10_000))
    backlog = set(pdir.glob("*.json"))
    produce(api, topic, marker, 35, batch=35)
    proc = _sink_process(kafka_services, bucket, "--flush-size", "10", "--flush-interval", "600")
    try:
        deadline = time.monotonic() + 60
        while len(set(pdir.glob("*.json")) - backlog) < 3:  # consuming ours by then
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    text = " ".join(out.decode().split())
    assert proc.returncode == 0, text
    assert "✓ sink: " in text and "stopped before" not in text, text
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(35)}


def test_sink_never_overwrites_files_another_writer_put_in_its_bucket(
    kafka_services, api, marker, tmp_path
):
    """Files the sink did not write under the names it writes, in a bucket no writer claimed
    (one written before buckets recorded their writer, or a topic deleted and created again):
    the sink stops with one clear error instead of replacing them (which lost the other
    writer's records)."""
    from pinlake.bucket.layout import PartitionWriter, list_files
    from pinlake.errors import PinlakeError

    topic = kafka_services.topic("geo")
    produce(api, topic, marker, 5)
    bucket = tmp_path / "bucket"
    writer = PartitionWriter(bucket, topic, 0, flush_size=1000)
    for i in range(3):
        writer.append(b'{"ind": %d, "by": "producer"}' % i)
    writer.flush()
    before = {f.path: f.path.read_bytes() for f in list_files(bucket, topic)}
    with pytest.raises(PinlakeError, match="another writer") as info:
        run_sink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=10))
    assert "bucket of its own" in str(info.value)
    assert "or the topic was deleted and created again" in str(info.value)  # the other cause
    assert {f.path: f.path.read_bytes() for f in list_files(bucket, topic)} == before


def test_the_sink_refuses_a_producers_bucket_before_it_reads_a_record(
    kafka_services, api, marker, tmp_path
):
    """A user who first ran `produce --to bucket` and then `sink` on the same bucket: the
    bucket is the producer's (pinlake.bucket.layout.claim_writer), so the sink stops at its
    start with one line, writes nothing and commits nothing; a bucket of its own then gets
    every record: the refused run committed none."""
    from pinlake.bucket.layout import PRODUCER, WRITER_FILE, claim_writer, list_files
    from pinlake.errors import PinlakeError

    topic = kafka_services.topic("user")
    produce(api, topic, marker, 4)
    bucket = tmp_path / "direct"
    producers = tmp_path / "producer's home"
    assert claim_writer(bucket, PRODUCER, producers) is None  # as `produce --to bucket` does
    options = SinkOptions(once=True, bucket=bucket, flush_size=10)
    with pytest.raises(
        PinlakeError,
        match=re.escape(f"is written by pinlake's `produce --to bucket` of the home {producers} ("),
    ) as info:
        run_sink(kafka_services, options)
    # the refused command again with --bucket (a `sink --once` stays one), then land of that
    # bucket on this home (helper-82: its commands had no --once and no --home)
    assert str(info.value).endswith(
        "Give the sink a bucket of its own: the same command with --bucket DIR (or "
        f"PINLAKE_BUCKET), then `{PINLAKE} land --bucket DIR`"
    )
    assert list_files(bucket, topic) == []
    (bucket / WRITER_FILE).unlink()  # the user gives the bucket to the sink
    run_sink(kafka_services, options)  # the bucket's own consumer group: nothing committed
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(4)}


def test_a_stopping_sink_reports_a_buffer_it_cannot_write(kafka_services, api, marker, tmp_path):
    """A sink stopped while a partition's buffer cannot be written (here a file stands where
    the topic's folder goes) reports that partition and its offsets in its result (the CLI's
    error: tests/unit/test_interrupts.py) instead of dropping the error; the records stay
    uncommitted in Kafka, and the next run writes every one of them."""
    import threading

    topic = kafka_services.topic("pin")
    produce(api, topic, marker, 20, batch=20)
    bucket = tmp_path / "bucket"
    (bucket / "topics").mkdir(parents=True)
    stop = threading.Event()
    options = SinkOptions(bucket=bucket, flush_size=100_000, flush_interval=600)
    sink = BucketSink(kafka_services, options, stop)
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(sink.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (  # our 20 records are in the partition's buffer
            (buf := sink.policy.buffers.get((topic, 0))) is not None
            and sum(marker.encode() in line for line in list(buf.lines)) == 20
        ):
            assert thread.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.05)
        (bucket / "topics" / topic).write_text("in the way")
    finally:
        stop.set()
        thread.join(timeout=60)
    (result,) = outcome
    assert list(result.unwritten) == [f"{topic}[0]"]
    assert result.unwritten[f"{topic}[0]"].startswith("from offset 0: cannot write the topics")
    assert result.topics[topic] == 0
    # a sink that meets it while it runs ends with one error that says the same (it printed the
    # file system's words alone, through the CLI's catch-all: helper-51's trial)
    text = _unwritten_error(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=1000))
    assert f"({topic}[0]: from offset 0: " in text, text
    assert "cannot write the topics bucket: " in text and "Not a directory" in text, text
    assert text.endswith(
        f"those records stay uncommitted in Kafka: the next `{PINLAKE} sink` writes them"
    )
    (bucket / "topics" / topic).unlink()
    done = BucketSink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=1000)).run()
    assert done.unwritten == {}
    assert marked(bucket_lines(bucket, topic), marker) == {i: 1 for i in range(20)}


def test_a_buffer_the_sink_cannot_write_stops_it_after_it_writes_the_others(
    kafka_services, api, marker, tmp_path, capsys
):
    """A continuous sink that cannot write a partition's file while it runs stops (it does not
    keep consuming past a failing bucket), first writing what it read of the other partitions,
    prints its ✗ summary and ends with one error naming the partition and its offsets; it
    printed no summary and left the other buffers unwritten (helper-51's trial). The records
    stay uncommitted in Kafka: the next run writes every one of them, once."""
    pin, geo = kafka_services.topic("pin"), kafka_services.topic("geo")
    produce(api, geo, marker, 30, batch=30)
    produce(api, pin, marker, 20, batch=20)
    bucket = tmp_path / "bucket"
    (bucket / "topics").mkdir(parents=True)
    (bucket / "topics" / pin).write_text("in the way")  # pin's folder cannot be made
    options = SinkOptions(bucket=bucket, flush_size=100_000, flush_interval=2)
    text = _unwritten_error(kafka_services, options)  # continuous: it ends by itself
    assert f"({pin}[0]: " in text and "Not a directory" in text, text
    assert "stay uncommitted in Kafka" in text, text
    out = " ".join(capsys.readouterr().out.split())
    assert "✗ sink: " in out and "✓" not in out, out
    assert marked(bucket_lines(bucket, geo), marker) == {i: 1 for i in range(30)}
    (bucket / "topics" / pin).unlink()
    run_sink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=1000))
    assert marked(bucket_lines(bucket, pin), marker) == {i: 1 for i in range(20)}
    assert marked(bucket_lines(bucket, geo), marker) == {i: 1 for i in range(30)}


def test_a_folder_named_as_the_next_file_stops_the_sink_as_an_unwritable_file(
    kafka_services, api, marker, tmp_path, capsys
):
    """A folder where the sink's next file goes (named ``<topic>+<p>+<offset>.json``) made the
    sink end with the file system's words alone ("Is a directory"), no summary, the other
    topics unwritten (helper-53's trial): the sink reads an existing file of that name to
    verify a re-delivery, and that read failed outside the rule for files it cannot write. It
    is the same stop now: the others written, the ✗ summary, one error naming the partition
    and the offset it stopped at."""
    from pinlake.bucket.layout import file_path

    pin, geo = kafka_services.topic("pin"), kafka_services.topic("geo")
    bucket = tmp_path / "bucket"
    run_sink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=100_000))
    next_pin = sum(1 for _ in bucket_lines(bucket, pin))  # the next offset the sink writes
    produce(api, pin, marker, 10, batch=10)
    produce(api, geo, marker, 15, batch=15)
    in_the_way = file_path(bucket, pin, 0, next_pin)
    in_the_way.mkdir(parents=True)
    capsys.readouterr()
    text = _unwritten_error(
        kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=100_000)
    )
    assert f"({pin}[0]: from offset {next_pin}: " in text, text
    assert "cannot read the topics bucket: " in text and "Is a directory" in text, text
    out = " ".join(capsys.readouterr().out.split())
    assert "✗ sink: " in out, out
    assert marked(bucket_lines(bucket, geo), marker) == {i: 1 for i in range(15)}
    in_the_way.rmdir()
    run_sink(kafka_services, SinkOptions(once=True, bucket=bucket, flush_size=100_000))
    assert marked(bucket_lines(bucket, pin), marker) == {i: 1 for i in range(10)}
