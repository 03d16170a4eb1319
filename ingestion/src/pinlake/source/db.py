"""The source database: tables derived from :data:`pinlake.schemas.SOURCE_COLUMNS`, creation, reads.

SQLite in ``PINLAKE_HOME`` by default (``settings.source_db_url``); the local MariaDB server with
``PINLAKE_SOURCE_DB=mariadb`` (:mod:`pinlake.services.mariadb`, started by ``pinlake services
up``); any SQLAlchemy URL otherwise (``mysql+pymysql://...`` like the original RDS,
``postgresql+psycopg://...``; the driver must be installed). Every database failure becomes a
one-line :class:`~pinlake.errors.PinlakeError`.

Column types: INTEGER keys and ints, TEXT, DATETIME (SQLite: ISO text, read back as
``datetime``), and for ``latitude``/``longitude`` DOUBLE (Python ``float``, like the original
RDS's float columns) or, with ``coordinates="decimal"``, ``DECIMAL(10,7)`` (Python ``Decimal``
from a plain MySQL ``SELECT``: the shape of sources whose producers need
``json.dumps(default=str)``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from rich.markup import escape
from sqlalchemy import (
    Column as SqlColumn,
)
from sqlalchemy import (
    DateTime,
    Double,
    Engine,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    bindparam,
    create_engine,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pinlake.config import Settings, sqlite_url
from pinlake.console import PINLAKE, console, counted, progress
from pinlake.errors import PinlakeError, UsageError
from pinlake.loopback import ports_listening
from pinlake.schemas import KEY_COLUMN, SOURCE_COLUMNS, SOURCE_TABLES

#: Rows per INSERT executemany / per generated chunk.
CHUNK_ROWS = 10_000
#: Keys per ``WHERE key IN (...)`` (below SQLite's old 999-variable limit).
FETCH_CHUNK = 900

_SQL_TYPES = {"int": Integer, "text": Text, "float": Double, "datetime": DateTime}

#: How ``latitude``/``longitude`` are stored: ``double`` (default) or ``decimal``.
Coordinates = Literal["double", "decimal"]
COORDINATES: tuple[str, ...] = ("double", "decimal")
#: The DECIMAL of ``coordinates="decimal"``: ±180 with the reference data's 7 decimals.
DECIMAL_COORDINATES = (10, 7)


def _tables(meta: MetaData, coordinates: str, suffix: str = "") -> dict[str, Table]:
    """The three tables by topic in ``meta``, named ``<source table><suffix>``."""

    def sql_type(column_type: str) -> object:
        if column_type == "float" and coordinates == "decimal":
            return Numeric(*DECIMAL_COORDINATES, asdecimal=True)
        return _SQL_TYPES[column_type]()

    return {
        topic: Table(
            SOURCE_TABLES[topic] + suffix,
            meta,
            *(
                SqlColumn(
                    column.name,
                    sql_type(column.type),
                    primary_key=column.name == KEY_COLUMN[topic],
                    autoincrement=False,
                    comment=column.description,
                )
                for column in SOURCE_COLUMNS[topic]
            ),
        )
        for topic in SOURCE_TABLES
    }


metadata = MetaData()

#: The SQLAlchemy tables by topic (``pin``, ``geo``, ``user``), derived from SOURCE_COLUMNS.
TABLES: dict[str, Table] = _tables(metadata, "double")
#: The suffix of the tables a load fills before they replace the source tables
#: (:func:`load_tables`).
LOADING_SUFFIX = "__loading"


def check_coordinates(coordinates: str) -> str:
    """``coordinates`` if it is one of :data:`COORDINATES`; else :class:`UsageError`."""
    if coordinates not in COORDINATES:
        raise UsageError(
            f"coordinates must be one of {', '.join(COORDINATES)}, not {coordinates!r}"
        )
    return coordinates


def table_for(name: str) -> Table:
    """A source table by topic (``pin``) or by source name (``pinterest_data``)."""
    if name in TABLES:
        return TABLES[name]
    for topic, source_name in SOURCE_TABLES.items():
        if source_name == name:
            return TABLES[topic]
    raise PinlakeError(f"unknown source table {name!r} (one of {', '.join(SOURCE_TABLES)})")


# ---- errors and engines ------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def safe_url(url: str | URL) -> str:
    """``url`` without its password, for messages: a SQLite file's URL with its path as the
    file system spells it where SQLAlchemy reads that back as the same file (it printed
    ``sqlite:////tmp/a b%25c/h/source.db`` for ``/tmp/a b%c/h``), else escaped."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - only for display
        return str(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not parsed.query:
        return sqlite_url(parsed.database, parsed.drivername)
    return parsed.render_as_string(hide_password=True)


@contextmanager
def db_errors(url: str, action: str = "source database") -> Iterator[None]:
    """Turn database exceptions into one readable PinlakeError line."""
    try:
        yield
    except PinlakeError:
        raise
    except SQLAlchemyError as exc:
        raise PinlakeError(f"{action} {safe_url(url)}: {_one_line(exc)}") from exc


def engine_for(settings: Settings, url: str | None = None, *, create: bool = True) -> Engine:
    """A connected engine for ``url`` (default: the SQLite file in ``settings.home``).

    With ``create=False`` a missing SQLite file is an error instead of being created empty.
    Raises :class:`UsageError` for malformed URLs or unknown dialects/drivers and
    :class:`PinlakeError` when the database cannot be reached.
    """
    target = url or settings.source_db_url
    try:
        parsed = make_url(target)
    except ArgumentError as exc:
        raise UsageError(f"not a database URL: {target!r} (e.g. sqlite:///source.db)") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        # its rows end with the command's process: `source init` said it filled 3 tables of a
        # database no later command can read (helper-92)
        raise UsageError(
            f"{safe_url(target)} is an in-memory SQLite database, gone when this command ends: "
            "give a file (sqlite:///<path>)"
        )
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        if not create and not path.exists():
            where = (
                "PINLAKE_SOURCE_URL to a database that holds them"
                if settings.source_url
                else "PINLAKE_SOURCE_URL, which names another database (`source init --url` "
                "filled that one, and later commands read it only through the variable)"
            )
            raise PinlakeError(
                f"no source database at {path}; run `{PINLAKE} source init` (or source load) "
                f"first, or set {where}"
            )
        if url is None:
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed)
    except NoSuchModuleError as exc:
        raise UsageError(
            f"unknown database dialect/driver in {safe_url(target)!r}: {_one_line(exc)}"
        ) from exc
    except ImportError as exc:
        raise UsageError(
            f"cannot use {safe_url(target)!r}: database driver not installed ({_one_line(exc)})"
        ) from exc
    except ArgumentError as exc:
        raise UsageError(f"cannot use {safe_url(target)!r}: {_one_line(exc)}") from exc
    own = target == settings.mariadb.url  # the home's server of PINLAKE_SOURCE_DB=mariadb
    if own and not ports_listening([settings.mariadb.port]):  # no connect to a free port
        raise PinlakeError(
            f"cannot connect to {safe_url(target)}: nothing listens on port "
            f"{settings.mariadb.port} ({_local_server_hint(settings)})"
        )
    try:
        with db_errors(target, "cannot connect to"):
            with engine.connect():
                pass
    except PinlakeError as exc:
        if own:
            raise PinlakeError(f"{exc} ({_local_server_hint(settings)})") from exc
        raise
    return engine


def _local_server_hint(settings: Settings) -> str:
    """What to do when the home's own MariaDB server (``services up --source-db mariadb``)
    refused a connection: start it when it does not run; when it runs, the settings a client
    connects with differ from the server's (helper-62: a wrong password said "start it")."""
    from pinlake.run_folder import MARIADB, read_pid, up_hint

    if read_pid(settings.run_dir, MARIADB) is None:
        return f"start it with `{up_hint(settings.run_dir, '--source-db mariadb')}`"
    return (
        "the home's MariaDB server runs: PINLAKE_MARIADB__PORT, __DATABASE, __USER and "
        f"__PASSWORD must be those it was started with (`{PINLAKE} services status`)"
    )


def _url(engine: Engine) -> str:
    return safe_url(engine.url)


def print_loaded(engine: Engine, inserted: dict[str, int], detail: str) -> None:
    """The one-line summary of a source load (init or reference), password hidden; the URL
    as it is (not read as markup) and never broken by a wrap, so that it can be copied."""
    console.print(
        f"[green]✓[/] source {escape(_url(engine))}: "
        + ", ".join(f"{TABLES[t].name} {n:,}" for t, n in inserted.items())
        + f" rows {detail}",
        soft_wrap=True,
    )


# ---- reading -----------------------------------------------------------------------------------
def key_gaps(engine: Engine) -> dict[str, tuple[int, int, int]]:
    """The source tables (by topic) whose keys are not ``0 .. rows − 1``, as ``{topic: (rows,
    lowest key, highest key)}``; tables without rows are left out. The original AiCore producer
    reads ``SELECT * FROM <table> LIMIT <n>, 1``: the n-th row by position, which is the row
    of key n only on such a table (README, "The MariaDB source"). Raises :class:`PinlakeError`
    for an unusable database (:func:`db_errors`)."""
    found: dict[str, tuple[int, int, int]] = {}
    with db_errors(_url(engine)), engine.connect() as conn:
        for topic, table in TABLES.items():
            key = table.c[KEY_COLUMN[topic]]
            rows, low, high = conn.execute(select(func.count(), func.min(key), func.max(key))).one()
            if rows and (low, high) != (0, rows - 1):
                found[topic] = (rows, low, high)
    return found


def existing_counts(engine: Engine) -> dict[str, int | None]:
    """Row count of each source table by topic; ``None`` when the table does not exist."""
    with db_errors(_url(engine)):
        names = set(inspect(engine).get_table_names())
        counts: dict[str, int | None] = {}
        with engine.connect() as conn:
            for topic, table in TABLES.items():
                if table.name in names:
                    counts[topic] = conn.execute(
                        select(func.count()).select_from(table)
                    ).scalar_one()
                else:
                    counts[topic] = None
    return counts


def holds_rows(settings: Settings) -> bool:
    """Whether the home's source database (``Settings.source_db_url``) holds a row in any of
    its tables, where that is seen without waiting on another machine: a SQLite file that
    exists, or the home's MariaDB server (``source_db`` = ``mariadb``) while something listens
    on its port. False for any other server (not connected to: a hint must not wait on a
    network timeout), and on any error. Never raises; creates nothing. What the hints of
    :mod:`pinlake.lakehouse.progress` read: ``source init`` refuses a source with rows."""
    target = settings.source_db_url
    try:
        parsed = make_url(target)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:") or not Path(parsed.database).is_file():
                return False
        elif target != settings.mariadb.url or not ports_listening([settings.mariadb.port]):
            return False
        engine = engine_for(settings, target, create=False)
        try:
            return any(existing_counts(engine).values())
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - a hint's guess: anything unread counts as no rows
        return False


def row_count(engine: Engine) -> dict[str, int]:
    """Rows per source table, by topic (``{"pin": 11154, "geo": 11154, "user": 11154}``)."""
    counts = existing_counts(engine)
    missing = [TABLES[topic].name for topic, count in counts.items() if count is None]
    if missing:
        raise PinlakeError(
            f"source database {_url(engine)} has no table {', '.join(missing)}; "
            f"run `{PINLAKE} source init` (or `{PINLAKE} source load DIR`, DIR a folder of the "
            "real rows) first"
        )
    return {topic: int(count or 0) for topic, count in counts.items()}


def source_size(engine: Engine) -> int:
    """Number of posting events the source holds: the largest table's row count.

    Keys are assumed contiguous from 0 (like the original tables); the real reference folder has
    11,154 geo/user rows but only a 2,019-row pin sample, so its size is 11,154.
    """
    return max(row_count(engine).values())


def fetch_rows(engine: Engine, table: str, inds: Sequence[int]) -> dict[int, dict]:
    """The rows of ``table`` (topic or source name) whose key is in ``inds``, by key.

    Each row is a dict in source column order; datetimes are :class:`datetime.datetime`. Missing
    keys are simply absent from the result. One query per :data:`FETCH_CHUNK` keys.
    """
    sql_table = table_for(table)
    key = sql_table.c[KEY_COLUMN[_topic_of(sql_table)]]
    wanted = sorted(set(int(ind) for ind in inds))
    stmt = select(sql_table).where(key.in_(bindparam("keys", expanding=True)))
    names = [str(column.name) for column in sql_table.columns]  # plain str (orjson-safe)
    position = names.index(str(key.name))
    out: dict[int, dict] = {}
    with db_errors(_url(engine)), engine.connect() as conn:
        for start in range(0, len(wanted), FETCH_CHUNK):
            chunk = wanted[start : start + FETCH_CHUNK]
            for row in conn.execute(stmt, {"keys": chunk}):
                out[int(row[position])] = dict(zip(names, row, strict=True))
    return out


def _topic_of(table: Table) -> str:
    return next(topic for topic, t in TABLES.items() if t is table)


# ---- writing -----------------------------------------------------------------------------------
def load_tables(
    engine: Engine,
    chunks: Iterable[dict[str, list[dict]]],
    *,
    total: int,
    description: str,
    force: bool,
    coordinates: str = "double",
) -> dict[str, int]:
    """Replace the three source tables with the rows of ``chunks`` (``{"pin": rows, "geo":
    rows, "user": rows}`` each), all or nothing; returns the rows inserted per topic.

    The rows go into new tables (``<table>__loading``, :data:`LOADING_SUFFIX`; coordinates as
    DOUBLE or, with ``coordinates="decimal"``, DECIMAL(10,7)) in one transaction, with a
    progress bar over ``total`` rows; those then take the old tables' place (drop, rename). A
    failure on the way (a file's bad row that ``chunks`` raises, a duplicate key, the database,
    Ctrl-C) drops the new tables and leaves the old ones as they were: a ``source load
    --force`` that failed at a bad row left all three tables empty (helper-88).

    Raises :class:`PinlakeError` before anything is written when a table has rows and
    ``force`` is false, and for a database failure (one line); the error of a failure on the
    way (a PinlakeError of ``chunks`` or of the database, raised again as its own class) ends
    with :data:`UNDONE`."""
    check_coordinates(coordinates)
    filled = {topic: count for topic, count in existing_counts(engine).items() if count}
    if filled and not force:
        detail = ", ".join(f"{TABLES[t].name}: {c:,} rows" for t, c in filled.items())
        raise PinlakeError(
            f"source database {_url(engine)} already has data ({detail}); use --force to "
            "replace them"
        )
    loading_metadata = MetaData()
    loading = _tables(loading_metadata, coordinates, LOADING_SUFFIX)
    quote = engine.dialect.identifier_preparer.quote
    with db_errors(_url(engine)):
        loading_metadata.drop_all(engine, checkfirst=True)  # a killed load's
        loading_metadata.create_all(engine)
    try:
        inserted = _insert_chunks(engine, loading, chunks, total=total, description=description)
        with db_errors(_url(engine)), engine.begin() as conn:
            metadata.drop_all(conn, tables=list(TABLES.values()), checkfirst=True)
            for topic, table in loading.items():
                conn.execute(
                    text(f"ALTER TABLE {quote(table.name)} RENAME TO {quote(TABLES[topic].name)}")
                )
    except BaseException as exc:
        with suppress(SQLAlchemyError):
            loading_metadata.drop_all(engine, checkfirst=True)
        if isinstance(exc, PinlakeError):  # a bad row, the database: the user's one line
            raise type(exc)(f"{exc} ({UNDONE})") from exc
        raise
    return inserted


#: What a failed load's error adds: none of its rows stays (:func:`load_tables`).
UNDONE = "nothing was loaded: the source tables are as they were"


def _insert_chunks(
    engine: Engine,
    tables: dict[str, Table],
    chunks: Iterable[dict[str, list[dict]]],
    *,
    total: int,
    description: str,
) -> dict[str, int]:
    """Insert ``{"pin": rows, "geo": rows, "user": rows}`` chunks into ``tables`` (by topic)
    in one transaction, with a progress bar over ``total`` rows; returns rows inserted per
    topic. The bar of a load that fails is taken away: its rows are not kept
    (:func:`load_tables`), so a count of them would mislead (a file's bad row left ``loading
    … 13173/24327 54%`` above the error)."""
    inserted = dict.fromkeys(tables, 0)
    statements = {topic: insert(table) for topic, table in tables.items()}
    with db_errors(_url(engine)), engine.begin() as conn, progress() as bar:
        _fast_sqlite(conn)
        task = bar.add_task(description, total=total)
        try:
            for chunk in chunks:
                for topic, rows in chunk.items():
                    if rows:
                        conn.execute(statements[topic], rows)
                        inserted[topic] += len(rows)
                        bar.advance(task, len(rows))
        except BaseException:
            bar.update(task, visible=False)
            raise
    return inserted


def _fast_sqlite(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA synchronous = OFF")


def init_source(
    settings: Settings,
    *,
    rows: int,
    seed: int,
    url: str | None,
    force: bool,
    coordinates: str = "double",
) -> dict[str, int]:
    """Create the three source tables filled with ``rows`` synthetic rows each (seeded) in the
    database of ``url`` (default ``settings.source_db_url``: SQLite, or the local MariaDB);
    returns the rows inserted per table (``{"pin": rows, "geo": rows, "user": rows}``).
    ``coordinates``: see :func:`replace_tables`. Raises :class:`UsageError` for bad arguments,
    :class:`PinlakeError` when the database is unreachable or already has rows (without
    ``force``)."""
    from pinlake.source.generator import SourceGenerator

    if rows < 1:
        raise UsageError("--rows must be at least 1")
    check_coordinates(coordinates)
    engine = engine_for(settings, url)
    try:
        start = time.perf_counter()
        generator = SourceGenerator(rows, seed)
        inserted = load_tables(
            engine,
            generator.chunks(CHUNK_ROWS),
            total=rows * len(TABLES),
            description=f"source rows ({rows:,} per table)",
            force=force,
            coordinates=coordinates,
        )
        elapsed = time.perf_counter() - start
    finally:
        engine.dispose()
    users = counted(generator.n_users, "user")  # "1 users" (helper-92)
    print_loaded(engine, inserted, f"(seed {seed}, {users}) in {elapsed:.1f}s")
    return inserted


class SourceReader:
    """The producer's read side of the source database: its size and rows by key.

    ``size()`` is :func:`source_size`; ``fetch(table, inds)`` is :func:`fetch_rows`. Raises
    :class:`PinlakeError` when the database is missing or unreadable. Close it (or use it as a
    context manager) to release the connection pool.
    """

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        self.engine = engine_for(settings, url, create=False)

    def size(self) -> int:
        """Posting events the source holds (rows of its largest table)."""
        return source_size(self.engine)

    def fetch(self, table: str, inds: Sequence[int]) -> dict[int, dict]:
        """Rows of ``table`` whose key is in ``inds``, by key (missing keys absent)."""
        return fetch_rows(self.engine, table, inds)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
