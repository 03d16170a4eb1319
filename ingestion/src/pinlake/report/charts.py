"""One chart per reporting mart (``marts.rpt_*``), each drawn to answer the mart's question.

:data:`CHARTS` is the report's contract with the marts: every mart it names must be exported
(the marts the dbt exposure ``aicore_pinterest_report`` depends on, models/marts/
_marts__exposures.yml; tests/unit/test_report.py keeps the two equal), and each chart reads the
columns it names. A reporting mart that is not in it still gets a chart (:func:`generic_chart`).
Charts are Plotly figures built from the exported CSV (:func:`read_mart`); plotly.js draws them
in the page (pinlake.report.page).

Country names are charted as ranked bars, not on a map: they are free text (the source's, e.g.
"Antarctica (the territory South of 60 deg S)"), and plotly.js fetches its map shapes from a
CDN when the page is opened, which an offline report cannot do.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from pinlake.config import REPO_ROOT
from pinlake.errors import PinlakeError

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

#: The dbt seed that defines the age groups (``age_group,min_age,max_age``, a row per group):
#: its row order is the order of the age groups in every table and chart (:func:`age_groups`).
AGE_GROUPS_SEED = REPO_ROOT / "seeds" / "age_groups.csv"
#: Rows of ``rpt_most_followed_user_by_country`` charted (all of them are in its table).
TOP_COUNTRIES = 20
#: Prefix of the reporting marts (one per analytic question); other marts are not charted.
REPORTING_PREFIX = "rpt_"

_HEIGHT = 420
#: A category missing from the report's colours (none is: every category is given one).
_OTHER = "#7f7f7f"
#: ``{category: CSS colour}``
Colours = dict[str, str]
#: ``(mart rows, every mart's rows by name) -> the note printed under the mart's table``
Note = Callable[["pd.DataFrame", Mapping[str, "pd.DataFrame"]], str]
_TEMPLATE = "plotly_white"


@dataclass(frozen=True)
class Chart:
    """How one mart is charted: the question it answers, the chart's kind (a few words, shown
    under the title), the columns it reads, ``draw`` (mart rows, category colours → figure) and
    ``note`` (None, or what a reader must know to read the mart: see :data:`Note`)."""

    mart: str
    question: str
    kind: str
    columns: tuple[str, ...]
    draw: Callable[[pd.DataFrame, Colours], go.Figure]
    note: Note | None = None


def read_mart(path: Path) -> pd.DataFrame:
    """An exported mart (``pinlake export``: header row, values as text, "" for null) as a
    frame of strings. Raises PinlakeError when the file cannot be read as CSV."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' errors derive ValueError
        raise PinlakeError(f"cannot read the exported mart {path}: {exc}") from exc


def age_groups() -> tuple[str, ...]:
    """The age groups in the order of the rows of :data:`AGE_GROUPS_SEED` (youngest first:
    ``18-24``, ``25-35``, ``36-50``, ``+50``), the one place that orders them. Raises
    PinlakeError when the seed cannot be read or has no ``age_group`` column."""
    return _read_age_groups(AGE_GROUPS_SEED)


@cache
def _read_age_groups(seed: Path) -> tuple[str, ...]:
    try:
        with seed.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PinlakeError(f"cannot read the age groups seed {seed}: {exc}") from exc
    if not rows or "age_group" not in rows[0]:
        raise PinlakeError(f"the age groups seed {seed} has no age_group column or no rows")
    return tuple(row["age_group"] for row in rows)


def in_age_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a mart as exported: rows sorted by all columns, so ``+50`` first) with its
    age groups in the seed's order (:func:`age_groups`; a group the seed lacks comes last, in
    the exported order), within each run of equal values of the columns before ``age_group``
    (e.g. per ``post_year``). A frame without ``age_group`` is returned as it is."""
    import numpy as np

    if "age_group" not in frame.columns or frame.empty:
        return frame
    order = {group: i for i, group in enumerate(age_groups())}
    rank = frame["age_group"].map(order).fillna(len(order)).to_numpy()
    before = list(frame.columns[: frame.columns.get_loc("age_group")])
    runs = (
        frame[before].ne(frame[before].shift()).any(axis=1).cumsum().to_numpy()
        if before
        else np.zeros(len(frame))
    )
    # lexsort is stable; the index stays the file's row numbers (:func:`_row`)
    return frame.iloc[np.lexsort((rank, runs))]


def note_for(chart: Chart, frames: Mapping[str, pd.DataFrame]) -> str | None:
    """The note under the table of ``chart`` (``frames``: every mart of the report by name,
    as read), or None when it has none."""
    return chart.note(frames[chart.mart], frames) if chart.note else None


def chart_for(mart: str) -> Chart:
    """The chart of ``mart``: its entry in :data:`CHARTS`, else a generic one."""
    return CHARTS.get(mart) or Chart(mart, _question(mart), "bars", (), generic_chart)


def draw(chart: Chart, frame: pd.DataFrame, source: Path, colours: Colours) -> go.Figure:
    """The figure of ``chart`` over ``frame`` (read from ``source``; ``colours``: the report's
    :func:`category_colours`). Raises PinlakeError naming the file when a column the chart reads
    is missing or a number column holds a non-number."""
    missing = [c for c in chart.columns if c not in frame.columns]
    if missing:
        raise PinlakeError(
            f"{source} lacks the column(s) {', '.join(missing)} of {chart.mart} "
            f"(it has {', '.join(frame.columns) or 'none'}): export the marts again"
        )
    try:
        figure = _empty(chart) if frame.empty else chart.draw(frame.copy(), colours)
    except (ValueError, TypeError) as exc:
        raise PinlakeError(f"{source}: {chart.mart} cannot be charted: {exc}") from exc
    figure.update_layout(  # the template is set where the figure is made: setting it costs
        height=figure.layout.height or _HEIGHT,
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        legend={"orientation": "h", "y": -0.18},
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    return figure


# ---- the charts -------------------------------------------------------------------------------
def _numbers(frame: pd.DataFrame, *columns: str, whole: bool = False) -> pd.DataFrame:
    """``frame`` with ``columns`` (text, as exported) as numbers. Raises ValueError naming the
    column, its first value that is no number (no count when ``whole``: a whole number, not
    negative; ``7.5`` or ``-3`` users is a broken mart, not a bar: helper-90, helper-91) and
    its row in the file (:func:`_row`)."""
    import pandas as pd

    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        not_count = (values % 1 != 0) | (values < 0) if whole else None
        for bad, kind in (
            (values.isna(), "a number"),
            (not_count, "a count (a whole number, 0 or more)"),
        ):
            if bad is not None and bad.any():
                first = bad.idxmax()
                raise ValueError(
                    f"column {column} holds {frame.at[first, column]!r} ({_row(first)}), not {kind}"
                )
        frame[column] = values
    return frame


def _row(label: object) -> str:
    """``row N``: the place of the row whose index is ``label`` among the rows under the file's
    header (:func:`read_mart`'s index, which :func:`in_age_order` keeps; helper-92: the
    position after that sort was given, line 5 for a value on line 2)."""
    return f"row {int(label) + 1}"  # type: ignore[call-overload]


def _counts(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """:func:`_numbers` of count columns: whole numbers."""
    return _numbers(frame, *columns, whole=True)


def _sorted_years(frame: pd.DataFrame, column: str = "post_year") -> list[str]:
    """The years of ``column`` (text such as ``2015``, as exported) in numeric order. Raises
    ValueError naming the first value that is no year (it raised int()'s own wording:
    helper-90)."""
    years = frame[column]
    bad = ~years.str.fullmatch(r"-?[0-9]+")
    if bad.any():
        first = bad.idxmax()
        where = _row(first)
        raise ValueError(f"column {column} holds {years[first]!r} ({where}), not a year")
    return sorted(years.unique(), key=int)


def _age_order(frame: pd.DataFrame) -> list[str]:
    """The age groups of ``frame`` in the seed's order (:func:`age_groups`), then any other."""
    order, present = age_groups(), set(frame["age_group"])
    return [g for g in order if g in present] + sorted(present - set(order))


def _top_category_by(group: str, label: str) -> Callable[[pd.DataFrame, Colours], go.Figure]:
    """A bar per (group, top category) on a two-level axis, group then category, so that a tie
    shows as bars side by side under its group; the bar's colour is its category's, the same in
    every chart of the report (:func:`category_colours`)."""

    def draw_it(frame: pd.DataFrame, colours: Colours) -> go.Figure:
        import plotly.graph_objects as go

        frame = _counts(frame, "category_count")
        order = _sorted_years(frame, group) if group == "post_year" else _age_order(frame)
        rank = {value: i for i, value in enumerate(order)}
        frame = frame.assign(_rank=frame[group].map(rank)).sort_values(["_rank", "category"])
        figure = go.Figure(
            go.Bar(
                x=[frame[group].tolist(), frame["category"].tolist()],
                y=frame["category_count"].tolist(),
                marker_color=[colours.get(c, _OTHER) for c in frame["category"]],
                text=frame["category_count"].tolist(),
                texttemplate="%{y:,}",
                hovertemplate=f"{label} %{{x[0]}}<br>%{{x[1]}}: %{{y:,}} pins<extra></extra>",
            ),
            layout={"template": _TEMPLATE},
        )
        figure.update_xaxes(title_text=label)
        figure.update_yaxes(title_text="pins in the top category", tickformat=",")
        return figure

    return draw_it


def category_colours(categories: Iterable[str]) -> Colours:
    """``{category: colour}`` for the categories of one report: distinct colours (plotly's
    24-colour Dark24 palette, in the categories' alphabetical order; it repeats only past 24),
    so that a category has the same colour in every chart of the report."""
    from plotly.colors import qualitative

    palette = qualitative.Dark24
    return {c: palette[i % len(palette)] for i, c in enumerate(sorted(set(categories)))}


def _category_by_country(frame: pd.DataFrame, colours: Colours) -> go.Figure:
    """Ranked bars: in how many countries each category is the most popular (a country whose top
    categories tie counts for each of them), in the category's colour; the hover names the
    countries (the first 12)."""
    import plotly.graph_objects as go

    grouped = (
        frame.groupby("category")["country"]
        .agg(countries="nunique", names=lambda c: _first_names(sorted(set(c))))
        .reset_index()
        .sort_values(["countries", "category"], ascending=[True, False])
    )
    figure = go.Figure(
        go.Bar(
            x=grouped["countries"].tolist(),
            y=grouped["category"].tolist(),
            orientation="h",
            marker_color=[colours.get(c, _OTHER) for c in grouped["category"]],
            text=grouped["countries"].tolist(),
            customdata=grouped["names"].tolist(),
            hovertemplate="%{y}: the most popular in %{x} countries<br>%{customdata}"
            "<extra></extra>",
        ),
        layout={"template": _TEMPLATE, "height": max(_HEIGHT, 28 * len(grouped) + 100)},
    )
    figure.update_xaxes(title_text="countries where it is the most popular", rangemode="tozero")
    _whole_numbers(figure, "x", int(grouped["countries"].max()))
    return figure


def _first_names(names: list[str], shown: int = 12) -> str:
    rest = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {rest} more" if rest > 0 else "")


def _whole_numbers(figure: go.Figure, axis: str, maximum: int) -> None:
    """Ticks on whole numbers only (a count axis up to a small ``maximum`` would show 0.5)."""
    if maximum <= 10:
        figure.update_layout({f"{axis}axis": {"tick0": 0, "dtick": 1}})


def _median_by(
    group: str, label: str, colour: str | None = None
) -> Callable[[pd.DataFrame, Colours], go.Figure]:
    """Bars of the median follower count per group (grouped by ``colour`` if given)."""

    def draw_it(frame: pd.DataFrame, _colours: Colours) -> go.Figure:
        import plotly.express as px

        frame = _numbers(frame, "median_follower_count")
        orders = {}
        for column in (group, colour):
            if column == "post_year":
                orders[column] = _sorted_years(frame)
            elif column == "age_group":
                orders[column] = _age_order(frame)
        figure = px.bar(
            frame,
            template=_TEMPLATE,
            x=group,
            y="median_follower_count",
            color=colour,
            barmode="group",
            text_auto=",",
            category_orders=orders,
            labels={
                group: label,
                "median_follower_count": "median follower count",
                "age_group": "age group",
            },
        )
        figure.update_xaxes(type="category")
        figure.update_yaxes(tickformat=",")
        return figure

    return draw_it


def _most_followed_by_country(frame: pd.DataFrame, _colours: Colours) -> go.Figure:
    """Horizontal bars of the :data:`TOP_COUNTRIES` most followed posters, labelled
    ``country — poster`` (a country whose top posters tie has one bar each)."""
    import plotly.express as px

    frame = _counts(frame, "follower_count")
    top = frame.sort_values(
        ["follower_count", "country", "poster_name"], ascending=[False] + [True] * 2
    )
    top = top.head(TOP_COUNTRIES).iloc[::-1]
    top["who"] = top["country"] + " — " + top["poster_name"]
    figure = px.bar(
        top,
        template=_TEMPLATE,
        x="follower_count",
        y="who",
        orientation="h",
        text_auto=",",
        labels={"follower_count": "follower count", "who": ""},
        title=f"the {len(top)} most followed of {len(frame)} (country, poster) rows",
    )
    figure.update_xaxes(tickformat=",")
    figure.update_layout(height=max(_HEIGHT, 26 * len(top) + 120), title_font_size=13)
    return figure


def _country_with_most_followed(frame: pd.DataFrame, _colours: Colours) -> go.Figure:
    """The one country and its follower count, as a big number."""
    import plotly.graph_objects as go

    frame = _counts(frame, "follower_count")
    first = frame.iloc[0]
    return go.Figure(
        go.Indicator(
            mode="number",
            value=int(first["follower_count"]),
            number={"valueformat": ","},
            title={"text": f"{escape(first['country'])}<br><sub>followers of its top poster</sub>"},
        ),
        layout={"height": 260, "template": _TEMPLATE},
    )


#: The rule of ``rpt_country_with_most_followed_user`` (its SQL: ``order by follower_count
#: desc, country asc limit 1``).
_ONE_COUNTRY_RULE = (
    "the AiCore task asks for one row, so on a tie the mart keeps the first country by name "
    "(follower_count descending, then country ascending)"
)


def _country_tie_note(frame: pd.DataFrame, frames: Mapping[str, pd.DataFrame]) -> str:
    """The tie-break rule of the one country, and how many countries tie at its follower
    count, counted in ``rpt_most_followed_user_by_country`` (the mart it is taken from) when
    the two agree (its country is among those with the highest count); else the rule alone."""
    import pandas as pd

    rule = _ONE_COUNTRY_RULE[0].upper() + _ONE_COUNTRY_RULE[1:] + "."
    by_country = frames.get("rpt_most_followed_user_by_country")
    if frame.empty or by_country is None or by_country.empty:
        return rule
    top = pd.to_numeric(frame["follower_count"], errors="coerce").iloc[0]
    followers = pd.to_numeric(by_country["follower_count"], errors="coerce")
    tied = sorted(set(by_country.loc[followers == top, "country"]))
    if pd.isna(top) or top != followers.max() or frame["country"].iloc[0] not in tied:
        return rule
    if len(tied) == 1:
        return f"No other country ties at {int(top):,} followers; {_ONE_COUNTRY_RULE}."
    return (
        f"{len(tied)} countries tie at {int(top):,} followers ({_first_names(tied)}; see "
        f"“Most followed user in each country”): {_ONE_COUNTRY_RULE}."
    )


def _joined_year_note(_frame: pd.DataFrame, _frames: Mapping[str, pd.DataFrame]) -> str:
    """What ``post_year`` of the joining-year marts holds: the AiCore task's queries 6-8 (users
    joined per year, median follower count by joining year, and by joining year and age group)
    name the joining year ``post_year``, and the marts keep that name (models/marts/reporting:
    ``year(...) as post_year`` over ``date_joined``)."""
    return (
        "post_year holds the year the user joined (year of date_joined), not a posting year: "
        "the AiCore task names this column post_year."
    )


def _users_joined(frame: pd.DataFrame, _colours: Colours) -> go.Figure:
    """Bars of the users who joined each year."""
    import plotly.express as px

    frame = _counts(frame, "number_users_joined")
    figure = px.bar(
        frame,
        template=_TEMPLATE,
        x="post_year",
        y="number_users_joined",
        text_auto=",",
        category_orders={"post_year": _sorted_years(frame)},
        labels={"post_year": "year joined", "number_users_joined": "users who joined"},
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(tickformat=",")
    return figure


def generic_chart(frame: pd.DataFrame, _colours: Colours) -> go.Figure:
    """A reporting mart without a chart of its own: bars of its last number column against its
    other columns (joined with " · "), or of its row count per first column when it has no
    number column."""
    import pandas as pd
    import plotly.express as px

    numeric = [c for c in frame.columns if pd.to_numeric(frame[c], errors="coerce").notna().all()]
    if not numeric:
        counts = frame.groupby(frame.columns[0]).size().reset_index(name="rows")
        return px.bar(counts, x=frame.columns[0], y="rows", template=_TEMPLATE)
    value = numeric[-1]
    frame = _numbers(frame, value)
    labels = [c for c in frame.columns if c != value]
    frame["label"] = frame[labels].agg(" · ".join, axis=1) if labels else frame.index.astype(str)
    figure = px.bar(
        frame, x="label", y=value, labels={"label": " · ".join(labels) or "row"}, template=_TEMPLATE
    )
    figure.update_xaxes(type="category")
    return figure


def _empty(chart: Chart) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure(layout={"height": 200, "template": _TEMPLATE})
    figure.add_annotation(text=f"{chart.mart} has no rows", showarrow=False, font={"size": 16})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def _question(mart: str) -> str:
    return mart.removeprefix(REPORTING_PREFIX).replace("_", " ").capitalize()


_CATEGORY = ("category", "category_count")
#: The reporting marts, in the report's order (the four documented queries first).
CHARTS: dict[str, Chart] = {
    chart.mart: chart
    for chart in (
        Chart(
            "rpt_most_popular_category_by_year",
            "Most popular category each year",
            "a bar per year and top category (ties side by side)",
            ("post_year", *_CATEGORY),
            _top_category_by("post_year", "year posted"),
        ),
        Chart(
            "rpt_most_popular_category_by_age_group",
            "Most popular category for different age groups",
            "a bar per age group and top category (ties side by side)",
            ("age_group", *_CATEGORY),
            _top_category_by("age_group", "age group"),
        ),
        Chart(
            "rpt_median_follower_count_by_join_year",
            "Median follower count by joining year",
            "bars per joining year",
            ("post_year", "median_follower_count"),
            _median_by("post_year", "year joined"),
            _joined_year_note,
        ),
        Chart(
            "rpt_median_follower_count_by_join_year_and_age_group",
            "Median follower count by joining year and age group",
            "bars per joining year, grouped by age group",
            ("post_year", "age_group", "median_follower_count"),
            _median_by("post_year", "year joined", colour="age_group"),
            _joined_year_note,
        ),
        Chart(
            "rpt_median_follower_count_by_age_group",
            "Median follower count for different age groups",
            "bars per age group",
            ("age_group", "median_follower_count"),
            _median_by("age_group", "age group"),
        ),
        Chart(
            "rpt_most_popular_category_by_country",
            "Most popular category in each country",
            "ranked bars: countries where each category is the most popular",
            ("country", *_CATEGORY),
            _category_by_country,
        ),
        Chart(
            "rpt_most_followed_user_by_country",
            "Most followed user in each country",
            f"ranked bars of the {TOP_COUNTRIES} most followed (every country in the table)",
            ("country", "poster_name", "follower_count"),
            _most_followed_by_country,
        ),
        Chart(
            "rpt_country_with_most_followed_user",
            "Country with the most followed user",
            "the country and its follower count",
            ("country", "follower_count"),
            _country_with_most_followed,
            _country_tie_note,
        ),
        Chart(
            "rpt_users_joined_by_year",
            "Users who joined each year",
            "bars per year",
            ("post_year", "number_users_joined"),
            _users_joined,
            _joined_year_note,
        ),
    )
}
