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

from perf_orchestration.ingestion import hourly_windows
from perf_orchestration.tables import RAW_TABLES

HISTORY = timedelta(days=7)
LOW_FACTOR = 0.5
HIGH_FACTOR = 2.0


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
    """Is the newest row of hours [start, end) (aware) at most `limit_hours` old at `end`?"""
    table = RAW_TABLES[raw_table]
    keys = [w.partition_key for w in hourly_windows(start, end)]
    with engine.connect() as conn:
        newest = conn.execute(sa.select(sa.func.max(table.c[loaded_at]))
                              .where(table.c.partition_key.in_(keys))).scalar()
    if isinstance(newest, str):
        newest = datetime.fromisoformat(newest)
    if newest is None:
        return Freshness(None, None, limit_hours, False)
    end_utc = end.astimezone(UTC).replace(tzinfo=None)
    age = (end_utc - newest).total_seconds() / 3600
    return Freshness(newest, round(age, 3), limit_hours, age <= limit_hours)


def hourly_volume(engine: Engine, raw_table: str, start: datetime, end: datetime) -> Volume:
    """Rows per hour in [start, end) against the week before; an empty or far-off hour fails."""
    table = RAW_TABLES[raw_table]
    window_keys = [w.partition_key for w in hourly_windows(start, end)]
    history_keys = [w.partition_key for w in hourly_windows(start - HISTORY, start)]
    now = _counts(engine, table, window_keys)
    per_hour = {k: now.get(k, 0) for k in window_keys}
    history = [n for n in _counts(engine, table, history_keys).values() if n > 0]
    reference = history or [n for n in per_hour.values() if n > 0]
    if not reference:
        return Volume(per_hour, None, {}, True)  # a source with no rows ever: nothing to judge
    median = statistics.median(reference)
    outliers = {k: n for k, n in per_hour.items()
                if n == 0 or n < LOW_FACTOR * median or n > HIGH_FACTOR * median}
    # sparse sources (a few events a day) legitimately have empty hours
    if median < 5:
        outliers = {k: n for k, n in outliers.items() if n > HIGH_FACTOR * max(median, 1) * 5}
    return Volume(per_hour, median, outliers, not outliers)
