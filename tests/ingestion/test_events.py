"""Event draws: the AiCore seed-100 sequence, sequential and sequence-file modes."""

from __future__ import annotations

import csv
import json

import pytest

from pinlake.bucket.layout import list_files
from pinlake.errors import PinlakeError, UsageError
from pinlake.produce import ProduceToBucket
from pinlake.produce.bucket import write_events
from pinlake.produce.events import (
    aicore_max_ind,
    plan_draws,
    random_draws,
    read_sequence_file,
    sequential_draws,
)

AICORE_START = [7528, 2863, 5730, 8304, 8731, 1313, 4315, 10794, 5494, 5069, 2923, 3089, 6063]


def test_seed_100_reproduces_the_original_sequence():
    assert list(random_draws(100, 11_000, len(AICORE_START))) == AICORE_START


def test_seed_100_matches_the_logged_run(aicore_dir):
    with (aicore_dir / "posting_sequence.csv").open() as handle:
        logged = [int(row["ind"]) for row in csv.DictReader(handle)]
    # draws 24..2262 are one uninterrupted run of the template (README of the folder)
    run = logged[23:]
    assert list(random_draws(100, 11_000, len(run))) == run


def test_max_ind_rule():
    assert aicore_max_ind(11_154) == 11_000  # the original table
    assert aicore_max_ind(11_001) == 11_000
    assert aicore_max_ind(500) == 499
    assert aicore_max_ind(1_000_000) == 999_999
    with pytest.raises(PinlakeError):
        aicore_max_ind(0)


def test_plan_default_is_aicore_on_original_size():
    inds, count = plan_draws(11_154, events=None, seed=100, sequential=False, sequence_file=None)
    assert count == 11_154
    assert [next(inds) for _ in range(5)] == AICORE_START[:5]
    inds, count = plan_draws(200, events=1_000, seed=3, sequential=False, sequence_file=None)
    drawn = list(inds)
    assert count == len(drawn) == 1_000 and max(drawn) <= 199 and min(drawn) >= 0


def test_random_default_draws_aicore_sequence(settings):
    # produce's default options on a source of the original size: the AiCore draws, no database
    options = ProduceToBucket(events=6, flush_size=1)
    inds, count = plan_draws(
        11_154,
        events=options.events,
        seed=options.seed,
        sequential=options.sequential,
        sequence_file=options.sequence_file,
    )
    assert count == 6
    events = ((ind, {"pin": None, "geo": {"ind": ind}, "user": None}) for ind in inds)
    write_events(settings, events, options)
    geo_files = list_files(settings.bucket_dir, "pinterest.geo")
    assert len(geo_files) == 6  # flush.size=1 like the original connector
    assert [json.loads(f.path.read_text())["ind"] for f in geo_files] == [
        7528,
        2863,
        5730,
        8304,
        8731,
        1313,
    ]


def test_sequential():
    assert list(sequential_draws(3, 7)) == [0, 1, 2, 0, 1, 2, 0]
    inds, count = plan_draws(4, events=None, seed=1, sequential=True, sequence_file=None)
    assert (list(inds), count) == ([0, 1, 2, 3], 4)


def test_sequence_file(tmp_path, aicore_dir):
    inds = read_sequence_file(aicore_dir / "posting_sequence.csv")
    assert len(inds) == 2262 and inds[:3] == [7528, 2863, 5730] and inds[23] == 7528
    plain = tmp_path / "plain.csv"
    plain.write_text("5\n7\n\n5\n")
    assert read_sequence_file(plain) == [5, 7, 5]
    drawn, count = plan_draws(10, events=2, seed=1, sequential=False, sequence_file=plain)
    assert (list(drawn), count) == ([5, 7], 2)
    with pytest.raises(UsageError):
        plan_draws(10, events=9, seed=1, sequential=False, sequence_file=plain)
    with pytest.raises(UsageError):
        plan_draws(10, events=None, seed=1, sequential=True, sequence_file=plain)
    bad = tmp_path / "bad.csv"
    bad.write_text("draw,ind\n1,x\n")
    with pytest.raises(PinlakeError, match="bad.csv:2"):
        read_sequence_file(bad)
    with pytest.raises(UsageError, match="no such sequence file"):
        read_sequence_file(tmp_path / "missing.csv")
