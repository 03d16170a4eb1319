"""Write the Spark driver's class-data archive (:mod:`pinlake.spark_cds`): ``make setup`` runs
``python -m pinlake.spark_cds_build``. An entry point, above :mod:`pinlake.spark`: its child
process opens pinlake's own session (:func:`pinlake.spark.get_spark`) and runs
:data:`WORKLOAD`, and that session's driver JVM writes the archive as it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.services.process import log_excerpt
from pinlake.spark import check_jars, derby_classpath, get_spark, java_option, session_env
from pinlake.spark_cds import archive_file

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


#: The JIT of the archive's short session when ``PINLAKE_JVM_OPTIONS`` sets none: C1 only, one
#: compiler thread. The archive holds classes, not compiled code, so every JIT maps it; the
#: session spends less CPU compiling (``make setup`` on 2 cores: 62 s and 70 CPU-s against 68 s
#: and 104 CPU-s with the default JIT).
BUILD_JIT = "-XX:TieredStopAtLevel=1 -XX:CICompilerCount=1"


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
    """Write the archive of the default driver class path (a Derby metastore's,
    :func:`~pinlake.spark.derby_classpath`) unless it
    is there: a child Python process opens a session on a throwaway home, runs
    :data:`WORKLOAD` and ends; its driver JVM writes the classes it loaded at exit
    (``-XX:ArchiveClassesAtExit``) to a temporary file, renamed into place when complete; the
    archives of older jars or another JVM are then removed (:func:`remove_stale`), as they are
    when the archive is there already (helper-93: a deleted clone's archive, about 220 MiB,
    stayed in a shared jars folder until another clone built one).

    Raises :class:`~pinlake.spark.SparkSetupError` when the jars are missing (nothing is
    written then), :class:`ArchiveError` when no archive was written (e.g. a JVM without CDS),
    with the end of the child's output (kept beside it: :func:`build_log`)."""
    check_jars(settings)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pinlake-cds-") as scratch:
        # a fresh home: the embedded metastore (whatever runs beside settings.home), whose
        # driver class path is every Derby metastore's (pinlake.spark.derby_classpath)
        home = settings.model_copy(update={"home": Path(scratch) / "home", "metastore_url": None})
        target = archive_file(settings, derby_classpath(settings))
        if target.is_file():
            # the key holds this environment's pyspark jars: the archive is this one's (an
            # archive from before owners were recorded gets its owner)
            if not owner_file(target).is_file():
                owner_file(target).write_text(sys.prefix)
            remove_stale(target)  # a deleted clone's archive goes with the next set-up
            return ArchiveResult(target, target.stat().st_size, 0.0, built=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        for orphan in target.parent.glob(".spark-driver-*.tmp"):  # of a build that was killed
            pid = orphan.suffixes[-2].lstrip(".") if len(orphan.suffixes) > 1 else ""
            if not (pid.isdigit() and psutil.pid_exists(int(pid))):
                orphan.unlink(missing_ok=True)
        partial = target.parent / f".{target.name}.{os.getpid()}.tmp"
        jit = settings.jvm_options or BUILD_JIT
        options = f"{jit} {java_option(f'-XX:ArchiveClassesAtExit={partial}')}"  # a path
        child = home.model_copy(update={"spark_master": "local[1]", "jvm_options": options})
        log = build_log(target)
        with log.open("w") as output:
            done = subprocess.run(
                [sys.executable, "-m", "pinlake.spark_cds_build", "--workload"],
                env=session_env(child),
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
        owner_file(target).write_text(sys.prefix)  # first: another build's clean-up keeps it
        partial.replace(target)
    remove_stale(target)
    return ArchiveResult(target, target.stat().st_size, time.perf_counter() - started, built=True)


def build_log(archive: Path) -> Path:
    """``<archive>.log``: the output of the session that wrote ``archive`` (or failed to), one
    per archive: clones that share a jars folder wrote one ``build.log`` over each other's, which
    then told of another clone's archive, or of a removed one (helper-96)."""
    return archive.with_name(archive.name + ".log")


def owner_file(archive: Path) -> Path:
    """``<archive>.owner``: the Python environment (``sys.prefix``) whose build wrote ``archive``
    (its class path holds that environment's pyspark jars)."""
    return archive.with_name(archive.name + ".owner")


def remove_stale(current: Path) -> list[Path]:
    """Remove the other driver archives beside ``current`` (older jars, another JVM: ones the
    JDK now refuses, about 220 MiB each) that this Python environment built, or whose
    environment is gone, with their owner and build log; returns what was removed.
    :func:`build` writes only the Derby metastores' archive, so any other one of its own is
    stale once it has written. An archive of another environment that still exists is kept:
    clones that share one jars folder (``PINLAKE_JARS_DIR``) removed each other's, and each
    driver then started without one (helper-56)."""
    (current.parent / "build.log").unlink(missing_ok=True)  # older set-ups' shared log
    stale = []
    for old in current.parent.glob("spark-driver-*.jsa"):
        owner = owner_file(old)
        built_by = owner.read_text().strip() if owner.is_file() else ""
        if old != current and (built_by in ("", sys.prefix) or not Path(built_by).is_dir()):
            old.unlink(missing_ok=True)
            owner.unlink(missing_ok=True)
            build_log(old).unlink(missing_ok=True)
            stale.append(old)
    return stale


def _workload() -> None:
    """The archive's session (run by :func:`build` in its child, ``python -m
    pinlake.spark_cds_build --workload``): :data:`WORKLOAD`, then the driver JVM is ended and
    waited for, so that it writes the archive before this exits."""
    from pyspark import SparkContext

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
    """``python -m pinlake.spark_cds_build``: build the archive (a line before a build, one
    after: its path, size and time); exit 1 with the error on stderr when the JVM did not
    write it."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--workload"]:
        _workload()
        return 0
    from pinlake.console import console, environment_settings, err_console

    settings = environment_settings()
    try:
        check_jars(settings)
        if not archive_file(settings, derby_classpath(settings)).is_file():
            console.print(
                "writing the Spark driver's class-data archive (a short session, ~1 min)",
                soft_wrap=True,
            )
        result = build(settings)
    except PinlakeError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        return 1
    state = f"built in {result.seconds:.0f} s" if result.built else "up to date"
    console.print(
        f"Spark driver class-data archive: {result.path} ({result.size / 2**20:.0f} MiB, {state})",
        markup=False,
        soft_wrap=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
