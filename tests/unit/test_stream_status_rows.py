"""``services status``'s stream block: a query's row names its last micro-batch, and a query that
has run none yet shows ``-`` for the batch and its time, not an empty trigger's (a new user saw
"0 micro-batch(es) since start" above rows with an empty batch and 11-22 ms)."""

from __future__ import annotations

from pinlake.console import console
from pinlake.services.manager import _print_stream_state


def _row(shown: str, name: str) -> list[str]:
    [line] = [line for line in shown.splitlines() if line.strip("│ ").startswith(name)]
    return [cell.strip() for cell in line.strip("│").split("│")]


def _shown(queries: dict) -> str:
    with console.capture() as capture:
        _print_stream_state({"batches": 3, "queries": queries})
    return capture.get()


def test_a_query_without_a_micro_batch_shows_no_batch_and_no_time():
    shown = _shown(
        {
            "pin": {"batch_id": None, "rows": 0, "duration_ms": {"triggerExecution": 11}},
            "geo": {"batch_id": 2, "rows": 40, "duration_ms": {"triggerExecution": 950}},
        }
    )
    assert _row(shown, "pin") == ["pin", "-", "0", "0", "0", "-"]
    assert _row(shown, "geo") == ["geo", "2", "40", "0", "0", "950"]


def test_batch_zero_is_a_batch():
    shown = _shown({"user": {"batch_id": 0, "rows": 5, "duration_ms": {"triggerExecution": 70}}})
    assert _row(shown, "user") == ["user", "0", "5", "0", "0", "70"]
