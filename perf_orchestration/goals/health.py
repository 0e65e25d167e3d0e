"""Goal health: red, yellow or green per team or person goal for its current period.

Expected progress is where the goal should be by now: its target for a rate (a rate
should sit at target at every moment of the period), the target times the elapsed share
of the period for a cumulative metric (a count or an amount grows through the period).
progress_ratio is the attainment of the actual value against that expectation; below
the config's `yellow_below` it is yellow, below `red_below` red. No data is no colour.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from perf_orchestration.goals.periods import as_datetime
from perf_orchestration.goals.scores import attainment
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.plant_calendar import iso_week_key
from perf_orchestration.tables import goal_scores

HEALTH_LEVELS = ("team", "person")  # the heatmap's rows: team and person goals


def current_scores(engine: sa.Engine) -> dict[str, dict]:
    """Each goal's score row of its latest period."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(goal_scores)).mappings().all()
    latest: dict[str, dict] = {}
    for r in rows:
        start = as_datetime(r["period_start"])
        if r["goal_id"] not in latest or start > as_datetime(latest[r["goal_id"]]["period_start"]):
            latest[r["goal_id"]] = dict(r)
    return latest


def scores_for_day(engine: sa.Engine, day: date) -> dict[str, dict]:
    """Each goal's score row of the period holding the local date `day` (the day itself for
    daily goals, its ISO week for weekly ones)."""
    keys = {"day": day.isoformat(), "week": iso_week_key(day)}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(goal_scores).where(
            sa.or_(*(sa.and_(goal_scores.c.period_kind == kind, goal_scores.c.period == key)
                     for kind, key in keys.items())))).mappings().all()
    return {r["goal_id"]: dict(r) for r in rows}


def health_rows(engine: sa.Engine, tree: GoalTree, run_id: str,
                scores: dict[str, dict] | None = None) -> list[dict]:
    """Health of every team and person goal from its score row: the latest period's by
    default, or the rows given (e.g. `scores_for_day`)."""
    bands = tree.file.health
    latest = current_scores(engine) if scores is None else scores
    out = []
    for goal in tree.goals:
        src = goal.source
        if src is None or goal.level not in HEALTH_LEVELS or goal.id not in latest:
            continue
        r = latest[goal.id]
        start, end = as_datetime(r["period_start"]), as_datetime(r["period_end"])
        until = as_datetime(r["data_until"]) if r["data_until"] is not None else start
        elapsed = min(1.0, max(0.0, (until - start) / (end - start)))
        expected = src.target if src.definition.denominator else src.target * elapsed
        ratio = attainment(r["actual"], expected, src.direction) if expected or \
            src.direction == "lower" else (1.0 if r["actual"] is not None else None)
        out.append({
            "goal_id": goal.id, "period": r["period"], "template": r["template"],
            "subject": src.subject + (f"/{src.channel}" if src.channel else ""),
            "metric": src.metric, "elapsed_share": elapsed,
            "expected_progress": expected, "actual_progress": r["actual"],
            "progress_ratio": ratio, "status": bands.status(ratio),
            "yellow_below": bands.yellow_below, "red_below": bands.red_below,
            "config_version": tree.version, "run_id": run_id,
        })
    return out
