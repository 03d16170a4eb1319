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
