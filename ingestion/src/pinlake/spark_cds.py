"""The Spark driver's class-data archive: JDK Application Class-Data Sharing (CDS) for the JVM
behind every Spark session pinlake opens (:func:`pinlake.spark.get_spark`, dbt's ``local`` target).

A Spark driver with Delta and the Hive metastore loads tens of thousands of classes from a few
hundred jars before its first query, and the JVM parses and verifies each one. A dynamic CDS
archive (JEP 350, ``-XX:ArchiveClassesAtExit``) holds them parsed and verified, written once by
``make setup`` (:mod:`pinlake.spark_cds_build`) from a short session that runs
the statements pinlake's steps run; every later driver maps it (``-XX:SharedArchiveFile``) and
starts on less CPU (bench/README.md has the figures). Classes it lacks load as usual.

The JDK uses an archive only with the JVM and the class path it was made with, and otherwise
runs without it (the options here keep that silent). So the file name carries a key of both
(:func:`archive_file`): the ``java`` binary, the driver's class path and the size and time of
every jar on it; a session whose key has no archive (a PostgreSQL metastore's driver jar, new jars
before ``make setup``) starts as before. The JDK also refuses a class path that holds a
non-empty folder, and Spark's launcher puts ``SPARK_CONF_DIR`` on it: conf/spark-env.sh
swaps that folder for an empty one (``PINLAKE_SPARK_CLASSPATH_CONF_DIR``, :func:`launcher_env`)
once the launcher has read it; the logging configuration goes by ``-Dlog4j2.configurationFile``.
Source: JDK 17 "Class Data Sharing" (docs.oracle.com/en/java/javase/17/vm/class-data-sharing.html).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pinlake.config import Settings, java_executable, spark_home

#: The JDK's CDS log tags: quiet, so that a driver whose archive the JDK refuses (another JVM,
#: changed jars) starts without it and without a warning on the user's terminal.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def _jars(classpath: str) -> list[Path]:
    """The files a class path names, its ``dir/*`` wildcards expanded as the JVM does."""
    files: list[Path] = []
    for entry in classpath.split(os.pathsep):
        if entry.endswith("*"):
            files.extend(sorted(Path(entry[:-1]).glob("*.jar")))
        elif entry:
            files.append(Path(entry))
    return files


def archive_key(driver_classpath: str) -> str:
    """16 hex digits of a SHA-256 over the ``java`` binary Spark's launcher runs
    (:func:`pinlake.config.java_executable`, resolved) and, for
    every jar on the driver's class path (``driver_classpath``, then Spark's own ``jars/*``),
    its path, size and modification time: what the JDK checks before it maps an archive."""
    digest = hashlib.sha256()
    java = java_executable()
    digest.update(str(java.resolve() if java else None).encode())
    for jar in _jars(f"{driver_classpath}{os.pathsep}{spark_home() / 'jars'}/*"):
        try:
            stat = jar.stat()
        except OSError:
            digest.update(f"{jar} missing\n".encode())
        else:
            digest.update(f"{jar} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cds_dir(settings: Settings) -> Path:
    """``<jars_dir>/cds``: the archives and the empty folder the launcher is given."""
    return settings.jars_dir / "cds"


def archive_file(settings: Settings, driver_classpath: str) -> Path:
    """``<jars_dir>/cds/spark-driver-<archive_key>.jsa``: the archive for this class path."""
    return cds_dir(settings) / f"spark-driver-{archive_key(driver_classpath)}.jsa"


def launcher_env(settings: Settings) -> dict[str, str]:
    """``{"PINLAKE_SPARK_CLASSPATH_CONF_DIR": <jars_dir>/cds/conf}`` (an empty folder, created
    here): conf/spark-env.sh hands it to Spark's launcher as the ``SPARK_CONF_DIR`` that goes on
    the driver's class path. ``{}`` when the folder cannot be made (then no archive is used)."""
    empty = cds_dir(settings) / "conf"
    try:
        empty.mkdir(parents=True, exist_ok=True)
    except OSError:
        return {}
    return {"PINLAKE_SPARK_CLASSPATH_CONF_DIR": str(empty)}


def mapped_archive(settings: Settings, driver_classpath: str) -> Path | None:
    """The archive a driver with this class path maps (:func:`archive_file`) when it exists and
    :func:`launcher_env` can be given, else None (the driver starts without one). Its options
    are :func:`pinlake.spark.driver_cds_options`'s."""
    archive = archive_file(settings, driver_classpath)
    return archive if archive.is_file() and launcher_env(settings) else None
