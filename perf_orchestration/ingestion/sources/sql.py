"""SQL reader of a source system: a table or view, or a query, read in chunks.

The table is reflected once (SQLAlchemy reflection: PostgreSQL, SQLite here; SQL Server or
Oracle views through their dialects), so a mapped column the view does not have is a
setting error naming the view and the column before anything is read, and the window's
bounds are bound with the column's own type. A query names its window as :start and :end
(and is wrapped to filter on the change time for a resume point). Rows are read in chunks
of `chunk_rows` from a server-side cursor and mapped onto the canonical entity like an
API's records.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import entity as canonical_entity
from perf_orchestration.ingestion.sources.config import SOURCES_FILE, SqlEntity, SqlSystem
from perf_orchestration.ingestion.sources.mapping import Mapper, SourceSettingError
from perf_orchestration.ingestion.sources.times import BadTime, canonical_time, sql_value

if TYPE_CHECKING:
    from perf_orchestration.ingestion.client import FetchResult


class SqlSource:
    """Reads one database source system's entities."""

    def __init__(self, system: str, spec: SqlSystem, url: str | None = None, *,
                 timezone: str | None = None):
        from perf_orchestration.ingestion.client import env_value
        from perf_orchestration.plant_calendar import plant_tz

        self.system, self.spec = system, spec
        self.where = f"{SOURCES_FILE}: systems.{system}"
        self.url = url or env_value(spec.url_env, f"{self.where}.url_env")
        try:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise SourceSettingError(f"{self.where}.url_env: {spec.url_env} is not a "
                                     f"SQLAlchemy URL this install can open: {exc}") from None
        self.tz = plant_tz(spec.timezone or timezone)
        self._plans: dict[str, _Plan] = {}

    def close(self) -> None:
        self.engine.dispose()

    def fetch(self, entity: str, *, start: datetime | None = None, end: datetime | None = None,
              since: datetime | str | None = None) -> FetchResult:
        from perf_orchestration.ingestion.client import CallStats, FetchResult

        plan = self._plan(entity)
        statement = plan.statement(start, end, self._since(since, plan))
        rows: list[dict] = []
        chunks = 0
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(statement)
                names = list(result.keys())
                plan.check_columns(names)
                while chunk := result.fetchmany(self.spec.chunk_rows):
                    chunks += 1
                    rows.extend(dict(zip(names, row, strict=True)) for row in chunk)
        except sa.exc.SQLAlchemyError as exc:
            raise SourceSettingError(f"{plan.where}: reading {plan.source} failed: "
                                     f"{_first_line(exc)}") from None
        mapped, rejected = plan.mapper.map(rows)
        cursor = max((r["updated_at"] for r in mapped if r.get("updated_at")), default=None)
        return FetchResult(mapped, cursor, chunks, CallStats(requests=1), rejected)

    def _since(self, since: datetime | str | None, plan: _Plan):
        if since is None:
            return None
        try:
            moment = since if isinstance(since, datetime) else datetime.fromisoformat(
                canonical_time(since, "iso8601", self.tz))
        except BadTime as exc:
            raise SourceSettingError(f"{plan.where}: resume point {exc}") from None
        return sql_value(moment, plan.times, self.tz)

    def _plan(self, entity: str) -> _Plan:
        if entity not in self._plans:
            spec = self.spec.entities.get(entity)
            where = f"{self.where}.entities.{entity}"
            if spec is None:
                raise SourceSettingError(f"{where}: not configured; say which table, view or "
                                         "query holds it")
            mapper = Mapper(canonical_entity(self.system, entity), spec, self.spec.times,
                            self.tz, where, json_values=False)
            self._plans[entity] = _Plan(self, spec, mapper, where)
        return self._plans[entity]


class _Plan:
    """How one entity is selected: the reflected table or the query, and its columns."""

    def __init__(self, source: SqlSource, spec: SqlEntity, mapper: Mapper, where: str):
        self.spec, self.mapper, self.where = spec, mapper, where
        self.times = spec.times or source.spec.times
        self.tz = source.tz
        self.entity = mapper.entity
        if spec.table:
            schema, _, name = spec.table.rpartition(".")
            self.source = f"table {spec.table}"
            try:
                self.table = sa.Table(name, sa.MetaData(), schema=schema or None,
                                      autoload_with=source.engine)
            except sa.exc.NoSuchTableError:
                raise SourceSettingError(f"{where}.table: no table or view {spec.table!r} in "
                                         f"{source.engine.url.render_as_string()}") from None
            except sa.exc.SQLAlchemyError as exc:
                raise SourceSettingError(f"{where}.table: {spec.table}: "
                                         f"{_first_line(exc)}") from None
            self.check_columns([c.name for c in self.table.columns], reflected=True)
        else:
            self.source, self.table = "the query", None

    def wanted(self) -> list[tuple[str, str, bool]]:
        """(canonical column, source column, must exist) for every column of the entity."""
        return [(c.name, self.mapper.source_column(c.name),
                 c.required or c.name in self.mapper.explicit) for c in self.entity.columns]

    def check_columns(self, names: list[str], reflected: bool = False) -> None:
        if not reflected and self.table is not None:
            return  # the table's columns were checked when it was reflected
        have = set(names)
        for column, source, required in self.wanted():
            if required and source not in have:
                raise SourceSettingError(
                    f"{self.where}.fields.{column}: column {source!r} is not in "
                    f"{self.source} (its columns: {', '.join(names)})")
        if self.spec.time_column and self.spec.time_column not in have:
            raise SourceSettingError(f"{self.where}.time_column: column "
                                     f"{self.spec.time_column!r} is not in {self.source} "
                                     f"(its columns: {', '.join(names)})")

    def statement(self, start, end, since):
        bound = {k: sql_value(v, self.times, self.tz) for k, v in (("start", start),
                                                                     ("end", end)) if v}
        updated = self.mapper.source_column("updated_at")
        if self.table is not None:
            t = self.table
            present = [s for _, s, _ in self.wanted() if s in t.c]
            query = sa.select(*[t.c[s] for s in dict.fromkeys(present)])
            if self.spec.time_column:
                time = t.c[self.spec.time_column]
                query = query.where(*([time >= bound["start"]] if "start" in bound else []),
                                    *([time < bound["end"]] if "end" in bound else []))
            if since is not None:
                query = query.where(t.c[updated] > since)
            return query.order_by(*[t.c[self.mapper.source_column(k)]
                                    for k in self.entity.key])
        text = sa.text(self.spec.query).bindparams(
            *[sa.bindparam(k, v) for k, v in bound.items()
              if f":{k}" in self.spec.query])
        missing = [k for k in ("start", "end") if f":{k}" in self.spec.query and k not in bound]
        if missing:
            raise SourceSettingError(f"{self.where}.query: it filters on :{missing[0]} but "
                                     "this read has no such bound (a snapshot entity's "
                                     "query takes no window)")
        if since is None:
            return text
        sub = text.columns().subquery("q")
        return sa.select(sa.text("*")).select_from(sub).where(
            sa.column(updated) > sa.bindparam("since", since))


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
