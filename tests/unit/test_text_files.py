"""A user's text file (reference data, a sequence file) is read as UTF-8 by one rule
(pinlake.text_files): a byte-order mark dropped, a line that is not UTF-8 named."""

from __future__ import annotations

import pytest

from pinlake.errors import PinlakeError
from pinlake.text_files import utf8_lines


def test_lines_are_utf8_with_a_byte_order_mark_dropped(tmp_path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbfind,name\r\n1,Jos\xc3\xa9\n2,\xef\xbb\xbfx")
    assert list(utf8_lines(path)) == ["ind,name\r\n", "1,José\n", "2,\ufeffx"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"ind,name\n1,Jos\xe9\n", ":2: not UTF-8 text (byte 0xe9 at column 6)"),  # Latin-1
        ("ind\n1\n".encode("utf-16"), ":1: not UTF-8 text (byte 0xff at column 1)"),  # UTF-16
    ],
)
def test_a_line_that_is_not_utf8_is_named(tmp_path, data: bytes, where: str) -> None:
    """helper-92: ``source load`` and ``--sequence-file`` of a Latin-1 or UTF-16 file gave a
    ``UnicodeDecodeError`` traceback."""
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(PinlakeError) as raised:
        list(utf8_lines(path))
    assert str(raised.value) == f"{path}{where}: save the file as UTF-8"


def test_the_readers_use_it(tmp_path) -> None:
    """The reference readers and the sequence file name such a line (no traceback), read a
    byte-order mark's file, and refuse an index beyond a source row's (an OverflowError)."""
    from pinlake.errors import UsageError
    from pinlake.produce.events import read_sequence_file
    from pinlake.source.reference import read_csv, read_jsonl

    latin = tmp_path / "user_data.csv"
    latin.write_bytes(b"ind,first_name,last_name,age,date_joined\n1,Jos\xe9,B,3,2016-01-01\n")
    with pytest.raises(PinlakeError, match=r"user_data.csv:2: not UTF-8 text"):
        list(read_csv(latin, "user"))
    pins = tmp_path / "pinterest_data.jsonl"
    pins.write_bytes(b'{"index": 1, "title": "Jos\xe9"}\n')
    with pytest.raises(PinlakeError, match=r"pinterest_data.jsonl:1: not UTF-8 text"):
        list(read_jsonl(pins))
    sequence = tmp_path / "seq.csv"
    sequence.write_bytes(b"\xef\xbb\xbf1\n2\n3\n")  # one column, no header: 1 is an index
    assert read_sequence_file(sequence) == [1, 2, 3]
    sequence.write_bytes(b"draw,ind\n1,\xe9\n")
    with pytest.raises(PinlakeError, match=r"seq.csv:2: not UTF-8 text"):
        read_sequence_file(sequence)
    sequence.write_text("draw,ind\n1,99999999999999999999999\n")
    with pytest.raises(PinlakeError, match=r"seq.csv:2: index 9+ is beyond any source row's"):
        read_sequence_file(sequence)
    with pytest.raises(UsageError, match="is a folder"):
        read_sequence_file(tmp_path)
