"""The topics-bucket layout, the one place that knows it.

It is the Confluent S3 sink connector's (``DefaultPartitioner``, ``JsonFormat``; see Confluent's
"Amazon S3 Sink Connector" docs, *S3 object names*)::

    <bucket>/topics/<topic>/partition=<p>/<topic>+<p>+<first offset>.json[.gz]

* one record value per line, ``\\n``-terminated, exactly as delivered (a line that is not JSON
  stays: land quarantines it); so a file's record count is its line count;
* ``.json.gz``: the same, gzip-compressed (the connector's ``s3.compression.type=gzip``); pinlake's
  own writers write plain ``.json``, every reader reads both (:func:`read_records`);
* ``<first offset>`` is the Kafka offset of the file's first record, zero-padded to
  :data:`OFFSET_WIDTH` digits (the connector's ``filename.offset.zero.pad.width`` default) and
  always parsed as a number, never compared as text;
* files are written durably and atomically by :func:`write_atomic` (temp file
  ``.<name>.<pid>.tmp`` in the same folder, fsync, rename, fsync of the folder), so a reader
  never sees a partial file and a crash never loses an acknowledged one;
  :func:`remove_orphaned_temp_files` removes what a writer killed mid-write left behind.

**Where the bucket lives.** A local folder (a :class:`~pathlib.Path`) or an S3 location
``s3://<bucket>/<prefix>`` (an :class:`S3Path`; ``PINLAKE_BUCKET=s3://…``, ``--bucket s3://…``),
made by :func:`location` (:mod:`pinlake.location`, re-exported here). The layout functions
(names, paths, :func:`classify`) are pure and work on both; the I/O functions
(:func:`write_atomic`, :func:`write_or_verify`, listing, reading,
:func:`remove_orphaned_temp_files`) dispatch on the kind. On S3 a file is one object
written by a single ``PutObject``: S3 never shows a partly written object and answers only once
the object is stored durably (strong read-after-write consistency), so no temp objects exist and
nothing is left to clean up; a new file is put with ``If-None-Match: *`` (S3 conditional
writes), so two writers never overwrite each other's file. The S3 client is boto3's, configured
only by the standard environment variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``; see :func:`s3_client`);
:func:`spark_uri` gives Spark's ``s3a://`` name of a file (:mod:`pinlake.spark` configures
``s3a`` from the same variables).

Writers: :class:`PartitionWriter` (``pinlake produce --to bucket``) and
:mod:`pinlake.bucket.sink`, one per bucket: the first records itself in :data:`WRITER_FILE`
beside ``topics/`` as it writes its first file, and the other refuses that bucket before it
reads a record (:func:`other_writer`, :func:`claim_writer`). Readers:
:func:`list_files` (land, summaries, tests), which lists every file of a
topic folder, each either a layout file or one with the reason it is not
(:attr:`BucketFile.problem`), so that no file is skipped in silence. The Databricks DAG's load
SQL takes its file-name patterns from :data:`PARTITION_SQL_REGEX`,
:data:`OFFSET_SQL_REGEX` and :data:`FILE_SQL_GLOB`.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

import psutil

from pinlake.console import PINLAKE
from pinlake.errors import PinlakeError, one_line
from pinlake.location import (  # noqa: F401
    AWS_FILES,
    S3_SCHEMES,
    Location,
    S3Path,
    aws_profile_check,
    location,
    s3_endpoint,
    spark_path_problem,
    spark_uri,
)

# where a bucket lives: re-exported, the layout's callers name them from here
from pinlake.loopback import on_loopback

if TYPE_CHECKING:
    from pinlake.config import Settings

TOPICS_DIR = "topics"
EXTENSION = ".json"
#: The extensions of layout files: plain JSON lines, and gzip-compressed (the Confluent S3 sink's
#: ``JsonFormat`` with ``s3.compression.type`` ``none`` or ``gzip``, its only two choices).
EXTENSIONS = (".json", ".json.gz")
OFFSET_WIDTH = 10

_FILE_NAME = re.compile(
    r"^(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d+)(?P<extension>\.json(?:\.gz)?)$"
)
_PARTITION_DIR = re.compile(r"^partition=(?P<partition>\d+)$")
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
#: Spark SQL ``regexp_extract`` patterns over a file path / name (group 1), for SQL loaders.
PARTITION_SQL_REGEX = "partition=([0-9]+)"
OFFSET_SQL_REGEX = "[+]([0-9]+)[.]json([.]gz)?$"
#: Glob of the layout files below a topic folder, in the Hadoop glob syntax of SQL loaders
#: (Databricks ``COPY INTO … PATTERN``): ``partition=*/*+*+*.{json,json.gz}``.
FILE_SQL_GLOB = "partition=*/*+*+*.{" + ",".join(e.lstrip(".") for e in EXTENSIONS) + "}"


def flush_size_problem(records: int) -> str | None:
    """Why ``records`` cannot be the record count of the files a writer writes (its flush
    size: at least 1, a layout file holds at least one record), or None when it can. The one
    rule of the sink (:class:`~pinlake.bucket.sink.SinkOptions`) and the producer
    (:class:`~pinlake.produce.ProduceToBucket`); the CLI's ``--flush-size`` is at least 1."""
    return None if records >= 1 else f"{records} is not a record count of at least 1"


@dataclass(frozen=True)
class BucketFile:
    """One file of a topic folder. ``problem`` says why it is not a layout file (its name or
    folder does not follow the layout, or its extension is not one of :data:`EXTENSIONS`); then
    ``first_offset`` is None (and ``partition`` too unless its folder gives it), and land
    records the file with that reason instead of guessing."""

    topic: str
    path: Location
    partition: int | None
    first_offset: int | None
    problem: str | None = None
    #: bytes, as listed (None when not known)
    size: int | None = None
    #: when it was last written, as listed (seconds since the epoch; None when not known): a
    #: file written again after it was landed is newer than its landing
    modified: float | None = None

    @property
    def gzip(self) -> bool:
        """Whether the file is gzip-compressed (``.json.gz``)."""
        return self.path.name.endswith(".gz")

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """Delivery order: partition, then first offset, as numbers (odd names last)."""
        big = 2**63
        return (
            big if self.partition is None else self.partition,
            big if self.first_offset is None else self.first_offset,
            self.path.name,
        )


def topic_dir(bucket: Location, topic: str) -> Location:
    """``<bucket>/topics/<topic>``."""
    return bucket / TOPICS_DIR / topic


def partition_dir(bucket: Location, topic: str, partition: int) -> Location:
    """``<bucket>/topics/<topic>/partition=<partition>``."""
    return topic_dir(bucket, topic) / f"partition={partition}"


def file_name(topic: str, partition: int, first_offset: int) -> str:
    """``<topic>+<partition>+<first offset, zero-padded>.json``."""
    return f"{topic}+{partition}+{first_offset:0{OFFSET_WIDTH}d}{EXTENSION}"


def file_path(bucket: Location, topic: str, partition: int, first_offset: int) -> Location:
    """Where the file of ``topic``/``partition`` starting at ``first_offset`` lives."""
    return partition_dir(bucket, topic, partition) / file_name(topic, partition, first_offset)


def parse_file_name(name: str) -> tuple[str, int, int] | None:
    """``(topic, partition, first offset)`` of a layout file name, else None."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    return match["topic"], int(match["partition"]), int(match["offset"])


def classify(
    topic: str,
    path: Location,
    relative: PurePosixPath | Path,
    size: int | None = None,
    modified: float | None = None,
) -> BucketFile:
    """``path`` (at ``relative`` below the topic folder of ``topic``, ``size`` bytes, last
    written at ``modified``) as a :class:`BucketFile`: a layout file, or one whose ``problem``
    says which rule of the layout it breaks."""
    folder = _PARTITION_DIR.match(relative.parts[0]) if len(relative.parts) == 2 else None
    partition = int(folder["partition"]) if folder else None
    match = _FILE_NAME.match(path.name)
    if folder is None:
        problem = "not directly in a partition=<p> folder of its topic"
    elif match is None:
        if path.name.endswith(EXTENSIONS):
            problem = "file name is not <topic>+<partition>+<offset>.json[.gz]"
        else:
            problem = f"not a JSON-lines file (extension is not {' or '.join(EXTENSIONS)})"
    elif match["topic"] != topic or int(match["partition"]) != partition:
        problem = f"file name names topic {match['topic']!r} partition {match['partition']}"
    else:
        return BucketFile(topic, path, partition, int(match["offset"]), None, size, modified)
    return BucketFile(topic, path, partition, None, problem, size, modified)


# ---- S3 ------------------------------------------------------------------------------------
class BucketAccessError(OSError):
    """An S3 request failed (unreachable endpoint, missing bucket, no credentials, denied): the
    message names the request, the location and S3's error code."""


class EndpointUnreachable(BucketAccessError):
    """The S3 endpoint did not answer (botocore's ``EndpointConnectionError``): the commands
    add what to do when it is on this machine (:func:`pinlake.run_folder.s3_unreachable_hint`)."""


def s3_client() -> Any:
    """boto3's S3 client, configured by the standard AWS environment variables only (secrets
    never in a file pinlake writes): ``AWS_ENDPOINT_URL_S3``, else ``AWS_ENDPOINT_URL`` (an
    S3-compatible server such as ``pinlake services up --s3``; then path-style addressing;
    boto3's order of the two), ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (or any other source of boto3's credential
    chain: profile, instance role), ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``; default
    ``us-east-1``), and the proxy variables, except for an endpoint on loopback
    (:func:`pinlake.loopback.on_loopback`). One client per process and configuration: endpoint,
    region, profile and the three credential variables (clients are thread-safe; a changed
    secret gets a new one).

    Raises :class:`BucketAccessError` naming the variable when boto3 refuses one before any
    request (an endpoint that is not a URL, ``127.0.0.1:5000`` without ``http://``; a region
    that is not one; an unknown profile; a config file it cannot parse; a profile whose
    ``credential_process`` or SSO session fails, with the AWS CLI commands that check it):
    botocore's ``ValueError`` or ``BotoCoreError``, which ended ``sink``/``land``/``produce`` in a
    traceback (helper-62); on one line."""
    endpoint_variable, endpoint = s3_endpoint(os.environ) or (None, None)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    credentials = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    key = (endpoint, region, *(os.environ.get(name) for name in credentials))
    client = _S3_CLIENTS.get(key)
    if client is None:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import (
            BotoCoreError,
            CredentialRetrievalError,
            InvalidRegionError,
            PartialCredentialsError,
            ProfileNotFound,
        )

        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=60,
            # a server on this machine, never through the shell's HTTP(S)_PROXY (botocore's
            # proxies come from the environment only when this is None; pinlake.loopback)
            proxies={} if endpoint and on_loopback(endpoint) else None,
        )
        try:
            # a session of its own: boto3's default one keeps the credentials it resolved first
            session = boto3.session.Session()
            client = session.client("s3", endpoint_url=endpoint, region_name=region, config=config)
        except InvalidRegionError as exc:
            raise BucketAccessError(f"S3 client: {exc} (AWS_REGION, AWS_DEFAULT_REGION)") from exc
        except ValueError as exc:  # botocore's check of the endpoint URL
            raise BucketAccessError(
                f"S3 client: {endpoint_variable}={endpoint!r} is not an endpoint URL ({exc}): "
                "give the scheme, host and port, e.g. http://127.0.0.1:5000"
            ) from exc
        except ProfileNotFound as exc:  # the AWS CLI refuses the same way; say which variable
            raise BucketAccessError(
                f"S3 client: AWS_PROFILE={os.environ.get('AWS_PROFILE')!r}: {exc} in "
                f"{_aws_file('AWS_CONFIG_FILE')} or {_aws_file('AWS_SHARED_CREDENTIALS_FILE')}: "
                "unset AWS_PROFILE or create that profile"
            ) from exc
        except CredentialRetrievalError as exc:  # a credential_process or SSO that failed
            profile = os.environ.get("AWS_PROFILE") or "default"
            raise BucketAccessError(
                f"S3 client: the keys of profile {profile!r} (AWS_PROFILE): {_one_line(exc)}: "
                f"{aws_profile_check(profile)}"
            ) from exc
        except PartialCredentialsError as exc:  # one key of the pair (helper-109: no hint)
            raise BucketAccessError(
                f"S3 client: {_one_line(exc)}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "together, or neither (then AWS_PROFILE or another source of boto3's chain)"
            ) from exc
        except BotoCoreError as exc:  # e.g. a config file it cannot parse (botocore names it)
            raise BucketAccessError(f"S3 client: {_one_line(exc)}") from exc
        _S3_CLIENTS[key] = client
    return client


_S3_CLIENTS: dict[tuple, Any] = {}


def _one_line(exc: Exception) -> str:
    """``exc``'s text on one line: botocore keeps a failed ``credential_process``'s stderr,
    newline and all (a blank line after the error: helper-73)."""
    return one_line(str(exc))


def s3_client_problem() -> str | None:
    """Why :func:`s3_client` refuses this environment's settings (an unknown ``AWS_PROFILE``, a
    region or endpoint that is not one, a config file it cannot parse), as the one line
    ``sink``/``land``/``produce`` would stop with; ``None`` when it accepts them. Sends no
    request: for the commands that print what the others will need (``services up --s3``,
    ``make airflow``), so that they do not promise what those would refuse."""
    try:
        s3_client()
    except BucketAccessError as exc:
        return str(exc)
    return None


def _aws_file(variable: str) -> str:
    """Where botocore reads the shared AWS file ``variable`` names
    (:data:`pinlake.location.AWS_FILES`), for an error message: ``variable``'s value, else
    ``~/.aws/<name>``."""
    value = os.environ.get(variable)
    return f"{variable}={value!r}" if value else f"~/.aws/{AWS_FILES[variable]}"


def _s3_call(what: str, path: S3Path, call, **kwargs):
    """Run one S3 request; its failures become :class:`BucketAccessError` (``NoSuchKey`` as
    :class:`FileNotFoundError`, a failed ``If-None-Match`` as :class:`FileExistsError`); no
    credentials or no answer from the endpoint name the AWS variables that set them."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    try:
        return call(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("NoSuchKey", "404") or (status == 404 and code != "NoSuchBucket"):
            raise FileNotFoundError(f"{path}: no such object") from exc
        if code == "PreconditionFailed" or status == 412:
            raise FileExistsError(f"{path} already exists") from exc
        raise BucketAccessError(f"S3 {what} {path}: {code} {error.get('Message', '')}") from exc
    except NoCredentialsError as exc:
        # boto3 reads the pair only whole, and says nothing of a secret without its key id
        # (helper-110: half a pair named only when the key id was the half set)
        half = (
            " (AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID)"
            if os.environ.get("AWS_SECRET_ACCESS_KEY") and not os.environ.get("AWS_ACCESS_KEY_ID")
            else ""
        )
        raise BucketAccessError(
            f"S3 {what} {path}: no AWS credentials{half}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), and AWS_ENDPOINT_URL for an S3-compatible "
            f"server (`{PINLAKE} services up --s3` prints the lines)"
        ) from exc
    except EndpointConnectionError as exc:
        raise EndpointUnreachable(
            f"S3 {what} {path}: {exc} (AWS_ENDPOINT_URL and AWS_REGION choose the endpoint)"
        ) from exc
    except BotoCoreError as exc:
        raise BucketAccessError(f"S3 {what} {path}: {_one_line(exc)}") from exc


def _s3_list(
    prefix: S3Path, delimiter: bool = False
) -> tuple[dict[str, tuple[int, float]], list[str]]:
    """``({key: (size in bytes, last modified as seconds since the epoch)}, common prefixes)``
    below ``prefix`` (every page; with ``delimiter``, only the level directly below it)."""
    client = s3_client()
    paginator = client.get_paginator("list_objects_v2")
    kwargs = {"Bucket": prefix.bucket, "Prefix": prefix.prefix}
    if delimiter:
        kwargs["Delimiter"] = "/"
    keys: dict[str, tuple[int, float]] = {}
    prefixes: list[str] = []

    def pages() -> None:
        for page in paginator.paginate(**kwargs):
            keys.update(
                (item["Key"], (item["Size"], item["LastModified"].timestamp()))
                for item in page.get("Contents", ())
            )
            prefixes.extend(item["Prefix"] for item in page.get("CommonPrefixes", ()))

    _s3_call("list", prefix, pages)
    return keys, prefixes


def _s3_get(path: S3Path) -> bytes:
    response = _s3_call("get", path, s3_client().get_object, Bucket=path.bucket, Key=path.key)
    return _s3_call("read", path, response["Body"].read)


def _s3_put(path: S3Path, body: bytes, create_only: bool) -> None:
    kwargs = {"Bucket": path.bucket, "Key": path.key, "Body": body}
    if create_only:
        kwargs["IfNoneMatch"] = "*"  # S3 conditional write: fails (412) if the key exists
    _s3_call("put", path, s3_client().put_object, **kwargs, ContentType="application/json")


# ---- I/O on either kind of location --------------------------------------------------------
def require_s3_bucket(bucket: S3Path, settings: Settings) -> None:
    """Raise :class:`PinlakeError` ``S3 bucket '<name>' does not exist (s3://<name>…)`` when
    ``bucket`` does not exist, with the command that creates it on this home's S3 server
    (:func:`pinlake.run_folder.s3_missing_bucket_hint`); for both writers (``sink``,
    ``produce --to bucket``). Raises :class:`BucketAccessError` as :func:`bucket_exists`."""
    from pinlake.run_folder import s3_missing_bucket_hint

    if not bucket_exists(bucket):
        raise PinlakeError(
            f"S3 bucket {bucket.bucket!r} does not exist ({bucket})"
            f"{s3_missing_bucket_hint(settings, str(bucket))}"
        )


def bucket_error(exc: OSError, doing: str, settings: Settings) -> PinlakeError:
    """The one line of a command that cannot use the topics bucket: ``the topics bucket cannot
    be <doing>: <error_text>``, and what to do when the S3 endpoint on this machine did not
    answer (:func:`pinlake.run_folder.s3_unreachable_hint`). ``sink``, ``land`` (``doing``:
    ``"listed"``) and ``produce --to bucket``."""
    from pinlake.run_folder import s3_unreachable_hint

    hint = s3_unreachable_hint(settings) if isinstance(exc, EndpointUnreachable) else ""
    return PinlakeError(f"the topics bucket cannot be {doing}: {error_text(exc)}{hint}")


def bucket_exists(bucket: Location) -> bool:
    """Whether the bucket can be read: a local folder, or an S3 bucket this process may list
    (the prefix need not exist yet). Raises :class:`BucketAccessError` when S3 cannot be
    reached or denies the request."""
    if isinstance(bucket, S3Path):
        try:
            _s3_call("head bucket", bucket, s3_client().head_bucket, Bucket=bucket.bucket)
        except FileNotFoundError:
            return False
        except BucketAccessError as exc:
            if "NoSuchBucket" in str(exc):
                return False
            raise
        return True
    return bucket.is_dir()


def exists(path: Location) -> bool:
    """Whether the file ``path`` exists."""
    if isinstance(path, S3Path):
        try:
            _s3_call("head", path, s3_client().head_object, Bucket=path.bucket, Key=path.key)
        except FileNotFoundError:
            return False
        return True
    return path.exists()


def read_bytes(path: Location) -> bytes:
    """The stored bytes of a file (compressed as stored). Raises FileNotFoundError, OSError."""
    return _s3_get(path) if isinstance(path, S3Path) else path.read_bytes()


def list_files(bucket: Location, topic: str) -> list[BucketFile]:
    """Every file below the topic folder of ``topic`` except the temp files of writers, in
    delivery order (:attr:`BucketFile.sort_key`): the layout files and, with their ``problem``,
    the files that break the layout (see :func:`classify`). On S3: every object below the
    topic's key prefix (a folder is a key prefix)."""
    root = topic_dir(bucket, topic)
    if isinstance(root, S3Path):
        keys, _ = _s3_list(root)
        found = [
            classify(topic, path, path.relative_to(root), size, modified)
            for key, (size, modified) in keys.items()
            if not key.endswith("/")
            for path in (S3Path(root.bucket, key),)
        ]
    else:
        found = []
        for path in root.rglob("*"):
            if _TEMP_NAME.match(path.name):
                continue
            if path.is_file():
                relative, stat = path.relative_to(root), path.stat()
                found.append(classify(topic, path.resolve(), relative, stat.st_size, stat.st_mtime))
            elif (problem := not_a_file(path)) is not None:  # its folder read by classify
                placed = classify(topic, path.absolute(), path.relative_to(root))
                found.append(dataclasses.replace(placed, first_offset=None, problem=problem))
    return sorted(found, key=lambda f: f.sort_key)


def not_a_file(path: Path) -> str | None:
    """Why a local entry of a topics bucket that is no regular file is reported, so that no
    entry is passed over in silence (README: every file under ``topics/`` is accounted for): a
    symbolic link to nothing, a FIFO, socket or device, or a folder named as a layout file
    (``….json``, ``….json.gz``). None for a regular file and for any other folder (a folder
    of the layout, whose entries are listed themselves)."""
    if path.is_symlink() and not path.exists():
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "a folder, not a file" if path.name.endswith(EXTENSIONS) else None
    if not path.is_file():
        return "not a regular file (a FIFO, socket or device)"
    return None


def list_topics(bucket: Location) -> list[str]:
    """The topic folders under ``<bucket>/topics``, by name."""
    root = bucket / TOPICS_DIR
    if isinstance(root, S3Path):
        _, prefixes = _s3_list(root, delimiter=True)
        return sorted(p[len(root.prefix) :].rstrip("/") for p in prefixes)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def stray_files(bucket: Location) -> list[Location]:
    """Files under ``<bucket>/topics`` that are not in a topic folder (directly in ``topics/``)."""
    root = bucket / TOPICS_DIR
    if isinstance(root, S3Path):
        keys, _ = _s3_list(root, delimiter=True)
        return sorted((S3Path(root.bucket, k) for k in keys if k != root.prefix), key=str)
    if not root.is_dir():
        return []
    return sorted(
        p.resolve() if p.is_file() else p.absolute()
        for p in root.iterdir()
        if not p.is_dir() and not _TEMP_NAME.match(p.name)
    )


def open_records(path: Location) -> BinaryIO:
    """A binary reader of a layout file's decompressed bytes (gzip by the ``.gz`` extension).
    Raises OSError (``gzip.BadGzipFile``, ``EOFError`` for a truncated one) while reading; on
    S3 the object is fetched whole (files are at most a flush's worth of records)."""
    if isinstance(path, S3Path):
        raw: BinaryIO = io.BytesIO(_s3_get(path))
        return gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_records(path: Location) -> list[bytes]:
    """The records (lines, without ``\\n``) of a layout file, plain or gzip."""
    with open_records(path) as handle:
        lines = handle.read().split(b"\n")
    if lines[-1] == b"":  # the last line's terminator (a file without one keeps its tail)
        lines.pop()
    return lines


def count_records(path: Location) -> int:
    """Records in a bucket file (plain or gzip): its ``\\n``-terminated lines (blank ones
    included: a blank line is a delivered record that land quarantines)."""
    with open_records(path) as handle:
        return sum(1 for _ in handle)


def next_offset(bucket: Location, topic: str, partition: int) -> int:
    """The offset after the last record of ``topic``/``partition`` in the bucket (0 if none)."""
    files = [
        f
        for f in list_files(bucket, topic)
        if f.partition == partition and f.first_offset is not None
    ]
    if not files:
        return 0
    last = files[-1]
    return last.first_offset + count_records(last.path)


def error_text(exc: OSError) -> str:
    """``<path>: <the system's words>`` of a file system or S3 error, for a writer's one error
    line (its text when it has no path or no words)."""
    return f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)


def _body(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def write_atomic(path: Location, lines: list[bytes], create_only: bool = False) -> None:
    """Write ``lines`` (each without its ``\\n``) to ``path`` durably and atomically; with
    ``create_only``, only if ``path`` does not exist yet (else FileExistsError, ``path``
    untouched).

    Local: temp file ``.<name>.<pid>.tmp`` beside it, fsync, then ``os.replace`` (or, with
    ``create_only``, a hard link to the name, which the file system makes only when the name is
    free: the check and the write are one step, POSIX ``link``/``EEXIST``; then the temp name is
    removed), fsync of the folder (so the rename itself survives a power loss). A failed write
    leaves no temp file; raises OSError. S3: one ``PutObject`` (atomic and durable by S3's
    contract: no temp object; ``create_only``: conditional, ``If-None-Match: *``); raises
    :class:`BucketAccessError`.
    """
    if isinstance(path, S3Path):
        _s3_put(path, _body(lines), create_only=create_only)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            with open(tmp, "wb") as handle:
                handle.write(_body(lines))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            if exc.filename is not None:
                raise
            # write and fsync name no file (a full disk: "No space left on device"): this one
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        if create_only:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


#: ``link`` errors of a file system without hard links (some network and FUSE file systems).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def _link_new(tmp: Path, path: Path) -> None:
    """Give ``tmp``'s file the name ``path`` if that name is free (FileExistsError if not).
    Where the file system has no hard links, the name is checked first, then ``tmp`` renamed:
    two writers that pass the check at once could then both write (the only case left)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists") from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        if path.exists():
            raise FileExistsError(f"{path} already exists") from None
        os.replace(tmp, path)


def write_new(path: Location, lines: list[bytes]) -> None:
    """:func:`write_atomic` of a file that must not exist yet; raises FileExistsError when it
    does (another writer took the name), leaving it as that writer wrote it. The check and the
    write are one step, so two writers never both succeed: on a local file system a hard link
    to the free name, on S3 one conditional ``PutObject`` (``If-None-Match: *``). (A check
    followed by ``os.replace`` let two ``produce --to bucket`` runs into one bucket both pass
    it: the one that reported success had lost files to the other, 3 of 5 runs: helper-56.)"""
    write_atomic(path, lines, create_only=True)


def write_or_verify(path: Location, lines: list[bytes]) -> bool:
    """Write ``lines`` to ``path`` (:func:`write_new`) unless the file exists; an existing
    file must hold exactly these lines (a re-delivery of the same offsets). Returns True when it
    wrote. Raises :class:`FileExistsError` when the file holds other records: another writer (a
    ``produce --to bucket`` into the same bucket) used these offsets, and overwriting it would
    lose its records."""
    try:
        write_new(path, lines)
        return True
    except FileExistsError:
        if read_bytes(path) == _body(lines):
            return False
        raise FileExistsError(
            f"{path} holds other records than the {len(lines)} delivered from its first offset: "
            f"another writer (e.g. `{PINLAKE} produce --to bucket`) used this bucket, or the topic "
            "was deleted and created again (its offsets started over)"
        ) from None


#: The bucket's record of its one writer, beside ``topics/`` (outside the layout, so no reader
#: of it lists the file): :func:`claim_writer`.
WRITER_FILE = "_pinlake_writer.json"
#: The two writers a bucket can have: both name files by offset, the sink by Kafka's and
#: ``produce --to bucket`` by its own count, so each would take the other's names.
SINK = "sink"
PRODUCER = "produce --to bucket"


def check_landable(bucket: Location) -> None:
    """Raise PinlakeError (one line) when ``bucket`` is a local folder whose path ``land``'s
    Spark cannot read (:func:`pinlake.location.spark_path_problem`): the producer and the sink
    check it before they write (helper-91: they filled a bucket ``…/b[bold]x`` that ``land``
    then refused). An S3 location has no such path."""
    problem = isinstance(bucket, Path) and spark_path_problem(bucket.absolute(), "the bucket")
    if problem:
        raise PinlakeError(problem)


def other_writer(bucket: Location, writer: str) -> str | None:
    """The writer :data:`WRITER_FILE` records for ``bucket`` when it is not ``writer``, for a
    message ("pinlake's `sink` of the home /data/h1 (_pinlake_writer.json)": the writer's home,
    when the record has it, not the home of the command that asks: helper-82 was told that its
    own home wrote a bucket it never had); None when none is recorded or it is ``writer``. Reads
    only: a writer asks it before it reads a record, and records itself with
    :func:`claim_writer` when it writes its first file. Raises OSError
    (:class:`BucketAccessError` on S3) when the record cannot be read."""
    path = bucket / WRITER_FILE
    if not exists(path):
        return None
    text = read_bytes(path)
    try:
        record = json.loads(text)
        recorded, home = record["writer"], record.get("home")
    except (ValueError, TypeError, KeyError, AttributeError):
        return f"a writer {WRITER_FILE} does not name (it holds {text[:60]!r})"
    if recorded == writer:
        return None
    of_home = f" of the home {home}" if isinstance(home, str) and home else ""
    return f"pinlake's `{recorded}`{of_home} ({WRITER_FILE})"


#: How a refusal names each writer.
_WRITER_WORDS = {SINK: "the sink", PRODUCER: "the producer"}


def writer_refusal(bucket: Location, writer: str, other: str) -> str:
    """The one line of ``writer`` (:data:`SINK`, :data:`PRODUCER`) refused ``bucket``, which
    ``other`` writes (:func:`other_writer`, :func:`claim_writer`). The commands it names are
    written when it is called (the home of the command that runs, ``--home``; a table of them
    made at import named none: helper-82), and the refused command is named as "the same
    command", so that a ``sink --once`` stays one."""
    return (
        f"the topics bucket {bucket} is written by {other}, and a bucket has one writer: the"
        " sink names its files by Kafka's offsets, so the two would take each other's names."
        f" Give {_WRITER_WORDS[writer]} a bucket of its own: the same command with --bucket DIR"
        f" (or PINLAKE_BUCKET), then `{PINLAKE} land --bucket DIR`"
    )


def claim_writer(bucket: Location, writer: str, home: Path | None = None) -> str | None:
    """Record ``writer`` (:data:`SINK` or :data:`PRODUCER`) of ``home`` (its pinlake home, named in
    the other writer's refusal) as ``bucket``'s one writer in :data:`WRITER_FILE` unless a
    writer is recorded there; returns the other writer (:func:`other_writer`) when the bucket is
    that one's, None when it is ``writer``'s (now or from before). A writer claims the bucket as
    it writes its first file, so a run that writes nothing leaves it free (an empty ``sink
    --once`` locked the producer out). The record is one create-only write (:func:`write_new`),
    so two writers starting at once never both get the bucket. A bucket written before writers
    were recorded goes to the first that claims it. (Before, ``produce --to bucket`` into a
    sink's bucket took the next offsets' names, and the sink then stopped on that partition at
    the file it found there.) Raises OSError (:class:`BucketAccessError` on S3) when the record
    cannot be written or read."""
    path = bucket / WRITER_FILE
    if not exists(path):
        try:
            record = {"writer": writer, **({"home": str(home)} if home is not None else {})}
            write_new(path, [json.dumps(record).encode()])
            return None
        except FileExistsError:  # another writer's claim came first
            pass
    return other_writer(bucket, writer)


def remove_orphaned_temp_files(bucket: Location, topics: list[str]) -> int:
    """Remove temp files of writers that died mid-write (their pid is gone); temp files of a
    live writer (producer or sink) are left alone. Returns how many were removed. On S3 there
    are none (a file is one ``PutObject``, see the module): returns 0."""
    if isinstance(bucket, S3Path):
        return 0
    removed = 0
    for topic in topics:
        for tmp in topic_dir(bucket, topic).glob("partition=*/.*.tmp"):
            match = _TEMP_NAME.match(tmp.name)
            if match and not psutil.pid_exists(int(match["pid"])):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


class PartitionWriter:
    """Appends records to one topic partition of the bucket as layout files of up to
    ``flush_size`` records, continuing after the records already there (a second run appends,
    never overwrites). Raises :class:`FileExistsError` if another writer took a file name."""

    def __init__(self, bucket: Location, topic: str, partition: int, flush_size: int) -> None:
        self.bucket = bucket
        self.topic = topic
        self.partition = partition
        self.flush_size = flush_size
        remove_orphaned_temp_files(bucket, [topic])
        self.first_offset = self.offset = next_offset(bucket, topic, partition)
        self.files: list[Location] = []
        self._buffer: list[bytes] = []

    @property
    def records(self) -> int:
        """Records written by this writer so far."""
        return self.offset - self.first_offset

    def append(self, line: bytes) -> None:
        """Buffer one record (one JSON text, no newline); writes a file every ``flush_size``."""
        self._buffer.append(line)
        if len(self._buffer) >= self.flush_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records as one file (no-op when empty)."""
        if not self._buffer:
            return
        target = file_path(self.bucket, self.topic, self.partition, self.offset)
        try:
            write_new(target, self._buffer)
        except FileExistsError:
            raise FileExistsError(
                f"{target} already exists (is another producer writing?)"
            ) from None
        self.offset += len(self._buffer)
        self.files.append(target)
        self._buffer = []
