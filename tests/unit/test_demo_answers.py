"""The demo's answer tables (pinlake.pipeline.demo.read_answer): an exported mart's rows as the
report orders them, values as exported."""

from __future__ import annotations

from pathlib import Path

from pinlake.pipeline.demo import read_answer


def test_age_groups_in_the_seed_order_within_each_year(tmp_path: Path) -> None:
    mart = tmp_path / "rpt_median_follower_count_by_join_year_and_age_group.csv"
    mart.write_text(
        "age_group,join_year,median_follower_count\n"  # as exported: sorted by every column
        "+50,2015,1000\n18-24,2015,250\n25-35,2015,\n36-50,2015,0\n+50,2016,7\n18-24,2016,9\n",
        encoding="utf-8",
    )
    header, rows = read_answer(mart)
    assert header == ["age_group", "join_year", "median_follower_count"]
    # age_group is the first column: one run, the seed's order (youngest first), stable ties
    assert [row[0] for row in rows] == ["18-24", "18-24", "25-35", "36-50", "+50", "+50"]
    assert rows[2] == ["25-35", "2015", ""]  # text as exported, an empty value stays empty
    assert sorted(map(tuple, rows)) == sorted(
        tuple(line.split(",")) for line in mart.read_text().splitlines()[1:]
    )


def test_a_mart_without_age_groups_keeps_its_exported_order(tmp_path: Path) -> None:
    mart = tmp_path / "rpt_most_popular_category_by_year.csv"
    mart.write_text("post_year,category,category_count\n2018,travel,5\n2017,art,3\n")
    assert read_answer(mart) == (
        ["post_year", "category", "category_count"],
        [["2018", "travel", "5"], ["2017", "art", "3"]],
    )


def test_the_records_per_path_table_writes_counts_as_every_summary_does() -> None:
    """The demo's "records per path" printed ``11154`` beside the land and stream summaries'
    ``11,154`` (the same kind a trial found in land and stream: ``TableTotals.summary_rows``)."""
    from pinlake.lakehouse.counts import DeliveryCounts, PathCounts
    from pinlake.pipeline.demo import path_rows
    from pinlake.produce import ProduceResult

    produced = {
        "batch": ProduceResult("api", events=11_154, records={"pin": 11_154, "geo": 7, "user": 0}),
        "stream": ProduceResult("api", events=11_154, records={"pin": 11_154}),
    }
    batch = PathCounts(raw={"pin": 11_154}, distinct={"pin": 7_033}, quarantined={"pin": 1_500})
    stream = PathCounts(raw={"pin": 11_154}, staged={"pin": 7_033})
    counts = DeliveryCounts(paths={"batch": batch, "stream": stream})
    rows = path_rows(produced, counts, {"pin": 11_154, "geo": 7})
    assert rows[0] == ("batch", "pin", "11,154", "11,154", "11,154", "1,500", "7,033", "0")
    assert rows[1] == ("batch", "geo", "7", "7", "0", "0", "0", "0")
    assert rows[3] == ("stream", "pin", "11,154", "-", "11,154", "0", "0", "7,033")
    assert len(rows) == 6
