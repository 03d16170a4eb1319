"""Where a topics bucket lives: a local folder or an S3 location, as one value type.

:func:`location` reads the text a user gives (``PINLAKE_BUCKET``, ``--bucket``):
``s3://<bucket>[/<prefix>]`` (or Hadoop's ``s3a://``) is an :class:`S3Path`, anything else an
absolute local :class:`~pathlib.Path`. The settings validate the bucket with it
(:mod:`pinlake.config`), and the topics-bucket layout (:mod:`pinlake.bucket.layout`, which
re-exports these names) builds every name and path on it. Pure: no I/O, no pinlake import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Union

#: URI schemes of an S3 location: ``s3://`` (AWS, Databricks), ``s3a://`` (Hadoop's name).
S3_SCHEMES = ("s3://", "s3a://")

#: A general purpose bucket's name (AWS, "General purpose bucket naming rules"): 3 to 63
#: lowercase letters, digits, ``.`` and ``-``, beginning and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
#: Prefixes and suffixes AWS reserves for other kinds of bucket and for access-point aliases.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid S3 bucket name, or None when it is one. The rules are AWS's
    "General purpose bucket naming rules" (Amazon S3 User Guide). Hadoop's S3A connector, which
    ``land`` reads the bucket with, takes the bucket from the host part of an ``s3a://`` URI, so
    a name outside them (uppercase, ``_``) would fail only there, as ``bucket is null/empty``."""
    if not _BUCKET_NAME.fullmatch(name):
        return (
            "a bucket name has 3 to 63 characters: lowercase letters, digits, '.' and '-', "
            "beginning and ending with a letter or digit"
        )
    if ".." in name:
        return "a bucket name has no two adjacent periods"
    if _IP_ADDRESS.fullmatch(name):
        return "a bucket name is not an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "the name's prefix or suffix is reserved by AWS"
    return None


@dataclass(frozen=True)
class S3Path:
    """An S3 object key (or key prefix) ``s3://<bucket>/<key>``, with the few pure ``pathlib``
    operations the layout uses (``/``, ``name``, ``parent``, ``parts``, :meth:`relative_to`).
    ``key`` has no leading or trailing ``/`` (``""``: the bucket's root)."""

    bucket: str
    key: str = ""

    def __truediv__(self, part: str) -> S3Path:
        part = str(part).strip("/")
        return S3Path(self.bucket, f"{self.key}/{part}" if self.key else part)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    @property
    def name(self) -> str:
        """The last segment of the key (``""`` for the bucket's root)."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> S3Path:
        """The key prefix one segment up."""
        return S3Path(self.bucket, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    @property
    def parts(self) -> tuple[str, ...]:
        """The key's segments."""
        return tuple(self.key.split("/")) if self.key else ()

    @property
    def prefix(self) -> str:
        """The key as a listing prefix: ``<key>/`` (``""`` for the bucket's root)."""
        return f"{self.key}/" if self.key else ""

    def relative_to(self, other: S3Path) -> PurePosixPath:
        """This key below ``other``'s; raises ValueError when it is not below it."""
        if self.bucket != other.bucket or not self.key.startswith(other.prefix):
            raise ValueError(f"{self} is not below {other}")
        return PurePosixPath(self.key[len(other.prefix) :])


#: Where a bucket, folder or file lives: a local path or an S3 key.
Location = Union[Path, S3Path]  # noqa: UP007  (a runtime alias; ``|`` would need 3.10 types)


def location(value: str | Path | S3Path) -> Location:
    """The :data:`Location` of a bucket given as text: ``s3://<bucket>[/<prefix>]`` or
    ``s3a://…`` as an :class:`S3Path` (trailing ``/`` dropped), anything else as an absolute local
    path. Raises ValueError for an S3 URI without a bucket name or with an invalid one
    (:func:`bucket_name_problem`), and for empty text (it meant the working folder to some
    callers and the default bucket to others)."""
    if isinstance(value, S3Path):
        return value
    text = str(value)
    if not text.strip():
        raise ValueError(f"{text!r}: an empty location: give a folder or s3://<bucket>/<prefix>")
    for scheme in S3_SCHEMES:
        if text.startswith(scheme):
            bucket, _, key = text[len(scheme) :].partition("/")
            if not bucket:
                raise ValueError(f"{text!r}: an S3 location needs a bucket name (s3://<bucket>/…)")
            if problem := bucket_name_problem(bucket):
                raise ValueError(f"{text!r}: {bucket!r} is not a valid S3 bucket name: {problem}")
            return S3Path(bucket, key.strip("/"))
    if other := _URI_SCHEME.match(text):
        # helper-113: ftp://x/y was taken as the folder ./ftp:/x/y, refused only by land later
        raise ValueError(
            f"{text!r}: pinlake does not read {other.group(1)}:// locations: give a folder or "
            "s3://<bucket>/<prefix>"
        )
    return Path(text).expanduser().resolve()


#: A URI's scheme (RFC 3986, section 3.1) followed by ``://``: a location of another kind than
#: a folder or S3 (``ftp://``, ``gs://``, ``hdfs://``, ``file://``).
_URI_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def spark_uri(path: Location) -> str:
    """The name Spark reads ``path`` by: ``s3a://<bucket>/<key>`` for S3 (Hadoop's S3A
    connector, jvm/pom.xml profile ``s3``), the absolute path for a local file."""
    return f"s3a://{path.bucket}/{path.key}" if isinstance(path, S3Path) else str(path)


#: The variables that name an S3 endpoint other than AWS's, in the order boto3 reads them (AWS
#: SDKs and Tools reference guide, "Service-specific endpoints"): the S3 one first.
S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def s3_endpoint(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable, url)`` of the S3 endpoint ``environ`` names (:data:`S3_ENDPOINT_VARIABLES`,
    the first that is set and not empty), or None: AWS's own endpoints. The bucket's client
    (boto3) and Spark's ``s3a://`` both follow it."""
    for variable in S3_ENDPOINT_VARIABLES:
        if environ.get(variable):
            return variable, environ[variable]
    return None


def aws_profile_check(profile: str) -> str:
    """The AWS CLI v2 commands that check ``profile``'s credentials, for a message that found
    none (``sink``'s S3 client, Spark's ``s3a://``): ``aws sts get-caller-identity --profile
    <profile>`` and, for an SSO session to renew, ``aws sso login --profile <profile>`` (AWS
    CLI v2's commands; v1 lacks SSO: helper-72)."""
    return (
        f"check the profile with AWS CLI v2 (`aws sts get-caller-identity --profile {profile}`; "
        f"an SSO session to renew: `aws sso login --profile {profile}`)"
    )


#: The shared AWS files botocore reads: the variable that names each, and its name in ``~/.aws``
#: (the AWS CLI's "Configuration and credential file settings").
AWS_FILES = {"AWS_CONFIG_FILE": "config", "AWS_SHARED_CREDENTIALS_FILE": "credentials"}


def aws_file(environ: Mapping[str, str], variable: str) -> Path | None:
    """The shared AWS file ``variable`` (a key of :data:`AWS_FILES`) names in ``environ``, else
    ``~/.aws/<name>`` (None without ``HOME``), as botocore finds it."""
    given = environ.get(variable)
    if given:
        return Path(given).expanduser()
    return Path(environ["HOME"], ".aws", AWS_FILES[variable]) if environ.get("HOME") else None


def aws_key_pair(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)`` of ``environ`` when both are set (what
    boto3's chain takes first, before any profile), else None."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    return (key, secret) if key and secret else None


#: What a folder that Spark is given cannot hold: ``:`` (Hadoop reads a path's text before it
#: as a URI scheme, and Derby the embedded metastore's as a subprotocol) and the characters
#: Hadoop expands as a file pattern when it lists files (``* ? [ ] { } \``).
SPARK_PATH_FORBIDDEN = ":*?[]{}\\"

#: What a home's path cannot hold: :data:`SPARK_PATH_FORBIDDEN` (its warehouse, metastore and
#: checkpoints are Spark's), and ``;``, which the embedded metastore's Derby URL
#: (``jdbc:derby:;databaseName=<home>/metastore/metastore_db;create=true``) reads as the start
#: of its next attribute: a home ``…/a;b/h`` took ``source init`` and ``produce``, then ``land``
#: failed on the metastore ("Unable to instantiate SessionHiveMetaStoreClient").
HOME_FORBIDDEN = SPARK_PATH_FORBIDDEN + ";"

#: How a home is named in :func:`spark_path_problem`'s line.
HOME_NAMED = "the home (--home, PINLAKE_HOME)"


def spark_path_problem(path: Path, what: str, forbidden: str = SPARK_PATH_FORBIDDEN) -> str | None:
    """The one-line refusal of ``path`` (``what`` names it, e.g. ``the bucket``) when it holds
    a character of ``forbidden`` (:data:`SPARK_PATH_FORBIDDEN`, :data:`HOME_FORBIDDEN` for a
    home); None when it holds none. The one rule of what pinlake's Spark can read: the CLI
    refuses such a home for every command, the producer and the sink such a local bucket
    before writing to it (helper-91: they wrote what ``land`` then refused), and Spark's
    session, dbt's local target and ``land`` both (:func:`pinlake.spark.check_spark_home`)."""
    held = sorted({c for c in str(path) if c in forbidden})
    if not held:
        return None
    derby = "; the metastore's Derby URL ';' as its next attribute" if ";" in forbidden else ""
    return (
        f"{what} {path} holds {', '.join(repr(c) for c in held)}, which the paths Spark is "
        "given cannot hold (Hadoop reads ':' as the end of a URI scheme, * ? [ ] { } \\ as a "
        f"file pattern{derby}): choose a folder without them"
    )
