"""The synthetic generator: deterministic and shaped like the real AiCore tables."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime

import pytest

from pinlake.schemas import SOURCE_COLUMNS
from pinlake.source import generator as g

#: The real table's size: the shares and rates below are checked on one table this big.
ROWS = 11_154
#: Enough rows for several chunks; determinism does not depend on the size.
SMALL = 1_000


def generate_tables(rows: int, seed: int, chunk_size: int) -> dict[str, list[dict]]:
    """All rows of ``SourceGenerator(rows, seed)``, read in chunks of ``chunk_size``, by topic."""
    out: dict[str, list[dict]] = {"pin": [], "geo": [], "user": []}
    for chunk in g.SourceGenerator(rows, seed).chunks(chunk_size):
        for topic, rows_of_topic in chunk.items():
            out[topic].extend(rows_of_topic)
    return out


@pytest.fixture(scope="module")
def tables() -> dict[str, list[dict]]:
    return generate_tables(ROWS, 100, 4_000)


def rate(rows: list[dict], predicate) -> float:
    return sum(1 for row in rows if predicate(row)) / len(rows)


def test_deterministic_and_chunk_independent():
    first = generate_tables(SMALL, 100, 300)  # four chunks, the last one partial
    again = generate_tables(SMALL, 100, SMALL)  # a new generator, one chunk
    assert len(first["pin"]) == SMALL
    assert again == first
    other = next(g.SourceGenerator(SMALL, 101).chunks(100))["pin"]
    assert other != first["pin"][:100]


def test_columns_and_keys(tables):
    for topic, rows in tables.items():
        names = [c.name for c in SOURCE_COLUMNS[topic]]
        assert len(rows) == ROWS
        assert all(list(row) == names for row in rows)
        assert [row[names[0]] for row in rows] == list(range(ROWS))


def test_categories_in_blocks(tables):
    categories = [row["category"] for row in tables["pin"]]
    assert set(categories) == set(g.CATEGORIES) and len(g.CATEGORIES) == 13
    blocks = [c for i, c in enumerate(categories) if i == 0 or categories[i - 1] != c]
    assert blocks == list(g.CATEGORIES)
    assert all(r["save_location"] == f"Local save in /data/{r['category']}" for r in tables["pin"])


def test_media_and_story_placeholders(tables):
    pin = tables["pin"]
    story = [r for r in pin if r["is_image_or_video"] == g.STORY]
    assert rate(pin, lambda r: r["is_image_or_video"] == g.STORY) == pytest.approx(0.069, abs=0.015)
    assert rate(pin, lambda r: r["is_image_or_video"] == "video") == pytest.approx(0.03, abs=0.01)
    assert all(r["description"] == g.STORY_DESCRIPTION for r in story)
    errors = [r for r in pin if r["image_src"] == g.IMAGE_SRC_ERROR]
    assert errors and all(r["is_image_or_video"] == g.STORY for r in errors)
    assert [r["downloaded"] for r in pin].count(0) == len(errors)
    assert all(r["downloaded"] == 0 for r in errors)
    assert len(errors) / len(story) == pytest.approx(49 / 140, abs=0.08)
    broken = [r for r in pin if r["poster_name"] == g.USER_INFO_ERROR]
    assert len(broken) / len(pin) == pytest.approx(15 / 2019, abs=0.003)
    for row in broken:
        assert row["title"] == g.NO_TITLE
        assert row["follower_count"] == g.USER_INFO_ERROR
        assert row["tag_list"] == g.NO_TAGS
        assert row["image_src"] == g.IMAGE_SRC_ERROR


def test_dirty_values_present(tables):
    pin = tables["pin"]
    titles = Counter(r["title"] for r in pin)
    descriptions = Counter(r["description"] for r in pin)
    for value in ("", "Untitled", "Loading...", g.NO_TITLE):
        assert titles[value] >= 1, value
    assert any(t != t.strip() for t in titles if t.strip())
    assert any("\n" in t for t in titles)
    for value in (g.NO_DESCRIPTION, "Untitled", "Art."):
        assert descriptions[value] >= 1, value
    assert descriptions[g.NO_DESCRIPTION] / ROWS == pytest.approx(30 / 2019, abs=0.006)
    assert any(re.fullmatch(r"[\d,]+ points • \d+ comments", d) for d in descriptions)
    truncated = rate(pin, lambda r: r["description"].endswith("…\u00a0"))
    assert truncated == pytest.approx(739 / 2019, abs=0.04)
    no_tags = rate(pin, lambda r: r["tag_list"] == g.NO_TAGS)
    assert no_tags == pytest.approx(29 / 2019, abs=0.006)
    assert any(p != p.strip() for p in (r["poster_name"] for r in pin))


def test_follower_forms(tables):
    forms = Counter()
    for row in tables["pin"]:
        value = row["follower_count"]
        if value == g.USER_INFO_ERROR:
            forms["error"] += 1
        elif re.fullmatch(r"[1-9]\d{0,2}k", value):
            forms["k"] += 1
        elif re.fullmatch(r"(1|2|3|4|5|6|8|15)M", value):
            forms["M"] += 1
        else:
            assert re.fullmatch(r"0|[1-9]\d{0,2}", value), value
            forms["digits"] += 1
    assert forms["k"] / ROWS == pytest.approx(0.74, abs=0.05)
    assert forms["digits"] / ROWS == pytest.approx(0.18, abs=0.05)
    assert forms["M"] / ROWS == pytest.approx(0.075, abs=0.03)
    assert forms["error"] / ROWS == pytest.approx(0.007, abs=0.004)


def test_ids_and_image_urls(tables):
    pin = tables["pin"]
    ids = [r["unique_id"] for r in pin]
    assert len(set(ids)) == ROWS and all(uuid.UUID(i).version == 4 for i in ids[:100])
    image = re.compile(
        r"https://i\.pinimg\.com/originals/(\w\w)/(\w\w)/(\w\w)/(\1\2\3[0-9a-f]{26})\.\w+"
    )
    images = [r["image_src"] for r in pin if r["is_image_or_video"] == "image"]
    assert all(image.fullmatch(src) for src in images)
    assert sum(src.endswith(".jpg") for src in images) / len(images) > 0.75


def test_users_repeat_and_stay_consistent(tables):
    users = Counter()
    location: dict[tuple, tuple] = {}
    for geo, user in zip(tables["geo"], tables["user"], strict=True):
        key = (user["first_name"], user["last_name"], user["age"], user["date_joined"])
        users[key] += 1
        place = (geo["latitude"], geo["longitude"], geo["country"])
        assert location.setdefault(key, place) == place
    assert 0.4 * ROWS < len(users) < 0.55 * ROWS
    assert max(users.values()) > 20


def test_ages_dates_countries(tables):
    ages = [u["age"] for u in tables["user"]]
    assert min(ages) >= 20 and max(ages) <= 60
    groups = Counter(
        "18-24" if a <= 24 else "25-35" if a <= 35 else "36-50" if a <= 50 else "51+" for a in ages
    )
    for group, share in (("18-24", 0.44), ("25-35", 0.27), ("36-50", 0.20), ("51+", 0.09)):
        assert groups[group] / ROWS == pytest.approx(share, abs=0.04), group
    joined = [u["date_joined"] for u in tables["user"]]
    assert datetime(2015, 10, 21) <= min(joined) and max(joined) < datetime(2017, 10, 21)
    years = Counter(d.year for d in joined)
    assert years[2015] / ROWS == pytest.approx(0.40, abs=0.06)
    assert years[2017] / ROWS == pytest.approx(0.17, abs=0.05)
    stamps = [r["timestamp"] for r in tables["geo"]]
    assert datetime(2017, 10, 19) <= min(stamps) and max(stamps) < datetime(2022, 10, 20)
    assert all(-90 <= r["latitude"] <= 90 and -180 <= r["longitude"] <= 180 for r in tables["geo"])
    countries = Counter(r["country"] for r in tables["geo"])
    assert len(countries) > 150
    top = [c for c, _ in countries.most_common(5)]
    assert sum(c[0] == "A" for c in top) >= 3  # skewed to the start of the alphabet
