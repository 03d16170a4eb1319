"""`make airflow` (scripts/airflow_standalone.sh): what it starts Airflow with and the banner it
prints, read from its dry run (``PINLAKE_AIRFLOW_DRY_RUN=1``: the banner, then exit 0)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from pinlake_testing import PROXY_VARIABLES

from pinlake.services.process import free_ports

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "airflow_standalone.sh"


def _script(tmp_path: Path, script: Path = SCRIPT, **env: str) -> subprocess.CompletedProcess:
    """The script's dry run with ``env`` and none of this process's PINLAKE_/AIRFLOW_ or proxy
    variables (a Spark session of the same worker adds loopback to NO_PROXY:
    pinlake.loopback.no_proxy_env)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PINLAKE_", "AIRFLOW_")) and k not in PROXY_VARIABLES
    }
    return subprocess.run(
        ["bash", str(script)],
        env={**clean, "PINLAKE_AIRFLOW_DRY_RUN": "1", "PINLAKE_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _probe(tmp_path: Path, command: str) -> Path:
    """A copy of the script, as it is but for its dry run's last line, which runs ``command``
    instead of printing the banner: the environment Airflow would start with."""
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    for part in (".venv", "dags"):
        (clone / part).symlink_to(SCRIPT.parents[1] / part)
    probe = clone / "scripts" / SCRIPT.name
    text = SCRIPT.read_text()
    shown = "printf '%s\\n' \"$BANNER\""
    assert shown in text
    probe.write_text(text.replace(shown, command))
    return probe


def _cli_line(banner: str) -> str:
    """The command of the banner's "CLI elsewhere" line (the one line to copy)."""
    (cli,) = [
        line.split("CLI elsewhere", 1)[1] for line in banner.splitlines() if "CLI elsewhere" in line
    ]
    return cli


def _ignored(stderr: str) -> list[str]:
    """The script's ``note: ignoring …`` lines: another Airflow's variables it did not use."""
    return [line for line in stderr.splitlines() if line.startswith("note: ignoring")]


def _dry_run(tmp_path: Path, script: Path = SCRIPT, **env: str) -> str:
    done = _script(tmp_path, script, **env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_api_server_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    """Airflow's API server listened on 0.0.0.0 (its default; helper-48's trial), where every
    service pinlake starts listens on loopback only."""
    out = _dry_run(tmp_path, AIRFLOW__API__PORT="38090")
    assert "UI / API        http://127.0.0.1:38090 " in out
    out = _dry_run(tmp_path, AIRFLOW__API__HOST="0.0.0.0")
    assert "UI / API        http://localhost:8080 " in out


def test_the_services_line_carries_this_shells_pinlake_settings(tmp_path: Path) -> None:
    """The printed `services up` line dropped the port settings, so copied into a new shell it
    started services on other ports than the DAGs' tasks use (helper-48's trial); a secret is
    named, never printed."""
    out = _dry_run(
        tmp_path / "a home",
        PINLAKE_API__PORT="38082",
        PINLAKE_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:29192",
        PINLAKE_API__API_KEY="s3cret",
    )
    assert "s3cret" not in out
    (line,) = [line.strip() for line in out.splitlines() if "services up" in line]
    words = shlex.split(line)
    assert words[-3:] == [str(SCRIPT.parents[1] / ".venv" / "bin" / "pinlake"), "services", "up"]
    assert f"PINLAKE_HOME={tmp_path / 'a home'}" in words
    assert "PINLAKE_API__PORT=38082" in words
    assert "PINLAKE_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:29192" in words
    assert 'PINLAKE_API__API_KEY="$PINLAKE_API__API_KEY"' in line


def test_the_services_line_starts_the_local_s3_server_the_bucket_is_on(tmp_path: Path) -> None:
    """A bucket on S3 at this home's local server (``AWS_ENDPOINT_URL`` on loopback at
    ``PINLAKE_S3__PORT``): the line asks for ``--s3``, which it left out (helper-70: copied, it
    started no S3 server, and the DAGs' sink found no bucket). Not for another endpoint, nor a
    folder bucket."""

    def services_words(**env: str) -> list[str]:
        out = _dry_run(tmp_path, AWS_ENDPOINT_URL_S3="", **env)
        (line,) = [line.strip() for line in out.splitlines() if "services up" in line]
        return shlex.split(line)

    local = {"PINLAKE_BUCKET": "s3://pinlake-topics", "PINLAKE_S3__PORT": "35000"}
    words = services_words(AWS_ENDPOINT_URL="http://127.0.0.1:35000", **local)
    assert words[-3:] == ["services", "up", "--s3"], words
    assert "PINLAKE_S3__PORT=35000" in words and "PINLAKE_BUCKET=s3://pinlake-topics" in words
    assert services_words(AWS_ENDPOINT_URL="http://localhost:35000/", **local)[-1] == "--s3"
    for other in ("http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com", ""):
        assert services_words(AWS_ENDPOINT_URL=other, **local)[-2:] == ["services", "up"], other
    folder = services_words(AWS_ENDPOINT_URL="http://127.0.0.1:35000", PINLAKE_S3__PORT="35000")
    assert folder[-2:] == ["services", "up"]


def test_the_services_line_starts_the_homes_services_the_dags_tasks_use(tmp_path: Path) -> None:
    """The line asks for each service of this home the DAGs' tasks are set to use, as their own
    "not up" line does (pinlake.services.manager.dag_tasks_request): dbt's Thrift target
    (``--thrift``, with its metastore), the metastore server (``--metastore``), the cluster's
    master (``--spark-cluster``); helper-110: it gave ``--s3`` alone, and pasted, the tasks
    found no Thrift server. Not for a metastore or master elsewhere."""

    def options(**env: str) -> list[str]:
        out = _dry_run(tmp_path, **env)
        (line,) = [line.strip() for line in out.splitlines() if "services up" in line]
        words = shlex.split(line)
        return words[words.index("up") + 1 :]

    assert options() == []
    assert options(PINLAKE_DBT_TARGET="thrift") == ["--thrift"]
    derby = "jdbc:derby://127.0.0.1:31527/metastore_db"
    assert options(PINLAKE_METASTORE_URL=derby, PINLAKE_METASTORE_PORT="31527") == ["--metastore"]
    assert options(PINLAKE_METASTORE_URL=derby) == []  # the home's server is at 1527
    assert options(PINLAKE_SPARK_MASTER="spark://localhost:7077") == ["--spark-cluster"]
    assert options(PINLAKE_SPARK_MASTER="spark://10.0.0.7:7077") == []
    assert options(
        PINLAKE_DBT_TARGET="thrift",
        PINLAKE_SPARK_MASTER="spark://127.0.0.1:37077",
        PINLAKE_SPARK_CLUSTER__PORT="37077",
        PINLAKE_KAFKA__BROKERS="3",
    ) == ["--kafka-brokers", "3", "--thrift", "--spark-cluster"]


def test_the_banner_says_what_the_dags_tasks_sign_an_s3_buckets_requests_with(
    tmp_path: Path,
) -> None:
    """Airflow passes this shell's AWS variables to the DAGs' tasks: a shell without any sent
    their sink and land into "no AWS credentials", and the banner said nothing (helper-71).
    One line for a bucket on S3: where, and the key pair, the profile or that neither is set;
    none for a folder bucket."""

    def s3_line(**env: str) -> list[str]:
        unset = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"), "")
        out = _dry_run(tmp_path, AWS_ENDPOINT_URL_S3="", **{**unset, **env})
        return [line.strip() for line in out.splitlines() if line.strip().startswith("S3 bucket")]

    local = {"PINLAKE_BUCKET": "s3://pinlake-topics", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    (none,) = s3_line(**local)
    assert none.startswith(
        "S3 bucket       s3://pinlake-topics at AWS_ENDPOINT_URL=http://127.0.0.1:5000; no "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in this shell"
    ), none
    assert none.endswith("(the local server takes any, e.g. test/test)")
    # a profile, read from the shell's AWS files as the tasks' boto3 reads them
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = a\naws_secret_access_key = b\n"
    )
    (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
    files = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    assert s3_line(**local, **files, AWS_PROFILE="dev")[0].endswith("sign with AWS_PROFILE=dev")
    # one that neither file defines: the line the tasks' sink and land would end with, not
    # "sign with AWS_PROFILE=nonexistent" (the banner trusted the variable)
    (unknown,) = s3_line(**local, **files, AWS_PROFILE="nonexistent")
    assert unknown.endswith(
        "the DAG tasks cannot sign: S3 client: AWS_PROFILE='nonexistent': The config profile "
        f"(nonexistent) could not be found in AWS_CONFIG_FILE='{tmp_path / 'config'}' or "
        f"AWS_SHARED_CREDENTIALS_FILE='{tmp_path / 'credentials'}': unset AWS_PROFILE or create "
        "that profile"
    ), unknown
    # which boto3 refuses beside a key pair too
    with_keys = s3_line(
        **local,
        **files,
        AWS_PROFILE="nonexistent",
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
    )
    assert with_keys == [unknown]
    keys = s3_line(**local, AWS_ACCESS_KEY_ID="AKIA", AWS_SECRET_ACCESS_KEY="s3cret")
    assert keys[0].endswith("sign with the AWS_ACCESS_KEY_ID of this shell")
    assert "s3cret" not in keys[0] and "AKIA" not in keys[0]
    assert s3_line(AWS_ENDPOINT_URL="http://127.0.0.1:5000") == []  # a folder bucket


def test_the_printed_command_lines_survive_a_clone_whose_path_holds_a_blank(tmp_path: Path) -> None:
    """A clone in "my projects/" printed ``…/my projects/pinlake/.venv/bin/pinlake services up``
    unquoted: copied into a shell, it ran ``…/my`` (helper-58). Here the clone is reached
    through a folder whose name holds a blank (a link to this checkout)."""
    clone = tmp_path / "my projects" / "pinlake"
    clone.parent.mkdir()
    clone.symlink_to(SCRIPT.parents[1])
    out = _dry_run(tmp_path / "home", script=clone / "scripts" / SCRIPT.name)
    (services,) = [line.strip() for line in out.splitlines() if "services up" in line]
    assert shlex.split(services)[-3:] == [
        str(clone / ".venv" / "bin" / "pinlake"),
        "services",
        "up",
    ]
    words = shlex.split(_cli_line(out))
    assert words[1] == f"AIRFLOW_CONFIG={tmp_path / 'home' / 'airflow' / 'airflow.cfg'}"
    assert words[2] == f"AIRFLOW__CORE__DAGS_FOLDER={clone / 'dags'}"
    airflow_db = tmp_path / "home" / "airflow" / "airflow.db"
    assert words[3] == f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///{airflow_db}"
    assert words[4:] == [str(clone / ".venv" / "bin" / "airflow"), "..."]


@pytest.mark.parametrize("folder", ["x%41y", "q?r"])
def test_the_metadata_db_url_names_the_db_in_the_home(tmp_path: Path, folder: str) -> None:
    """A home ``…/x%41y`` gave ``sqlite:///…/x%41y/airflow/airflow.db``, which SQLAlchemy (and
    so Airflow) reads as ``…/xAy/…``; a ``?`` starts the URL's query."""
    from sqlalchemy.engine import make_url

    home = tmp_path / folder / "home"
    words = shlex.split(_cli_line(_dry_run(home)))
    (conn,) = [w for w in words if w.startswith("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=")]
    url = make_url(conn.split("=", 1)[1])
    assert (url.drivername, url.database) == ("sqlite", str(home / "airflow" / "airflow.db"))


def test_a_port_that_is_not_one_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """``AIRFLOW__API__PORT=abc``: the banner named ``http://127.0.0.1:abc``, dbt parsed, the
    database migrated, then the api-server printed its usage and standalone ran on without a
    UI (helper-61). Each port the script gives Airflow is checked first, the log servers' too."""
    for name, value in (
        ("AIRFLOW__API__PORT", "abc"),
        ("AIRFLOW__API__PORT", "99999"),
        ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "0"),
        ("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", "80 80"),
    ):
        done = _script(tmp_path, **{name: value})
        assert done.returncode == 2 and done.stdout == "", (name, value, done)
        assert done.stderr == (
            f"error: {name}={_bash_quoted(value)} is not a port (a whole number from 1 to 65535)\n"
        )


def test_a_port_given_twice_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """helper-111: ``AIRFLOW__API__PORT`` equal to ``PINLAKE_API__PORT`` passed, and the banner's
    services line put the ingestion API on the port Airflow's API would hold; two of Airflow's
    own servers on one port passed too. Each is one line, exit 2, before the banner (the dry
    run), as a port that is not one; so is a port of a service the DAGs' tasks use through
    their settings (the Thrift server of ``PINLAKE_DBT_TARGET=thrift``)."""
    both = "each service needs a port of its own; choose another for one of them"
    for env, line in (
        (
            {"AIRFLOW__API__PORT": "8082"},
            f"AIRFLOW__API__PORT and PINLAKE_API__PORT both give port 8082: {both}",
        ),
        (
            {"AIRFLOW__API__PORT": "38095", "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "38095"},
            "AIRFLOW__API__PORT and AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT both give port "
            f"38095: {both}",
        ),
        (
            {"PINLAKE_DBT_TARGET": "thrift", "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "10000"},
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT and PINLAKE_THRIFT_PORT both give port "
            f"10000: {both}",
        ),
    ):
        done = _script(tmp_path, **env)
        assert (done.returncode, done.stdout) == (2, ""), (env, done)
        assert done.stderr == f"error: {line}\n", env
    assert _script(tmp_path, AIRFLOW__API__PORT="10000").returncode == 0  # local target: no Thrift


def test_a_pinlake_setting_pinlake_refuses_is_one_line_before_anything_starts(
    tmp_path: Path,
) -> None:
    """helper-112: ``PINLAKE_API__PORT=abc`` passed the script (its check of the settings gave
    up silently), the banner's services line carried the value, and Airflow would have started
    DAGs whose every task failed on it. One line, as the ``pinlake`` command prints it, exit 2,
    before the banner; nothing written into the home."""
    done = _script(tmp_path, PINLAKE_API__PORT="abc")
    assert (done.returncode, done.stdout) == (2, ""), done
    assert done.stderr == (
        "error: invalid settings: PINLAKE_API__PORT='abc': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_line_before_dbt_parse_and_the_migration(tmp_path: Path) -> None:
    """helper-80: with ``AIRFLOW__API__PORT`` taken (the ingestion API's 8082), the script ran
    ``dbt parse`` (writing the manifest) and ``airflow db migrate`` first, about 12 s, and only
    then said the port was in use. It says so before either now (a real run, not the dry run)."""
    import socket

    manifest = tmp_path / "manifest" / "manifest.json"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _script(
            tmp_path,
            PINLAKE_AIRFLOW_DRY_RUN="0",
            AIRFLOW__API__PORT=str(port),
            PINLAKE_DBT_MANIFEST=str(manifest),
        )
    assert done.returncode == 1, done
    assert "==> " not in done.stdout, done.stdout  # neither dbt parse nor the migration ran
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and f"127.0.0.1:{port}" in line and "in use" in line
    assert not manifest.exists() and not (tmp_path / "airflow" / "db-migrate.log").exists()
    # nothing in the home at all (helper-110: Airflow's import had written airflow/ and its
    # logs/ before the refusal)
    assert not (tmp_path / "airflow").exists() and not (tmp_path / "logs").exists()


def _bash_quoted(value: str) -> str:
    """``printf %q``'s quoting of ``value`` (a backslash before a blank)."""
    return value.replace(" ", "\\ ")


def test_the_banner_says_where_the_login_password_is(tmp_path: Path) -> None:
    """standalone prints the generated password on its first start only: the banner said it was
    "printed below" on every start (helper-110); once the file exists it names the file."""
    passwords = tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated"
    first = _dry_run(tmp_path)
    assert (
        "  login           admin; the password is generated on this first start, printed below "
        "and kept in" in first
    )
    assert f"\n                  {passwords}\n" in first
    passwords.parent.mkdir(parents=True)
    passwords.write_text('{"admin": "x"}')
    again = _dry_run(tmp_path)
    assert f"  login           admin; the password is in {passwords}\n" in again
    assert "printed below" not in again


def test_the_login_password_and_the_metadata_db_are_the_users_alone(tmp_path: Path) -> None:
    """helper-111: the password file standalone generates was 0644, readable by every local
    user; so was the metadata DB. The script generates the password on the first start, as
    standalone would (the simple auth manager's own init), into a 0600 file, and makes the DB
    0600 before SQLite opens it; a later start keeps the password and mends an older start's
    modes. (helper-113: a file made empty in advance made standalone say the password had been
    generated before, and print none.)"""
    home = tmp_path / "home"
    clone = _probe(tmp_path, "true")
    text = clone.read_text()
    parse = 'echo "==> dbt parse -> $PINLAKE_DBT_MANIFEST"'
    assert parse in text
    clone.write_text(text.replace(parse, "exit 0"))  # stop where dbt parse would start
    # a real start (not the dry run) on free ports: the script checks them first
    api, worker_logs, trigger_logs = free_ports(3)
    env = {
        "PINLAKE_AIRFLOW_DRY_RUN": "0",
        "AIRFLOW__API__PORT": str(api),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
    }
    airflow = home / "airflow"
    airflow.mkdir(parents=True)
    (airflow / "airflow.db").touch(mode=0o644)  # an older start's
    assert _script(home, clone, **env).returncode == 0
    passwords = airflow / "simple_auth_manager_passwords.json.generated"
    for secret in (passwords, airflow / "airflow.db"):
        assert oct(secret.stat().st_mode & 0o777) == "0o600", secret
    password = json.loads(passwords.read_text())["admin"]
    assert len(password) >= 8
    passwords.chmod(0o644)  # as an older start left it
    again = _script(home, clone, **env)
    assert again.returncode == 0, again.stderr
    assert json.loads(passwords.read_text()) == {"admin": password}  # kept, not generated again
    assert oct(passwords.stat().st_mode & 0o777) == "0o600"
    del env["PINLAKE_AIRFLOW_DRY_RUN"]  # the dry run again: its banner
    assert f"  login           admin; the password is in {passwords}\n" in _dry_run(home, **env)


def test_the_banner_says_the_dags_start_paused_and_how_to_stop(tmp_path: Path) -> None:
    """A run triggered while a DAG is paused stays queued with nothing saying why (helper-61)."""
    out = _dry_run(tmp_path)
    assert "they start paused: a run triggered while paused stays queued" in out
    assert "airflow dags unpause <dag>" in out
    assert "stop            Ctrl-C" in out


def test_a_pinlake_variable_nothing_reads_is_a_warning(tmp_path: Path) -> None:
    """The banner's services line carried a misspelt ``PINLAKE_API_PORT=1`` without a word, where
    pinlake's commands warn (helper-61)."""
    done = _script(tmp_path, PINLAKE_API_PORT="1")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "warning: PINLAKE_API_PORT is not a pinlake variable (PINLAKE_API__PORT?)\n"
    )


def test_airflows_clients_reach_its_api_server_on_loopback_not_through_a_proxy(
    tmp_path: Path,
) -> None:
    """Airflow's task runners call its API server through httpx, which sends a request for any
    host ``NO_PROXY`` does not name to a company network's ``HTTP_PROXY``: the script adds
    loopback to ``NO_PROXY`` (both spellings), keeping what the shell named."""
    probe = _probe(tmp_path, 'echo "NO_PROXY=$NO_PROXY no_proxy=$no_proxy"')
    proxy = "http://proxy.example:3128"
    loopback = "127.0.0.1,localhost,::1"
    out = _dry_run(tmp_path / "a", probe, HTTP_PROXY=proxy)
    assert f"NO_PROXY={loopback} no_proxy={loopback}" in out, out
    out = _dry_run(tmp_path / "b", probe, HTTP_PROXY=proxy, no_proxy=".corp.example")
    assert f"NO_PROXY=.corp.example,{loopback} no_proxy=.corp.example,{loopback}" in out, out
    # a list that names loopback already (a pinlake process's: a CI run saw each twice)
    out = _dry_run(tmp_path / "c", probe, HTTP_PROXY=proxy, NO_PROXY="localhost, .corp.example")
    assert "NO_PROXY=localhost, .corp.example,127.0.0.1,::1 " in out, out


def test_another_airflows_executor_and_database_are_not_used(tmp_path: Path) -> None:
    """A shell's ``AIRFLOW__CORE__EXECUTOR=CeleryExecutor`` crashed standalone (no celery
    provider) and its ``SQL_ALCHEMY_CONN`` had the script migrate that database (helper-68):
    the script runs LocalExecutor on SQLite in AIRFLOW_HOME, says so in its banner, and names
    what it ignored in one line each, without the connection's password."""
    done = _script(
        tmp_path,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql://airflow:s3cret@db.example/airflow",
        AIRFLOW__CORE__AUTH_MANAGER="airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
    )
    assert done.returncode == 0, done.stderr
    home = tmp_path / "airflow"
    assert f"metadata DB     sqlite:///{home}/airflow.db (LocalExecutor)" in done.stdout
    notes = _ignored(done.stderr)
    assert [line.split()[2] for line in notes] == [
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__AUTH_MANAGER",
    ]
    # each says what the script does instead (helper-70: three times the same sentence)
    assert [line.split(": make airflow ", 1)[1] for line in notes] == [
        "runs LocalExecutor (tasks in its own worker processes: AIRFLOW__CORE__PARALLELISM)",
        "keeps its metadata DB in SQLite in AIRFLOW_HOME (the banner's 'metadata DB')",
        "runs the simple auth manager (the banner's login and generated password)",
    ]
    assert "s3cret" not in done.stdout + done.stderr
    # the CLI line to copy names the same database (the shell's would win in another shell)
    cli = _cli_line(done.stdout)
    assert f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///{home}/airflow.db" in cli


def test_another_airflows_home_plugins_secrets_and_remote_logs_are_not_used(
    tmp_path: Path,
) -> None:
    """A data engineer's shell names the Airflow they work on: ``AIRFLOW_HOME=~/airflow`` (its
    airflow.cfg and its SQLite DB, which ``airflow db migrate`` would have migrated to Airflow 3
    and filled with pinlake's runs), its plugins, secrets backend and remote logging. The script
    keeps Airflow's state in ``$PINLAKE_HOME/airflow`` and names each ignored variable, without
    its value; a shell that set what the script sets (the banner's CLI line) gets no note."""
    other = tmp_path / "other-airflow"
    shell = dict(
        AIRFLOW_HOME=str(other),
        AIRFLOW_CONFIG=str(other / "airflow.cfg"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(other / "plugins"),
        AIRFLOW__SECRETS__BACKEND="airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
        AIRFLOW__SECRETS__BACKEND_KWARGS='{"connections_prefix": "s3cret-prefix"}',
        AIRFLOW__LOGGING__REMOTE_LOGGING="True",
        AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://company-logs/airflow",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(other / "logs"),
        AIRFLOW__CORE__DAGS_FOLDER=str(other / "dags"),
    )
    done = _script(tmp_path / "home", **shell)
    assert done.returncode == 0, done.stderr
    home = tmp_path / "home" / "airflow"
    assert f"AIRFLOW_HOME    {home}\n" in done.stdout
    assert f"metadata DB     sqlite:///{home}/airflow.db (LocalExecutor)" in done.stdout
    assert f"DAGs            {SCRIPT.parents[1] / 'dags'} (" in done.stdout
    notes = _ignored(done.stderr)
    assert [line.split()[2] for line in notes] == [
        "AIRFLOW_HOME",
        "AIRFLOW_CONFIG",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__PLUGINS_FOLDER",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
        "AIRFLOW__LOGGING__REMOTE_LOGGING",
        "AIRFLOW__SECRETS__BACKEND",
        "AIRFLOW__SECRETS__BACKEND_KWARGS",
    ]
    assert str(other) not in done.stdout and "s3cret" not in done.stdout + done.stderr
    assert "company-logs" not in done.stdout + done.stderr
    # the environment Airflow's processes would start with: none of the other Airflow's
    probe = _probe(tmp_path, "env | grep '^AIRFLOW' | sort")
    started = dict(
        line.split("=", 1) for line in _dry_run(tmp_path / "home", probe, **shell).splitlines()
    )
    assert started["AIRFLOW_HOME"] == str(home)
    assert started["AIRFLOW_CONFIG"] == str(home / "airflow.cfg")
    assert (
        not {"AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__LOGGING__BASE_LOG_FOLDER"} & started.keys()
    )
    assert not [
        name
        for name in started
        if name.startswith(("AIRFLOW__SECRETS__", "AIRFLOW__LOGGING__REMOTE"))
    ]
    assert str(other) not in "\n".join(started.values())
    # the banner's CLI line, pasted into that same shell: Airflow's CLI read the ignored
    # variables there, and the other secrets backend ended it in a traceback (helper-73)
    cli = _cli_line(done.stdout)
    words = shlex.split(cli)
    assert words[-2:] == [str(SCRIPT.parents[1] / ".venv" / "bin" / "airflow"), "..."]
    line = cli.strip().rsplit(" ", 2)[0]  # as pasted, `env` in place of `airflow …`: the
    pasted = subprocess.run(  # environment Airflow's CLI would get
        ["bash", "-c", f"{line} env"],
        env={**os.environ, **shell},
        capture_output=True,
        text=True,
        check=True,
    )
    cli_env = dict(line.split("=", 1) for line in pasted.stdout.splitlines() if "=" in line)
    assert cli_env["AIRFLOW_HOME"] == str(home)
    assert cli_env["AIRFLOW_CONFIG"] == str(home / "airflow.cfg")
    assert not [
        name
        for name in cli_env
        if name.startswith(("AIRFLOW__SECRETS__", "AIRFLOW__LOGGING__REMOTE"))
        or name in ("AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__LOGGING__BASE_LOG_FOLDER")
    ]
    # the values the script sets itself, from a shell that exported the banner's CLI line
    same = _script(
        tmp_path / "home",
        AIRFLOW_HOME=str(home),
        AIRFLOW_CONFIG=str(home / "airflow.cfg"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__DAGS_FOLDER=str(SCRIPT.parents[1] / "dags"),
    )
    assert same.returncode == 0 and "note: ignoring" not in same.stderr, same.stderr
