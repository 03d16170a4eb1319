"""The local Spark standalone cluster's configuration (issue 11, section 2), without a JVM: the
daemons' command lines and environments derived from the settings, the master URL the home's
Spark processes then use (the session builder's conf, child processes, dbt's ``local`` target,
the Thrift server), and ``services up`` refusing a cluster started with other settings.

A "running" master here is a pid file naming this test process (alive, never signalled: nothing
in these tests stops a service) with a configuration record, as ``services up`` writes them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pinlake_testing import listening, render_profiles
from pydantic import ValidationError

from pinlake.config import Settings, SparkClusterSettings
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError
from pinlake.services import manager, process, thrift_server
from pinlake.services import spark_cluster as standalone
from pinlake.services.request import UpRequest
from pinlake.spark import (
    LOCAL_MASTER,
    SHELL_DROPPED,
    session_conf,
    session_env,
    spark_conf,
    spark_master,
)


def cluster_settings(home: Path, base: int, **extra: object) -> Settings:
    """Settings of ``home`` whose cluster ports derive from ``base`` (never opened here)."""
    return Settings(
        home=home,
        spark_cluster=SparkClusterSettings(
            port=base, ui_port=base + 1, worker_ui_port=base + 2, **extra
        ),
    )


def pretend_master(settings: Settings, config: dict | None = None) -> int:
    """The master's pid file (this process) and configuration record."""
    pid = os.getpid()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    process.record_config(
        settings.run_dir, standalone.MASTER, pid, config or standalone.master_config(settings)
    )
    process.pid_file(settings.run_dir, standalone.MASTER).write_text(f"{pid}\n")
    return pid


def test_daemon_command_lines_follow_the_settings(tmp_path: Path):
    settings = cluster_settings(
        tmp_path, 17000, workers=3, worker_cores=2, worker_memory="1536M", app_cores=2
    )
    master = standalone.master_argv(settings)
    assert master[0].endswith("pyspark/bin/spark-class") and Path(master[0]).is_file()
    assert master[1:] == [
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        "17000",
        "--webui-port",
        "17001",
    ]
    worker = standalone.worker_argv(settings, 3)
    assert worker[1:] == [
        "org.apache.spark.deploy.worker.Worker",
        "--host",
        "127.0.0.1",
        "--cores",
        "2",
        "--memory",
        "1536m",
        "--work-dir",
        str(tmp_path / "spark-cluster" / "worker-3"),
        "--webui-port",
        "17004",  # worker_ui_port + 3 - 1
        "spark://127.0.0.1:17000",
    ]
    assert set(standalone.wanted_configs(settings)) == {
        "spark-master",
        "spark-worker-1",
        "spark-worker-2",
        "spark-worker-3",
    }
    assert standalone.wanted_configs(settings)["spark-worker-2"] == {
        "master": "spark://127.0.0.1:17000",
        "cores": 2,
        "memory": "1536m",
        "ui_port": 17003,
        "work_dir": str(tmp_path / "spark-cluster" / "worker-2"),
    }


def test_daemon_environments(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SPARK_CONF_DIR", "/somewhere/with/errors-only/logging")
    for name in SHELL_DROPPED:  # a Hadoop client's shell: its cluster's conf, its jars
        monkeypatch.setenv(name, "/etc/hadoop/conf")
    settings = cluster_settings(tmp_path, 17100, app_cores=3)
    master = standalone.daemon_env(settings)
    worker = standalone.daemon_env(settings, 2)
    for env in (master, worker):
        assert env["PYSPARK_PYTHON"] == sys.executable  # the executors' Python workers
        assert env["SPARK_LOCAL_IP"] == "127.0.0.1"
        assert Path(env["SPARK_HOME"], "jars").is_dir()  # the wheel is the Spark home
        assert "SPARK_CONF_DIR" not in env  # the daemons log at Spark's INFO level
        # the executors' class path is the wheel's; their scratch folder the worker's own
        assert {name: env.get(name) for name in SHELL_DROPPED if name in env} == (
            {"SPARK_LOCAL_DIRS": str(tmp_path / "spark-cluster" / "worker-2" / "local")}
            if env is worker
            else {}
        )
        assert Path(env["SPARK_LOG_DIR"]).is_relative_to(tmp_path)
    assert "-Dspark.deploy.defaultCores=3" in master["SPARK_MASTER_OPTS"].split()
    assert "-Dspark.port.maxRetries=0" in master["SPARK_MASTER_OPTS"].split()
    assert "-Dspark.master.rest.enabled=false" in master["SPARK_MASTER_OPTS"].split()  # no 6066
    assert worker["SPARK_WORKER_OPTS"] == "-Dspark.port.maxRetries=0"
    assert worker["SPARK_LOCAL_DIRS"] == str(tmp_path / "spark-cluster" / "worker-2" / "local")
    # a comma-separated list to Spark: a home whose path holds a comma gets the system's
    # temporary folder (it got two folders, one of them relative to the worker's directory)
    import tempfile

    comma = cluster_settings(tmp_path / "co,mma", 17100)
    assert standalone.daemon_env(comma, 1)["SPARK_LOCAL_DIRS"] == tempfile.gettempdir()


def test_worker_settings_are_validated(monkeypatch):
    assert SparkClusterSettings().model_dump() == {
        "workers": 2,
        "worker_cores": 1,
        "worker_memory": "1g",
        "app_cores": 1,
        "port": 7077,
        "ui_port": 8180,
        "worker_ui_port": 8181,
    }
    with pytest.raises(ValidationError, match="at least 1g"):
        SparkClusterSettings(worker_memory="512m")
    with pytest.raises(ValidationError, match="memory string"):
        SparkClusterSettings(worker_memory="1 GB")
    with pytest.raises(ValidationError):
        SparkClusterSettings(workers=0)
    with pytest.raises(ValueError, match="1..8"):
        standalone.with_workers(Settings(), 9)
    monkeypatch.setenv("PINLAKE_SPARK_CLUSTER__WORKERS", "3")
    monkeypatch.setenv("PINLAKE_SPARK_CLUSTER__WORKER_MEMORY", "2G")
    assert Settings().spark_cluster.workers == 3
    assert Settings().spark_cluster.worker_memory == "2g"


def test_the_running_cluster_is_the_master_of_the_homes_spark(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PINLAKE_SPARK_MASTER", raising=False)
    settings = cluster_settings(tmp_path / "home", 17200)
    assert settings.spark_master is None
    assert spark_master(settings) == LOCAL_MASTER == spark_conf(settings)["spark.master"]

    # the port the master was started with, whatever the settings say now
    pretend_master(settings, {**standalone.master_config(settings), "port": 17299})
    conf = spark_conf(settings)
    assert conf["spark.master"] == "spark://127.0.0.1:17299"
    # executors: the driver's jars (Delta, Kafka connector, hadoop-aws) and UTC
    assert conf["spark.executor.extraClassPath"] == conf["spark.driver.extraClassPath"]
    assert conf["spark.executor.extraClassPath"].startswith(str(settings.jars_dir / "spark"))
    assert "-Duser.timezone=UTC" in conf["spark.executor.extraJavaOptions"].split()
    # an explicit master wins
    explicit = settings.model_copy(update={"spark_master": "local[1]"})
    assert spark_conf(explicit)["spark.master"] == "local[1]"

    # child processes decide again (the field stays unset) and dbt's local target is told
    env = session_env(settings)
    assert "PINLAKE_SPARK_MASTER" not in env
    assert env["PINLAKE_SPARK_MASTER_URL"] == "spark://127.0.0.1:17299"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings
    assert explicit.child_env()["PINLAKE_SPARK_MASTER"] == "local[1]"

    local = render_profiles(env)["pinlake"]["outputs"]["local"]["server_side_parameters"]
    assert local == session_conf(settings)  # strings, as dbt-spark's credentials require

    # the Thrift server's master is the cluster too
    assert thrift_server.config(settings)["master"] == "spark://127.0.0.1:17299"


def test_up_with_the_cluster_gives_the_thrift_server_the_cluster_before_it_runs(tmp_path: Path):
    settings = cluster_settings(tmp_path, 17300)
    wanted = manager.wanted_configs(
        settings, UpRequest(stream=False, thrift=True, spark_cluster=True)
    )
    assert wanted["thrift"]["master"] == "spark://127.0.0.1:17300"
    assert wanted["spark-master"] == standalone.master_config(settings)
    assert {"spark-worker-1", "spark-worker-2"} <= set(wanted)
    alone = manager.wanted_configs(settings, UpRequest(stream=False, thrift=True))
    assert alone["thrift"]["master"] == LOCAL_MASTER and "spark-master" not in alone


def test_up_refuses_a_cluster_with_another_worker_count(tmp_path: Path):
    running = cluster_settings(tmp_path, 17400, workers=1)
    pid = pretend_master(running)
    wanted = standalone.with_workers(running, 3)
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(wanted, UpRequest(stream=False, spark_cluster=True))
    message = str(failure.value)
    assert f"spark-master (pid {pid}) runs with workers=1, not workers=3" in message
    assert message.endswith(f"stop them first: `{PINLAKE.at(tmp_path)} services down`")


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path):
    with listening() as port:
        free = process.free_ports(2)
        settings = Settings(
            home=tmp_path,
            spark_cluster=SparkClusterSettings(
                workers=1, port=free[0], ui_port=free[1], worker_ui_port=port
            ),
        )
        with pytest.raises(PinlakeError, match=f"127.0.0.1:{port} is already in use"):
            standalone.start(settings)
    assert not settings.run_dir.exists() or not list(settings.run_dir.iterdir())


def test_a_taken_web_ui_port_of_a_later_worker_names_the_worker_and_its_step(tmp_path: Path):
    """The kind a new user met with Kafka node 3's controller port: worker n's web UI port is
    PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT + n - 1, so the message says which worker and how."""
    port, ui = process.free_ports(2)
    worker_ui = process.free_ports(1)[0]
    with listening(worker_ui + 1):  # worker 2's web UI
        settings = Settings(
            home=tmp_path,
            spark_cluster=SparkClusterSettings(
                workers=2, port=port, ui_port=ui, worker_ui_port=worker_ui
            ),
        )
        with pytest.raises(PinlakeError) as failure:
            standalone.check_ports(settings)
        owner = process.port_owner(worker_ui + 1)
    assert owner is not None and owner.startswith(f"pid {os.getpid()} (")  # this test's socket
    assert str(failure.value) == (
        f"port 127.0.0.1:{worker_ui + 1} is already in use by {owner} (choose another with "
        "PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT"
        "; worker 2's web UI is that port + 1)"
    )
    # worker 1's is the port itself (helper-112: "that port + 0")
    assert (worker_ui, "PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT; worker 1's web UI is that port") in (
        standalone.planned_ports(settings)
    )


def test_worker_states_from_the_masters_json():
    # the shape of GET /json/ of a Spark 4.2 master (one worker restarted: its old entry DEAD)
    state = {
        "status": "ALIVE",
        "workers": [
            {"webuiaddress": "http://127.0.0.1:8181", "state": "DEAD"},
            {"webuiaddress": "http://127.0.0.1:8182", "state": "ALIVE"},
            {"webuiaddress": "http://127.0.0.1:8181", "state": "ALIVE"},
            {"webuiaddress": "http://127.0.0.1:8183", "state": "DECOMMISSIONED"},
        ],
    }
    assert standalone.alive_worker_ui_ports(state) == {8181, 8182}
    assert standalone.alive_worker_ui_ports(None) == set()


def test_status_shows_nothing_when_no_cluster_runs_and_down_when_it_does_not_answer(
    tmp_path: Path,
):
    free = process.free_ports(3)
    settings = Settings(
        home=tmp_path,
        spark_cluster=SparkClusterSettings(
            workers=1, port=free[0], ui_port=free[1], worker_ui_port=free[2]
        ),
    )
    assert standalone.status_rows(settings) == ([], True)
    pid = pretend_master(settings)
    rows, ok = standalone.status_rows(settings)
    assert not ok
    assert rows == [
        (
            "spark master",
            f"spark://127.0.0.1:{free[0]} · UI http://127.0.0.1:{free[1]}",
            pid,
            "down",
        ),
        ("spark worker 1", f"UI http://127.0.0.1:{free[2]}", "-", "down"),
    ]


def test_the_driver_scratch_folder_is_the_homes_and_its_option_survives_blanks(tmp_path) -> None:
    """pinlake.spark.scratch_conf: Spark's local folder and the JVM's temporary folder; the
    option is quoted (Spark splits Java options at blanks) and a path holding a comma, which
    spark.local.dir would read as two folders, gets the system's temporary folder as Spark's
    local folder: unset, Spark read java.io.tmpdir as that list, and a home /tmp/co,mma/home put
    its folders in /tmp/co and in mma/home/… under the working directory. dbt's local target
    gets the same two (session_env)."""
    import tempfile

    from pinlake.spark import scratch_conf, scratch_dir

    settings = Settings(home=tmp_path / "a home")
    conf = scratch_conf(spark_conf(settings), scratch_dir(settings, pid=42))
    scratch = str(tmp_path / "a home" / "tmp" / "spark-scratch" / "42")
    assert conf["spark.local.dir"] == scratch
    assert conf["spark.driver.extraJavaOptions"].endswith(f' "-Djava.io.tmpdir={scratch}"')
    assert (
        spark_conf(settings)["spark.driver.extraJavaOptions"]
        in (conf["spark.driver.extraJavaOptions"])
    )
    comma = scratch_conf({}, tmp_path / "a,b")
    assert comma["spark.local.dir"] == tempfile.gettempdir()
    assert comma["spark.driver.extraJavaOptions"] == f'"-Djava.io.tmpdir={tmp_path / "a,b"}"'
    env = session_env(settings)
    ours = scratch_conf({}, scratch_dir(settings))
    assert env["PINLAKE_SPARK_LOCAL_DIR"] == ours["spark.local.dir"]
    assert env["PINLAKE_SPARK_TMPDIR_OPTION"] == ours["spark.driver.extraJavaOptions"]
    comma_home = Settings(home=tmp_path / "co,mma" / "home")
    assert session_env(comma_home)["PINLAKE_SPARK_LOCAL_DIR"] == tempfile.gettempdir()


def test_a_standalone_master_that_does_not_answer_fails_at_once() -> None:
    """``PINLAKE_SPARK_MASTER=spark://127.0.0.1:1``: the driver waited a minute, then printed 137
    lines of JVM errors and Python tracebacks (helper-56); now one line before any JVM starts.
    A master that takes a connection (any of a list) and a local one pass."""
    import socket

    from pinlake.spark import SparkSetupError, check_master

    with socket.socket() as server, socket.socket() as silent:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_master(f"spark://127.0.0.1:{port}")
        silent.bind(("127.0.0.1", 0))  # a port held, but nothing listens: refused
        closed = silent.getsockname()[1]
        check_master(f"spark://127.0.0.1:{closed},127.0.0.1:{port}")
        with pytest.raises(SparkSetupError) as refused:
            check_master(f"spark://127.0.0.1:{closed}")
    port = closed
    assert str(refused.value) == (
        f"the Spark master spark://127.0.0.1:{port} does not answer: is it running? (`{PINLAKE}"
        f" services status`; `{PINLAKE} services up --spark-cluster` starts this home's)"
    )
    check_master("local[2]")


def test_a_master_address_other_than_the_running_homes_names_the_homes(tmp_path: Path) -> None:
    """helper-109's kind: a typo in the variable that names a service, while the home's own
    runs elsewhere, was told to start it (``services up`` then refuses the running one)."""
    from pinlake.services.process import free_ports
    from pinlake.spark import SparkSetupError, check_master

    own, typo = free_ports(2)  # nothing listens on either
    settings = cluster_settings(tmp_path, own)
    pretend_master(settings)
    with pytest.raises(SparkSetupError) as refused:
        check_master(f"spark://127.0.0.1:{typo}", run_dir=settings.run_dir)
    assert str(refused.value) == (
        f"the Spark master spark://127.0.0.1:{typo} does not answer: this home's master runs at "
        f"spark://127.0.0.1:{own}: check PINLAKE_SPARK_MASTER"
    )
    # its own address that does not answer: the usual line
    with pytest.raises(SparkSetupError, match="is it running"):
        check_master(f"spark://127.0.0.1:{own}", run_dir=settings.run_dir)
    # helper-113: with no master of the home running, another address was told that `services
    # up --spark-cluster` starts it; that command starts the home's at its own port
    home = f"spark://127.0.0.1:{own}"
    fresh = cluster_settings(tmp_path / "fresh", own)
    with pytest.raises(SparkSetupError) as elsewhere:
        check_master(f"spark://127.0.0.1:{typo}", run_dir=fresh.run_dir, home_master=home)
    assert str(elsewhere.value).endswith(
        f"starts this home's at {home}, not there: check PINLAKE_SPARK_MASTER)"
    )
    with pytest.raises(SparkSetupError) as own_address:
        check_master(home, run_dir=fresh.run_dir, home_master=home)
    assert str(own_address.value).endswith("--spark-cluster` starts this home's)")


def test_a_local_master_that_does_not_listen_is_not_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check made a TCP connection to a local master's port whatever listened there: one
    to a port nothing listens on could take the port from the master started next
    (pinlake.services.process's rule). Now such an address is refused without one."""
    import socket

    from pinlake.services.process import free_ports
    from pinlake.spark import SparkSetupError, check_master

    connected: list[object] = []

    def create_connection(address: object, *args: object, **kwargs: object) -> None:
        connected.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", create_connection)
    (free,) = free_ports(1)
    with pytest.raises(SparkSetupError):
        check_master(f"spark://127.0.0.1:{free}")
    assert connected == []
