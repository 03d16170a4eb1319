"""How many xdist workers ``pytest -n auto`` starts (tests/pinlake_testing.py, the hook in
tests/conftest.py): a front worker per CPU, at least 2, at most 4, and two back workers, as many
as memory allows but never fewer than 2; and which of them are back workers."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pinlake_testing import (
    BACK_XDIST_WORKERS,
    MAX_XDIST_WORKERS,
    XDIST_WORKER_MEMORY,
    TwoEndedScopeScheduling,
    back_workers,
    usable_cpus,
    xdist_workers,
)

GIB = 2**30


@pytest.mark.parametrize(
    ("cpus", "memory_gib", "workers"),
    [
        (2, 24, 4),  # the CI machine: two front workers, as before, and two back workers
        (1, 24, 4),  # one CPU: still the golden unit beside the rest, and the back workers
        (3, 24, 5),
        (8, 64, MAX_XDIST_WORKERS + 2),  # more would only start more Spark sessions
        (8, 12, 3),  # memory-bound: 12 GiB hold three slots
        (8, 4, 2),  # never fewer than two
    ],
)
def test_workers_follow_cpus_and_memory_within_two_and_six(
    cpus: int, memory_gib: int, workers: int
) -> None:
    assert XDIST_WORKER_MEMORY == 4 * GIB  # the table above assumes it
    assert BACK_XDIST_WORKERS == 2
    assert xdist_workers(cpus, memory_gib * GIB) == workers


@pytest.mark.parametrize(
    ("workers", "back"),
    [(1, 0), (2, 0), (3, 1), (4, 2), (5, 2), (6, 2), (12, 2)],
)
def test_the_first_two_workers_are_front_workers_and_at_most_two_are_back_workers(
    workers: int, back: int
) -> None:
    """``-n 2`` (or ``PYTEST_XDIST_AUTO_NUM_WORKERS=2``) runs as before: no back worker."""
    assert back_workers(workers) == back


def test_the_environment_variable_wins() -> None:
    assert xdist_workers(2, 24 * GIB, "3") == 3
    assert xdist_workers(16, 64 * GIB, "1") == 1
    assert xdist_workers(2, 24 * GIB, "") == 4  # empty: unset


@pytest.mark.parametrize("bad", ["0", "two", "-1", "2.5"])
def test_a_bad_environment_variable_is_an_error_that_names_it(bad: str) -> None:
    with pytest.raises(ValueError, match=f"PYTEST_XDIST_AUTO_NUM_WORKERS .*{bad!r}"):
        xdist_workers(2, 24 * GIB, bad)


def test_cpus_are_the_affinity_lowered_by_a_cgroup_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert usable_cpus(cpu_max) == affinity  # no such file: no quota
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == affinity
    cpu_max.write_text("100000 100000\n")  # one CPU's worth
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text("50000 100000\n")  # half a CPU: still one
    assert usable_cpus(cpu_max) == 1
    cpu_max.write_text(f"{(affinity + 8) * 100000} 100000\n")  # a quota above the affinity
    assert usable_cpus(cpu_max) == affinity
    for garbage in ("garbage\n", "lots 100000\n", "100000 0\n"):
        cpu_max.write_text(garbage)
        assert usable_cpus(cpu_max) == affinity


class _Worker:
    """What xdist's scheduler uses of a worker (``WorkerController``): its gateway id, the
    tests it is sent (indices into its collection) and its shutdown."""

    def __init__(self, number: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{number}")
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.append(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def _first_modules(workers: int, modules: list[str], golden: tuple[str, ...]) -> list[str]:
    """The module of the first work unit each of ``workers`` workers is sent, when the
    collection is ``modules`` (in that order, three tests each) and ``golden`` one unit."""
    config = SimpleNamespace(
        getvalue=lambda name: [f"{workers}*popen"],
        option=SimpleNamespace(loadscopereorder=False),
    )
    scheduler = TwoEndedScopeScheduling(config, None, golden=golden)  # type: ignore[arg-type]
    collection = [f"{m}::test_{i}" for m in modules for i in range(3)]
    nodes = [_Worker(n) for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
        scheduler.add_node_collection(node, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    return [collection[node.sent[0][0]].split("::")[0] for node in nodes]


def test_back_workers_start_at_the_end_of_the_queue_front_workers_at_its_start() -> None:
    modules = ["golden_a.py", "golden_b.py", "longest.py", "spark.py", "kafka.py", "short.py"]
    golden = ("golden_a.py", "golden_b.py")
    assert _first_modules(4, modules, golden) == [
        "golden_a.py",
        "longest.py",
        "short.py",
        "kafka.py",
    ]
    # -n 2: no back worker, xdist's order as before; -n 3: one
    assert _first_modules(2, modules, golden) == ["golden_a.py", "longest.py"]
    assert _first_modules(3, modules, golden) == ["golden_a.py", "longest.py", "short.py"]


def test_the_golden_modules_are_one_unit_for_one_worker() -> None:
    modules = ["golden_a.py", "other.py", "golden_b.py"]
    config = SimpleNamespace(
        getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=False)
    )
    scheduler = TwoEndedScopeScheduling(config, None, golden=("golden_a.py", "golden_b.py"))  # type: ignore[arg-type]
    assert {scheduler._split_scope(f"{m}::test_x") for m in modules} == {"golden", "other.py"}
    # and the modules of another unit (the ones on a worker's one broker: tests/conftest.py)
    scheduler = TwoEndedScopeScheduling(
        config,  # type: ignore[arg-type]
        None,
        golden=("golden_a.py",),
        units={"broker": ("other.py", "golden_b.py")},
    )
    assert [scheduler._split_scope(f"{m}::test_x") for m in modules] == [
        "golden",
        "broker",
        "broker",
    ]
