"""A model's table at a glance: its row count and its first rows as a markdown table.

What a data engineer would otherwise open a SQL console for, shown beside the asset in the
Dagster UI. The relation and column names come from the validated model project, never
from data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.sqlmodels.runner import quote, relation

PREVIEW_ROWS = 8
CELL_WIDTH = 24


@dataclass(frozen=True)
class Preview:
    row_count: int
    columns: list[str]
    rows: list[tuple]

    def markdown(self) -> str:
        """The rows as a GitHub markdown table (long cells cut, pipes escaped)."""
        if not self.columns:
            return "(no columns)"
        lines = ["| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        if not self.rows:
            lines.append("| " + " | ".join([""] * len(self.columns)) + " |")
        return "\n".join(lines)


def preview(engine: Engine, schema: str, table: str, newest_first: str | None = None,
            limit: int = PREVIEW_ROWS) -> Preview:
    """Row count and the first `limit` rows (newest first on `newest_first` when given)."""
    name = relation(schema, table)
    order = f" order by {quote(newest_first)} desc" if newest_first else ""
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"select count(*) from {name}")).scalar_one()
        result = conn.execute(sa.text(f"select * from {name}{order} limit :n"), {"n": limit})
        return Preview(int(count), list(result.keys()), [tuple(r) for r in result])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, datetime | date):
        text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    else:
        text = str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"
