"""``PINLAKE_JVM_OPTIONS`` reaches every JVM pinlake starts (pinlake.services.jvm): the Kafka
nodes, the metastore tools, the standalone daemons, and the Spark driver and executors (the
latter and dbt's ``local`` target: tests/ingestion/test_spark_conf.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.services import jvm, kafka_broker
from pinlake.services import spark_cluster as standalone

OPTIONS = "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1"


def test_the_options_follow_the_java_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = jvm.java(Settings(home=tmp_path, jvm_options=OPTIONS), "a test")
    assert Path(argv[0]).name == "java" and argv[1:] == OPTIONS.split()
    monkeypatch.delenv("PINLAKE_JVM_OPTIONS", raising=False)  # the test suite sets them
    assert jvm.java(Settings(home=tmp_path), "a test")[1:] == []  # none by default


def test_every_kafka_node_starts_with_them(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, jvm_options=OPTIONS)
    for node in kafka_broker.nodes(settings):
        argv = kafka_broker._jvm_args(settings, node)
        assert argv[1:3] == OPTIONS.split(), argv


def test_the_standalone_daemons_start_with_them(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, jvm_options=OPTIONS)
    for env in (standalone.daemon_env(settings), standalone.daemon_env(settings, 1)):
        assert env["SPARK_DAEMON_JAVA_OPTS"] == OPTIONS
    assert "SPARK_DAEMON_JAVA_OPTS" not in standalone.daemon_env(
        Settings(home=tmp_path, jvm_options="")
    )


def test_no_java_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(PinlakeError, match=r"java not found on PATH \(Kafka 4 needs Java 17\+\)"):
        jvm.java(Settings(home=tmp_path), "Kafka 4")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))  # a JDK that is not there
    with pytest.raises(PinlakeError, match=r"java not found in JAVA_HOME=.*/jdk \(bin/java\)"):
        jvm.java(Settings(home=tmp_path), "Kafka 4")


def _java(folder: Path) -> Path:
    """An executable file named java in ``folder`` (a JDK's bin/ or a PATH entry)."""
    folder.mkdir(parents=True)
    (folder / "java").write_text("#!/bin/sh\n")
    (folder / "java").chmod(0o755)
    return folder / "java"


def test_java_home_comes_before_path_as_in_sparks_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark's launcher (bin/spark-class) and Kafka's run ``$JAVA_HOME/bin/java`` when
    ``JAVA_HOME`` is set; pinlake's JVMs ran the ``java`` on ``PATH``, so a machine with two
    JDKs ran Kafka and the metastore on another JDK than Spark, and the driver's class-data
    archive was keyed to the one on ``PATH``."""
    from pinlake.config import java_executable
    from pinlake.spark_cds import archive_key

    on_path = _java(tmp_path / "path")
    in_home = _java(tmp_path / "jdk-17" / "bin")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert java_executable() == on_path
    key_on_path = archive_key("")
    monkeypatch.setenv("JAVA_HOME", str(in_home.parents[1]))
    assert java_executable() == in_home
    assert jvm.java(Settings(home=tmp_path, jvm_options=""), "Kafka 4") == [str(in_home)]
    assert archive_key("") != key_on_path  # an archive per JDK


def test_flushing_off_names_the_code_cache(tmp_path: Path) -> None:
    """With flushing off and C1's 48 MB, a Spark session filled the code cache in two minutes
    and Delta statements failed with java.lang.InternalError (MethodHandle.linkToStatic)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs -XX:ReservedCodeCacheSize="):
        Settings(home=tmp_path, jvm_options=f"{OPTIONS} -XX:-UseCodeCacheFlushing")
    sized = f"{OPTIONS} -XX:-UseCodeCacheFlushing -XX:ReservedCodeCacheSize=240m"
    assert Settings(home=tmp_path, jvm_options=sized).jvm_options == sized
