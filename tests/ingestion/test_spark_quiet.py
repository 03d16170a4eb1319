"""Starting Spark shows errors only: no JVM or Spark start-up chatter on the user's terminal
(also checked on the output of the ``pinlake stream`` processes of
tests/integration/test_stream_path.py). And the driver JVM of both kinds of session, pinlake's
and dbt's ``local`` target, maps the class-data archive ``make setup`` built (pinlake.spark_cds):
the JVM's class-loading log says where each class came from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pinlake_testing import INCUBATOR, LOG_LEVEL_BANNER

from pinlake.config import Settings
from pinlake.lakehouse.dbt import dbt_env, dbt_executable
from pinlake.spark import scratch_dir, session_env

# slow: it starts a Spark JVM (tens of seconds), so the fast loop leaves it out
pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from pinlake.config import REPO_ROOT

    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400, check=False
    )


SESSION = """
from pinlake.spark import get_spark

spark = get_spark()
assert spark.sql("select 1 as x").collect()[0].x == 1
# a timestamp read into Python is the session's (UTC), from a shell west of UTC too
from datetime import datetime
row = spark.sql("select timestamp'2022-07-13 21:08:05' as t").collect()[0]
assert row.t == datetime(2022, 7, 13, 21, 8, 5), row.t
# files resolve on this machine, not on the HDFS of the shell's HADOOP_CONF_DIR
assert spark.sparkContext._jsc.hadoopConfiguration().get("fs.defaultFS") == "file:///"
# ... and the metastore is the home's, not the remote one of the shell's HIVE_CONF_DIR
assert "default" in [row[0] for row in spark.sql("show databases").collect()]
# a Python worker runs this virtualenv's Python, not the shell's PYSPARK_PYTHON
assert spark.sparkContext.parallelize([1, 2], 1).map(lambda x: x + 1).sum() == 5
spark._jvm.org.slf4j.LoggerFactory.getLogger("pinlake.test").error("this error stays visible")
# the shell's JVM options still apply (only their "Picked up" notices are dropped)
import os
if os.environ.get("JAVA_TOOL_OPTIONS"):
    system = spark._jvm.java.lang.System
    assert system.getProperty("pinlake.tool") == "kept", "JAVA_TOOL_OPTIONS"
    assert system.getProperty("pinlake.underscore") == "kept", "_JAVA_OPTIONS"
# the AWS SDK bundle's own (shaded) SLF4J, which every SDK class logs through on the first s3a://
# call: its events reach log4j2 too, with no "SLF4J: Failed to load class" on the way
sdk = spark._jvm.software.amazon.awssdk.thirdparty.org.slf4j.LoggerFactory
sdk.getLogger("software.amazon.awssdk.pinlake").error("an AWS SDK error stays visible")
sdk.getLogger("software.amazon.awssdk.pinlake").info("an AWS SDK info line stays below WARN")
print("session ready")
"""


def _watched(
    command: list[str], env: dict[str, str], folder: Path
) -> tuple[subprocess.CompletedProcess[str], list[str], set[str]]:
    """:func:`_run`, and while it runs, the command lines of its descendants and the kinds of
    folder (the name before its first ``-``: ``blockmgr``, ``spark``) seen in ``folder``."""
    import time

    import psutil

    from pinlake.config import REPO_ROOT

    commands: set[str] = set()
    held: set[str] = set()
    with subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < deadline:
            for child in parent.children(recursive=True):
                try:
                    commands.add(" ".join(child.cmdline()))
                except psutil.Error:  # ended meanwhile
                    pass
            held |= {p.name.split("-")[0] for p in folder.glob("*")}
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(command, proc.returncode, out, err), sorted(commands), held


#: A class in the archive, as the JVM's class-loading log names its source.
FROM_ARCHIVE = "{} source: shared objects file (top)"


def _logging_class_loads(tmp_path: Path) -> tuple[Settings, Path]:
    """Settings whose JVMs log every class they load (and where from) to a file."""
    log = tmp_path / "classes.log"
    options = f"{os.environ.get('PINLAKE_JVM_OPTIONS', '')} -Xlog:class+load=info:file={log}"
    return Settings(home=tmp_path / "home", jvm_options=options.strip()), log


def _assert_archive_mapped(log: Path) -> None:
    from pinlake.spark import driver_classpath
    from pinlake.spark_cds import archive_file

    archive = archive_file(Settings(), driver_classpath(Settings()))
    assert archive.is_file(), f"no class-data archive {archive}: run `make setup`"
    loaded = log.read_text()
    for name in ("org.apache.spark.SparkContext", "io.delta.sql.DeltaSparkSessionExtension"):
        assert FROM_ARCHIVE.format(name) in loaded, name
    assert loaded.count("source: shared objects file (top)") > 10 * loaded.count(
        "source: file:"
    )  # jars


def _another_spark(tmp_path: Path) -> dict[str, str]:
    """A shell's variables for another Spark (pinlake.spark.launcher_env and get_spark replace
    them): a ``SPARK_HOME`` without ``bin/spark-submit``, ``PYSPARK_SUBMIT_ARGS`` that
    spark-submit refuses (a notebook's would add a second Delta with ``--packages``), a
    ``SPARK_CONF_DIR`` whose spark-defaults.conf logs events to a folder that does not exist,
    a ``SPARK_LOCAL_IP`` that is not this machine's (TEST-NET-1), a ``PYSPARK_PYTHON`` that
    is not there (a conda shell's), and a Hadoop client's ``HADOOP_CONF_DIR`` whose
    core-site.xml names an HDFS name node (land stopped: "Call From … to 192.0.2.1:8020
    failed"), with ``YARN_CONF_DIR`` and ``SPARK_DIST_CLASSPATH`` (another Hadoop's jars), a
    Hive client's ``HIVE_CONF_DIR`` whose hive-site.xml names a remote metastore, and
    a ``SPARK_LOCAL_DIRS`` this machine cannot write (the driver did not start), and a Spark
    Connect user's ``SPARK_REMOTE`` (PySpark's builder opened a Connect session instead)."""
    folder = tmp_path / "another-spark"
    (folder / "conf").mkdir(parents=True)
    (folder / "conf" / "spark-defaults.conf").write_text(
        f"spark.eventLog.enabled true\nspark.eventLog.dir file://{folder}/no-such-dir\n"
    )
    hadoop = tmp_path / "hadoop-conf"
    hadoop.mkdir()
    (hadoop / "core-site.xml").write_text(
        "<configuration><property><name>fs.defaultFS</name>"
        "<value>hdfs://192.0.2.1:8020</value></property></configuration>\n"
    )
    (hadoop / "hive-site.xml").write_text(
        "<configuration><property><name>hive.metastore.uris</name>"
        "<value>thrift://192.0.2.1:9083</value></property></configuration>\n"
    )
    return {
        "HADOOP_CONF_DIR": str(hadoop),
        "YARN_CONF_DIR": str(hadoop),
        "HIVE_CONF_DIR": str(hadoop),  # a Hive client's: its remote metastore
        "SPARK_DIST_CLASSPATH": str(tmp_path / "another-hadoop" / "*"),
        "SPARK_LOCAL_DIRS": "/proc/no-such-scratch",  # another machine's /mnt/ssd
        "SPARK_REMOTE": "sc://192.0.2.10:15002",  # a Spark Connect user's server
        "SPARK_HOME": str(folder),
        "PYSPARK_SUBMIT_ARGS": "--no-such-option pyspark-shell",
        "SPARK_CONF_DIR": str(folder / "conf"),
        "SPARK_LOCAL_IP": "192.0.2.10",
        "PYSPARK_PYTHON": str(folder / "bin" / "python"),
    }


#: A shell's options for every JVM (a company's trust store, an IDE's encoding): each JVM said
#: "Picked up JAVA_TOOL_OPTIONS: …" on stderr, twice before every Spark command's output.
JAVA_OPTIONS = {
    "JAVA_TOOL_OPTIONS": "-Dpinlake.tool=kept",
    "_JAVA_OPTIONS": "-Dpinlake.underscore=kept",
    "JDK_JAVA_OPTIONS": "-Dpinlake.launcher=kept",
}


def test_get_spark_prints_no_start_up_chatter_but_errors(tmp_path: Path):
    settings, classes = _logging_class_loads(tmp_path)
    env = session_env(settings)
    # get_spark itself points Spark at pinlake's conf and the wheel's Spark, though the shell
    # names another (its home was used: "…/bin/spark-submit: No such file or directory"; its
    # submit arguments, conf folder and local address too)
    env.update(_another_spark(tmp_path))
    env["TZ"] = "America/Los_Angeles"  # PySpark read timestamps in it: 7 hours early
    env.update(JAVA_OPTIONS)
    done = _run([sys.executable, "-c", SESSION], env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "session ready" in done.stdout
    assert INCUBATOR not in output
    for line in LOG_LEVEL_BANNER:
        assert line not in output
    assert "this error stays visible" in done.stderr  # a JVM log4j error still gets through
    assert "an AWS SDK error stays visible" in done.stderr  # not dropped by a NOP logger
    assert "below WARN" not in output  # and log4j2's level applies to it
    assert "SLF4J" not in output  # no binding warning from either SLF4J
    assert "Picked up" not in output
    _assert_archive_mapped(classes)


def test_dbt_session_target_prints_no_start_up_chatter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # `dbt debug` opens the `local` target's session (dbt-spark builds it with pyspark) in the
    # environment every dbt run gets (pinlake.lakehouse.dbt.dbt_env: SPARK_CONF_DIR is pinlake's
    # conf).
    # Its output goes to a pipe here, as to a log file or `| tee`: no ANSI colour codes.
    settings, classes = _logging_class_loads(tmp_path)
    for name, value in {**_another_spark(tmp_path), **JAVA_OPTIONS}.items():  # the shell's
        monkeypatch.setenv(name, value)
    # and another dbt project's profile and target (dbt refused pinlake's profile: "does not
    # have a target named 'dev'"; the demo stopped at dbt build)
    monkeypatch.setenv("DBT_PROFILE", "warehouse")
    monkeypatch.setenv("DBT_TARGET", "dev")
    env = dbt_env(settings, terminal=False)
    done, commands, held = _watched([dbt_executable(), "debug"], env, scratch_dir(settings))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # its driver's scratch files in the home, as a session of pinlake's (scratch_conf): they
    # were in /tmp, and stayed there when dbt was killed
    option = f"-Djava.io.tmpdir={scratch_dir(settings)}"
    assert any(option in c and "SparkSubmit" in c for c in commands), commands
    assert "blockmgr" in held, held
    assert "All checks passed!" in output
    assert "\x1b[" not in output
    assert INCUBATOR not in output
    assert "Picked up" not in output
    for line in LOG_LEVEL_BANNER:
        assert line not in output
    _assert_archive_mapped(classes)
