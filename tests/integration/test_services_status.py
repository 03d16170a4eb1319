"""``services status`` and ``services down`` of a home beside another home's services (real broker
and API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pinlake_testing import isolated_settings, pretend_ended, table_rows

from pinlake.config import Settings
from pinlake.console import PINLAKE
from pinlake.services.manager import services_down, services_status

pytestmark = pytest.mark.kafka


def test_a_home_that_started_nothing_is_told_whose_services_answer(
    kafka_services: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial's second home on the default ports showed the first home's Kafka and API as
    ``healthy`` and then sank the first home's records into its own bucket: the status now
    says that this home did not start what answers on its addresses. The home that started
    them gets no such note."""
    other = kafka_services.model_copy(update={"home": tmp_path / "other"})
    services_status(other)
    out = capsys.readouterr().out
    assert (
        f"note: this home ({other.home}) did not start Kafka at "
        f"{other.kafka.bootstrap_servers} or the API at {other.api.url}, but they answer there"
    ) in out, out
    services_status(kafka_services)
    assert "did not start" not in capsys.readouterr().out


def test_a_command_of_a_home_that_started_nothing_is_told_whose_services_it_uses(
    kafka_services: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """helper-107: ``--home B sink --once`` in a new home wrote another home's records into
    B's bucket without a word (only ``services status`` said why). The commands that use the
    home's Kafka (sink, stream) or post to its API (produce --to api) now give the status's
    note first; the home that started them gets none, and the sink still runs."""
    from pinlake.bucket.sink import SinkOptions
    from pinlake.pipeline.steps import sink
    from pinlake.services.manager import note_services_of_another_home

    other = kafka_services.model_copy(update={"home": tmp_path / "other"})
    result = sink(other, SinkOptions(once=True))
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"note: this home ({other.home}) did not start Kafka at "
        f"{other.kafka.bootstrap_servers}, but it answers there: another home's `services up` "
        "or another program; this home's commands use what answers and share its topics"
    ) in out, out
    assert (result.stopped_by, result.unwritten) == (None, {})  # the sink ran to its end
    note_services_of_another_home(other, kafka_used=False, api_used=True)
    out = " ".join(capsys.readouterr().out.split())
    assert f"did not start the API at {other.api.url}, but it answers there" in out, out
    note_services_of_another_home(kafka_services, kafka_used=True, api_used=True)
    assert "note:" not in capsys.readouterr().out


def test_services_down_of_a_home_that_ran_none_says_so_and_leaves_the_others_running(
    kafka_services: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--home H services down`` in a home that started nothing said a bare ``✓ services
    down`` while another home's Kafka and API ran on, on H's ports (a trial took it for
    stopped): it now says that this home ran none, and names what still answers and how it is
    stopped. The services it does not own run on. A home where nothing answers gets no note."""
    from pinlake import kafka
    from pinlake.services import api_process

    other = kafka_services.model_copy(update={"home": tmp_path / "other"})
    services_down(other)
    out = " ".join(capsys.readouterr().out.split())
    assert "✓ services down: this home ran none" in out, out
    assert (
        f"note: this home ({other.home}) did not start Kafka at "
        f"{other.kafka.bootstrap_servers} or the API at {other.api.url}, but they answer there: "
        "another home's `services up` or another program; they run on: stop them from the home "
        f"that started them (`{PINLAKE.command} --home <that home> services down`)"
    ) in out, out
    assert kafka.healthy(kafka_services) and api_process.health(kafka_services) is not None

    lone = isolated_settings(tmp_path / "lone")
    services_down(lone)
    out = capsys.readouterr().out
    assert "✓ services down: this home ran none" in out and "note:" not in out, out


def test_a_failed_query_of_an_earlier_services_up_is_shown_not_counted(
    kafka_services: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a stream query failed, ``services down`` and ``services up --no-stream``, status
    exited 3 on the old ``failed`` row (helper-47's trial): a state written before the running
    API started is an earlier ``services up``'s, shown as such and not counted. One written
    since (a query of this one, or a ``pinlake stream`` run since) still counts."""
    import json
    import os

    from pinlake import run_folder
    from pinlake.lakehouse.stream import status_path

    state = status_path(kafka_services)
    api_started = run_folder.pid_file(kafka_services.run_dir, "api").stat().st_mtime
    state.write_text(json.dumps({"pid": 999_999_999, "state": "failed", "error": "lost data"}))
    try:
        os.utime(state, (api_started - 60, api_started - 60))
        assert services_status(kafka_services) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert "failed (before this services up)" in out, out
        # its totals too: they read as the running query's (helper-75)
        assert "stream (before this services up): no micro-batch since start" in out, out
        os.utime(state, (api_started + 60, api_started + 60))
        assert services_status(kafka_services) == 3
        out = " ".join(capsys.readouterr().out.split())
        assert "failed" in out and "before this services up" not in out, out
        assert "stream: no micro-batch since start" in out, out
    finally:
        state.unlink()


def test_services_up_without_ingestion_starts_the_others_alone_and_status_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Left item of issue 7: ``services up`` could not start a service without the broker and
    the API (for dbt's ``thrift`` target on landed data, or an S3 bucket for ``land``). With
    ``--no-ingestion`` (here with the local S3 server, a real one): the S3 server alone runs,
    the summary names it alone, and ``services status`` shows the broker and the API as not
    started and exits 0. Once the S3 server is killed it exits 3 (what runs still counts);
    Killed ones of an earlier ``services up`` count again: an up without ingestion says so.
    ``services down`` then leaves nothing of the home."""
    import os
    import signal

    from pinlake.config import S3Settings
    from pinlake.loopback import listening_ports
    from pinlake.services import api_process, kafka_broker, s3_server
    from pinlake.services.manager import services_up
    from pinlake.services.process import free_ports
    from pinlake.services.request import UpRequest

    settings = isolated_settings(tmp_path / "home")
    settings = settings.model_copy(update={"s3": S3Settings(port=free_ports(1)[0])})
    node = kafka_broker.nodes(settings)[0]
    ingestion_ports = {node.port, node.controller_port, settings.api.port}
    try:
        services_up(settings, UpRequest(ingestion=False, stream=False, s3=True))
        out = " ".join(capsys.readouterr().out.split())
        assert f"✓ services up: S3 {s3_server.url(settings)} (moto, in memory) " in out, out
        assert "Kafka" not in out and "ingestion API" not in out, out
        assert kafka_broker.running_names(settings) == [] and api_process.pid(settings) is None
        listening = listening_ports()
        assert listening is not None and not ingestion_ports & listening, "a broker or API listens"
        assert services_status(settings) == 0
        shown = capsys.readouterr().out
        # the cells wrap on a narrow console, at a blank or inside a word: read without blanks
        rows = {
            row[0].replace(" ", ""): row[-1].replace(" ", "") for row in table_rows(shown).values()
        }
        for name in ("kafka", "api"):
            assert rows[name] == "notstarted(servicesup--no-ingestion)", shown
        assert rows["s3(moto,inmemory)"] == "healthy", shown
        os.kill(s3_server.pid(settings), signal.SIGKILL)
        assert services_status(settings) == 3
        shown = capsys.readouterr().out
        rows = {
            row[0].replace(" ", ""): row[-1].replace(" ", "") for row in table_rows(shown).values()
        }
        assert rows["s3(moto,inmemory)"] == "down(endedwithoutservicesdown)", shown
        for name in ("kafka", "api"):  # still not this home's (its S3 server ended, not stopped)
            assert rows[name] == "notstarted(servicesup--no-ingestion)", shown
        # ... and the command that starts it again, as the home ran (helper-111: a killed
        # service's row said down, and nothing named a command)
        assert (
            f"note: s3 ended without `services down`: `{PINLAKE} services up --no-ingestion --s3` "
            "starts it again"
        ) in " ".join(shown.split()), shown
        # a broker and an API of an earlier `services up --no-stream` that were killed: this up
        # starts neither, and says that status counts them down (helper-97: a bare ✓, then
        # status 3) until the command that starts them as they ran does (no stream query was
        # recorded: --no-stream, helper-110)
        pretend_ended(settings.run_dir, "kafka")
        pretend_ended(settings.run_dir, "api")
        services_up(settings, UpRequest(ingestion=False, stream=False, s3=True))
        out = " ".join(capsys.readouterr().out.split())
        assert (
            "note: Kafka and the API of this home ended without `services down`: "
            f"`{PINLAKE} services status` counts them down (exit 3) until `{PINLAKE} services up "
            "--no-stream` starts them again"
        ) in out, out
        assert services_status(settings) == 3
        shown = capsys.readouterr().out
        rows = {
            row[0].replace(" ", ""): row[-1].replace(" ", "") for row in table_rows(shown).values()
        }
        assert rows["kafka"] == rows["api"] == "down(endedwithoutservicesdown)", shown
        assert rows["s3(moto,inmemory)"] == "healthy", shown
        assert (
            f"note: api, kafka ended without `services down`: `{PINLAKE} services up --no-stream` "
            "starts them again"
        ) in " ".join(shown.split()), shown
    finally:
        services_down(settings)
    assert list(settings.run_dir.glob("*.pid")) == []


def test_a_partition_of_a_node_known_down_is_unanswered_not_waited_for(kafka_services) -> None:
    """``services status`` reads the topics' watermarks partition by partition, up to 5 s each:
    with one of two nodes killed it waited for every partition led by the dead node, then called
    their topics missing (helper-113), and, once told the node was down, still waited 5 s for
    it (helper-114). A partition whose leader is a node the caller knows is down is unanswered
    at once; its topic exists all the same."""
    from pinlake import kafka

    topics = kafka.all_topics(kafka_services)
    answered = kafka.read_topic_offsets(kafka_services, topics)
    assert answered.existing == set(topics) and not answered.unanswered
    assert {o.topic for o in answered.offsets} == set(topics)
    # node 1 leads them all and answers (above): told it is down, none of them is asked
    down = kafka.read_topic_offsets(kafka_services, topics, down=[1])
    assert down.existing == set(topics) and not down.offsets
    assert sorted(down.unanswered) == sorted((o.topic, o.partition) for o in answered.offsets)
