"""The source database: init, reference load, reads, and one-line CLI errors."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from sqlalchemy import inspect

from pinlake.cli import main
from pinlake.config import Settings, get_settings
from pinlake.errors import PinlakeError
from pinlake.schemas import SOURCE_COLUMNS
from pinlake.source.db import engine_for, fetch_rows, init_source, row_count, source_size
from pinlake.source.reference import load_reference


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_init_creates_typed_tables(settings):
    init_source(settings, rows=500, seed=7, url=None, force=False)
    engine = engine_for(settings)
    assert row_count(engine) == {"pin": 500, "geo": 500, "user": 500}
    assert source_size(engine) == 500
    columns = {c["name"]: c for c in inspect(engine).get_columns("geolocation_data")}
    assert list(columns) == ["ind", "timestamp", "latitude", "longitude", "country"]
    assert columns["ind"]["primary_key"] == 1
    pin_columns = [c["name"] for c in inspect(engine).get_columns("pinterest_data")]
    assert pin_columns[:3] == ["index", "unique_id", "title"]
    rows = fetch_rows(engine, "geo", [3, 1, 999_999])
    assert sorted(rows) == [1, 3]
    assert list(rows[1]) == ["ind", "timestamp", "latitude", "longitude", "country"]
    assert isinstance(rows[1]["timestamp"], datetime)
    assert fetch_rows(engine, "user_data", [2])[2]["ind"] == 2
    engine.dispose()


def test_init_refuses_existing_rows_then_force(settings):
    init_source(settings, rows=50, seed=1, url=None, force=False)
    with pytest.raises(PinlakeError, match="already has data.*--force"):
        init_source(settings, rows=50, seed=1, url=None, force=False)
    init_source(settings, rows=80, seed=2, url=None, force=True)
    engine = engine_for(settings)
    assert row_count(engine)["user"] == 80
    engine.dispose()


def test_init_same_seed_same_rows(tmp_path, settings):
    url_a, url_b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    init_source(settings, rows=300, seed=5, url=url_a, force=False)
    init_source(settings, rows=300, seed=5, url=url_b, force=False)
    a, b = engine_for(settings, url_a), engine_for(settings, url_b)
    for table in ("pin", "geo", "user"):
        assert fetch_rows(a, table, range(300)) == fetch_rows(b, table, range(300))
    a.dispose()
    b.dispose()


def test_load_reference(settings, aicore_dir):
    load_reference(settings, aicore_dir, url=None)
    engine = engine_for(settings)
    assert row_count(engine) == {"pin": 2019, "geo": 11154, "user": 11154}
    assert source_size(engine) == 11154
    geo = fetch_rows(engine, "geo", [0])[0]
    assert geo == {
        "ind": 0,
        "timestamp": datetime(2019, 1, 1, 7, 21, 13),
        "latitude": -88.8298,
        "longitude": -170.188,
        "country": "Albania",
    }
    user = fetch_rows(engine, "user", [0])[0]
    assert (user["first_name"], user["last_name"], user["age"]) == ("Adam", "Acosta", 20)
    pin = fetch_rows(engine, "pin", [7528, 0])
    assert list(pin) == [7528]  # index 0 is not in the sample
    assert pin[7528]["poster_name"] == "User Info Error"
    assert pin[7528]["tag_list"] == "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
    nbsp = [
        r
        for r in fetch_rows(engine, "pin", range(200)).values()
        if r["description"][-1:] == "\u00a0"
    ]
    assert nbsp  # values kept exactly, trailing NBSP included
    engine.dispose()


def test_load_reference_replaces_synthetic_only_when_forced(settings, aicore_dir):
    """As ``source init`` does: a filled database is replaced only with ``force`` (helper-80:
    ``source load`` replaced 2,000 synthetic rows a table without a word)."""
    init_source(settings, rows=20, seed=1, url=None, force=False)
    with pytest.raises(PinlakeError, match=r"already has data \(.*20 rows.*\); use --force"):
        load_reference(settings, aicore_dir, url=None)
    engine = engine_for(settings)
    assert row_count(engine)["geo"] == 20  # untouched
    load_reference(settings, aicore_dir, url=None, force=True)
    assert row_count(engine)["geo"] == 11154
    engine.dispose()


def test_a_missing_database_of_the_variable_names_what_to_point_it_at(
    home, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PINLAKE_SOURCE_URL", f"sqlite:///{tmp_path / 'gone.db'}")
    get_settings.cache_clear()
    try:
        assert run_cli(["produce", "--to", "bucket"]) == 1
    finally:
        get_settings.cache_clear()
    err = one_error_line(capsys)
    assert err.endswith("or set PINLAKE_SOURCE_URL to a database that holds them"), err


def test_a_small_init_counts_its_users_in_words(settings, capsys) -> None:
    """helper-92: ``source init --rows 3`` said "1 users"."""
    init_source(settings, rows=3, seed=100, url=None, force=False)
    assert "(seed 100, 1 user) in " in capsys.readouterr().out


def test_after_an_init_of_another_url_the_hint_names_the_variable(home, tmp_path, capsys):
    """helper-91: after ``source init --url X``, ``produce`` said "no source database at
    <home>/source.db; run source init first", the step just run."""
    other = tmp_path / "other.db"
    assert run_cli(["source", "init", "--rows", "5", "--url", f"sqlite:///{other}"]) == 0
    capsys.readouterr()
    assert run_cli(["produce", "--to", "bucket"]) == 1
    err = one_error_line(capsys)
    assert f"no source database at {home / 'source.db'}" in err
    assert "or set PINLAKE_SOURCE_URL, which names another database (`source init --url`" in err


def test_cli_source_init_and_load(home, aicore_dir, capsys):
    assert run_cli(["source", "init", "--rows", "200"]) == 0
    assert (home / "source.db").is_file()
    capsys.readouterr()
    assert run_cli(["source", "init", "--rows", "200"]) == 1
    assert "--force" in one_error_line(capsys)
    assert run_cli(["source", "init", "--rows", "100", "--force"]) == 0
    capsys.readouterr()
    assert run_cli(["source", "load", str(aicore_dir)]) == 1
    assert "--force" in one_error_line(capsys)
    assert run_cli(["source", "load", str(aicore_dir), "--force"]) == 0


@pytest.mark.parametrize(
    ("folder", "by_url"),
    [("x%41y", False), ("a b%c", False), ("r#s", False), ("é@t", False)]
    # a folder no home can be (Spark's paths), given as the database's URL
    + [("q?r", True), ("w[bold]x", True)],
)
def test_the_source_database_is_where_its_path_says_whatever_the_path_holds(
    tmp_path, monkeypatch, capsys, folder: str, by_url: bool
) -> None:
    """helper-90: a home ``…/x%41y/h`` made ``sqlite:///…/x%41y/h/source.db``, which SQLAlchemy
    reads as ``…/xAy/h/source.db``: ``source init`` wrote outside the home. A home in ``a b%c``
    was printed as ``a b%25c``. The database is where it should be, and the line names a URL
    that SQLAlchemy reads as that file, in one line (a long one was wrapped inside the path) and
    not read as markup (``[bold]``)."""
    from rich.console import Console
    from sqlalchemy.engine import make_url

    import pinlake.source.db
    from pinlake.config import sqlite_url

    home = tmp_path / "home" if by_url else tmp_path / folder / "h"
    database = tmp_path / folder / "source.db" if by_url else home / "source.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PINLAKE_HOME", str(home))
    # as on a narrow terminal (pinlake's console does not wrap a pipe's lines)
    monkeypatch.setattr(pinlake.source.db, "console", Console(width=40, emoji=False))
    monkeypatch.delenv("PINLAKE_SOURCE_URL", raising=False)
    get_settings.cache_clear()
    url = ["--url", sqlite_url(database)] if by_url else []
    try:
        assert run_cli(["source", "init", "--rows", "5", *url]) == 0
    finally:
        get_settings.cache_clear()
    assert [p for p in tmp_path.rglob("source.db")] == [database]
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("✓ source ")]
    shown = line.removeprefix("✓ source ").split(": pinterest_data")[0]
    assert make_url(shown).database == str(database)
    if "%41" not in folder and "?" not in folder:  # as the file system spells it
        assert shown == f"sqlite:///{database}"
    if not by_url:
        assert make_url(Settings(home=home).source_db_url).database == str(database)


@pytest.mark.parametrize(
    ("password", "user", "database"), [("p@ss:w/rd%", "pin:lake", "pin/terest"), ("x", "y", "z")]
)
def test_the_local_mariadb_url_reads_back_as_its_settings(password, user, database) -> None:
    """Each part of the local MariaDB server's URL is escaped, not the password alone."""
    from sqlalchemy.engine import make_url

    from pinlake.config import MariadbSettings

    url = make_url(MariadbSettings(password=password, user=user, database=database).url)
    assert (url.password, url.username, url.database) == (password, user, database)
    assert (url.host, url.port, url.query) == ("127.0.0.1", 3307, {"charset": "utf8mb4"})


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["source", "init", "--url", "nosuchdb://x"], "nosuchdb"),
        (["source", "init", "--url", "not a url"], "not a database URL"),
        # helper-92: filled, and gone when the command ended
        (["source", "init", "--url", "sqlite://"], "is an in-memory SQLite database"),
        (["source", "init", "--url", "sqlite:///:memory:"], "is an in-memory SQLite database"),
        (["source", "init", "--url", "sqlite:////nonexistent-dir/x/y.db"], "cannot connect"),
        (["source", "load", "/nonexistent/folder"], "not a folder"),
        (["source", "load", "/"], "missing"),
        (["produce", "--to", "bucket"], "no source database"),
    ],
)
def test_cli_one_line_errors(home, args, needle, capsys):
    assert run_cli(args) != 0
    assert needle in one_error_line(capsys)


GEO_ROW = "1,2019-01-01 07:21:13,{},{},X"
USER_ROW = "1,A,B,{},{}"


@pytest.mark.parametrize(
    ("topic", "fields", "error"),
    [
        ("user", ("1_000", "2016-01-01 00:00:00"), "age '1_000' is not a whole number"),
        ("user", (" 30", "2016-01-01 00:00:00"), "age ' 30' is not a whole number"),
        ("user", ("30", "yesterday"), "date_joined 'yesterday' is not a date and time"),
        ("geo", ("nan", "3.5"), "latitude 'nan' is not a decimal number"),
        ("geo", ("1.5", "inf"), "longitude 'inf' is not a decimal number"),
        ("geo", ("", "3.5"), "latitude '' is not a decimal number"),
        # helper-91: a traceback (SQLite's OverflowError), and 1e400 stored as infinity
        ("user", ("9" * 20, "2016-01-01 00:00:00"), f"age '{'9' * 20}' is out of range"),
        ("user", ("2147483648", "2016-01-01 00:00:00"), "age '2147483648' is out of range"),
        ("geo", ("1e400", "3.5"), "latitude '1e400' is out of a double's range"),
    ],
)
def test_a_csv_field_of_the_wrong_type_is_named_with_its_column(
    tmp_path, topic: str, fields: tuple[str, str], error: str
) -> None:
    """helper-90: a user's age ``abc`` failed the load with ``invalid literal for int() with
    base 10: 'abc'``, naming no column; Python's int() and float() also took ``1_000``, `` 30``,
    ``nan`` and ``inf`` (SQLite stores NaN as NULL). Good values in the same places are read."""
    from pinlake.source.reference import read_csv

    path = tmp_path / f"{topic}.csv"
    header = ",".join(c.name for c in SOURCE_COLUMNS[topic])
    row = USER_ROW if topic == "user" else GEO_ROW
    path.write_text(f"{header}\n{row.format(*fields)}\n")
    with pytest.raises(PinlakeError) as raised:
        list(read_csv(path, topic))
    assert str(raised.value).startswith(f"{path}:2: {error}")
    assert "\n" not in str(raised.value)
    good = ("-30", "2016-01-01 00:00:00") if topic == "user" else ("-1.5e1", ".5")
    path.write_text(f"{header}\n{row.format(*good)}\n")
    (read,) = read_csv(path, topic)
    assert [read[c.name] for c in SOURCE_COLUMNS[topic]][3 if topic == "user" else 2] in (
        -30,
        -15.0,
    )


@pytest.mark.parametrize("value", ["true", "1.5", '"7"', "null", "99999999999999999999"])
def test_a_pin_whose_index_is_no_whole_number_is_named(tmp_path, value: str) -> None:
    """A JSON ``true`` passed as an integer index (Python's bool is an int)."""
    from pinlake.source.reference import read_jsonl

    path = tmp_path / "pinterest_data.jsonl"
    names = [c.name for c in SOURCE_COLUMNS["pin"]]
    row = dict.fromkeys(names, "x") | {"index": "@"}
    path.write_text(json.dumps(row).replace('"@"', value) + "\n")
    with pytest.raises(PinlakeError, match=rf"^{path}:1: index {re.escape(value)} is (not a|out)"):
        list(read_jsonl(path))


def test_load_reference_bad_file(settings, tmp_path, aicore_dir):
    folder = tmp_path / "ref"
    folder.mkdir()
    for name in ("geolocation_data.csv", "pinterest_data_sample.jsonl"):
        (folder / name).write_bytes((aicore_dir / name).read_bytes())
    (folder / "user_data.csv").write_text("ind,first_name,last_name,age,date_joined\n0,A,B,x,\n")
    with pytest.raises(PinlakeError, match=r"user_data.csv:2"):
        load_reference(settings, folder, url=None)


@pytest.mark.parametrize(
    ("file", "bad_line", "error"),
    [
        # helper-88's: a user's age `abc` at the end of user_data.csv
        (
            "user_data.csv",
            "930001,A,B,abc,2016-01-01 00:00:00",
            r"user_data.csv:\d+: age 'abc' is not a whole number \(nothing was loaded: the "
            r"source tables are as they were\)$",
        ),
        # a key twice: the file and both lines named (the database's refusal named neither)
        (
            "geolocation_data.csv",
            None,
            r"geolocation_data.csv:\d+: ind \d+ is there twice \(first on line \d+\)",
        ),
    ],
)
def test_a_load_that_fails_keeps_the_tables_it_would_have_replaced(
    home, tmp_path, aicore_dir, capsys, file, bad_line, error
):
    """helper-88: ``source load --force`` of a folder whose user_data.csv had an age of
    ``abc`` failed at that row (exit 1) and left all three tables empty. The old rows stay,
    and no table of the load is left behind; the error says so, and the load's progress bar
    (``loading ref 13173/24327 54%``: rows not kept) is not left above it."""
    folder = tmp_path / "ref"
    folder.mkdir()
    for name in ("geolocation_data.csv", "user_data.csv", "pinterest_data_sample.jsonl"):
        (folder / name).write_bytes((aicore_dir / name).read_bytes())
    text = (folder / file).read_text()
    duplicate = text.splitlines()[-1]  # the last row again
    (folder / file).write_text(text.rstrip("\n") + "\n" + (bad_line or duplicate) + "\n")
    assert run_cli(["source", "init", "--rows", "50"]) == 0
    capsys.readouterr()
    assert run_cli(["source", "load", str(folder), "--force"]) == 1
    captured = capsys.readouterr()
    assert "loading ref" not in captured.out, captured.out
    err = captured.err.strip()
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert re.search(error, err)
    assert err.endswith("(nothing was loaded: the source tables are as they were)")
    engine = engine_for(Settings(home=home))
    assert row_count(engine) == {"pin": 50, "geo": 50, "user": 50}
    assert not [t for t in inspect(engine).get_table_names() if "loading" in t]
    engine.dispose()
    (folder / file).write_text(text)  # the file mended: the load replaces them
    assert run_cli(["source", "load", str(folder), "--force"]) == 0
    engine = engine_for(Settings(home=home))
    assert row_count(engine)["geo"] == 11154
    engine.dispose()


def test_a_database_without_the_tables_names_both_commands_with_their_arguments(
    tmp_path,
) -> None:
    """helper-93: the hint named ``source load`` without the folder it needs."""
    from pinlake.console import PINLAKE

    engine = engine_for(Settings(home=tmp_path / "h"))  # a new SQLite file: no tables
    with pytest.raises(PinlakeError) as raised:
        row_count(engine)
    engine.dispose()
    assert str(raised.value).endswith(
        f"has no table pinterest_data, geolocation_data, user_data; run `{PINLAKE} source "
        f"init` (or `{PINLAKE} source load DIR`, DIR a folder of the real rows) first"
    )


def test_a_file_with_no_rows_loads_its_table_empty_with_a_note(
    home, tmp_path, aicore_dir, capsys
) -> None:
    """helper-93: a user_data.csv of its header only loaded ``user_data 0 rows`` and no word
    more; the load notes each table left without rows and its file (produce then sends no
    record of it). A load of rows in every table has no such note."""
    folder = tmp_path / "ref"
    folder.mkdir()
    for name in ("geolocation_data.csv", "user_data.csv", "pinterest_data_sample.jsonl"):
        (folder / name).write_bytes((aicore_dir / name).read_bytes())
    assert run_cli(["source", "load", str(folder)]) == 0
    assert "no rows for" not in capsys.readouterr().out
    user = folder / "user_data.csv"
    user.write_text(user.read_text().splitlines()[0] + "\n")
    assert run_cli(["source", "load", str(folder), "--force"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "user_data 0 rows" in out
    assert (
        "note: no rows for user_data (user_data.csv): its file holds none, so `produce` sends "
        "no record of that table"
    ) in out, out


def test_a_load_whose_keys_have_gaps_says_what_the_original_producer_reads_there(
    home, tmp_path, aicore_dir, capsys
) -> None:
    """helper-95: the original producer, fed from the reference rows, found no pin for 43 of 50
    draws (``LIMIT <n>, 1`` reads the n-th row; the reference pin table is a sample, indices
    4..10992) and its other pins were other indices'. The load names each table whose keys are
    not 0 .. rows − 1 and what feeds the original producers; tables without gaps get no note."""
    from pinlake.console import PINLAKE

    assert run_cli(["source", "load", str(aicore_dir)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "note: keys with gaps (pinterest_data 2,019 rows, keys 4..10,992): `produce` looks rows "
        "up by key, but the original AiCore producer reads `LIMIT <n>, 1`, the n-th row: most of "
        "its draws find no row there, or the row of another key; for the original producers, "
        f"`{PINLAKE} source init --force` makes complete tables in their place"
    ) in out, out
    assert "geolocation_data" not in out.split("note:", 1)[1], out

    folder = tmp_path / "dense"  # pins 0..2 and their geo and user rows: no gaps
    folder.mkdir()
    pins = [json.loads(line) for line in (aicore_dir / "pinterest_data_sample.jsonl").open()][:3]
    (folder / "pinterest_data_sample.jsonl").write_text(
        "".join(json.dumps({**pin, "index": i}) + "\n" for i, pin in enumerate(pins))
    )
    for name in ("geolocation_data.csv", "user_data.csv"):
        lines = (aicore_dir / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:4]))
    assert run_cli(["source", "load", str(folder), "--force"]) == 0
    out = capsys.readouterr().out
    assert "pinterest_data 3, geolocation_data 3, user_data 3 rows" in out, out
    assert "gaps" not in out, out


def test_a_csv_with_a_byte_order_mark_is_read_and_an_empty_one_named(tmp_path) -> None:
    """helper-91: a spreadsheet's UTF-8 CSV (a byte-order mark first) was refused with
    ``header ['\\ufeffind', …]``; an empty file said ``header None is not …``."""
    from pinlake.source.reference import read_csv

    path = tmp_path / "user_data.csv"
    path.write_text("ind,first_name,last_name,age,date_joined\n1,A,B,30,2016-01-01 00:00:00\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [r["ind"] for r in read_csv(path, "user")] == [1]
    path.write_text("")
    with pytest.raises(PinlakeError) as raised:
        list(read_csv(path, "user"))
    assert str(raised.value) == (
        f"{path}: empty; its first line is the header ind,first_name,last_name,age,date_joined"
    )
    path.write_text("ind,name\n")
    with pytest.raises(PinlakeError, match=r"header ind,name is not ind,first_name,"):
        list(read_csv(path, "user"))


def test_a_pin_line_without_a_key_names_it(tmp_path) -> None:
    """helper-91: a JSONL line missing a key said ``keys are not index,unique_id,…``."""
    from pinlake.source.reference import read_jsonl

    path = tmp_path / "pinterest_data.jsonl"
    names = [c.name for c in SOURCE_COLUMNS["pin"]]
    row = {n: "x" for n in names if n != "category"} | {"index": 1, "colour": "red"}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(row).encode() + b"\n")
    with pytest.raises(PinlakeError) as raised:
        list(read_jsonl(path))
    assert str(raised.value).endswith("(missing: category) (not a source column: colour)")
    path.write_text("[1]\n")
    with pytest.raises(PinlakeError, match=r":1: not a JSON object$"):
        list(read_jsonl(path))


def test_a_folder_with_both_pin_files_names_the_one_not_read(settings, tmp_path, capsys) -> None:
    """helper-92: with pinterest_data.jsonl (10 rows) and pinterest_data_sample.jsonl beside it,
    the load took the first and said nothing of the other."""
    folder = tmp_path / "ref"
    folder.mkdir()
    names = [c.name for c in SOURCE_COLUMNS["pin"]]
    pin = dict.fromkeys(names, "x") | {"index": 1, "downloaded": 1}
    (folder / "pinterest_data.jsonl").write_text(json.dumps(pin) + "\n")
    (folder / "pinterest_data_sample.jsonl").write_text(json.dumps({**pin, "index": 2}) + "\n")
    (folder / "geolocation_data.csv").write_text(
        "ind,timestamp,latitude,longitude,country\n1,2019-01-01 07:21:13,1.5,2.5,X\n"
    )
    (folder / "user_data.csv").write_text(
        "ind,first_name,last_name,age,date_joined\n1,A,B,30,2016-01-01 00:00:00\n"
    )
    assert load_reference(settings, folder, url=None)["pin"] == 1
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "note: pinterest_data_sample.jsonl beside pinterest_data.jsonl was not read "
        "(the pin rows are those of the first)"
    ) in out
