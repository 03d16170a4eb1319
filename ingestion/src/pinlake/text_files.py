"""Reading a text file a user gives (reference data, a sequence file): UTF-8, line by line.

One rule for every such file: a leading byte-order mark (a spreadsheet's "UTF-8 CSV") is no part
of the text, and a line that is not UTF-8 is named with its file, line and byte, where Python's
decoder raised a ``UnicodeDecodeError`` traceback (a Latin-1 ``José`` or a UTF-16 file:
helper-92). Pure but for reading the file; no pinlake import beyond its errors.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

from pinlake.errors import PinlakeError


def utf8_lines(path: Path) -> Iterator[str]:
    """The lines of ``path`` (each with its line break), decoded as UTF-8, a byte-order mark at
    its start dropped. Raises PinlakeError (``<path>:<line>: not UTF-8 text …``) at the first
    line that is not UTF-8; OSError when the file cannot be read."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PinlakeError(
                    f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1}): save the file as UTF-8"
                ) from None
