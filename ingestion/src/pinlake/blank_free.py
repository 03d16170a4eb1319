"""Paths for tools that split them at blanks: a folder whose path holds a blank (a clone or a
home in "my projects/") reached through a link whose path holds none.

Spark's ``bin/load-spark-env.sh`` sources ``${SPARK_CONF_DIR}/spark-env.sh`` unquoted
(:func:`pinlake.spark.conf_dir`), and Debian's ``mariadb-install-db`` runs ``chown $user $dir``
on the data folder unquoted (:func:`pinlake.services.mariadb.prepare`). No pinlake import.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path


def blank_free_path(folder: str) -> str:
    """``folder``, or where it holds a blank, a link to it whose path holds none
    (``<temp folder>/pinlake-<digest of folder>``, made once, in the first of
    :func:`tempfile.gettempdir` and ``/tmp`` whose path holds no blank): from a clone in "my
    projects/" every Spark start printed ``load-spark-env.sh: line 39: …/my: No such file or
    directory`` and ran without pinlake's spark-env.sh (helper-58); with a ``TMPDIR`` that holds
    a blank too, it gave up (helper-68). ``folder`` as it is when no link can be made."""
    if not re.search(r"\s", folder):
        return folder
    name = f"pinlake-{hashlib.sha256(folder.encode()).hexdigest()[:16]}"
    for temp in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        link = Path(temp) / name
        if not re.search(r"\s", str(link)) and _linked(link, folder):
            return str(link)
    return folder


def _linked(link: Path, folder: str) -> bool:
    """Whether ``link`` leads to ``folder`` and is this user's, made here if missing."""
    try:
        link.symlink_to(folder, target_is_directory=True)
    except FileExistsError:
        pass  # made by an earlier start: used if it is this user's and still leads to ``folder``
    except OSError:
        return False
    try:
        own = link.lstat().st_uid == os.getuid()  # not another user's link in a shared folder
    except OSError:
        return False
    return own and link.resolve() == Path(folder).resolve()
