"""Whether an action's expected effect was seen: the loop closes when the metric recovers.

Each fire action of a rule with an expected effect (rules.yaml `effect`) is checked over
the windows of its metric's grain (team hours, line hours, device days) that begin after
the action (its delivery, else its planning) and end within its horizon, read through the
same observations the rules judge (`alerting/observations.py`, the metric library's mart
and formula). The first window meeting the target makes it `effective` (seen at that
window's end); once the horizon has passed, `not_effective` when some window had a value
and `no_data` when none had; until then `pending`.

"Passed" is measured on the warehouse's data clock (`data_until`: the end of the newest
hour the marts hold), so an hour not yet in the marts is never judged as missing. A wall
episode is judged as of the earlier of that clock and `now`; a replayed episode on its
scenario's clock, which is the replayed data itself (the wall's now means nothing there).
One row per action in `ops.action_effects`; a judged row is never rewritten, a pending one
is replaced at each check, so re-running changes nothing once the data stops moving.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.devices import device_teams
from perf_orchestration.alerting.observations import subject_observations
from perf_orchestration.alerting.rules import Observation, RuleSet
from perf_orchestration.alerting.rules.config import Effect
from perf_orchestration.clock import REPLAY
from perf_orchestration.clock import now as clock_now
from perf_orchestration.metrics.library import TEAM_HOURLY
from perf_orchestration.tables import RAW_TABLES, action_log, alert_episodes
from perf_orchestration.tables.ops import action_effects

EFFECTIVE, NOT_EFFECTIVE, NO_DATA, PENDING = "effective", "not_effective", "no_data", "pending"
JUDGED = (EFFECTIVE, NOT_EFFECTIVE, NO_DATA)
STATUSES = (*JUDGED, PENDING)


@dataclass(frozen=True)
class Judgement:
    status: str
    values: dict[str, float | None]  # window start (UTC, ISO) -> value
    effect_seen_at: datetime | None = None


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def judge(effect: Effect, windows: Iterable[Observation], start: datetime, end: datetime,
          as_of: datetime | None) -> Judgement:
    """The effect over the windows that begin at or after `start`, end by `end` and are
    complete by `as_of` (the data clock): effective at the first window meeting the target;
    after the horizon not_effective (values, none met it) or no_data; else pending."""
    values: dict[str, float | None] = {}
    if as_of is not None:
        for w in sorted(windows, key=lambda w: w.window_start):
            if w.window_start < start or w.window_end > min(end, as_of):
                continue
            values[w.window_start.isoformat()] = w.value
            if w.value is not None and effect.target.met(w.value):
                return Judgement(EFFECTIVE, values, w.window_end)
    if as_of is None or as_of < end:
        return Judgement(PENDING, values)
    seen = any(v is not None for v in values.values())
    return Judgement(NOT_EFFECTIVE if seen else NO_DATA, values)


def data_until(conn: sa.Connection) -> datetime | None:
    """How far the warehouse's data reaches: the end of the newest hour in the team-hour
    mart (every hour of every production team has a row once its partition ran)."""
    if not sa.inspect(conn).has_table(TEAM_HOURLY, schema="marts"):
        return None
    mart = sa.table(TEAM_HOURLY, sa.column("hour_end"), schema="marts")
    return _dt(conn.execute(sa.select(sa.func.max(mart.c.hour_end))).scalar())


def _subjects(conn: sa.Connection, wanted: set[tuple[str, str, str]]) -> dict:
    """(episode subject kind, subject, effect subject kind) -> the subject the effect is read
    on: the subject itself, a team's line, a device's team or line (None when unknown)."""
    devices = sorted({s for kind, s, _ in wanted if kind == "device"})
    team_of = device_teams(conn, devices) if devices else {}
    teams = RAW_TABLES["hr_teams"]
    line_of = dict(conn.execute(sa.select(teams.c.team_id, teams.c.line_id)).all()) \
        if sa.inspect(conn).has_table("hr_teams", schema="raw") else {}
    out = {}
    for kind, subject, target in wanted:
        team = subject if kind == "team" else team_of.get(subject)
        out[(kind, subject, target)] = (subject if target == kind else
                                        team if target == "team" else line_of.get(team))
    return out


def _fire_actions(conn: sa.Connection) -> list[dict]:
    a, e = action_log.c, alert_episodes.c
    return [dict(r) for r in conn.execute(
        sa.select(a.idempotency_key, a.episode_id, a.rule_id, a.action_id, a.status,
                  a.planned_at, a.delivered_at, e.subject, e.signal_at, e.clock)
        .select_from(action_log.join(alert_episodes, e.episode_id == a.episode_id))
        .where(a.kind == "fire").order_by(a.planned_at, a.idempotency_key)).mappings()]


def check_action_effects(engine: Engine, rules: RuleSet, now: datetime | None = None
                         ) -> list[dict]:
    """Check every fire action whose rule declares an effect and that is not judged yet;
    write its row to ops.action_effects (replacing a pending one) and return the rows
    written. `now` (naive UTC, default the clock in force) bounds a wall episode's check."""
    now = now or clock_now()
    by_id = {r.id: r for r in rules.rules}
    with engine.connect() as conn:
        status = dict(conn.execute(sa.select(action_effects.c.idempotency_key,
                                             action_effects.c.status)).all())
        todo, dropped = [], []
        for act in _fire_actions(conn):
            rule = by_id.get(act["rule_id"])
            effect = rule.effect_of(act["action_id"]) if rule else None
            if effect is None and status.get(act["idempotency_key"]) == PENDING:
                dropped.append(act["idempotency_key"])  # the rules no longer ask for it
            if effect is None or status.get(act["idempotency_key"]) in JUDGED:
                continue
            start = _dt(act["delivered_at"] or act["planned_at"])
            todo.append((act, rule, effect, start, start + timedelta(hours=effect.horizon_hours)))
        if not todo and not dropped:
            return []
        clock = data_until(conn)
        subjects = _subjects(conn, {(r.subject, a["subject"], e.subject_kind(r.subject))
                                    for a, r, e, _, _ in todo})
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for item in todo:
        groups[(item[2].metric, item[2].subject_kind(item[1].subject))].append(item)
    rows = []
    for (metric, kind), items in sorted(groups.items()):
        first = min(start for *_, start, _ in items)
        last = max(end for *_, end in items)
        windows = subject_observations(engine, metric, kind, first, min(last, clock)) \
            if clock is not None and first < clock else {}
        for act, rule, effect, start, end in items:
            subject = subjects[(rule.subject, act["subject"], kind)]
            as_of = clock if act["clock"] == REPLAY or clock is None else min(clock, now)
            j = judge(effect, windows.get(subject, ()) if subject else (), start, end, as_of)
            subject = subject or f"{kind} of {act['subject']} (unknown)"
            rows.append({
                "idempotency_key": act["idempotency_key"], "episode_id": act["episode_id"],
                "rule_id": act["rule_id"], "action_id": act["action_id"],
                "action_status": act["status"], "subject_kind": kind, "subject": subject,
                "metric": metric, "target_op": effect.target.op,
                "target_value": effect.target.value, "horizon_hours": effect.horizon_hours,
                "window_start": start, "window_end": end, "status": j.status,
                "values_seen": json.dumps(j.values), "effect_seen_at": j.effect_seen_at,
                "signal_at": _dt(act["signal_at"]), "clock": act["clock"], "data_until": clock,
                "checked_at": now, "rules_version": rules.stamp})
    with engine.begin() as conn:
        conn.execute(action_effects.delete().where(action_effects.c.idempotency_key.in_(
            [r["idempotency_key"] for r in rows] + dropped)))
        if rows:
            conn.execute(action_effects.insert(), rows)
    return rows


def seen_share(counts: dict[str, int]) -> float | None:
    """The share of judged actions whose effect was seen (pending ones are not judged)."""
    judged = sum(counts.get(s, 0) for s in JUDGED)
    return round(counts.get(EFFECTIVE, 0) / judged, 3) if judged else None


def effect_rows(engine: Engine, episode_ids: Iterable[str] | None = None) -> list[dict]:
    """The rows of ops.action_effects (those of `episode_ids` when given), oldest first,
    with their values decoded; [] before the table exists."""
    if not sa.inspect(engine).has_table("action_effects", schema="ops"):
        return []
    query = sa.select(action_effects).order_by(action_effects.c.window_start,
                                               action_effects.c.action_id)
    if episode_ids is not None:
        query = query.where(action_effects.c.episode_id.in_(list(episode_ids)))
    with engine.connect() as conn:
        return [{**r, "values_seen": json.loads(r["values_seen"])}
                for r in conn.execute(query).mappings()]


def effects_summary(engine: Engine, rows: list[dict] | None = None) -> dict:
    """What summary.json, the asset and the war room say of expected effects: counts per
    status, the share seen and every checked action with its values."""
    rows = effect_rows(engine) if rows is None else rows
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return {
        "actions_with_effect": len(rows), **counts, "seen_share": seen_share(counts),
        "actions": [{
            "rule_id": r["rule_id"], "subject": r["subject"], "episode_id": r["episode_id"],
            "action_id": r["action_id"], "metric": r["metric"],
            "target": f"{r['target_op']} {r['target_value']:g}",
            "horizon_hours": r["horizon_hours"], "status": r["status"],
            "effect_seen_at": _iso(r["effect_seen_at"]), "values": r["values_seen"]}
            for r in rows]}


def _iso(value) -> str | None:
    return None if value is None else _dt(value).isoformat()


def latest_judged_markdown(summary: dict, limit: int = 10) -> str:
    """The latest judged actions of an effects summary as a markdown table, with the values
    seen (window start -> value), for asset metadata."""
    judged = [a for a in summary["actions"] if a["status"] in JUDGED][-limit:]
    lines = ["| rule | subject | action | metric | target | within | status | seen at | values |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a in reversed(judged):
        values = ", ".join(f"{k[5:16]}: {'-' if v is None else f'{v:.4g}'}"
                           for k, v in a["values"].items())
        lines.append(f"| {a['rule_id']} | {a['subject']} | {a['action_id']} | {a['metric']} | "
                     f"{a['target']} | {a['horizon_hours']:g} h | {a['status']} | "
                     f"{a['effect_seen_at'] or '-'} | {values or '-'} |")
    return "\n".join(lines) if judged else "No judged action yet."
