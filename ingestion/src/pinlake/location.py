"""Where a topics bucket lives: a local folder or an S3 location, as one value type.

:func:`location` reads the text a user gives (``PINLAKE_BUCKET``, ``--bucket``):
``s3://<bucket>[/<prefix>]`` (or Hadoop's ``s3a://``) is an :class:`S3Path`, anything else an
absolute local :class:`~pathlib.Path`. The settings validate the bucket with it
(:mod:`pinlake.config`), and the topics-bucket layout (:mod:`pinlake.bucket.layout`, which
re-exports these names) builds every name and path on it. Pure: no I/O, no pinlake import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Union

#: URI schemes of an S3 location: ``s3://`` (AWS, Databricks), ``s3a://`` (Hadoop's name).
S3_SCHEMES = ("s3://", "s3a://")


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
    path. Raises ValueError for an S3 URI without a bucket name."""
    if isinstance(value, S3Path):
        return value
    text = str(value)
    for scheme in S3_SCHEMES:
        if text.startswith(scheme):
            bucket, _, key = text[len(scheme) :].partition("/")
            if not bucket:
                raise ValueError(f"{text!r}: an S3 location needs a bucket name (s3://<bucket>/…)")
            return S3Path(bucket, key.strip("/"))
    return Path(text).expanduser().resolve()


def spark_uri(path: Location) -> str:
    """The name Spark reads ``path`` by: ``s3a://<bucket>/<key>`` for S3 (Hadoop's S3A
    connector, jvm/pom.xml profile ``s3``), the absolute path for a local file."""
    return f"s3a://{path.bucket}/{path.key}" if isinstance(path, S3Path) else str(path)
