"""The topics-bucket layout on S3 locations, pure: parsing bucket URIs, the same names and keys
as on a folder, classification of keys, Spark's s3a:// names, and the S3A settings the standard
AWS variables map to."""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from s3_env import credential_process

from pinlake.bucket.layout import (
    S3Path,
    classify,
    file_path,
    location,
    parse_file_name,
    spark_uri,
    topic_dir,
)
from pinlake.config import Settings
from pinlake.location import bucket_name_problem
from pinlake.spark import s3a_conf

topics = st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True)


@pytest.mark.parametrize(
    ("text", "bucket", "key"),
    [
        ("s3://pinlake-topics", "pinlake-topics", ""),
        ("s3://pinlake-topics/", "pinlake-topics", ""),
        ("s3://bkt/some/prefix/", "bkt", "some/prefix"),
        ("s3a://bkt/some/prefix", "bkt", "some/prefix"),
        ("s3://my.bucket-2/p", "my.bucket-2", "p"),
        (f"s3://{'a' * 63}", "a" * 63, ""),
    ],
)
def test_s3_uris_parse_to_a_bucket_and_key(text: str, bucket: str, key: str) -> None:
    parsed = location(text)
    assert parsed == S3Path(bucket, key)
    assert str(parsed) == (f"s3://{bucket}/{key}" if key else f"s3://{bucket}")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Bad_Bucket", "3 to 63 characters: lowercase letters"),  # a new user's try
        ("ab", "3 to 63 characters"),
        ("a" * 64, "3 to 63 characters"),
        ("-bucket", "beginning and ending with a letter or digit"),
        ("bucket.", "beginning and ending with a letter or digit"),
        ("my..bucket", "no two adjacent periods"),
        ("192.168.5.4", "not an IP address"),
        ("xn--bucket", "reserved by AWS"),
        ("data-s3alias", "reserved by AWS"),
        ("data--ol-s3", "reserved by AWS"),
    ],
)
def test_an_invalid_bucket_name_is_refused_with_its_rule(name: str, problem: str) -> None:
    """AWS's general purpose bucket naming rules (Amazon S3 User Guide); the S3A connector that
    ``land`` reads with cannot address a bucket outside them."""
    assert problem in (bucket_name_problem(name) or "")
    with pytest.raises(ValueError, match=f"'{re.escape(name)}' is not a valid S3 bucket name"):
        location(f"s3://{name}/prefix")
    assert bucket_name_problem("pinlake-topics") is None


def test_anything_else_is_an_absolute_local_folder(tmp_path: Path) -> None:
    assert location(str(tmp_path / "b")) == tmp_path / "b"
    assert location("relative/b") == Path.cwd() / "relative" / "b"
    with pytest.raises(ValueError, match="bucket name"):
        location("s3:///key")


def test_the_layout_keys_are_the_folder_layout() -> None:
    bucket = location("s3://pinlake-topics/prod")
    path = file_path(bucket, "pinterest.pin", 3, 1200)
    assert path == S3Path(
        "pinlake-topics", "prod/topics/pinterest.pin/partition=3/pinterest.pin+3+0000001200.json"
    )
    assert str(path) == f"s3://pinlake-topics/{path.key}"
    assert path.name == "pinterest.pin+3+0000001200.json"
    assert path.parent == S3Path("pinlake-topics", "prod/topics/pinterest.pin/partition=3")
    assert spark_uri(path) == f"s3a://pinlake-topics/{path.key}"
    assert spark_uri(Path("/x/a.json")) == "/x/a.json"
    # the same relative layout as a local bucket
    local = file_path(Path("/b"), "pinterest.pin", 3, 1200)
    assert path.key.removeprefix("prod/") == str(local.relative_to("/b"))


@given(topics, st.integers(0, 1000), st.integers(0, 10**12))
def test_s3_layout_files_classify_like_local_ones(topic: str, partition: int, offset: int):
    bucket = S3Path("b", "p")
    path = file_path(bucket, topic, partition, offset)
    found = classify(topic, path, path.relative_to(topic_dir(bucket, topic)))
    assert (found.partition, found.first_offset, found.problem) == (partition, offset, None)
    assert parse_file_name(path.name) == (topic, partition, offset)


def test_s3_keys_that_break_the_layout_have_a_problem() -> None:
    root = topic_dir(S3Path("b"), "pinterest.geo")
    cases = {
        "partition=0/notes.txt": "not a JSON-lines file",
        "loose.json": "not directly in a partition=<p> folder",
        "partition=0/pinterest.geo+1+0.json": "names topic 'pinterest.geo' partition 1",
        "partition=0/sub/pinterest.geo+0+0.json": "not directly in a partition=<p> folder",
    }
    for relative, problem in cases.items():
        found = classify("pinterest.geo", root / relative, PurePosixPath(relative))
        assert found.problem is not None and problem in found.problem, relative
        assert found.first_offset is None
    with pytest.raises(ValueError):
        S3Path("other", "topics/x").relative_to(root)


def test_settings_keep_an_s3_bucket_as_a_uri(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, bucket="s3a://pinlake-topics/dev/")
    assert settings.bucket == "s3://pinlake-topics/dev"
    assert settings.bucket_dir == S3Path("pinlake-topics", "dev")
    assert settings.child_env()["PINLAKE_BUCKET"] == "s3://pinlake-topics/dev"
    assert Settings(home=tmp_path).bucket_dir == tmp_path / "bucket"


def test_s3a_settings_come_from_the_standard_aws_variables() -> None:
    assert s3a_conf({}) == {}
    local = s3a_conf(
        {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
        }
    )
    assert local == {
        "fs.s3a.endpoint": "http://127.0.0.1:5000",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.access.key": "id",
        "fs.s3a.secret.key": "secret",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }
    aws = s3a_conf(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_SESSION_TOKEN": "token",
        }
    )
    assert "fs.s3a.endpoint" not in aws and aws["fs.s3a.endpoint.region"] == "eu-west-1"
    assert aws["fs.s3a.session.token"] == "token"
    assert aws["fs.s3a.aws.credentials.provider"].endswith("TemporaryAWSCredentialsProvider")
    # an https endpoint (another S3-compatible service) keeps TLS
    assert s3a_conf({"AWS_ENDPOINT_URL_S3": "https://s3.example"})[
        "fs.s3a.connection.ssl.enabled"
    ] == ("true")


def test_an_s3_bucket_without_credentials_names_the_aws_variables(monkeypatch, tmp_path) -> None:
    """No credentials anywhere in boto3's chain: one error that says which variables to set
    (botocore raises before any request leaves, so no server is needed)."""
    from pinlake.bucket import layout

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role either
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    # a client, and boto3's default session, made before in this process hold the credentials
    # they resolved then: new ones
    import boto3

    monkeypatch.setattr(layout, "_S3_CLIENTS", {})
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(layout.BucketAccessError) as caught:
        layout.bucket_exists(S3Path("bucket-only"))
    message = str(caught.value)
    assert message.startswith("S3 head bucket s3://bucket-only: no AWS credentials")
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_ENDPOINT_URL" in message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        # without http:// (helper-62): botocore's ValueError ended sink, land and produce in an
        # 83-line traceback
        ("AWS_ENDPOINT_URL", "127.0.0.1:5000", "AWS_ENDPOINT_URL='127.0.0.1:5000' is not an"),
        ("AWS_ENDPOINT_URL_S3", "notaurl", "AWS_ENDPOINT_URL_S3='notaurl' is not an endpoint URL"),
        ("AWS_REGION", "bad region", "region_name 'bad region' doesn't match a supported format"),
        # helper-70: botocore's words did not name the variable, nor where profiles are read
        (
            "AWS_PROFILE",
            "no-such-profile",
            "AWS_PROFILE='no-such-profile': The config profile (no-such-profile) could not be",
        ),
    ],
)
def test_an_aws_variable_boto3_refuses_is_one_error_naming_it(
    monkeypatch, tmp_path, variable: str, value: str, expected: str
) -> None:
    """Before any request leaves, boto3 refuses some values of the AWS variables: one
    :class:`~pinlake.bucket.layout.BucketAccessError` that names the value (and the variable
    where botocore's words do not), as the CLI prints it."""
    import boto3

    from pinlake.bucket import layout

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(layout, "_S3_CLIENTS", {})
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(layout.BucketAccessError) as caught:
        layout.bucket_exists(S3Path("pinlake-topics"))
    message = str(caught.value)
    assert message.startswith("S3 client: ") and expected in message, message
    if variable == "AWS_REGION":
        assert "(AWS_REGION, AWS_DEFAULT_REGION)" in message
    if variable == "AWS_PROFILE":
        assert f"found in AWS_CONFIG_FILE={str(tmp_path / 'none')!r} or " in message, message
        assert message.endswith("unset AWS_PROFILE or create that profile"), message
    assert layout._S3_CLIENTS == {}  # nothing kept: the next call tries the variables again


def test_a_profile_whose_credential_process_fails_is_one_line_with_the_checks(
    monkeypatch, tmp_path
) -> None:
    """A ``credential_process`` that fails (an SSO wrapper whose session expired): botocore's
    error kept the process's stderr, newline and all, a blank line after the error, and said
    nothing of how to check the profile (helper-73). One line naming the profile, the process's
    words and the AWS CLI commands that check it."""
    import boto3

    from pinlake.bucket import layout

    script = "import sys; sys.stderr.write('Token for sso session has expired\\n'); sys.exit(1)"
    (tmp_path / "config").write_text(
        f'[profile expired]\ncredential_process = {sys.executable} -c "{script}"\n'
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "expired")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(layout, "_S3_CLIENTS", {})
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with pytest.raises(layout.BucketAccessError) as caught:
        layout.bucket_exists(S3Path("pinlake-topics"))
    assert str(caught.value) == (
        "S3 client: the keys of profile 'expired' (AWS_PROFILE): Error when retrieving "
        "credentials from custom-process: Token for sso session has expired: check the profile "
        "with AWS CLI v2 (`aws sts get-caller-identity --profile expired`; an SSO session to "
        "renew: `aws sso login --profile expired`)"
    )


def test_s3a_reads_the_profile_boto3_reads_from_the_shared_credentials_file(tmp_path) -> None:
    """Without a key pair in the environment boto3 signs with a profile of the shared
    credentials file; S3A's default chain does not read that file (``land`` failed with
    ``NoAuthWithAWSException`` after ``sink`` wrote with the profile), so its profile provider
    is set on that file, for the same profile, then the instance role."""
    credentials = tmp_path / "credentials"
    credentials.write_text("[dev]\naws_access_key_id = id\naws_secret_access_key = secret\n")
    chain = (
        "org.apache.hadoop.fs.s3a.auth.ProfileAWSCredentialsProvider,"
        "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"
    )
    named = s3a_conf({"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_PROFILE": "dev"})
    assert named == {
        "fs.s3a.aws.credentials.provider": chain,
        "fs.s3a.auth.profile.file": str(credentials),
        "fs.s3a.auth.profile.name": "dev",
    }
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(credentials.read_text())
    at_home = s3a_conf({"HOME": str(tmp_path), "AWS_REGION": "eu-west-1"})
    assert at_home["fs.s3a.auth.profile.file"] == str(tmp_path / ".aws" / "credentials")
    assert at_home["fs.s3a.auth.profile.name"] == "default"  # boto3's when AWS_PROFILE is unset
    assert at_home["fs.s3a.endpoint.region"] == "eu-west-1"
    # the provider refuses a file that does not exist, and with it the whole chain: not set
    assert s3a_conf({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}) == {}
    assert s3a_conf({"HOME": str(tmp_path / "elsewhere"), "AWS_PROFILE": "dev"}) == {}
    # a key pair in the environment comes first, as in boto3's chain
    keys = s3a_conf(
        {
            "HOME": str(tmp_path),
            "AWS_PROFILE": "dev",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
        }
    )
    assert keys["fs.s3a.aws.credentials.provider"].endswith(".SimpleAWSCredentialsProvider")
    assert "fs.s3a.auth.profile.file" not in keys


def test_s3a_signs_with_the_keys_boto3_resolves_outside_the_credentials_file(tmp_path) -> None:
    """A profile whose keys boto3 takes from elsewhere than the credentials file, which Hadoop's
    profile provider reads alone: a ``credential_process`` (as SSO wrappers and password
    managers give them) and keys in the config file. ``land`` failed with S3A's refusal after
    ``sink`` had written with the profile; now S3A gets the keys boto3 resolves (temporary ones
    with their token). A profile of the credentials file stays on Hadoop's provider."""
    (tmp_path / "config").write_text(
        f"[profile proc]\n{credential_process(tmp_path)}"
        "[profile cfg]\naws_access_key_id = CFGKEY\naws_secret_access_key = cfgsecret\n"
        f"[profile broken]\ncredential_process = {sys.executable} -c 'raise SystemExit(3)'\n"
        "[profile dev]\nregion = eu-west-1\n"
    )
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = devsecret\n"
    )
    files = {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    temporary = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
    assert s3a_conf({**files, "AWS_PROFILE": "proc"}) == {
        "fs.s3a.access.key": "PROCKEY",
        "fs.s3a.secret.key": "procsecret",
        "fs.s3a.session.token": "proctoken",
        "fs.s3a.aws.credentials.provider": temporary,
    }
    assert s3a_conf({**files, "AWS_PROFILE": "cfg"}) == {
        "fs.s3a.access.key": "CFGKEY",
        "fs.s3a.secret.key": "cfgsecret",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }
    # the credentials file's profile: Hadoop reads the file itself (keys never copied)
    dev = s3a_conf({**files, "AWS_PROFILE": "dev"})
    assert dev["fs.s3a.auth.profile.name"] == "dev" and "fs.s3a.access.key" not in dev
    # a process that fails: no keys here, no crash (boto3's client names the failure in sink)
    broken = s3a_conf({**files, "AWS_PROFILE": "broken"})
    assert broken["fs.s3a.auth.profile.name"] == "broken" and "fs.s3a.access.key" not in broken


def test_a_changed_secret_gets_a_new_s3_client(monkeypatch) -> None:
    """One client per configuration (``layout.s3_client``): the secret and the session token
    are part of it, so a process whose credentials change does not go on signing with the old
    ones (the key held the access key id and the profile only)."""
    from pinlake.bucket import layout

    monkeypatch.setattr(layout, "_S3_CLIENTS", {})
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "pinlake")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first")
    first = layout.s3_client()
    assert layout.s3_client() is first  # the same configuration: the same client
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second")
    second = layout.s3_client()
    assert second is not first
    assert second._request_signer._credentials.secret_key == "second"
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    assert layout.s3_client() is not second
