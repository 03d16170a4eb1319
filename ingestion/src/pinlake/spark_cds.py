"""The Spark driver's class-data archive: JDK Application Class-Data Sharing (CDS) for the JVM
behind every Spark session pinlake opens (:func:`pinlake.spark.get_spark`, dbt's ``local`` target).

A Spark driver with Delta and the Hive metastore loads tens of thousands of classes from a few
hundred jars before its first query, and the JVM parses and verifies each one. A dynamic CDS
archive (JEP 350, ``-XX:ArchiveClassesAtExit``) holds them parsed and verified, written once by
``make setup`` (:func:`build`, ``python -m pinlake.spark_cds``) from a short session that runs
the statements pinlake's steps run; every later driver maps it (``-XX:SharedArchiveFile``) and
starts on less CPU (bench/README.md has the figures). Classes it lacks load as usual.

The JDK uses an archive only with the JVM and the class path it was made with, and otherwise
runs without it (the options here keep that silent). So the file name carries a key of both
(:func:`archive_file`): the ``java`` binary, the driver's class path and the size and time of
every jar on it; a session whose key has no archive (another metastore driver jar, new jars
before ``make setup``) starts as before. The JDK also refuses a class path that holds a
non-empty folder, and Spark's launcher puts ``SPARK_CONF_DIR`` first on it: conf/spark-env.sh
swaps that folder for an empty one (``PINLAKE_SPARK_CLASSPATH_CONF_DIR``, :func:`launcher_env`)
once the launcher has read it; the logging configuration goes by ``-Dlog4j2.configurationFile``.
Source: JDK 17 "Class Data Sharing" (docs.oracle.com/en/java/javase/17/vm/class-data-sharing.html).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from pinlake.config import Settings, spark_home
from pinlake.errors import PinlakeError
from pinlake.services.process import log_excerpt

#: The JDK's CDS log tags: quiet, so that a driver whose archive the JDK refuses (another JVM,
#: changed jars) starts without it and without a warning on the user's terminal.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"

#: The statements of the archive's session: those of pinlake's steps (land's JSON read and Delta
#: appends, the manifest's merge and delete, dbt's views, tables, tests and catalog queries).
WORKLOAD = (
    "create database if not exists cds_raw",
    "create table cds_raw.t (a bigint, b string, ts timestamp) using delta",
    "insert into cds_raw.t values (1, 'x', timestamp'2020-01-01 00:00:00'), (2, 'y', null)",
    "merge into cds_raw.t t using (select 2 as a, 'z' as b) s on t.a = s.a "
    "when matched then update set b = s.b when not matched then insert (a, b) values (s.a, s.b)",
    "delete from cds_raw.t where a = 3",
    "create or replace view cds_raw.v as select a, b, ts, row_number() over "
    "(partition by b order by a) as n from cds_raw.t",
    "create or replace table cds_raw.m using delta "
    "tblproperties ('delta.constraints.c_positive' = 'c > 0') as "
    "select b, count(*) as c, percentile_approx(a, 0.5) as p, max(ts) as ts from cds_raw.v "
    "group by b",
    "select count(*) from (select b from cds_raw.m group by b having count(*) > 1)",
    "show table extended in cds_raw like '*'",
    "describe table extended cds_raw.m",
    "select * from cds_raw.m where b is null limit 1",
)


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
    """16 hex digits of a SHA-256 over the ``java`` binary on ``PATH`` (resolved) and, for
    every jar on the driver's class path (``driver_classpath``, then Spark's own ``jars/*``),
    its path, size and modification time: what the JDK checks before it maps an archive."""
    digest = hashlib.sha256()
    java = shutil.which("java")
    digest.update(str(Path(java).resolve() if java else None).encode())
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


def driver_java_options(settings: Settings, driver_classpath: str) -> str:
    """``-XX:SharedArchiveFile=<archive> -Xlog:…=off`` when :func:`archive_file` exists (and
    :func:`launcher_env` can be given), else ``""``: the options a driver with this class path
    maps the archive with."""
    archive = archive_file(settings, driver_classpath)
    if not archive.is_file() or not launcher_env(settings):
        return ""
    return f"-XX:SharedArchiveFile={archive} {QUIET}"


@dataclass(frozen=True)
class ArchiveResult:
    """What :func:`build` did: the archive, its size in bytes, the seconds it took (0 when it
    was already there) and whether it was built now."""

    path: Path
    size: int
    seconds: float
    built: bool


class ArchiveError(PinlakeError):
    """The JVM did not write the archive (the message quotes the end of its output)."""


def build(settings: Settings, timeout: float = 600.0) -> ArchiveResult:
    """Write the archive of the default driver class path (the embedded metastore's) unless it
    is there: a child Python process opens a session on a throwaway home, runs
    :data:`WORKLOAD` and ends; its driver JVM writes the classes it loaded at exit
    (``-XX:ArchiveClassesAtExit``) to a temporary file, renamed into place when complete.

    Raises :class:`ArchiveError` when no archive was written (e.g. a JVM without CDS), with the
    end of the child's output (kept in ``<jars_dir>/cds/build.log``)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pinlake-cds-") as scratch:
        # a fresh home: the embedded metastore (whatever runs beside settings.home), whose
        # driver class path is pinlake's jars alone (pinlake.spark.driver_classpath)
        home = settings.model_copy(update={"home": Path(scratch) / "home", "metastore_url": None})
        target = archive_file(settings, settings.spark_classpath)
        if target.is_file():
            return ArchiveResult(target, target.stat().st_size, 0.0, built=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        for orphan in target.parent.glob(".spark-driver-*.tmp"):  # of a build that was killed
            if not psutil.pid_exists(int(orphan.suffixes[-2].lstrip("."))):
                orphan.unlink(missing_ok=True)
        partial = target.parent / f".{target.name}.{os.getpid()}.tmp"
        options = f"{settings.jvm_options} -XX:ArchiveClassesAtExit={partial}".strip()
        child = home.model_copy(update={"spark_master": "local[1]", "jvm_options": options})
        log = target.parent / "build.log"
        with log.open("w") as output:
            done = subprocess.run(
                [sys.executable, "-m", "pinlake.spark_cds", "--workload"],
                env=child.child_env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            raise ArchiveError(
                f"the Spark driver's class-data archive was not written (exit {done.returncode})"
                + log_excerpt(log, lines=3)
            )
        partial.replace(target)
    return ArchiveResult(target, target.stat().st_size, time.perf_counter() - started, built=True)


def _workload() -> None:
    """The archive's session (run by :func:`build` in its child, ``python -m pinlake.spark_cds
    --workload``: an entry point, above :mod:`pinlake.spark`, which this module otherwise sits
    below): :data:`WORKLOAD`, then the driver JVM is ended and waited for, so that it writes the
    archive before this exits."""
    from pyspark import SparkContext

    from pinlake.spark import get_spark

    spark = get_spark(app_name="pinlake-cds")
    gateway = SparkContext._gateway
    try:
        for statement in WORKLOAD:
            spark.sql(statement).collect()
    finally:
        spark.stop()
        process = gateway.proc  # the driver JVM: it exits when its stdin closes
        gateway.shutdown()
        process.stdin.close()
        process.wait(timeout=300)


def main(argv: list[str] | None = None) -> int:
    """``python -m pinlake.spark_cds``: build the archive (one line: its path, size and time),
    exit 1 with one line when the JVM did not write it."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--workload"]:
        _workload()
        return 0
    from pinlake.console import console

    settings = Settings()
    console.print("Spark driver class-data archive: ", end="")
    try:
        result = build(settings)
    except ArchiveError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    state = f"built in {result.seconds:.0f} s" if result.built else "up to date"
    console.print(f"{result.path} ({result.size / 2**20:.0f} MiB, {state})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
