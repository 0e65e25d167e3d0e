"""The values rules watch, read from the warehouse one window at a time.

A metric rule on a team-hour metric reads marts.team_hourly_quality; each observation
carries the time the source record that completed the hour reached its source system
(the newest `updated_at` of the metric's source rows), which is the signal time response
is measured from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.entities import ENTITIES_BY_TABLE
from perf_orchestration.metric_library import TEAM_HOURLY, metric
from perf_orchestration.tables import RAW_TABLES

# the source whose records complete a metric's hour, by the metric's numerator
SIGNAL_SOURCE = {"fai_passed": "mes_first_article_inspections",
                 "checks_completed": "mes_equipment_checks"}
DEFAULT_SIGNAL_SOURCE = "mes_production"


@dataclass(frozen=True)
class TeamHour:
    team_id: str
    line_id: str | None
    partition_key: str
    window_start: datetime  # UTC naive
    window_end: datetime
    value: float | None
    signal_at: datetime | None


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def team_hour_observations(engine: Engine, metric_name: str, start: datetime, end: datetime
                           ) -> dict[str, list[TeamHour]]:
    """Per team, the metric's hourly values for hours starting in [start, end) (UTC naive)."""
    m = metric(metric_name)
    if m.mart != TEAM_HOURLY:
        raise ValueError(f"metric {metric_name} is not a team-hour metric ({m.mart})")
    source_name = SIGNAL_SOURCE.get(m.numerator, DEFAULT_SIGNAL_SOURCE)
    source = RAW_TABLES[source_name]
    event_time = source.c[ENTITIES_BY_TABLE[source_name].event_time]
    mart = sa.table(TEAM_HOURLY, sa.column("team_id"), sa.column("line_id"),
                    sa.column("partition_key"), sa.column("hour_start"),
                    sa.column("hour_end"), sa.column(m.column), schema="marts")
    signals = (sa.select(source.c.team_id, source.c.partition_key,
                         sa.func.max(source.c.updated_at).label("signal_at"))
               .where(event_time >= start, event_time < end)
               .group_by(source.c.team_id, source.c.partition_key).subquery())
    query = (sa.select(mart.c.team_id, mart.c.line_id, mart.c.partition_key, mart.c.hour_start,
                       mart.c.hour_end, mart.c[m.column].label("value"), signals.c.signal_at)
             .select_from(mart.outerjoin(signals, sa.and_(
                 signals.c.team_id == mart.c.team_id,
                 signals.c.partition_key == mart.c.partition_key)))
             .where(mart.c.hour_start >= start, mart.c.hour_start < end)
             .order_by(mart.c.team_id, mart.c.hour_start))
    out: dict[str, list[TeamHour]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query):
            out.setdefault(r.team_id, []).append(TeamHour(
                r.team_id, r.line_id, r.partition_key, _dt(r.hour_start), _dt(r.hour_end),
                None if r.value is None else float(r.value), _dt(r.signal_at)))
    return out
