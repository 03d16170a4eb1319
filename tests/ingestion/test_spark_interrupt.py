"""Ctrl-C in a process that holds a Spark session (pinlake.spark.interrupt_spark): the running
job is cancelled, the call it was in ends at once, py4j logs no traceback, and the session
works afterwards. The call ends with KeyboardInterrupt, or with the py4j error that py4j's own
clean-up of the broken connection raised on the way out (its context is the KeyboardInterrupt):
either way :data:`pinlake.errors.INTERRUPTED` is set and the CLI says "interrupted". On the
worker's shared session: SIGINT is sent to this process only (under a terminal the JVM, in the
same process group, gets it too and ends)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
from py4j.protocol import Py4JError

from pinlake.errors import INTERRUPTED

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_ctrl_c_cancels_the_job_and_leaves_no_py4j_traceback(spark, caplog) -> None:
    # signal handlers run in the main thread only: the session's was set where it was built
    assert threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT)
    assert getattr(handler, "__qualname__", "").startswith("interrupt_spark"), handler
    context = spark.sparkContext
    caplog.set_level(logging.INFO)
    INTERRUPTED.clear()
    # a job of hours: only the cancel ends it
    endless = spark.range(0, 10**13, numPartitions=2).selectExpr("sum(id % 7) as s")

    def interrupt_once_running() -> None:
        while not context.statusTracker().getActiveJobsIds():
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    try:
        with pytest.raises((KeyboardInterrupt, Py4JError)) as ended:
            endless.collect()
        assert INTERRUPTED.is_set()
        if not isinstance(ended.value, KeyboardInterrupt):
            assert isinstance(ended.value.__context__, KeyboardInterrupt), ended.value
        while context.statusTracker().getActiveJobsIds():  # cancelled: pytest-timeout bounds it
            time.sleep(0.2)
    finally:
        INTERRUPTED.clear()
    assert not [r for r in caplog.records if "py4j" in r.pathname and r.levelno >= logging.ERROR]
    assert spark.range(5).count() == 5  # the session goes on


def test_a_process_that_ignores_sigint_keeps_ignoring_it_with_a_session(tmp_path) -> None:
    """A shell's background job starts with SIGINT ignored; dbt keeps ignoring it, but
    PySpark's context set a handler of its own, so ``land`` stopped where ``dbt seed`` ran on.
    A session started with SIGINT ignored leaves it ignored."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""\
        import signal
        from pinlake.config import Settings
        from pinlake.spark import get_spark
        spark = get_spark(Settings(home={str(tmp_path / "home")!r}), metastore=False)
        print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
        spark.stop()
        """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True"


def test_a_caller_that_stops_gracefully_keeps_its_sigint_handler(spark, spark_settings) -> None:
    """``get_spark(keep_sigint=True)`` (the stream stage) puts back the SIGINT handler that was
    in place before the session started, where ``interrupt_spark``'s cancel-and-raise would take
    Ctrl-C; without it the session's handler is interrupt_spark's."""
    from pinlake.spark import get_spark

    before = signal.getsignal(signal.SIGINT)

    def graceful(_signum, _frame) -> None:  # never called: only its place is looked at
        raise AssertionError

    try:
        signal.signal(signal.SIGINT, graceful)
        assert get_spark(spark_settings, keep_sigint=True) is spark
        assert signal.getsignal(signal.SIGINT) is graceful
        get_spark(spark_settings)
        handler = signal.getsignal(signal.SIGINT)
        assert getattr(handler, "__qualname__", "").startswith("interrupt_spark"), handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_killed_driver_leaves_no_scratch_files(tmp_path) -> None:
    """A driver JVM that is killed (Ctrl-C twice on ``pinlake stream``: pinlake.spark.kill_driver)
    runs no shutdown hook, and left its ``spark-*``, ``blockmgr-*`` (shuffle files among them)
    and ``artifacts-*`` folders in /tmp for good. Its scratch files are now in a folder of the
    home (pinlake.spark.scratch_conf), removed once the JVM has ended; those of a process
    that ended by other means are removed by the next session's start. The home's path holds
    a space: Spark split its Java options there and started no driver
    (pinlake.spark.java_option)."""
    import json
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    import pinlake
    from pinlake.blank_free import blank_free_path
    from pinlake.config import Settings
    from pinlake.spark import scratch_dir

    home = tmp_path / "my home"
    ended = scratch_dir(Settings(home=home), pid=2**22 + 1)  # above Linux's pid_max
    (ended / "blockmgr-1").mkdir(parents=True)
    script = textwrap.dedent(f"""\
        import json, os, sys
        from pinlake.config import Settings
        from pinlake.spark import get_spark, kill_driver, scratch_dir
        settings = Settings(home={str(home)!r})
        spark = get_spark(settings, metastore=False)
        assert spark.range(100).repartition(3).count() == 100  # a shuffle: files to spill
        scratch = scratch_dir(settings)
        held = sorted(p.name.split("-")[0] for p in scratch.iterdir())
        java_tmp = spark.sparkContext._jvm.java.lang.System.getProperty("java.io.tmpdir")
        kill_driver(spark)
        print(json.dumps([held, java_tmp, str(scratch), scratch.exists()]), flush=True)
        """)
    # Spark's launcher sources <SPARK_CONF_DIR>/spark-env.sh unquoted: from a clone in "my
    # projects/" it printed "load-spark-env.sh: line 39: …/my: No such file or directory" and ran
    # without pinlake's (helper-58); the folder is reached through a link without a blank
    conf = tmp_path / "my conf"  # pinlake's conf/ (another folder is not used: conf_dir)
    conf.symlink_to(Path(pinlake.__file__).parent / "conf", target_is_directory=True)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "SPARK_CONF_DIR": str(conf)},
    )
    Path(blank_free_path(str(conf))).unlink()  # the link in the temporary folder
    assert done.returncode == 0, done.stderr[-2000:]
    assert "load-spark-env.sh" not in done.stderr and "incubator" not in done.stderr, done.stderr
    held, java_tmp, scratch, left = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"spark", "blockmgr"} <= set(held), held
    assert java_tmp == scratch and scratch.startswith(str(home))
    assert not left  # removed after the kill
    assert not ended.exists()  # a process that had ended: removed at the session's start
