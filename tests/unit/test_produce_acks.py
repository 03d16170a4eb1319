"""Which records of a produce request the API acknowledged (pinlake.produce.http.unacknowledged):
the rule that decides what a retry sends again, so that a retry never duplicates an
acknowledged record nor drops an unacknowledged one; and what the producer does when the API
stops answering (its run stops after the first request given up)."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest

from pinlake.config import TABLES, Settings
from pinlake.errors import PinlakeError
from pinlake.produce import ProduceToApi
from pinlake.produce.http import unacknowledged


def _body(value: object) -> bytes:
    return orjson.dumps(value)


def _offset(n: int) -> dict:
    return {"partition": 0, "offset": n, "error_code": None, "error": None}


def _failed_offset() -> dict:
    return {"partition": None, "offset": None, "error_code": 50003, "error": "broker down"}


def test_rest_proxy_all_acknowledged():
    body = _body({"offsets": [_offset(7), _offset(8), _offset(9)]})
    assert unacknowledged([0, 1, 2], 200, body, stream=False) == []


def test_rest_proxy_5xx_with_partial_offsets_resends_only_the_failed_records():
    # pending holds indexes into the original request: a second try of records 1, 4 and 5
    body = _body({"offsets": [_offset(3), _failed_offset(), _offset(4)], "error_code": 50003})
    assert unacknowledged([1, 4, 5], 500, body, stream=False) == [4]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b"Service Unavailable"),  # not JSON
        (500, _body(["offsets"])),  # JSON, but not an object
        (500, _body({"error_code": 50003, "message": "timeout"})),  # no offsets
        (200, _body({"offsets": [_offset(1)]})),  # one entry for two records
        (200, _body({"offsets": [_offset(1), {"offset": 2, "error_code": 40403}]})),
        (429, _body({"offsets": [_offset(1), _offset(2)]})),  # throttled: nothing was taken
    ],
)
def test_a_response_that_does_not_acknowledge_each_record_resends_them(status, body):
    left = unacknowledged([0, 1], status, body, stream=False)
    if status == 200 and b"40403" in body:
        assert left == [1]
    else:
        assert left == [0, 1]


def test_kinesis_put_records_partial_failure_resends_only_the_failed_entries():
    body = _body(
        {
            "FailedRecordCount": 1,
            "Records": [
                {"SequenceNumber": "4960", "ShardId": "shardId-000000000000"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "broker down"},
                {"SequenceNumber": "4961", "ShardId": "shardId-000000000000"},
            ],
        }
    )
    assert unacknowledged([0, 1, 2], 200, body, stream=True) == [1]


def test_kinesis_put_record_acknowledged_by_its_sequence_number():
    body = _body({"SequenceNumber": "4960", "ShardId": "shardId-000000000000"})
    assert unacknowledged([0], 200, body, stream=True) == []
    assert unacknowledged([0], 500, body, stream=True) == [0]  # a 5xx is never an ack
    assert unacknowledged([0], 200, _body({"ShardId": "x"}), stream=True) == [0]


@contextmanager
def _answering(status: int, body: bytes) -> Iterator[str]:
    """A proxy that has no ``/healthz`` (404, as Confluent's REST Proxy) and answers every
    produce request ``status`` with ``body``; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def unavailable_api() -> Iterator[str]:
    """A Kafka REST endpoint whose brokers are gone: 503 to every produce request."""
    with _answering(503, b'{"error_code": 50301, "message": "brokers not available"}') as url:
        yield url


def _events(n: int):
    for i in range(n):
        yield i, {name: {"ind": i, "m": "x"} for name in TABLES}


def test_the_run_stops_once_a_request_is_given_up(unavailable_api, tmp_path, monkeypatch, capsys):
    """An API that stopped answering costs the retry budget once, not once per request (a new
    user's default run against a killed API would have taken hours to give up): the first
    request given up stops the run; the records drawn and not acknowledged count as failed, and
    the CLI error says the run stopped. A proxy without pinlake's /healthz (404) is used."""
    from pinlake.produce import http as produce_http

    monkeypatch.setattr(produce_http, "RETRY_BUDGET", 1.0)
    monkeypatch.setattr(produce_http, "MAX_ATTEMPTS", 4)
    settings = Settings(home=tmp_path)
    options = ProduceToApi(events=500, api_url=unavailable_api, concurrency=4)
    result = produce_http.post_records(settings, _events(500), options, show_progress=False)
    assert result.stopped and result.acknowledged == 0
    assert result.events < 500  # no event drawn after the first request was given up
    assert result.failed == result.events * len(TABLES)  # every record drawn is accounted for
    assert result.requests < 4 * 4 + 2 * len(TABLES) * 4  # a few tries of a few requests
    assert result.errors[0].startswith("gave up after") and "HTTP 503" in result.errors[0]
    assert result.percentile(0.5) is None  # no latency of a request never acknowledged
    with pytest.raises(PinlakeError, match=r"not acknowledged .* the run stopped there, after"):
        produce_http.post_events(settings, _events(500), options)
    # helper-112: the summary showed p50 and p99 as 0.0 ms with nothing acknowledged
    shown = capsys.readouterr()
    summary = shown.out
    # helper-113: nothing said the requests were being retried where no bar shows it (a pipe):
    # the first retry's reason, once per run (two runs here), at once
    warnings = [line for line in shown.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, shown.err
    assert all(
        w.startswith("warning: HTTP 503: ") and w.endswith(": retrying, each request for up to 1 s")
        for w in warnings
    ), warnings
    for name in ("p50", "p99"):
        assert re.search(rf"latency {name} +│ — \(no request acknowledged\)", summary), summary


@pytest.mark.parametrize("key", [None, "wrong"])
def test_a_403_says_how_the_api_key_is_given(tmp_path, key):
    """helper-80: a run refused for its API key said only ``HTTP 403 … Forbidden``."""
    from pinlake.produce import http as produce_http

    # API Gateway's answer to a missing or wrong API key
    with _answering(403, b'{"message":"Forbidden"}') as url:
        options = ProduceToApi(events=2, api_url=url, api_key=key, concurrency=1)
        settings = Settings(home=tmp_path, api={"api_key": None})
        result = produce_http.post_records(settings, _events(2), options, show_progress=False)
    assert result.acknowledged == 0 and result.failed == 2 * len(TABLES)
    assert "HTTP 403" in result.errors[0] and '{"message":"Forbidden"}' in result.errors[0]
    assert result.errors[0].endswith(produce_http.forbidden_hint(key is not None))
    assert ("is not the API's key" in result.errors[0]) == (key is not None)
    assert "--api-key" in result.errors[0] and "PINLAKE_API__API_KEY" in result.errors[0]


def test_a_servers_html_error_page_is_one_line_of_the_cli_error(tmp_path, monkeypatch, capsys):
    """helper-82: a 501 of a server that is no Kafka REST proxy (Python's http.server) ended
    ``produce --to api`` with its HTML error page, line breaks and all, in the CLI's error; a
    501 is not retried (a retry would get it again)."""
    from pinlake_testing import cli_exit_code

    page = b"<!DOCTYPE HTML>\n<html lang='en'>\n    <head>\n<p>Error code: 501</p>\n</html>\n"
    home = tmp_path / "home"
    assert cli_exit_code(monkeypatch, home, "source", "init", "--rows", "3") == 0
    capsys.readouterr()
    with _answering(501, page) as url:
        code = cli_exit_code(
            monkeypatch, home, "produce", "--to", "api", "--events", "1", "--api-url", url
        )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: 3 records were not acknowledged"), err
    # the first error of the three topics' requests, which run at once: any of them
    body = "<!DOCTYPE HTML> <html lang='en'> <head> <p>Error code: 501</p> </html>"
    assert re.search(rf"HTTP 501 /topics/pinterest\.(pin|geo|user): {re.escape(body)}\)$", err), err


def test_every_cli_error_is_one_line(capsys):
    """The README's rule, held where every error is printed (pinlake.cli._fail): text a
    PinlakeError carries from elsewhere keeps its words, not its line breaks."""
    from pinlake.cli import _fail

    with pytest.raises(SystemExit) as exit_info:
        _fail(PinlakeError("first line\n\n   second line\r\nthird"))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: first line second line third\n"
