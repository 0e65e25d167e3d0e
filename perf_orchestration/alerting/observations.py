"""The values rules watch, read from the warehouse one window at a time.

A metric rule on a team-hour metric reads marts.team_hourly_quality; each observation
carries the time the source record that completed the hour reached its source system
(the newest `updated_at` of the metric's source rows), which is the signal time response
is measured from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.rules.episodes import Observation
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.metrics.library import DELIVERY_HOURLY, TEAM_HOURLY, metric
from perf_orchestration.plant_calendar import period_end
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


def _ratio_of_sums(m, rows) -> float | None:
    """A metric recomputed from summed quantities: sum(numerator) / sum(denominator), NULL
    when the denominator (or a null_when_zero column) sums to 0."""
    num = sum(r[m.numerator] or 0 for r in rows)
    if m.denominator is None:
        return float(num)
    den = sum(r[m.denominator] or 0 for r in rows)
    if not den or any(not sum(r[c] or 0 for r in rows) for c in m.null_when_zero):
        return None
    return num / den


def line_hour_observations(engine: Engine, metric_name: str, start: datetime, end: datetime
                           ) -> dict[str, list[Observation]]:
    """Per line, a team-hour metric over the line's teams: summed numerators over summed
    denominators (never an average of the teams' ratios); the signal is the newest."""
    m = metric(metric_name)
    cols = {m.numerator, *([m.denominator] if m.denominator else []), *m.null_when_zero}
    mart = sa.table(TEAM_HOURLY, sa.column("team_id"), sa.column("line_id"),
                    sa.column("hour_start"), sa.column("hour_end"),
                    *(sa.column(c) for c in cols), schema="marts")
    query = (sa.select(mart.c.line_id, mart.c.hour_start, mart.c.hour_end,
                       *(mart.c[c] for c in cols))
             .where(mart.c.hour_start >= start, mart.c.hour_start < end,
                    mart.c.line_id.is_not(None))
             .order_by(mart.c.line_id, mart.c.hour_start))
    signals = {(h.team_id, h.window_start): h.signal_at
               for hs in team_hour_observations(engine, metric_name, start, end).values()
               for h in hs}
    teams = RAW_TABLES["hr_teams"]
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        members = conn.execute(sa.select(teams.c.team_id, teams.c.line_id)).all()
    line_teams: dict[str, list[str]] = {}
    for team, line in members:
        line_teams.setdefault(line, []).append(team)
    grouped: dict[tuple[str, datetime, datetime], list] = {}
    for r in rows:
        grouped.setdefault((r["line_id"], _dt(r["hour_start"]), _dt(r["hour_end"])), []).append(r)
    out: dict[str, list[Observation]] = {}
    for (line, hs, he), rs in grouped.items():
        stamps = [s for t in line_teams.get(line, ()) if (s := signals.get((t, hs)))]
        out.setdefault(line, []).append(Observation(hs, he, _ratio_of_sums(m, rs),
                                                    max(stamps, default=None), line_id=line))
    return out


def device_day_observations(engine: Engine, metric_name: str, start: datetime, end: datetime
                            ) -> dict[str, list[Observation]]:
    """Per device, a device-day metric for the plant days starting in [start, end); the
    signal is the newest equipment event of the device that day."""
    m = metric(metric_name)
    mart = sa.table(m.mart, sa.column("device_id"), sa.column("line_id"),
                    sa.column("day_start"), sa.column(m.column), schema="marts")
    events = RAW_TABLES["mes_equipment_events"]
    query = (sa.select(mart.c.device_id, mart.c.line_id, mart.c.day_start,
                       mart.c[m.column].label("value"))
             .where(mart.c.day_start >= start, mart.c.day_start < end)
             .order_by(mart.c.device_id, mart.c.day_start))
    out: dict[str, list[Observation]] = {}
    with engine.connect() as conn:
        for r in conn.execute(query).all():
            day = _dt(r.day_start)
            day_end = period_end("day_start", day)
            signal = conn.execute(sa.select(sa.func.max(events.c.updated_at)).where(
                events.c.device_id == r.device_id, events.c.occurred_at >= day,
                events.c.occurred_at < day_end)).scalar()
            out.setdefault(r.device_id, []).append(Observation(
                day, day_end, None if r.value is None else float(r.value),
                _dt(signal), line_id=r.line_id))
    return out


def line_day_observations(engine: Engine, metric_name: str, start: datetime, end: datetime,
                          against_days: int | None = None) -> dict[str, list[Observation]]:
    """Per production line, a delivery metric for the plant days starting in [start, end)
    (marts.delivery_daily): the day's summed numerator over its summed denominator, or with
    `against_days` that value minus the same ratio over the line's previous N days (None
    without them). The signal is the newest order line of the day to reach the ERP."""
    m = metric(metric_name)
    cols = (m.numerator, m.denominator)
    daily = sa.table("delivery_daily", sa.column("line_id"), sa.column("day_start"),
                     *(sa.column(c) for c in cols), schema="marts")
    first = start - timedelta(days=against_days or 0)
    lines = RAW_TABLES["erp_order_lines"]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(daily.c.line_id, daily.c.day_start,
                                      *(daily.c[c] for c in cols))
                            .where(daily.c.day_start >= first, daily.c.day_start < end)
                            .order_by(daily.c.line_id, daily.c.day_start)).all()
        out: dict[str, list[Observation]] = {}
        for i, r in enumerate(rows):
            day = _dt(r.day_start)
            if day < start:
                continue
            value = float(r[2]) / float(r[3]) if r[2] is not None and r[3] else None
            if against_days and value is not None:
                before = [p for p in rows[:i] if p.line_id == r.line_id
                          and day - timedelta(days=against_days) <= _dt(p.day_start) < day]
                num = sum(float(p[2] or 0) for p in before)
                den = sum(float(p[3] or 0) for p in before)
                value = value - num / den if before and den else None
            day_end = period_end("day_start", day)
            signal = conn.execute(sa.select(sa.func.max(lines.c.updated_at)).where(
                lines.c.production_line_id == r.line_id, lines.c.promised_ship_at >= day,
                lines.c.promised_ship_at < day_end)).scalar()
            out.setdefault(r.line_id, []).append(Observation(day, day_end, value, _dt(signal),
                                                             line_id=r.line_id))
    return out


def subject_observations(engine: Engine, metric_name: str, subject_kind: str, start: datetime,
                         end: datetime, against_days: int | None = None
                         ) -> dict[str, list[Observation]]:
    """The windows a metric rule judges, per subject: team hours, line hours (line days for
    delivery metrics) or device days, for windows starting in [start, end) (UTC naive)."""
    if subject_kind == "line" and metric(metric_name).mart == DELIVERY_HOURLY:
        return line_day_observations(engine, metric_name, start, end, against_days)
    if subject_kind == "team":
        return {team: [Observation(h.window_start, h.window_end, h.value, h.signal_at,
                                   line_id=h.line_id) for h in hs]
                for team, hs in team_hour_observations(engine, metric_name, start, end).items()}
    if subject_kind == "line":
        return line_hour_observations(engine, metric_name, start, end)
    if subject_kind == "device":
        return device_day_observations(engine, metric_name, start, end)
    raise ValueError(f"metric {metric_name}: no windows are kept per {subject_kind}")
