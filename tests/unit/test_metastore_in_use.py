"""Two Spark commands on one home with the embedded Derby metastore (one JVM at a time): the one
that starts second fails. Hive's words for it ("Unable to instantiate … SessionHiveMetaStoreClient")
ended ``pinlake land`` with a 61-line traceback (helper-56's trial, two ``land`` started
together); pinlake.spark.spark_errors now says so in one line and names the other command."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
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


class JvmStarted(Exception):
    """What :func:`pinlake.spark.get_spark` reached when :func:`no_jvm` is used: the start."""


@pytest.fixture
def no_jvm(monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`pinlake.spark.get_spark` as in a process without a session, up to the driver
    JVM's start, which raises :class:`JvmStarted` instead (the launcher's variables unset)."""
    import pinlake.spark

    def start(*_args: object) -> None:
        raise JvmStarted

    monkeypatch.setattr(pinlake.spark, "_start", start)
    monkeypatch.setattr(pinlake.spark, "_session_runs", lambda: False)
    monkeypatch.setattr(pinlake.spark, "launcher_env", lambda _s: {})


def test_the_other_command_is_named_in_one_line(other_driver) -> None:
    settings, jvm_pid = other_driver
    assert metastore_holders(settings) == [f"pid {jvm_pid}, the Spark driver of land_runner.py"]
    message = _fail(settings, HIVE)
    assert message == (
        f"the metastore in {settings.metastore_dir} is in use by another process"
        f" (pid {jvm_pid}, the Spark driver of land_runner.py): wait for it or use another"
        " PINLAKE_HOME"
        f" (`{PINLAKE} services up --metastore` lets them share it)"
    )
    assert "\n" not in message


def test_a_second_session_is_refused_before_its_jvm_starts(
    other_driver, monkeypatch: pytest.MonkeyPatch, no_jvm
) -> None:
    """The same line at once, not after the seconds Spark's start-up takes (the second command
    used to start its driver JVM, which then failed on Derby's lock); with a shared metastore
    (``PINLAKE_METASTORE_URL`` of a network server) nothing is refused and the JVM starts."""
    import pinlake.spark

    monkeypatch.setattr(pinlake.spark, "METASTORE_GRACE", 0.5)
    settings, jvm_pid = other_driver
    with pytest.raises(SparkSetupError) as refused:
        pinlake.spark.get_spark(settings)
    assert str(refused.value) == _fail(settings, HIVE)
    assert f"(pid {jvm_pid}, the Spark driver of land_runner.py)" in str(refused.value)
    # a session without the metastore (the stream stage's) does not need it
    with pytest.raises(JvmStarted):
        pinlake.spark.get_spark(settings, metastore=False)
    import socket

    # the shared server's port listens (one that does not is refused before the JVM:
    # test_a_shared_metastore_on_this_machine_that_is_down_is_refused_before_the_jvm)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"jdbc:derby://127.0.0.1:{server.getsockname()[1]}/metastore_db"
        shared = settings.model_copy(update={"metastore_url": url})
        monkeypatch.setattr(pinlake.spark, "_embedded_metastore", lambda _s: False)
        with pytest.raises(JvmStarted):
            pinlake.spark.get_spark(shared)


def test_dbt_on_the_local_target_is_refused_before_it_starts(
    other_driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt-spark starts the ``local`` target's session itself: ``pinlake dbt`` checks first,
    and dbt does not start; another target (its metastore is elsewhere) is not checked."""
    import pinlake.lakehouse.dbt as dbt
    import pinlake.spark

    monkeypatch.setattr(pinlake.spark, "METASTORE_GRACE", 0.5)
    started: list[list[str]] = []
    monkeypatch.setattr(dbt, "_invoke", lambda _s, args, _p: started.append(args) or 0)
    settings, jvm_pid = other_driver
    with pytest.raises(SparkSetupError, match=f"in use by another process \\(pid {jvm_pid}, "):
        dbt.run_dbt(settings, dbt.DbtCommand(["seed"]))
    assert started == []
    dbt.run_dbt(settings, dbt.DbtCommand(["seed", "--target", "lint"]))
    assert started == [["seed", "--target", "lint"]]
    # a command that does not connect (the CI run's `docs serve` beside the golden DAG's JVM)
    settings.dbt_target_dir.mkdir(parents=True)
    (settings.dbt_target_dir / "index.html").write_text("<html></html>")  # docs to serve
    for args in (["docs", "serve", "--port", "0"], ["parse"], ["ls"]):
        dbt.run_dbt(settings, dbt.DbtCommand(args))
        assert started[-1] == args
    with pytest.raises(SparkSetupError):
        dbt.run_dbt(settings, dbt.DbtCommand(["docs", "generate"]))
    assert started[-1] == ["ls"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["build"], True),
        (["--log-level", "warn", "seed", "--full-refresh"], True),
        (["docs", "generate", "--target", "local"], True),
        (["docs", "serve"], False),
        (["--no-partial-parse", "docs", "serve"], False),
        (["parse"], False),
        (["ls", "--select", "marts"], False),
        (["deps"], False),
        (["debug"], True),
        (["run-operation", "my_macro"], True),
        (["source", "freshness"], True),
    ],
)
def test_the_dbt_commands_that_connect(args: list[str], expected: bool) -> None:
    from pinlake.lakehouse.dbt import connects

    assert connects(args) is expected


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


def test_a_shared_metastore_that_does_not_answer_is_one_line_with_its_hints(
    tmp_path: Path,
) -> None:
    """Derby's network client's words: the hints after a colon, as every "not reachable" line
    of a service (Kafka, the ingestion API, the Spark master) has them."""
    settings = Settings(home=tmp_path / "home")
    assert _fail(
        settings,
        "java.sql.SQLNonTransientConnectionException: java.net."
        "ConnectException : Error connecting to server localhost on port 1,527",
    ) == (
        f"the shared metastore does not answer: is it running? (`{PINLAKE} services status`; "
        f"`{PINLAKE} services up --metastore` starts it)"
    )
    # the home's server running at another port than PINLAKE_METASTORE_URL names: that one
    # (helper-109's kind: `services up --metastore` would refuse the running server)
    import os

    from pinlake import run_folder

    settings.run_dir.mkdir(parents=True)
    run_folder.record_config(
        settings.run_dir, run_folder.METASTORE, os.getpid(), {"port": 1527, "database": "x"}
    )
    run_folder.pid_file(settings.run_dir, run_folder.METASTORE).write_text(f"{os.getpid()}\n")
    typo = settings.model_copy(
        update={"metastore_url": "jdbc:derby://127.0.0.1:1528/metastore_db;password=secret"}
    )
    assert _fail(typo, "ConnectException : Error connecting to server localhost on port 1,528") == (
        "the shared metastore at jdbc:derby://127.0.0.1:1528/metastore_db;password=*** does not "
        "answer: this home's runs at jdbc:derby://127.0.0.1:1527/metastore_db: check "
        "PINLAKE_METASTORE_URL"
    )


def test_a_shared_metastore_on_this_machine_that_is_down_is_refused_before_the_jvm(
    tmp_path: Path,
) -> None:
    """helper-110: ``PINLAKE_METASTORE_URL`` (as ``services up --metastore`` prints it for
    Airflow) with the server stopped: ``land`` ended after 30 s in a 60-line traceback ("Unable
    to instantiate … SessionHiveMetaStoreClient"). Now the check before a session's JVM refuses
    it in one line, and that error from a job (the server stopped meanwhile) is the same line.
    A server that listens passes."""
    import socket

    from pinlake.services.process import free_ports
    from pinlake.spark import check_metastore_free

    (port,) = free_ports(1)
    settings = Settings(
        home=tmp_path / "home", metastore_url=f"jdbc:derby://127.0.0.1:{port}/metastore_db"
    )
    line = (
        f"the shared metastore does not answer: is it running? (`{PINLAKE} services status`; "
        f"`{PINLAKE} services up --metastore` starts it)"
    )
    with pytest.raises(SparkSetupError) as refused:
        check_metastore_free(settings)
    assert str(refused.value) == line
    assert _fail(settings, HIVE) == line
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        check_metastore_free(settings)  # something answers there: the session may start
    # a server elsewhere is not looked at (only a connection can tell)
    remote = settings.model_copy(
        update={"metastore_url": "jdbc:derby://metastore.example.com:1527/metastore_db"}
    )
    check_metastore_free(remote)


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
    with _holder(tmp_path, "dbt_by_hand.py", ".pinlake/metastore/derby.log") as jvm_pid:
        settings = Settings(home=tmp_path / ".pinlake")
        assert metastore_holders(settings) == [f"pid {jvm_pid}, the Spark driver of dbt_by_hand.py"]
        assert metastore_holders(Settings(home=tmp_path / "other")) == []


@contextmanager
def _holder(
    folder: Path, script: str, log: str, *args: str, seconds: float = 120, reap: bool = False
) -> Iterator[int]:
    """A stand-in driver of a home: a Python ``script`` (in ``folder``, run there with
    ``args``) whose child, the "JVM", holds ``-Dderby.stream.error.file=<log>`` on its command
    line for ``seconds``; with ``reap`` the script waits for it to end (a step's driver that
    ends after its command). Yields the child's pid; both are killed afterwards."""
    import psutil

    runner = folder / script
    runner.write_text(
        textwrap.dedent(f"""\
            import subprocess, sys, time
            option = "-Dderby.stream.error.file={log}"
            sleep = "import time; time.sleep({seconds})"
            jvm = subprocess.Popen([sys.executable, "-c", sleep, option])
            print(jvm.pid, flush=True)
            if {reap}:
                jvm.wait()
            time.sleep(120)
            """)
    )
    parent = subprocess.Popen(
        [sys.executable, str(runner), *args], stdout=subprocess.PIPE, text=True, cwd=folder
    )
    jvm_pid = int(parent.stdout.readline())
    try:
        yield jvm_pid
    finally:
        for pid in (jvm_pid, parent.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
        parent.wait()


def test_a_driver_that_ends_within_the_grace_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_jvm
) -> None:
    """The driver JVM of the command before (a pipeline's previous step) ends after that
    command's Python, its shutdown hooks run: a session started then waits for it to end
    (METASTORE_GRACE) instead of being refused, and its JVM starts."""
    import psutil

    import pinlake.spark

    home = tmp_path / "home"
    log = f"{home}/metastore/derby.log"
    with _holder(tmp_path, "previous_step.py", log, seconds=1.5, reap=True) as jvm_pid:
        settings = Settings(home=home)
        assert metastore_holders(settings) == [
            f"pid {jvm_pid}, the Spark driver of previous_step.py"
        ]
        monkeypatch.setattr(pinlake.spark, "METASTORE_GRACE", 60.0)
        with pytest.raises(JvmStarted):
            pinlake.spark.get_spark(settings)
        assert not psutil.pid_exists(jvm_pid) or psutil.Process(jvm_pid).status() == "zombie"


def test_a_long_command_line_is_cut_with_an_ellipsis(tmp_path: Path) -> None:
    """What started a holder is at most 60 characters; a longer command line ends in ``…``
    (helper-87 read ``… from pinlake.spark i`` as the whole command)."""
    home = tmp_path / "home"
    argument = "x" * 80
    log = f"{home}/metastore/derby.log"
    with _holder(tmp_path, "long_runner.py", log, argument) as jvm_pid:
        [holder] = metastore_holders(Settings(home=home))
        started_by = holder.removeprefix(f"pid {jvm_pid}, the Spark driver of ")
        assert started_by == ("long_runner.py " + argument)[:59] + "…"
        assert len(started_by) == 60


@pytest.mark.parametrize("folder", ["w[bold]x:x:y", "a:b", "w[bold]x", "p*q", "c{d}", "a;b"])
def test_a_home_spark_cannot_use_is_refused_before_its_jvm_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_jvm, capsys, folder: str
) -> None:
    """helper-89: on a home ``…/w[bold]x:x:y/h`` ``source init`` and ``produce`` worked, then
    ``land`` failed on the metastore (Hive's "Unable to instantiate …"); on ``…/w[bold]x/h``
    with a Python traceback and about 590 lines of Hadoop's usage text (``[bold]`` read as a
    file pattern). One line now, before a JVM starts: Spark's session, dbt's local target,
    and land through the CLI (whose bucket is checked too)."""
    import pinlake.lakehouse.dbt as dbt
    import pinlake.spark
    from pinlake.cli import main

    home = tmp_path / folder / "h"
    settings = Settings(home=home)
    with pytest.raises(SparkSetupError) as refused:
        pinlake.spark.get_spark(settings)
    assert str(refused.value).startswith(f"the home (--home, PINLAKE_HOME) {home} holds '")
    assert str(refused.value).endswith("choose a folder without them")
    started: list[list[str]] = []
    monkeypatch.setattr(dbt, "_invoke", lambda _s, args, _p: started.append(args) or 0)
    for args in (["seed"], ["build"]):  # build: not the empty home's "run land" (helper-90)
        with pytest.raises(SparkSetupError):
            dbt.run_dbt(settings, dbt.DbtCommand(args))
    assert started == []
    # every command refuses it at once, the first one too (helper-91: `source init` and
    # `produce` filled it, then `land` refused it)
    for args in (["source", "init", "--rows", "5"], ["produce", "--to", "bucket"], ["land"]):
        with pytest.raises(SystemExit) as done:
            main(["--home", str(home), *args])
        err = capsys.readouterr().err.strip()
        assert done.value.code == 2, (args, err)
        assert err.startswith(f"error: the home (--home, PINLAKE_HOME) {home} holds '"), err
        assert len(err.splitlines()) == 1 and "the metastore's Derby URL ';'" in err, err
    assert not home.exists()
    bucket = tmp_path / "b:u" / "bucket"  # a good home, a --bucket Spark cannot read
    ok_home = tmp_path / "home"
    with pytest.raises(SystemExit) as done:
        main(["--home", str(ok_home), "source", "init", "--rows", "5"])
    assert done.value.code in (0, None), capsys.readouterr()
    capsys.readouterr()
    # the writers refuse it before writing (the sink before it dials Kafka), and land too
    # land too, the folder missing (helper-92: the hint said to run `produce --to bucket
    # --bucket <it>`, which refuses it) or made otherwise
    cases = (["produce", "--to", "bucket", "--events", "5"], ["sink", "--once"], ["land"], ["land"])
    for number, args in enumerate(cases):
        if number == 3:
            assert not bucket.exists()  # nothing was written
            bucket.mkdir(parents=True)
        with pytest.raises(SystemExit) as done:
            main(["--home", str(ok_home), *args, "--bucket", str(bucket)])
        err = capsys.readouterr().err.strip()
        assert done.value.code == 1 and err.startswith(f"error: the bucket {bucket} holds ':'"), err
        assert "Derby" not in err  # a home's rule, not a bucket's (helper-92)
