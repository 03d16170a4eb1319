"""The topics-bucket layout as pure functions: names, parsing, numeric order, record counts."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinlake.bucket.layout import (
    PRODUCER,
    SINK,
    WRITER_FILE,
    claim_writer,
    classify,
    count_records,
    file_name,
    file_path,
    list_files,
    next_offset,
    other_writer,
    parse_file_name,
    read_records,
    write_atomic,
    write_or_verify,
)

topics = st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True)
offsets = st.integers(min_value=0, max_value=10**12)


@given(topics, st.integers(min_value=0, max_value=10_000), offsets)
def test_names_round_trip(topic: str, partition: int, offset: int) -> None:
    name = file_name(topic, partition, offset)
    assert parse_file_name(name) == (topic, partition, offset)
    assert name.endswith(".json") and f"+{partition}+" in name


def test_confluent_names_are_zero_padded_to_ten_digits() -> None:
    assert file_name("pinterest.pin", 0, 0) == "pinterest.pin+0+0000000000.json"
    assert file_name("pinterest.geo", 3, 12_345) == "pinterest.geo+3+0000012345.json"
    assert parse_file_name("pinterest.geo+3+12345.json") == ("pinterest.geo", 3, 12_345)
    assert parse_file_name("pinterest.geo+x+1.json") is None
    assert parse_file_name(".pinterest.geo+0+0000000000.json.77.tmp") is None


def test_files_are_listed_in_offset_order_not_text_order(tmp_path: Path) -> None:
    topic = "pinterest.pin"
    folder = file_path(tmp_path, topic, 0, 0).parent
    folder.mkdir(parents=True)
    # not zero-padded: as text "10" < "9"; as offsets 9 < 10
    for name in (f"{topic}+0+10.json", f"{topic}+0+9.json", "odd.json"):
        (folder / name).write_text("{}\n")
    file_path(tmp_path, topic, 1, 0).parent.mkdir()
    file_path(tmp_path, topic, 1, 0).write_text("{}\n")
    (folder / f".{topic}+0+11.json.1.tmp").write_text("{")
    listed = list_files(tmp_path, topic)
    assert [(f.partition, f.first_offset) for f in listed] == [
        (0, 9),
        (0, 10),
        (0, None),  # odd.json: its folder gives the partition, nothing gives an offset
        (1, 0),
    ]
    assert listed[2].path.name == "odd.json" and "file name is not" in listed[2].problem
    assert [f.problem for f in listed if f.path.name != "odd.json"] == [None, None, None]


@pytest.mark.parametrize(
    ("relative", "problem"),
    [
        ("partition=0/t+0+0000000005.json", None),
        ("partition=0/t+0+0000000005.json.gz", None),
        ("partition=0/t+0+5.json", None),  # not zero-padded: still a number
        ("partition=0/t+0+0000000005.avro", "not a JSON-lines file"),
        ("partition=0/t+0+0000000005.json.bz2", "not a JSON-lines file"),
        ("partition=0/export.json", "file name is not"),
        ("partition=0/t+1+0000000005.json", "file name names topic 't' partition 1"),
        ("partition=0/u+0+0000000005.json", "file name names topic 'u' partition 0"),
        ("t+0+0000000005.json", "not directly in a partition=<p> folder"),
        ("partition=x/t+0+0000000005.json", "not directly in a partition=<p> folder"),
        ("partition=0/sub/t+0+0000000005.json", "not directly in a partition=<p> folder"),
    ],
)
def test_every_file_is_a_layout_file_or_says_which_rule_it_breaks(
    relative: str, problem: str | None
) -> None:
    listed = classify("t", Path("/b/topics/t") / relative, Path(relative))
    if problem is None:
        assert listed.problem is None and listed.first_offset == 5 and listed.partition == 0
    else:
        assert listed.problem.startswith(problem) and listed.first_offset is None


def test_gzip_files_are_read_like_plain_ones(tmp_path: Path) -> None:
    plain = tmp_path / "t+0+0000000000.json"
    plain.write_bytes(b'{"a": 1}\n\n{"a": 2}\n')
    packed = tmp_path / "t+0+0000000003.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_records(plain) == read_records(packed) == [b'{"a": 1}', b"", b'{"a": 2}']
    assert count_records(plain) == count_records(packed) == 3


def test_next_offset_counts_every_delivered_line(tmp_path: Path) -> None:
    topic = "pinterest.user"
    assert next_offset(tmp_path, topic, 0) == 0
    write_atomic(file_path(tmp_path, topic, 0, 0), [b"{}", b"{}"])
    write_atomic(file_path(tmp_path, topic, 0, 2), [b"{}", b"", b"null"])  # a blank record too
    assert count_records(file_path(tmp_path, topic, 0, 2)) == 3
    assert next_offset(tmp_path, topic, 0) == 5
    assert next_offset(tmp_path, topic, 1) == 0


def test_a_redelivered_file_is_verified_and_another_writers_file_is_never_overwritten(
    tmp_path: Path,
) -> None:
    path = file_path(tmp_path, "pinterest.pin", 0, 0)
    assert write_or_verify(path, [b'{"index": 1}', b'{"index": 2}']) is True
    assert write_or_verify(path, [b'{"index": 1}', b'{"index": 2}']) is False  # re-delivery
    with pytest.raises(FileExistsError, match="another writer"):
        write_or_verify(path, [b'{"index": 7}'])
    assert path.read_bytes() == b'{"index": 1}\n{"index": 2}\n'  # untouched


def test_a_writer_that_finishes_first_keeps_its_file_when_both_passed_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``produce --to bucket`` runs into one bucket both checked that a name was free, then
    both renamed their temp file to it: the one that reported success had lost files to the
    other (helper-56's trial, 3 of 5 runs). Here the other writer's file appears while this
    one syncs its temp file, after any check: this one must fail and leave that file as it is,
    and no temp file."""
    import os

    from pinlake.bucket import layout

    path = file_path(tmp_path, "pinterest.pin", 0, 0)
    fsync = os.fsync

    def other_writer_first(fd: int) -> None:
        fsync(fd)
        if not path.exists():
            path.write_bytes(b'{"index": 7}\n')  # the other writer's file, complete

    monkeypatch.setattr(layout.os, "fsync", other_writer_first)
    with pytest.raises(FileExistsError, match="holds other records"):
        write_or_verify(path, [b'{"index": 1}'])
    assert path.read_bytes() == b'{"index": 7}\n'
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_full_disk_names_the_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write``/``fsync`` onto a full disk raise an OSError that names no file: the producer
    ended with two tracebacks (helper-56, a 200 KB tmpfs). The error names the file now, which
    the CLI prints in one line (tests/unit/test_interrupts.py has the CLI's side)."""
    import errno

    from pinlake.bucket import layout

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout.os, "fsync", full)
    path = file_path(tmp_path, "pinterest.pin", 0, 0)
    with pytest.raises(OSError) as raised:
        write_atomic(path, [b'{"index": 1}'])
    assert (raised.value.errno, raised.value.filename) == (errno.ENOSPC, str(path))
    assert list(path.parent.iterdir()) == []


def test_entries_that_are_no_regular_file_are_listed_with_their_problem(tmp_path: Path) -> None:
    """A symbolic link to nothing, a FIFO and a folder named as a layout file were passed over
    in silence (helper-48's trial: land counted none of them), against "every file under
    topics/ is accounted for": each is listed with why it cannot be landed, which land records
    as a rejected file; a layout folder and a writer's temp file are not listed."""
    import os

    from pinlake.bucket.layout import stray_files

    bucket = tmp_path / "bucket"
    good = file_path(bucket, "t", 0, 0)
    write_atomic(good, [b'{"ind": 1}'])
    pdir = good.parent
    dangling = pdir / file_name("t", 0, 4000)
    dangling.symlink_to("/nonexistent/file")
    os.mkfifo(pdir / file_name("t", 0, 5000))
    (pdir / file_name("t", 0, 8000)).mkdir()
    (pdir / ".t+0+0000009000.json.123.tmp").write_bytes(b"{}")
    (bucket / "topics" / "gone.json").symlink_to("/nonexistent/stray")

    listed = {f.path.name: f for f in list_files(bucket, "t")}
    assert set(listed) == {file_name("t", 0, n) for n in (0, 4000, 5000, 8000)}
    assert listed[file_name("t", 0, 0)].problem is None
    link = listed[file_name("t", 0, 4000)]
    assert link.problem == "a symbolic link to /nonexistent/file, which does not exist"
    assert link.path == dangling and link.partition == 0 and link.first_offset is None
    assert listed[file_name("t", 0, 5000)].problem.startswith("not a regular file")
    assert listed[file_name("t", 0, 8000)].problem == "a folder, not a file"
    assert stray_files(bucket) == [bucket / "topics" / "gone.json"]


def test_a_bucket_has_one_writer_the_first_that_claims_it(tmp_path: Path) -> None:
    """``produce --to bucket`` and the sink both name files by offset: the first to claim a
    bucket keeps it, claims again as often as it runs, and the other is named to it; the record
    sits beside ``topics/``, where no layout listing sees it."""
    bucket = tmp_path / "bucket"
    assert other_writer(bucket, PRODUCER) is None  # asking claims nothing
    assert not bucket.exists()
    assert claim_writer(bucket, SINK) is None
    assert other_writer(bucket, SINK) is None
    assert other_writer(bucket, PRODUCER) == f"pinlake's `sink` ({WRITER_FILE})"
    assert claim_writer(bucket, SINK) is None  # its next run
    assert claim_writer(bucket, PRODUCER) == f"pinlake's `sink` ({WRITER_FILE})"
    # the writer is named with its own home, which the record keeps (helper-82: the refused
    # command's home was named as the writer's)
    other = tmp_path / "other"
    assert claim_writer(other, PRODUCER, tmp_path / "h1") is None
    assert claim_writer(other, SINK, tmp_path / "h2") == (
        f"pinlake's `produce --to bucket` of the home {tmp_path / 'h1'} ({WRITER_FILE})"
    )
    assert sorted(p.name for p in other.iterdir()) == [WRITER_FILE]
    assert list_files(other, "pinterest.pin") == []
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / WRITER_FILE).write_bytes(b"not json")
    assert "does not name (it holds b'not json')" in claim_writer(tmp_path / "odd", SINK)
    (tmp_path / "odd" / WRITER_FILE).write_bytes(b"[]")
    assert "does not name (it holds b'[]')" in claim_writer(tmp_path / "odd", SINK)
