"""Skill badges from badges.yaml: awarded once per person, revoked when a revocable rule no
longer holds, each with the records that earned it (marts.badges)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.config import Badge, BadgeConfig
from perf_orchestration.plant_calendar import iso_week_key
from perf_orchestration.tables import RAW_TABLES, badges


def _week_after(iso_week: str) -> str:
    year, week = iso_week.split("-W")
    return iso_week_key(date.fromisocalendar(int(year), int(week), 1) + timedelta(days=7))


def qualifying_run(weekly: Mapping[str, float | None], at_least: float,
                   weeks: int) -> list[str] | None:
    """The latest run of `weeks` consecutive ISO weeks at or above `at_least`, or None.
    A week missing from `weekly` (or None) breaks the run: no data is not a good week."""
    run: list[str] = []
    best = None
    for week in sorted(weekly):
        value = weekly[week]
        if run and _week_after(run[-1]) != week:
            run = []
        run = run + [week] if value is not None and value >= at_least else []
        if len(run) >= weeks:
            best = run[-weeks:]
    return best


def _earned(conn: sa.Connection, badge: Badge) -> dict[str, tuple[datetime, list[str]]]:
    """Who earns `badge` now: employee -> (earned at, evidence ids)."""
    out: dict[str, tuple[datetime, list[str]]] = {}
    if badge.kind == "training":
        t = RAW_TABLES["hr_trainings"]
        for tid, emp, at in conn.execute(
                sa.select(t.c.training_id, t.c.employee_id, t.c.completed_at)
                .where(t.c.course == badge.course, t.c.score >= badge.min_score)
                .order_by(t.c.completed_at, t.c.training_id)):
            out.setdefault(emp, (at, [tid]))
        return out
    inspector = sa.inspect(conn)
    if not inspector.has_table("team_weekly_quality", schema="marts"):
        return out
    weekly = sa.table("team_weekly_quality", sa.column("team_id"), sa.column("iso_week"),
                      sa.column("week_start"), sa.column(badge.metric), schema="marts")
    per_team: dict[str, dict[str, float | None]] = {}
    starts: dict[str, datetime] = {}
    for team, week, start, value in conn.execute(sa.select(
            weekly.c.team_id, weekly.c.iso_week, weekly.c.week_start,
            weekly.c[badge.metric])):
        per_team.setdefault(team, {})[week] = value
        starts[week] = start
    emp = RAW_TABLES["hr_employees"]
    for team, values in per_team.items():
        run = qualifying_run(values, badge.at_least, badge.weeks)
        if not run:
            continue
        members = conn.execute(sa.select(emp.c.employee_id).where(emp.c.team_id == team))
        for (employee_id,) in members:
            out[employee_id] = (starts[run[-1]], [f"{team}:{w}" for w in run])
    return out


def award_badges(engine: Engine, config: BadgeConfig, now: datetime) -> dict:
    """Award new badges, revoke revocable ones whose rule no longer holds."""
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    awarded = revoked = 0
    with engine.begin() as conn:
        for badge in config.badges:
            earned = _earned(conn, badge)
            held = {r.employee_id: r for r in conn.execute(
                sa.select(badges).where(badges.c.badge_id == badge.id))}
            new = [{"employee_id": e, "badge_id": badge.id, "title": badge.title,
                    "awarded_at": at, "revoked_at": None,
                    "evidence": json.dumps(ids), "rule_version": config.version}
                   for e, (at, ids) in sorted(earned.items()) if e not in held]
            if new:
                conn.execute(badges.insert(), new)
                awarded += len(new)
            for e, row in held.items():
                key = (badges.c.employee_id == e) & (badges.c.badge_id == badge.id)
                if e not in earned and badge.revoke and row.revoked_at is None:
                    conn.execute(badges.update().where(key).values(revoked_at=stamp))
                    revoked += 1
                elif e in earned and row.revoked_at is not None:
                    conn.execute(badges.update().where(key).values(revoked_at=None))
    return {"awarded": awarded, "revoked": revoked}
