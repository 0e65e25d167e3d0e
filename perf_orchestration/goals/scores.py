"""Goal scores: attainment of each goal from its metric, and the weighted rollup to parents.

attainment = actual / target when higher is better, target / actual when lower is better,
capped at ATTAINMENT_CAP so one goal far over target cannot hide its siblings. The
numerator and denominator are summed over the period's mart rows in SQL and divided once
(a ratio of sums, as every rollup of the metric library). A parent's rollup is the
weighted mean of its children's scores, with the weights valid at the end of the period,
over the children that have data; a goal's score is its rollup when it has children with
data and its own attainment otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.goals.calibration import WeightSchedule
from perf_orchestration.goals.config import Goal
from perf_orchestration.goals.periods import PERIOD_COLUMNS, PeriodSpan
from perf_orchestration.goals.subjects import relation_for
from perf_orchestration.goals.tree import GoalTree

ATTAINMENT_CAP = 1.5


def attainment(actual: float | None, target: float, direction: str) -> float | None:
    """How far the actual value reaches its target: 1.0 on target, capped at ATTAINMENT_CAP."""
    if actual is None:
        return None
    if direction == "higher":
        value = actual / target if target > 0 else ATTAINMENT_CAP
    else:
        value = target / actual if actual > 0 else ATTAINMENT_CAP
    return max(0.0, min(ATTAINMENT_CAP, value))


def weighted_rollup(children: list[tuple[float, float | None]]) -> float | None:
    """sum(weight x score) / sum(weight) over the children with a score; None if none has."""
    scored = [(w, s) for w, s in children if s is not None]
    total = sum(w for w, _ in scored)
    return sum(w * s for w, s in scored) / total if total else None


@dataclass(frozen=True)
class Measured:
    numerator: float | None
    denominator: float | None
    actual: float | None
    null_reason: str | None


def goal_query(goal: Goal) -> tuple[sa.TextClause, dict[str, object], str]:
    """The SQL summing the goal's numerator and denominator per period, its parameters and
    its mart. Identifiers come from the metric library and validated config only."""
    src = goal.source
    assert src is not None
    m = src.definition
    rel = relation_for(m, src.subject_kind)
    assert rel is not None
    key_col = PERIOD_COLUMNS[src.period][0]
    den = f"sum(m.{m.denominator})" if m.denominator else "null"
    where, params = [f"cal.{key_col} in :periods"], {}
    if rel.subject_column:
        where.append(f"m.{rel.subject_column} in :subjects")
        params["subjects"] = list(src.subject_values)
    if src.channel is not None:
        where.append("m.channel = :channel")
        params["channel"] = src.channel
    for i, (column, value) in enumerate(m.where):
        where.append(f"m.{column} = :where{i}")
        params[f"where{i}"] = value
    sql = (f"select cal.{key_col} as period, count(*) as n, sum(m.{m.numerator}) as num, "
           f"{den} as den from marts.{rel.mart} m join (select distinct local_date, iso_week "
           f"from staging.plant_calendar) cal on cal.local_date = m.local_date "
           f"where {' and '.join(where)} group by cal.{key_col}")
    clause = sa.text(sql).bindparams(sa.bindparam("periods", expanding=True))
    if "subjects" in params:
        clause = clause.bindparams(sa.bindparam("subjects", expanding=True))
    return clause, params, rel.mart


def measure(conn: sa.Connection, goal: Goal, periods: list[str]) -> dict[str, Measured]:
    """The goal's summed numerator, denominator and value for each period."""
    clause, params, _ = goal_query(goal)
    m = goal.source.definition  # type: ignore[union-attr]
    out: dict[str, Measured] = {}
    for period, n, num, den in conn.execute(clause, {**params, "periods": periods}):
        num = None if num is None else float(num)
        den = None if den is None else float(den)
        if not n:
            continue
        if m.denominator is None:
            out[period] = Measured(num, None, num, None)
        elif not den:
            out[period] = Measured(num, den, None, f"no {m.denominator}")
        else:
            out[period] = Measured(num, den, num / den, None)
    return out


@dataclass
class ScoreRun:
    """What a scoring run needs besides the tree: versions, run ids and the time."""

    config_version: str
    run_id: str
    computed_at: datetime
    mart_runs: dict[str, str] = field(default_factory=dict)


def score_rows(engine: sa.Engine, tree: GoalTree, schedule: WeightSchedule,
               spans: dict[str, list[PeriodSpan]], run: ScoreRun) -> list[dict]:
    """One row per goal and period of its kind, children scored before their parents."""
    rows: dict[tuple[str, str], dict] = {}
    built = set(sa.inspect(engine).get_table_names(schema="marts"))
    with engine.connect() as conn:
        for goal in tree.bottom_up():
            src = goal.source
            assert src is not None
            periods = spans.get(src.period, [])
            mart = goal_query(goal)[2]
            missing = "no data" if mart in built else f"no data (marts.{mart} not built yet)"
            measured = measure(conn, goal, [p.key for p in periods]) \
                if periods and mart in built else {}
            for span in periods:
                weights, weight_version = schedule.at(span.end)
                got = measured.get(span.key) or Measured(None, None, None, missing)
                own = attainment(got.actual, src.target, src.direction)
                kids = [(weights.get(c.id, 0.0), rows[(c.id, span.key)]["score"])
                        for c in tree.children(goal.id) if (c.id, span.key) in rows]
                rollup = weighted_rollup(kids) if kids else None
                rows[(goal.id, span.key)] = {
                    "goal_id": goal.id, "period": span.key,
                    "template": tree.file.template_of(goal.id), "parent_id": goal.parent,
                    "level": goal.level, "period_kind": span.kind,
                    "period_start": span.start, "period_end": span.end,
                    "subject": src.subject, "metric": src.metric,
                    "mart": mart, "numerator": got.numerator,
                    "denominator": got.denominator, "actual": got.actual,
                    "target": src.target, "direction": src.direction, "attainment": own,
                    "rollup_score": rollup, "score": rollup if rollup is not None else own,
                    "weight": weights.get(goal.id), "weight_version": weight_version,
                    "null_reason": got.null_reason, "data_until": span.data_until,
                    "config_version": run.config_version,
                    "mart_run_id": run.mart_runs.get(mart),
                    "run_id": run.run_id, "computed_at": run.computed_at,
                }
    return list(rows.values())
