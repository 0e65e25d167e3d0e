"""Schema `staging`: the plant calendar, written from Python (the one place local dates,
shifts and weeks are derived); the SQL models create the other staging tables."""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.tables.base import table
from perf_orchestration.warehouse import analyze

plant_calendar = table("staging", "plant_calendar", """
    partition_key text pk
    hour_start    datetime not null
    hour_end      datetime not null
    local_date    text not null
    local_hour    int not null
    shift         text not null
    shift_date    text not null
    shift_start   datetime not null
    day_start     datetime not null
    iso_week      text not null
    week_start    datetime not null
""", comment="One row per local plant hour: date, shift and week, in the plant's time zone "
             "(times are UTC).")


def upsert_calendar(conn: sa.Connection, rows: list[dict]) -> None:
    """Replace the calendar rows for these hours (idempotent)."""
    keys = [r["partition_key"] for r in rows]
    for i in range(0, len(keys), 500):
        conn.execute(plant_calendar.delete().where(
            plant_calendar.c.partition_key.in_(keys[i:i + 500])))
    if rows:
        conn.execute(plant_calendar.insert(), rows)
    if len(rows) > 25:  # more than a day: a backfill the models will join at once
        analyze(conn, plant_calendar)
