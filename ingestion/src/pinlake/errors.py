"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits non-zero."""

from __future__ import annotations


class PinlakeError(Exception):
    """An expected failure caused by input or environment, with a readable message."""

    exit_code = 1


class UsageError(PinlakeError):
    """Bad arguments (paths, URLs, options)."""

    exit_code = 2
