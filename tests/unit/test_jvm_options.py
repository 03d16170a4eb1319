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
    with pytest.raises(PinlakeError, match=r"java not found on PATH \(Kafka 4 needs Java 17\+\)"):
        jvm.java(Settings(home=tmp_path), "Kafka 4")


def test_flushing_off_names_the_code_cache(tmp_path: Path) -> None:
    """With flushing off and C1's 48 MB, a Spark session filled the code cache in two minutes
    and Delta statements failed with java.lang.InternalError (MethodHandle.linkToStatic)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs -XX:ReservedCodeCacheSize="):
        Settings(home=tmp_path, jvm_options=f"{OPTIONS} -XX:-UseCodeCacheFlushing")
    sized = f"{OPTIONS} -XX:-UseCodeCacheFlushing -XX:ReservedCodeCacheSize=240m"
    assert Settings(home=tmp_path, jvm_options=sized).jvm_options == sized
