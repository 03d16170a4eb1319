"""Services tied to their configuration (issue 9, item 6): every supervised service records what
it was started with beside its pid file, and ``services up`` refuses at once, in one line, to
reuse a service of the home that runs with something else.

The "running" services here are pid files naming this test process (alive, never signalled:
nothing in these tests stops a service), so no broker, API, query or database is started.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pinlake_testing import cli_exit_code, listening, pretend_ended, table_rows
from pydantic import ValidationError

from pinlake.cli import main
from pinlake.config import (
    ApiSettings,
    KafkaSettings,
    MariadbSettings,
    S3Settings,
    Settings,
    setting_variables,
    settings_problems,
    unknown_variables,
)
from pinlake.console import PINLAKE, rate_text
from pinlake.errors import PinlakeError, UsageError
from pinlake.services import api_process, kafka_broker, manager, mariadb, process, stream_process
from pinlake.services.process import free_ports
from pinlake.services.request import UpRequest


def settings_for(home: Path, base: int, **extra: object) -> Settings:
    """Settings of ``home`` whose ports all derive from ``base`` (never opened here)."""
    return Settings(
        home=home,
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{base}", controller_port=base + 1),
        api=ApiSettings(host="127.0.0.1", port=base + 2, stage="test", api_key=None),
        mariadb=MariadbSettings(port=base + 3),
        **extra,
    )


def pretend_running(settings: Settings, name: str, config: dict | None) -> int:
    """Write ``name``'s pid file (this process) and, unless None, its configuration record."""
    pid = os.getpid()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    if config is not None:
        process.record_config(settings.run_dir, name, pid, config)
    process.pid_file(settings.run_dir, name).write_text(f"{pid}\n")
    return pid


def test_no_stream_names_a_stream_query_that_runs_from_before(tmp_path):
    base = settings_for(tmp_path / "home", 19100)
    assert "stream query" not in manager.up_summary(base, UpRequest(stream=False))
    pretend_running(base, "stream", stream_process.config(base, 1.0))
    assert manager.up_summary(base, UpRequest(stream=False)).endswith(
        ", stream query (running from before; --no-stream does not stop it: services down)"
    )


def test_the_up_summary_says_where_each_started_service_answers(tmp_path):
    """``services up``'s last line names every service it was asked for, in start order, the
    S3 server and the bucket on it included; a service not asked for is not named."""
    from pinlake.config import S3Settings

    base = settings_for(tmp_path / "home", 19100)
    assert manager.up_summary(base) == (
        "services up: Kafka 127.0.0.1:19100, API http://127.0.0.1:19102 "
        "(and http://127.0.0.1:19102/test), stream query"
    )
    s3 = base.model_copy(update={"s3": S3Settings(port=19104), "bucket": "s3://pinlake-topics/x"})
    line = manager.up_summary(s3, UpRequest(stream=False, s3=True))
    assert line.endswith(
        ", API http://127.0.0.1:19102 (and http://127.0.0.1:19102/test), "
        "S3 http://127.0.0.1:19104 (moto, in memory, bucket s3://pinlake-topics)"
    )
    assert "stream query" not in line
    local = s3.model_copy(update={"bucket": str(tmp_path / "bucket")})
    assert manager.up_summary(local, UpRequest(s3=True)).endswith(
        "S3 http://127.0.0.1:19104 (moto, in memory)"
    )
    everything = manager.up_summary(s3, UpRequest(s3=True, thrift=True, spark_cluster=True))
    names = ["Kafka", "API", "stream query", "S3", "metastore", "Thrift server", "Spark cluster"]
    positions = [everything.index(name) for name in names]
    assert positions == sorted(positions)


def test_up_refuses_a_broker_on_other_ports_at_once(tmp_path):
    running = settings_for(tmp_path, 19000)
    pid = pretend_running(running, "kafka", kafka_broker.config(running))
    wanted = settings_for(tmp_path, 29000)
    start = time.monotonic()
    with pytest.raises(PinlakeError) as failure:
        manager.start_all(wanted, quiet=True)
    assert time.monotonic() - start < 5  # not the 90 s health check of the wrong broker
    message = str(failure.value)
    assert len(message.splitlines()) == 1
    assert (
        f"kafka (pid {pid}) runs with bootstrap_servers=127.0.0.1:19000 controller_port=19001, "
        "not bootstrap_servers=127.0.0.1:29000 controller_port=29001"
    ) in message
    assert message.endswith(f"stop them first: `{PINLAKE.at(tmp_path)} services down`")
    # nothing was started or removed
    assert sorted(p.name for p in running.run_dir.iterdir()) == ["kafka.json", "kafka.pid"]


def test_up_from_the_cli_is_one_line_and_a_non_zero_exit(tmp_path, monkeypatch, capsys):
    running = settings_for(tmp_path / "home", 19100)
    pretend_running(running, "kafka", kafka_broker.config(running))
    pretend_running(running, "api", api_process.config(running))
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:29100")
    monkeypatch.setenv("PINLAKE_KAFKA__CONTROLLER_PORT", "19101")
    monkeypatch.setenv("PINLAKE_API__PORT", "29102")
    monkeypatch.setenv("PINLAKE_KAFKA__EXTERNAL", "false")
    monkeypatch.setenv("PINLAKE_API__STAGE", "test")
    monkeypatch.delenv("PINLAKE_API__API_KEY", raising=False)
    monkeypatch.delenv("PINLAKE_API__HOST", raising=False)
    monkeypatch.delenv("PINLAKE_KAFKA__PARTITIONS", raising=False)
    monkeypatch.delenv("PINLAKE_SOURCE_DB", raising=False)
    assert cli_exit_code(monkeypatch, tmp_path / "home", "services", "up", "--no-stream") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "kafka (pid" in err and "bootstrap_servers=127.0.0.1:19100" in err
    assert "not bootstrap_servers=127.0.0.1:29100" in err
    assert "controller_port" not in err  # only what differs
    assert (
        "api (pid" in err
        and "runs with port=19102 bootstrap_servers=127.0.0.1:19100, "
        "not port=29102 bootstrap_servers=127.0.0.1:29100"
        in err
    )
    assert f"`{PINLAKE.at(tmp_path / 'home')} services down`" in err


@pytest.mark.parametrize(
    ("name", "config_of", "change", "expected"),
    [
        ("api", api_process.config, {"api": ApiSettings(port=30002)}, "port=19202, not port=30002"),
        (
            "api",
            api_process.config,
            {"api": ApiSettings(port=19202, stage="prod")},
            "stage=test, not stage=prod",
        ),
        (
            "mariadb",
            mariadb.config,
            {"mariadb": MariadbSettings(port=30003)},
            "port=19203, not port=30003",
        ),
        (
            "stream",
            lambda s: stream_process.config(s, 1.0),
            {"topic_prefix": "other"},
            "topic_prefix=pinterest, not topic_prefix=other",
        ),
    ],
)
def test_every_service_is_compared(tmp_path, name, config_of, change, expected):
    running = settings_for(tmp_path, 19200, source_db="mariadb")
    pid = pretend_running(running, name, config_of(running))
    manager.check_configuration(running, UpRequest(stream=True))  # the same settings: reused
    wanted = running.model_copy(update=change)
    with pytest.raises(PinlakeError, match="already run with another configuration") as failure:
        manager.check_configuration(wanted, UpRequest(stream=True))
    assert f"{name} (pid {pid}) runs with {expected}" in str(failure.value)


def test_the_stream_trigger_is_part_of_the_query(tmp_path):
    settings = settings_for(tmp_path, 19300)
    pretend_running(settings, "stream", stream_process.config(settings, 1.0))
    manager.check_configuration(settings, UpRequest(stream=True, trigger_seconds=1.0))
    with pytest.raises(PinlakeError, match=r"trigger_seconds=1\.0, not trigger_seconds=2\.5"):
        manager.check_configuration(settings, UpRequest(stream=True, trigger_seconds=2.5))
    # the call that asks for the query as it runs is named (an option's difference)
    pretend_running(settings, "stream", stream_process.config(settings, 5.0))
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(settings, UpRequest(stream=True))
    assert f"ask for that: `{PINLAKE} services up --trigger-seconds 5`" in str(failure.value)
    manager.check_configuration(settings, UpRequest(stream=True, trigger_seconds=5.0))
    manager.check_configuration(
        settings, UpRequest(stream=False)
    )  # --no-stream leaves the query alone


def test_a_service_without_a_record_is_unknown_and_others_are_listed(tmp_path):
    settings = settings_for(tmp_path, 19400)
    pid = pretend_running(settings, "kafka", None)  # started by an older pinlake
    pretend_running(settings, "mariadb", mariadb.config(settings))
    # a cluster's other nodes (helper-62: the list named kafka but not kafka-2 and kafka-3)
    pretend_running(settings, kafka_broker.node_name(3), {})
    pretend_running(settings, kafka_broker.node_name(2), {})
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(settings)
    message = str(failure.value)
    assert f"kafka (pid {pid}) runs with an unknown configuration" in message
    assert f"also running: mariadb (pid {pid}), kafka-2 (pid {pid}), kafka-3 (pid {pid})" in message


def test_a_changed_secret_is_named_never_shown_and_its_record_cannot_be_guessed(tmp_path):
    """helper-62: the refusal showed ``password_sha256=e933c5387c42`` and run/mariadb.json held
    it, the first 12 digits of an unsalted SHA-256 of "pinlake". A secret is recorded as an
    HMAC under the home's own key (readable by its owner only) and the refusal says which
    secret differs, not its value."""
    import hashlib

    settings = settings_for(tmp_path, 19450, source_db="mariadb")
    pid = pretend_running(settings, "mariadb", mariadb.config(settings))
    pretend_running(settings, "api", api_process.config(settings))
    recorded = process.config_file(settings.run_dir, "mariadb").read_text()
    assert hashlib.sha256(b"pinlake").hexdigest()[:12] not in recorded
    key = settings.run_dir / ".fingerprint-key"
    assert len(key.read_bytes()) == 32 and key.stat().st_mode & 0o777 == 0o600
    manager.check_configuration(settings)  # the same password: the same fingerprint, reused

    changed = settings.model_copy(
        update={
            "mariadb": MariadbSettings(port=19460, password="another"),
            "api": ApiSettings(host="127.0.0.1", port=19452, stage="test", api_key="a-key"),
        }
    )
    with pytest.raises(PinlakeError) as failure:
        manager.check_configuration(changed)
    message = str(failure.value)
    assert (
        f"mariadb (pid {pid}) runs with port=19453, not port=19460; and with another password "
        "than the one set now" in message
    )
    assert f"api (pid {pid}) runs with another api key than the one set now" in message
    assert "fingerprint" not in message and "sha256" not in message
    assert json.loads(recorded)["config"]["password_fingerprint"] not in message
    # another home's key: another fingerprint of the same password
    elsewhere = settings_for(tmp_path / "other", 19450, source_db="mariadb")
    assert mariadb.config(elsewhere) != mariadb.config(settings)


def test_a_record_of_another_pid_does_not_count(tmp_path):
    settings = settings_for(tmp_path, 19500)
    pretend_running(settings, "api", api_process.config(settings))
    record = json.loads(process.config_file(settings.run_dir, "api").read_text())
    assert record == {"pid": os.getpid(), "config": api_process.config(settings)}
    record["pid"] = os.getpid() + 1
    process.config_file(settings.run_dir, "api").write_text(json.dumps(record))
    with pytest.raises(PinlakeError, match="api .* runs with an unknown configuration"):
        manager.check_configuration(settings)


def test_wanted_configs_follow_the_settings(tmp_path):
    sqlite = settings_for(tmp_path, 19600)
    assert list(manager.wanted_configs(sqlite)) == ["kafka", "api"]
    both = settings_for(tmp_path, 19600, source_db="mariadb")
    assert list(manager.wanted_configs(both, UpRequest(stream=True))) == [
        "mariadb",
        "kafka",
        "api",
        "stream",
    ]
    external = settings_for(tmp_path, 19600).model_copy(
        update={"kafka": KafkaSettings(bootstrap_servers="10.0.0.1:9092", external=True)}
    )
    assert list(manager.wanted_configs(external)) == ["api"]
    keyed = both.model_copy(
        update={
            "api": ApiSettings(port=19602, api_key="secret-key"),
            "mariadb": MariadbSettings(port=19603, password="db-secret"),
        }
    )
    recorded = json.dumps(manager.wanted_configs(keyed))
    assert "secret-key" not in recorded and "db-secret" not in recorded
    assert (
        manager.wanted_configs(keyed)["api"]["api_key_fingerprint"]
        != (manager.wanted_configs(both)["api"]["api_key_fingerprint"])
    )


def test_spawn_records_and_stop_removes_the_configuration(tmp_path):
    run_dir, logs = tmp_path / "run", tmp_path / "logs" / "x.log"
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = process.spawn(run_dir, logs, "probe", argv, config={"port": 1})
    assert process.running(run_dir, "probe") == process.Running("probe", pid, {"port": 1})
    assert process.mismatch(run_dir, "probe", {"port": 1}) is None
    assert process.mismatch(run_dir, "probe", {"port": 2}) == process.Running(
        "probe", pid, {"port": 1}
    )
    assert process.stop(run_dir, "probe", timeout=5)
    assert not process.pid_file(run_dir, "probe").exists()
    assert not process.config_file(run_dir, "probe").exists()
    assert process.mismatch(run_dir, "probe", {"port": 2}) is None  # not running: no conflict


def test_a_stale_pid_file_loses_its_record(tmp_path):
    run_dir = tmp_path / "run"
    pretend_ended(run_dir, "kafka")
    assert process.running(run_dir, "kafka") is None
    assert not process.config_file(run_dir, "kafka").exists()


def test_a_service_started_by_up_that_is_not_ready_is_stopped_again() -> None:
    """A failed readiness wait stops what this `up` started (and only that), then re-raises."""
    from pinlake.errors import PinlakeError
    from pinlake.services.manager import _stopped_unless_ready

    stopped: list[str] = []
    for started in (True, False):
        with pytest.raises(PinlakeError, match="not ready"):
            with _stopped_unless_ready(started, lambda s=started: stopped.append(f"{s}")):
                raise PinlakeError("not ready")
    with _stopped_unless_ready(True, lambda: stopped.append("ready")):
        pass
    assert stopped == ["True"]


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("thrift_ui", "PINLAKE_THRIFT_UI_PORT"),
        ("thrift", "PINLAKE_THRIFT_PORT"),
        ("api", "PINLAKE_API__PORT"),
        ("controller", "PINLAKE_KAFKA__CONTROLLER_PORT"),
        ("s3", "PINLAKE_S3__PORT"),
    ],
)
def test_a_taken_port_of_any_service_is_refused_before_anything_starts(
    tmp_path: Path, service: str, variable: str
) -> None:
    """From a new user's trial: a taken Thrift or API port was found only after the metastore,
    Kafka and the API had started, and left them running. Now ``up`` checks every port of every
    service it would start first, and names the setting that moves the taken one."""
    from pinlake.config import S3Settings

    with listening() as taken:
        names = ("thrift_ui", "thrift", "api", "controller", "s3", "ms")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        ports[service] = taken
        settings = Settings(
            home=tmp_path,
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{free_ports(1)[0]}",
                controller_port=ports["controller"],
            ),
            api=ApiSettings(host="127.0.0.1", port=ports["api"], api_key=None),
            s3=S3Settings(port=ports["s3"]),
            metastore_port=ports["ms"],
            thrift_port=ports["thrift"],
            thrift_ui_port=ports["thrift_ui"],
        )
        with pytest.raises(PinlakeError) as failure:
            manager.start_all(settings, UpRequest(stream=False, s3=True, thrift=True), quiet=True)
        owner = process.port_owner(taken)
    assert owner is not None and owner.startswith(f"pid {os.getpid()} (")  # this test's socket
    assert str(failure.value) == (
        f"port 127.0.0.1:{taken} is already in use by {owner} (choose another with {variable})"
    )
    started = list(settings.run_dir.glob("*.pid")) if settings.run_dir.exists() else []
    assert started == []  # nothing was started, so nothing is left running


def test_a_taken_port_names_the_process_that_listens_there(tmp_path: Path) -> None:
    """helper-80: ``make demo`` in a second home said only ``port 127.0.0.1:9092 is already in
    use``, though the first home's Kafka held it. The refusal names the listener: its pid and
    its command, shortened to the program and last two arguments (a JVM's class path is
    kilobytes; a Kafka node's last arguments name its home's properties file)."""
    port = free_ports(1)[0]
    marker = str(tmp_path / "other home" / "server.properties")
    script = (
        "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])));"
        " s.listen(); print('ok', flush=True); time.sleep(60)"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script, str(port), marker], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ok\n"
        with pytest.raises(PinlakeError) as failure:
            process.refuse_busy_port(port, "PINLAKE_API__PORT")
    finally:
        server.kill()
        server.wait()
    program = os.path.basename(sys.executable)
    assert str(failure.value) == (
        f"port 127.0.0.1:{port} is already in use by pid {server.pid} ({program} … {port} "
        f"{marker}) (choose another with PINLAKE_API__PORT)"
    )
    assert process.port_owner(port) is None  # nothing listens any more


def test_a_taken_port_of_a_later_kafka_node_names_the_node_and_its_step(tmp_path: Path) -> None:
    """From a new user's trial: with ``--kafka-brokers 3`` and node 3's controller port taken,
    the message named PINLAKE_KAFKA__CONTROLLER_PORT alone, which sets node 1's port; setting
    it to the taken port + 1 would collide again."""
    listener, controller = free_ports(2)
    with listening(controller + 4):  # node 3's controller port
        settings = Settings(
            home=tmp_path,
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{listener}", controller_port=controller, brokers=3
            ),
        )
        with pytest.raises(PinlakeError) as failure:
            manager.check_ports(settings)
        owner = process.port_owner(controller + 4)
    assert owner is not None and owner.startswith(f"pid {os.getpid()} (")  # this test's socket
    assert str(failure.value) == (
        f"port 127.0.0.1:{controller + 4} is already in use by {owner} (choose another with "
        "PINLAKE_KAFKA__CONTROLLER_PORT: Kafka node 3's controller port is that port + 4)"
    )


def test_status_describes_the_running_services_whatever_the_shell_exports(tmp_path):
    """From a new user's trial: in a new shell that exported only PINLAKE_HOME, ``status``
    probed the default ports and reported the API, S3 and the Thrift server down while they
    ran on others. It now takes their addresses from what they were started with."""
    from pinlake.services import metastore, s3_server, thrift_server

    started = settings_for(tmp_path, 19_100)  # the shell that ran `services up`
    pretend_running(started, api_process.NAME, api_process.config(started))
    pretend_running(started, s3_server.NAME, {"port": 15_000})
    pretend_running(started, metastore.NAME, {"port": 11_527, "database": "db"})
    pretend_running(started, thrift_server.NAME, {"port": 11_000, "ui_port": 14_040})

    seen = manager.as_running(Settings(home=tmp_path))  # a new shell: the defaults
    assert (seen.api.host, seen.api.port) == ("127.0.0.1", 19_102)
    assert seen.s3.port == 15_000
    assert seen.metastore_port == 11_527
    assert (seen.thrift_port, seen.thrift_ui_port) == (11_000, 14_040)
    nothing_runs = Settings(home=tmp_path / "other")
    assert manager.as_running(nothing_runs) == nothing_runs


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "PINLAKE_SPARK_CODEGEN",
            "maybe",
            "PINLAKE_SPARK_CODEGEN='maybe': Input should be a valid boolean",
        ),
        ("PINLAKE_API__PORT", "abc", "PINLAKE_API__PORT='abc': Input should be a valid integer"),
        # read in any case (pydantic-settings): named as set, not as PINLAKE_API__PORT (helper-105)
        ("PINLAKE_API__port", "abc", "PINLAKE_API__port='abc': Input should be a valid integer"),
        (
            "pinlake_kafka__bootstrap_servers",
            ",".join(f"127.0.0.1:{9092 + 2 * n}" for n in range(10)),
            "pinlake_kafka__bootstrap_servers='127.0.0.1:9092,",
        ),
        (
            "PINLAKE_MARIADB__PORT",
            "x",
            "PINLAKE_MARIADB__PORT='x': Input should be a valid integer",
        ),
        (  # Kafka refuses the topic names it would make
            "PINLAKE_TOPIC_PREFIX",
            "my prefix",
            "PINLAKE_TOPIC_PREFIX='my prefix': a topic prefix is 1 to 234 ASCII "
            "letters, digits, '.', '_' and '-'",
        ),
        (
            "PINLAKE_TOPIC_PREFIX",
            "p" * 235,
            f"PINLAKE_TOPIC_PREFIX='{'p' * 235}': a topic prefix is 1 to 234",
        ),
        (  # helper-113: named nowhere (the nested model's own check, read on its own)
            "PINLAKE_KAFKA__BOOTSTRAP_SERVERS",
            "",
            "PINLAKE_KAFKA__BOOTSTRAP_SERVERS='': bootstrap_servers is empty: want host:port",
        ),
        (  # a nested model's own check names the variables set under it, not a dict
            "PINLAKE_KAFKA__BOOTSTRAP_SERVERS",
            ",".join(f"127.0.0.1:{9092 + 2 * n}" for n in range(10)),
            "PINLAKE_KAFKA__BOOTSTRAP_SERVERS='127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096,"
            "127.0.0.1:9098,127.0.0.1:9100,127.0.0.1:9102,127.0.0.1:9104,127.0.0.1:9106,"
            "127.0.0.1:9108,127.0.0.1:9110': bootstrap_servers names 10 servers, and pinlake "
            "runs at most 9 local nodes (another cluster: external=true)",
        ),
        (  # what a new user tried: moto accepts it, Hadoop's S3A cannot read it (land crashed)
            "PINLAKE_BUCKET",
            "s3://Bad_Bucket",
            "PINLAKE_BUCKET='s3://Bad_Bucket': 'Bad_Bucket' is not a valid S3 bucket name",
        ),
    ],
)
def test_a_rejected_variable_is_named_as_the_user_set_it(
    tmp_path, monkeypatch, capsys, variable, value, expected
):
    """A ``PINLAKE_*`` value that Settings rejects is one line on stderr naming the variable and
    the value given, and exit 2, before any command runs."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "source", "init", "--rows", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: invalid settings: {expected}"), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "home").exists()


#: Every setting that is a TCP port (a variable named ``…PORT``), from the settings themselves.
PORT_VARIABLES = sorted(v for v in setting_variables() if v.endswith("PORT"))


@pytest.mark.parametrize("value", ["0", "-5", "65536", "99999"])
@pytest.mark.parametrize("variable", PORT_VARIABLES)
def test_a_port_outside_1_to_65535_is_a_settings_error(monkeypatch, variable, value):
    """What a new user tried: ``PINLAKE_API__PORT=99999`` was accepted and ``services up`` then
    died in ``bind`` with an OverflowError traceback. Every port setting is 1-65535."""
    assert len(PORT_VARIABLES) >= 10  # the API, Kafka, S3, MariaDB, metastore, Thrift, cluster
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as failure:
        Settings()
    bound = "greater than or equal to 1" if int(value) < 1 else "less than or equal to 65535"
    assert settings_problems(failure.value) == f"{variable}={value!r}: Input should be {bound}"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"PINLAKE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:70000"},
            "bad server '127.0.0.1:70000': want host:port with a port in 1-65535",
        ),
        (
            {"PINLAKE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:0"},
            "bad server '127.0.0.1:0': want host:port with a port in 1-65535",
        ),
        (  # an external cluster's entries are checked too
            {"PINLAKE_KAFKA__EXTERNAL": "true", "PINLAKE_KAFKA__BOOTSTRAP_SERVERS": "b1:9092,b2"},
            "bad server 'b2': want host:port with a port in 1-65535",
        ),
        (
            {"PINLAKE_KAFKA__BOOTSTRAP_SERVERS": " , "},
            "bootstrap_servers is empty: want host:port[,host:port…]",
        ),
        (  # derived ports: node 3 listens on the one given + 4, its controller on 65535 + 4
            {"PINLAKE_KAFKA__BROKERS": "3", "PINLAKE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:65534"},
            "bootstrap_servers port 65534: node 3 would need port 65538 > 65535",
        ),
        (
            {"PINLAKE_KAFKA__BROKERS": "2", "PINLAKE_KAFKA__CONTROLLER_PORT": "65535"},
            "controller_port 65535: node 2 would need port 65537 > 65535",
        ),
        (
            {"PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT": "65535"},
            "worker_ui_port 65535: worker 2 would need port 65536 > 65535",
        ),
        ({"PINLAKE_KAFKA__PARTITIONS": "0"}, "Input should be greater than or equal to 1"),
        ({"PINLAKE_API__MAX_RECORD_BYTES": "0"}, "Input should be greater than 0"),
        ({"PINLAKE_API__DELIVERY_TIMEOUT_MS": "-1"}, "Input should be greater than 0"),
        ({"PINLAKE_API__DEFAULT_SHARD_COUNT": "0"}, "Input should be greater than or equal to 1"),
    ],
)
def test_servers_and_derived_ports_are_checked_where_settings_are_read(
    monkeypatch, variables, expected
):
    """A bootstrap entry's port, and every port derived for a later local node (Kafka node n:
    the given port + 2(n - 1); worker n's web UI: the given port + n - 1), is 1-65535; counts
    and sizes are positive. Each is one line naming the variables, as the CLI prints it."""
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as failure:
        Settings()
    assert settings_problems(failure.value).endswith(expected)
    assert "PINLAKE_" in settings_problems(failure.value)


def test_the_edge_ports_are_accepted(monkeypatch):
    """1 and 65535 are ports; a single entry expanded for several nodes may end on 65535."""
    monkeypatch.setenv("PINLAKE_API__PORT", "65535")
    monkeypatch.setenv("PINLAKE_S3__PORT", "1")
    monkeypatch.setenv("PINLAKE_KAFKA__BROKERS", "2")
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:65530")
    monkeypatch.setenv("PINLAKE_KAFKA__CONTROLLER_PORT", "65533")
    settings = Settings()
    assert settings.api.port == 65535 and settings.s3.port == 1
    assert settings.kafka.servers == ["127.0.0.1:65530", "127.0.0.1:65532"]
    assert settings.kafka.controller_ports == [65533, 65535]


def test_a_variable_nothing_reads_is_a_warning_with_the_closest_name(tmp_path, monkeypatch, capsys):
    """A misspelt ``PINLAKE_*`` variable used to be ignored without a word (pydantic-settings
    ignores names it does not know): the API came up on 8082 with ``PINLAKE_API_PORT=8090``.
    The home's services are on free ports, so that nothing another home runs on the default
    ones answers its status."""
    kafka_port, controller_port, api_port = free_ports(3)
    monkeypatch.setenv("PINLAKE_API_PORT", "8090")  # the field is PINLAKE_API__PORT
    monkeypatch.setenv("PINLAKE_API__PORT", str(api_port))
    monkeypatch.setenv("PINLAKE_SPARK_MASTR", "local[1]")
    monkeypatch.setenv("PINLAKE_ZZZ", "1")
    # a group's form: its own fields, not PINLAKE_API__PORT (another service's port)
    monkeypatch.setenv("PINLAKE_KAFKA__PORT", "9099")
    monkeypatch.setenv("PINLAKE_S3__PROT", "9000")
    monkeypatch.setenv("pinlake_kafka__partiton", "2")  # in any case, as the settings read
    # a settings variable in another case is read: not unknown, but named when set twice
    # (helper-105: it was called unknown, and its value was the one read)
    monkeypatch.setenv("PINLAKE_MARIADB__port", str(free_ports(1)[0]))
    read_port = free_ports(1)[0]
    monkeypatch.setenv("PINLAKE_API__port", str(read_port))
    monkeypatch.setenv("PINLAKE_DBT_SCHEMA", "mine")  # profiles.yml reads it: no warning
    kafka = {  # a whole group as JSON: no warning
        "partitions": 2,
        "bootstrap_servers": f"127.0.0.1:{kafka_port}",
        "controller_port": controller_port,
    }
    monkeypatch.setenv("PINLAKE_KAFKA", json.dumps(kafka))
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "services", "status"])
    assert exit_info.value.code == 3  # the command ran: nothing is up (as `systemctl status`)
    out, err = capsys.readouterr()
    assert f"http://127.0.0.1:{read_port}" in out and f":{api_port}" not in out
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [
        "warning: PINLAKE_API_PORT is not a pinlake variable (PINLAKE_API__PORT?)",
        "warning: PINLAKE_KAFKA__PORT is not a pinlake variable (PINLAKE_KAFKA__ takes"
        " BOOTSTRAP_SERVERS, BROKERS, CONTROLLER_PORT, EXTERNAL, PARTITIONS)",
        "warning: PINLAKE_S3__PROT is not a pinlake variable (PINLAKE_S3__PORT?)",
        "warning: PINLAKE_SPARK_MASTR is not a pinlake variable (PINLAKE_SPARK_MASTER?)",
        "warning: PINLAKE_ZZZ is not a pinlake variable",
        "warning: pinlake_kafka__partiton is not a pinlake variable (PINLAKE_KAFKA__PARTITIONS?)",
        "warning: PINLAKE_API__PORT and PINLAKE_API__port are one setting (names are read in any"
        " case): pinlake reads PINLAKE_API__port, the last of them in the environment",
    ]


def test_every_pinlake_variable_the_project_names_is_known() -> None:
    """The names the code, DAGs, dbt profiles, Makefile and docs mention are Settings fields or
    :data:`~pinlake.config.OTHER_VARIABLES`, so no variable pinlake itself sets or documents is
    warned about; the one other name is unknown_variables' example of a misspelling."""
    files = subprocess.run(
        ["git", "ls-files", "--", ":!tests", ":!*.csv"], capture_output=True, text=True, check=True
    ).stdout.split()
    named = set()
    for file in files:
        text = Path(file).read_text(errors="replace")
        # whole names only: not a group's prefix (PINLAKE_KAFKA__) or a pattern (PINLAKE_KAFKA__*)
        named |= set(re.findall(r"PINLAKE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*…])", text))
    assert "PINLAKE_API__PORT" in named and "PINLAKE_AIRFLOW_RETRIES" in named
    assert [line.split()[0] for line in unknown_variables(dict.fromkeys(named, ""))] == [
        "PINLAKE_API_PORT"
    ]


def test_the_closest_name_is_close_after_the_common_prefix() -> None:
    """The hint compares what follows ``PINLAKE_``: the prefix alone (``PINLAKE_=1``) was
    "close" to PINLAKE_S3 by its eight shared letters, and a short name to any short one."""
    environ = dict.fromkeys(["PINLAKE_", "PINLAKE_S", "PINLAKE_HOM", "PINLAKE_JAR_DIR"], "1")
    assert unknown_variables(environ) == [
        "PINLAKE_ is not a pinlake variable",
        "PINLAKE_HOM is not a pinlake variable (PINLAKE_HOME?)",
        "PINLAKE_JAR_DIR is not a pinlake variable (PINLAKE_JARS_DIR?)",
        "PINLAKE_S is not a pinlake variable",
    ]


@pytest.mark.parametrize("command", [["sink", "--once"], ["land"], ["produce", "--to", "bucket"]])
@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("s3://Bad_Bucket", "'Bad_Bucket' is not a valid S3 bucket name"),
        ("s3://", "an S3 location needs a bucket name"),
        # helper-113: taken as the folder ./ftp:/x/y
        ("ftp://x/y", "pinlake does not read ftp:// locations: give a folder or s3://"),
        ("gs://b/lake", "pinlake does not read gs:// locations"),
        # an empty value wrote to home/bucket as if none was given (helper-47's trial)
        ("", "an empty location: give a folder or s3://<bucket>/<prefix>"),
        (" ", "an empty location"),
    ],
)
def test_a_rejected_bucket_option_is_one_usage_line(tmp_path, capsys, command, bucket, expected):
    """``--bucket`` is checked as ``PINLAKE_BUCKET`` is, before the command runs: one line on
    stderr and exit 2, not a traceback from the step that first uses it."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), *command, "--bucket", bucket])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: Invalid value for '--bucket': {bucket!r}: {expected}"), err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(None, "0"), (0.0, "0"), (0.004, "<0.01"), (0.35, "0.35"), (2.5, "2.5"), (9.4, "9.4")]
    + [(10.4, "10"), (1234.5, "1,234")],
)
def test_stream_rates_below_one_record_a_second_are_not_shown_as_0(rate, shown):
    """A trial's hand-fed query showed ``processed/s 0`` for 0.35 records/s."""
    assert rate_text(rate) == shown


@pytest.mark.parametrize(
    "module",
    [
        "pinlake.spark_cds_build",  # `make setup` (and so `make airflow`, `make demo`)
        "pinlake.ingest_api.server",
        "pinlake.lakehouse.stream",
        "pinlake.lakehouse.tables",
    ],
)
def test_every_python_m_entry_point_refuses_a_setting_in_one_line(tmp_path, module) -> None:
    """The entry points other than the ``pinlake`` command read the settings too: with
    ``PINLAKE_API__PORT=abc`` ``make setup``'s archive step ended in pydantic's 19-line traceback
    (helper-112, through ``make airflow``). Now each prints the ``pinlake`` command's line and
    exits 2, before any JVM or server starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINLAKE_")}
    done = subprocess.run(
        [sys.executable, "-m", module],
        env={**env, "PINLAKE_HOME": str(tmp_path / "home"), "PINLAKE_API__PORT": "abc"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        "error: invalid settings: PINLAKE_API__PORT='abc': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    )
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "name",
    [
        "PINLAKE_API__PORT",
        "PINLAKE_KAFKA__BROKERS",
        "PINLAKE_MARIADB__PORT",
        "PINLAKE_S3__PORT",
        "PINLAKE_SPARK_CLUSTER__WORKERS",
    ],
)
def test_an_empty_nested_number_names_its_variable(monkeypatch, tmp_path, capsys, name) -> None:
    """``PINLAKE_API__PORT=`` was an error naming the field ``port``, not the variable
    (helper-56): a nested settings model read on its own names its variables too. (Empty stays
    a value there: ``PINLAKE_API__STAGE=`` is the API without a stage.)"""
    monkeypatch.setenv(name, "")
    assert cli_exit_code(monkeypatch, tmp_path / "home", "services", "status") == 2
    assert capsys.readouterr().err.startswith(f"error: invalid settings: {name}='': Input ")


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("PINLAKE_SPARK_MASTER", "banana", False),  # failed in the JVM, blamed on Java
        ("PINLAKE_SPARK_MASTER", "spark://127.0.0.1", False),
        ("PINLAKE_SPARK_MASTER", "local[0]", False),
        ("PINLAKE_SPARK_MASTER", "local", True),
        ("PINLAKE_SPARK_MASTER", "local[*]", True),
        ("PINLAKE_SPARK_MASTER", "local[2,3]", True),
        ("PINLAKE_SPARK_MASTER", "spark://a:7077,b:7077", True),
        ("PINLAKE_SPARK_MASTER", "k8s://https://127.0.0.1:6443", True),
        ("PINLAKE_SPARK_DRIVER_MEMORY", "lots", False),  # the same
        ("PINLAKE_SPARK_DRIVER_MEMORY", "4096", False),  # bytes: no JVM starts on 4 KiB
        ("PINLAKE_SPARK_DRIVER_MEMORY", "400m", False),  # Spark refuses a driver below 450 MiB
        ("PINLAKE_SPARK_DRIVER_MEMORY", "450m", True),
        ("PINLAKE_SPARK_DRIVER_MEMORY", "2G", True),
    ],
)
def test_spark_settings_spark_would_refuse_are_refused_naming_the_variable(
    monkeypatch, tmp_path, capsys, name, value, ok
) -> None:
    """``PINLAKE_SPARK_MASTER=banana`` and ``PINLAKE_SPARK_DRIVER_MEMORY=lots`` were taken, then
    the driver JVM printed its stack trace and pinlake asked whether Java was installed
    (helper-56); they are settings errors now, before any JVM starts."""
    monkeypatch.setenv(name, value)
    code = cli_exit_code(monkeypatch, tmp_path / "home", "services", "status")
    err = capsys.readouterr().err
    if ok:
        assert "invalid settings" not in err
    else:
        assert code == 2
        assert err.startswith(f"error: invalid settings: {name}={value!r}: not "), err


def test_a_driver_that_did_not_start_is_blamed_on_java_only_without_one(monkeypatch, tmp_path):
    from pinlake.spark import _gateway_exited

    plain = Settings(home=tmp_path / "home", jvm_options="")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert _gateway_exited(plain) == (
        "Spark could not start: Java 17+ is needed (no java on PATH or in JAVA_HOME)"
    )
    monkeypatch.delenv("JAVA_HOME")
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(java.parent))
    assert _gateway_exited(plain) == "Spark's driver JVM could not start: its error is above"
    # helper-113: the JVM's refusal named an option, nothing named the variable that gave it
    mine = plain.model_copy(update={"jvm_options": "-Xbogus"})
    assert _gateway_exited(mine) == (
        "Spark's driver JVM could not start: its error is above (PINLAKE_JVM_OPTIONS='-Xbogus' "
        "are among its options: check them if it names one)"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert _gateway_exited(plain).endswith("(no java on PATH or in JAVA_HOME)")


def test_a_service_that_ended_without_services_down_is_down_until_started_or_stopped(tmp_path):
    """helper-62: after ``kill -9`` of the S3 server, ``services status`` dropped its row and
    exited 0 (reading its stale pid file removed every trace). A service whose process ended
    without being stopped keeps its record as ended: its row says so, and is not healthy,
    until ``services up`` starts it again or ``services down`` stops it."""
    from pinlake.services import s3_server
    from pinlake.services import spark_cluster as standalone

    settings = settings_for(tmp_path, 19700)
    settings = settings.model_copy(update={"s3": settings.s3.model_copy(update={"port": 19705})})
    dead = 2**22 + 1  # above Linux's pid_max: no such process
    records = {
        s3_server.NAME: s3_server.config(settings),
        "metastore": {"port": 19706},
        "thrift": {"port": 19707},
        standalone.MASTER: {"workers": 2},
        standalone.worker_name(2): {"ui_port": 19708},  # killed too (helper-80: read "down")
    }
    for name, config in records.items():
        process.record_config(settings.run_dir, name, dead, config)
        process.pid_file(settings.run_dir, name).write_text(f"{dead}\n")

    assert manager._s3_rows(settings) == (
        [("s3 (moto, in memory)", "http://127.0.0.1:19705", "-", process.ENDED)],
        False,
    )
    assert not process.pid_file(settings.run_dir, s3_server.NAME).exists()
    rows, ok = manager._engine_rows(settings)
    assert [(row[0], row[2], row[3]) for row in rows] == [
        ("metastore (Derby)", "-", process.ENDED),
        ("thrift (Spark)", "-", process.ENDED),
    ]
    assert not ok
    rows, ok = standalone.status_rows(settings)
    assert [(row[0], row[3]) for row in rows] == [
        ("spark master", process.ENDED),
        ("spark worker 1", "down"),
        ("spark worker 2", process.ENDED),
    ]
    assert not ok

    # stopped (services down stops each): no longer shown
    assert not process.stop(settings.run_dir, s3_server.NAME)
    assert manager._s3_rows(settings) == ([], True)
    # started again: running, not ended
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = process.spawn(settings.run_dir, tmp_path / "thrift.log", "thrift", argv, config={})
    try:
        assert process.ended(settings.run_dir, "thrift") is None
        assert not (settings.run_dir / "thrift.ended.json").exists()
    finally:
        assert process.stop(settings.run_dir, "thrift", timeout=5)
    assert pid and process.running(settings.run_dir, "thrift") is None


@pytest.mark.parametrize("brokers", [1, 3])
def test_a_killed_kafka_api_or_mariadb_is_shown_as_ended_not_just_down(tmp_path, capsys, brokers):
    """helper-80: after ``kill -9`` of Kafka and then of the API, ``services status`` read
    plain ``down`` for both, though README says a service that ended without ``services down``
    reads ``down (ended without services down)`` (only the S3, metastore, Thrift and cluster
    rows said it). Every row of a pinlake-started service says it now; the exit code stays 3."""
    base = 19900 + 10 * brokers
    settings = settings_for(tmp_path, base, source_db="mariadb")
    if brokers > 1:
        servers = ",".join(f"127.0.0.1:{base + 40 + n}" for n in range(brokers))
        kafka = settings.kafka.model_copy(update={"brokers": brokers, "bootstrap_servers": servers})
        settings = settings.model_copy(update={"kafka": kafka})
    dead = 2**22 + 1  # above Linux's pid_max: no such process
    names = ["api", "mariadb", *(node.name for node in kafka_broker.nodes(settings))]
    for name in names:
        process.record_config(settings.run_dir, name, dead, {})
        process.pid_file(settings.run_dir, name).write_text(f"{dead}\n")
    if brokers > 1:  # a second node that was stopped by services down: plain down
        process.stop(settings.run_dir, "kafka-2")

    assert manager.services_status(settings) == 3
    rows: list[list[list[str]]] = []  # each row's cells' lines: a narrow table wraps them
    for line in capsys.readouterr().out.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4:
            if cells[2]:  # the pid (never wrapped) starts a row
                rows.append([[] for _ in cells])
            for lines, cell in zip(rows[-1], cells, strict=True):
                lines.append(cell)
    shown = {" ".join(filter(None, row[0])): " ".join(filter(None, row[3])) for row in rows}
    kafka_rows = ["kafka"] if brokers == 1 else [f"kafka node {n}" for n in range(1, 4)]
    for row in ["api", "mariadb (source)", *kafka_rows]:
        ended = row != "kafka node 2"
        assert ("ended without services down" in shown[row]) == ended, shown[row]
        assert "down" in shown[row]


def test_up_names_the_services_that_run_from_before(tmp_path):
    """helper-62: ``services up --s3`` on a running stack ended "✓ services up: Kafka …, API …,
    S3 …", naming neither the metastore, the Thrift server nor the cluster, which ran on."""
    from pinlake.services import s3_server
    from pinlake.services import spark_cluster as standalone

    settings = settings_for(tmp_path, 19800)
    assert "also running" not in manager.up_summary(settings, UpRequest(stream=False, s3=True))
    for name, config in (
        (s3_server.NAME, s3_server.config(settings)),
        ("metastore", {}),
        ("thrift", {}),
        (standalone.MASTER, {"port": 19807}),
        ("mariadb", mariadb.config(settings)),
    ):
        pretend_running(settings, name, config)
    line = manager.up_summary(settings, UpRequest(stream=False, s3=True))
    also = line.split(", also running from before: ")[1].split(", ")
    assert [part.split(" ")[0] for part in also] == ["MariaDB", "metastore", "Thrift", "Spark"]
    assert also[-1] == "Spark cluster spark://127.0.0.1:19807"
    assert line.count("S3 ") == 1  # asked for: named once, not as running from before
    everything = manager.up_summary(
        settings, UpRequest(stream=False, s3=True, metastore=True, thrift=True, spark_cluster=True)
    )
    assert everything.endswith(", also running from before: MariaDB 127.0.0.1:19803")


def _up_options(command: str) -> dict[str, object]:
    """The options ``pinlake services up`` parses from ``command`` (a line to copy), by the
    CLI's own parser: each word must be one of its options."""
    import shlex

    import typer

    from pinlake.cli import app

    words = shlex.split(command)
    assert words[words.index("services") + 1] == "up", command
    group = typer.main.get_command(app)
    services = group.get_command(group.make_context("pinlake", ["services"]), "services")
    up = services.get_command(services.make_context("services", ["up"]), "up")
    return up.make_context("up", words[words.index("services") + 2 :]).params


def test_a_line_that_says_run_services_up_again_keeps_the_calls_options(tmp_path):
    """helper-74: ``services up --no-stream``'s warning about an S3 endpoint nothing serves
    named ``services up --s3``, which would start the stream query too (and, after
    ``--kafka-brokers 3``, be refused: the broker runs with another configuration)."""
    from pinlake.services.kafka_broker import with_brokers
    from pinlake.services.spark_cluster import with_workers

    settings = settings_for(tmp_path, 19950)
    assert manager.up_command(settings) == f"{PINLAKE} services up"
    plain = manager.up_command(settings, UpRequest(stream=False, s3=True))
    assert plain == f"{PINLAKE} services up --no-stream --s3"
    assert _up_options(plain) | {"stream": False, "s3": True} == _up_options(plain)
    trigger = manager.up_command(
        settings, UpRequest(trigger_seconds=0.5, metastore=True, spark_cluster=True)
    )
    assert trigger == f"{PINLAKE} services up --trigger-seconds 0.5 --metastore --spark-cluster"
    everything = with_workers(
        with_brokers(settings.model_copy(update={"source_db": "mariadb"}), 3), 3
    )
    line = manager.up_command(
        everything,
        UpRequest(stream=False, s3=True, metastore=True, thrift=True, spark_cluster=True),
    )
    assert line == (
        f"{PINLAKE} services up --no-stream --source-db mariadb --kafka-brokers 3 --s3 --thrift "
        "--workers 3"
    )
    options = _up_options(line)
    assert {k: options[k] for k in ("stream", "kafka_brokers", "s3", "thrift", "workers")} == {
        "stream": False,
        "kafka_brokers": 3,
        "s3": True,
        "thrift": True,
        "workers": 3,
    }
    assert options["source_db"].value == "mariadb"
    assert _up_options(trigger)["trigger_seconds"] == 0.5
    # the line `services up --s3` prints without a bucket names the call to run again
    assert manager.s3_hint(settings, plain).endswith(
        f"no bucket was created: run `{plain}` again with PINLAKE_BUCKET set, which creates it"
    )


def test_up_with_s3_says_whether_it_created_the_bucket(tmp_path, monkeypatch):
    """helper-62: ``services up --s3`` without ``PINLAKE_BUCKET`` made no bucket and did not say
    so; the first ``sink`` failed on it."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_for(tmp_path, 19900)
    assert manager.s3_hint(settings).endswith(
        "PINLAKE_BUCKET=s3://<bucket> for the other commands; no bucket was created: run "
        f"`{PINLAKE} services up --s3` again with PINLAKE_BUCKET set, which creates it"
    )
    on_s3 = settings.model_copy(update={"bucket": "s3://pinlake-topics/x"})
    hint = manager.s3_hint(on_s3)
    assert hint.startswith(
        "S3 server (moto, in memory): `export AWS_ENDPOINT_URL=http://127.0.0.1:"
    )
    assert hint.endswith(" PINLAKE_BUCKET=s3://pinlake-topics/x` for the other commands")


def test_two_services_up_of_one_home_take_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-78: two ``services up --thrift`` at once both started the shared metastore's
    schema work, one "adopting" what the other had just created. A second call now says it
    waits for the first, and starts nothing until the first is done."""
    import threading

    from filelock import FileLock

    settings = settings_for(tmp_path, 19960)
    calls: list[str] = []
    monkeypatch.setattr(manager, "start_all", lambda *_a, **_k: calls.append("start_all"))
    monkeypatch.setattr(manager, "up_summary", lambda *_a, **_k: "services up: …")
    first = FileLock(str(settings.run_dir / "services.lock"))
    settings.run_dir.mkdir(parents=True)
    first.acquire()  # a services up of this home runs
    second = threading.Thread(target=manager.services_up, args=(settings,))
    second.start()
    deadline = time.monotonic() + 10
    while "waiting for another" not in capsys.readouterr().out:
        assert time.monotonic() < deadline, "no line says the second call waits"
        time.sleep(0.05)
    assert calls == []  # nothing started while the first holds the home
    first.release()
    second.join(timeout=10)
    assert not second.is_alive() and calls == ["start_all"]


def test_services_up_without_ingestion_asks_for_no_broker_api_or_stream(tmp_path):
    """A Left item of issue 7: ``services up`` could not start the engine alone (the metastore,
    the Thrift server, the cluster) for dbt's ``thrift`` target on landed data: the broker and
    the API always started. Without ingestion, neither is wanted, named in the summary, nor
    written in the line to run again (a cluster's broker count neither), and the options parse
    back to the same request."""
    from pinlake.services.kafka_broker import with_brokers

    settings = with_brokers(settings_for(tmp_path, 19970), 3)
    engine = UpRequest(ingestion=False, stream=False, thrift=True, spark_cluster=True)
    wanted = list(manager.wanted_configs(settings, engine))
    assert wanted[0] == "metastore" and wanted[-1] == "thrift", wanted
    assert not {"kafka", "kafka-2", "kafka-3", "api", "stream"} & set(wanted), wanted
    assert {"kafka", "api"} <= set(manager.wanted_configs(settings, UpRequest(thrift=True)))
    summary = manager.up_summary(settings, engine)
    assert summary.startswith("services up: metastore "), summary
    assert "Kafka" not in summary and "API" not in summary, summary
    line = manager.up_command(settings, engine)
    assert line == f"{PINLAKE} services up --no-ingestion --thrift --spark-cluster"
    options = _up_options(line)
    assert (options["ingestion"], options["stream"], options["thrift"]) == (False, None, True)
    # a broker, an API and a stream query that run from before are named as such (helper-97:
    # the query was named first, "running from before; --no-stream does not stop it", an option
    # the user had not given)
    pretend_running(settings, "kafka-2", {})
    pretend_running(settings, "api", {})
    pretend_running(settings, "stream", {})
    summary = manager.up_summary(settings, engine)
    head, also = summary.split(", also running from before: ")
    kafka = f"Kafka {settings.kafka.bootstrap_servers}"  # the cluster's three nodes
    assert also.split(", ") == [kafka, f"API {settings.api.url}", "stream query"], also
    assert "stream" not in head and "--no-stream" not in summary, summary


def test_the_help_of_services_up_says_when_the_stream_query_starts(tmp_path, monkeypatch, capsys):
    """helper-97: ``--stream``'s help ended "(pinlake stream) ." — its ``[default: …]`` was read
    as rich markup and dropped."""
    monkeypatch.setenv("COLUMNS", "300")
    assert cli_exit_code(monkeypatch, tmp_path / "home", "services", "up", "--help") == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "the continuous stream query (pinlake stream); on by default, off with " in text, text
    assert "--no-ingestion." in text and "(pinlake stream) ." not in text, text


@pytest.mark.parametrize(
    ("request_", "source_db", "problem"),
    [
        (UpRequest(ingestion=False), "sqlite", "the stream query (--stream) reads the stream"),
        (UpRequest(ingestion=False, s3=True), "sqlite", "drop --stream or --no-ingestion"),
        (UpRequest(ingestion=False, stream=False), "sqlite", "leaves nothing to start"),
        (UpRequest(ingestion=False, stream=False, s3=True), "sqlite", None),
        (UpRequest(ingestion=False, stream=False, metastore=True), "sqlite", None),
        (UpRequest(ingestion=False, stream=False, spark_cluster=True), "sqlite", None),
        (UpRequest(ingestion=False, stream=False), "mariadb", None),
        (UpRequest(), "sqlite", None),
        (UpRequest(stream=False), "sqlite", None),
    ],
)
def test_a_request_without_ingestion_needs_something_else_and_no_stream(
    request_, source_db, problem
):
    found = request_.problem(source_db)
    assert (found is None) if problem is None else (problem in found), found


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--no-ingestion"], "--no-ingestion leaves nothing to start: add what to start ("),
        (["--no-ingestion", "--stream", "--s3"], "--no-ingestion starts no broker, and the"),
        (
            ["--no-ingestion", "--kafka-brokers", "3", "--s3"],
            "--kafka-brokers only applies with the broker: drop it or --no-ingestion",
        ),
        (
            ["--no-ingestion", "--s3", "--trigger-seconds", "5"],
            "--trigger-seconds only applies with the stream query: drop it or --no-ingestion",
        ),
        (
            ["--no-stream", "--trigger-seconds", "5"],
            "--trigger-seconds only applies with the stream query: drop it or --no-stream",
        ),
    ],
)
def test_services_up_without_ingestion_refuses_what_it_cannot_do_in_one_line(
    tmp_path, monkeypatch, capsys, options, expected
):
    """Refused before anything starts, as a usage error (exit 2), one line; ``--kafka-brokers``
    and ``--trigger-seconds`` too, where nothing they apply to starts, which were ignored
    (helper-97, helper-98). Before the home's services lock: no run folder is made (helper-97:
    a refusal made the lock file, and waited for another call's up)."""
    home = tmp_path / "home"
    try:
        assert cli_exit_code(monkeypatch, home, "services", "up", *options) == 2
    finally:  # what an accepted call started (code that ignored the option) is stopped
        if (home / "run").exists():
            manager.stop_all(Settings(home=home), quiet=True)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {expected}"), err
    assert not (home / "run").exists()


def test_a_refused_services_up_does_not_wait_for_another_up_of_the_home(tmp_path):
    """helper-97: while another ``services up`` of the home held its lock, a request that cannot
    be served waited for it (22 s) before it was refused."""
    import threading

    from pinlake.errors import UsageError

    settings = settings_for(tmp_path, 19940)
    refused: list[BaseException] = []

    def up() -> None:
        try:
            manager.services_up(settings, UpRequest(ingestion=False, stream=False))
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            refused.append(exc)

    with manager.one_at_a_time(settings):  # another `services up` of the home runs
        call = threading.Thread(target=up, daemon=True)
        call.start()
        call.join(timeout=30)
        assert not call.is_alive(), "the refusal waited for the other call's lock"
    assert len(refused) == 1 and isinstance(refused[0], UsageError), refused
    assert "leaves nothing to start" in str(refused[0])


def test_without_ingestion_the_ports_of_the_broker_and_api_are_not_checked(tmp_path):
    """Taken broker and API ports refuse a ``services up`` that starts them, not one without
    ingestion (the metastore's port alone is checked; nothing here starts)."""
    with listening() as kafka_port, listening() as api_port:
        ms = free_ports(1)[0]
        settings = Settings(
            home=tmp_path,
            kafka=KafkaSettings(
                bootstrap_servers=f"127.0.0.1:{kafka_port}", controller_port=free_ports(1)[0]
            ),
            api=ApiSettings(host="127.0.0.1", port=api_port, api_key=None),
            metastore_port=ms,
        )
        engine = UpRequest(ingestion=False, stream=False, metastore=True)
        # no PinlakeError, and no ephemeral-range warning of theirs either
        warning = manager.check_ports(settings, engine) or ""
        assert "PINLAKE_KAFKA" not in warning and "PINLAKE_API" not in warning, warning
        with pytest.raises(PinlakeError, match=f"port 127.0.0.1:{kafka_port} is already in use"):
            manager.check_ports(settings, UpRequest(stream=False, metastore=True))
        with listening() as taken_ms:
            moved = settings.model_copy(update={"metastore_port": taken_ms})
            with pytest.raises(PinlakeError, match="PINLAKE_METASTORE_PORT"):
                manager.check_ports(moved, engine)


def test_a_start_hint_keeps_the_homes_services_as_they_run(tmp_path):
    """The ``services up`` a line tells the user to run (``run_folder.up_hint``) asks for the
    home's services as they run or ran: on a home of ``services up --no-stream`` it adds
    ``--no-stream`` (helper-110: pasted, it started the stream query too), on a home of three
    Kafka nodes ``--kafka-brokers 3`` (without it, the call is refused: the broker runs with
    another configuration)."""
    from pinlake import run_folder
    from pinlake.run_folder import up_hint

    settings = settings_for(tmp_path, 19980)
    pretend_running(settings, "kafka", {})
    pretend_running(settings, "api", {})
    assert up_hint(settings.run_dir, "--s3") == f"{PINLAKE} services up --no-stream --s3"
    pretend_running(settings, "stream", {})
    assert up_hint(settings.run_dir, "--s3") == f"{PINLAKE} services up --s3"
    for node in ("kafka-2", "kafka-3"):
        pretend_running(settings, node, {})
    assert up_hint(settings.run_dir, "--s3") == f"{PINLAKE} services up --kafka-brokers 3 --s3"
    # a query that ended without `services down` (killed): the plain command starts it again
    pretend_ended(settings.run_dir, "stream")
    assert up_hint(settings.run_dir, "--thrift") == (
        f"{PINLAKE} services up --kafka-brokers 3 --thrift"
    )
    assert run_folder.read_pid(settings.run_dir, "stream") is None  # its record: ended
    assert up_hint(settings.run_dir, "--thrift").endswith(" up --kafka-brokers 3 --thrift")
    run_folder.ended_file(settings.run_dir, "stream").unlink()  # a home of --no-stream again
    assert up_hint(settings.run_dir, "--thrift").endswith(
        " up --no-stream --kafka-brokers 3 --thrift"
    )


def test_the_restart_note_names_the_services_as_status_rows_do(tmp_path, capsys):
    """``services status``'s note after exit 3 names what ended as the table's rows do (helper-112:
    ``spark-worker-2`` in the note, ``spark worker 2`` in the table; ``kafka-2`` under ``kafka
    node 2``), and the options that start them again."""
    settings = settings_for(tmp_path, 19970)
    for name in ("api", "stream", "kafka", "kafka-2", "spark-master", "spark-worker-2", "thrift"):
        pretend_ended(settings.run_dir, name)
    manager._print_restart_hint(settings)
    assert " ".join(capsys.readouterr().out.split()) == (
        "note: api, kafka node 1, kafka node 2, spark master, spark worker 2, stream, thrift "
        f"ended without `services down`: `{PINLAKE} services up --kafka-brokers 2 "
        "--spark-cluster --thrift` starts them again"
    )
    alone = settings_for(tmp_path / "alone", 19970)
    pretend_ended(alone.run_dir, "kafka")
    manager._print_restart_hint(alone)
    assert capsys.readouterr().out.startswith("note: kafka ended without")


def test_status_expects_the_broker_and_api_unless_up_started_others_without_them(tmp_path):
    """``services status`` counts the broker and the API on a home where nothing runs (``services
    up`` starts them) or where either ran (running, or ended without ``services down``: killed),
    not on one where only other services run or ended (``services up --no-ingestion``)."""
    from pinlake.run_folder import up_hint, without_ingestion

    settings = settings_for(tmp_path, 19990)
    assert not without_ingestion(settings.run_dir)  # nothing runs
    assert up_hint(settings.run_dir, "--thrift") == f"{PINLAKE} services up --thrift"
    pretend_running(settings, "metastore", {})
    assert without_ingestion(settings.run_dir)
    # the lines that say which `services up` starts a service keep the home without them
    # (helper-97: pasted, they started the broker, the API and the stream query)
    assert up_hint(settings.run_dir, "--thrift") == f"{PINLAKE} services up --no-ingestion --thrift"
    # an engine-only home whose metastore was killed: still no broker or API expected
    killed = settings_for(tmp_path / "killed", 19990)
    pretend_ended(killed.run_dir, "metastore")
    assert killed.run_dir.joinpath("metastore.pid").exists()  # stale: read as ended
    assert without_ingestion(killed.run_dir)
    assert process.running(killed.run_dir, "metastore") is None  # now its ended record
    assert without_ingestion(killed.run_dir)
    # a killed node 2 of a cluster: its record ends
    pretend_ended(settings.run_dir, "kafka-2")
    assert not without_ingestion(settings.run_dir)
    assert manager._ended_ingestion(settings) == ["Kafka"]
    pretend_ended(settings.run_dir, "api")
    assert manager._ended_ingestion(settings) == ["Kafka", "the API"]
    running = settings_for(tmp_path / "running", 19990)
    pretend_running(running, "metastore", {})
    pretend_running(running, "api", {})
    assert not without_ingestion(running.run_dir)
    assert manager._ended_ingestion(running) == []


def test_a_setting_read_in_another_spelling_reaches_children_in_the_documented_one(
    tmp_path, monkeypatch
):
    """The settings read names in any case (pydantic-settings); a child gets the variable in
    the documented spelling only, with the value read, so that readers of the exact name
    (profiles.yml's ``env_var('PINLAKE_DBT_TARGET')``, the DAGs) see what pinlake read."""
    monkeypatch.setenv("PINLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("pinlake_dbt_target", "thrift")
    monkeypatch.setenv("PINLAKE_API__PORT", "47001")
    monkeypatch.setenv("PINLAKE_API__port", "47002")  # set last: the one read
    monkeypatch.setenv("PINLAKE_AIRFLOW_schedule", "x")  # not a setting: passed as it is
    settings = Settings()
    assert (settings.dbt_target, settings.api.port) == ("thrift", 47002)
    env = settings.child_env()
    assert (env["PINLAKE_DBT_TARGET"], env["DBT_TARGET"], env["PINLAKE_API__PORT"]) == (
        "thrift",
        "thrift",
        "47002",
    )
    assert {"pinlake_dbt_target", "PINLAKE_API__port"}.isdisjoint(env)
    assert env["PINLAKE_AIRFLOW_schedule"] == "x"


def test_up_starts_the_cluster_before_the_stream_query_and_the_thrift_server(tmp_path, monkeypatch):
    """``services up --spark-cluster --thrift``: the cluster first, then the stream query (with
    ``PINLAKE_SPARK_MASTER`` naming the cluster it runs there: helper-111's pasted line of
    `make airflow` failed, its query started before the cluster), then the Thrift server,
    whose master the cluster becomes. The supervisors are stand-ins that record the order."""
    settings = settings_for(tmp_path, 19960)
    started: list[str] = []
    monkeypatch.setattr(manager, "check_configuration", lambda *_a: None)
    monkeypatch.setattr(manager, "check_ports", lambda *_a: None)
    monkeypatch.setattr(manager, "start_metastore", lambda *_a: started.append("metastore"))
    monkeypatch.setattr(manager, "_start_ingestion", lambda *_a: started.append("ingestion"))
    monkeypatch.setattr(manager.standalone, "start", lambda *_a: started.append("cluster"))
    monkeypatch.setattr(manager.stream_process, "pid", lambda _s: None)
    monkeypatch.setattr(
        manager.stream_process, "start", lambda *_a, **_k: started.append("stream") or 1
    )
    monkeypatch.setattr(manager.stream_process, "wait_running", lambda *_a, **_k: None)
    monkeypatch.setattr(manager, "start_thrift", lambda *_a: started.append("thrift"))
    manager.start_all(settings, UpRequest(spark_cluster=True, thrift=True), quiet=True)
    assert started == ["metastore", "ingestion", "cluster", "stream", "thrift"]


def test_a_bootstrap_list_of_n_servers_is_n_nodes_for_every_command(
    tmp_path, monkeypatch, capsys
) -> None:
    """helper-112: ``services up --kafka-brokers 2`` with two servers in
    ``PINLAKE_KAFKA__BOOTSTRAP_SERVERS`` (``PINLAKE_KAFKA__BROKERS`` unset) was refused as
    ``brokers=1``; helper-113: so was every other command of that shell (``services status``,
    ``source init``, ``produce``). The list is two nodes now, with the option or without: ``up``
    gets as far as the port check, which refuses the API's port given to the second node (so
    nothing starts here), ``status`` shows both nodes; another count is refused, exit 2."""
    first, controller, second = free_ports(3)
    servers = f"127.0.0.1:{first},127.0.0.1:{second}"
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", servers)
    monkeypatch.setenv("PINLAKE_KAFKA__CONTROLLER_PORT", str(controller))
    monkeypatch.setenv("PINLAKE_API__PORT", str(second))
    home = tmp_path / "home"
    for option in ((), ("--kafka-brokers", "2")):
        assert cli_exit_code(monkeypatch, home, "services", "up", *option) == 1
        assert capsys.readouterr().err.startswith(
            f"error: PINLAKE_KAFKA__BOOTSTRAP_SERVERS and PINLAKE_API__PORT both give port {second}"
        ), option
    assert cli_exit_code(monkeypatch, home, "services", "up", "--kafka-brokers", "3") == 2
    assert capsys.readouterr().err == (
        "error: --kafka-brokers 3: bootstrap_servers names 2 servers but brokers=3 (one per "
        "local node, or one to derive them from)\n"
    )
    assert not list((home / "run").glob("*.pid"))  # nothing started
    monkeypatch.setenv("PINLAKE_API__PORT", str(free_ports(1)[0]))
    assert cli_exit_code(monkeypatch, home, "services", "status") == 3  # nothing runs
    rows = table_rows(capsys.readouterr().out)
    assert rows["kafka node 1"][1] == f"127.0.0.1:{first}"
    assert rows["kafka node 2"][1] == f"127.0.0.1:{second}"


def test_a_failed_up_says_what_it_started_and_leaves_running(tmp_path, monkeypatch) -> None:
    """helper-113: the stream query of ``services up`` failed (exit 1), and nothing said that
    the broker and the API that call had started ran on. The error now names what this call
    started (as status's rows name them) and how to go on; a service that ran before the call
    is not named, and a failure before anything started is as it was."""
    kafka_port, controller, api_port, s3_port = free_ports(4)  # up checks them: none in use
    settings = Settings(
        home=tmp_path,
        kafka=KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{kafka_port}", controller_port=controller
        ),
        api=ApiSettings(host="127.0.0.1", port=api_port, api_key=None),
        s3=S3Settings(port=s3_port),
    )

    def start_s3(settings: Settings, say: object) -> None:  # "started": its record, a live pid
        pretend_running(settings, "s3", manager.s3_server.config(settings))

    def stop_here(settings: Settings, say: object) -> None:
        raise UsageError("stopped at the broker")

    monkeypatch.setattr(manager, "start_s3", start_s3)
    monkeypatch.setattr(manager, "_start_ingestion", stop_here)
    with pytest.raises(PinlakeError) as failure:
        manager.start_all(settings, UpRequest(s3=True), quiet=True)
    assert str(failure.value) == (
        "stopped at the broker; this services up started s3, which keep running (the same "
        "`services up`, once the cause is fixed, reuses it; "
        f"`{PINLAKE.at(settings.home)} services down` stops the home's services)"
    )
    assert failure.value.exit_code == 2  # the failure's own
    with pytest.raises(UsageError, match="^stopped at the broker$"):  # s3 ran before: not named
        manager.start_all(settings, UpRequest(s3=True), quiet=True)


def test_two_services_given_one_port_are_refused_before_anything_starts(tmp_path) -> None:
    """Two services ``up`` would start on one port (``PINLAKE_S3__PORT`` equal to
    ``PINLAKE_API__PORT``): each port was free, so the first started and the second failed on
    it. Refused at once, naming both settings (pinlake.services.manager.shared_port); the same
    rule refuses `make airflow`'s ports (tests/dags/test_airflow_script.py)."""
    (port,) = free_ports(1)
    settings = settings_for(tmp_path, 19940).model_copy(
        update={"s3": S3Settings(port=port), "api": ApiSettings(port=port, api_key=None)}
    )
    with pytest.raises(PinlakeError) as refused:
        manager.check_ports(settings, UpRequest(s3=True))
    assert str(refused.value) == (
        f"PINLAKE_S3__PORT and PINLAKE_API__PORT both give port {port}: each service needs a "
        "port of its own; choose another for one of them"
    )
    manager.check_ports(settings, UpRequest())  # without S3 no clash: it raises on one
    # a cluster's worker: how the setting gives its port is said after the names, not inside
    # the sentence (helper-112: "…__UI_PORT and …__WORKER_UI_PORT; worker 1's web UI is that
    # port + 0 both give port …")
    assert manager.shared_port(
        [
            ("127.0.0.1", port, "PINLAKE_SPARK_CLUSTER__UI_PORT"),
            ("127.0.0.1", port, "PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT; worker 2's web UI is x"),
        ]
    ) == (
        "PINLAKE_SPARK_CLUSTER__UI_PORT and PINLAKE_SPARK_CLUSTER__WORKER_UI_PORT both give port "
        f"{port} (worker 2's web UI is x): each service needs a port of its own; choose another "
        "for one of them"
    )
