"""A test run does not read the shell's pinlake settings (tests/conftest.py): a contributor's
shell with the README's second-home variables (a home, the API's and Kafka's ports) failed three
unit tests that compare with pinlake's defaults (helper-67's trial). Nor its proxy variables: the
tests' own clients speak to loopback services (pinlake's are tested behind a proxy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pinlake_testing import KEPT_FROM_SHELL

TESTS = Path(__file__).resolve().parents[1]


def test_a_run_from_a_shell_with_a_second_homes_ports_ignores_them_and_says_so(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "PINLAKE_HOME": str(tmp_path / "home"),
        "PINLAKE_API__PORT": "18082",
        "PINLAKE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "HTTP_PROXY": "http://proxy.example:3128",  # a company network's, for the internet
    }
    test = TESTS / "unit" / "ingest_api" / "test_paths.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n0", str(test)],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    (header,) = [line for line in done.stdout.splitlines() if line.startswith("pinlake: ignoring")]
    for name in (
        "PINLAKE_API__PORT",
        "PINLAKE_HOME",
        "PINLAKE_KAFKA__BOOTSTRAP_SERVERS",
        "HTTP_PROXY",
    ):
        assert name in header, header
    assert not any(name in header for name in KEPT_FROM_SHELL), header
