"""Supervision of a local S3-compatible server, the stand-in for Amazon S3 (the topics bucket and,
optionally, Delta tables on ``s3a://``), started by ``pinlake services up --s3``.

The server is moto's (``python -m moto.server``: ``moto[s3]`` with Flask, a real HTTP server
speaking the S3 REST API, the one the boto3 and Hadoop S3A clients use), run as a child process of
this home: listening on ``127.0.0.1:<PINLAKE_S3__PORT>`` only (default 5000, moto's own), pid file
``<home>/run/s3.pid``, log ``<home>/logs/s3.out``. **Its state is in memory**: the buckets and
objects are gone when it stops (``services down``); it is for trying the S3 path and for tests,
never a place to keep data.

Clients find it through the standard AWS variables (:func:`client_env`): ``AWS_ENDPOINT_URL``
(read by boto3, :func:`pinlake.bucket.layout.s3_client`, and mapped to ``fs.s3a.endpoint`` by
:func:`pinlake.spark.s3a_conf`) and any access key pair (moto checks none; ``test``/``test``
when the environment sets none).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from pinlake import run_folder
from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.location import S3Path, aws_key_pair
from pinlake.loopback import get_local, loopback_s3_endpoint
from pinlake.services import process

NAME = run_folder.S3
#: moto accepts any credentials; these are used when the environment gives none (not a secret).
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def url(settings: Settings) -> str:
    """``http://127.0.0.1:<port>``: the server's endpoint URL (``AWS_ENDPOINT_URL``;
    :attr:`pinlake.config.S3Settings.url`)."""
    return settings.s3.url


def config(settings: Settings) -> dict[str, object]:
    """What a running server is tied to (recorded beside its pid file): its port."""
    return {"port": settings.s3.port}


def client_env(settings: Settings) -> dict[str, str]:
    """The variables a client of this server needs: ``AWS_ENDPOINT_URL`` and ``AWS_REGION``
    (``us-east-1`` unless set), plus :data:`LOCAL_CREDENTIALS` unless the environment has an
    access key pair or names a profile (``AWS_PROFILE``: moto takes its keys too, and exported
    keys would take the profile's place for every other AWS call of that shell; helper-71)."""
    env = {
        "AWS_ENDPOINT_URL": url(settings),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
    }
    if not (aws_key_pair(os.environ) or os.environ.get("AWS_PROFILE")):
        env.update(LOCAL_CREDENTIALS)
    return env


def start(settings: Settings) -> int:
    """Start the server in the background (no-op if already running); returns its pid."""
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(settings.s3.port)]
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "s3.out",
        NAME,
        argv,
        env=server_env(os.environ),
        config=config(settings),
    )


def server_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: ``environ`` without its ``AWS_`` variables, telemetry off.

    The shell's AWS settings are a client's, for real AWS; the server is neither. moto answers
    every S3 error (a conditional write's ``412 PreconditionFailed``, a ``404 NoSuchKey``)
    through a botocore session, and a session that cannot read the shell's profile (say
    ``AWS_PROFILE`` naming one this machine lacks: ``ProfileNotFound``) made each of them a
    ``500 Internal Server Error``, so the bucket's create-only writes failed."""
    return {
        **{name: value for name, value in environ.items() if not name.startswith("AWS_")},
        "DO_NOT_TRACK": "1",
    }


def stop(settings: Settings, timeout: float = 10.0) -> bool:
    """Stop the server (its buckets and objects are lost); True if it was running."""
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    """The server's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


def healthy(settings: Settings, timeout: float = 1.0) -> bool:
    """True if the server answers S3's ``ListBuckets`` (``GET /``) with 200."""
    import httpx

    try:
        return get_local(url(settings) + "/", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(settings: Settings, timeout: float = 30.0, pid_: int | None = None) -> None:
    """Wait until :func:`healthy`, asked only once the server's port listens
    (``process.wait_healthy``'s ``ports``); raises PinlakeError if process ``pid_`` exits during
    start-up or the server does not answer after ``timeout`` seconds."""
    log = settings.logs_dir / "s3.out"
    process.wait_healthy(
        lambda: healthy(settings),
        timeout=timeout,
        interval=0.2,
        pid=pid_,
        exited="the S3 server (moto) exited during start-up",
        log=log,
        not_healthy=f"the S3 server on {url(settings)} not healthy after {timeout:.0f}s",
        ports=[settings.s3.port],
    )


def create_bucket(settings: Settings, name: str) -> bool:
    """Create bucket ``name`` on this server; False if it existed. Raises PinlakeError when the
    server refuses (an invalid bucket name)."""
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import ClientError

    env = client_env(settings)
    # this machine's server: none of the shell's AWS profile or config files, which are for
    # real AWS (AWS_PROFILE naming one the machine lacks crashed services up --s3: helper-69)
    own = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    client = boto3.session.Session(botocore_session=own).client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        # moto checks none: the shell's pair, else the stand-ins (not its profile: see above)
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID")
        or LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY")
        or LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(proxies={}),  # this machine's server: never through the shell's proxy
    )
    where = {}
    if env["AWS_REGION"] != "us-east-1":  # S3's rule: other regions are named at creation
        where["CreateBucketConfiguration"] = {"LocationConstraint": env["AWS_REGION"]}
    try:
        client.head_bucket(Bucket=name)
        return False  # us-east-1 answers 200 to creating an existing bucket: ask first
    except ClientError:
        pass
    try:
        client.create_bucket(Bucket=name, **where)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise PinlakeError(f"cannot create bucket {name!r} on {url(settings)}: {code}") from exc
    return True


def serves_endpoint(settings: Settings, environ: Mapping[str, str]) -> bool:
    """Whether the S3 endpoint ``environ`` names is this home's server: on loopback, at
    ``settings.s3.port`` (:func:`pinlake.loopback.loopback_s3_endpoint`). Pure."""
    local = loopback_s3_endpoint(environ)
    return local is not None and local[2] == settings.s3.port


def unserved_endpoint(
    settings: Settings, environ: Mapping[str, str], up: str | None = None
) -> str | None:
    """A warning when ``settings.bucket`` is on S3 and ``environ`` names an S3 endpoint on this
    machine where nothing answers, else None: ``services up`` without ``--s3`` then said
    nothing, and ``sink``, ``land`` and ``produce --to bucket`` failed later (helper-70). The
    warning names the variable, the bucket and the command that starts pinlake's server there:
    ``up`` (default ``pinlake services up --s3``; ``services up`` passes its own call's options,
    :func:`pinlake.services.manager.up_command`), with ``PINLAKE_S3__PORT`` when the port is
    not this home's."""
    local = loopback_s3_endpoint(environ)
    if not isinstance(settings.bucket_dir, S3Path) or local is None:
        return None
    variable, endpoint, port = local
    if process.port_answers(port, host=urlsplit(endpoint).hostname or "127.0.0.1"):
        return None
    # pinlake's server on that port: at another port than this home's, PINLAKE_S3__PORT moves
    # it (helper-71: the advice to run `services up --s3` started it on 5000, and the warning
    # came again)
    up = up or run_folder.up_hint(settings.run_dir, "--s3")
    if port == settings.s3.port:
        fix = f"`{up}` starts pinlake's S3 server there and creates the bucket"
    else:
        fix = (
            f"`PINLAKE_S3__PORT={port} {up}` starts pinlake's S3 server "
            "there and creates the bucket, unless another S3 server is meant to listen there"
        )
    return (
        f"{variable}={endpoint} is this machine, but nothing answers there: sink, land and "
        f"produce --to bucket cannot reach PINLAKE_BUCKET={settings.bucket}; {fix}"
    )
