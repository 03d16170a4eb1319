"""The report builder (pinlake.report) from small exported marts made here: every reporting mart
gets a chart and its table, the counts and freshness head the page, the page needs no network,
and missing or broken exports fail in one clear line. No JVM, no browser (the browser test is
tests/integration/test_report_browser.py)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from pinlake_testing import cli_exit_code

import pinlake.spark
from pinlake.config import Settings
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError, UsageError
from pinlake.lakehouse.counts import DeliveryCounts, PathCounts
from pinlake.pipeline.runner import Runner
from pinlake.report import ReportOptions, charts, write_report
from pinlake.report.charts import CHARTS

REPO = Path(__file__).resolve().parents[2]

#: Small marts in the exported shape (header, text values, rows sorted by all columns as
#: ``pinlake export`` sorts them, so "+50" first), ties and all age groups included.
#: Anguilla and Aruba (two posters) tie as the country with the most followed user.
MARTS: dict[str, list[list[object]]] = {
    "rpt_most_popular_category_by_year": [
        ["post_year", "category", "category_count"],
        [2018, "art", 2],
        [2018, "travel", 2],
        [2019, "quotes", 5],
    ],
    "rpt_most_popular_category_by_age_group": [
        ["age_group", "category", "category_count"],
        ["+50", "vehicles", 9],
        ["18-24", "art", 4],
        ["25-35", "beauty", 3],
        ["36-50", "diy-and-crafts", 3],
    ],
    "rpt_most_popular_category_by_country": [
        ["country", "category", "category_count"],
        ["Albania", "art", 2],
        ["Angola", "diy-and-crafts", 1],
        ["Angola", "education", 1],
        ["Aruba", "art", 7],
    ],
    "rpt_median_follower_count_by_join_year": [
        ["post_year", "median_follower_count"],
        [2015, 1000],
        [2016, 3],
    ],
    "rpt_median_follower_count_by_join_year_and_age_group": [
        ["post_year", "age_group", "median_follower_count"],
        [2015, "+50", 9],
        [2015, "18-24", 2],
        [2016, "18-24", 8],
    ],
    "rpt_median_follower_count_by_age_group": [
        ["age_group", "median_follower_count"],
        ["+50", 5],
        ["18-24", 20],
        ["36-50", 7],
    ],
    "rpt_most_followed_user_by_country": [
        ["country", "poster_name", "follower_count"],
        ["Albania", "A", 100],
        ["Albania", "B <script>alert(1)</script>", 100],
        ["Angola", "E", 0],
        ["Anguilla", "F", 15000000],
        ["Aruba", "G", 15000000],
        ["Aruba", "H", 15000000],
    ],
    "rpt_country_with_most_followed_user": [["country", "follower_count"], ["Anguilla", 15000000]],
    "rpt_users_joined_by_year": [["post_year", "number_users_joined"], [2015, 826], [2016, 2650]],
}
#: The tables of the age-group marts of :data:`MARTS` as the page shows them: the age groups
#: in the order of seeds/age_groups.csv, within each year.
AGE_ORDERED: dict[str, list[list[object]]] = {
    "rpt_most_popular_category_by_age_group": [
        ["age_group", "category", "category_count"],
        ["18-24", "art", 4],
        ["25-35", "beauty", 3],
        ["36-50", "diy-and-crafts", 3],
        ["+50", "vehicles", 9],
    ],
    "rpt_median_follower_count_by_join_year_and_age_group": [
        ["post_year", "age_group", "median_follower_count"],
        [2015, "18-24", 2],
        [2015, "+50", 9],
        [2016, "18-24", 8],
    ],
    "rpt_median_follower_count_by_age_group": [
        ["age_group", "median_follower_count"],
        ["18-24", 20],
        ["36-50", 7],
        ["+50", 5],
    ],
}
#: The marts whose ``post_year`` is the year the user joined (AiCore queries 6-8).
JOIN_YEAR_MARTS = (
    "rpt_median_follower_count_by_join_year",
    "rpt_median_follower_count_by_join_year_and_age_group",
    "rpt_users_joined_by_year",
)
LANDED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def write_exports(folder: Path, marts: dict[str, list[list[object]]] = MARTS) -> Path:
    """The marts as ``pinlake export`` writes them: ``<folder>/<mart>.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in marts.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
    return folder


def counts(latest: datetime = LANDED) -> DeliveryCounts:
    """Counts of a run whose batch path landed everything and whose stream path lost nothing."""
    tables = ("pin", "geo", "user")
    batch = PathCounts(
        raw=dict.fromkeys(tables, 11_000),
        distinct=dict.fromkeys(tables, 9_000),
        quarantined={"pin": 3, "geo": 0, "user": 1},
        staged=dict.fromkeys(tables, 100),
        latest=dict.fromkeys(tables, latest),
    )
    stream = PathCounts(
        raw=dict.fromkeys(tables, 11_004),
        distinct=dict.fromkeys(tables, 9_000),
        quarantined=dict.fromkeys(tables, 0),
        staged=dict.fromkeys(tables, 8_900),
        latest={"pin": latest - timedelta(minutes=5)},
    )
    return DeliveryCounts(paths={"batch": batch, "stream": stream}, staging={"pin": 9_000})


class Page(HTMLParser):
    """The elements of a page: ``tags`` (name, attributes) in order, the text of each
    ``<script>``, ``<style>`` and table cell, and the rows of each mart table."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._text: list[str] | None = None
        self._table: str | None = None
        self._row: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style", "td", "th"):
            self._text = []
        if tag == "table" and dict(attrs).get("class") == "mart-table":
            self._table = dict(attrs)["data-mart"]
            self.tables[self._table] = []
        if tag == "tr" and self._table:
            self._row = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text or [])
        if tag == "script":
            self.scripts.append((self.tags[-1][1] if self.tags[-1][0] == "script" else {}, text))
        elif tag == "style":
            self.styles.append(text)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        if tag in ("script", "style", "td", "th"):
            self._text = None

    def with_attr(self, name: str, value: str | None = None) -> list[dict[str, str | None]]:
        """Attributes of the elements that have ``name`` (equal to ``value`` if given)."""
        return [a for _, a in self.tags if name in a and (value is None or a[name] == value)]

    def json_script(self, element_id: str) -> object:
        """The parsed content of ``<script type="application/json" id=element_id>``."""
        (text,) = [t for a, t in self.scripts if a.get("id") == element_id]
        return json.loads(text)


#: Exported beside the reporting marts: an entity mart (not charted) and a reporting mart the
#: report has no chart of its own for (charted all the same).
EXTRA = {
    "pins": [["ind", "category"], [1, "art"]],
    "rpt_posts_per_weekday": [["weekday", "posts"], ["Mon", 3], ["Tue", 5]],
}
ACKNOWLEDGED = {"batch": {"pin": 11_003, "geo": 11_000, "user": 11_001}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def build(settings: Settings, exports: Path, **options: object) -> tuple[object, str, Page]:
    result = write_report(settings, ReportOptions(exports=exports, **options))
    html = result.path.read_text(encoding="utf-8")
    return result, html, Page(html)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object, str, Page]:
    """One report over :data:`MARTS` and :data:`EXTRA` with counts and acknowledgements (a
    build takes a second or two: the assertions that read the same page share it)."""
    root = tmp_path_factory.mktemp("report")
    settings = Settings(home=root / "home")
    exports = write_exports(root / "exports", {**MARTS, **EXTRA})
    return settings, *build(settings, exports, counts=counts(), acknowledged=ACKNOWLEDGED)


def test_every_reporting_mart_gets_a_chart_and_its_table(built) -> None:
    settings, result, _, page = built
    extra = EXTRA
    assert result.path == settings.home / "report" / "index.html"
    reporting = [*CHARTS, "rpt_posts_per_weekday"]
    assert result.charts == reporting  # the documented order, then other reporting marts
    assert result.skipped == ["pins"]
    assert result.marts == {
        m: len(rows) - 1 for m, rows in {**MARTS, **extra}.items() if m != "pins"
    }
    assert [a["data-mart"] for a in page.with_attr("class", "chart")] == reporting
    figures = page.json_script("figures")
    assert list(figures) == [f"chart-{m}" for m in reporting]
    for mart, figure in zip(reporting, figures.values(), strict=True):
        assert figure["data"], mart  # at least one trace
        assert all(trace.get("type") for trace in figure["data"]), mart
    # each table holds the mart as exported: its header, then every row (age groups reordered)
    for mart, rows in {**MARTS, **extra}.items():
        if mart != "pins" and mart not in AGE_ORDERED:
            assert page.tables[mart] == [[str(v) for v in row] for row in rows], mart
    for mart, rows in AGE_ORDERED.items():
        assert page.tables[mart] == [[str(v) for v in row] for row in rows], mart
    # the ties of a year are both charted: a bar per (year, category), years in order
    (by_year,) = figures["chart-rpt_most_popular_category_by_year"]["data"]
    assert by_year["type"] == "bar"
    assert by_year["x"] == [["2018", "2018", "2019"], ["art", "travel", "quotes"]]
    assert by_year["y"] == [2, 2, 5]
    # a category has one colour in every chart, and categories have distinct colours
    (by_country,) = figures["chart-rpt_most_popular_category_by_country"]["data"]
    year_colours = dict(zip(by_year["x"][1], by_year["marker"]["color"], strict=True))
    country_colours = dict(zip(by_country["y"], by_country["marker"]["color"], strict=True))
    assert year_colours["art"] == country_colours["art"]
    assert len(set(country_colours.values())) == len(country_colours) == 3
    # the age groups in the seed's order, not the alphabet's ("+50" sorts first)
    (by_age,) = figures["chart-rpt_most_popular_category_by_age_group"]["data"]
    assert by_age["x"][0] == ["18-24", "25-35", "36-50", "+50"]
    (medians,) = figures["chart-rpt_median_follower_count_by_age_group"]["data"]
    assert medians["x"] == ["18-24", "36-50", "+50"]
    by_both = figures["chart-rpt_median_follower_count_by_join_year_and_age_group"]["data"]
    assert [trace["name"] for trace in by_both] == ["18-24", "+50"]  # legend order
    headline = figures["chart-rpt_country_with_most_followed_user"]["data"][0]
    assert (headline["type"], headline["value"]) == ("indicator", 15000000)
    assert "Anguilla" in headline["title"]["text"]


def test_counts_and_freshness_head_the_page(built) -> None:
    _, _, html, _ = built
    rows = _table(html, "counts")
    assert rows[0][:3] == ["path", "table", "acknowledged"]
    body = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert len(body) == 6
    assert body[("batch", "pin")] == [
        "11,003", "11,000", "3", "9,000", "100", "2024-05-01 12:00:00 UTC",
    ]  # fmt: skip
    assert body[("stream", "pin")][0] == "—"  # nobody told the report what was acknowledged
    assert body[("stream", "geo")][-1] == "—"  # no landing time known
    assert "2024-05-01 12:00:00 UTC" in _element_text(html, "newest-landing")
    # the counts come before the first chart
    assert html.index('id="counts"') < html.index('class="chart"')
    # the CSVs were written after the newest landing: nothing is stale
    assert 'id="stale"' not in html


@pytest.mark.parametrize("named_home", [None, "my home"])
def test_marts_older_than_the_newest_landing_are_flagged(
    settings: Settings, tmp_path, capsys, monkeypatch, named_home: str | None
) -> None:
    """On the page and in the terminal, with the commands as this shell runs them (helper-82:
    the terminal showed only its ✓, and the page's commands had no --home). A home whose path
    needs quoting for a shell is named quoted on the page too (its HTML escapes the quotes)."""
    if named_home is None:
        monkeypatch.delenv("PINLAKE_HOME", raising=False)
    else:
        monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / named_home))
    exports = write_exports(tmp_path / "exports")
    landed_later = datetime.now(timezone.utc) + timedelta(hours=1)
    capsys.readouterr()
    result, html, page = build(settings, exports, counts=counts(landed_later))
    assert result.stale is not None
    assert result.stale.startswith("the marts predate the newest landed records (")
    # the report again with its options (helper-94: without them it read the home's exports)
    assert result.stale.endswith(
        f"run `{PINLAKE} dbt build` and `{PINLAKE} export --out {exports}`, then "
        f"`{PINLAKE} report --exports {exports}` again"
    )
    quoted = named_home is not None and f" --home '{tmp_path / named_home}' " in result.stale
    assert quoted == (named_home is not None)
    assert f"warning: {result.stale}" in " ".join(capsys.readouterr().out.split())
    assert _element_text(html, "stale") == "T" + result.stale[1:] + "."
    # exports written after the newest landing: neither says anything
    _, html, _ = build(settings, exports, counts=counts(landed_later - timedelta(hours=2)))
    assert 'id="stale"' not in html and "warning" not in capsys.readouterr().out
    # marts built after the newest landing, their export before it: the export alone is named
    # (helper-83: dbt build was named for marts that were up to date)
    import os

    commit = settings.warehouse_dir / "marts.db" / "rpt_x" / "_delta_log" / f"{0:020d}.json"
    commit.parent.mkdir(parents=True)
    commit.write_text("{}\n")
    built_at = (landed_later + timedelta(minutes=5)).timestamp()
    os.utime(commit, (built_at, built_at))
    result, _, _ = build(settings, exports, counts=counts(landed_later))
    assert result.stale.startswith("the exported marts predate the newest landed records (")
    assert result.stale.endswith(
        f"run `{PINLAKE} export --out {exports}`, then `{PINLAKE} report --exports {exports}` again"
    )
    assert "dbt build" not in result.stale
    out = tmp_path / "the report"
    result, _, _ = build(settings, exports, counts=counts(landed_later), out=out)
    assert result.stale.endswith(f"then `{PINLAKE} report --exports {exports} --out '{out}'` again")


def test_stale_exports_of_another_home_are_not_told_to_take_this_homes_marts(
    settings: Settings, tmp_path: Path
) -> None:
    """``report --exports <another home>/exports`` with marts older than this home's landings:
    the warning named ``export --out <them>``, which writes this home's marts over the other
    home's; then (helper-93) it compared their age with this home's records, which that home's
    export never brings into them. Whatever their age, the warning now says that the marts are
    that home's and the counts this one's, with the report of each; so do the errors of such a
    folder that is missing, empty or lacks a mart. A folder named ``exports`` that is no home's
    keeps the ``--out`` advice."""
    other = tmp_path / "other home"
    (other / "warehouse").mkdir(parents=True)
    exports = write_exports(other / "exports")
    landed_later = datetime.now(timezone.utc) + timedelta(hours=1)
    for landed in (landed_later, landed_later - timedelta(hours=2)):  # older or newer marts
        result, html, _ = build(settings, exports, counts=counts(landed))
        assert result.stale == (
            f"the marts are another home's ({other}: its exports folder), the counts this "
            f"home's ({settings.home}): `{PINLAKE.at(other)} report` reports that home's marts "
            f"with its own counts, `{PINLAKE} report` without --exports this home's"
        )
        assert _element_text(html, "stale") == "T" + result.stale[1:] + "."
    # nor do the errors of its missing, empty or incomplete exports
    (other / "exports" / "rpt_users_joined_by_year.csv").unlink()
    with pytest.raises(PinlakeError) as lacks:
        build(settings, exports)
    assert str(lacks.value).endswith(
        f"it is the exports folder of another home ({other}); run `{PINLAKE.at(other)} dbt "
        f"build` and `{PINLAKE.at(other)} export` again, or `{PINLAKE} report` without --exports"
    )
    for state in ("holds no exported marts", "does not exist"):
        shutil.rmtree(exports)
        if state == "holds no exported marts":
            exports.mkdir()
        with pytest.raises(PinlakeError) as none:
            build(settings, exports)
        assert str(none.value) == (
            f"{exports} {state}: it is the exports folder of another home ({other}); "
            f"`{PINLAKE.at(other)} export` writes that home's marts there; `{PINLAKE} report` "
            "without --exports reads this home's"
        )
    plain = write_exports(tmp_path / "plain" / "exports")
    result, _, _ = build(settings, plain, counts=counts(landed_later))
    assert result.stale.endswith(
        f"`{PINLAKE} export --out {plain}`, then `{PINLAKE} report --exports {plain}` again"
    )


def test_a_path_that_delivered_nothing_is_left_out(settings: Settings, tmp_path) -> None:
    exports = write_exports(tmp_path / "exports")
    direct = counts()
    direct.paths["stream"] = PathCounts(raw=dict.fromkeys(("pin", "geo", "user"), 0))
    _, html, _ = build(settings, exports, counts=direct)
    assert {r[0] for r in _table(html, "counts")[1:]} == {"batch"}


def test_the_page_needs_no_network(built) -> None:
    _, _, html, page = built
    # nothing is loaded from elsewhere: no src/href to a script, style, font, frame or image
    for tag, attrs in page.tags:
        for name in ("src", "href", "data"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
    for style in page.styles:
        assert "url(" not in style and "@import" not in style
    code = [text for attrs, text in page.scripts if "type" not in attrs]
    # plotly.js is inlined once, and one small script draws every chart
    assert len(code) == 2
    assert sum("plotly.js v" in text for text in code) == 1
    assert len(code[0]) > 1_000_000 and "Plotly.newPlot" in code[1]
    # the data cannot break out of its script element: the markup in a name stays text
    assert "<script>alert(1)</script>" not in html
    assert page.tables["rpt_most_followed_user_by_country"][2][1] == "B <script>alert(1)</script>"
    figure = page.json_script("figures")["chart-rpt_most_followed_user_by_country"]
    assert "Albania — B <script>alert(1)</script>" in figure["data"][0]["y"]


def test_the_chart_list_is_the_exposures(tmp_path) -> None:
    """The marts the report requires are those the dbt exposure of the report depends on."""
    exposures = yaml.safe_load((REPO / "models/marts/_marts__exposures.yml").read_text())
    (report,) = [e for e in exposures["exposures"] if e["name"] == "aicore_pinterest_report"]
    refs = {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in report["depends_on"]}
    assert refs == set(CHARTS)
    assert "report/index.html" in report["url"]


def test_missing_exports_fail_in_one_line(
    settings: Settings, tmp_path, capsys, monkeypatch
) -> None:
    # on a home with nothing landed a `dbt build` builds no marts: the line names every step
    # before the report, in order (helper-74, helper-76); a folder that does not exist is named
    # as such (helper-80: "no exported marts in" it)
    with pytest.raises(PinlakeError, match=f"^{tmp_path / 'nowhere'} does not exist: ") as raised:
        write_report(settings, ReportOptions(exports=tmp_path / "nowhere"))
    pinlake = str(PINLAKE)
    assert str(raised.value).endswith(
        f": run `{pinlake} source init`, `{pinlake} produce --to bucket`, `{pinlake} land`, "
        f"`{pinlake} dbt build`, `{pinlake} export --out {tmp_path / 'nowhere'}` in that order, or "
        f"`{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    ), raised.value
    (tmp_path / "empty").mkdir()
    with pytest.raises(PinlakeError, match=f"^no exported marts in {tmp_path / 'empty'}: run "):
        write_report(settings, ReportOptions(exports=tmp_path / "empty"))
    exports = write_exports(tmp_path / "exports")
    (exports / "rpt_users_joined_by_year.csv").unlink()
    with pytest.raises(PinlakeError, match="lacks the reporting mart.s. rpt_users_joined_by_year"):
        write_report(settings, ReportOptions(exports=exports))

    # the command says so in one line and exits non-zero before it starts Spark
    nowhere = str(tmp_path / "nowhere")
    assert cli_exit_code(monkeypatch, settings.home, "report", "--exports", nowhere) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {nowhere} does not exist: ") and "\n" not in err
    # the export it names writes where this report reads (it named the home's exports/, and
    # the same report failed again: helper-74)
    assert f"export --out {nowhere}` in that order" in err, err

    # a home that has exported its marts: the hint names them and export alone (helper-80: it
    # named `source init` first, which refuses the home's filled source)
    write_exports(settings.home / "exports")
    with pytest.raises(PinlakeError) as raised:
        write_report(settings, ReportOptions(exports=tmp_path / "nowhere"))
    assert str(raised.value) == (
        f"{nowhere} does not exist: this home's are in {settings.home / 'exports'} (the "
        f"report reads them without --exports), or run `{PINLAKE} export --out {nowhere}`"
    )


def test_broken_marts_fail_naming_the_file(settings: Settings, tmp_path) -> None:
    exports = write_exports(tmp_path / "exports")
    path = exports / "rpt_users_joined_by_year.csv"
    path.write_text("post_year,users\n2015,3\n")
    with pytest.raises(PinlakeError, match=f"{path} lacks the column.s. number_users_joined"):
        write_report(settings, ReportOptions(exports=exports))
    path.write_text("post_year,number_users_joined\n2015,many\n")
    with pytest.raises(PinlakeError, match="joined holds 'many' .row 1., not a number"):
        write_report(settings, ReportOptions(exports=exports))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("post_year,users\n2015,3\n", "lacks the column(s) number_users_joined"),
        ("post_year,number_users_joined\n2015,abc\n", "holds 'abc' (row 1), not a number"),
        # helper-90: a year of abcd gave int()'s own words, and 7.5 users made a bar
        ("post_year,number_users_joined\nabcd,3\n", "post_year holds 'abcd' (row 1), not a year"),
        ("post_year,number_users_joined\n2015,7.5\n", "holds '7.5' (row 1), not a count"),
        # helper-91: a negative count was charted, and no error named a line
        ("post_year,number_users_joined\n2015,3\n2016,-3\n", "holds '-3' (row 2), not a count"),
    ],
)
def test_a_broken_mart_fails_the_command_in_one_line_before_spark(
    settings: Settings, tmp_path, capsys, monkeypatch, text: str, message: str
) -> None:
    """helper-88: ``pinlake report`` over a mart with a column missing, or a count of
    ``abc``, said so in one line, but only after about 25 s of Spark counting."""
    exports = write_exports(tmp_path / "exports")
    path = exports / "rpt_users_joined_by_year.csv"
    path.write_text(text)
    code = run_report_command(settings, monkeypatch, "--exports", str(exports))
    err = capsys.readouterr().err.strip()
    assert code == PinlakeError.exit_code  # not SparkStarted: refused before the count
    assert err.startswith(f"error: {path}") and message in err and "\n" not in err, err


def test_an_empty_mart_still_has_its_chart(settings: Settings, tmp_path) -> None:
    marts = {**MARTS, "rpt_users_joined_by_year": [["post_year", "number_users_joined"]]}
    exports = write_exports(tmp_path / "exports", marts)
    result, html, page = build(settings, exports)
    assert result.marts["rpt_users_joined_by_year"] == 0
    figure = page.json_script("figures")["chart-rpt_users_joined_by_year"]
    assert "no rows" in figure["layout"]["annotations"][0]["text"]
    assert 'id="no-counts"' in html  # built without counts: the page says so


def bad_outs(root: Path) -> dict[str, tuple[Path, str]]:
    """``{case: (an --out the report cannot write, the start of its message)}`` under ``root``
    (made here: a file, and a folder whose index.html is a folder)."""
    (root / "file").write_text("")
    (root / "taken" / "index.html").mkdir(parents=True)
    return {
        "a file": (root / "file", "exists and is not a folder"),
        "under a file": (root / "file" / "report", "cannot be created: "),
        "index.html is a folder": (root / "taken", "index.html exists and is not a file"),
    }


@pytest.mark.parametrize("case", ["a file", "under a file", "index.html is a folder"])
def test_out_must_be_a_writable_folder(settings: Settings, tmp_path, case: str) -> None:
    exports = write_exports(tmp_path / "exports")
    out, message = bad_outs(tmp_path)[case]
    with pytest.raises(UsageError, match=f"^--out {re.escape(str(out))}.*{message}"):
        write_report(settings, ReportOptions(exports=exports, out=out))
    assert not (settings.home / "report").exists()  # nothing written elsewhere instead


class SparkStarted(Exception):
    """Raised where the command would start Spark (see :func:`run_report_command`)."""


def run_report_command(settings: Settings, monkeypatch, *args: str) -> int:
    """``pinlake --home <home> report ARGS`` in this process, where every way to Spark (the
    counts run in a child process through Runner.spark; get_spark in-process) raises
    :class:`SparkStarted` instead; returns the exit code."""

    def no_spark(*_args: object, **_kwargs: object) -> None:
        raise SparkStarted

    monkeypatch.setattr(Runner, "spark", no_spark)
    monkeypatch.setattr(pinlake.spark, "get_spark", no_spark)
    return cli_exit_code(monkeypatch, settings.home, "report", *args)


@pytest.mark.parametrize("case", ["a file", "under a file", "index.html is a folder"])
def test_a_bad_out_fails_in_one_line_before_spark(
    settings: Settings, tmp_path, capsys, monkeypatch, case: str
) -> None:
    exports = write_exports(tmp_path / "exports")
    out, message = bad_outs(tmp_path)[case]
    code = run_report_command(settings, monkeypatch, "--exports", str(exports), "--out", str(out))
    err = capsys.readouterr().err.strip()
    assert code == UsageError.exit_code
    assert err.startswith(f"error: --out {out}") and message in err and "\n" not in err, err


def test_good_arguments_go_on_to_count_with_spark(
    settings: Settings, tmp_path, capsys, monkeypatch
) -> None:
    """The check above lets a good --out through: the command's next step is Spark's count
    (here refused, so the test above shows that a bad --out stops the command before it)."""
    exports = write_exports(tmp_path / "exports")
    out = tmp_path / "new" / "report"
    with pytest.raises(SparkStarted):
        run_report_command(settings, monkeypatch, "--exports", str(exports), "--out", str(out))
    assert not out.exists()  # checked, not created


def notes(html: str) -> dict[str, str]:
    """``{mart: the text of the note under its table}``."""
    return {
        mart: unescape(text)
        for mart, text in re.findall(r'<p class="note" data-mart="([^"]+)">(.*?)</p>', html, re.S)
    }


def test_notes_say_what_a_reader_must_know(built) -> None:
    _, result, html, _ = built
    found = notes(html)
    assert set(found) == {"rpt_country_with_most_followed_user", *JOIN_YEAR_MARTS}
    assert result.notes == found  # the result carries them (`pinlake demo` prints them)
    # the one country: how many tie (countries, not posters), which, and the tie-break rule
    tie = found["rpt_country_with_most_followed_user"]
    assert tie.startswith("2 countries tie at 15,000,000 followers (Anguilla, Aruba;")
    assert "one row" in tie and "follower_count descending, then country ascending" in tie
    # under its table, before the next mart
    start = html.index('<section class="mart" id="rpt_country_with_most_followed_user">')
    end = html.index("</section>", start)
    assert html.index("</table>", start) < html.index('class="note"', start) < end
    for mart in JOIN_YEAR_MARTS:
        assert found[mart].startswith("post_year holds the year the user joined"), mart
        assert "the AiCore task names this column post_year" in found[mart], mart


def test_the_tie_break_rule_is_the_marts() -> None:
    """The rule the note states is the one the mart's SQL applies."""
    sql = (REPO / "models/marts/reporting/rpt_country_with_most_followed_user.sql").read_text()
    assert re.search(r"select\s+country,\s+follower_count\s+from", sql)  # columns 1 and 2
    assert re.search(r"order by 2 desc, 1 asc\s+limit 1", sql)


def test_the_tie_note_counts_only_what_the_exports_show() -> None:
    """Without the per-country mart, or when the two marts disagree, the note states the rule
    and no number; a country alone at the top is said to be alone."""
    chart = CHARTS["rpt_country_with_most_followed_user"]

    def note(top: list[object], by_country: list[list[object]] | None) -> str:
        frames = {chart.mart: frame([["country", "follower_count"], top])}
        if by_country is not None:
            header = ["country", "poster_name", "follower_count"]
            frames["rpt_most_followed_user_by_country"] = frame([header, *by_country])
        return charts.note_for(chart, frames)

    rule = note(["Aruba", 7], None)
    assert rule.startswith("The AiCore task asks for one row") and not re.search(r"\d", rule)
    assert note(["Aruba", 7], [["Aruba", "A", 8], ["Chad", "B", 7]]) == rule  # not its max
    assert note(["Aruba", 7], [["Chad", "B", 7]]) == rule  # Aruba is not among them
    alone = note(["Aruba", 7], [["Aruba", "A", 7], ["Chad", "B", 6]])
    assert alone.startswith("No other country ties at 7 followers;")
    names = [f"Country {i:02}" for i in range(14)]
    many = note(["Country 00", 7], [[name, "P", 7] for name in names])
    assert many.startswith("14 countries tie at 7 followers (Country 00, ")
    assert "Country 11 and 2 more;" in many


def test_the_age_groups_are_the_seeds() -> None:
    with (REPO / "seeds/age_groups.csv").open(newline="") as handle:
        seeded = tuple(row["age_group"] for row in csv.DictReader(handle))
    assert charts.age_groups() == seeded == ("18-24", "25-35", "36-50", "+50")


def test_the_age_order_follows_the_seed_file(tmp_path, monkeypatch) -> None:
    """Reordering the seed reorders the tables; a group it lacks comes last."""
    seed = tmp_path / "age_groups.csv"
    seed.write_text("age_group,min_age,max_age\n36-50,36,50\n18-24,18,24\n")  # no +50
    monkeypatch.setattr(charts, "AGE_GROUPS_SEED", seed)
    exported = frame(
        [
            ["post_year", "age_group", "median_follower_count"],
            *[[2015, group, 1] for group in ("+50", "18-24", "36-50")],
            [2016, "18-24", 2],
        ]
    )
    ordered = charts.in_age_order(exported)
    assert ordered[["post_year", "age_group"]].values.tolist() == [
        ["2015", "36-50"], ["2015", "18-24"], ["2015", "+50"], ["2016", "18-24"],
    ]  # fmt: skip
    without = frame(MARTS["rpt_users_joined_by_year"])
    assert charts.in_age_order(without).equals(without)


def test_a_missing_age_groups_seed_fails_in_one_line(
    settings: Settings, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(charts, "AGE_GROUPS_SEED", tmp_path / "nowhere.csv")
    exports = write_exports(tmp_path / "exports")
    with pytest.raises(PinlakeError, match="cannot read the age groups seed .*nowhere.csv"):
        write_report(settings, ReportOptions(exports=exports))


def frame(rows: list[list[object]]):
    """Rows (header first) as a frame of text, as :func:`pinlake.report.charts.read_mart`
    reads an exported mart."""
    import pandas as pd

    return pd.DataFrame([[str(v) for v in row] for row in rows[1:]], columns=rows[0])


def _table(html: str, element_id: str) -> list[list[str]]:
    """Rows (header first) of the table with ``id=element_id``."""
    start = html.index(f'id="{element_id}"')
    chunk = html[start : html.index("</table>", start)]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", chunk, re.S)
    ]


def _element_text(html: str, element_id: str) -> str:
    """The text of the element ``element_id`` of ``html`` as a browser shows it (unescaped)."""
    match = re.search(rf'id="{element_id}">(.*?)<', html)
    assert match, element_id
    return unescape(match.group(1))


def test_the_written_line_names_an_out_folder_as_spelled(settings: Settings, tmp_path) -> None:
    """``--out …/w[bold]x`` printed ``✓ …/wx/index.html``: the path was read as rich markup."""
    from pinlake.console import console

    exports = write_exports(tmp_path / "exports")
    out = tmp_path / "w[bold]x"
    with console.capture() as capture:
        write_report(settings, ReportOptions(exports=exports, out=out))
    assert capture.get().startswith(f"✓ {out / 'index.html'} ("), capture.get()


def test_a_bad_value_of_an_age_group_mart_names_its_row_in_the_file(
    settings: Settings, tmp_path
) -> None:
    """helper-92: ``+50,abc`` on the first row under the header was reported as line 5: the
    place after the marts' age-group sort, not in the file."""
    exports = write_exports(tmp_path / "exports")
    path = exports / "rpt_median_follower_count_by_age_group.csv"
    path.write_text("age_group,median_follower_count\n+50,abc\n18-24,20\n36-50,7\n")
    with pytest.raises(PinlakeError, match=r"median_follower_count holds 'abc' \(row 1\)"):
        write_report(settings, ReportOptions(exports=exports))


def test_exports_that_are_a_file_are_named_without_an_export_hint(settings, tmp_path) -> None:
    """helper-92: ``report --exports <a file>`` said to run ``export --out <that file>``, which
    cannot write there either."""
    exports = tmp_path / "marts.csv"
    exports.write_text("x\n")
    with pytest.raises(PinlakeError) as raised:
        write_report(settings, ReportOptions(exports=exports))
    assert str(raised.value) == (
        f"{exports} is not a folder: give --exports the folder `{PINLAKE} export` wrote"
    )
