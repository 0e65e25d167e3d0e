"""3x3 breakpoint analysis: take the last problems that hurt delivery or the goal tree,
and for each walk up to three levels of direct causes (causes.yaml), keeping at each level
the causes the data supports, down to the deepest supported break. Breaks on an interface
come first.

A problem is a target of causes.yaml missed on a plant day, a fired alert episode, or a
red goal-health cell; its hours are those in which its metric was on the bad side. A
cause is supported when, in those hours, it moved the way that makes the effect bad by at
least `min_shift` standard deviations of its other hours, and its hourly series over the
analysis window correlates with the effect's with the declared sign (|r| >=
`min_correlation` over >= `min_points` hours). Everything is read from the data: the
analysis never looks at an incident's name.
"""

from __future__ import annotations

import math
import operator
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from perf_orchestration.alerting.rules import RuleSet
from perf_orchestration.breakpoints.config import INTERFACE, CausesConfig
from perf_orchestration.breakpoints.series import Hours, node_records, node_series
from perf_orchestration.metrics.library import METRICS_BY_NAME
from perf_orchestration.plant_calendar import day_bounds
from perf_orchestration.tables import RAW_TABLES
from perf_orchestration.tables.marts import goal_health, goal_scores
from perf_orchestration.tables.ops import alert_episodes

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
DEPTH = 3
CHAINS = 3


@dataclass
class Problem:
    kind: str  # target, episode, red_cell
    ident: str
    metric: str
    scope: str
    hours: list[str]
    description: str
    impact: int = 0  # late order lines in the problem's hours and scope
    records: list[str] = field(default_factory=list)


@dataclass
class Step:
    """One tested cause at one level of a chain."""

    level: int
    node: str
    label: str
    sign: str
    lag_hours: int
    supported: bool
    reason: str
    before: float | None = None
    during: float | None = None
    correlation: float | None = None
    points: int = 0
    records: list[str] = field(default_factory=list)
    series: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def interface(self) -> bool:
        return self.node.startswith(INTERFACE)


@dataclass
class Chain:
    rank: int
    problem: Problem
    steps: list[Step]  # the walked path, level 1 first
    tested: list[Step]  # every cause tested, supported or not
    note: str

    @property
    def ends_at_interface(self) -> bool:
        return bool(self.steps) and self.steps[-1].interface


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _hours_between(hours: Hours, start: datetime, end: datetime) -> list[str]:
    return [k for k in hours.keys if hours.ends[k] > start and hours.starts[k] < end]


def _bad(metric: str, value: float, target: float) -> bool:
    higher = METRICS_BY_NAME[metric].direction == "higher" if metric in METRICS_BY_NAME \
        else False
    return value < target if higher else value > target


# --- problems ----------------------------------------------------------------------------

def _target_problems(conn, config: CausesConfig, hours: Hours) -> list[Problem]:
    out = []
    for target in config.problems:
        series, _ = node_series(conn, target.metric, target.scope, hours, [])
        by_day: dict[str, list[str]] = {}
        for key in hours.keys:
            by_day.setdefault(key[:10], []).append(key)
        metric = METRICS_BY_NAME[target.metric]
        for day, keys in by_day.items():
            total = _day_value(conn, metric, keys, hours)
            if total is None or not OPS[target.op](total, target.value):
                continue
            bad = [k for k in keys if k in series and OPS[target.op](series[k], target.value)]
            out.append(Problem(
                "target", f"{target.metric}@{target.scope}/{day}", target.metric,
                target.scope, bad, f"{target.metric} of {target.scope} on {day}: "
                f"{total:.3f} against {target.op} {target.value:g} missed"))
    return out


def _day_value(conn, metric, keys: list[str], hours: Hours) -> float | None:
    row = conn.execute(sa.text(
        f"select sum({metric.numerator}), sum({metric.denominator}) from marts.{metric.mart} "
        "where hour_start >= :start and hour_start < :end"),
        {"start": hours.starts[keys[0]], "end": hours.ends[keys[-1]]}).one()
    return float(row[0]) / float(row[1]) if row[0] is not None and row[1] else None


def _episode_problems(conn, rules: RuleSet, hours: Hours) -> list[Problem]:
    first, last = hours.starts[hours.keys[0]], hours.ends[hours.keys[-1]]
    rows = conn.execute(sa.select(alert_episodes).where(
        alert_episodes.c.fired_at.is_not(None), alert_episodes.c.episode_start < last,
        sa.or_(alert_episodes.c.resolved_at.is_(None),
               alert_episodes.c.resolved_at > first))).mappings().all()
    by_id = {r.id: r for r in rules.rules}
    out = []
    for e in rows:
        rule = by_id.get(e["rule_id"])
        if rule is None or (rule.metric is None and rule.event != "equipment_failure"):
            continue
        metric = rule.metric or "device_failures"
        scope = f"{rule.subject}:{e['subject']}"
        if rule.event == "equipment_failure":
            failures = node_series(conn, "device_failures", scope, hours, [])[0]
            keys = [k for k, v in failures.items() if v > 0]
        else:
            keys = _hours_between(hours, e["episode_start"], e["resolved_at"] or last)
        out.append(Problem("episode", e["episode_id"], metric, scope, keys,
                           f"{rule.id} fired for {e['subject']}: {rule.description}"))
    return out


def _red_cell_problems(conn, hours: Hours) -> list[Problem]:
    teams = RAW_TABLES["hr_teams"]
    team_ids = set(conn.execute(sa.select(teams.c.team_id)).scalars())
    line_ids = set(conn.execute(sa.select(teams.c.line_id)).scalars())
    rows = conn.execute(sa.select(goal_health.c.goal_id, goal_health.c.period,
                                  goal_health.c.subject, goal_health.c.metric,
                                  goal_scores.c.target)
                        .select_from(goal_health.join(goal_scores, sa.and_(
                            goal_scores.c.goal_id == goal_health.c.goal_id,
                            goal_scores.c.period == goal_health.c.period)))
                        .where(goal_health.c.status == "red")).mappings().all()
    out = []
    for r in rows:
        subject, metric = r["subject"], r["metric"]
        scope = (f"team:{subject}" if subject in team_ids else f"line:{subject}"
                 if subject in line_ids else "plant" if subject == "plant" else None)
        if scope is None or metric not in METRICS_BY_NAME:
            continue
        try:
            series, _ = node_series(conn, metric, scope, hours, [])
        except LookupError:
            continue
        keys = [k for k in hours.keys if k.startswith(r["period"][:10]) and k in series
                and _bad(metric, series[k], r["target"])]
        out.append(Problem("red_cell", f"{r['goal_id']}@{r['period']}", metric, scope, keys,
                           f"goal {r['goal_id']} red for {r['period']}"))
    return out


def _lines_of(conn, scope: str) -> list[str] | None:
    kind, _, ident = scope.partition(":")
    teams = RAW_TABLES["hr_teams"]
    if kind == "line":
        return [ident]
    if kind == "team":
        return list(conn.execute(sa.select(teams.c.line_id).where(teams.c.team_id == ident))
                    .scalars())
    if kind == "device":
        team = ident.rpartition("-D")[0]
        return list(conn.execute(sa.select(teams.c.line_id).where(teams.c.team_id == team))
                    .scalars())
    return None


def _impact(conn, problem: Problem, hours: Hours) -> int:
    """Order lines promised in the problem's hours and scope that shipped late."""
    if not problem.hours:
        return 0
    lines = RAW_TABLES["erp_order_lines"]
    production = _lines_of(conn, problem.scope)
    late = 0
    for key in problem.hours:
        query = sa.select(sa.func.count()).select_from(lines).where(
            lines.c.promised_ship_at >= hours.starts[key], lines.c.promised_ship_at <
            hours.ends[key], sa.or_(lines.c.shipped_at.is_(None),
                                    lines.c.shipped_at > lines.c.promised_ship_at))
        if production is not None:
            query = query.where(lines.c.production_line_id.in_(production))
        late += conn.execute(query).scalar() or 0
    return late


def find_problems(conn, config: CausesConfig, rules: RuleSet, hours: Hours) -> list[Problem]:
    """Every problem of the window, ranked by its impact on delivery (late order lines in
    its hours), then targets before episodes before red cells, then the latest first."""
    found = (_target_problems(conn, config, hours) + _episode_problems(conn, rules, hours)
             + _red_cell_problems(conn, hours))
    order = {"target": 0, "episode": 1, "red_cell": 2}
    unique: dict[tuple[str, str], Problem] = {}
    for p in found:
        p.impact = _impact(conn, p, hours)
        p.records = node_records(conn, p.metric, p.scope, hours, p.hours) if p.hours else []
        key = (p.metric, p.scope)
        if key not in unique or (p.impact, len(p.hours)) > (unique[key].impact,
                                                           len(unique[key].hours)):
            unique[key] = p
    return sorted(unique.values(), key=lambda p: (-p.impact, order[p.kind],
                                                  -max((hours.position[k] for k in p.hours),
                                                       default=-1)))


# --- the walk ----------------------------------------------------------------------------

def _scope_of(node: str, scope: str) -> str:
    return "plant" if node.startswith(INTERFACE) else scope


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return None
    return statistics.correlation(xs, ys)


def test_cause(conn, config: CausesConfig, hours: Hours, effect: dict[str, float],
               problem_hours: list[str], cause, scope: str, level: int) -> Step:
    """Whether the data supports `cause` as a direct cause of the effect's problem hours."""
    step = Step(level, cause.cause, cause.cause, cause.sign, cause.lag_hours, False, "")
    try:
        series, step.label = node_series(conn, cause.cause, _scope_of(cause.cause, scope),
                                         hours, problem_hours)
    except LookupError as exc:
        step.reason = f"no hourly series: {exc}"
        return step
    step.series = series
    lagged = {k: series[s] for k in hours.keys
              if (s := hours.shifted(k, cause.lag_hours)) is not None and s in series}
    pairs = [(effect[k], lagged[k]) for k in hours.keys if k in effect and k in lagged]
    step.points = len(pairs)
    during_keys = [k for k in problem_hours if k in lagged]
    baseline = [k for k in hours.keys if k in lagged and k not in problem_hours]
    step.during = _mean([lagged[k] for k in during_keys])
    step.before = _mean([lagged[k] for k in baseline])
    step.records = node_records(conn, cause.cause, _scope_of(cause.cause, scope), hours,
                                [s for k in during_keys
                                 if (s := hours.shifted(k, cause.lag_hours))])
    if step.points < config.min_points:
        step.reason = (f"{step.points} hour(s) with both values, {config.min_points} needed: "
                       "the data stops here")
        return step
    if not during_keys or len(baseline) < 2:
        step.reason = "no values in the problem's hours, or fewer than 2 outside them"
        return step
    step.correlation = _pearson([p[0] for p in pairs], [p[1] for p in pairs])
    if step.correlation is None:
        step.reason = "no variation in the window"
        return step
    sign = 1 if cause.sign == "+" else -1
    effect_shift = (_mean([effect[k] for k in problem_hours if k in effect]) or 0) - (
        _mean([effect[k] for k in hours.keys if k in effect and k not in problem_hours]) or 0)
    shift = step.during - step.before
    spread = statistics.pstdev([lagged[k] for k in baseline])
    size = abs(shift) / spread if spread > 0 else (math.inf if shift else 0.0)
    if sign * step.correlation < config.min_correlation:
        step.reason = f"correlation {step.correlation:+.2f} (sign {cause.sign} needs " \
                      f"{sign * config.min_correlation:+.2f} or beyond)"
    elif shift == 0 or math.copysign(1, shift) != math.copysign(1, sign * effect_shift):
        step.reason = "did not move the way that makes the effect bad"
    elif size < config.min_shift:
        step.reason = f"moved {size:.2f} standard deviations, {config.min_shift:g} needed"
    else:
        step.supported, step.reason = True, "supported"
    return step


def walk(conn, config: CausesConfig, hours: Hours, problem: Problem, rank: int) -> Chain:
    """Up to three levels of supported causes below the problem, the strongest path."""
    steps: list[Step] = []
    tested: list[Step] = []
    if len(problem.hours) < config.min_problem_hours:
        return Chain(rank, problem, [], [], f"{len(problem.hours)} problem hour(s), "
                     f"{config.min_problem_hours} needed to look for causes")
    effect_node = problem.metric
    effect, _ = node_series(conn, effect_node, problem.scope, hours, problem.hours)
    problem_hours, note = problem.hours, ""
    for level in range(1, DEPTH + 1):
        causes = config.of(effect_node)
        if not causes:
            note = f"causes.yaml declares no cause of {effect_node}"
            break
        level_steps = [test_cause(conn, config, hours, effect, problem_hours, c,
                                  problem.scope, level) for c in causes]
        tested += level_steps
        supported = [s for s in level_steps if s.supported]
        if not supported:
            stopped = [s.reason for s in level_steps if "data stops" in s.reason]
            note = (f"level {level}: the data stops ({stopped[0]})" if stopped
                    else f"level {level}: no cause of {effect_node} the data supports")
            break
        best = max(supported, key=lambda s: (s.interface, abs(s.correlation or 0)))
        if best.interface:  # how long the link went without a sync, at worst
            worst = max(best.series[s] for k in problem_hours
                        if (s := hours.shifted(k, best.lag_hours)) in best.series)
            best.label = f"{best.node[len(INTERFACE):]} link without a sync for {worst:.0f} h"
        steps.append(best)
        if best.interface:
            note = f"ends at the interface {best.node[len(INTERFACE):]}"
            break
        effect_node, effect = best.node, best.series
        problem_hours = [s for k in problem_hours if (s := hours.shifted(k, best.lag_hours))]
    else:
        note = f"walked {DEPTH} levels"
    return Chain(rank, problem, steps, tested, note)


def breakpoints(engine: sa.Engine, config: CausesConfig, rules: RuleSet, last_day: date,
                days: int | None = None) -> tuple[list[Chain], list[Problem], Hours]:
    """The chains of the last `days` plant days up to `last_day`: the three problems with
    the most impact, each walked; chains ending at an interface ranked first."""
    days = days or config.days
    start = day_bounds(last_day - timedelta(days=days - 1))[0]
    end = day_bounds(last_day)[1]
    with engine.connect() as conn:
        hours = Hours.read(conn, start, end)
        if not hours.keys:
            return [], [], hours
        problems = find_problems(conn, config, rules, hours)
        chains = [walk(conn, config, hours, p, 0) for p in problems[:CHAINS]]
    chains.sort(key=lambda c: (not c.ends_at_interface, -c.problem.impact))
    for rank, chain in enumerate(chains, start=1):
        chain.rank = rank
    return chains, problems, hours
