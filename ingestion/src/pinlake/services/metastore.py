"""The shared Hive metastore: a Derby network server that several Spark processes of one home
use at the same time (``pinlake services up --metastore``), instead of the embedded Derby
database that admits one JVM at a time (the zero-setup default, :mod:`pinlake.spark`).

* The server is Derby's own (``org.apache.derby.drda.NetworkServerControl``, the ``derbynet``
  artifact of ``jvm/pom.xml`` profile ``metastore``, at the Derby version inside the pyspark
  wheel), listening on ``127.0.0.1:<PINLAKE_METASTORE_PORT>`` only (default 1527, Derby's), with
  ``derby.system.home`` = ``<home>/metastore``: it serves the same database,
  ``<home>/metastore/metastore_db``, that the embedded default uses, so a home keeps its tables
  whichever mode it runs in. Log: ``<home>/logs/metastore.log``.
* Spark processes connect with ``jdbc:derby://127.0.0.1:<port>/metastore_db`` and Derby's client
  driver (:func:`pinlake.spark.metastore_connection` decides this, the one place).
* **The schema is created explicitly**, before the server serves a new database, in this order,
  in one process at a time and never by a Spark client: Hive's own schema scripts for Derby
  (``hive-schema-1.2.0.derby.sql`` and the upgrade scripts to 2.3.0 listed in
  ``upgrade.order.derby``, what Hive's ``schematool -initSchema`` runs; from the Hive standalone
  metastore's binary distribution on Maven Central), run with Derby's ``ij``; then DataNucleus'
  ``SchemaTool`` over the model of pyspark's Hive 2.3 metastore client (``package.jdo`` in
  ``hive-metastore-2.3.10.jar``) adds what that model declares beyond the scripts (indexes and
  foreign keys of ``KEY_CONSTRAINTS`` and ``PARTITION_EVENTS``: eight statements, kept in
  ``<home>/metastore/orm-additions.sql``). The result is a schema on which a Spark client finds
  nothing to create.

  Why the second step: Spark's Hive client forces ``datanucleus.schema.autoCreateAll=true`` and
  ``hive.metastore.schema.verification=false`` for every ``jdbc:derby`` URL
  (``HiveClientImpl.newHiveConf``, "isEmbeddedMetaStore"), whatever the session sets, so on a
  schema that lacks those objects the first client would add them itself, possibly two clients
  at once. Schema verification is done here instead: ``services up`` refuses a database whose
  ``VERSION`` is not :data:`HIVE_SCHEMA_VERSION`.
* A database made by the embedded default (DataNucleus auto-creation, no ``VERSION`` row) is
  adopted once: SchemaTool creates whatever of the 2.3 model it lacks and the version is
  recorded, so the tables landed before keep working.

PostgreSQL is the production choice (``PINLAKE_METASTORE_URL=jdbc:postgresql://…``, README);
its schema is Hive's PostgreSQL scripts from the same distribution (``hive-schema/…/postgres``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pinlake import run_folder
from pinlake.config import Settings
from pinlake.errors import PinlakeError
from pinlake.run_folder import metastore_jars_dir, running_metastore_url
from pinlake.services import jvm, process

NAME = run_folder.METASTORE
#: The database under ``<home>/metastore`` (the embedded default's too).
DATABASE = run_folder.METASTORE_DATABASE
#: The metastore schema version of pyspark's built-in Hive client (hive-metastore-2.3.10.jar).
HIVE_SCHEMA_VERSION = "2.3.0"
#: The first full schema script of the distribution; upgrade scripts lead from it to 2.3.0.
_BASE_SCHEMA = "1.2.0"
_IJ_ERROR = re.compile(r"^ERROR [0-9A-Z]{5}: .*$", re.MULTILINE)


class MetastoreError(PinlakeError):
    """The shared metastore cannot be prepared or started (missing jars, a database in use by an
    embedded Spark process, a schema of another version, a failed script)."""


def schema_dir(settings: Settings, db_type: str = "derby") -> Path:
    """The folder of Hive's metastore schema scripts for ``db_type`` (``derby``, ``postgres``)."""
    found = sorted(
        metastore_jars_dir(settings).glob(
            f"hive-schema/*/scripts/metastore/upgrade/{db_type}/upgrade.order.*"
        )
    )
    if not found:
        raise MetastoreError(
            "Hive metastore schema scripts not found under "
            f"{metastore_jars_dir(settings)}/hive-schema: run `make setup` (jvm/pom.xml, profile "
            "metastore)"
        )
    return found[-1].parent


def schema_scripts(settings: Settings, db_type: str = "derby") -> list[Path]:
    """The scripts that create schema :data:`HIVE_SCHEMA_VERSION`, in order: the 1.2.0 schema,
    then each upgrade of ``upgrade.order.<db_type>`` from 1.2.0 up to 2.3.0 (what Hive's
    ``schematool`` runs). Raises :class:`MetastoreError` when one is missing."""
    folder = schema_dir(settings, db_type)
    scripts = [folder / f"hive-schema-{_BASE_SCHEMA}.{db_type}.sql"]
    order = (folder / f"upgrade.order.{db_type}").read_text().split()
    steps = [line for line in order if "-to-" in line]
    start = next((i for i, s in enumerate(steps) if s.startswith(f"{_BASE_SCHEMA}-to-")), None)
    end = next((i for i, s in enumerate(steps) if s.endswith(f"-to-{HIVE_SCHEMA_VERSION}")), None)
    if start is None or end is None or end < start:
        raise MetastoreError(f"{folder}: no upgrade path {_BASE_SCHEMA} -> {HIVE_SCHEMA_VERSION}")
    scripts += [folder / f"upgrade-{step}.{db_type}.sql" for step in steps[start : end + 1]]
    missing = [str(s) for s in scripts if not s.is_file()]
    if missing:
        raise MetastoreError("metastore schema scripts missing: " + ", ".join(missing))
    return scripts


def database_dir(settings: Settings) -> Path:
    """``<home>/metastore/metastore_db``: the Derby database (embedded default or server;
    :func:`pinlake.run_folder.metastore_database_dir`)."""
    return run_folder.metastore_database_dir(settings)


def config(settings: Settings) -> dict[str, object]:
    """What a running server is tied to (recorded beside its pid file): port and database."""
    return {"port": settings.metastore_port, "database": str(database_dir(settings))}


def _pyspark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _ij(settings: Settings, script: str, what: str) -> str:
    """Run ``script`` (ij commands) with Derby's ij in a JVM of its own; its output. Raises
    :class:`MetastoreError` naming ``what`` when ij reports an error (its first one)."""
    settings.metastore_dir.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.metastore_dir / ".pinlake-ij.sql"
    path.write_text(script)
    out_log = settings.logs_dir / "metastore-ij.out"
    out_log.unlink(missing_ok=True)
    argv = [
        *jvm.java(settings, "the metastore server"),
        "-cp",
        f"{metastore_jars_dir(settings)}/*",
        f"-Dderby.stream.error.file={settings.logs_dir / 'metastore-derby.log'}",
        f"-Dij.outfile={out_log}",
        "org.apache.derby.tools.ij",
        str(path),
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MetastoreError(f"{what} timed out (see {out_log})") from exc
    finally:
        path.unlink(missing_ok=True)
    output = out_log.read_text(errors="replace") if out_log.is_file() else ""
    error = _IJ_ERROR.search(output)
    if error:
        if "XSDB6" in output or "XJ040" in error.group(0):
            raise MetastoreError(
                f"{what}: the metastore database {database_dir(settings)} is in use by another "
                "process (a Spark session on the embedded metastore: dbt, pinlake or Airflow on "
                f"this home); stop it and run "
                f"`{run_folder.up_hint(settings.run_dir, '--metastore')}` again"
            )
        raise MetastoreError(f"{what} failed: {error.group(0)} (see {out_log})")
    if not output:
        # its JVM's own words when it said any (an option it refused: helper-113), not a guess
        said = jvm.last_words(done.stderr or done.stdout)
        if said:
            raise MetastoreError(f"{what}: Derby's ij did not run: {said}")
        raise MetastoreError(f"{what}: Derby's ij did not run (is `make setup` done? {out_log})")
    return output


def _embedded(path: Path, create: bool = False) -> str:
    return f"jdbc:derby:{path}" + (";create=true" if create else "")


def schema_version(settings: Settings) -> str | None:
    """The ``SCHEMA_VERSION`` recorded in the home's database (embedded access: the server must
    not run), or None when it has no ``VERSION`` row (made by the embedded default)."""
    tables = _ij(
        settings,
        f"connect '{_embedded(database_dir(settings))}';\n"
        "select 'pinlake-table=' || t.TABLENAME from SYS.SYSTABLES t join SYS.SYSSCHEMAS s "
        "on t.SCHEMAID = s.SCHEMAID where s.SCHEMANAME = 'APP' and t.TABLENAME = 'VERSION';\n",
        "reading the metastore schema version",
    )
    if not re.search(r"^pinlake-table=VERSION\s*$", tables, re.MULTILINE):
        return None
    out = _ij(
        settings,
        f"connect '{_embedded(database_dir(settings))}';\n"
        "select 'pinlake-version=' || SCHEMA_VERSION from APP.VERSION;\n",
        "reading the metastore schema version",
    )
    versions = re.findall(r"^pinlake-version=(\S+)", out, re.MULTILINE)
    return versions[0] if versions else None


def schema_objects(settings: Settings) -> set[str]:
    """Every table, column, index and constraint of the metastore's ``APP`` schema, as
    ``"<kind> <table>.<name>"`` strings: through the running server, else embedded. Compared
    before and after Spark clients ran, it shows that none of them changed the schema."""
    target = running_metastore_url(settings) or _embedded(database_dir(settings))
    app = "s.SCHEMANAME = 'APP'"
    out = _ij(
        settings,
        f"connect '{target}';\n"
        "select 'pinlake-object=table ' || t.TABLENAME from SYS.SYSTABLES t join SYS.SYSSCHEMAS"
        f" s on t.SCHEMAID = s.SCHEMAID where {app};\n"
        "select 'pinlake-object=column ' || t.TABLENAME || '.' || c.COLUMNNAME || ' ' || "
        "cast(c.COLUMNDATATYPE as varchar(128)) from SYS.SYSCOLUMNS c join SYS.SYSTABLES t on "
        f"c.REFERENCEID = t.TABLEID join SYS.SYSSCHEMAS s on t.SCHEMAID = s.SCHEMAID where {app};\n"
        "select 'pinlake-object=index ' || t.TABLENAME || '.' || g.CONGLOMERATENAME from "
        "SYS.SYSCONGLOMERATES g join SYS.SYSTABLES t on g.TABLEID = t.TABLEID join "
        f"SYS.SYSSCHEMAS s on t.SCHEMAID = s.SCHEMAID where g.ISINDEX and {app};\n"
        "select 'pinlake-object=constraint ' || t.TABLENAME || '.' || c.CONSTRAINTNAME || ' ' "
        "|| c.TYPE from SYS.SYSCONSTRAINTS c join SYS.SYSTABLES t on c.TABLEID = t.TABLEID "
        f"join SYS.SYSSCHEMAS s on t.SCHEMAID = s.SCHEMAID where {app};\n",
        "listing the metastore schema",
    )
    return {m.strip() for m in re.findall(r"^pinlake-object=(.+)$", out, re.MULTILINE)}


def _orm_schema(settings: Settings, database: Path, execute: bool) -> Path:
    """DataNucleus' SchemaTool over Hive 2.3's model (``package.jdo`` of pyspark's
    hive-metastore jar) against ``database`` (embedded): with ``execute`` it creates what the
    model lacks in the database; otherwise it writes that DDL to ``orm-additions.sql`` (returned)
    without running it."""
    folder = settings.metastore_dir
    props = folder / ".pinlake-datanucleus.properties"
    props.write_text(
        "javax.jdo.PersistenceManagerFactoryClass="
        "org.datanucleus.api.jdo.JDOPersistenceManagerFactory\n"
        f"javax.jdo.option.ConnectionURL={jvm.properties_value(_embedded(database))}\n"
        "javax.jdo.option.ConnectionDriverName=org.apache.derby.jdbc.EmbeddedDriver\n"
        # Hive 2.3's own DataNucleus settings (HiveConf defaults), so names match its client's
        "datanucleus.identifierFactory=datanucleus1\n"
        "datanucleus.rdbms.useLegacyNativeValueStrategy=true\n"
    )
    ddl = folder / "orm-additions.sql"
    argv = [
        *jvm.java(settings, "the metastore server"),
        "-cp",
        f"{_pyspark_jars()}/*",
        f"-Dderby.stream.error.file={settings.logs_dir / 'metastore-ij.log'}",
        f"-Dlog4j2.configurationFile={settings.log4j_config}",
        "org.datanucleus.store.schema.SchemaTool",
        "-create",
        "-api",
        "JDO",
        "-props",
        str(props),
        *([] if execute else ["-ddlFile", str(ddl)]),
        "package.jdo",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MetastoreError("DataNucleus SchemaTool timed out") from exc
    finally:
        props.unlink(missing_ok=True)
    log = settings.logs_dir / "metastore-schematool.log"
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0 or "completed successfully" not in done.stdout + done.stderr:
        raise MetastoreError(
            process.with_logs(f"DataNucleus SchemaTool failed (exit {done.returncode})", [log])
        )
    return ddl


def create_schema(settings: Settings) -> None:
    """Create the database with schema :data:`HIVE_SCHEMA_VERSION` explicitly (see the module
    docstring): in ``metastore_db.creating``, renamed to ``metastore_db`` once complete (a
    failure leaves no half-made database behind). Raises :class:`MetastoreError`."""
    final = database_dir(settings)
    work = final.with_name(DATABASE + ".creating")
    shutil.rmtree(work, ignore_errors=True)
    try:
        runs = "".join(f"run '{script}';\n" for script in schema_scripts(settings))
        _ij(
            settings,
            f"connect '{_embedded(work, create=True)}';\n{runs}",
            "creating the Hive metastore schema",
        )
        ddl = _orm_schema(settings, work, execute=False)
        statements = ddl.read_text() if ddl.is_file() else ""
        if re.search(r"^\s*(CREATE|ALTER)\b", statements, re.MULTILINE):
            _ij(
                settings,
                f"connect '{_embedded(work)}';\nrun '{ddl}';\n",
                "adding the Hive 2.3 model's indexes and keys",
            )
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def adopt(settings: Settings) -> None:
    """Make a database of the embedded default (created by DataNucleus on demand, no version)
    complete for the 2.3 model (SchemaTool) and record :data:`HIVE_SCHEMA_VERSION`."""
    _orm_schema(settings, database_dir(settings), execute=True)
    _ij(
        settings,
        f"connect '{_embedded(database_dir(settings))}';\n"
        "delete from APP.VERSION;\n"
        f"insert into APP.VERSION (VER_ID, SCHEMA_VERSION, VERSION_COMMENT) values (1, "
        f"'{HIVE_SCHEMA_VERSION}', 'adopted by pinlake from the embedded metastore');\n",
        "recording the metastore schema version",
    )


def prepare(settings: Settings) -> str:
    """Before the server starts: ``"created"`` (new database, :func:`create_schema`),
    ``"adopted"`` (:func:`adopt`) or ``"ready"`` (version :data:`HIVE_SCHEMA_VERSION`). Raises
    :class:`MetastoreError` for another version, or when an embedded session holds it."""
    settings.ensure_dirs()
    if not database_dir(settings).is_dir():
        create_schema(settings)
        return "created"
    version = schema_version(settings)
    if version is None:
        adopt(settings)
        return "adopted"
    if version != HIVE_SCHEMA_VERSION:
        raise MetastoreError(
            f"the metastore database {database_dir(settings)} has schema version {version}; "
            f"pyspark's Hive client needs {HIVE_SCHEMA_VERSION}"
        )
    return "ready"


def start(settings: Settings) -> int:
    """Start the Derby network server in the background (no-op if running); returns its pid.
    Call :func:`prepare` first."""
    pid_ = process.read_pid(settings.run_dir, NAME)
    if pid_ is not None:
        return pid_
    argv = [
        *jvm.java(settings, "the metastore server"),
        "-Xmx512m",
        "-cp",
        f"{metastore_jars_dir(settings)}/*",
        f"-Dderby.system.home={settings.metastore_dir}",
        f"-Dderby.stream.error.file={settings.logs_dir / 'metastore-derby.log'}",
        "-Dderby.drda.host=127.0.0.1",
        "org.apache.derby.drda.NetworkServerControl",
        "start",
        "-h",
        "127.0.0.1",
        "-p",
        str(settings.metastore_port),
        # loopback only, no user code: Derby's default security policy file is not needed
        "-noSecurityManager",
    ]
    return process.spawn(
        settings.run_dir,
        settings.logs_dir / "metastore.log",
        NAME,
        argv,
        env=None,
        config=config(settings),
    )


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the server (SIGTERM: Derby shuts its databases down cleanly); True if it ran."""
    return process.stop(settings.run_dir, NAME, timeout=timeout)


def pid(settings: Settings) -> int | None:
    """The server's pid, None if it is not running."""
    return process.read_pid(settings.run_dir, NAME)


def server_port(settings: Settings) -> int:
    """The server's port: the recorded one of a running server, else the configured one."""
    found = process.running(settings.run_dir, NAME)
    recorded = (found.config or {}).get("port") if found else None
    return int(recorded or settings.metastore_port)


def healthy(settings: Settings, timeout: float = 1.0) -> bool:
    """True if the server accepts connections on ``127.0.0.1:<port>`` (:func:`server_port`;
    ``process.port_answers``, which connects only once the port listens)."""
    return process.port_answers(server_port(settings), timeout=timeout)


def wait_healthy(settings: Settings, timeout: float = 60.0, pid_: int | None = None) -> None:
    """Wait until :func:`healthy`, asked only once the port listens (``process.wait_healthy``'s
    ``ports``); raises PinlakeError if the server exits or does not answer within ``timeout``
    seconds."""
    log = settings.logs_dir / "metastore.log"
    process.wait_healthy(
        lambda: healthy(settings),
        timeout=timeout,
        interval=0.3,
        pid=pid_,
        exited="the metastore server exited during start-up",
        log=log,
        not_healthy=f"the metastore server on 127.0.0.1:{settings.metastore_port} did not "
        f"answer within {timeout:.0f}s",
        ports=[server_port(settings)],
    )
