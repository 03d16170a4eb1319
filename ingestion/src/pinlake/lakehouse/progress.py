"""Which of the batch path's steps (:data:`pinlake.console.PIECES`) a home has done, read from
what each step leaves there, without Spark and without creating anything: where the hint of a
command that found nothing to read starts (:func:`next_steps`).

A hint that named every step from ``source init`` sent the user of a home whose source had rows
to a command that refuses such a source (helper-81: ``land --bucket <a missing folder>``); one
that named ``produce`` on a home whose bucket was written would have added a second copy of its
events. A step counts as done only where its result is seen:

- ``source init``: the home's source database holds a row (:func:`pinlake.source.db.holds_rows`);
- ``produce --to bucket``: the home's topics bucket holds a file of the layout
  (:mod:`pinlake.bucket.layout`);
- ``land``: a raw table holds committed data (:func:`pinlake.lakehouse.tables.landed_anything`);
- ``dbt build``: a mart of the ``local`` target's warehouse holds committed data.

A step whose result cannot be seen cheaply (a source on another server, a bucket that cannot be
listed, marts of another target) counts as not done, and the hint names it as before.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from pinlake.bucket.layout import BucketAccessError, list_files, list_topics
from pinlake.config import Settings
from pinlake.console import PIECES, steps_before
from pinlake.lakehouse.tables import holds_committed_data, landed_anything, schema_folder
from pinlake.schemas import MARTS_SCHEMA


def bucket_written(settings: Settings) -> bool:
    """Whether the home's topics bucket (``Settings.bucket_dir``, a folder or ``s3://…``) holds
    a file named as the layout names them. False when it cannot be listed. Never raises."""
    bucket = settings.bucket_dir
    try:
        return any(
            found.problem is None
            for topic in list_topics(bucket)
            for found in list_files(bucket, topic)
        )
    except (BucketAccessError, OSError):
        return False


def marts_built(settings: Settings) -> bool:
    """Whether a mart of the home's warehouse (the ``local`` target's, ``<warehouse>/marts.db``)
    holds committed data, read from the Delta logs. Never raises."""
    try:
        folders = list(schema_folder(settings, MARTS_SCHEMA).iterdir())
    except OSError:
        return False
    return any(holds_committed_data(folder) for folder in folders if folder.is_dir())


def source_filled(settings: Settings) -> bool:
    """:func:`pinlake.source.db.holds_rows` (SQLAlchemy imported only when a hint asks)."""
    from pinlake.source.db import holds_rows

    return holds_rows(settings)


def marts_built_at(settings: Settings) -> datetime | None:
    """When a mart of the home's warehouse (the ``local`` target's) last committed: the newest
    commit file of their Delta logs (``_delta_log/<version>.json``), in UTC; None when there
    is none. Never raises."""
    newest = None
    try:
        for commit in schema_folder(settings, MARTS_SCHEMA).glob("*/_delta_log/*.json"):
            with contextlib.suppress(OSError):
                newest = max(newest or 0.0, commit.stat().st_mtime)
    except OSError:
        return None
    return None if newest is None else datetime.fromtimestamp(newest, timezone.utc)


#: The check of each step before ``export``, in :data:`PIECES` order.
DONE_CHECKS = {
    "source init": source_filled,
    "produce --to bucket": bucket_written,
    "land": landed_anything,
    "dbt build": marts_built,
}


def steps_done(settings: Settings, piece: str) -> int:
    """How many of the :data:`PIECES` before ``piece``, from the first, the home has done (the
    first step not done ends the count; its checks run in order and stop there). Raises
    ValueError for a ``piece`` not in :data:`PIECES`."""
    done = 0
    for step in PIECES[: PIECES.index(piece)]:
        if not DONE_CHECKS[step](settings):
            break
        done += 1
    return done


def next_steps(settings: Settings, piece: str, last: str | None = None) -> str:
    """The hint of a command that found nothing to read on the home of ``settings``:
    :func:`pinlake.console.steps_before` from the first step it has not done up to ``piece``
    (``last`` written for ``piece``)."""
    return steps_before(piece, last, steps_done(settings, piece))
