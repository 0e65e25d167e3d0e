"""Materializing models in the warehouse: table, view and incremental (a time window replaced).

Each run is one transaction, so readers see the old or the new relation, never a half.
Identifiers in the statements come only from validated file and config names; the
window reaches the SQL as bound parameters.

Two database facts shape the statements:
- PostgreSQL refuses to drop a table or view that views depend on; the runner drops with
  `cascade` and re-creates, in the same transaction, the project's views that depended
  on it (views outside the project that depended on it are gone and must be re-created
  by their owner).
- SQLite cannot create a view in one attached schema file over another ("view ... cannot
  reference objects in database raw"), so on the embedded warehouse a view model that
  reads another schema is materialized as a table (`ModelResult.materialized` is then
  'table' and `note` says why).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from perf_orchestration.sqlmodels.dialect import FULL_REFRESH_WINDOW, sql_for, window_params
from perf_orchestration.sqlmodels.errors import ModelError, db_error
from perf_orchestration.sqlmodels.project import SqlModel, SqlProject
from perf_orchestration.warehouse import ANALYZE_AFTER_ROWS

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class ModelResult:
    """What one model run did: rows in the relation (or inserted, for a window) and the SQL.

    `sql` is the model's select as the database ran it (translated on SQLite);
    `statements` are all statements of the run, in order.
    """

    name: str
    rows: int
    seconds: float
    sql: str
    materialized: str
    deleted: int = 0
    statements: tuple[str, ...] = ()
    note: str = ""


def quote(name: str) -> str:
    """A validated identifier, quoted so that column names like `user` stay names."""
    return f'"{name}"'


def relation(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


class _Session:
    """Runs a model's statements on one connection, turning database errors into ModelError."""

    def __init__(self, conn: Connection, model: SqlModel, params: dict[str, object]):
        self.conn = conn
        self.model = model
        self.params = params
        self.statements: list[str] = []

    @property
    def postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def run(self, statement: str, embeds_model_sql: bool = False) -> sa.CursorResult:
        self.statements.append(statement)
        try:
            return self.conn.execute(sa.text(statement), self.params)
        except sa.exc.StatementError as exc:
            source = self.model.rendered if embeds_model_sql else ""
            raise db_error(self.model.path, exc, source) from None

    def kind(self, model: SqlModel) -> str | None:
        """'table', 'view' or None: what exists now under the model's name."""
        if self.postgres:
            found = self.conn.execute(sa.text(
                "select case c.relkind when 'v' then 'view' else 'table' end from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = :schema and c.relname = :name and c.relkind in ('r', 'p', 'v')"),
                {"schema": model.schema, "name": model.name}).scalar()
        else:
            found = self.conn.execute(sa.text(
                f"select type from {quote(model.schema)}.sqlite_master "
                "where name = :name and type in ('table', 'view')"), {"name": model.name}).scalar()
        return found

    def drop(self, model: SqlModel, kind: str) -> None:
        cascade = " cascade" if self.postgres else ""
        self.run(f"drop {kind} {relation(model.schema, model.name)}{cascade}")


def _model_sql(conn: Connection, model: SqlModel) -> str:
    return sql_for(conn.dialect.name, model.rendered, model.path)


def _view_possible(conn: Connection, project: SqlProject, model: SqlModel) -> bool:
    if conn.dialect.name != "sqlite":
        return True
    schemas = {project.models[r].schema for r in model.refs}
    schemas |= {project.sources[s].schema for s in model.sources}
    return schemas <= {model.schema}


def _dependent_views(session: _Session, project: SqlProject, model: SqlModel) -> list[SqlModel]:
    """Project views that PostgreSQL drops with `model` (views over it, and over those)."""
    if not session.postgres:
        return []
    hit, out = {model.name}, []
    for name in project.downstream(model.name):
        other = project.models[name]
        if other.materialized == "view" and set(other.refs) & hit:
            hit.add(name)
            if session.kind(other) == "view":
                out.append(other)
    return out


def _recreate(session: _Session, views: list[SqlModel]) -> None:
    for view in views:
        session.run(f"create view {relation(view.schema, view.name)} as "
                    f"{_model_sql(session.conn, view)}\n")


def _unique_index(session: _Session, model: SqlModel) -> None:
    keys = model.config.unique_key
    if not keys:
        return
    index = f"uq_{model.name}"[:63]
    columns = ", ".join(quote(k) for k in keys)
    if session.postgres:
        session.run(f"create unique index {quote(index)} on "
                    f"{relation(model.schema, model.name)} ({columns})")
    else:
        session.run(f"create unique index {relation(model.schema, index)} on "
                    f"{quote(model.name)} ({columns})")


def _partition_index(session: _Session, model: SqlModel) -> None:
    """An index on the window column, so replacing a window costs the same at any history."""
    column = model.config.partition_by
    if not column:
        return
    index = f"ix_{model.name}_{column}"[:63]
    if session.postgres:
        session.run(f"create index {quote(index)} on "
                    f"{relation(model.schema, model.name)} ({quote(column)})")
    else:
        session.run(f"create index {relation(model.schema, index)} on "
                    f"{quote(model.name)} ({quote(column)})")


def _analyze(session: _Session, model: SqlModel) -> None:
    """Fresh planner statistics on PostgreSQL: a just-filled table otherwise looks empty to
    the planner, which then picks nested loops that grow with the square of the rows."""
    if session.postgres:
        session.run(f"analyze {relation(model.schema, model.name)}")


def _count(session: _Session, model: SqlModel) -> int:
    return int(session.run(f"select count(*) from {relation(model.schema, model.name)}").scalar())


def _build_table(session: _Session, project: SqlProject, model: SqlModel) -> int:
    kind = session.kind(model)
    views = _dependent_views(session, project, model) if kind else []
    if kind:
        session.drop(model, kind)
    session.run(f"create table {relation(model.schema, model.name)} as "
                f"{_model_sql(session.conn, model)}\n", embeds_model_sql=True)
    _unique_index(session, model)
    _analyze(session, model)
    _recreate(session, views)
    return _count(session, model)


def _build_view(session: _Session, project: SqlProject, model: SqlModel) -> int:
    target = relation(model.schema, model.name)
    body = _model_sql(session.conn, model)
    kind = session.kind(model)
    if session.postgres and kind == "view":
        savepoint = session.conn.begin_nested()
        try:
            session.run(f"create or replace view {target} as {body}\n", embeds_model_sql=True)
            savepoint.commit()
            return _count(session, model)
        except ModelError:  # columns renamed or dropped: replace fails, so drop and create
            savepoint.rollback()
            session.statements.pop()
    views = _dependent_views(session, project, model) if kind else []
    if kind:
        session.drop(model, kind)
    session.run(f"create view {target} as {body}\n", embeds_model_sql=True)
    _recreate(session, views)
    return _count(session, model)


def _replace_window(session: _Session, project: SqlProject, model: SqlModel) -> tuple[int, int]:
    """Delete the window's rows and insert the model's rows for it; (inserted, deleted)."""
    target = relation(model.schema, model.name)
    body = _model_sql(session.conn, model)
    column = quote(model.config.partition_by or "")
    kind = session.kind(model)
    if kind is None or kind == "view":  # first run, or the model was a view before
        views = _dependent_views(session, project, model) if kind else []
        if kind:
            session.drop(model, kind)
        session.run(f"create table {target} as select * from ({body}\n) as _model where 1 = 0",
                    embeds_model_sql=True)
        _unique_index(session, model)
        _partition_index(session, model)
        _recreate(session, views)
    deleted = session.run(f"delete from {target} "
                          f"where {column} >= :window_start and {column} < :window_end").rowcount
    # Rows the select returns outside the window are left out, so a rerun stays idempotent.
    inserted = session.run(f"insert into {target} select * from ({body}\n) as _model "
                           f"where _model.{column} >= :window_start "
                           f"and _model.{column} < :window_end", embeds_model_sql=True).rowcount
    if inserted >= ANALYZE_AFTER_ROWS:  # a backfill; autovacuum keeps up with single hours
        _analyze(session, model)
    return inserted, deleted


def run_model(engine: Engine, project: SqlProject, name: str,
              window: Window | None = None) -> ModelResult:
    """Materialize model `name` in one transaction, or raise ModelError naming its file.

    An incremental model replaces `window` (half-open, [start, end)) or, without one, is
    rebuilt whole; table and view models ignore the window, as they are rebuilt every run.
    """
    model = project.model(name)
    started = time.perf_counter()
    materialized = model.materialized
    deleted = 0
    params = window_params(engine.dialect.name, window or FULL_REFRESH_WINDOW)
    with engine.begin() as conn:
        session = _Session(conn, model, params)
        if materialized == "view" and not _view_possible(conn, project, model):
            materialized = "table"
        if materialized == "view":
            rows = _build_view(session, project, model)
        elif materialized == "incremental" and window is not None:
            rows, deleted = _replace_window(session, project, model)
        else:
            rows = _build_table(session, project, model)
        sql = _model_sql(conn, model)
    note = ""
    if model.materialized == "incremental" and window is None:
        note = "full refresh: no window given, the whole table was rebuilt"
    elif materialized != model.materialized:
        note = "a table, not a view: SQLite views cannot read another schema's file"
    return ModelResult(name, rows, time.perf_counter() - started, sql, materialized, deleted,
                       tuple(session.statements), note)


def run_project(engine: Engine, project: SqlProject, window: Window | None = None,
                select: list[str] | None = None) -> list[ModelResult]:
    """Run `select` (default: every model) in dependency order, the window for incrementals."""
    chosen = set(select) if select is not None else None
    return [run_model(engine, project, name, window if
                      project.model(name).materialized == "incremental" else None)
            for name in project.order() if chosen is None or name in chosen]
