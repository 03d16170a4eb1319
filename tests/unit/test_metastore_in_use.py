"""Two Spark commands on one home with the embedded Derby metastore (one JVM at a time): the one
that starts second fails. Hive's words for it ("Unable to instantiate … SessionHiveMetaStoreClient")
ended ``pinlake land`` with a 61-line traceback (helper-56's trial, two ``land`` started
together); pinlake.spark.spark_errors now says so in one line and names the other command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pinlake.config import Settings
from pinlake.console import PINLAKE
from pinlake.spark import SparkSetupError, metastore_holders, spark_errors

HIVE = (
    "org.apache.hadoop.hive.ql.metadata.HiveException: java.lang.RuntimeException: Unable to"
    " instantiate org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient"
)


def _fail(settings: Settings, text: str) -> str:
    with pytest.raises(SparkSetupError) as raised, spark_errors(settings):
        raise RuntimeError(text)
    return str(raised.value)


@pytest.fixture
def other_driver(tmp_path: Path):
    """A stand-in for another command's driver JVM on ``tmp_path/home``: a process whose
    command line holds the option every driver of that home has, started by a script
    ``land_runner.py`` (as a pinlake command starts its JVM: a child of its own)."""
    home = tmp_path / "home"
    runner = tmp_path / "land_runner.py"
    runner.write_text(
        textwrap.dedent(f"""\
            import subprocess, sys, time
            option = "-Dderby.stream.error.file={home}/metastore/derby.log"
            sleep = [sys.executable, "-c", "import time; time.sleep(120)", option]
            jvm = subprocess.Popen(sleep)
            # the stream stage's driver: the same option, an in-memory catalog
            stream = subprocess.Popen(
                [*sleep, "--conf", "spark.sql.catalogImplementation=in-memory"]
            )
            print(jvm.pid, stream.pid, flush=True)
            time.sleep(120)
            """)
    )
    parent = subprocess.Popen([sys.executable, str(runner)], stdout=subprocess.PIPE, text=True)
    jvm_pid, stream_pid = map(int, parent.stdout.readline().split())
    yield Settings(home=home), jvm_pid
    import psutil

    for pid in (jvm_pid, stream_pid, parent.pid):
        psutil.Process(pid).kill()
    parent.wait()


def test_the_other_command_is_named_in_one_line(other_driver) -> None:
    settings, jvm_pid = other_driver
    assert metastore_holders(settings) == [f"pid {jvm_pid} (land_runner.py)"]
    message = _fail(settings, HIVE)
    assert message == (
        f"the metastore in {settings.metastore_dir} is in use by another process"
        f" (pid {jvm_pid} (land_runner.py)): wait for it or use another PINLAKE_HOME"
        f" (`{PINLAKE} services up --metastore` lets them share it)"
    )
    assert "\n" not in message


def test_without_another_command_it_points_at_the_metastore_log(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    assert metastore_holders(settings) == []
    assert _fail(settings, HIVE) == (
        f"the metastore in {settings.metastore_dir} could not be opened (Hive: Unable to"
        " instantiate org.apache.hadoop.hive.ql.metadata.SessionHiveMetaStoreClient) and no"
        " other pinlake or dbt driver of this home was found: its log is"
        f" {settings.metastore_dir / 'derby.log'}"
    )
    # Derby's own words keep their message
    assert "is in use by another process (dbt, pinlake or Airflow" in _fail(
        settings, "ERROR XSDB6: Another instance of Derby may have already booted the database"
    )


def test_other_errors_pass_unchanged(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="something else"),
        spark_errors(Settings(home=tmp_path / "home")),
    ):
        raise RuntimeError("something else")


def test_a_driver_of_the_home_named_by_a_relative_path_is_found(tmp_path: Path) -> None:
    """dbt run by hand from the repository (``dbt build --profiles-dir .``, no PINLAKE_HOME):
    profiles.yml names the default home relatively, ``.pinlake/metastore/derby.log``, which is
    read from the driver's folder (helper-59's review)."""
    import psutil

    runner = tmp_path / "dbt_by_hand.py"
    runner.write_text(
        textwrap.dedent("""\
            import subprocess, sys, time
            option = "-Dderby.stream.error.file=.pinlake/metastore/derby.log"
            jvm = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", option])
            print(jvm.pid, flush=True)
            time.sleep(120)
            """)
    )
    parent = subprocess.Popen(
        [sys.executable, str(runner)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    jvm_pid = int(parent.stdout.readline())
    try:
        settings = Settings(home=tmp_path / ".pinlake")
        assert metastore_holders(settings) == [f"pid {jvm_pid} (dbt_by_hand.py)"]
        assert metastore_holders(Settings(home=tmp_path / "other")) == []
    finally:
        for pid in (jvm_pid, parent.pid):
            psutil.Process(pid).kill()
        parent.wait()
