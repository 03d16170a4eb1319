"""How many xdist workers ``pytest -n auto`` starts (tests/pinlake_testing.py, the hook in
tests/conftest.py): as many as the CPUs and memory allow, at least 2, at most 4."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pinlake_testing import MAX_XDIST_WORKERS, XDIST_WORKER_MEMORY, usable_cpus, xdist_workers

GIB = 2**30


@pytest.mark.parametrize(
    ("cpus", "memory_gib", "workers"),
    [
        (2, 24, 2),  # the CI machine: as many as before
        (1, 24, 2),  # one CPU: still the golden unit beside the rest
        (3, 24, 3),
        (8, 64, MAX_XDIST_WORKERS),  # more would only start more Spark sessions
        (8, 12, 3),  # memory-bound: 12 GiB hold three slots
        (8, 4, 2),  # never fewer than two
    ],
)
def test_workers_follow_cpus_and_memory_within_two_and_four(
    cpus: int, memory_gib: int, workers: int
) -> None:
    assert XDIST_WORKER_MEMORY == 4 * GIB  # the table above assumes it
    assert xdist_workers(cpus, memory_gib * GIB) == workers


def test_the_environment_variable_wins() -> None:
    assert xdist_workers(2, 24 * GIB, "3") == 3
    assert xdist_workers(16, 64 * GIB, "1") == 1
    assert xdist_workers(2, 24 * GIB, "") == 2  # empty: unset


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
