"""The Spark driver's class-data archive (pinlake.spark_cds, written by pinlake.spark_cds_build):
which archive a class path gets,
when a session maps one, and a build that cannot write one. That sessions really map the archive
``make setup`` built: tests/ingestion/test_spark_quiet.py (the session and dbt's target)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.spark import (
    OWN_JARS,
    derby_classpath,
    driver_classpath,
    launcher_env,
    session_env,
    spark_conf,
)
from pinlake.spark_cds import QUIET, archive_file, archive_key, mapped_archive
from pinlake.spark_cds_build import ArchiveError, build, build_log, main, remove_stale


def _jars(tmp_path: Path) -> Settings:
    spark = tmp_path / "jars" / "spark"
    spark.mkdir(parents=True)
    (spark / "delta-spark_2.13-4.4.0.jar").write_bytes(b"delta")
    (spark / "kafka-clients-4.1.0.jar").write_bytes(b"kafka")
    for jar, source in OWN_JARS.items():
        (spark / jar).write_bytes(source.encode())
    metastore = tmp_path / "jars" / "metastore"
    metastore.mkdir()
    (metastore / "derbyclient-10.16.1.1.jar").write_bytes(b"derby's network client")
    (metastore / "postgresql-42.7.8.jar").write_bytes(b"postgresql")
    return Settings(home=tmp_path / "home", jars_dir=tmp_path / "jars")


def test_the_key_follows_every_jar_on_the_class_path(tmp_path: Path) -> None:
    settings = _jars(tmp_path)
    classpath = driver_classpath(settings)
    assert classpath == derby_classpath(settings)  # the embedded metastore's: what build() writes
    key = archive_key(classpath)
    assert len(key) == 16 and archive_key(classpath) == key  # stable for the same jars
    jar = tmp_path / "jars" / "spark" / "kafka-clients-4.1.0.jar"
    jar.write_bytes(b"kafka, rebuilt")  # another size
    assert archive_key(classpath) != key
    resized = archive_key(classpath)
    os.utime(jar, ns=(0, 0))  # another modification time
    assert archive_key(classpath) != resized
    touched = archive_key(classpath)
    (tmp_path / "jars" / "spark" / "hadoop-aws-3.5.0.jar").write_bytes(b"aws")  # one more jar
    assert archive_key(classpath) != touched
    # another metastore driver jar is another class path
    assert archive_key(f"{classpath}:{tmp_path}/derbyclient.jar") != archive_key(classpath)


def test_both_derby_metastores_share_one_class_path_and_so_one_archive(tmp_path: Path) -> None:
    """The embedded metastore's sessions and those on a Derby server (the shared metastore, the
    Thrift server) have one driver class path, Derby's client last: the archive ``make setup``
    writes serves both. PostgreSQL's has its driver instead, and another archive key."""
    settings = _jars(tmp_path)
    client = tmp_path / "jars" / "metastore" / "derbyclient-10.16.1.1.jar"
    embedded = driver_classpath(settings)
    assert embedded == f"{settings.spark_classpath}:{client}"
    server = settings.model_copy(
        update={"metastore_url": "jdbc:derby://127.0.0.1:1527/metastore_db"}
    )
    assert driver_classpath(server) == embedded
    assert spark_conf(server)["spark.driver.extraClassPath"] == embedded
    assert archive_file(server, driver_classpath(server)) == archive_file(settings, embedded)
    postgres = settings.model_copy(
        update={"metastore_url": "jdbc:postgresql://127.0.0.1:5432/metastore"}
    )
    assert driver_classpath(postgres) == (
        f"{settings.spark_classpath}:{tmp_path / 'jars' / 'metastore' / 'postgresql-42.7.8.jar'}"
    )
    assert archive_key(driver_classpath(postgres)) != archive_key(embedded)
    # before `make setup` resolved Derby's client, the embedded metastore still has a class path
    client.unlink()
    assert driver_classpath(settings) == settings.spark_classpath


def test_a_session_maps_the_archive_of_its_class_path_only_when_it_exists(tmp_path: Path) -> None:
    settings = _jars(tmp_path)
    options = spark_conf(settings)["spark.driver.extraJavaOptions"]
    assert mapped_archive(settings, driver_classpath(settings)) is None
    assert "SharedArchiveFile" not in options  # no archive: the session starts as before

    archive = archive_file(settings, driver_classpath(settings))
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"an archive")
    options = spark_conf(settings)["spark.driver.extraJavaOptions"]
    assert f'"-XX:SharedArchiveFile={archive}" {QUIET}' in options  # quoted: a path
    assert "SharedArchiveFile" not in spark_conf(settings)["spark.executor.extraJavaOptions"]
    # the launcher gets an empty folder for the class path, and dbt's target the same options
    env = launcher_env(settings)
    conf_dir = Path(env["PINLAKE_SPARK_CLASSPATH_CONF_DIR"])
    assert conf_dir.is_dir() and not any(conf_dir.iterdir())
    assert env["PINLAKE_SPARK_CDS_OPTIONS"] in options
    assert session_env(settings)["PINLAKE_SPARK_CDS_OPTIONS"] == env["PINLAKE_SPARK_CDS_OPTIONS"]

    # a JVM that writes an archive maps none
    writer = settings.model_copy(update={"jvm_options": "-XX:ArchiveClassesAtExit=/tmp/x.jsa"})
    assert "SharedArchiveFile" not in spark_conf(writer)["spark.driver.extraJavaOptions"]


def test_a_build_that_writes_no_archive_says_why_and_clears_orphans(tmp_path: Path) -> None:
    # jars in place, but a JVM that cannot start: the child's session fails
    settings = _jars(tmp_path).model_copy(update={"spark_driver_memory": "99999999999t"})
    orphan = tmp_path / "jars" / "cds" / ".spark-driver-0123456789abcdef.jsa.999999999.tmp"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half an archive of a killed build")
    with pytest.raises(ArchiveError) as failed:
        build(settings)
    message = str(failed.value)
    assert message.startswith("the Spark driver's class-data archive was not written (exit 1)")
    assert "JAVA_GATEWAY_EXITED" in message  # the reason, from the child's output,
    # which the archive's build log keeps whole (one per archive: helper-96)
    log = build_log(archive_file(settings, derby_classpath(settings)))
    assert "99999999999t" in log.read_text()
    assert not orphan.exists()
    assert not list(orphan.parent.glob("*.jsa")) and not list(orphan.parent.glob(".*.tmp"))


def test_without_the_jars_nothing_is_written_and_the_error_names_make_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pinlake.spark import SparkSetupError

    missing = tmp_path / "no-jars"
    with pytest.raises(SparkSetupError, match="run `make setup`"):
        build(Settings(home=tmp_path / "home", jars_dir=missing))
    assert not missing.exists()  # no cds/ folder, no build.log under a wrong path

    monkeypatch.setenv("PINLAKE_JARS_DIR", str(missing))
    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    assert main([]) == 1
    printed = capsys.readouterr()
    assert printed.err.startswith(f"error: Delta jars not found in {missing}/spark")
    assert printed.err.count("\n") == 1 and not printed.out  # one line, on stderr
    # a setup with PINLAKE_JARS_DIR, a command without it (helper-91): the variable is named
    assert "or set PINLAKE_JARS_DIR to the folder `make setup` filled" in printed.err


def test_a_new_archive_removes_the_ones_the_jdk_would_now_refuse(tmp_path: Path) -> None:
    settings = _jars(tmp_path)
    old = archive_file(settings, driver_classpath(settings))
    old.parent.mkdir(parents=True)
    old.write_bytes(b"the archive of the jars before")
    (tmp_path / "jars" / "spark" / "kafka-clients-4.1.0.jar").write_bytes(b"kafka, newer")
    new = archive_file(settings, driver_classpath(settings))
    assert new != old  # the jars changed: another key
    new.write_bytes(b"the archive of today's jars")
    keep, gone = build_log(new), build_log(old)
    keep.write_text("the last build's output")
    gone.write_text("the output of the build before")
    assert remove_stale(new) == [old]
    assert not old.exists() and new.is_file() and keep.is_file()
    assert not gone.exists()  # the stale archive's log goes with it
    shared = old.parent / "build.log"  # older set-ups' one log, of whichever clone built last
    shared.write_text("another clone's build")
    assert remove_stale(new) == [] and not shared.exists() and keep.is_file()


def test_an_archive_another_environment_built_is_kept_while_it_exists(tmp_path: Path) -> None:
    """Clones that share one jars folder (PINLAKE_JARS_DIR) removed each other's archive: each
    driver then started without one (helper-56). An archive is removed as stale only when this
    Python environment built it, or the one that did is gone."""
    import sys

    from pinlake.spark_cds_build import owner_file

    cds = tmp_path / "cds"
    cds.mkdir()
    current, mine, others, gone = (cds / f"spark-driver-{n}.jsa" for n in "abcd")
    for archive, owner in (
        (current, sys.prefix),
        (mine, sys.prefix),
        (others, str(tmp_path)),  # another clone's environment, which exists
        (gone, str(tmp_path / "deleted-clone" / ".venv")),
    ):
        archive.write_bytes(b"an archive")
        owner_file(archive).write_text(owner)
    assert sorted(remove_stale(current)) == [mine, gone]
    assert current.is_file() and others.is_file() and owner_file(others).is_file()
    assert not owner_file(mine).exists() and not owner_file(gone).exists()


def test_a_build_that_finds_its_archive_removes_a_deleted_clones(tmp_path: Path) -> None:
    """helper-93: clones sharing a jars folder each write an archive; a deleted clone's (about
    220 MiB) stayed until another clone built one. A set-up that finds its own archive removes
    it too; a live clone's stays."""
    import sys

    from pinlake.spark_cds_build import owner_file

    settings = _jars(tmp_path)
    current = archive_file(settings, derby_classpath(settings))
    current.parent.mkdir(parents=True)
    gone, live = (current.parent / f"spark-driver-{n}.jsa" for n in ("gone", "live"))
    for archive, owner in (
        (current, sys.prefix),
        (gone, str(tmp_path / "deleted-clone" / ".venv")),
        (live, str(tmp_path)),
    ):
        archive.write_bytes(b"an archive")
        owner_file(archive).write_text(owner)
    result = build(settings)
    assert (result.path, result.built) == (current, False)
    assert not gone.exists() and not owner_file(gone).exists()
    assert current.is_file() and live.is_file()


@pytest.mark.parametrize("missing", sorted(OWN_JARS))
def test_without_one_of_pinlakes_jars_the_error_names_it_and_make_setup(
    tmp_path: Path, missing: str
) -> None:
    """Delta's jars resolved but one of jvm/'s folders not compiled (a checkout updated without
    ``make setup``): one error naming the jar, its source and the command, before any JVM
    starts."""
    from pinlake.spark import SparkSetupError, check_jars

    spark_jars = tmp_path / "jars" / "spark"
    spark_jars.mkdir(parents=True)
    (spark_jars / "delta-spark_2.13-4.4.0.jar").touch()
    for jar in OWN_JARS.keys() - {missing}:
        (spark_jars / jar).touch()
    settings = Settings(home=tmp_path / "home", jars_dir=tmp_path / "jars")
    expected = f"{re.escape(missing)} not found .*make setup.*compiles {OWN_JARS[missing]}"
    with pytest.raises(SparkSetupError, match=expected):
        check_jars(settings)
    (spark_jars / missing).touch()
    check_jars(settings)  # all present: no error
