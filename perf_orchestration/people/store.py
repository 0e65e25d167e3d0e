"""Writing the people loop's marts: a mart and the rows it set aside, replaced together."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.tables import quarantine


def replace_mart(engine: Engine, table: sa.Table, rows: list[dict], entity: str,
                 bad: list[dict]) -> None:
    """Replace a people mart and the quarantine rows it set aside (quarantine partition
    `<schema>.<table>` of `entity`), in one transaction: a re-run never doubles either."""
    with engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(quarantine.delete().where(
            quarantine.c.entity == entity,
            quarantine.c.partition_key == f"{table.schema}.{table.name}"))
        if rows:
            conn.execute(table.insert(), rows)
        if bad:
            conn.execute(quarantine.insert(), bad)
