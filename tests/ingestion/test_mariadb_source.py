"""The MySQL-compatible source (issue 9, item 5): a real MariaDB server under the home, filled by
``pinlake source load`` / ``source init``, read by two of the original producers' shapes.

The server is the OS package (``make setup`` installs it as root). Where it is missing these
tests fail with the one command to run; they never skip.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pinlake_testing import table_rows
from sqlalchemy import create_engine, inspect, text

from pinlake.cli import main
from pinlake.config import MariadbSettings, Settings, get_settings
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError
from pinlake.produce.payload import row_to_json
from pinlake.services import manager, mariadb
from pinlake.services.process import free_ports, is_alive
from pinlake.source.db import fetch_rows, row_count
from pinlake.source.reference import load_reference


def _settings(home: Path, port: int) -> Settings:
    return Settings(home=home, source_db="mariadb", mariadb=MariadbSettings(port=port))


def _start(settings: Settings) -> int:
    try:
        mariadb.binaries()
    except PinlakeError as exc:
        pytest.fail(str(exc))  # the message names the one command to run
    return manager.start_mariadb(settings, say=lambda _m: None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A MariaDB server of its own home, on a free loopback port, for the module. The home's
    path holds a blank (a clone in "my projects/"): mariadb-install-db chowned it unquoted and
    failed with "chown: cannot access '…/my'" (helper-68)."""
    settings = _settings(tmp_path_factory.mktemp("mariadb") / "my home", free_ports(1)[0])
    _start(settings)
    yield settings
    mariadb.stop(settings)


def original_select(url: str, table: str, offset: int) -> dict:
    """What the AiCore template does for each table (``user_posting_emulation.py``)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            selected = connection.execute(text(f"SELECT * FROM {table} LIMIT {offset}, 1"))
            for row in selected:
                result = dict(row._mapping)
    finally:
        engine.dispose()
    return result


def test_reference_rows_keep_mysql_types_and_isoformat_works(server, aicore_dir):
    # force: the module's server may hold the other test's load; the URL: PINLAKE_SOURCE_DB=mariadb
    inserted = load_reference(server, aicore_dir, url=None, force=True)
    assert server.source_db_url.startswith("mysql+pymysql://pinlake:")
    assert inserted == {"pin": 2019, "geo": 11154, "user": 11154}
    engine = create_engine(server.source_db_url)
    try:
        types = {
            table: {c["name"]: str(c["type"]) for c in inspect(engine).get_columns(table)}
            for table in ("geolocation_data", "user_data", "pinterest_data")
        }
        assert row_count(engine) == inserted
    finally:
        engine.dispose()
    assert types["geolocation_data"]["timestamp"] == "DATETIME"
    assert types["geolocation_data"]["latitude"] == "DOUBLE"
    assert types["user_data"]["date_joined"] == "DATETIME"
    assert types["pinterest_data"]["index"] == "INTEGER"

    # (a) the PRG/CHEF/SAQ producers: json.dumps with an isoformat() hook on a SELECTed row
    geo = original_select(server.source_db_url, "geolocation_data", 0)
    user = original_select(server.source_db_url, "user_data", 0)
    assert isinstance(geo["timestamp"], datetime)
    assert json.loads(json.dumps(geo, default=lambda o: o.isoformat())) == {
        "ind": 0,
        "timestamp": "2019-01-01T07:21:13",
        "latitude": -88.8298,
        "longitude": -170.188,
        "country": "Albania",
    }
    assert user["date_joined"].isoformat() == "2015-10-21T21:26:45"
    assert user["date_joined"].strftime("%Y:%m:%d %H:%M:%S") == "2015:10:21 21:26:45"


def test_decimal_coordinates_json_dumps_default_str(server, aicore_dir):
    load_reference(server, aicore_dir, url=None, coordinates="decimal", force=True)
    engine = create_engine(server.source_db_url)
    try:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("geolocation_data")}
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT ind, latitude, longitude FROM geolocation_data ORDER BY ind")
            ).all()
        ours = fetch_rows(engine, "geo", [0])[0]  # pinlake's own producer reads this way
    finally:
        engine.dispose()
    assert (columns["latitude"].precision, columns["latitude"].scale) == (10, 7)

    # (b) the producers that serialize with json.dumps(row, default=str)
    geo = original_select(server.source_db_url, "geolocation_data", 0)
    assert geo["latitude"] == Decimal("-88.8298000")
    assert json.dumps(geo, default=str) == (
        '{"ind": 0, "timestamp": "2019-01-01 07:21:13", "latitude": "-88.8298000", '
        '"longitude": "-170.1880000", "country": "Albania"}'
    )
    # ... numeric text, which land types as the numbers (README: float columns)
    posted = json.loads(json.dumps(geo, default=str))
    assert (float(posted["latitude"]), float(posted["longitude"])) == (-88.8298, -170.188)
    # pinlake's producer writes the same values as numbers
    assert row_to_json(ours)["latitude"] == -88.8298
    # every coordinate of the reference table is stored exactly
    with (aicore_dir / "geolocation_data.csv").open(newline="") as handle:
        expected = [
            (int(r["ind"]), float(r["latitude"]), float(r["longitude"]))
            for r in csv.DictReader(handle)
        ]
    assert [(ind, float(lat), float(lon)) for ind, lat, lon in stored] == expected


def test_source_init_and_status_from_the_cli(server, monkeypatch, capsys):
    monkeypatch.setenv("PINLAKE_SOURCE_DB", "mariadb")
    monkeypatch.setenv("PINLAKE_MARIADB__PORT", str(server.mariadb.port))
    monkeypatch.delenv("PINLAKE_SOURCE_URL", raising=False)
    # free ports: a broker or API of another home on the defaults (a running demo) is not ours
    kafka_port, api_port = free_ports(2)
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{kafka_port}")
    monkeypatch.setenv("PINLAKE_API__PORT", str(api_port))
    home = ["--home", str(server.home)]
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as init:
            main([*home, "source", "init", "--rows", "300", "--force"])
        with pytest.raises(SystemExit) as status:
            main([*home, "services", "status"])
    finally:
        get_settings.cache_clear()
    assert init.value.code == 0
    out = capsys.readouterr().out
    assert "pinterest_data 300, geolocation_data 300, user_data 300" in out
    rows = {row[0]: [cell.replace(" ", "") for cell in row] for row in table_rows(out).values()}
    assert rows["mariadb (source)"][1:] == [
        f"127.0.0.1:{server.mariadb.port}/pinterest_data",
        str(mariadb.pid(server)),
        "healthy",
    ], out
    # MariaDB alone, as `services up --no-ingestion --source-db mariadb` leaves a home: Kafka
    # and the API were not started here, and do not count (before --no-ingestion: exit 3)
    assert rows["kafka"][-1] == rows["api"][-1] == "notstarted(servicesup--no-ingestion)", out
    assert status.value.code == 0
    engine = create_engine(server.source_db_url)
    try:
        assert row_count(engine) == {"pin": 300, "geo": 300, "user": 300}
        user = fetch_rows(engine, "user", [7])[7]
    finally:
        engine.dispose()
    assert isinstance(user["date_joined"], datetime)


def test_up_with_another_port_fails_at_once(server):
    pid = mariadb.pid(server)
    other = server.model_copy(update={"mariadb": MariadbSettings(port=free_ports(1)[0])})
    start = time.monotonic()
    with pytest.raises(PinlakeError) as failure:
        manager.start_all(other, quiet=True)
    assert time.monotonic() - start < 5
    assert (
        f"mariadb (pid {pid}) runs with port={server.mariadb.port}, not port={other.mariadb.port}"
    ) in str(failure.value)
    assert mariadb.healthy(server)  # left alone


def test_services_down_stops_it(tmp_path, monkeypatch, capsys):
    settings = _settings(tmp_path / "home", free_ports(1)[0])
    pid = _start(settings)
    assert is_alive(pid) and mariadb.healthy(settings)
    assert (settings.home / "mariadb" / "data" / "mysql").is_dir()
    assert oct(os.stat(settings.home / "mariadb" / "init.sql").st_mode & 0o777) == "0o600"
    monkeypatch.setenv("PINLAKE_MARIADB__PORT", "1")  # down stops what runs, whatever the port
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as down:
            main(["--home", str(settings.home), "services", "down"])
    finally:
        get_settings.cache_clear()
    assert down.value.code == 0
    assert "stopped MariaDB" in capsys.readouterr().out
    assert not is_alive(pid)
    assert mariadb.pid(settings) is None and not mariadb.healthy(settings)
    assert not (settings.run_dir / "mariadb.json").exists()


def test_source_commands_say_how_to_start_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PINLAKE_SOURCE_DB", "mariadb")
    monkeypatch.setenv("PINLAKE_MARIADB__PORT", str(free_ports(1)[0]))  # nothing listens
    monkeypatch.delenv("PINLAKE_SOURCE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as init:
            main(["--home", str(tmp_path / "home"), "source", "init", "--rows", "10"])
    finally:
        get_settings.cache_clear()
    assert init.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot connect to mysql+pymysql")
    started = PINLAKE.at(tmp_path / "home")
    assert err.endswith(f"(start it with `{started} services up --source-db mariadb`)")
    assert "pinlake:***@" in err  # the password is not printed
    # said without a connection to the port (it could take the port: pinlake.services.process)
    port = os.environ["PINLAKE_MARIADB__PORT"]
    assert f": nothing listens on port {port} (start it with" in err, err


def test_a_wrong_password_for_the_running_server_names_the_settings(server, monkeypatch, capsys):
    """helper-62: with the home's server running, a wrong PINLAKE_MARIADB__PASSWORD ended in
    "Access denied … (start it with `pinlake services up --source-db mariadb`)": the server
    runs, so the hint names the settings a client must share with it."""
    monkeypatch.setenv("PINLAKE_SOURCE_DB", "mariadb")
    monkeypatch.setenv("PINLAKE_MARIADB__PORT", str(server.mariadb.port))
    monkeypatch.setenv("PINLAKE_MARIADB__PASSWORD", "wrong")
    monkeypatch.delenv("PINLAKE_SOURCE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as init:
            main(["--home", str(server.home), "source", "init", "--rows", "10", "--force"])
    finally:
        get_settings.cache_clear()
    assert init.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Access denied" in err, err
    assert "start it" not in err and "wrong" not in err
    assert err.endswith(
        "(the home's MariaDB server runs: PINLAKE_MARIADB__PORT, __DATABASE, __USER and "
        f"__PASSWORD must be those it was started with (`{PINLAKE.at(server.home)} services "
        "status`))"
    )
