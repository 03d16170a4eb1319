"""Which metastore a Spark session, dbt's ``local`` target and the Thrift server use (no JVM).

The decision (:func:`pinlake.spark.metastore_connection`) reads the home's service records: a
running metastore server is a pid file naming a live process and its recorded port, written here
with :mod:`pinlake.services.process` exactly as ``services up --metastore`` writes them (the
live process is this test's own).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pinlake_testing import render_profiles
from pydantic import SecretStr

from pinlake.config import Settings
from pinlake.services import metastore, process, thrift_server
from pinlake.spark import (
    CLIENT_DRIVER,
    EMBEDDED_DRIVER,
    POSTGRES_DRIVER,
    MetastoreConnection,
    SparkSetupError,
    java_option,
    metastore_connection,
    redact_url,
    session_conf,
    session_env,
    spark_conf,
)

URL_KEY = "spark.hadoop.javax.jdo.option.ConnectionURL"
DRIVER_KEY = "spark.hadoop.javax.jdo.option.ConnectionDriverName"


def _render_local_target(env: dict[str, str]) -> dict[str, str]:
    """profiles.yml's ``local`` server_side_parameters, rendered with ``env`` as dbt does."""
    return render_profiles(env)["pinlake"]["outputs"]["local"]["server_side_parameters"]


def _server_running(settings: Settings, port: int) -> None:
    """The records of a running metastore server on ``port`` (pid: this live process)."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    process.record_config(
        settings.run_dir, metastore.NAME, os.getpid(), {"port": port, "database": "x"}
    )
    process.pid_file(settings.run_dir, metastore.NAME).write_text(f"{os.getpid()}\n")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_embedded_metastore_by_default(settings: Settings) -> None:
    ms = metastore_connection(settings)
    assert ms.kind == "embedded" and not ms.shared
    assert ms.url == f"jdbc:derby:;databaseName={settings.home}/metastore/metastore_db;create=true"
    assert ms.driver == EMBEDDED_DRIVER and ms.driver_jar is None
    conf = spark_conf(settings)
    assert conf[URL_KEY] == ms.url
    # pinlake's jars and Derby's network client: the server metastore's class path too, so
    # that one class-data archive serves both (tests/unit/test_spark_cds.py)
    [client] = (settings.jars_dir / "metastore").glob("derbyclient-*.jar")
    assert conf["spark.driver.extraClassPath"] == f"{settings.spark_classpath}:{client}"
    # dbt's local target gets the same
    assert _render_local_target(session_env(settings)) == session_conf(settings)


def test_the_running_server_is_used_by_sessions_children_and_dbt(settings: Settings) -> None:
    _server_running(settings, 15999)
    ms = metastore_connection(settings)
    assert ms.kind == "server" and ms.shared
    assert ms.url == "jdbc:derby://127.0.0.1:15999/metastore_db"
    assert ms.driver == CLIENT_DRIVER
    assert Path(ms.driver_jar).name.startswith("derbyclient-") and Path(ms.driver_jar).is_file()
    conf = spark_conf(settings)
    assert (conf[URL_KEY], conf[DRIVER_KEY]) == (ms.url, CLIENT_DRIVER)
    assert conf["spark.driver.extraClassPath"].endswith(f":{ms.driver_jar}")
    env = session_env(settings)
    assert env["PINLAKE_METASTORE_JDBC_URL"] == ms.url
    assert _render_local_target(env) == session_conf(settings)
    # a session without the metastore (the continuous stream query) carries no JDO settings
    assert not any(k.startswith("spark.hadoop.javax.jdo.") for k in spark_conf(settings, False))


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("jdbc:derby:;databaseName=/h/ms/metastore_db;create=true", "/h/ms/metastore_db"),
        ("jdbc:derby:/h/ms;create=true", "/h/ms"),
        ("jdbc:derby:relative/ms", "relative/ms"),
    ],
)
def test_an_embedded_metastore_is_shown_as_its_folder(url: str, location: str) -> None:
    """`services status` names the embedded database by its folder (Derby's URL syntax)."""
    assert MetastoreConnection("embedded", url, EMBEDDED_DRIVER).location == location
    shared = MetastoreConnection("external", "jdbc:postgresql://db:5432/ms", POSTGRES_DRIVER)
    assert shared.location == "jdbc:postgresql://db:5432/ms"
    secret = "jdbc:postgresql://db:5432/ms?user=hive&password=s3cret&ssl=true"
    shown = MetastoreConnection("external", secret, POSTGRES_DRIVER).location
    assert shown == "jdbc:postgresql://db:5432/ms?user=hive&password=***&ssl=true"
    derby = "jdbc:derby://h:1527/ms;user=a;Password=s3cret"
    assert MetastoreConnection("external", derby, CLIENT_DRIVER).location.endswith("=***")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "jdbc:postgresql://db:5432/ms?password=s3cret",
            "jdbc:postgresql://db:5432/ms?password=***",
        ),
        (
            "jdbc:derby://h:1527/ms;PASSWORD=s3cret;create=true",
            "jdbc:derby://h:1527/ms;PASSWORD=***;create=true",
        ),
        ("jdbc:postgresql://hive:s3cret@db:5432/ms", "jdbc:postgresql://hive:***@db:5432/ms"),
        (
            "jdbc:mysql://hive:s3cret@db/ms?user=a&password=x&ssl=1",
            "jdbc:mysql://hive:***@db/ms?user=a&password=***&ssl=1",
        ),
        ("jdbc:postgresql://db:5432/ms?user=hive", "jdbc:postgresql://db:5432/ms?user=hive"),
    ],
)
def test_secrets_of_a_metastore_url_are_never_shown(url: str, shown: str, tmp_path: Path) -> None:
    assert redact_url(url) == shown
    if url.startswith("jdbc:mysql:"):  # unknown to pinlake: the error names the URL, redacted
        with pytest.raises(SparkSetupError) as error:
            metastore_connection(Settings(home=tmp_path, metastore_url=url))
        assert "s3cret" not in str(error.value) and "hive:***@db" in str(error.value)


def test_status_names_the_metastore_spark_uses_when_a_url_wins_over_the_server(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """`services status`: the home's server is a row of its table; a PINLAKE_METASTORE_URL,
    which Spark then uses instead, is a line of its own, and says the server is unused."""
    from pinlake.services.manager import _print_metastore

    _server_running(settings, 15999)
    assert _print_metastore(settings)
    assert capsys.readouterr().out == ""  # the server: the table's row says it
    url = "jdbc:postgresql://db.example:5432/metastore?password=s3cret"
    assert _print_metastore(settings.model_copy(update={"metastore_url": url}))
    line = " ".join(capsys.readouterr().out.split())  # xdist's workers set COLUMNS=80: wrapped
    assert line.startswith("metastore: jdbc:postgresql://db.example:5432/metastore?password=***")
    assert "server runs, unused" in line and "s3cret" not in line
    assert not _print_metastore(settings.model_copy(update={"metastore_url": "jdbc:mysql://x"}))
    assert capsys.readouterr().out.startswith("metastore: unusable: PINLAKE_METASTORE_URL=")


def test_a_stopped_server_falls_back_to_the_embedded_metastore(settings: Settings) -> None:
    _server_running(settings, 15999)
    process.pid_file(settings.run_dir, metastore.NAME).write_text("999999999\n")  # no such pid
    assert metastore_connection(settings).kind == "embedded"
    assert not process.pid_file(settings.run_dir, metastore.NAME).exists()  # stale: removed


def test_an_explicit_url_wins_over_the_running_server(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        metastore_url="jdbc:postgresql://db.example:5432/metastore",
        metastore_user="hive",
        metastore_password=SecretStr("s3cret"),
    )
    _server_running(settings, 15999)
    ms = metastore_connection(settings)
    assert (ms.kind, ms.driver) == ("external", POSTGRES_DRIVER)
    assert Path(ms.driver_jar).name.startswith("postgresql-")
    conf = spark_conf(settings)
    assert conf["spark.hadoop.javax.jdo.option.ConnectionUserName"] == "hive"
    assert conf["spark.hadoop.javax.jdo.option.ConnectionPassword"] == "s3cret"
    env = session_env(settings)
    assert env["PINLAKE_METASTORE_URL"] == "jdbc:postgresql://db.example:5432/metastore"
    assert _render_local_target(env) == session_conf(settings)


def test_the_thrift_target_turns_ansi_off_as_dbt_does_for_local(settings: Settings) -> None:
    """dbt-spark sets ``spark.sql.ansi.enabled=false`` for every target; a Thrift server applies
    a session's configuration only as ``set:hiveconf:`` keys, so the target sends that too."""
    env = settings.child_env()
    thrift = render_profiles(env)["pinlake"]["outputs"]["thrift"]
    assert thrift["server_side_parameters"] == {"set:hiveconf:spark.sql.ansi.enabled": "false"}
    assert (thrift["host"], thrift["port"]) == ("127.0.0.1", settings.thrift_port)


def test_an_unknown_metastore_url_is_one_clear_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, metastore_url="jdbc:mysql://h/metastore")
    with pytest.raises(SparkSetupError, match="PINLAKE_METASTORE_URL"):
        metastore_connection(settings)


def test_thrift_server_settings_are_the_session_builders(settings: Settings) -> None:
    with pytest.raises(Exception, match="shared metastore"):
        thrift_server.conf(settings)  # embedded: it would lock every other process out
    _server_running(settings, 15999)
    conf = thrift_server.conf(settings)
    builder = spark_conf(settings)
    differ = {k for k in builder if conf[k] != builder[k]}
    # the Delta, warehouse and metastore settings agree
    assert differ == {"spark.ui.enabled", "spark.driver.extraJavaOptions"}
    assert conf["spark.ui.port"] == str(settings.thrift_ui_port)
    # the driver's scratch in the home, not /tmp (helper-109: a killed server's blockmgr-*,
    # spark-* and artifacts-* folders stayed in /tmp)
    scratch = settings.home / "thrift" / "spark-scratch"
    assert conf["spark.local.dir"] == str(scratch)
    assert conf["spark.driver.extraJavaOptions"] == (
        f"{builder['spark.driver.extraJavaOptions']} {java_option(f'-Djava.io.tmpdir={scratch}')}"
    )
    argv = thrift_server.argv(settings)
    assert "hive.server2.thrift.bind.host=127.0.0.1" in argv
    assert f"hive.server2.thrift.port={settings.thrift_port}" in argv
    props = settings.run_dir / "thrift.conf"
    assert props == thrift_server.properties_file(settings)
    assert props.stat().st_mode & 0o077 == 0  # may hold the metastore password
    assert "spark.sql.extensions io.delta.sql.DeltaSparkSessionExtension" in props.read_text()
    # stopped (`services down`), the server leaves no properties file (helper-111)
    assert thrift_server.stop(settings) is False  # none ran
    assert not props.exists()


def test_the_schema_scripts_lead_from_1_2_0_to_2_3_0(settings: Settings) -> None:
    names = [p.name for p in metastore.schema_scripts(settings)]
    assert names == [
        "hive-schema-1.2.0.derby.sql",
        "upgrade-1.2.0-to-2.0.0.derby.sql",
        "upgrade-2.0.0-to-2.1.0.derby.sql",
        "upgrade-2.1.0-to-2.2.0.derby.sql",
        "upgrade-2.2.0-to-2.3.0.derby.sql",
    ]
    postgres = [p.name for p in metastore.schema_scripts(settings, "postgres")]
    assert postgres[0] == "hive-schema-1.2.0.postgres.sql"
    assert postgres[-1] == "upgrade-2.2.0-to-2.3.0.postgres.sql"


def test_plain_dbt_reads_the_jars_where_make_setup_put_them() -> None:
    """profiles.yml's ``local`` target for plain ``dbt`` (no ``PINLAKE_SPARK_CLASSPATH``, which
    pinlake sets): the class path is ``PINLAKE_JARS_DIR``'s, as make setup and pinlake read it.
    Before, it was ``.pinlake-jars`` whatever the variable said, and plain dbt failed with
    "Cannot find catalog plugin class ... DeltaCatalog" and 179 lines of Java."""
    keys = ("spark.driver.extraClassPath", "spark.executor.extraClassPath")
    default = _render_local_target({})
    assert [default[k] for k in keys] == [".pinlake-jars/spark/*"] * 2
    shared = _render_local_target({"PINLAKE_JARS_DIR": "/opt/pinlake-jars"})
    assert [shared[k] for k in keys] == ["/opt/pinlake-jars/spark/*"] * 2
    given = _render_local_target({"PINLAKE_JARS_DIR": "/x", "PINLAKE_SPARK_CLASSPATH": "/y/*:/z"})
    assert [given[k] for k in keys] == ["/y/*:/z"] * 2  # pinlake's own wins
