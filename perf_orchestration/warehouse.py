"""The warehouse: one SQLAlchemy engine with the schemas raw, staging, marts and ops.

On the embedded default every schema is its own SQLite file next to the main
file, attached on connect, so `raw.mes_production` reads the same on SQLite and
PostgreSQL. WAL and a busy timeout let the daemon, runs and the webserver share
the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

if TYPE_CHECKING:
    import pandas as pd

SCHEMAS = ("raw", "staging", "marts", "ops")
SQLITE_BUSY_TIMEOUT_MS = 30_000
EMBEDDED_MAIN_FILE = "warehouse.db"


class WarehouseError(Exception):
    """The warehouse URL or server cannot be used; the message names the setting."""


def embedded_url(directory: Path | str) -> str:
    """The URL of the embedded warehouse kept in `directory`."""
    return f"sqlite:///{Path(directory).resolve() / EMBEDDED_MAIN_FILE}"


def redacted(url: str | URL) -> str:
    """The URL as users may see it: never with its password."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed._replace(password=None).render_as_string(hide_password=False)


def _attach_sqlite_schemas(main_file: Path):
    def on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see begin hook).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        for schema in SCHEMAS:
            path = main_file.with_name(f"{schema}.db")
            cur.execute("ATTACH DATABASE ? AS " + schema, (str(path),))
            cur.execute(f"PRAGMA {schema}.journal_mode = WAL")
            cur.execute(f"PRAGMA {schema}.synchronous = NORMAL")
        cur.close()

    return on_connect


def make_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path/warehouse.db or postgresql://...)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise WarehouseError(f"warehouse URL {url!r} is not a database URL "
                             "(expected sqlite:///DIR/warehouse.db or postgresql://...)") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise WarehouseError("the embedded warehouse needs a file path "
                                 "(sqlite:///DIR/warehouse.db)")
        main_file = Path(parsed.database).resolve()
        main_file.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _attach_sqlite_schemas(main_file))
        # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the
        # busy timeout instead of failing halfway with "database is locked".
        sa.event.listen(engine, "begin",
                        lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg2")
        return sa.create_engine(parsed, pool_pre_ping=True, pool_recycle=300)
    raise WarehouseError(f"warehouse URL {redacted(parsed)!r}: unsupported database "
                         f"{parsed.get_backend_name()!r} (use sqlite or postgresql)")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


SCHEMA_LOCK_KEY = 7_310_520_001  # the advisory lock taken while creating the warehouse


def ensure_schemas(engine: Engine, metadata: sa.MetaData) -> None:
    """Create the schemas (PostgreSQL) and every table of `metadata` that is missing."""
    try:
        with engine.begin() as conn:
            if not is_sqlite(engine):
                # processes starting on an empty warehouse at once (Celery workers, ingestion
                # workers) create it one after the other: two concurrent CREATE ... IF NOT
                # EXISTS can both find nothing and the second then fails on a duplicate key
                conn.execute(sa.text("select pg_advisory_xact_lock(:key)"),
                             {"key": SCHEMA_LOCK_KEY})
                # only the missing ones: CREATE SCHEMA needs the CREATE privilege on the
                # database even when the schema exists, which the pipeline role lacks
                have = set(sa.inspect(conn).get_schema_names())
                for schema in SCHEMAS:
                    if schema not in have:
                        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            metadata.create_all(conn)
            _add_missing_columns(conn, metadata)
    except sa.exc.OperationalError as exc:
        raise WarehouseError(
            f"warehouse {redacted(engine.url)} is not reachable: "
            f"{str(exc.orig).strip().splitlines()[0]}") from None


def _add_missing_columns(conn: sa.Connection, metadata: sa.MetaData) -> None:
    """Add columns a newer release defines to tables an older one created. Only columns
    that are nullable or carry a server default are added (existing rows stay valid)."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        for column in table.columns:
            if column.name in have or not (column.nullable or column.server_default is not None):
                continue
            ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
            table_name = conn.dialect.identifier_preparer.format_table(table)
            conn.execute(sa.text(f"ALTER TABLE {table_name} ADD COLUMN {ddl}"))


ANALYZE_AFTER_ROWS = 1000
_NULL_MARK = r"\N"  # how COPY's text says NULL, so that an empty string stays one


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert `rows` into `table` inside the caller's transaction (see insert_frame)."""
    if rows:
        import pandas as pd

        insert_frame(conn, table, pd.DataFrame(rows, dtype=object))  # values as given


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a DataFrame whose columns are `table`'s, inside the caller's transaction: on
    PostgreSQL one COPY whose text pandas writes in C (a year's landing is millions of rows;
    COPY is several times faster than a multi-row INSERT, and per-value Python formatting
    was a third of the landing's time), elsewhere a plain executemany."""
    if frame.empty:
        return
    strings = [c for c in frame.columns if frame[c].dtype == "string" or frame[c].dtype == object]
    if conn.dialect.name != "postgresql" or any(
            frame[c].eq(_NULL_MARK).any() for c in strings):  # a value that reads as NULL
        conn.execute(table.insert(), [{k: _python_value(v) for k, v in row.items()}
                                      for row in frame.to_dict("records")])
        return
    import io

    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False, na_rep=_NULL_MARK)
    buffer.seek(0)
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(n) for n in frame.columns)
    _copy(conn, f"copy {preparer.format_table(table)} ({names}) from stdin "
          rf"with (format csv, null '{_NULL_MARK}')", buffer)


def _copy(conn: sa.Connection, statement: str, buffer) -> None:
    """COPY through the driver's cursor, its errors raised as SQLAlchemy raises a statement's
    (a lost server is an OperationalError and invalidates the connection, as for any
    statement), so callers handle one kind of error whichever way the rows went in."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.copy_expert(statement, buffer)
    except dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate()
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error,
                                         connection_invalidated=lost,
                                         dialect=conn.dialect) from exc
    finally:
        try:
            cursor.close()
        except dbapi.Error:
            pass  # the connection is gone; the error above says so


def _python_value(value: object) -> object:
    """A pandas cell as the plain Python value a DB-API driver takes (None for missing)."""
    import pandas as pd

    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def analyze(conn: sa.Connection, table: sa.Table) -> None:
    """Fresh planner statistics for `table` on PostgreSQL, after a backfill filled it: a
    just-filled table otherwise looks empty to the planner, which then picks nested loops
    that grow with the square of the rows (a year's hourly mart took minutes, not seconds)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"analyze {conn.dialect.identifier_preparer.format_table(table)}"))
