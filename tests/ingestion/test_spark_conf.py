"""The dbt `local` target and pinlake's Spark session must use identical Spark settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pinlake_testing import render_profiles

from pinlake.config import REPO_ROOT, Settings
from pinlake.spark import (
    SHELL_DROPPED,
    SHELL_REPLACED,
    driver_cds_options,
    session_conf,
    session_env,
    spark_conf,
)


@pytest.mark.parametrize(
    ("jvm_options", "codegen", "adaptive", "partitions"),
    [
        ("", True, True, 4),
        ("-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1", False, False, 1),
        ("", True, False, 7),
    ],
)
def test_local_target_uses_the_same_spark_settings_as_the_ingestion_package(
    tmp_path: Path, jvm_options: str, codegen: bool, adaptive: bool, partitions: int
):
    settings = Settings(
        home=tmp_path / "home",
        jvm_options=jvm_options,
        spark_codegen=codegen,
        spark_adaptive=adaptive,
        spark_partitions=partitions,
    )
    profile = render_profiles(session_env(settings))["pinlake"]
    local = profile["outputs"]["local"]

    assert profile["target"] == "local"
    assert (local["type"], local["method"]) == ("spark", "session")
    conf = spark_conf(settings)
    # strings, as dbt-spark's credentials require; with the scratch folder of this process
    assert local["server_side_parameters"] == session_conf(settings)
    # PINLAKE_JVM_OPTIONS ends both JVMs' options, after the driver's class-data archive
    for side, archive in (("driver", driver_cds_options(settings)), ("executor", "")):
        options = conf[f"spark.{side}.extraJavaOptions"]
        tail = " ".join(part for part in ('log4j2.properties"', archive, jvm_options) if part)
        assert options.endswith(tail), options


def test_options_that_hold_a_path_are_quoted_alike_for_any_path(tmp_path: Path) -> None:
    """Spark splits its Java options at blanks outside quotes: a home whose path held a space
    started no Spark ("Could not find or load main class ace.home.metastore.derby.log"). Both
    the package and profiles.yml quote each option that holds a path, escaping ``\\`` and
    ``"`` (a real driver starts on such a home: tests/ingestion/test_spark_interrupt.py)."""
    settings = Settings(home=tmp_path / 'my "lake" \\ home')
    local = render_profiles(session_env(settings))["pinlake"]["outputs"]["local"]
    conf = spark_conf(settings)
    assert local["server_side_parameters"] == session_conf(settings)
    home = str(settings.home).replace("\\", "\\\\").replace('"', '\\"')
    derby = f'"-Dderby.stream.error.file={home}/metastore/derby.log" -Duser.timezone=UTC "-Dlog4j2'
    assert conf["spark.driver.extraJavaOptions"].startswith(derby)
    assert conf["spark.executor.extraJavaOptions"].startswith('-Duser.timezone=UTC "-Dlog4j2.')


@pytest.mark.parametrize(
    ("value", "whole_stage", "factory_mode"),
    [
        (None, "true", "FALLBACK"),
        ("true", "true", "FALLBACK"),
        ("0", "false", "NO_CODEGEN"),
        ("off", "false", "NO_CODEGEN"),
        ("False", "false", "NO_CODEGEN"),
    ],
)
def test_code_generation_is_spark_s_default_unless_switched_off(
    tmp_path: Path, monkeypatch, value: str | None, whole_stage: str, factory_mode: str
):
    """``PINLAKE_SPARK_CODEGEN`` as a user sets it reaches pinlake's sessions and, through a
    child's environment, dbt's ``local`` target; unset, both keep Spark's code generation."""
    if value is None:
        monkeypatch.delenv("PINLAKE_SPARK_CODEGEN", raising=False)
    else:
        monkeypatch.setenv("PINLAKE_SPARK_CODEGEN", value)
    settings = Settings(home=tmp_path / "home")
    want = {
        "spark.sql.codegen.wholeStage": whole_stage,
        "spark.sql.codegen.factoryMode": factory_mode,
    }
    conf = spark_conf(settings)
    assert {k: conf[k] for k in want} == want
    for env in (
        session_env(settings),
        {"PINLAKE_HOME": str(settings.home)}
        | ({} if value is None else {"PINLAKE_SPARK_CODEGEN": value}),
    ):
        local = render_profiles(env)["pinlake"]["outputs"]["local"]["server_side_parameters"]
        assert {k: local[k] for k in want} == want


@pytest.mark.parametrize(
    ("env", "adaptive", "shuffle", "snapshot"),
    [
        ({}, "true", "4", "2"),  # Spark's AQE, a few tasks per stage
        ({"PINLAKE_SPARK_ADAPTIVE": "off", "PINLAKE_SPARK_PARTITIONS": "1"}, "false", "1", "1"),
        ({"PINLAKE_SPARK_ADAPTIVE": "1", "PINLAKE_SPARK_PARTITIONS": "9"}, "true", "9", "4"),
    ],
)
def test_adaptive_execution_and_partitions_as_set(
    tmp_path: Path, monkeypatch, env: dict[str, str], adaptive: str, shuffle: str, snapshot: str
):
    """``PINLAKE_SPARK_ADAPTIVE`` and ``PINLAKE_SPARK_PARTITIONS`` reach pinlake's sessions and,
    through a child's environment or as a user sets them, dbt's ``local`` target; Delta's
    snapshots get half the shuffle's partitions, at least one."""
    for name in ("PINLAKE_SPARK_ADAPTIVE", "PINLAKE_SPARK_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path / "home")
    want = {
        "spark.sql.adaptive.enabled": adaptive,
        "spark.sql.shuffle.partitions": shuffle,
        "spark.databricks.delta.snapshotPartitions": snapshot,
    }
    assert {k: spark_conf(settings)[k] for k in want} == want
    for child in (session_env(settings), {"PINLAKE_HOME": str(settings.home), **env}):
        local = render_profiles(child)["pinlake"]["outputs"]["local"]["server_side_parameters"]
        assert {k: local[k] for k in want} == want


def test_partitions_below_one_are_refused(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("PINLAKE_SPARK_PARTITIONS", "0")
    with pytest.raises(ValidationError, match="spark_partitions"):
        Settings()


def test_values_of_digits_from_the_environment_stay_text(tmp_path: Path):
    """dbt renders profiles.yml natively: an ``env_var`` look-up stays text, a filter such as
    ``| int`` makes a number, which dbt-spark's and dbt-databricks' credentials refuse where they
    want text (CI failed on exactly that with the shuffle partitions)."""
    env = Settings(home=tmp_path).child_env() | {
        "PINLAKE_SPARK_DRIVER_MEMORY": "4096",
        "PINLAKE_METASTORE_USER": "1000",
        "PINLAKE_METASTORE_PASSWORD": "1234",
        "PINLAKE_THRIFT_USER": "1001",
        "PINLAKE_DBT_SCHEMA": "2026",
        "DATABRICKS_TOKEN": "5678",
    }
    outputs = render_profiles(env)["pinlake"]["outputs"]
    local = outputs["local"]["server_side_parameters"]
    assert local["spark.driver.memory"] == "4096"
    assert local["spark.hadoop.javax.jdo.option.ConnectionUserName"] == "1000"
    assert local["spark.hadoop.javax.jdo.option.ConnectionPassword"] == "1234"
    assert (outputs["thrift"]["user"], outputs["thrift"]["schema"]) == ("1001", "2026")
    assert outputs["databricks"]["token"] == "5678"


def test_every_state_path_is_under_pinlake_home(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    conf = spark_conf(settings)
    home = str(settings.home)
    assert conf["spark.sql.warehouse.dir"].startswith(home)
    assert f"databaseName={home}/metastore/" in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    for path in (settings.bucket_dir, settings.logs_dir, settings.run_dir):
        assert path.is_relative_to(settings.home)
    assert settings.source_db_url == f"sqlite:///{home}/source.db"


def test_other_targets_parse_from_environment_only(tmp_path: Path):
    env = Settings(home=tmp_path).child_env()
    env.update(DATABRICKS_HOST="adb-1.azuredatabricks.net", DATABRICKS_TOKEN="dapi-secret")
    outputs = render_profiles(env)["pinlake"]["outputs"]
    assert outputs["databricks"]["host"] == "adb-1.azuredatabricks.net"
    assert outputs["databricks"]["token"] == "dapi-secret"
    assert outputs["thrift"]["method"] == "thrift" and outputs["thrift"]["port"] == 10000
    assert "dapi" not in (REPO_ROOT / "profiles.yml").read_text()


def test_child_processes_see_the_same_settings(tmp_path: Path, monkeypatch):
    from pydantic import SecretStr

    from pinlake.config import ApiSettings, KafkaSettings, MariadbSettings

    settings = Settings(
        home=tmp_path / "home",
        topic_prefix="0a1b2c",
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:19092", controller_port=19093),
        api=ApiSettings(port=18082, api_key=SecretStr("k3y")),
        source_url="sqlite:////tmp/elsewhere.db",
        bucket=tmp_path / "bucket",
        spark_master="local[1]",
        jvm_options="-XX:TieredStopAtLevel=1",
        spark_codegen=not Settings().spark_codegen,
        spark_adaptive=not Settings().spark_adaptive,
        spark_partitions=Settings().spark_partitions + 3,
        dbt_target="thrift",
        source_db="mariadb",
        mariadb=MariadbSettings(port=13307, password=SecretStr("pw")),
    )
    for key, value in settings.child_env().items():
        monkeypatch.setenv(key, value)
    child = Settings()
    assert child.home == settings.home and child.topic_prefix == "0a1b2c"
    assert child.kafka == settings.kafka
    assert child.api.port == 18082 and child.api.api_key.get_secret_value() == "k3y"
    assert child.source_db == "mariadb" and child.mariadb.port == 13307
    assert child == settings  # every field crosses the process boundary


def _python(code: str, home: Path, env: dict[str, str]) -> str:
    """The stripped output of ``python -c code home`` in ``env`` (a fresh interpreter: its
    ``sys.modules`` shows what the code imported); fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", code, str(home)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_child_gets_the_settings_from_config_and_spark_s_decisions_from_spark(tmp_path: Path):
    """``Settings.child_env`` (config, below pinlake.spark) imports nothing of pinlake.spark and
    carries the settings only; :func:`session_env` adds this process's Spark decisions for a
    child that opens Spark or runs dbt: the metastore, the master and the launcher's folders."""
    spark_keys = {
        "PINLAKE_METASTORE_JDBC_URL",
        "PINLAKE_METASTORE_DRIVER",
        "PINLAKE_SPARK_CLASSPATH",
        "PINLAKE_SPARK_MASTER_URL",
        "PINLAKE_SPARK_CDS_OPTIONS",
        "PINLAKE_SPARK_CLASSPATH_CONF_DIR",
        "PINLAKE_SPARK_LOCAL_DIR",
        "PINLAKE_SPARK_TMPDIR_OPTION",
        *SHELL_REPLACED,  # SPARK_HOME, SPARK_CONF_DIR, …
        "TZ",
    }
    check = (
        "import sys\n"
        "from pinlake.config import Settings\n"
        "env = Settings(home=sys.argv[1]).child_env()\n"
        "assert 'pinlake.spark' not in sys.modules, sorted(sys.modules)\n"
        f"print(sorted(set({sorted(spark_keys)!r}) & set(env)))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in spark_keys}
    assert _python(check, tmp_path / "home", clean) == "[]"
    settings = Settings(home=tmp_path / "home")
    env = session_env(settings)
    assert spark_keys <= set(env)
    assert {k: v for k, v in env.items() if k not in spark_keys} == {
        k: v for k, v in settings.child_env().items() if k not in spark_keys
    }


def test_spark_finds_the_home_s_services_in_the_run_folder_without_the_supervisors(
    tmp_path: Path,
) -> None:
    """A Spark session's decisions (:func:`pinlake.spark.metastore_connection`,
    :func:`pinlake.spark.spark_master`) read the run folder's records (:mod:`pinlake.run_folder`)
    and import nothing of :mod:`pinlake.services` (the layer above, which starts the services);
    the settings read a bucket location without the topics-bucket layout above them."""
    check = (
        "import os, sys\n"
        "from pinlake import run_folder\n"
        "from pinlake.config import Settings\n"
        "from pinlake.spark import metastore_connection, spark_master\n"
        "settings = Settings(home=sys.argv[1], bucket='s3://topics/prefix/')\n"
        "run = settings.run_dir\n"
        "run.mkdir(parents=True)\n"
        "for name, port in ((run_folder.METASTORE, 11527), (run_folder.SPARK_MASTER, 17077)):\n"
        "    run_folder.pid_file(run, name).write_text(f'{os.getpid()}\\n')\n"
        "    run_folder.record_config(run, name, os.getpid(), {'port': port})\n"
        "ms = metastore_connection(settings)\n"
        "print(ms.kind, ms.url, os.path.basename(ms.driver_jar or ''))\n"
        "print(spark_master(settings), settings.bucket_dir)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pinlake.services', "
        "'pinlake.bucket'))))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINLAKE_")}
    connection, master, modules = _python(check, tmp_path / "home", clean).splitlines()
    kind, url, jar = connection.split()
    assert (kind, url) == ("server", "jdbc:derby://127.0.0.1:11527/metastore_db")
    assert jar.startswith("derbyclient-") and jar.endswith(".jar")
    assert master == "spark://127.0.0.1:17077 s3://topics/prefix"
    assert modules == "[]"


def test_dbt_writes_colours_to_a_terminal_only(monkeypatch, tmp_path: Path) -> None:
    """dbt colours its output wherever it goes; :func:`pinlake.lakehouse.dbt.dbt_env` turns the
    colours off when the output is not a terminal, unless the user set ``DBT_USE_COLORS``."""
    from pinlake.lakehouse.dbt import dbt_env

    monkeypatch.delenv("DBT_USE_COLORS", raising=False)
    settings = Settings(home=tmp_path / "home")
    assert dbt_env(settings, terminal=False)["DBT_USE_COLORS"] == "false"
    assert "DBT_USE_COLORS" not in dbt_env(settings, terminal=True)
    monkeypatch.setenv("DBT_USE_COLORS", "true")
    assert dbt_env(settings, terminal=False)["DBT_USE_COLORS"] == "true"


def test_spark_env_sh_unsets_the_shells_variables_for_another_hadoop() -> None:
    """conf/spark-env.sh, which Spark's launcher sources before it builds a class path, unsets
    exactly :data:`pinlake.spark.SHELL_DROPPED` (the session test runs from such a shell:
    tests/ingestion/test_spark_quiet.py)."""
    conf = Settings().log4j_config.parent  # pinlake's conf/ (pinlake.spark.conf_dir)
    lines = (conf / "spark-env.sh").read_text().splitlines()
    (unset,) = [line.split()[1:] for line in lines if line.startswith("unset HADOOP_CONF_DIR")]
    assert unset == list(SHELL_DROPPED)
