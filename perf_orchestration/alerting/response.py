"""Response time per rule and team, refreshed after every action run.

Signal -> delivered is the headline (the source record's own timestamp to the first
action reaching a person); detected -> delivered isolates the flow's own share. The
team of a device subject is its prefix (<team>-D<nn>).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.devices import device_teams
from perf_orchestration.alerting.effects import EFFECTIVE, JUDGED, effect_rows
from perf_orchestration.clock import WALL
from perf_orchestration.tables import RAW_TABLES, action_log, alert_episodes, response_times


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _timed(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def subject_team_map(conn: sa.Connection, subjects: list[str]) -> dict[str, str]:
    """A team subject is its own team; a device's team comes from the MES records."""
    known = set(conn.execute(sa.select(RAW_TABLES["hr_teams"].c.team_id)).scalars()) \
        if sa.inspect(conn).has_table("hr_teams", schema="raw") else set()
    devices = device_teams(conn, [s for s in subjects if s not in known])
    return {s: s if s in known else devices[s] for s in subjects}


def refresh_response_times(engine: Engine) -> list[dict]:
    """Recompute marts.response_times from ops.alert_episodes, ops.action_log and the
    expected effects checked (ops.action_effects)."""
    with engine.connect() as conn:
        episodes = conn.execute(sa.select(alert_episodes).where(
            alert_episodes.c.fired_at.is_not(None))).mappings().all()
        actions = conn.execute(sa.select(action_log.c.episode_id, action_log.c.status)
                               .where(action_log.c.kind == "fire")).all()
        teams = subject_team_map(conn, sorted({e["subject"] for e in episodes}))
    effects: dict[str, list[dict]] = defaultdict(list)
    for r in effect_rows(engine):
        if r["status"] in JUDGED:
            effects[r["episode_id"]].append(r)
    delivered_actions: dict[str, int] = defaultdict(int)
    for episode_id, status in actions:
        delivered_actions[episode_id] += status == "delivered"
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for e in episodes:
        groups[(e["rule_id"], teams[e["subject"]])].append(e)
    now = utcnow()
    rows = []
    for (rule_id, team), eps in sorted(groups.items()):
        signal, detected, acted, acked = [], [], [], []
        for e in eps:
            # times of two clocks are never subtracted: a replayed episode's signal,
            # detection and delivery are on the scenario's clock, an acknowledgement or a
            # done task that comes after the replay on the wall's
            wall = e["clock"] == WALL
            for end, found in (("acknowledged_at", acked), ("acted_at", acted)):
                if e[end] is not None:  # None: counted, not timed (a replay's signal)
                    found.append((_dt(e[end]) - _dt(e["signal_at"])).total_seconds()
                                 if wall and e["signal_at"] is not None else None)
            if e["delivered_at"] is None:
                continue
            delivered = _dt(e["delivered_at"])
            if e["signal_at"] is not None:
                signal.append((delivered - _dt(e["signal_at"])).total_seconds())
            if e["detected_at"] is not None:
                detected.append((delivered - _dt(e["detected_at"])).total_seconds())
        n_actions = sum(delivered_actions[e["episode_id"]] for e in eps)
        n_auto = sum(delivered_actions[e["episode_id"]] for e in eps
                     if e["triggered_by"] == "system")
        judged = [r for e in eps for r in effects[e["episode_id"]]]
        # the window end and the signal are both times of the plant's data, on either clock
        seen = [(_dt(r["effect_seen_at"]) - _dt(r["signal_at"])).total_seconds()
                for r in judged if r["status"] == EFFECTIVE and r["signal_at"] is not None]
        rows.append({
            "rule_id": rule_id, "team_id": team, "episodes": len(eps),
            "delivered_episodes": len(detected),
            "signal_to_delivered_p50_s": percentile(signal, 0.5),
            "signal_to_delivered_p95_s": percentile(signal, 0.95),
            "signal_to_delivered_max_s": max(signal) if signal else None,
            "detected_to_delivered_p50_s": percentile(detected, 0.5),
            "detected_to_delivered_p95_s": percentile(detected, 0.95),
            "detected_to_delivered_max_s": max(detected) if detected else None,
            "acknowledged_episodes": len(acked),
            "signal_to_acknowledged_p50_s": percentile(_timed(acked), 0.5),
            "escalated_episodes": sum(e["escalated_at"] is not None for e in eps),
            "acted_episodes": len(acted),
            "signal_to_acted_p50_s": percentile(_timed(acted), 0.5),
            "signal_to_acted_p95_s": percentile(_timed(acted), 0.95),
            "actions_delivered": n_actions, "actions_auto": n_auto,
            "auto_triggered_ratio": n_auto / n_actions if n_actions else None,
            "effects_checked": len(judged),
            "effects_seen": sum(r["status"] == EFFECTIVE for r in judged),
            "signal_to_effect_seen_p50_s": percentile(seen, 0.5),
            "signal_to_effect_seen_p95_s": percentile(seen, 0.95),
            "refreshed_at": now})
    with engine.begin() as conn:
        conn.execute(response_times.delete())
        if rows:
            conn.execute(response_times.insert(), rows)
    return rows
