"""The sink's decisions without Kafka: when a partition's records become a file, re-deliveries
rewrite the identical file, and when a --once run has caught up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pinlake.bucket.layout import BucketFile
from pinlake.bucket.sink import FlushPolicy, SinkOptions, lost_files, record_line
from pinlake.cli import main
from pinlake.errors import UsageError

P0 = ("pinterest.pin", 0)
P1 = ("pinterest.geo", 0)


def test_a_buffer_flushes_at_flush_size() -> None:
    policy = FlushPolicy(flush_size=3, flush_interval=60)
    assert [policy.add(P0, o, b"{}", now=0.0, existing=None) for o in range(3)] == [
        False,
        False,
        True,
    ]
    buf = policy.flushed(P0)
    assert (buf.first, buf.last, len(buf.lines)) == (0, 2, 3)
    assert policy.committed[P0] == 3 and P0 not in policy.buffers


def test_a_redelivery_is_cut_at_the_existing_files_size() -> None:
    """A file starting at the offset exists (crash between rename and commit): the buffer
    is flushed at exactly that file's record count, whatever flush_size says."""
    policy = FlushPolicy(flush_size=1000, flush_interval=0.0)
    assert not policy.add(P0, 10, b"a", now=0.0, existing=2)
    assert policy.due(now=100.0) == []  # never flushed by time: it must reach its size
    assert policy.add(P0, 11, b"b", now=0.0, existing=None)


def test_duplicates_within_a_buffer_are_dropped_and_old_buffers_are_due() -> None:
    policy = FlushPolicy(flush_size=10, flush_interval=5.0)
    policy.add(P0, 0, b"a", now=0.0, existing=None)
    policy.add(P0, 0, b"a", now=1.0, existing=None)
    assert policy.buffers[P0].lines == [b"a"]
    policy.add(P1, 4, b"x", now=3.0, existing=None)
    assert policy.due(now=6.0) == [P0]
    assert sorted(policy.due(now=8.0)) == sorted([P0, P1])


def test_caught_up_counts_buffered_and_committed_records() -> None:
    policy = FlushPolicy(flush_size=10, flush_interval=5.0)
    policy.targets = {P0: 3, P1: 0}
    policy.committed = {P0: 1, P1: 0}
    assert not policy.caught_up() and policy.behind() == [P0]
    policy.add(P0, 1, b"a", now=0.0, existing=None)
    assert not policy.caught_up()
    policy.add(P0, 2, b"b", now=0.0, existing=None)
    assert policy.caught_up()  # the rest is buffered: flush it and stop
    policy.drop(P0)  # revoked before the flush: nothing of it counts
    assert not policy.caught_up()


def test_records_the_group_committed_meanwhile_count_as_written() -> None:
    """helper-88: a second ``sink --once`` of the same bucket (one consumer group) waited for
    records the first had written and committed: its consumer starts where the group committed
    and never reads them. Its targets come from before; the group's commits, read again, count."""
    policy = FlushPolicy(flush_size=10, flush_interval=5.0)
    policy.targets = {P0: 7, P1: 4}
    policy.committed = {P0: 2, P1: 4}
    assert policy.behind() == [P0] and policy.reached(P0) == 2
    policy.group_committed(P0, 1)  # never backwards
    assert policy.reached(P0) == 2
    policy.add(P0, 2, b"a", now=0.0, existing=None)
    policy.group_committed(P0, 7)  # the other sink wrote up to the target
    assert policy.caught_up() and policy.reached(P0) == 7


def test_record_lines_keep_one_record_per_line() -> None:
    assert record_line(None) == b"null"
    assert record_line(b'{"a":\n1,\r\n"b":2}') == b'{"a": 1,  "b":2}'
    assert record_line(b"") == b""


def test_a_local_bucket_exists_once_the_sink_has_run_even_with_nothing_to_write(tmp_path) -> None:
    """`sink --once` of empty topics named its bucket in its summary; `land` then said the
    bucket does not exist. The sink creates a local bucket before it consumes; a file in the
    way is one clear error."""
    import pytest

    from pinlake.bucket.sink import BucketSink, SinkOptions
    from pinlake.config import Settings
    from pinlake.errors import PinlakeError

    settings = Settings(home=tmp_path / "home")
    bucket = tmp_path / "new" / "bucket"
    BucketSink(settings, SinkOptions(once=True, bucket=str(bucket)))._check_bucket()
    assert bucket.is_dir()
    (tmp_path / "a-file").write_text("x")
    # the file system's words were "cannot be created: File exists" (helper-53's trial); the
    # producer's the same ("cannot use bucket …: File exists"): one rule (pinlake.output)
    from pinlake.produce import ProduceToBucket
    from pinlake.produce.bucket import write_events

    for bucket, said in (
        (tmp_path / "a-file", f"bucket {tmp_path / 'a-file'} exists and is not a folder"),
        (tmp_path / "a-file" / "b", f"cannot be created: {tmp_path / 'a-file'} is not a folder"),
    ):
        with pytest.raises(PinlakeError, match=re.escape(said)):
            BucketSink(settings, SinkOptions(once=True, bucket=str(bucket)))._check_bucket()
        with pytest.raises(PinlakeError, match=re.escape(said)):
            write_events(settings, iter([]), ProduceToBucket(bucket=str(bucket)))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        # Typer's bound check let nan through to "Input should be greater than or equal to 0.1"
        ("nan", "nan is not a finite number of seconds of at least 0.1"),
        # inf never flushed a partial file of a continuous sink
        ("inf", "inf is not a finite number of seconds of at least 0.1"),
        ("0.05", "0.05 is not a finite number of seconds of at least 0.1"),
    ],
)
def test_the_cli_refuses_a_flush_interval_in_one_line(tmp_path, capsys, value, why) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "sink", "--once", "--flush-interval", value])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: Invalid value for '--flush-interval': {why}\n"


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"flush_interval": float("nan")}, "flush interval: nan is not a finite number"),
        ({"flush_interval": float("inf")}, "flush interval: inf is not a finite number"),
        ({"flush_interval": 0.0}, "flush interval: 0 is not a finite number"),
        ({"flush_size": 0}, "flush size: 0 is not a record count of at least 1"),
    ],
)
def test_every_caller_of_the_sink_gets_the_same_rules(options, why) -> None:
    """The DAGs, the demo and the benchmarks build SinkOptions without the CLI."""
    with pytest.raises(UsageError, match=re.escape(why)):
        SinkOptions(**options)
    assert SinkOptions(flush_interval=0.1, flush_size=1).flush_interval == 0.1


def test_lost_files_are_committed_partitions_whose_bucket_files_are_gone() -> None:
    """helper-62: after the in-memory S3 server restarted, the sink's group still had its
    commits, so ``sink --once`` wrote nothing into the empty bucket and said "✓ 0 records".
    Partitions whose committed offset the bucket's files no longer reach are named."""

    def file(topic: str, partition: int | None, first: int | None) -> BucketFile:
        return BucketFile(topic, Path(f"{topic}-{partition}-{first}"), partition, first)

    committed = {("t", 0): 1635, ("t", 1): 200, ("t", 2): 0, ("t", 3): -1001, ("u", 0): 50}
    files = [
        file("t", 1, 100),
        file("t", 1, 0),  # partition 1 still has its first file
        file("u", 0, 50),  # only what a producer wrote after the commit (helper-62's #4)
        file("t", 0, None),  # a stray file of partition 0: no offsets
    ]
    assert lost_files(committed, files) == {("t", 0): 1635, ("u", 0): 50}
    assert lost_files(committed, [*files, file("u", 0, 0), file("t", 0, 1000)]) == {}


def test_the_summary_names_a_bucket_as_it_is_spelled(tmp_path) -> None:
    """A bucket ``…/w[bold]x`` was printed ``…/wx``: the path was read as rich markup."""
    from pinlake.bucket.sink import SinkOptions, SinkResult, _print_summary
    from pinlake.config import Settings
    from pinlake.console import console

    bucket = tmp_path / "w[bold]x"
    with console.capture() as capture:
        _print_summary(
            Settings(home=tmp_path / "home"), SinkOptions(bucket=bucket), SinkResult(3, 1), "✓"
        )
    assert capture.get() == f"✓ sink: 3 records in 1 file → {bucket} (0.0s)\n"
