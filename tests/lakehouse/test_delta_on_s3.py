"""A Delta table itself on ``s3a://`` (moto's S3 server on loopback): Delta's default S3 log store
(``S3SingleDriverLogStore``, one writer at a time) commits every write as an object in
``_delta_log``, and the table reads back every version. The topics bucket on S3 end to end
(sink → S3 → land over s3a://) is tests/integration/test_scale_out.py."""

from __future__ import annotations

import pytest
from s3_env import credential_process

from pinlake.bucket import layout

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_delta_table_on_s3a_commits_and_reads_back(spark, spark_settings, s3_bucket) -> None:
    from pinlake.spark import get_spark

    get_spark(spark_settings)  # the session's S3A settings follow the environment
    table = f"{s3_bucket.replace('s3://', 's3a://')}/warehouse/events"
    spark.range(0, 5).write.format("delta").save(table)
    spark.range(5, 8).write.format("delta").mode("append").save(table)
    spark.sql(f"delete from delta.`{table}` where id = 0")

    assert sorted(r["id"] for r in spark.read.format("delta").load(table).collect()) == list(
        range(1, 8)
    )
    history = spark.sql(f"describe history delta.`{table}`").collect()
    assert sorted(r["version"] for r in history) == [0, 1, 2]
    assert [
        r["id"]
        for r in spark.read.option("versionAsOf", 0)
        .format("delta")
        .load(table)
        .orderBy("id")
        .collect()
    ] == list(range(5))
    bucket = layout.location(s3_bucket)
    keys = layout.s3_client().list_objects_v2(Bucket=bucket.bucket, Prefix="warehouse/events/")
    commits = sorted(
        k["Key"].rsplit("/", 1)[-1]
        for k in keys["Contents"]
        if "/_delta_log/" in k["Key"] and k["Key"].endswith(".json")
    )
    assert commits == [f"{v:020d}.json" for v in range(3)]


def _a_profile_users_shell(
    monkeypatch, bucket: str, profile: str, config: str | None, credentials: str, folder
) -> None:
    """This process's environment as a profile user's shell: ``AWS_PROFILE``, the shared config
    and credentials files (``config`` None: none), no key pair; then one bucket file written by
    the bucket's client (boto3) with it."""
    if config is not None:
        (folder / "config").write_text(config)
    (folder / "credentials").write_text(credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", profile)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setattr(layout, "_S3_CLIENTS", {})
    key = "topics/pinlake.pin/partition=0/pinlake.pin+0+0000000000.json"
    layout.write_atomic(layout.location(bucket) / key, [b'{"index": 7}'])


def test_s3a_signs_with_the_profile_boto3_signs_with(
    spark, spark_settings, s3_bucket, tmp_path, monkeypatch
) -> None:
    """Credentials from a profile of the shared credentials file only (``AWS_PROFILE``, no key
    pair in the environment, as ``aws configure --profile`` leaves a laptop): the bucket's
    client writes with it and the session reads the same object over ``s3a://`` (S3A's
    default chain does not read the file: ``NoAuthWithAWSException``). The session was
    given a key pair before (the fixture's environment); :func:`~pinlake.spark.get_spark`
    takes it off again, or new file systems would go on signing with it."""
    from pinlake.spark import get_spark

    get_spark(spark_settings)  # the fixture's key pair, as any earlier S3 test of the worker
    _a_profile_users_shell(
        monkeypatch,
        s3_bucket,
        "dev",
        config=None,
        credentials="[dev]\naws_access_key_id = test\naws_secret_access_key = test\n",
        folder=tmp_path,
    )

    get_spark(spark_settings)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    assert hadoop.get("fs.s3a.access.key") is None and hadoop.get("fs.s3a.secret.key") is None
    assert hadoop.get("fs.s3a.auth.profile.name") == "dev"
    topics = f"{s3_bucket.replace('s3://', 's3a://')}/topics/"
    assert [row["index"] for row in spark.read.json(topics).collect()] == [7]

    # a profile of the config file alone, its keys from a credential_process (as SSO wrappers
    # and password managers give them): S3A does not read that file; it signs with the keys
    # boto3 resolves (they were refused: helper-71)
    (tmp_path / "config").write_text(f"[profile proc]\n{credential_process(tmp_path)}")
    monkeypatch.setenv("AWS_PROFILE", "proc")
    get_spark(spark_settings)
    assert hadoop.get("fs.s3a.access.key") == "PROCKEY"
    assert hadoop.get("fs.s3a.session.token") == "proctoken"
    assert hadoop.get("fs.s3a.auth.profile.name") is None  # the profile provider's, taken off
    assert [row["index"] for row in spark.read.json(topics).collect()] == [7]


def test_a_profile_s3a_cannot_read_is_one_line(
    spark, spark_settings, s3_bucket, tmp_path, monkeypatch
) -> None:
    """A profile whose keys S3A cannot get (here: the config file's profile lost its keys after
    the write, as an SSO session expires): ``land`` printed the JVM's 234-line traceback
    (helper-71, a profile of the config file alone, which S3A now gets from boto3);
    :func:`~pinlake.spark.spark_errors` makes it one line that names the path, S3A's reason and
    where S3A reads credentials."""
    from pinlake.errors import PinlakeError
    from pinlake.spark import get_spark, spark_errors

    _a_profile_users_shell(  # boto3 writes with it
        monkeypatch,
        s3_bucket,
        "cfgonly",
        config="[profile cfgonly]\naws_access_key_id = test\naws_secret_access_key = test\n",
        credentials="[dev]\naws_access_key_id = test\n",  # not that profile
        folder=tmp_path,
    )
    (tmp_path / "config").write_text("[profile cfgonly]\nregion = us-east-1\n")  # no keys now

    with pytest.raises(PinlakeError) as refused, spark_errors(spark_settings):
        get_spark(spark_settings)
        spark.read.json(f"{s3_bucket.replace('s3://', 's3a://')}/topics/").collect()
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"Spark's s3a:// was refused {s3_bucket.replace('s3://', 's3a://')}")
    assert "no credentials for profile 'cfgonly'" in message, message
    # the profile named, and the AWS CLI's commands that check it (v2: helper-72)
    assert message.endswith(
        "none answered here: check the profile with AWS CLI v2 (`aws sts get-caller-identity "
        "--profile cfgonly`; an SSO session to renew: `aws sso login --profile cfgonly`)"
    ), message
