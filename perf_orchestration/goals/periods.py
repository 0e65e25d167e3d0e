"""The goal periods a run touches, from the plant calendar (local dates or ISO weeks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.plant_calendar import period_end
from perf_orchestration.sqlmodels.dialect import window_params

PERIOD_COLUMNS = {"day": ("local_date", "day_start"), "week": ("iso_week", "week_start")}


def as_datetime(value: object) -> datetime:
    """A timestamp as both databases return it (SQLite gives text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class PeriodSpan:
    """One period: its key, its start and end (UTC), and the end of the data loaded so far."""

    kind: str
    key: str
    start: datetime
    end: datetime
    data_until: datetime

    @property
    def elapsed_share(self) -> float:
        """How much of the period the loaded hours cover, 0..1."""
        share = (self.data_until - self.start) / (self.end - self.start)
        return min(1.0, max(0.0, share))


def periods_touched(engine: sa.Engine, kind: str, start: datetime, end: datetime) \
        -> list[PeriodSpan]:
    """Every period of `kind` with a calendar hour in [start, end) (naive UTC)."""
    key_col, start_col = PERIOD_COLUMNS[kind]
    sql = sa.text(
        f"select c.{key_col}, min(c.{start_col}), "  # identifiers from PERIOD_COLUMNS only
        f"(select max(a.hour_end) from staging.plant_calendar a where a.{key_col} = c.{key_col})"
        f" from staging.plant_calendar c "
        f"where c.hour_start >= :window_start and c.hour_start < :window_end "
        f"group by c.{key_col} order by c.{key_col}")
    with engine.connect() as conn:
        rows = conn.execute(sql, window_params(engine.dialect.name, (start, end))).all()
    out = []
    for key, first, until in rows:
        begin = as_datetime(first)
        out.append(PeriodSpan(kind, key, begin, period_end(start_col, begin),
                              as_datetime(until)))
    return out
