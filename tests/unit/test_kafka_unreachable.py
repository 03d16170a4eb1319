"""A command that needs Kafka says the same line when it does not answer (a trial saw ``sink``
print librdkafka's ``KafkaError{code=_TRANSPORT,…}`` with exit 1 and ``stream`` a hint with
exit 2): pinlake.kafka.unreachable, used by both."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pinlake_testing import listening

from pinlake.cli import main
from pinlake.config import KafkaSettings, Settings
from pinlake.console import PINLAKE
from pinlake.kafka import unreachable
from pinlake.services.process import free_ports


def test_the_line_says_where_kafka_was_looked_for_and_what_to_do(tmp_path: Path) -> None:
    local = Settings(home=tmp_path, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    assert str(unreachable(local)) == (
        f"Kafka at 127.0.0.1:1 is not reachable (nothing listens on port 1): start it with "
        f"`{PINLAKE} services up`"
    )
    ports = free_ports(6)  # nothing listens there: three nodes' client and controller ports
    three = Settings(
        home=tmp_path,
        kafka=KafkaSettings(
            bootstrap_servers=",".join(f"127.0.0.1:{p}" for p in ports[::2]),
            controller_port=ports[1],
            brokers=3,
        ),
    )
    assert str(unreachable(three)).startswith(
        f"Kafka at {three.kafka.bootstrap_servers} is not reachable (nothing listens on ports "
        f"{ports[0]}, {ports[2]}, {ports[4]}): start it with `"
    )
    external = Settings(
        home=tmp_path, kafka=KafkaSettings(bootstrap_servers="kafka:9092", external=True)
    )
    assert str(unreachable(external)) == (
        "Kafka at kafka:9092 is not reachable: is it running? "
        "(PINLAKE_KAFKA__BOOTSTRAP_SERVERS names it)"
    )


def test_stream_without_kafka_is_that_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    monkeypatch.setenv("PINLAKE_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "stream", "--available-now"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: Kafka at 127.0.0.1:{port} is not reachable (nothing listens on port {port}): "
        f"start it with `{PINLAKE.at(tmp_path / 'home')} services up`"
    )


def test_a_wrong_address_while_this_homes_cluster_runs_names_the_variable(tmp_path: Path) -> None:
    """helper-109: ``PINLAKE_KAFKA__BOOTSTRAP_SERVERS`` with a typo in the port, the home's
    cluster running at its own: the line said to run ``services up``, which refused the running
    cluster and named ``services down``. Now it names the running cluster's address."""
    from pinlake import run_folder

    running, typo = free_ports(2)
    home = Settings(home=tmp_path, kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{running}"))
    home.run_dir.mkdir(parents=True)
    # the records of a running node 1 (pid: this live process), as `services up` writes them
    run_folder.record_config(
        home.run_dir, run_folder.KAFKA, os.getpid(), {"bootstrap_servers": f"127.0.0.1:{running}"}
    )
    run_folder.pid_file(home.run_dir, run_folder.KAFKA).write_text(f"{os.getpid()}\n")
    wrong = home.model_copy(update={"kafka": KafkaSettings(bootstrap_servers=f"127.0.0.1:{typo}")})
    assert str(unreachable(wrong)) == (
        f"Kafka at 127.0.0.1:{typo} is not reachable (nothing listens on port {typo}): this "
        f"home's Kafka runs at 127.0.0.1:{running}: check PINLAKE_KAFKA__BOOTSTRAP_SERVERS"
    )
    # at its own address (starting, or not answering): the command that starts it, as the home
    # runs: no stream query is recorded, a home of `services up --no-stream`, where the plain
    # command would start one too (helper-110)
    assert str(unreachable(home)).endswith(f": start it with `{PINLAKE} services up --no-stream`")
    run_folder.record_config(home.run_dir, run_folder.STREAM, os.getpid(), {})
    run_folder.pid_file(home.run_dir, run_folder.STREAM).write_text(f"{os.getpid()}\n")
    assert str(unreachable(home)).endswith(f": start it with `{PINLAKE} services up`")
    # once it has ended, starting it is the hint again
    run_folder.pid_file(home.run_dir, run_folder.KAFKA).write_text("999999999\n")
    assert str(unreachable(wrong)).endswith(f": start it with `{PINLAKE} services up`")


def test_a_produce_run_whose_api_has_lost_kafka_names_what_starts_it(tmp_path: Path) -> None:
    """helper-111: with the home's broker killed, ``produce --to api`` retried 503s for 75 s and
    ended on "HTTP 503 … Broker not available" with no command to run: the API's /healthz said
    ``"kafka": "down"`` (status 200) and the run did not read it. The warning at its start and
    the error at its end now carry the Kafka line of every command."""
    from pinlake.produce.http import _kafka_down, _kafka_down_line, _kafka_still_down

    assert _kafka_down(b'{"status":"ok","kafka":"down"}')
    for body in (b'{"status":"ok","kafka":"ok"}', b"", b"not json", b"[1]", b'{"error": 1}'):
        assert not _kafka_down(body), body
    (port,) = free_ports(1)  # nothing listens there: the home's broker is down
    home = Settings(home=tmp_path, kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"))
    line = str(unreachable(home))
    assert _kafka_still_down(home, home.api.url) == f"; {line}"
    assert _kafka_down_line(home, home.api.url).endswith(f"(then the run stops); {line}")
    # another API (--api-url): its Kafka is not this home's to name
    other = "http://127.0.0.1:1"
    assert _kafka_still_down(home, other) == ""
    # something listens on the home's Kafka port (a node of several still runs) and the API
    # answered 503: the status command that says what is down (helper-114: nothing said)
    with listening() as port:
        up = Settings(home=tmp_path, kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"))
        assert _kafka_still_down(up, up.api.url) == ""  # another failure: nothing to add
        assert _kafka_still_down(up, up.api.url, unavailable=True) == (
            f"; `{PINLAKE.at(tmp_path)} services status` shows which service is down"
        )
    assert _kafka_down_line(home, other).endswith(
        "until it is back, each for up to 90 s (then the run stops)"
    )
