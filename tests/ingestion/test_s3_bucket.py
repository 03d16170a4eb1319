"""The topics bucket on S3, against a real S3-compatible server (moto's, on loopback): the
layout module's writes, listing and reading, the producer's direct mode, and clear errors.
No JVM: Spark's side (land over s3a://) is tests/integration/test_scale_out.py."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from pinlake_testing import isolated_settings

from pinlake.bucket import layout
from pinlake.bucket.layout import S3Path, location
from pinlake.config import S3Settings, Settings
from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError
from pinlake.produce.bucket import write_events
from pinlake.produce.options import ProduceToBucket
from pinlake.services.request import UpRequest


def _client():
    return layout.s3_client()


def test_files_are_written_listed_and_read_like_a_folder(s3_bucket: str) -> None:
    bucket = location(f"{s3_bucket}/prefix")
    path = layout.file_path(bucket, "pinterest.pin", 0, 0)
    assert not layout.exists(path)
    assert layout.write_or_verify(path, [b'{"index": 1}', b"not json"]) is True
    # the same key, the same bytes as the local layout
    raw = _client().get_object(Bucket=bucket.bucket, Key=path.key)["Body"].read()
    assert raw == b'{"index": 1}\nnot json\n'
    assert layout.exists(path)
    assert layout.read_records(path) == [b'{"index": 1}', b"not json"]
    assert layout.count_records(path) == 2
    # a re-delivery of the same records finds its file; other records are refused
    assert layout.write_or_verify(path, [b'{"index": 1}', b"not json"]) is False
    with pytest.raises(FileExistsError, match="another writer"):
        layout.write_or_verify(path, [b'{"index": 2}'])
    assert layout.read_records(path) == [b'{"index": 1}', b"not json"]  # never overwritten
    # gzip objects are read by their extension, like local files
    gz = layout.partition_dir(bucket, "pinterest.pin", 0) / "pinterest.pin+0+0000000002.json.gz"
    _client().put_object(Bucket=gz.bucket, Key=gz.key, Body=gzip.compress(b"a\nb\nc\n"))
    assert layout.read_records(gz) == [b"a", b"b", b"c"]
    assert layout.next_offset(bucket, "pinterest.pin", 0) == 5
    files = layout.list_files(bucket, "pinterest.pin")
    assert [(f.path, f.first_offset, f.problem) for f in files] == [(path, 0, None), (gz, 2, None)]
    # each with its size as listed (land compares a copied bucket's files by it)
    sizes = [len(b'{"index": 1}\nnot json\n'), len(gzip.compress(b"a\nb\nc\n"))]
    assert [f.size for f in files] == sizes


def test_listing_reports_what_breaks_the_layout(s3_bucket: str) -> None:
    bucket = location(s3_bucket)
    client = _client()
    keys = {
        "topics/pinterest.geo/partition=0/pinterest.geo+0+0000000000.json": b"{}\n",
        "topics/pinterest.geo/partition=0/notes.txt": b"x",
        "topics/pinterest.geo/pinterest.geo+0+0000000009.json": b"{}\n",
        "topics/other.topic/partition=0/other.topic+0+0000000000.json": b"{}\n",
        "topics/stray.json": b"{}\n",
    }
    for key, body in keys.items():
        client.put_object(Bucket=bucket.bucket, Key=key, Body=body)
    files = layout.list_files(bucket, "pinterest.geo")
    problems = {f.path.key: f.problem for f in files}
    assert len(problems) == 3
    assert problems["topics/pinterest.geo/partition=0/pinterest.geo+0+0000000000.json"] is None
    assert "not a JSON-lines file" in problems["topics/pinterest.geo/partition=0/notes.txt"]
    assert "partition=<p>" in problems["topics/pinterest.geo/pinterest.geo+0+0000000009.json"]
    assert layout.list_topics(bucket) == ["other.topic", "pinterest.geo"]
    assert layout.stray_files(bucket) == [S3Path(bucket.bucket, "topics/stray.json")]
    assert layout.remove_orphaned_temp_files(bucket, ["pinterest.geo"]) == 0  # none on S3
    assert layout.list_files(location(f"{s3_bucket}/empty"), "pinterest.geo") == []


def test_partition_writers_never_take_each_others_files(s3_bucket: str) -> None:
    """Two producers into one bucket: the second one's file name is taken, and S3's
    conditional put (If-None-Match) refuses it instead of overwriting."""
    bucket = location(s3_bucket)
    first = layout.PartitionWriter(bucket, "pinterest.user", 0, flush_size=10)
    second = layout.PartitionWriter(bucket, "pinterest.user", 0, flush_size=10)
    first.append(b'{"ind": 1}')
    first.flush()
    second.append(b'{"ind": 2}')
    with pytest.raises(FileExistsError, match="another producer"):
        second.flush()
    assert layout.read_records(first.files[0]) == [b'{"ind": 1}']
    third = layout.PartitionWriter(bucket, "pinterest.user", 0, flush_size=10)
    assert third.offset == 1  # continues after what is there


def test_produce_to_an_s3_bucket(s3_bucket: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", bucket=f"{s3_bucket}/direct")
    rows = {
        "pin": {"index": 1, "category": "art"},
        "geo": {"ind": 1, "country": "Peru"},
        "user": {"ind": 1, "age": 30},
    }
    events = [(i, rows) for i in range(7)]
    result = write_events(settings, iter(events), ProduceToBucket(flush_size=3))
    assert result.records == {"pin": 7, "geo": 7, "user": 7}
    bucket = settings.bucket_dir
    for table in ("pin", "geo", "user"):
        files = layout.list_files(bucket, settings.topic(table))
        assert [f.first_offset for f in files] == [0, 3, 6]
        assert sum(layout.count_records(f.path) for f in files) == 7
        assert result.files[table] == [str(f.path) for f in files]
    assert not (tmp_path / "home" / "bucket").exists()  # nothing local
    # the bucket is the producer's: a sink is named to it, and the producer writes on
    assert layout.claim_writer(bucket, layout.SINK) == (
        f"pinlake's `{layout.PRODUCER}` of the home {settings.home} ({layout.WRITER_FILE})"
    )
    sinks = Settings(home=tmp_path / "home", bucket=f"{s3_bucket}/sunk")
    assert layout.claim_writer(sinks.bucket_dir, layout.SINK) is None
    with pytest.raises(PinlakeError, match="is written by pinlake's `sink` \\("):
        write_events(sinks, iter(events), ProduceToBucket(flush_size=3))
    assert layout.list_files(sinks.bucket_dir, settings.topic("pin")) == []


def test_missing_bucket_and_unreachable_server_are_one_clear_error(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = Settings(home=tmp_path / "home", bucket="s3://no-such-bucket-pinlake/x")
    with pytest.raises(PinlakeError, match="S3 bucket 'no-such-bucket-pinlake' does not exist"):
        write_events(missing, iter([]), ProduceToBucket())
    from pinlake.services.process import free_ports

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    down = Settings(home=tmp_path / "home", bucket=s3_bucket)
    with pytest.raises(PinlakeError, match="cannot be used: S3 head bucket"):
        write_events(down, iter([]), ProduceToBucket())


def test_an_s3_error_says_what_to_do_about_this_homes_server(
    s3_server,
    s3_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """helper-109: a typo in ``AWS_ENDPOINT_URL``'s port, the home's S3 server killed, a bucket
    that does not exist and half a key pair each gave a line without what to do. The home here
    is the session server's (it runs at ``AWS_ENDPOINT_URL``); the hints are the same for
    ``sink`` (:func:`pinlake.bucket.layout.bucket_error`, ``require_s3_bucket``)."""
    from pinlake.cli import main
    from pinlake.services.process import free_ports

    home = s3_server.settings
    served = s3_server.env["AWS_ENDPOINT_URL"]
    up = f"{PINLAKE} services up --s3"
    missing = home.model_copy(update={"bucket": "s3://no-such-bucket-pinlake"})
    with pytest.raises(PinlakeError) as failed:
        write_events(missing, iter([]), ProduceToBucket())
    assert str(failed.value) == (
        "S3 bucket 'no-such-bucket-pinlake' does not exist (s3://no-such-bucket-pinlake): "
        # (the session's server runs without the ingestion services: up_hint)
        f"`PINLAKE_BUCKET=s3://no-such-bucket-pinlake {PINLAKE} services up --no-ingestion --s3` "
        "creates it"
    )
    # a home whose server does not run there: no command would create it
    other = Settings(home=tmp_path / "other", bucket="s3://no-such-bucket-pinlake")
    with pytest.raises(PinlakeError) as failed:
        write_events(other, iter([]), ProduceToBucket())
    assert str(failed.value).endswith("does not exist (s3://no-such-bucket-pinlake)")
    # the endpoint on another port of this machine, the home's server running
    free, another = free_ports(2)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free}")
    with pytest.raises(PinlakeError) as failed:
        write_events(home.model_copy(update={"bucket": s3_bucket}), iter([]), ProduceToBucket())
    assert str(failed.value).startswith(
        f"the topics bucket cannot be used: S3 head bucket {s3_bucket}"
    )
    assert str(failed.value).endswith(
        f"(AWS_ENDPOINT_URL and AWS_REGION choose the endpoint): this home's S3 server runs at "
        f"{served}, not there: check AWS_ENDPOINT_URL"
    )
    # a home whose server is not running: at its port, the command that starts it; at another
    # port, where it would start
    stopped = Settings(home=tmp_path / "other", s3=S3Settings(port=free), bucket=s3_bucket)
    with pytest.raises(PinlakeError) as failed:
        write_events(stopped, iter([]), ProduceToBucket())
    assert str(failed.value).endswith(f"the endpoint): start this home's S3 server with `{up}`")
    elsewhere = stopped.model_copy(update={"s3": S3Settings(port=another)})
    with pytest.raises(PinlakeError) as failed:
        write_events(elsewhere, iter([]), ProduceToBucket())
    assert str(failed.value).endswith(
        f"the endpoint): no server of this home is there (`{up}` starts its S3 server at "
        f"http://127.0.0.1:{another})"
    )
    # land's listing, through the CLI: the same hint, one line, exit 1
    monkeypatch.setenv("PINLAKE_BUCKET", s3_bucket)
    monkeypatch.setenv("PINLAKE_S3__PORT", str(free))
    with pytest.raises(SystemExit) as exit_info:
        main(["--home", str(tmp_path / "other"), "land"])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert sum(line.startswith("error:") for line in lines) == 1, lines
    line = lines[-1]
    assert line.startswith(f"error: the topics bucket cannot be listed: S3 head bucket {s3_bucket}")
    assert line.endswith(
        f": start this home's S3 server with `{PINLAKE.at(tmp_path / 'other')} services up --s3`"
    )
    # half a key pair
    monkeypatch.setenv("AWS_ENDPOINT_URL", served)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PinlakeError) as failed:
        write_events(home.model_copy(update={"bucket": s3_bucket}), iter([]), ProduceToBucket())
    assert str(failed.value) == (
        "the topics bucket cannot be used: S3 client: Partial credentials found in env, "
        "missing: AWS_SECRET_ACCESS_KEY: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "together, or neither (then AWS_PROFILE or another source of boto3's chain)"
    )
    # the other half (helper-110: "no AWS credentials" alone)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask for
    with pytest.raises(PinlakeError) as failed:
        write_events(home.model_copy(update={"bucket": s3_bucket}), iter([]), ProduceToBucket())
    assert (
        f"S3 head bucket {s3_bucket}: no AWS credentials (AWS_SECRET_ACCESS_KEY is set without "
        "AWS_ACCESS_KEY_ID): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ) in str(failed.value)


def test_the_server_runs_as_a_supervised_service(s3_server) -> None:
    """The session's server is the service module's: its pid file, config record and health."""
    from pinlake.services import process
    from pinlake.services import s3_server as service

    settings = s3_server.settings
    running = process.running(settings.run_dir, service.NAME)
    assert running is not None and running.config == {"port": settings.s3.port}
    assert service.healthy(settings)
    assert service.url(settings) == s3_server.env["AWS_ENDPOINT_URL"]
    assert isinstance(settings.bucket_dir, Path)


def test_a_shell_with_an_aws_profile_the_machine_lacks_leaves_the_servers_errors_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server runs without the shell's ``AWS_`` variables (s3_server.server_env): started
    from a shell whose ``AWS_PROFILE`` names a profile this machine lacks, moto answered every
    S3 error with 500 (its error path opens a botocore session: ProfileNotFound), so a
    create-only write into a taken name and a read of a missing object failed as server faults
    (two tests of this file, from such a shell)."""
    from pinlake.services import s3_server as service
    from pinlake.services.process import free_ports

    for name, value in {
        "AWS_PROFILE": "no-such-profile",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    (port,) = free_ports(1)
    settings = Settings(home=tmp_path / "home", s3=S3Settings(port=port))
    pid = service.start(settings)
    try:
        service.wait_healthy(settings, timeout=60, pid_=pid)
        for name, value in {**service.client_env(settings), **service.LOCAL_CREDENTIALS}.items():
            monkeypatch.setenv(name, value)
        # services up --s3 creates the bucket with the shell's profile still set (it crashed:
        # ProfileNotFound, helper-69)
        assert service.create_bucket(settings, "pinlake-profile")
        monkeypatch.delenv("AWS_PROFILE")  # the client's own; the server never reads it
        path = layout.file_path(location("s3://pinlake-profile"), "pinterest.pin", 0, 0)
        layout.write_new(path, [b"{}"])
        with pytest.raises(FileExistsError):  # S3's 412 PreconditionFailed, not a 500
            layout.write_new(path, [b"[]"])
        with pytest.raises(_client().exceptions.NoSuchKey):  # 404, not a 500
            _client().get_object(Bucket="pinlake-profile", Key="missing")
    finally:
        service.stop(settings)


def test_the_servers_environment_has_no_aws_variables() -> None:
    from pinlake.services.s3_server import server_env

    shell = {"AWS_PROFILE": "work", "AWS_REGION": "eu-west-1", "PATH": "/bin", "MOTO_X": "1"}
    assert server_env(shell) == {"PATH": "/bin", "MOTO_X": "1", "DO_NOT_TRACK": "1"}


def test_a_shell_behind_a_proxy_reaches_the_local_server_directly(
    s3_bucket: str, s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A company network's shell sets ``HTTP_PROXY`` and the others, and botocore and httpx
    follow them for every host ``NO_PROXY`` does not name: the bucket's S3 client and the
    server's health check went to the proxy for ``127.0.0.1`` ("Failed to connect to proxy
    URL"). Both reach the server on loopback directly (pinlake.loopback)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProxyConnectionError
    from pinlake_testing import behind_a_proxy

    from pinlake.services import s3_server as service

    behind_a_proxy(monkeypatch)
    # the shell's proxy is real to any other client: botocore's own default goes to it
    with pytest.raises(ProxyConnectionError):
        boto3.client("s3", config=Config(retries={"max_attempts": 1})).list_buckets()
    monkeypatch.setattr(layout, "_S3_CLIENTS", {})  # not the clients made before the proxy came
    assert service.healthy(s3_server.settings)
    assert service.create_bucket(s3_server.settings, "pinlake-behind-a-proxy")
    path = layout.file_path(location(s3_bucket), "pinterest.geo", 0, 0)
    layout.write_new(path, [b'{"ind": 1}'])
    assert layout.read_records(path) == [b'{"ind": 1}']
    assert [f.path for f in layout.list_files(location(s3_bucket), "pinterest.geo")] == [path]


def test_services_up_warns_when_nothing_serves_the_buckets_endpoint_on_this_machine(
    s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An S3 bucket whose ``AWS_ENDPOINT_URL`` is on loopback where nothing answers:
    ``services up`` without ``--s3`` said nothing, and sink and land failed later
    (helper-70). One warning line naming the variable and the bucket, and ``--s3`` when the
    port is this home's server's; none for a server that answers, AWS's own endpoint, or a
    folder bucket."""
    from pinlake.services import manager, process
    from pinlake.services import s3_server as service

    ours, other = process.free_ports(2)
    # the broker and the API on free ports: its `services up` must not meet whatever else runs
    # on this machine's defaults (a new user's Kafka on 9092 failed it with "port in use")
    settings = isolated_settings(tmp_path).model_copy(
        update={"bucket": "s3://pinlake-topics", "s3": S3Settings(port=ours)}
    )
    at_ours = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{ours}"}
    assert service.serves_endpoint(settings, at_ours)
    assert service.serves_endpoint(settings, {"AWS_ENDPOINT_URL": f"http://localhost:{ours}/"})
    assert not service.serves_endpoint(settings, {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{other}"})
    # the S3 variable first, as boto3 reads them
    assert not service.serves_endpoint(
        settings, {**at_ours, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{other}"}
    )
    assert service.unserved_endpoint(settings, at_ours) == (
        f"AWS_ENDPOINT_URL=http://127.0.0.1:{ours} is this machine, but nothing answers there: "
        "sink, land and produce --to bucket cannot reach PINLAKE_BUCKET=s3://pinlake-topics; "
        f"`{PINLAKE} services up --s3` starts pinlake's S3 server there and creates the bucket"
    )
    elsewhere = service.unserved_endpoint(
        settings, {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{other}"}
    )
    assert elsewhere is not None and elsewhere.startswith(
        f"AWS_ENDPOINT_URL_S3=http://127.0.0.1:{other} "
    )
    # at another port, the command that starts pinlake's server there (helper-71: the plain
    # `services up --s3` started it at this home's port, and the warning came again)
    assert elsewhere.endswith(
        f"`PINLAKE_S3__PORT={other} {PINLAKE} services up --s3` starts pinlake's S3 server there "
        "and creates the bucket, unless another S3 server is meant to listen there"
    ), elsewhere
    answering = {"AWS_ENDPOINT_URL": s3_server.env["AWS_ENDPOINT_URL"]}
    assert service.unserved_endpoint(settings, answering) is None
    assert (
        service.unserved_endpoint(settings, {"AWS_ENDPOINT_URL": "https://s3.amazonaws.com"})
        is None
    )
    assert service.unserved_endpoint(settings, {}) is None
    folder = Settings(home=tmp_path, s3=S3Settings(port=ours))
    assert service.unserved_endpoint(folder, at_ours) is None

    # `services up` prints it before the services start (stopped here at the broker's start)
    def stop_here(settings: Settings, say: object) -> None:
        raise PinlakeError("stopped before the broker")

    monkeypatch.setattr(manager, "start_kafka", stop_here)
    monkeypatch.setenv("AWS_ENDPOINT_URL", at_ours["AWS_ENDPOINT_URL"])
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with pytest.raises(PinlakeError, match="stopped before the broker"):
        manager.start_all(settings)
    out = " ".join(capsys.readouterr().out.split())
    assert f"warning: AWS_ENDPOINT_URL=http://127.0.0.1:{ours} is this machine" in out, out
    # the command it names is this call's, with --s3 (helper-74: `services up --no-stream`
    # was told to run `services up --s3`, which starts the stream query too)
    with pytest.raises(PinlakeError, match="stopped before the broker"):
        manager.start_all(settings, UpRequest(stream=False))
    out = " ".join(capsys.readouterr().out.split())
    assert f"`{PINLAKE} services up --no-stream --s3` starts pinlake's S3 server there" in out, out


def test_the_local_servers_client_variables_leave_a_profile_users_credentials_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``services up --s3`` prints the variables the other commands need: the stand-in keys
    only where the shell has neither a key pair nor a profile. A profile user was told to
    export ``AWS_ACCESS_KEY_ID=test …``, which would take the profile's place for every other
    AWS call of that shell (helper-71); moto takes the profile's keys too."""
    from pinlake.services import manager
    from pinlake.services import s3_server as service

    settings = Settings(home=tmp_path, s3=S3Settings(port=15000))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert service.client_env(settings) == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:15000",
        "AWS_REGION": "us-east-1",
        **service.LOCAL_CREDENTIALS,
    }
    credentials = tmp_path / "credentials"
    credentials.write_text("[dev]\naws_access_key_id = a\naws_secret_access_key = b\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))  # none
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert "AWS_ACCESS_KEY_ID" not in service.client_env(settings)
    hint = manager.s3_hint(settings)
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:15000 AWS_REGION=us-east-1" in hint, hint
    assert "AWS_ACCESS_KEY_ID" not in hint
    # no bucket here; and what signs instead of the stand-in keys (nothing said so: helper-73)
    assert hint.endswith("which creates it; no keys in it: they sign with AWS_PROFILE=dev"), hint
    # a profile that neither file defines: the line says so as sink and land would, instead of
    # sending the user to commands that refuse it
    monkeypatch.setenv("AWS_PROFILE", "nonexistent")
    assert manager.s3_hint(settings).endswith(
        "; but they cannot sign: S3 client: AWS_PROFILE='nonexistent': The config profile "
        f"(nonexistent) could not be found in AWS_CONFIG_FILE='{tmp_path / 'config'}' or "
        f"AWS_SHARED_CREDENTIALS_FILE='{credentials}': unset AWS_PROFILE or create that profile"
    )
    # a key pair in the shell: named as what signs, never its values
    monkeypatch.delenv("AWS_PROFILE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret")
    keys = manager.s3_hint(settings)
    assert keys.endswith("; no keys in it: they sign with this shell's AWS_ACCESS_KEY_ID"), keys
    assert "AKIAEXAMPLE" not in keys and "s3cret" not in keys


def test_services_up_names_a_server_running_from_before_at_its_own_port(s3_server) -> None:
    """``services up`` names the services of the home that run though it did not ask for them:
    an S3 server started with another ``PINLAKE_S3__PORT`` was named at this shell's port
    (helper-72: "also running from before: S3 http://127.0.0.1:5000" for a server on 5999)."""
    from pinlake.services import manager

    shell = Settings(home=s3_server.settings.home)  # this shell: the default port
    assert shell.s3.port != s3_server.settings.s3.port
    named = manager._running_from_before(shell, UpRequest(s3=False))
    assert named == f", also running from before: S3 {s3_server.env['AWS_ENDPOINT_URL']}"
