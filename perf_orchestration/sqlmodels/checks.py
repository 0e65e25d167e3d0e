"""Column tests declared in a model's yml (not_null, unique, accepted_values, relationships).

Each test counts the rows that break it with one aggregate query in the warehouse; a
failing test is a result with `failing_rows > 0`, not an exception, so a caller can
report every test of a run. Incremental models are tested within the window just run.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.sqlmodels.config import ColumnTest
from perf_orchestration.sqlmodels.dialect import window_params
from perf_orchestration.sqlmodels.errors import db_error
from perf_orchestration.sqlmodels.project import SqlModel, SqlProject
from perf_orchestration.sqlmodels.runner import Window, quote, relation


@dataclass(frozen=True)
class TestResult:
    """One column test's outcome; `sql` is the query that counted the failing rows."""

    __test__ = False  # not a pytest test class

    model: str
    column: str
    test: str
    passed: bool
    failing_rows: int
    sql: str


def _query(project: SqlProject, model: SqlModel, column: str, test: ColumnTest,
           window_filter: str) -> sa.TextClause:
    table = relation(model.schema, model.name)
    col = quote(column)
    scope = f" and {window_filter}" if window_filter else ""
    if test.kind == "not_null":
        return sa.text(f"select count(*) from {table} as t where t.{col} is null{scope}")
    if test.kind == "unique":
        return sa.text(f"select coalesce(sum(n), 0) from (select count(*) as n from {table} as t "
                       f"where t.{col} is not null{scope} group by t.{col} "
                       "having count(*) > 1) as dup")
    if test.kind == "accepted_values":
        return sa.text(f"select count(*) from {table} as t where t.{col} is not null "
                       f"and t.{col} not in :accepted_values{scope}").bindparams(
            sa.bindparam("accepted_values", expanding=True))
    schema, name = project.resolve(test.to or "").split(".")
    return sa.text(f"select count(*) from {table} as t where t.{col} is not null{scope} "
                   f"and not exists (select 1 from {relation(schema, name)} as parent "
                   f"where parent.{quote(test.field or '')} = t.{col})")


def run_tests(engine: Engine, project: SqlProject, name: str,
              window: Window | None = None) -> list[TestResult]:
    """Run the column tests of model `name` (within `window` for an incremental model)."""
    model = project.model(name)
    params: dict[str, object] = {}
    window_filter = ""
    if window is not None and model.materialized == "incremental":
        params = window_params(engine.dialect.name, window)
        column = quote(model.config.partition_by or "")
        window_filter = f"t.{column} >= :window_start and t.{column} < :window_end"
    results = []
    with engine.connect() as conn:
        for column in model.columns:
            for test in column.tests:
                query = _query(project, model, column.name, test, window_filter)
                values = {**params, "accepted_values": list(test.values or ())}
                if test.kind != "accepted_values":
                    values.pop("accepted_values")
                try:
                    failing = int(conn.execute(query, values).scalar() or 0)
                except sa.exc.StatementError as exc:
                    conn.rollback()
                    raise db_error(model.yml_path, exc) from None
                results.append(TestResult(model.name, column.name, test.kind, failing == 0,
                                          failing, query.text))
    return results
