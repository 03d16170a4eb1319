"""A command that finds nothing to read on a home where nothing was made says which steps come
first, in their order (pinlake.console.steps_before), before Spark starts and without creating
anything there (helper-76: report and export named `dbt build` alone; land named no step; and
export's Spark session created the home's metastore, after which `pinlake demo` refused the
home)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pinlake_testing import cli_exit_code

import pinlake.spark
from pinlake.console import PINLAKE


class SparkStarted(Exception):
    """Raised where a command would start Spark."""


@pytest.fixture
def no_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise SparkStarted

    monkeypatch.setattr(pinlake.spark, "get_spark", refuse)


def test_export_on_a_home_where_nothing_was_built_fails_before_spark_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spark
) -> None:
    """helper-76: ``pinlake export`` on an empty home started Spark, whose session created the
    home's Derby metastore, and said "run dbt build first"; ``pinlake demo``, which that line
    also named, then refused the home as holding data it did not make (the metastore). The
    line now names the steps in their order, and nothing is created."""
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "export") == 1
    err = capsys.readouterr().err.strip()
    command = PINLAKE.at(home)
    assert err == (
        f"error: no `marts` schema in {home}: run `{command} source init`, "
        f"`{command} produce --to bucket`, `{command} land`, `{command} dbt build` in that "
        f"order, or `{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    )
    assert not (home / "metastore").exists()
    # a home whose metastore exists: Spark is asked (the schema may be there)
    (home / "metastore" / "metastore_db").mkdir(parents=True)
    with pytest.raises(SparkStarted):
        cli_exit_code(monkeypatch, home, "export")


def test_land_of_a_bucket_nothing_wrote_names_the_steps_that_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spark
) -> None:
    home = tmp_path / "home"
    # the home's state, as export's on an empty home (exit 1); a --bucket given is an argument
    assert cli_exit_code(monkeypatch, home, "land") == 1
    command = PINLAKE.at(home)
    assert capsys.readouterr().err.strip() == (
        f"error: bucket {home / 'bucket'} does not exist: run "
        f"`{command} source init`, `{command} produce --to bucket` in that order, or "
        f"`{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    )
    assert not (home / "metastore").exists() and not (home / "bucket").exists()
    # land's own --bucket: the produce step writes that bucket (helper-80: it named none)
    elsewhere = tmp_path / "elsewhere dir"
    assert cli_exit_code(monkeypatch, home, "land", "--bucket", str(elsewhere)) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: bucket {elsewhere} does not exist: run "
        f"`{command} source init`, `{command} produce --to bucket --bucket '{elsewhere}'` in "
        f"that order, or `{PINLAKE.command} --home <a new folder> demo` for every step in a new "
        "home"
    )


def test_a_failed_dbt_run_on_a_home_where_nothing_is_landed_says_what_lands_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-76: `pinlake dbt build` on an empty home ended with twelve
    ``TABLE_OR_VIEW_NOT_FOUND`` errors and no pinlake line. A dbt that fails at once (invalid
    ``--vars``: no Spark) shows the note; the steps are those before the models' input."""
    home = tmp_path / "home"
    command = PINLAKE.at(home)
    steps = (
        f"run `{command} source init`, `{command} produce --to bucket`, `{command} land` in that "
        f"order, or `{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    )
    # a build, run or test of every node with no raw table: refused before dbt starts Spark
    # (helper-82: twelve errors about 30 s later), with the same steps, and before the home's
    # folders are made (helper-83: it left them empty); a selection runs as asked
    refused = (
        f"error: nothing is landed in {home}'s raw tables, which the models read: {steps} (or "
        "choose nodes that do not read them: --select)"
    )
    for dbt_command in ("build", "run", "test"):  # a test: 129 errors after 21 s (helper-83)
        assert cli_exit_code(monkeypatch, home, "dbt", dbt_command) == 1
        assert capsys.readouterr().err.strip() == refused
    assert not home.exists()
    assert cli_exit_code(monkeypatch, home, "dbt", "show", "--vars", "{") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"note: nothing is landed in {home}'s raw tables, which the models read: {steps}"
    )
    assert cli_exit_code(monkeypatch, home, "dbt", "run", "--select", "seeds", "--vars", "{") == 2
    assert "Invalid value for '--vars'" in capsys.readouterr().err  # dbt ran, and refused it


def test_dbt_calls_that_only_print_make_nothing_and_get_no_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-82: ``pinlake dbt --help`` made the home's folders, and ``pinlake dbt`` alone
    ended with the note on raw tables."""
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "dbt", "--help") == 0
    assert "Usage: dbt" in capsys.readouterr().out
    assert cli_exit_code(monkeypatch, home, "dbt") == 2  # dbt's usage
    assert "note:" not in capsys.readouterr().err
    assert not home.exists()


def test_dbt_version_is_read_from_the_installed_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-83: `pinlake dbt --version` asked PyPI for the latest dbt-core and adapters (one
    request each), advised an update pyproject.toml rules out (1.12) and printed a pydantic
    UserWarning from importing dbt-databricks; ``-V`` (also a version flag of dbt's) made the
    home's folders. Every version flag, also after a command (dbt prints the version there too),
    is answered from the installed distributions, in dbt's layout."""
    from importlib.metadata import version

    home = tmp_path / "home"
    expected = (
        f"Core:\n  - installed: {version('dbt-core')}\n\nPlugins:\n"
        f"  - databricks: {version('dbt-databricks')}\n  - spark:      {version('dbt-spark')}\n"
    )
    for args in (["--version"], ["-V"], ["-v"], ["--debug", "--version"], ["run", "--version"]):
        assert cli_exit_code(monkeypatch, home, "dbt", *args) == 0, args
        out, err = capsys.readouterr()
        assert out.startswith(expected), (args, out)
        assert "latest" not in out and "Update available" not in out, args
        assert err == "", (args, err)
    assert not home.exists()


def test_the_databricks_target_without_a_token_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-84: ``pinlake dbt parse --target databricks`` without ``DATABRICKS_TOKEN`` waited 5
    minutes for a browser sign-in and ended with a traceback of about 140 lines. Every command
    on that target (by option or by PINLAKE_DBT_TARGET) is refused in one line, before dbt
    starts and before the home is made; a token, or a call that only prints, runs as before."""
    from pinlake.config import Settings
    from pinlake.lakehouse.dbt import refusal

    monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
    settings = Settings(home=tmp_path / "any")
    for args in (
        ["parse", "--target", "databricks"],
        ["-t", "databricks", "compile"],
        ["build", "--target=databricks", "--select", "marts"],
        ["parse", "-tdatabricks"],
    ):  # fmt: skip  (helper-85: -tdatabricks hung)
        assert "signs in with DATABRICKS_TOKEN, which is not set" in (refusal(settings, args) or "")
    databricks = settings.model_copy(update={"dbt_target": "databricks"})
    assert "DATABRICKS_TOKEN" in (refusal(databricks, ["debug"]) or "")
    assert (
        refusal(settings, ["parse"]) is None
        and refusal(databricks, ["parse", "-t", "local"]) is None
    )
    monkeypatch.setenv("DATABRICKS_TOKEN", " ")  # blank is none
    assert refusal(settings, ["parse", "--target", "databricks"]) is not None
    monkeypatch.setenv("DATABRICKS_TOKEN", "dummy")
    assert refusal(settings, ["parse", "--target", "databricks"]) is None

    monkeypatch.delenv("DATABRICKS_TOKEN")
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "dbt", "parse", "--target", "databricks") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the databricks target signs in"), err
    assert "dummy" in err and "DATABRICKS_HOST" in err
    assert cli_exit_code(monkeypatch, home, "dbt", "--version", "--target", "databricks") == 0
    assert "installed:" in capsys.readouterr().out
    assert not home.exists()


def test_docs_serve_without_generated_docs_names_docs_generate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-86: ``pinlake dbt docs serve`` on a home without generated docs ended with dbt's
    ``FileNotFoundError`` traceback (exit 2). One line naming ``docs generate``, exit 1, no
    home made; with the docs there, or another ``--target-path``, dbt serves as before."""
    from pinlake.config import Settings
    from pinlake.lakehouse.dbt import refusal

    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "dbt", "docs", "serve", "--port", "1") == 1
    target = home / "dbt" / "target"
    assert capsys.readouterr().err == (
        f"error: no dbt docs in {target} (no index.html): run `{PINLAKE.at(home)} dbt docs "
        "generate` first\n"
    )
    assert not home.exists()
    settings = Settings(home=home)
    for args in (["docs", "serve", "--target-path", "elsewhere"], ["docs", "generate"]):
        assert refusal(settings, args) is None
    target.mkdir(parents=True)
    (target / "index.html").write_text("<html></html>")
    assert refusal(settings, ["--no-partial-parse", "docs", "serve"]) is None


def test_only_the_local_targets_empty_warehouse_counts_as_nothing_landed(tmp_path: Path) -> None:
    from pinlake.config import Settings
    from pinlake.lakehouse.dbt import _failure_hint
    from pinlake.lakehouse.tables import managed_table_path

    settings = Settings(home=tmp_path / "home")
    landed = "nothing is landed in "
    assert _failure_hint(settings, ["build"]).startswith(landed)
    assert _failure_hint(settings, ["build", "--target", "local"]).startswith(landed)
    for other in (["--target", "thrift"], ["-t", "thrift"], ["--target=databricks"]):
        assert landed not in _failure_hint(settings, ["build", *other]), other
    thrift = settings.model_copy(update={"dbt_target": "thrift"})
    assert landed not in _failure_hint(thrift, ["build"])
    # a raw table whose log only created it holds nothing; one with an added file does
    log = managed_table_path(settings, "stream_user") / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text('{"metaData": {}}\n')
    assert _failure_hint(settings, ["build"]).startswith(landed)
    (log / f"{1:020d}.json").write_text('{"add": {"path": "part-0.parquet"}}\n')
    assert _failure_hint(settings, ["build"]) == ""


def test_a_failed_dbt_run_on_the_thrift_target_with_no_server_names_what_starts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pinlake dbt build --target thrift` with no Thrift server ended with dbt's
    ``TTransportException: Could not connect to any of [('127.0.0.1', 10000)]`` alone; then
    with that and a note, which names the port and the command (helper-109: under dbt's
    start-up and "Runtime Error"). Now a command that connects is refused before dbt starts, in
    that one line; a dbt command that does not connect runs (its own error, exit 2). The note
    stays for a server gone during the run; a port that something listens on, or a server on
    another machine, gets none."""
    import socket

    from pinlake.config import Settings
    from pinlake.lakehouse.dbt import _failure_hint
    from pinlake.services.process import free_ports

    home = tmp_path / "home"
    port = free_ports(1)[0]
    monkeypatch.setenv("PINLAKE_THRIFT_PORT", str(port))
    line = (
        f"nothing listens on 127.0.0.1:{port} (PINLAKE_THRIFT_PORT), the Spark Thrift "
        f"server of the thrift target: `{PINLAKE.at(home)} services up --thrift` starts this "
        "home's Thrift server"
    )
    args = ("dbt", "build", "--target", "thrift", "--vars", "{")
    assert cli_exit_code(monkeypatch, home, *args) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {line}"]
    assert not (home / "dbt").exists()  # dbt did not start (its logs and target folder)
    # `dbt ls` does not connect: dbt runs and fails on the bad --vars (no note: no connection)
    assert cli_exit_code(monkeypatch, home, "dbt", "ls", "--target", "thrift", "--vars", "{") == 2
    assert "nothing listens" not in capsys.readouterr().err
    settings = Settings(home=home, thrift_port=port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert _failure_hint(settings, ["build", "-t", "thrift"]) == ""
    remote = settings.model_copy(update={"thrift_host": "spark.example.com"})
    assert _failure_hint(remote, ["build", "-t", "thrift"]) == ""
    assert _failure_hint(settings, ["build", "-t", "thrift"]).startswith("nothing listens on")
    # a home of `services up --no-ingestion --metastore`: the line keeps it without the broker,
    # the API and the stream query (helper-97: pasted, it started them)
    from pinlake.run_folder import pid_file

    settings.run_dir.mkdir(parents=True, exist_ok=True)
    pid_file(settings.run_dir, "metastore").write_text(f"{os.getpid()}\n")
    assert _failure_hint(settings, ["build", "-t", "thrift"]).endswith(
        f"`{PINLAKE} services up --no-ingestion --thrift` starts this home's Thrift server"
    )
    # the home's server running on another port (a typo in PINLAKE_THRIFT_PORT): that port
    # (helper-109's kind: `services up --thrift` would refuse the running server)
    from pinlake.run_folder import THRIFT, record_config

    record_config(settings.run_dir, THRIFT, os.getpid(), {"port": port + 1})
    pid_file(settings.run_dir, THRIFT).write_text(f"{os.getpid()}\n")
    assert _failure_hint(settings, ["build", "-t", "thrift"]).endswith(
        f"(PINLAKE_THRIFT_PORT), the Spark Thrift server of the thrift target: this home's "
        f"Thrift server listens on port {port + 1}: check PINLAKE_THRIFT_PORT"
    )


def test_a_home_part_way_through_is_told_only_the_steps_it_has_not_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_spark
) -> None:
    """helper-81: ``land --bucket <a missing folder>`` on a home whose source had rows named
    ``source init`` first, which refuses such a source; each hint now starts at the first step
    the home has not done (pinlake.lakehouse.progress), read from what the steps left there."""
    home = tmp_path / "home"
    command = PINLAKE.at(home)
    demo = f"`{PINLAKE.command} --home <a new folder> demo` for every step in a new home"
    assert cli_exit_code(monkeypatch, home, "source", "init", "--rows", "20") == 0
    elsewhere = tmp_path / "elsewhere"
    assert cli_exit_code(monkeypatch, home, "land", "--bucket", str(elsewhere)) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: bucket {elsewhere} does not exist: run "
        f"`{command} produce --to bucket --bucket {elsewhere}`, or {demo}"
    )
    # a file given as the bucket: said so, and no step that would refuse it named (helper-82:
    # the hint named `produce --to bucket --bucket <the file>`, which refuses a file)
    afile = tmp_path / "afile"
    afile.write_text("")
    assert cli_exit_code(monkeypatch, home, "land", "--bucket", str(afile)) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: bucket {afile} exists and is not a folder: give --bucket (or PINLAKE_BUCKET) "
        "the topics bucket's folder"
    )
    # the home's bucket written, nothing landed: dbt's refusal names land alone
    assert cli_exit_code(monkeypatch, home, "produce", "--to", "bucket", "--events", "5") == 0
    capsys.readouterr()
    assert cli_exit_code(monkeypatch, home, "dbt", "build") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: nothing is landed in {home}'s raw tables, which the models read: run "
        f"`{command} land`, or {demo} (or choose nodes that do not read them: --select)"
    )
    # a raw table with committed data, no marts: export names dbt build alone (no Spark: the
    # home has no metastore)
    _committed(home / "warehouse" / "raw.db" / "pin")
    assert cli_exit_code(monkeypatch, home, "export") == 1
    assert capsys.readouterr().err.strip() == (
        f"error: no `marts` schema in {home}: run `{command} dbt build`, or {demo}"
    )
    # a mart with committed data: the report of a folder that does not exist says so and names
    # the export into it alone
    _committed(home / "warehouse" / "marts.db" / "rpt_users_joined_by_year")
    nowhere = tmp_path / "nowhere"
    assert cli_exit_code(monkeypatch, home, "report", "--exports", str(nowhere)) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {nowhere} does not exist: run `{command} export --out {nowhere}`, or {demo}"
    )
    # a file where the exports folder should be: named, without the export into it, which
    # cannot write there either (helper-92)
    nowhere.write_text("")
    assert cli_exit_code(monkeypatch, home, "report", "--exports", str(nowhere)) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {nowhere} is not a folder: give --exports the folder `{command} export` wrote"
    )


def _committed(table: Path) -> None:
    """A Delta table folder whose log has committed a data file (Delta protocol's ``add``)."""
    log = table / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text('{"add": {"path": "part-0.parquet"}}\n')


def test_a_source_on_another_server_is_not_connected_to_for_a_hint(tmp_path: Path) -> None:
    """A hint reads a source only where no network wait is possible: the home's SQLite file,
    or the home's MariaDB while its port listens; any other server counts as not filled, and
    no engine is made for it."""
    import pinlake.source.db as db
    from pinlake.config import Settings

    settings = Settings(home=tmp_path / "home")
    assert not db.holds_rows(settings)  # no file: nothing is created either
    assert not (tmp_path / "home" / "source.db").exists()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "engine_for", lambda *_a, **_k: pytest.fail("connected"))
        remote = settings.model_copy(update={"source_url": "mysql+pymysql://u:p@192.0.2.1/db"})
        assert not db.holds_rows(remote)
        mariadb = settings.model_copy(update={"source_db": "mariadb"})
        assert not db.holds_rows(mariadb)  # the home's server does not listen
        assert not db.holds_rows(settings.model_copy(update={"source_url": "not a url"}))
    db.init_source(settings, rows=3, seed=1, url=None, force=False)
    assert db.holds_rows(settings)
