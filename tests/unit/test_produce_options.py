"""``pinlake produce`` option values that cannot work are one usage line (exit 2)."""

from __future__ import annotations

import pytest

from pinlake.cli import main


@pytest.mark.parametrize("url", ["127.0.0.1:18082", "localhost", "ftp://127.0.0.1:8082", "http://"])
def test_an_api_url_without_http_scheme_and_host_is_a_usage_error(tmp_path, capsys, url):
    """Without a scheme, httpx read the host as one and the run said the API (which was up)
    was not reachable; now the URL itself is named."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "produce", "--to", "api", "--api-url", url, "--events", "1"])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "an http:// or https:// URL with a host, e.g. http://127.0.0.1:8082" in err
    assert repr(url) in err


def test_an_unknown_destination_names_the_choices_in_plain_words(tmp_path, capsys):
    """Typer's check of an Enum option read "Value error, 'kafka' is not one of …"."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "produce", "--to", "kafka"])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == "error: Invalid value for '--to': 'kafka' is not one of 'bucket', 'api'."


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # a count no Python sequence can index crashed the run with an OverflowError
        (["--events", str(10**23)], "'--events'"),
        # a trial's `--rate 1e-9` was taken, and the run waited decades without a word
        (["--events", "2", "--rate", "1e-9"], "1e-09: give 0 (no limit) or a rate of at least"),
        (["--events", "2", "--rate", "-5"], "-5: give 0 (no limit)"),
        # nan was refused as "Input should be greater than or equal to 0"
        (["--events", "2", "--rate", "nan"], "nan: give 0 (no limit)"),
        # each request in flight is a task made at the start and a connection (an open file)
        (["--to", "api", "--events", "2", "--concurrency", str(10**23)], "'--concurrency'"),
        # Kinesis' PutRecords takes at most 500 records: every request was refused with 400
        (
            ["--to", "api", "--stream", "--events", "2", "--batch-size", "501"],
            "a PutRecords request takes at most 500",
        ),
    ],
)
def test_a_count_or_rate_that_cannot_work_is_refused_before_the_run(
    tmp_path, capsys, args, said
) -> None:
    """One usage line, exit 2, before anything is read or sent (the home has no source)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path), "produce", *args])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and said in err, err
    assert "Traceback" not in err


def test_the_demo_refuses_an_event_count_before_it_resets_the_home(tmp_path, capsys) -> None:
    """``pinlake demo --events 1e23`` started the services and reset the home first."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "home"), "demo", "--events", str(10**23)])
    assert exit_info.value.code == 2
    assert "Invalid value for '--events'" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


def test_the_options_refuse_what_the_cli_refuses_for_every_caller() -> None:
    """The DAGs, the demo and bench/ build the options without the CLI: the same rules
    (pinlake.produce.options), one place."""
    from pinlake.errors import UsageError
    from pinlake.produce.options import MAX_EVENTS, ProduceToApi, ProduceToBucket

    for bad in (
        lambda: ProduceToBucket(events=MAX_EVENTS + 1),
        lambda: ProduceToBucket(rate=float("nan")),
        lambda: ProduceToBucket(rate=1e-4),
        lambda: ProduceToApi(concurrency=0),
        lambda: ProduceToApi(batch_size=0),
        lambda: ProduceToApi(stream=True, batch_size=501),
        lambda: ProduceToBucket(flush_size=0),  # the sink's rule (pinlake.bucket.layout)
    ):
        with pytest.raises(UsageError):
            bad()
    assert ProduceToApi(stream=True, batch_size=500, rate=0.001).batch_size == 500
    assert ProduceToApi(batch_size=501, rate=float("inf")).rate == float("inf")  # Kafka REST
    assert ProduceToBucket(events=MAX_EVENTS, rate=0).events == MAX_EVENTS
    assert ProduceToBucket(flush_size=1).flush_size == 1


@pytest.mark.parametrize("home", ["", "  "])
def test_an_empty_home_is_a_usage_error_not_the_current_folder(
    tmp_path, monkeypatch, capsys, home
) -> None:
    """``--home ""`` was ``Path("")``, the current folder: ``source init`` wrote its database
    there, in the checkout (helper-56)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", home, "source", "init"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: Invalid value for '--home': an empty path: give a folder"
        " (default: $PINLAKE_HOME or ./.pinlake)\n"
    )
    assert list(tmp_path.iterdir()) == []
