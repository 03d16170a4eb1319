"""``pinlake demo`` starts by deleting its home's data: it refuses a home that no demo made.

A trial exported its working ``PINLAKE_HOME`` (landed tables, dbt output, exports), ran the demo
and lost them; the only notice was "(previous demo state is reset)"."""

from __future__ import annotations

import pytest

from pinlake.cli import main
from pinlake.config import Settings
from pinlake.pipeline.demo import DEMO_MARKER, data_not_made_by_a_demo, foreign_entries


def test_a_home_with_data_no_demo_made_is_refused_and_kept(tmp_path, capsys):
    home = tmp_path / "work"
    (home / "warehouse" / "raw.db" / "pin").mkdir(parents=True)
    (home / "warehouse" / "raw.db" / "pin" / "part-0.parquet").write_bytes(b"PAR1")
    (home / "source.db").write_bytes(b"sqlite")
    (home / "exports").mkdir()  # empty: not data

    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home), "demo"])

    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{home} holds data the demo did not make (source.db, warehouse)" in err
    assert "pass --reset to delete it" in err
    assert (home / "warehouse" / "raw.db" / "pin" / "part-0.parquet").exists()
    assert (home / "source.db").exists()


@pytest.mark.parametrize("reset", [False, True])
def test_a_folder_holding_what_pinlake_did_not_make_is_refused_untouched(
    tmp_path, capsys, reset: bool
) -> None:
    """helper-91: ``pinlake --home /etc demo`` wrote source.db, bucket/, warehouse/, … and the
    demo's marker into /etc; a folder of a user's notes and report was taken as a home too."""
    home = tmp_path / "etc"
    home.mkdir()
    for name in ("passwd", "notes.txt", "hosts", "a", "b", "c"):
        (home / name).write_text("x")
    (home / "report").mkdir()  # a name pinlake makes: not named
    before = sorted(p.name for p in home.iterdir())

    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home), "demo", *(["--reset"] if reset else [])])

    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{home} is no pinlake home: it holds a, b, c, hosts, notes.txt and 1 more," in err
    assert "run the demo in a new or empty folder" in err
    assert sorted(p.name for p in home.iterdir()) == before


def test_a_pieces_home_holding_a_users_folder_is_told_to_move_it_out(tmp_path, capsys) -> None:
    """helper-93: a home of the pieces' commands that held ``kbucket`` (a bucket the user gave
    ``sink --bucket`` inside the home) was called "no pinlake home", with no word of --reset.
    It is refused untouched, naming pinlake's data beside it, the move and ``demo --reset``. A
    file named like a folder of pinlake's (``/etc/exports``) makes no home of pinlake's."""
    from pinlake.console import PINLAKE

    home = tmp_path / "h1"
    (home / "warehouse").mkdir(parents=True)
    (home / "source.db").write_bytes(b"sqlite")
    (home / "kbucket" / "topics").mkdir(parents=True)
    before = sorted(p.name for p in home.iterdir())
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(home), "demo", "--reset"])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{home} holds kbucket beside pinlake's data (source.db, warehouse)" in err, err
    assert f"Move kbucket out of the home and run `{PINLAKE.at(home)} demo --reset`" in err
    assert sorted(p.name for p in home.iterdir()) == before

    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "exports").write_text("/srv *(ro)\n")
    (etc / "passwd").write_text("x")
    with pytest.raises(SystemExit):
        main(["--home", str(etc), "demo"])
    err = " ".join(capsys.readouterr().err.split())
    assert f"{etc} is no pinlake home: it holds passwd," in err and "pinlake's data" not in err


def test_a_new_home_and_a_demos_home_are_the_demos_to_reset(tmp_path):
    new = Settings(home=tmp_path / "new")
    new.ensure_dirs()  # the empty folders the settings make are no data
    assert data_not_made_by_a_demo(new) == []
    demo = Settings(home=tmp_path / "demo")
    (demo.home / "bucket").mkdir(parents=True)
    (demo.home / "bucket" / "x.json").write_text("{}\n")
    assert data_not_made_by_a_demo(demo) == ["bucket"]
    (demo.home / DEMO_MARKER).write_text("made by pinlake demo\n")
    assert data_not_made_by_a_demo(demo) == []
    # a home of pinlake's (services, logs, a report, Airflow's state) is one; a demo's is too
    for name in ("run", "logs", "tmp", "report", "airflow", "thrift", "kafka", "checkpoints"):
        (new.home / name).mkdir(exist_ok=True)
    assert foreign_entries(new) == [] and foreign_entries(Settings(home=tmp_path / "no")) == []
    (demo.home / "mine.txt").write_text("x")
    assert foreign_entries(demo) == []


def test_the_closing_lines_name_the_home_unless_it_is_the_default(tmp_path, monkeypatch) -> None:
    """After ``pinlake --home H demo`` the closing lines said ``make docs`` and ``pinlake dbt
    show …``, which read the default home (helper-56: ``make docs`` served an empty one)."""
    from pinlake.config import REPO_ROOT, Settings
    from pinlake.console import PINLAKE
    from pinlake.pipeline.demo import closing_command

    # from the clone without an activated venv (the README's shell): `make docs` and the
    # clone's `.venv/bin/pinlake`, both on the default home
    monkeypatch.setattr(PINLAKE, "command", ".venv/bin/pinlake")
    default = REPO_ROOT / ".pinlake"
    assert closing_command(Settings(home=default)) is None  # then `make docs`
    home = tmp_path / "my home"
    assert closing_command(Settings(home=home)) == f".venv/bin/pinlake --home '{home}'"
    # from another folder (the script's path) or an activated venv: `make docs` is no target
    # there, and the default home is that folder's (helper-74): the clone's home named
    for command in ("/opt/clone/.venv/bin/pinlake", "pinlake"):
        monkeypatch.setattr(PINLAKE, "command", command)
        assert closing_command(Settings(home=default)) == f"{command} --home {default.resolve()}"
