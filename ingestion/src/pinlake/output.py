"""The output folder of a command that writes files (``pinlake export``, ``pinlake report``),
checked before any work starts, so that a folder that cannot be written fails in one line
before Spark does (seconds to a minute) instead of after it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pinlake.errors import UsageError


def output_folder(path: Path, option: str = "--out") -> Path:
    """``path`` made absolute, once it is a folder that this process can write files in, or one
    that can be created there. Checked by creating a temporary folder in it (or in its nearest
    existing parent) and removing it again: permission bits do not tell (root may write
    anywhere by them, but not under ``/proc`` or on a read-only file system). Nothing is left.

    Raises :class:`UsageError` naming ``option``: the path (or a parent) is not a folder, or no
    file can be made there (with the OS's reason)."""
    out = path.expanduser().resolve()
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{option} {out} exists and is not a folder")
        probe_in = out
    else:
        probe_in = next(parent for parent in out.parents if parent.exists())
        if not probe_in.is_dir():
            raise UsageError(f"{option} {out} cannot be created: {probe_in} is not a folder")
    try:
        with tempfile.TemporaryDirectory(prefix=".pinlake-probe-", dir=probe_in):
            pass
    except OSError as exc:
        raise UsageError(
            f"{option} {out} cannot be written: no folder can be made in {probe_in}"
            f" ({exc.strerror or exc})"
        ) from None
    return out
