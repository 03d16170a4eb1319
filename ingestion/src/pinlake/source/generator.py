"""A seeded, deterministic generator of AiCore-shaped source rows.

It reproduces the shape of the real tables (docs: aicore-reference.md §1.2 and §2), not their
values:

* pin: 13 categories in contiguous index blocks (like the real table), posters that repeat and keep
  their follower count (``437``, ``124k``, ``2M``), story posts with their placeholders, fully
  broken rows, and every dirty value of §2 at about the real rate (see :data:`RATES`);
* geo: a timestamp per row (2017-10-19 .. 2022-10-19); latitude/longitude/country per *user*;
* user: about half as many distinct users as rows (repeat posters keep name, age, date_joined and
  location); ages 20..60 by the real age-group shares; date_joined 2015-10-21 .. 2017-10-20,
  skewed to the start like the real data (2015: ~40 %, 2016: ~43 %, 2017: ~17 %).

Determinism: the same ``(rows, seed)`` gives the same rows with the same installed Faker version,
independently of the chunk size. Faker (seeded) only fills pools of names and sentences once;
rows are composed from the pools with seeded :class:`random.Random` streams, one per table, so the
cost per row is a few microseconds and 1,000,000 rows need no more than a few tens of MB.
"""

from __future__ import annotations

import random
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from faker import Faker
from faker.providers.address.en_US import Provider as AddressProvider
from faker.providers.person.en_US import Provider as PersonProvider

#: The 13 categories, in the order of their index blocks in the real pin table.
CATEGORIES: tuple[str, ...] = (
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
)

#: First index of each category block in the real 11,154-row table (scaled to ``rows``).
_REAL_BLOCK_STARTS = (0, 896, 1643, 2637, 3475, 4333, 5083, 5872, 6740, 7586, 8488, 9475, 10319)
_REAL_ROWS = 11_154

# ---- placeholders (aicore-reference.md §2) ---------------------------------------------------
NO_TITLE = "No Title Data Available"
STORY_DESCRIPTION = "No description available Story format"
NO_DESCRIPTION = "No description available"
USER_INFO_ERROR = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR = "Image src error."
STORY = "multi-video(story page format)"
ELLIPSIS_NBSP = "…\u00a0"

#: Rates of the values, from the real 2,019-row pin sample (LMA log) and the full geo/user dumps.
RATES: dict[str, float] = {
    "story": 140 / 2019,  # is_image_or_video = multi-video(story page format)
    "video": 60 / 2019,
    "story_broken": 15 / 140,  # of story posts: title/poster/follower/tags placeholders
    "story_image_error": 34 / 125,  # of the other story posts: Image src error. + downloaded 0
    "no_tags": 14 / 2004,  # of not-broken rows
    "title_empty": 1 / 2004,
    "title_untitled": 1 / 2004,
    "title_loading": 2 / 2004,
    "title_spaces": 3 / 2004,  # leading/trailing whitespace (one ends in \n)
    "title_newline": 3 / 2004,  # a line break inside the title
    "description_none": 30 / 1879,  # of non-story rows: 'No description available'
    "description_untitled": 1 / 1879,
    "description_art": 1 / 175,  # of art rows: 'Art.'
    "description_points": 3 / 1879,  # '<n> points • <m> comments'
    "description_truncated": 739 / 1879,  # ends in '…' + NBSP
    "poster_spaces": 35 / 1411,  # of posters: leading/trailing spaces
}

#: Follower-count forms of a poster: <n>k, plain digits, <n>M (User Info Error only when broken).
_FOLLOWER_FORMS = (("k", 1492), ("digits", 360), ("M", 152))
_MILLIONS = ((1, 27), (2, 68), (3, 9), (4, 10), (5, 29), (6, 2), (8, 6), (15, 1))
#: Age groups by row: 18-24 (ages 20-24), 25-35, 36-50, 51-60.
_AGE_GROUPS = (((20, 24), 4916), ((25, 35), 3005), ((36, 50), 2225), ((51, 60), 1008))
_IMAGE_EXTENSIONS = (("jpg", 1507), ("png", 298), ("webp", 11), ("gif", 3))

_TIMESTAMP_START = datetime(2017, 10, 19, 0, 0, 0)
_TIMESTAMP_SECONDS = int((datetime(2022, 10, 19, 23, 59, 59) - _TIMESTAMP_START).total_seconds())
_JOINED_START = datetime(2015, 10, 21, 0, 0, 0)
_JOINED_SECONDS = int((datetime(2017, 10, 20, 23, 59, 59) - _JOINED_START).total_seconds())
_JOINED_SKEW = 2.5  # offset = span * u**2.5 -> 2015 ~40 %, 2016 ~42 %, 2017 ~18 %

_USERS_PER_ROW = 5307 / 11154  # distinct (first, last, age, date_joined) per row
_REPEATERS = 0.27  # share of users that post more than once
_REPEAT_SKEW = 2.2

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "art": ("Watercolor", "Pencil Drawing", "Acrylic Painting", "Sketch", "Canvas Art",
            "Abstract Art", "Portrait", "Illustration", "Art Project", "Mandala"),
    "beauty": ("Makeup", "Skincare", "Hairstyles", "Nail Art", "Eyeshadow", "Lipstick",
               "Skin Care Routine", "Braids", "Face Mask", "Eyebrows"),
    "christmas": ("Christmas Tree", "Ornaments", "Christmas Decor", "Advent Calendar",
                  "Gingerbread House", "Christmas Cookies", "Wreath", "Stockings",
                  "Holiday Table", "Christmas Gifts"),
    "diy-and-crafts": ("Paper Flowers", "Resin Coasters", "Macrame", "Mason Jar", "Crochet",
                       "Upcycled Furniture", "Felt Crafts", "Wood Sign", "Candles", "Kids Crafts"),
    "education": ("Classroom", "Worksheets", "Reading", "Math Games", "Science Experiments",
                  "Homeschool", "Phonics", "Study Tips", "Lesson Plans", "Teaching"),
    "event-planning": ("Wedding", "Party Decorations", "Baby Shower", "Birthday Party",
                       "Centerpieces", "Bridal Shower", "Balloon Garland", "Invitations",
                       "Table Setting", "Party Favors"),
    "finance": ("Budget", "Saving Money", "Debt Payoff", "Side Hustle", "Investing",
                "Passive Income", "Money Tips", "Frugal Living", "Retirement", "Budget Planner"),
    "home-decor": ("Living Room", "Bedroom", "Farmhouse", "Gallery Wall", "Entryway", "Kitchen",
                   "Bathroom", "Dining Room", "Shelf Decor", "Cozy Home"),
    "mens-fashion": ("Men's Style", "Streetwear", "Suits", "Casual Outfits", "Sneakers",
                     "Denim Jacket", "Watches", "Men's Haircuts", "Chinos", "Leather Boots"),
    "quotes": ("Inspirational Quotes", "Life Quotes", "Love Quotes", "Motivation",
               "Positive Quotes", "Funny Quotes", "Wisdom", "Self Love", "Friendship Quotes",
               "Daily Affirmations"),
    "tattoos": ("Small Tattoos", "Sleeve Tattoo", "Minimalist Tattoo", "Floral Tattoo",
                "Tattoo Design", "Wrist Tattoo", "Line Art Tattoo", "Back Tattoo",
                "Fine Line Tattoo", "Tattoo Ideas"),
    "travel": ("Travel Tips", "Road Trip", "Beach", "Bucket List", "Packing List", "Europe",
               "National Parks", "Travel Destinations", "Backpacking", "Hidden Gems"),
    "vehicles": ("Classic Cars", "Sports Car", "Lowrider", "Motorcycle", "Jeep", "Muscle Car",
                 "Trucks", "Nissan GT-R", "Vintage Cars", "Car Interior"),
}  # fmt: skip
_MODIFIERS = (
    "Easy", "Simple", "Beautiful", "Cute", "Modern", "Vintage", "DIY", "Best", "Creative",
    "Aesthetic", "Cozy", "Minimalist", "Unique", "Colorful", "Cool", "Amazing", "Budget", "Quick",
    "Rustic", "Elegant", "Old", "Small", "Fun", "Pretty", "Classic",
)  # fmt: skip
_TAG_SUFFIXES = (
    "", " Ideas", " Inspiration", " Tutorial", " For Beginners", " Tips", " Diy", " Design",
    " Aesthetic", " Projects",
)  # fmt: skip
_TITLE_SUFFIXES = (
    "Ideas", "Inspiration", "Tutorial", "for Beginners", "You Need to Try", "to Copy Now",
    "That Will Blow Your Mind", "on a Budget", "Step by Step", "Guide",
)  # fmt: skip
_VERBS = ("Make", "Create", "Style", "Start", "Choose", "Plan", "Draw", "Organize", "Use")


def _cumulative(weights: tuple[tuple[object, int], ...]) -> tuple[list[object], list[float]]:
    values = [value for value, _ in weights]
    total = sum(weight for _, weight in weights)
    acc, cum = 0, []
    for _, weight in weights:
        acc += weight
        cum.append(acc / total)
    return values, cum


def _sig6(value: float) -> float:
    """Round like the MySQL FLOAT text of the real table (6 significant digits: -88.8298)."""
    return float(f"{value:.6g}")


def category_starts(rows: int) -> list[int]:
    """First index of each category block for a table of ``rows`` rows."""
    return [round(start * rows / _REAL_ROWS) for start in _REAL_BLOCK_STARTS]


@dataclass
class _Pools:
    sentences: list[str]
    posters: list[str]
    followers: list[str]
    tags: dict[str, list[str]]


class SourceGenerator:
    """Rows of the three source tables for ``rows`` posting events, made from ``seed``."""

    def __init__(self, rows: int, seed: int) -> None:
        if rows < 1:
            raise ValueError("rows must be at least 1")
        self.rows = rows
        self.seed = seed
        self._pools = self._make_pools()
        self._make_users()
        self._block_starts = category_starts(rows)

    # ---- pools (Faker, once) -------------------------------------------------------------
    def _make_pools(self) -> _Pools:
        fake = Faker("en_US")
        fake.seed_instance(self.seed)
        rng = random.Random(f"{self.seed}:pools")
        sentences = [fake.sentence(nb_words=rng.randint(6, 18)) for _ in range(4_000)]

        n_posters = max(20, min(self.rows // 2, 20_000))
        posters: list[str] = []
        followers: list[str] = []
        forms, forms_cum = _cumulative(_FOLLOWER_FORMS)
        millions, millions_cum = _cumulative(_MILLIONS)
        keyword_list = [kw for kws in _KEYWORDS.values() for kw in kws]
        for _ in range(n_posters):
            kind = rng.random()
            if kind < 0.45:
                name = fake.name()
            elif kind < 0.7:
                name = fake.company()
            elif kind < 0.85:
                name = f"{fake.first_name()} | {rng.choice(keyword_list)}"
            else:
                name = f"{rng.choice(_MODIFIERS)} {rng.choice(keyword_list)}"
            if rng.random() < RATES["poster_spaces"]:
                name = f" {name}" if rng.random() < 0.2 else f"{name} "
            posters.append(name)
            form = rng.choices(forms, cum_weights=forms_cum)[0]
            if form == "k":
                followers.append(f"{max(1, int(1000 ** rng.random()))}k")
            elif form == "M":
                followers.append(f"{rng.choices(millions, cum_weights=millions_cum)[0]}M")
            elif rng.random() < 0.035:
                followers.append("0")
            else:
                followers.append(str(int(971 * rng.random() ** 2.7)))

        tags = {
            category: [
                f"{modifier}{kw}{suffix}"
                for kw in keywords
                for modifier in ("", *(f"{m} " for m in _MODIFIERS))
                for suffix in _TAG_SUFFIXES
            ]
            for category, keywords in _KEYWORDS.items()
        }
        return _Pools(sentences=sentences, posters=posters, followers=followers, tags=tags)

    def _make_users(self) -> None:
        """The distinct users and which user posted each row (repeat posters, skewed)."""
        rng = random.Random(f"{self.seed}:users")
        rows = self.rows
        n_users = max(1, min(rows, round(rows * _USERS_PER_ROW)))
        first_names = sorted(PersonProvider.first_names)
        last_names = sorted(PersonProvider.last_names)
        countries = list(AddressProvider.countries)
        # alphabetical skew of the real data: Albania, Algeria, Afghanistan ... lead
        country_weights = [1 + 25 * 2.718281828 ** (-k / 8) for k in range(len(countries))]
        acc, country_cum = 0.0, []
        for weight in country_weights:
            acc += weight
            country_cum.append(acc)
        ages, ages_cum = _cumulative(_AGE_GROUPS)

        self._first = first_names
        self._last = last_names
        self._countries = countries
        self._u_first = array("H")
        self._u_last = array("H")
        self._u_age = array("B")
        self._u_joined = array("l")
        self._u_lat = array("d")
        self._u_lon = array("d")
        self._u_country = array("H")
        choices, rand = rng.choices, rng.random
        n_first, n_last = len(first_names), len(last_names)
        for _ in range(n_users):
            self._u_first.append(int(n_first * rand() ** 1.5))
            self._u_last.append(int(n_last * rand() ** 1.5))
            low, high = choices(ages, cum_weights=ages_cum)[0]  # type: ignore[misc]
            self._u_age.append(rng.randint(low, high))
            self._u_joined.append(int(_JOINED_SECONDS * rand() ** _JOINED_SKEW))
            self._u_lat.append(_sig6(rng.uniform(-90, 90)))
            self._u_lon.append(_sig6(rng.uniform(-180, 180)))
            self._u_country.append(bisect_left(country_cum, rand() * acc))
        repeaters = max(1, int(n_users * _REPEATERS))
        owners = list(range(n_users))
        owners.extend(int(repeaters * rand() ** _REPEAT_SKEW) for _ in range(rows - n_users))
        rng.shuffle(owners)
        self._owner = array("l", owners)
        self.n_users = n_users

    # ---- rows ----------------------------------------------------------------------------
    def chunks(self, size: int = 10_000) -> Iterator[dict[str, list[dict]]]:
        """Yield ``{"pin": [...], "geo": [...], "user": [...]}`` for consecutive index ranges."""
        pin_rng = random.Random(f"{self.seed}:pin")
        geo_rng = random.Random(f"{self.seed}:geo")
        for start in range(0, self.rows, size):
            stop = min(self.rows, start + size)
            yield {
                "pin": [self._pin_row(pin_rng, i) for i in range(start, stop)],
                "geo": [self._geo_row(geo_rng, i) for i in range(start, stop)],
                "user": [self._user_row(i) for i in range(start, stop)],
            }

    def _category(self, index: int) -> str:
        return CATEGORIES[bisect_right(self._block_starts, index) - 1]

    def _geo_row(self, rng: random.Random, ind: int) -> dict:
        user = self._owner[ind]
        return {
            "ind": ind,
            "timestamp": _TIMESTAMP_START + timedelta(seconds=rng.randrange(_TIMESTAMP_SECONDS)),
            "latitude": self._u_lat[user],
            "longitude": self._u_lon[user],
            "country": self._countries[self._u_country[user]],
        }

    def _user_row(self, ind: int) -> dict:
        user = self._owner[ind]
        return {
            "ind": ind,
            "first_name": self._first[self._u_first[user]],
            "last_name": self._last[self._u_last[user]],
            "age": self._u_age[user],
            "date_joined": _JOINED_START + timedelta(seconds=self._u_joined[user]),
        }

    def _pin_row(self, rng: random.Random, index: int) -> dict:
        rand = rng.random
        pools = self._pools
        category = self._category(index)
        keywords = _KEYWORDS[category]
        unique_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        digest = f"{rng.getrandbits(128):032x}"
        poster_i = int(len(pools.posters) * rand() ** 2.3)
        poster, followers = pools.posters[poster_i], pools.followers[poster_i]

        media = rand()
        if media < RATES["story"]:
            kind = STORY
        elif media < RATES["story"] + RATES["video"]:
            kind = "video"
        else:
            kind = "image"
        broken = kind == STORY and rand() < RATES["story_broken"]
        image_error = broken or (kind == STORY and rand() < RATES["story_image_error"])

        if broken:
            return {
                "index": index,
                "unique_id": unique_id,
                "title": NO_TITLE,
                "description": STORY_DESCRIPTION,
                "poster_name": USER_INFO_ERROR,
                "follower_count": USER_INFO_ERROR,
                "tag_list": NO_TAGS,
                "is_image_or_video": kind,
                "image_src": IMAGE_SRC_ERROR,
                "downloaded": 0,
                "save_location": f"Local save in /data/{category}",
                "category": category,
            }

        title = self._title(rng, keywords, poster)
        if kind == STORY:
            description = STORY_DESCRIPTION
        else:
            description = self._description(rng, category)
        if rand() < RATES["no_tags"]:
            tag_list = NO_TAGS
        else:
            tag_list = ",".join(rng.sample(pools.tags[category], 9))
        hashed = f"{digest[0:2]}/{digest[2:4]}/{digest[4:6]}/{digest}"
        if image_error:
            image_src = IMAGE_SRC_ERROR
        elif kind == "image":
            ext = _pick_ext(rand())
            image_src = f"https://i.pinimg.com/originals/{hashed}.{ext}"
        else:
            image_src = f"https://i.pinimg.com/videos/thumbnails/originals/{hashed}.0000001.jpg"
        return {
            "index": index,
            "unique_id": unique_id,
            "title": title,
            "description": description,
            "poster_name": poster,
            "follower_count": followers,
            "tag_list": tag_list,
            "is_image_or_video": kind,
            "image_src": image_src,
            "downloaded": 0 if image_error else 1,
            "save_location": f"Local save in /data/{category}",
            "category": category,
        }

    def _title(self, rng: random.Random, keywords: tuple[str, ...], poster: str) -> str:
        r = rng.random()
        if r < RATES["title_empty"]:
            return ""
        r -= RATES["title_empty"]
        if r < RATES["title_untitled"]:
            return "Untitled"
        r -= RATES["title_untitled"]
        if r < RATES["title_loading"]:
            return "Loading..."
        keyword = rng.choice(keywords)
        modifier = rng.choice(_MODIFIERS)
        form = rng.randrange(6)
        if form == 0:
            title = f"{rng.randint(5, 101)} {modifier} {keyword} {rng.choice(_TITLE_SUFFIXES)}"
        elif form == 1:
            title = f"{modifier} {keyword} {rng.choice(_TITLE_SUFFIXES)}"
        elif form == 2:
            title = f"How to {rng.choice(_VERBS)} {modifier} {keyword}"
        elif form == 3:
            title = f"{keyword}: {rng.choice(self._pools.sentences).rstrip('.')}"
        elif form == 4:
            title = f"{modifier} {keyword} - {poster.strip()}"
        else:
            title = rng.choice(self._pools.sentences).rstrip(".").title()
        r = rng.random()
        if r < RATES["title_spaces"]:
            choice = rng.randrange(3)
            title = f"{title} " if choice == 0 else f" {title}" if choice == 1 else f"{title}\n"
        elif r < RATES["title_spaces"] + RATES["title_newline"]:
            words = title.split(" ")
            cut = max(1, len(words) // 2)
            title = " ".join(words[:cut]) + "\n" + " ".join(words[cut:])
        return title

    def _description(self, rng: random.Random, category: str) -> str:
        r = rng.random()
        if category == "art" and r < RATES["description_art"]:
            return "Art."
        r = rng.random()
        if r < RATES["description_none"]:
            return NO_DESCRIPTION
        r -= RATES["description_none"]
        if r < RATES["description_untitled"]:
            return "Untitled"
        r -= RATES["description_untitled"]
        if r < RATES["description_points"]:
            return f"{rng.randint(5, 9_999):,} points • {rng.randint(0, 500)} comments"
        r -= RATES["description_points"]
        sentences = self._pools.sentences
        if r < RATES["description_truncated"]:
            text = ""
            while len(text) < 178:
                text = f"{text} {rng.choice(sentences)}".lstrip()
            return text[:177] + ELLIPSIS_NBSP
        return " ".join(rng.choice(sentences) for _ in range(rng.randint(1, 2)))


_EXTS, _EXTS_CUM = _cumulative(_IMAGE_EXTENSIONS)


def _pick_ext(r: float) -> str:
    for ext, bound in zip(_EXTS, _EXTS_CUM, strict=True):
        if r < bound:
            return str(ext)
    return "jpg"
