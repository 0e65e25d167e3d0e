"""Writing the goal tables: each write replaces what it recomputes, in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.goals.calibration import WeightChange
from perf_orchestration.tables import (
    goal_alignment,
    goal_health,
    goal_scores,
    metadata,
    weight_changes,
)
from perf_orchestration.warehouse import ensure_schemas

# Per parent and period: its own attainment against its children's weighted rollup.
ALIGNMENT_SQL = """
insert into marts.goal_alignment (goal_id, period, children, own_attainment, children_rollup,
    divergence, children_spread, aligned, config_version, run_id)
select
    p.goal_id,
    p.period,
    count(c.goal_id),
    p.attainment,
    p.rollup_score,
    p.rollup_score - p.attainment,
    max(c.score) - min(c.score),
    case
        when p.rollup_score is null or p.attainment is null then null
        when abs(p.rollup_score - p.attainment) <= :tolerance then 1
        else 0
    end,
    p.config_version,
    :run_id
from marts.goal_scores p
inner join marts.goal_scores c on c.parent_id = p.goal_id and c.period = p.period
where p.period in :periods
group by p.goal_id, p.period, p.attainment, p.rollup_score, p.config_version
"""


def ensure_goal_tables(engine: sa.Engine) -> None:
    ensure_schemas(engine, metadata)


def write_scores(engine: sa.Engine, rows: list[dict], periods: list[str]) -> None:
    """Replace the scores of these periods with `rows`."""
    ensure_goal_tables(engine)
    with engine.begin() as conn:
        if periods:
            conn.execute(goal_scores.delete().where(goal_scores.c.period.in_(periods)))
        if rows:
            conn.execute(goal_scores.insert(), rows)


def write_alignment(engine: sa.Engine, periods: list[str], tolerance: float,
                    run_id: str) -> int:
    """Recompute marts.goal_alignment for these periods from marts.goal_scores, in SQL."""
    ensure_goal_tables(engine)
    clause = sa.text(ALIGNMENT_SQL).bindparams(sa.bindparam("periods", expanding=True))
    with engine.begin() as conn:
        if not periods:
            return 0
        conn.execute(goal_alignment.delete().where(goal_alignment.c.period.in_(periods)))
        conn.execute(clause, {"periods": periods, "tolerance": tolerance, "run_id": run_id})
        return conn.execute(sa.select(sa.func.count()).select_from(goal_alignment).where(
            goal_alignment.c.period.in_(periods))).scalar_one()


def write_weight_changes(engine: sa.Engine, changes: list[WeightChange],
                         calibration_version: str, run_id: str, now: datetime) -> int:
    """Record the changes; a change already recorded (same rule and goal) is kept as is, so
    its run id stays the run that first applied it."""
    ensure_goal_tables(engine)
    with engine.begin() as conn:
        known = {(r, g) for r, g in conn.execute(
            sa.select(weight_changes.c.rule_id, weight_changes.c.goal_id))}
        new = [{"rule_id": c.rule_id, "goal_id": c.goal_id, "parent_id": c.parent_id,
                "old_weight": c.old_weight, "new_weight": c.new_weight,
                "effective_from": c.effective_from, "weight_version": c.weight_version,
                "trigger": c.trigger, "trigger_record_id": c.trigger_record_id,
                "calibration_version": calibration_version, "run_id": run_id,
                "recorded_at": now}
               for c in changes if (c.rule_id, c.goal_id) not in known]
        if new:
            conn.execute(weight_changes.insert(), new)
    return len(new)


def write_health(engine: sa.Engine, rows: list[dict]) -> None:
    """Replace the heatmap: one row per team or person goal, for its current period."""
    ensure_goal_tables(engine)
    with engine.begin() as conn:
        conn.execute(goal_health.delete())
        if rows:
            conn.execute(goal_health.insert(), rows)
