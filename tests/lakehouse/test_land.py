"""`pinlake land`: topics bucket -> raw Delta tables, quarantine, idempotency, recovery."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.errors import UsageError
from pinlake.lakehouse.land import LandOptions, land_bucket

# slow: it starts a Spark JVM (tens of seconds), so the fast loop leaves it out
pytestmark = [pytest.mark.spark, pytest.mark.slow]

PIN = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": "No Title Data Available",
    "description": "No description available Story format",
    "poster_name": "User Info Error",
    "follower_count": "User Info Error",
    "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
    "is_image_or_video": "multi-video(story page format)",
    "image_src": "Image src error.",
    "downloaded": 0,
    "save_location": "Local save in /data/vehicles",
    "category": "vehicles",
}
GEO = {
    "ind": 7528,
    "timestamp": "2020-08-28T03:52:47",
    "latitude": -89.9787,
    "longitude": -173.293,
    "country": "Albania",
}
USER = {
    "ind": 7528,
    "first_name": "Abigail",
    "last_name": "Ali",
    "age": 20,
    "date_joined": "2015-10-24 11:23:51",
}


def _rows(spark, table: str, bucket: Path) -> list:
    return (
        spark.table(table)
        .filter(f"_source_file like '{bucket}/%'")
        .orderBy("_source_file", "_offset")
        .collect()
    )


def _quarantine(spark, bucket: Path) -> list:
    return (
        spark.table("raw.quarantine")
        .filter(f"_source_file like '{bucket}/%'")
        .orderBy("_source_file", "_line")
        .collect()
    )


def test_lands_every_field_as_delivered_with_metadata(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "my bucket #1"  # spaces and URI-special characters in the path
    pin_file = write_bucket_file(bucket, "pinterest.pin", 40, [PIN, {**PIN, "index": 2863}])
    write_bucket_file(bucket, "pinterest.geo", 0, [GEO])
    write_bucket_file(bucket, "pinterest.user", 7, [USER])

    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records == {"pin": 2, "geo": 1, "user": 1}
    assert result.total_quarantined == 0
    # where the time went, phase by phase (no quarantine phase: nothing was quarantined)
    assert list(result.phase_seconds) == [
        "tables", "recovery", "manifest read", "load id", "pin", "geo", "user", "manifest write"
    ]  # fmt: skip
    assert all(s > 0 for s in result.phase_seconds.values())
    spent = result.spark_startup_seconds + sum(result.phase_seconds.values())
    assert spent <= result.seconds
    pins = _rows(spark, "raw.pin", bucket)
    assert [(r["index"], r["_offset"], r["_partition"]) for r in pins] == [
        (7528, 40, 0),
        (2863, 41, 0),
    ]
    assert pins[0]["follower_count"] == "User Info Error"  # as delivered, cleaned in dbt
    assert pins[0]["_topic"] == "pinterest.pin"
    assert pins[0]["_source_file"] == str(pin_file)
    assert pins[0]["_ingested_at"] is not None
    geo = _rows(spark, "raw.geo", bucket)[0]
    assert (geo["timestamp"], geo["latitude"], geo["country"]) == (
        "2020-08-28T03:52:47",
        -89.9787,
        "Albania",
    )
    user = _rows(spark, "raw.user", bucket)[0]
    assert (user["first_name"], user["age"], user["_offset"]) == ("Abigail", 20, 7)


def test_bad_lines_are_quarantined_with_reason_and_good_lines_still_land(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    lines = [
        PIN,
        "this is not json",
        "[1, 2, 3]",
        {**PIN, "index": "not a number"},
        {k: v for k, v in PIN.items() if k != "index"},
        "",
        {**PIN, "index": 10},
        '{"index": 11, "title": "truncated',
    ]
    write_bucket_file(bucket, "pinterest.pin", 100, lines)

    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records["pin"] == 2
    assert result.quarantined["pin"] == 8  # the array's three elements are three
    assert [r["index"] for r in _rows(spark, "raw.pin", bucket)] == [7528, 10]
    quarantined = _quarantine(spark, bucket)
    got = [(q["_line"], q["_offset"], q["_element"], q["reason"]) for q in quarantined]
    assert sorted(got, key=lambda q: (q[0], q[2])) == [
        (2, 101, None, "not a JSON object"),
        (3, 102, 0, "array element is not a JSON object"),
        (3, 102, 1, "array element is not a JSON object"),
        (3, 102, 2, "array element is not a JSON object"),
        (4, 103, None, "field 'index' does not fit type int"),
        (5, 104, None, "missing key field 'index'"),
        (6, 105, None, "not a JSON object"),
        (8, 107, None, "not a JSON object"),
    ]
    assert quarantined[0]["raw_text"] == "this is not json"
    assert sorted(q["raw_text"] for q in quarantined if q["_line"] == 3) == ["1", "2", "3"]
    assert {q["table_name"] for q in quarantined} == {"pin"}


def test_land_is_incremental_and_idempotent(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    write_bucket_file(bucket, "pinterest.geo", 0, [GEO, {**GEO, "ind": 1}])
    first = land_bucket(spark_settings, LandOptions(bucket))
    again = land_bucket(spark_settings, LandOptions(bucket))
    write_bucket_file(bucket, "pinterest.geo", 2, [{**GEO, "ind": 2}])
    third = land_bucket(spark_settings, LandOptions(bucket))

    assert (first.files_landed, first.records["geo"]) == (1, 2)
    assert (again.files_found, again.files_landed, again.total_records) == (1, 0, 0)
    assert (third.files_found, third.files_landed, third.records["geo"]) == (2, 1, 1)
    assert [r["ind"] for r in _rows(spark, "raw.geo", bucket)] == [7528, 1, 2]


def test_rows_of_an_unfinished_load_are_removed_and_the_file_relanded(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    path = write_bucket_file(bucket, "pinterest.user", 0, [USER])
    # A crash after the data commit but before the manifest commit leaves rows behind.
    spark.sql("insert into raw._loads values ('crashed-load', current_timestamp())")
    spark.sql(
        "insert into raw.user (ind, first_name, _offset, _source_file, _load_id) "
        f"values (7528, 'Abigail', 0, '{path}', 'crashed-load')"
    )
    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records["user"] == 1
    rows = _rows(spark, "raw.user", bucket)
    assert len(rows) == 1 and rows[0]["_load_id"] != "crashed-load"
    assert spark.sql("select * from raw._loads where _load_id = 'crashed-load'").count() == 0


def test_missing_bucket_is_a_usage_error(spark_settings: Settings, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        land_bucket(spark_settings, LandOptions(tmp_path / "nope"))


def test_corrupt_and_empty_files_never_abort_the_load(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    good = write_bucket_file(bucket, "pinterest.geo", 0, [GEO])
    corrupt = good.with_name("pinterest.geo+0+0000000001.json")
    corrupt.write_bytes(b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n{not json}\n")
    good.with_name("pinterest.geo+0+0000000009.json").write_bytes(b"")

    result = land_bucket(spark_settings, LandOptions(bucket))

    assert (result.files_landed, result.records["geo"], result.quarantined["geo"]) == (3, 1, 3)
    reasons = {q["reason"] for q in _quarantine(spark, bucket)}
    assert reasons == {"not a JSON object"}


def test_cli_reports_bad_paths_on_one_line(tmp_path, capsys):
    from pinlake.cli import main

    not_a_folder = tmp_path / "file.csv"
    not_a_folder.write_text("x")
    for argv, expected in (
        (["land", "--bucket", str(tmp_path / "missing")], "does not exist"),
        (["export", "--out", str(not_a_folder)], "is not a folder"),
        (["export", "--no-such-option"], "No such option"),
        (["land", "--no-such-option"], "No such option"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["--home", str(tmp_path / "home"), *argv])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2
        assert err.startswith("error: ") and expected in err and "\n" not in err


def test_numbers_delivered_as_json_text_land_as_numbers(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    """Issue 10, item 3: ``json.dumps(row, default=str)`` sends MySQL DECIMAL columns as text."""
    bucket = tmp_path / "bucket"
    lines = [
        {
            "ind": 117,
            "timestamp": "2019-03-04 05:06:07",
            "latitude": "-12.5",
            "longitude": "33.1",
            "country": "Chad",
        },
        {**GEO, "ind": "118", "latitude": " 1e1 ", "longitude": -1},
        {**GEO, "ind": 119, "latitude": "abc"},
        {**GEO, "ind": 120, "longitude": "NaN"},
        {**GEO, "ind": "12.5"},
        {**GEO, "ind": 121, "latitude": 1e400},
    ]
    write_bucket_file(bucket, "pinterest.geo", 0, [json.dumps(line) for line in lines])

    result = land_bucket(spark_settings, LandOptions(bucket))

    rows = _rows(spark, "raw.geo", bucket)
    assert [(r["ind"], r["latitude"], r["longitude"]) for r in rows] == [
        (117, -12.5, 33.1),
        (118, 10.0, -1.0),
    ]
    assert (result.records["geo"], result.quarantined["geo"]) == (2, 4)
    assert [q["reason"] for q in _quarantine(spark, bucket)] == [
        "field 'latitude' does not fit type float",
        "field 'longitude' does not fit type float",
        "field 'ind' does not fit type int",
        "field 'latitude' does not fit type float",
    ]


def test_every_file_under_topics_is_landed_or_reported(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    """Issue 10, item 4: gzip files land; files that cannot be landed are recorded with the
    reason; files of other topics are reported and left alone; the totals add up."""
    from pinlake.bucket.layout import file_path

    bucket = tmp_path / "bucket"
    plain = write_bucket_file(bucket, "pinterest.pin", 0, [PIN])
    gz = plain.with_name("pinterest.pin+0+0000000500.json.gz")
    gz.write_bytes(
        gzip.compress(
            b"".join(json.dumps({**PIN, "index": i}).encode() + b"\n" for i in (500, 501))
        )
    )
    truncated = plain.with_name("pinterest.pin+0+0000000600.json.gz")
    truncated.write_bytes(gzip.compress(json.dumps(PIN).encode() + b"\n")[:-12])
    not_gzip = plain.with_name("pinterest.pin+0+0000000700.json.gz")
    not_gzip.write_bytes(json.dumps(PIN).encode() + b"\n")
    avro = plain.with_name("pinterest.pin+0+0000000800.avro")
    avro.write_bytes(b"Obj\x01")
    odd_name = plain.with_name("pin-export.json")
    odd_name.write_text(json.dumps(PIN) + "\n")
    misplaced = plain.parent.parent / "pinterest.pin+0+0000000900.json"
    misplaced.write_text(json.dumps(PIN) + "\n")
    other_topic = file_path(bucket, "someone.else", 0, 0)
    other_topic.parent.mkdir(parents=True)
    other_topic.write_text(json.dumps(PIN) + "\n")

    result = land_bucket(spark_settings, LandOptions(bucket))
    again = land_bucket(spark_settings, LandOptions(bucket))

    assert [r["index"] for r in _rows(spark, "raw.pin", bucket)] == [7528, 500, 501]
    assert [r["_offset"] for r in _rows(spark, "raw.pin", bucket)] == [0, 500, 501]
    rejected = result.files_rejected
    assert set(rejected) == {str(p) for p in (truncated, not_gzip, avro, odd_name, misplaced)}
    assert rejected[str(truncated)].startswith("cannot be read: EOFError")
    assert rejected[str(not_gzip)].startswith("cannot be read: BadGzipFile")
    assert "extension" in rejected[str(avro)]
    assert "file name is not" in rejected[str(odd_name)]
    assert "partition=<p> folder" in rejected[str(misplaced)]
    assert result.files_not_read == {
        str(other_topic): "topic 'someone.else' is not a batch topic of this pipeline "
        "(pinterest.geo, pinterest.pin, pinterest.user)"
    }
    assert result.files_found == result.files_landed + len(rejected) == 2 + 5
    assert (again.files_found, again.files_seen_before, again.files_rejected_before) == (7, 7, 5)
    assert (again.files_landed, again.files_rejected) == (0, {})
    manifest = {
        r["file_path"]: (r["records"], r["problem"])
        for r in spark.table("raw._loaded_files").filter(f"file_path like '{bucket}/%'").collect()
    }
    assert manifest[str(gz)] == (2, None)
    assert manifest[str(truncated)] == (0, rejected[str(truncated)])
    assert str(other_topic) not in manifest


def _aicore_pins(aicore_dir: Path, n: int) -> list[dict]:
    """The first ``n`` real pin rows of the reference sample (read, never copied)."""
    with (aicore_dir / "pinterest_data_sample.jsonl").open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


def test_a_line_that_is_a_json_array_lands_one_row_per_element(
    spark, spark_settings: Settings, tmp_path, write_bucket_file, aicore_dir: Path
):
    """What the sink writes for ``{"records":[{"value":[row]}]}`` (a one-element array) and for
    one record whose value is an array of 250 rows: a row per element, as Spark's JSON reader
    made in the original pipeline, each with its position; an element that is not an object and
    an empty array are quarantined with their reasons, never dropped."""
    rows = _aicore_pins(aicore_dir, 251)
    one, many = rows[0], rows[1:]
    bucket = tmp_path / "bucket"
    lines = [
        [one],  # offset 30
        many,  # offset 31: 250 rows in one record
        {**one, "index": 99_999},  # offset 32: a plain object, _element null
        [{**one, "index": 99_998}, 5, "x", {"title": "no key"}],  # offset 33
        [],  # offset 34
        '[{"index": 1}, ',  # offset 35: cut short
        "  [ ]  ",  # offset 36: empty too
    ]
    write_bucket_file(bucket, "pinterest.pin", 30, lines)

    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records["pin"] == 1 + 250 + 1 + 1
    assert result.quarantined["pin"] == 3 + 1 + 1 + 1
    landed = (
        spark.table("raw.pin")
        .filter(f"_source_file like '{bucket}/%'")
        .orderBy("_offset", "_element")
        .collect()
    )
    keys = [(r["_offset"], r["_element"], r["index"]) for r in landed]
    assert keys[0] == (30, 0, one["index"])
    assert keys[1:251] == [(31, i, row["index"]) for i, row in enumerate(many)]
    assert keys[251:] == [(32, None, 99_999), (33, 0, 99_998)]
    first = landed[0].asDict()
    assert {k: first[k] for k in one} == one  # every field as delivered
    assert landed[250]["title"] == many[-1]["title"]
    manifest = spark.table("raw._loaded_files").filter(f"file_path like '{bucket}/%'").collect()
    assert [(m["records"], m["quarantined"]) for m in manifest] == [(253, 6)]
    quarantined = _quarantine(spark, bucket)
    got = sorted((q["_offset"], q["_element"] or 0, q["reason"]) for q in quarantined)
    assert got == [
        (33, 1, "array element is not a JSON object"),
        (33, 2, "array element is not a JSON object"),
        (33, 3, "missing key field 'index'"),
        (34, 0, "empty JSON array: no record"),
        (35, 0, "JSON array that cannot be read (cut short, or a repeated key in an element)"),
        (36, 0, "empty JSON array: no record"),
    ]
    by_place = {(q["_offset"], q["_element"]): q for q in quarantined}
    assert by_place[(33, 2)]["raw_text"] == '"x"'
    assert by_place[(33, 3)]["raw_text"] == '{"title":"no key"}'
    assert by_place[(34, None)]["raw_text"] == "[]"
    assert by_place[(34, None)]["_line"] == 5
