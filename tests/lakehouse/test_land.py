"""`pinlake land`: topics bucket -> raw Delta tables, quarantine, idempotency, recovery."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinlake.bucket.layout import partition_dir
from pinlake.config import Settings
from pinlake.console import PINLAKE, console
from pinlake.errors import UsageError
from pinlake.lakehouse.land import LandOptions, LandResult, land_bucket, print_land_summary

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


def _rows(spark, table: str, prefix: Path | str) -> list:
    """The rows of ``table`` landed from the files under ``prefix`` (a bucket or a folder)."""
    return (
        spark.table(table)
        .filter(f"_source_file like '{prefix}/%'")
        .orderBy("_source_file", "_offset")
        .collect()
    )


def _quarantine(spark, prefix: Path | str) -> list:
    return (
        spark.table("raw.quarantine")
        .filter(f"_source_file like '{prefix}/%'")
        .orderBy("_source_file", "_line")
        .collect()
    )


def _manifest(spark, prefix: Path | str) -> dict[str, tuple[int, int, str | None]]:
    """``{file: (records, quarantined, problem)}`` of the manifest rows of the files under
    ``prefix``: what a load counted for each file it read (``LandResult`` sums them)."""
    return {
        r["file_path"]: (r["records"], r["quarantined"], r["problem"])
        for r in spark.table("raw._loaded_files").filter(f"file_path like '{prefix}/%'").collect()
    }


@dataclass
class SharedLoad:
    """One ``land`` of the files of five cases at once (:func:`shared_load`): its result, and
    each case's folder (its topic's ``partition=<p>``; the first case's three topics'
    ``partition=0``, named by its bucket)."""

    result: LandResult
    bucket: Path
    cases: dict[str, Path]
    files: dict[str, Path]


#: each case's partition (its own folder: a case's rows are those of its folder's files)
CASE_PARTITIONS = {
    "fields": 0, "bad lines": 1, "numbers as text": 2, "corrupt": 3, "arrays": 4, "utf-8": 5,
    "strict json": 6, "rescued": 7,
}  # fmt: skip


@pytest.fixture(scope="module")
def shared_load(
    spark, spark_settings: Settings, tmp_path_factory, write_bucket_file, aicore_dir: Path
) -> SharedLoad:
    """The cases that need one load each, landed by one load (a load's fixed cost is about 9 s:
    bench/bench_land_phases.py): every case writes its files into its own partition folder of
    one bucket, and its test reads the rows, quarantine and manifest rows of that folder."""
    bucket = tmp_path_factory.mktemp("shared") / "my bucket #1"  # spaces and URI-special chars
    part = CASE_PARTITIONS
    files = {
        "pin": write_bucket_file(bucket, "pinterest.pin", 40, [PIN, {**PIN, "index": 2863}]),
        "geo": write_bucket_file(bucket, "pinterest.geo", 0, [GEO]),
        "user": write_bucket_file(bucket, "pinterest.user", 7, [USER]),
    }
    write_bucket_file(bucket, "pinterest.pin", 100, BAD_LINES, partition=part["bad lines"])
    write_bucket_file(
        bucket, "pinterest.geo", 0, [json.dumps(line) for line in NUMBERS_AS_TEXT],
        partition=part["numbers as text"],
    )  # fmt: skip
    good = write_bucket_file(bucket, "pinterest.geo", 0, [GEO], partition=part["corrupt"])
    files["corrupt"] = good.with_name(f"pinterest.geo+{part['corrupt']}+0000000001.json")
    files["corrupt"].write_bytes(b"\x00\xff\xfe garbage \x89PNG\r\n\x1a\n{not json}\n")
    files["empty"] = good.with_name(f"pinterest.geo+{part['corrupt']}+0000000009.json")
    files["empty"].write_bytes(b"")
    rows = _aicore_pins(aicore_dir, 251)
    write_bucket_file(bucket, "pinterest.pin", 30, _array_lines(rows), partition=part["arrays"])
    files.update(_write_utf8_case(bucket, part["utf-8"]))
    write_bucket_file(bucket, "pinterest.pin", 200, STRICT_JSON, partition=part["strict json"])
    write_bucket_file(bucket, "pinterest.geo", 300, RESCUED, partition=part["rescued"])
    result = land_bucket(spark_settings, LandOptions(bucket))
    cases = {
        case: partition_dir(bucket, topic, partition)
        for case, topic, partition in (
            ("bad lines", "pinterest.pin", part["bad lines"]),
            ("numbers as text", "pinterest.geo", part["numbers as text"]),
            ("corrupt", "pinterest.geo", part["corrupt"]),
            ("arrays", "pinterest.pin", part["arrays"]),
            ("utf-8", "pinterest.user", part["utf-8"]),
            ("strict json", "pinterest.pin", part["strict json"]),
            ("rescued", "pinterest.geo", part["rescued"]),
        )
    }
    return SharedLoad(result, bucket, cases, files)


def test_one_load_counts_what_its_manifest_rows_count(spark, shared_load: SharedLoad) -> None:
    """The load's totals are the sums of its manifest's per-file counts (which the cases'
    tests read), per table."""
    result = shared_load.result
    manifest = spark.table("raw._loaded_files").filter(f"file_path like '{shared_load.bucket}/%'")
    for table_name in ("pin", "geo", "user"):
        mine = manifest.filter(f"table_name = '{table_name}'").collect()
        assert result.records[table_name] == sum(r["records"] for r in mine), table_name
        assert result.quarantined[table_name] == sum(r["quarantined"] for r in mine), table_name
    # 3 + 1 (bad lines) + 1 (numbers) + 3 (corrupt: good, corrupt, empty) + 1 (arrays)
    # + 3 (utf-8: plain, gzip, valid U+FFFD only) + 1 (strict json) + 1 (rescued)
    assert result.files_found == result.files_landed == 14
    assert result.files_rejected == {}


def test_lands_every_field_as_delivered_with_metadata(spark, shared_load: SharedLoad):
    bucket, files = shared_load.bucket, shared_load.files
    result = shared_load.result
    manifest = _manifest(spark, bucket)
    counts = {t: manifest[str(files[t])][:2] for t in ("pin", "geo", "user")}
    assert counts == {"pin": (2, 0), "geo": (1, 0), "user": (1, 0)}  # (records, quarantined)
    for t in ("pin", "geo", "user"):
        assert _quarantine(spark, files[t].parent) == [], t
    # where the time went, phase by phase
    assert list(result.phase_seconds) == [
        "tables", "manifest read", "recovery", "load id", "pin", "geo", "user", "quarantine",
        "manifest write",
    ]  # fmt: skip
    assert all(s > 0 for s in result.phase_seconds.values())
    spent = result.spark_startup_seconds + sum(result.phase_seconds.values())
    assert spent <= result.seconds
    pin_file = files["pin"]
    pins = _rows(spark, "raw.pin", pin_file.parent)
    assert [(r["index"], r["_offset"], r["_partition"]) for r in pins] == [
        (7528, 40, 0),
        (2863, 41, 0),
    ]
    assert pins[0]["follower_count"] == "User Info Error"  # as delivered, cleaned in dbt
    assert pins[0]["_topic"] == "pinterest.pin"
    assert pins[0]["_source_file"] == str(pin_file)
    assert pins[0]["_ingested_at"] is not None
    geo = _rows(spark, "raw.geo", files["geo"].parent)[0]
    assert (geo["timestamp"], geo["latitude"], geo["country"]) == (
        "2020-08-28T03:52:47",
        -89.9787,
        "Albania",
    )
    user = _rows(spark, "raw.user", files["user"].parent)[0]
    assert (user["first_name"], user["age"], user["_offset"]) == ("Abigail", 20, 7)


BAD_LINES = [
    PIN,
    "this is not json",
    "[1, 2, 3]",
    {**PIN, "index": "not a number"},
    {k: v for k, v in PIN.items() if k != "index"},
    "",
    {**PIN, "index": 10},
    '{"index": 11, "title": "truncated',
    {**PIN, "index": 12, "title": "\ud83d\ude00 \ud800"},  # json.dumps escapes each surrogate
    # a number beyond a double in a text field landed as "Infinity" (helper-86); the JSON
    # string "\"Infinity\"", which Spark's reader gives the same text, lands
    '{"index": 13, "title": "t", "follower_count": 1e999}',
    '{"index": 14, "follower_count": "1k", "description": -1E400}',
    {**PIN, "index": 15, "follower_count": '"Infinity"', "title": "-Infinity"},
]


#: the reason of a text field holding a number beyond a double (pinlake.lakehouse.records)
BEYOND_DOUBLE = "field {!r} holds a number beyond the range of a double, whose text cannot be kept"


def test_bad_lines_are_quarantined_with_reason_and_good_lines_still_land(
    spark, shared_load: SharedLoad
):
    case = shared_load.cases["bad lines"]
    [(records, quarantined, _problem)] = _manifest(spark, case).values()
    assert records == 3
    assert quarantined == 11  # the array's three elements are three
    rows = _rows(spark, "raw.pin", case)
    assert [r["index"] for r in rows] == [7528, 10, 15]
    assert (rows[2]["follower_count"], rows[2]["title"]) == ('"Infinity"', "-Infinity")
    quarantined = _quarantine(spark, case)
    got = [(q["_line"], q["_offset"], q["_element"], q["reason"]) for q in quarantined]
    assert sorted(got, key=lambda q: (q[0], q[2])) == [
        (2, 101, None, "not a JSON object"),
        (3, 102, 0, "array element is not a JSON object"),
        (3, 102, 1, "array element is not a JSON object"),
        (3, 102, 2, "array element is not a JSON object"),
        (4, 103, None, "field 'index' does not fit type bigint"),
        (5, 104, None, "missing key field 'index'"),
        (6, 105, None, "not a JSON object"),
        (8, 107, None, "not a JSON object"),
        # "?" landed for it: an escape that names no character (pinlake.lakehouse.records)
        (9, 108, None, "JSON escape of an unpaired surrogate (\\uD800-\\uDFFF): not Unicode text"),
        (10, 109, None, BEYOND_DOUBLE.format("follower_count")),
        (11, 110, None, BEYOND_DOUBLE.format("description")),
    ]
    assert quarantined[0]["raw_text"] == "this is not json"
    assert sorted(q["raw_text"] for q in quarantined if q["_line"] == 3) == ["1", "2", "3"]
    assert {q["table_name"] for q in quarantined} == {"pin"}


#: helper-99: what Spark's lenient JSON reader read as records (two of them landed), after a
#: first line that an editor began with a byte order mark (quarantined as "not a JSON object")
STRICT_JSON = [
    "\ufeff" + json.dumps({**PIN, "index": 21}),
    '{"index": 16, "title": "t"} trailing',
    '{"index": 17, "index": 18}',
    '{"index": 19, "title": "nul\x00byte"}',  # a NUL byte, not escaped: "missing key field"
    "{'index': 20}",
    '{"index": 22, "downloaded": NaN}',  # not JSON either: a numeric field's reason, as before
    json.dumps({**PIN, "index": 23, "title": "tab\tand nul\x00 escaped"}),
    json.dumps({**PIN, "index": 24}) + " \t\r",  # JSON's whitespace after the value: lands
    '{"index": 25}, {"index": 26}',  # two values: not one line's record
    '{"index": 27}{"index": 28}',
    # helper-100: an array's parse stopped at its end, and what followed was dropped
    '[{"index": 29}] [{"index": 30}]',
    '[{"index": 31}] x',
    '[{"index": 32}, {"index": 33}] \t',
    # helper-105: NaN/Infinity in a text or an undeclared field (the reason named neither)
    '{"index": 34, "title": NaN}',
    '{"index": 35, "x": -Infinity}',
]


def test_text_that_is_not_json_is_quarantined_and_a_byte_order_mark_is_ignored(
    spark, shared_load: SharedLoad
):
    """RFC 8259 (pinlake.lakehouse.records): one JSON value, unique names, control characters
    escaped; a byte order mark before a text is ignored (§8.1)."""
    case = shared_load.cases["strict json"]
    rows = _rows(spark, "raw.pin", case)
    assert sorted((r["index"], r["title"]) for r in rows) == [
        (21, PIN["title"]),
        (23, "tab\tand nul\x00 escaped"),
        (24, PIN["title"]),
        (32, None),
        (33, None),
    ]
    invalid = (
        "not valid JSON (RFC 8259): text after the value, a repeated key, single quotes, an "
        "unescaped control character or NaN/Infinity"
    )
    got = [(q["_line"], q["reason"], q["raw_text"]) for q in _quarantine(spark, case)]
    assert got == [
        (2, invalid, STRICT_JSON[1]),
        (3, invalid, STRICT_JSON[2]),
        (4, invalid, STRICT_JSON[3]),
        (5, invalid, STRICT_JSON[4]),
        (6, "field 'downloaded' does not fit type bigint", STRICT_JSON[5]),
        (9, invalid, STRICT_JSON[8]),
        (10, invalid, STRICT_JSON[9]),
        (11, invalid, STRICT_JSON[10]),
        (12, invalid, STRICT_JSON[11]),
        (14, invalid, STRICT_JSON[13]),
        (15, invalid, STRICT_JSON[14]),
    ]
    [(records, quarantined, _problem)] = _manifest(spark, case).values()
    assert (records, quarantined) == (5, 11)


#: fields that the geo table does not declare, beside its own (land keeps them: _rescued_data)
EXTRA = {"device": "ios", "Country": "Albania", "meta": {"a": [1, 2.5, "x"], "b": None}}
RESCUED = [
    {**GEO, "ind": 1},
    {**GEO, "ind": 2, **EXTRA, "score": 12.5, 'é "q"': "ü"},
    [{**GEO, "ind": 3, "x": 1}, {**GEO, "ind": 4}],
    '{"ind": 5, "country": "a", "big": -1E400}',
    '{"ind": 6, "extra": 1, "extra": 2}',
    # an element's text is written from Spark's variant: 1e999 would be "Infinity" (it landed)
    '[{"ind": 7, "country": 1e999}, {"ind": 8}]',
    '[{"ind": 9, "x": -1e999}]',
    # helper-103: a declared field's string "Infinity" hid the undeclared 1e999 (it landed)
    '{"ind": 10, "country": "Infinity", "x": 1e999}',
    '{"ind": 11, "x": {"y": [-1e999]}}',
    '{"ind": 12, "x": "Infinity", "y": 1e300}',  # the words, and a double in range: land
    # helper-103's kind in a declared text field: 1e999 inside its object landed as "Infinity"
    '{"ind": 13, "country": {"a": [1e999]}}',
    '{"ind": 14, "country": {"a": "Infinity"}}',  # the word only: lands
    # helper-104: in an array of mixed types (Spark's schema says VARIANT, not DOUBLE)
    '{"ind": 15, "x": [1e999, "s"]}',
    '{"ind": 16, "country": {"k": [{"a": 1e999}, {"a": "s"}]}}',
    # the words as strings beside a double, and no number beyond it: land (were quarantined)
    '{"ind": 17, "country": {"name": "Infinity", "n": 1e2}}',
    '{"ind": 18, "x": ["-Infinity", 2]}',
    '[{"ind": 19, "y": {"v": "Infinity", "w": [1e2, true]}}]',
]


def test_fields_the_table_does_not_declare_land_in_rescued_data(spark, shared_load: SharedLoad):
    """A record's fields that its table does not declare are kept in ``_rescued_data`` (one JSON
    object of them, values as delivered), never dropped (they were, before it); names match
    exactly (``Country`` is not ``country``); an element of an array too. A number beyond a
    double's range would change, so its line is quarantined (an array's, whatever field holds
    it), as is a repeated key (not valid JSON)."""
    from pinlake.lakehouse.records import (
        ARRAY_BEYOND_DOUBLE,
        INVALID_JSON,
        RESCUED_BEYOND_DOUBLE,
    )

    case = shared_load.cases["rescued"]
    rows = _rows(spark, "raw.geo", case)
    rescued = {r["ind"]: r["_rescued_data"] for r in rows}
    assert rescued == {
        1: None,
        2: rescued[2],
        3: '{"x":1}',
        4: None,
        12: '{"x":"Infinity","y":1.0E300}',
        14: None,
        17: None,
        18: '{"x":["-Infinity",2]}',
        # an element's text is written from the variant (1e2: 100.0), then read again (a decimal)
        19: '{"y":{"v":"Infinity","w":[100,true]}}',
    }
    assert list(json.loads(rescued[2]).items()) == [*EXTRA.items(), ("score", 12.5), ('é "q"', "ü")]
    countries = {r["ind"]: r["country"] for r in rows}
    assert (countries[2], countries[14]) == ("Albania", '{"a":"Infinity"}')
    assert countries[17] == '{"name":"Infinity","n":100.0}'
    got = [(q["_line"], q["reason"]) for q in _quarantine(spark, case)]
    assert got == [
        (4, RESCUED_BEYOND_DOUBLE),
        (5, INVALID_JSON),
        (6, ARRAY_BEYOND_DOUBLE),
        (7, ARRAY_BEYOND_DOUBLE),
        (8, RESCUED_BEYOND_DOUBLE),
        (9, RESCUED_BEYOND_DOUBLE),
        (11, BEYOND_DOUBLE.format("country")),
        (13, RESCUED_BEYOND_DOUBLE),
        (14, BEYOND_DOUBLE.format("country")),
    ]
    raw_texts = [q["raw_text"] for q in _quarantine(spark, case)][2:]
    assert raw_texts == [*RESCUED[5:9], RESCUED[10], *RESCUED[12:14]]
    [(records, quarantined, _problem)] = _manifest(spark, case).values()
    assert (records, quarantined) == (9, 9)


def test_the_summarys_quarantine_command_counts_every_reason(spark, shared_load: SharedLoad):
    """The query of the command land's summary names (:func:`pinlake.lakehouse.tables.
    quarantine_counts_hint`) runs on the quarantine and counts each of its rows once, by table
    and reason."""
    from pinlake.lakehouse.tables import quarantine_counts_hint

    hint = quarantine_counts_hint("quarantine")
    [query] = re.findall(r'--inline "([^"]+)"', hint)
    rows = spark.sql(query).collect()
    assert [tuple(r.asDict()) for r in rows[:1]] == [("table_name", "reason", "n")]
    quarantine = spark.table("raw.quarantine")
    assert sum(r["n"] for r in rows) == quarantine.count() > 0
    assert len(rows) == quarantine.select("table_name", "reason").distinct().count()
    assert [r["table_name"] for r in rows] == sorted(r["table_name"] for r in rows)


def test_land_is_incremental_and_idempotent(
    spark, spark_settings: Settings, tmp_path, write_bucket_file, monkeypatch
):
    def start_rows() -> int:
        return spark.sql("select * from raw._loaded_files where file_path is null").count()

    bucket = tmp_path / "bucket"
    landed = write_bucket_file(bucket, "pinterest.geo", 0, [GEO, {**GEO, "ind": 1}])
    first = land_bucket(spark_settings, LandOptions(bucket))
    starts = start_rows()
    again = land_bucket(spark_settings, LandOptions(bucket))
    starts_again = start_rows()
    later = write_bucket_file(bucket, "pinterest.geo", 2, [{**GEO, "ind": 2}])
    third = land_bucket(spark_settings, LandOptions(bucket))

    # a run with nothing new records no load; a load records one start row
    assert (starts_again, start_rows()) == (starts, starts + 1)
    assert (first.files_landed, first.records["geo"]) == (1, 2)
    assert (again.files_found, again.files_landed, again.total_records) == (1, 0, 0)
    assert (third.files_found, third.files_landed, third.records["geo"]) == (2, 1, 1)
    assert [r["ind"] for r in _rows(spark, "raw.geo", bucket)] == [7528, 1, 2]
    assert first.files_changed == again.files_changed == third.files_changed == {}
    assert first.files_gone == again.files_gone == third.files_gone == []

    # a landed file that holds other bytes now is landed again, whole, and the summary lists
    # each with both sizes (helper-91: a record appended to one was skipped without a word;
    # helper-93: `produce` after a deletion wrote new records under a landed name, and they
    # were never landed)
    sizes = {path: path.stat().st_size for path in (landed, later)}
    for path in (landed, later):
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({**GEO, "ind": 3}) + "\n")
    fourth = land_bucket(spark_settings, LandOptions(bucket))
    now = {path: path.stat().st_size for path in (landed, later)}
    assert fourth.files_changed == {str(p): (sizes[p], now[p]) for p in (landed, later)}
    assert (fourth.files_landed, fourth.files_seen_before, fourth.files_gone) == (2, 0, [])
    assert fourth.total_records == 5  # the whole of each file: its earlier records again
    inds = [7528, 1, 2, 7528, 1, 3, 2, 3]
    assert sorted(r["ind"] for r in _rows(spark, "raw.geo", bucket)) == sorted(inds)
    monkeypatch.setattr(console, "width", 300)  # a path of the table on one line
    with console.capture() as capture:
        print_land_summary(fourth)
    shown = capture.get()
    assert "files landed again: other bytes than were landed" in shown, shown
    for path in (landed, later):  # one row each: the file, the bytes landed, the bytes now
        assert re.search(
            rf"{re.escape(path.name)}\s*│\s*{sizes[path]:,}\s*│\s*{now[path]:,}\s", shown
        ), shown
    assert (
        "2 file(s) landed before hold other bytes now, so they were landed again, whole"
    ) in " ".join(shown.split())
    # landed again once: the next land has nothing to do
    fifth = land_bucket(spark_settings, LandOptions(bucket))
    assert (fifth.files_changed, fifth.files_landed, fifth.files_seen_before) == ({}, 0, 2)

    # written anew with as many bytes (the listing's size alike): newer than its landing, so
    # hashed, and landed as its hash differs; a file only touched hashes the same: not landed
    text = later.read_text(encoding="utf-8")
    assert text.count('"ind": 3') == 1
    later.write_text(text.replace('"ind": 3', '"ind": 4'), encoding="utf-8")
    os.utime(landed)
    sixth = land_bucket(spark_settings, LandOptions(bucket))
    assert sixth.files_changed == {str(later): (now[later], now[later])}
    assert (sixth.files_landed, sixth.total_records, sixth.files_seen_before) == (1, 2, 1)
    inds += [2, 4]
    assert sorted(r["ind"] for r in _rows(spark, "raw.geo", bucket)) == sorted(inds)

    # a landed file deleted from the bucket is named (nothing was said); its records stay
    landed.unlink()
    seventh = land_bucket(spark_settings, LandOptions(bucket))
    assert (seventh.files_gone, seventh.files_changed) == ([str(landed)], {})
    assert sorted(r["ind"] for r in _rows(spark, "raw.geo", bucket)) == sorted(inds)
    with console.capture() as capture:
        print_land_summary(seventh)
    shown = " ".join(capture.get().split())
    assert (
        f"1 file(s) landed before are no longer in the bucket, e.g. {landed}: their records "
        "stay in raw (land never removes what it landed)"
    ) in shown, shown


def _crashed_load(spark, path: Path, load_id: str) -> None:
    """What a load that crashed after its data commit but before its manifest commit leaves:
    a raw row of ``path`` under ``load_id`` (its start was recorded by the caller)."""
    spark.sql(
        "insert into raw.user (ind, first_name, _offset, _source_file, _load_id) "
        f"values (7528, 'Abigail', 0, '{path}', '{load_id}')"
    )


def test_rows_of_an_unfinished_load_are_removed_and_the_file_relanded(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    path = write_bucket_file(bucket, "pinterest.user", 0, [USER])
    # the load's start row in the manifest (file_path NULL), then its data, then the crash
    spark.sql(
        "insert into raw._loaded_files (records, quarantined, _load_id, loaded_at) "
        "values (0, 0, 'crashed-load', current_timestamp())"
    )
    _crashed_load(spark, path, "crashed-load")
    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records["user"] == 1
    rows = _rows(spark, "raw.user", bucket)
    assert len(rows) == 1 and rows[0]["_load_id"] != "crashed-load"
    manifest = spark.sql("select * from raw._loaded_files where _load_id = 'crashed-load'")
    assert manifest.count() == 0  # its start row went with its data
    # this load's start row stays, beside its file row
    ours = spark.sql(
        f"select file_path from raw._loaded_files where _load_id = '{rows[0]['_load_id']}'"
    ).collect()
    assert sorted(r[0] or "" for r in ours) == ["", str(path)]


def test_a_ctrl_c_during_a_load_says_what_it_leaves_and_the_next_land_mends_it(
    spark, spark_settings: Settings, tmp_path, write_bucket_file, monkeypatch
):
    """helper-93: ``land`` stopped by Ctrl-C said ``interrupted`` alone. A Ctrl-C between the
    load's data and its manifest commit now says that none of its files counts as landed and
    that the next land removes the rows it wrote and lands them: which it does."""
    from pinlake.lakehouse import land as land_module

    bucket = tmp_path / "bucket"
    # records of its own: the worker's home is shared (a file another test landed is a copy)
    write_bucket_file(bucket, "pinterest.user", 0, [{**USER, "last_name": "Interrupted"}])
    append, calls = land_module._append_manifest, []

    def interrupted_commit(*args: object) -> None:
        calls.append(1)
        if len(calls) == 2:  # the load's file rows, after its start row and its data
            raise KeyboardInterrupt
        append(*args)

    monkeypatch.setattr(land_module, "_append_manifest", interrupted_commit)
    with console.capture() as capture, pytest.raises(KeyboardInterrupt):
        land_bucket(spark_settings, LandOptions(bucket))
    shown = " ".join(capture.get().split())
    assert (
        f"land stopped during its load of 1 file: none of them counts as landed; the next "
        f"`{PINLAKE} land` removes the rows this load wrote and lands them"
    ) in shown, shown
    assert len(_rows(spark, "raw.user", bucket)) == 1  # the data this load wrote
    monkeypatch.setattr(land_module, "_append_manifest", append)
    again = land_bucket(spark_settings, LandOptions(bucket))
    assert (again.files_landed, again.records["user"]) == (1, 1)
    assert [r["last_name"] for r in _rows(spark, "raw.user", bucket)] == ["Interrupted"]


def test_an_older_home_is_recovered_from_its_loads_table_which_is_then_dropped(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    bucket = tmp_path / "bucket"
    # records of its own: the worker's home is shared, and a file with the name, size and content of
    # one another test landed would be a copy of it (not landed again)
    path = write_bucket_file(bucket, "pinterest.user", 0, [{**USER, "last_name": "Older"}])
    # before the manifest's start rows, a load recorded its id in raw._loads first
    spark.sql("create table raw._loads (_load_id string, started_at timestamp) using delta")
    spark.sql("insert into raw._loads values ('crashed-old-load', current_timestamp())")
    _crashed_load(spark, path, "crashed-old-load")
    result = land_bucket(spark_settings, LandOptions(bucket))

    assert result.records["user"] == 1
    rows = _rows(spark, "raw.user", bucket)
    assert len(rows) == 1 and rows[0]["_load_id"] != "crashed-old-load"
    assert not spark.catalog.tableExists("raw._loads")


def test_a_copied_bucket_is_not_landed_twice(
    spark, spark_settings: Settings, tmp_path, write_bucket_file
):
    """A bucket moved elsewhere (a folder synced to S3, then ``PINLAKE_BUCKET`` pointed there)
    keeps its files' names and bytes: land recognises them by name, size and content hash,
    records them as copies of the files landed before, and lands none of their records again.
    A file of the same name holds other records when its size or its content differs (a
    producer that filled a new bucket from offset 0; a trial changed one name to another of
    the same length) and is landed."""
    import shutil

    first = tmp_path / "folder bucket"
    rows = [{**GEO, "ind": 900 + i, "country": "Moved"} for i in range(3)]
    landed = write_bucket_file(first, "pinterest.geo", 50, rows, partition=6)
    same_size = write_bucket_file(first, "pinterest.geo", 60, [{**GEO, "ind": 960}], 6)
    land_bucket(spark_settings, LandOptions(first))
    moved = tmp_path / "moved bucket"
    shutil.copytree(first, moved)
    other = write_bucket_file(moved, "pinterest.geo", 0, [{**GEO, "ind": 950}], partition=6)
    write_bucket_file(first, "pinterest.geo", 0, [{**GEO, "ind": 951, "country": "X"}], 6)
    edited = moved / same_size.relative_to(first)  # same length, other record
    edited.write_text(edited.read_text().replace('"ind": 960', '"ind": 961'))
    assert edited.stat().st_size == same_size.stat().st_size

    result = land_bucket(spark_settings, LandOptions(moved))

    copy = moved / landed.relative_to(first)
    assert result.files_copied == {str(copy): str(landed)}
    assert (result.files_found, result.files_landed, result.records["geo"]) == (3, 2, 2)
    assert sorted(r["ind"] for r in _rows(spark, "raw.geo", moved)) == [950, 961]
    assert _manifest(spark, moved)[str(copy)][2].startswith(f"a copy of {landed} (same name")
    assert _manifest(spark, moved)[str(other)] == (1, 0, None)
    assert _manifest(spark, moved)[str(edited)] == (1, 0, None)
    with console.capture() as shown:
        print_land_summary(result)
    out = " ".join(shown.get().split())
    assert "1 copies of files landed from elsewhere (not landed again)" in out
    assert f"e.g. {copy} = {landed}: the bucket was copied or moved" in out
    # not only a copy: two writers from one source deliver the same files (helper-67's trial)
    assert "or another writer delivered the same records under the same offsets" in out
    again = land_bucket(spark_settings, LandOptions(moved))  # recorded: seen before
    assert (again.files_seen_before, again.files_copied, again.files_landed) == (3, {}, 0)
    # a copy seen before is counted as one, not as a rejected file (helper-93: "(1 rejected)")
    assert (again.files_copied_before, again.files_rejected_before) == (1, 0)
    with console.capture() as shown:
        print_land_summary(again)
    out = " ".join(shown.get().split())
    assert "3 landed or rejected before (0 rejected, 1 copies of files landed from" in out, out


def test_missing_bucket_is_a_usage_error(spark_settings: Settings, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        land_bucket(spark_settings, LandOptions(tmp_path / "nope"))


def test_corrupt_and_empty_files_never_abort_the_load(spark, shared_load: SharedLoad):
    manifest = _manifest(spark, shared_load.cases["corrupt"])
    assert len(manifest) == 3 and all(problem is None for *_, problem in manifest.values())
    assert sum(m[0] for m in manifest.values()) == 1  # records
    assert sum(m[1] for m in manifest.values()) == 3  # quarantined
    corrupt = shared_load.files["corrupt"]
    assert manifest[str(corrupt)][:2] == (0, 3)  # its three lines, none a JSON object
    assert manifest[str(shared_load.files["empty"])][:2] == (0, 0)
    # the summary says which landed file held nothing (only the empty one: the corrupt one's
    # lines are quarantined)
    assert shared_load.result.files_empty == [str(shared_load.files["empty"])]
    reasons = [(q["_line"], q["reason"]) for q in _quarantine(spark, shared_load.cases["corrupt"])]
    # the first line's bytes (\xff\xfe, \x89) are not UTF-8: quarantined as such, not decoded
    assert reasons == [(1, NOT_UTF8), (2, "not a JSON object"), (3, "not a JSON object")]


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


#: the stream path's words for bytes that are not UTF-8 (tests/lakehouse/test_stream_batches.py)
NOT_UTF8 = "Data is not valid UTF-8"
#: U+FFFD delivered as valid UTF-8: text like any other
VALID_FFFD = "\ufffd".encode()
assert VALID_FFFD == b"\xef\xbf\xbd"

#: the lines of the utf-8 case's plain file, pinterest.user+5+0000005000.json, as bytes
UTF8_LINES = [
    b'{"ind": 90001, "first_name": "Valid"}',  # 5000
    b'{"ind": 90006, "first_name": "\xff\xfe"}',  # 5001: the new-user trial's line
    b'{"ind": 90007, "first_name": "' + VALID_FFFD + b'"}',  # 5002: lands unchanged
    b'[{"ind": 90008, "first_name": "ok"}, {"ind": 90009, "first_name": "\xc3"}]',  # 5003
    b'{"ind": 90014, "first_name": "cut \xe2\x82',  # 5004: cut short inside a character
    b"\xff",  # 5005: no JSON either: the bytes come first
    b'{"ind": 90010, "first_name": "' + VALID_FFFD + b'\xff"}',  # 5006: valid U+FFFD, then not
    b'{"ind": 90015, "first_name": "\xed\xa0\x80"}',  # 5007: a surrogate (CESU-8)
    b'{"ind": 90011, "first_name": "After"}',  # 5008: the lines after still line up
]
#: the lines of its gzip file, pinterest.user+5+0000006000.json.gz
UTF8_GZIP_LINES = [
    b'{"ind": 90012, "first_name": "Gzip"}',  # 6000
    b'{"ind": 90013, "first_name": "\xe2\x82"}',  # 6001
]
#: its file of valid lines only, one holding U+FFFD, pinterest.user+5+0000007000.json
UTF8_VALID_LINES = [
    b'{"ind": 90016, "first_name": "' + VALID_FFFD + VALID_FFFD + b'"}',  # 7000
    b'{"ind": 90017, "first_name": "\\ufffd escaped"}',  # 7001: the JSON escape of U+FFFD
]


def _write_utf8_case(bucket: Path, partition: int) -> dict[str, Path]:
    """The files of the utf-8 case (the sink writes a record's bytes as delivered, so a line
    may hold any bytes): ``{"utf-8 plain": path, "utf-8 gzip": path, "utf-8 valid": path}``."""
    from pinlake.bucket.layout import file_path

    paths = {
        "utf-8 plain": (file_path(bucket, "pinterest.user", partition, 5000), UTF8_LINES),
        "utf-8 valid": (file_path(bucket, "pinterest.user", partition, 7000), UTF8_VALID_LINES),
    }
    gz = file_path(bucket, "pinterest.user", partition, 6000)
    paths["utf-8 gzip"] = (gz.with_name(gz.name + ".gz"), UTF8_GZIP_LINES)
    for path, lines in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        body = b"".join(line + b"\n" for line in lines)
        path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return {case: path for case, (path, _lines) in paths.items()}


def test_a_line_that_is_not_utf8_is_quarantined_and_the_others_of_its_file_land(
    spark, shared_load: SharedLoad
):
    """Bytes that are not UTF-8, in a plain or a gzip file, are never decoded with replacement
    characters: the line is quarantined once, whatever it holds (an array, JSON cut short, no
    JSON), with the stream path's reason and its bytes in base64; the other lines of the file
    land at their offsets, and the counts say so."""
    case, files = shared_load.cases["utf-8"], shared_load.files
    manifest = _manifest(spark, case)
    assert manifest[str(files["utf-8 plain"])] == (3, 6, None)  # (records, quarantined, problem)
    assert manifest[str(files["utf-8 gzip"])] == (1, 1, None)
    assert manifest[str(files["utf-8 valid"])] == (2, 0, None)
    # the user table is landed only by this case and the fields case's one record
    assert (shared_load.result.records["user"], shared_load.result.quarantined["user"]) == (7, 7)
    landed = _rows(spark, "raw.user", case)
    assert [(r["ind"], r["_offset"]) for r in landed] == [
        (90001, 5000), (90007, 5002), (90011, 5008), (90012, 6000), (90016, 7000), (90017, 7001),
    ]  # fmt: skip
    assert all(
        "\ufffd" not in r["first_name"] for r in landed if r["ind"] < 90016 and r["ind"] != 90007
    )
    quarantined = _quarantine(spark, case)
    got = [
        (q["_source_file"], q["_line"], q["_offset"], q["_element"], q["reason"], q["raw_text"])
        for q in quarantined
    ]
    plain, gz = str(files["utf-8 plain"]), str(files["utf-8 gzip"])

    def b64(line: bytes) -> str:
        return base64.b64encode(line).decode()

    assert got == [
        (plain, 2, 5001, None, NOT_UTF8, b64(UTF8_LINES[1])),
        (plain, 4, 5003, None, NOT_UTF8, b64(UTF8_LINES[3])),  # once, not per element
        (plain, 5, 5004, None, NOT_UTF8, b64(UTF8_LINES[4])),
        (plain, 6, 5005, None, NOT_UTF8, b64(UTF8_LINES[5])),
        (plain, 7, 5006, None, NOT_UTF8, b64(UTF8_LINES[6])),
        (plain, 8, 5007, None, NOT_UTF8, b64(UTF8_LINES[7])),
        (gz, 2, 6001, None, NOT_UTF8, b64(UTF8_GZIP_LINES[1])),
    ]
    assert {q["table_name"] for q in quarantined} == {"user"}


def test_a_replacement_character_delivered_as_utf8_lands_unchanged(spark, shared_load: SharedLoad):
    """U+FFFD sent as valid UTF-8 (``EF BF BD``) or as its JSON escape is text like any other:
    it lands as delivered, beside lines that are not UTF-8 and in a file of its own."""
    landed = {
        r["ind"]: r["first_name"] for r in _rows(spark, "raw.user", shared_load.cases["utf-8"])
    }
    assert landed[90007] == "\ufffd"
    assert landed[90016] == "\ufffd\ufffd"
    assert landed[90017] == "\ufffd escaped"


NUMBERS_AS_TEXT = [
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
    # an int field is the raw table's bigint: beyond a 32-bit int lands, beyond a bigint does
    # not, and its reason names bigint ("type int" read as the 32-bit limit)
    {**GEO, "ind": 3_000_000_000},
    {**GEO, "ind": 2**63},
]


def test_numbers_delivered_as_json_text_land_as_numbers(spark, shared_load: SharedLoad):
    """Issue 10, item 3: ``json.dumps(row, default=str)`` sends MySQL DECIMAL columns as text."""
    case = shared_load.cases["numbers as text"]
    rows = _rows(spark, "raw.geo", case)
    assert [(r["ind"], r["latitude"], r["longitude"]) for r in rows] == [
        (117, -12.5, 33.1),
        (118, 10.0, -1.0),
        (3_000_000_000, GEO["latitude"], GEO["longitude"]),
    ]
    [(records, quarantined, _problem)] = _manifest(spark, case).values()
    assert (records, quarantined) == (3, 5)
    assert [q["reason"] for q in _quarantine(spark, case)] == [
        "field 'latitude' does not fit type double",
        "field 'longitude' does not fit type double",
        "field 'ind' does not fit type bigint",
        "field 'latitude' does not fit type double",
        "field 'ind' does not fit type bigint",
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
    assert again.files_retried == []

    # a rejected file written anew (mended) is tried again and lands (helper-94: it was never
    # looked at again); the others, unchanged, are not
    truncated.write_bytes(gzip.compress(json.dumps({**PIN, "index": 600}).encode() + b"\n"))
    mended = land_bucket(spark_settings, LandOptions(bucket))
    assert (mended.files_retried, mended.files_landed, mended.files_rejected) == (
        [str(truncated)],
        1,
        {},
    )
    assert (mended.files_seen_before, mended.files_rejected_before) == (6, 4)
    assert [r["index"] for r in _rows(spark, "raw.pin", bucket)] == [7528, 500, 501, 600]
    with console.capture() as capture:
        print_land_summary(mended)
    assert (
        f"1 file(s) rejected before were written since and tried again, e.g. {truncated}"
    ) in " ".join(capture.get().split())
    after = land_bucket(spark_settings, LandOptions(bucket))
    assert (after.files_retried, after.files_landed, after.files_changed) == ([], 0, {})
    assert (after.files_seen_before, after.files_rejected_before) == (7, 4)


def _aicore_pins(aicore_dir: Path, n: int) -> list[dict]:
    """The first ``n`` real pin rows of the reference sample (read, never copied)."""
    with (aicore_dir / "pinterest_data_sample.jsonl").open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(n)]


def _array_lines(rows: list[dict]) -> list:
    """The lines of the array case from 251 real pin rows (offsets 30 to 36)."""
    one, many = rows[0], rows[1:]
    return [
        [one],  # offset 30
        many,  # offset 31: 250 rows in one record
        {**one, "index": 99_999},  # offset 32: a plain object, _element null
        [{**one, "index": 99_998}, 5, "x", {"title": "no key"}],  # offset 33
        [],  # offset 34
        '[{"index": 1}, ',  # offset 35: cut short
        "  [ ]  ",  # offset 36: empty too
    ]


def test_a_line_that_is_a_json_array_lands_one_row_per_element(
    spark, shared_load: SharedLoad, aicore_dir: Path
):
    """What the sink writes for ``{"records":[{"value":[row]}]}`` (a one-element array) and for
    one record whose value is an array of 250 rows: a row per element, as Spark's JSON reader
    made in the original pipeline, each with its position; an element that is not an object and
    an empty array are quarantined with their reasons, never dropped."""
    rows = _aicore_pins(aicore_dir, 251)
    one, many = rows[0], rows[1:]
    case = shared_load.cases["arrays"]
    [(records, quarantined, _problem)] = _manifest(spark, case).values()
    assert records == 1 + 250 + 1 + 1
    assert quarantined == 3 + 1 + 1 + 1
    landed = (
        spark.table("raw.pin")
        .filter(f"_source_file like '{case}/%'")
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
    quarantined = _quarantine(spark, case)
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
