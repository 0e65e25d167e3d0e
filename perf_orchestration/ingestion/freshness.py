"""Freshness and volume of a landed source, so a source that stopped sending never looks
like a perfect hour.

Freshness: the newest `loaded_at` value among the rows of the hours processed,
against the end of those hours. Volume: rows per hour against the same source's
hours in the preceding week (or, with no history yet, against the other hours
of the run).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.ingestion.landing import hourly_windows
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import RAW_TABLES

HISTORY = timedelta(days=7)
LOW_FACTOR = 0.5
HIGH_FACTOR = 2.0
SPARSE_MEDIAN = 5


@dataclass(frozen=True)
class Freshness:
    newest: datetime | None
    age_hours: float | None
    limit_hours: float
    fresh: bool


@dataclass(frozen=True)
class Volume:
    per_hour: dict[str, int]
    baseline_median: float | None
    outliers: dict[str, int]
    ok: bool


def _counts(engine: Engine, table: sa.Table, keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = (sa.select(table.c.partition_key, sa.func.count())
                 .where(table.c.partition_key.in_(chunk)).group_by(table.c.partition_key))
            out.update({k: n for k, n in conn.execute(q)})
    return out


def source_freshness(engine: Engine, raw_table: str, loaded_at: str, limit_hours: float,
                     start: datetime, end: datetime) -> Freshness:
    """Is the source's newest row up to the end of [start, end) at most `limit_hours` old?

    Rows of the week before `start` count too, so a source that sends a few events a day
    is judged by its last event, not by whether this hour happened to have one.
    """
    table = RAW_TABLES[raw_table]
    first_key = calendar_row(start - HISTORY)["partition_key"]
    last_key = calendar_row(end - timedelta(hours=1))["partition_key"]
    end_utc = end.astimezone(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        newest = conn.execute(
            sa.select(sa.func.max(table.c[loaded_at]))
            .where(table.c.partition_key >= first_key, table.c.partition_key <= last_key,
                   table.c[loaded_at] <= end_utc)).scalar()
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    if newest is None:
        return Freshness(None, None, limit_hours, False)
    age = (end_utc - newest).total_seconds() / 3600
    return Freshness(newest, round(age, 3), limit_hours, age <= limit_hours)


def hourly_volume(engine: Engine, raw_table: str, start: datetime, end: datetime) -> Volume:
    """Rows per hour in [start, end) against the same hour of the week's days before.

    Comparing 09:00 with earlier 09:00s respects a source's daily rhythm (checks due at
    08:30, a start-up burst at shift change). An hour with no rows where the same hour
    usually has some fails; with no history yet, or for a source with a few rows an
    hour, there is nothing to judge and the check passes saying so.
    """
    table = RAW_TABLES[raw_table]
    window_keys = [w.partition_key for w in hourly_windows(start, end)]
    days = range(1, HISTORY.days + 1)
    history_keys = {w.partition_key: [calendar_row(w.start - timedelta(days=d))["partition_key"]
                                      for d in days]
                    for w in hourly_windows(start, end)}
    now = _counts(engine, table, window_keys)
    past = _counts(engine, table, sorted({k for ks in history_keys.values() for k in ks}))
    per_hour = {k: now.get(k, 0) for k in window_keys}
    if not past:
        return Volume(per_hour, None, {}, True)
    outliers: dict[str, int] = {}
    medians = []
    for key, n in per_hour.items():
        median = statistics.median(past.get(k, 0) for k in history_keys[key])
        medians.append(median)
        if median >= SPARSE_MEDIAN and (n < LOW_FACTOR * median or n > HIGH_FACTOR * median):
            outliers[key] = n
    return Volume(per_hour, statistics.median(medians), outliers, not outliers)
