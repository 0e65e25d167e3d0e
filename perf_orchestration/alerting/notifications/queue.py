"""Alert notifications entering their groups: each notification action of an episode is
routed (routing.yaml), then queued in its group, inhibited by a failing source, held by a
silence or mute window, or dropped, and `ops.alert_notifications` records which and why
(one row per action key, so a retried job adds nothing). `notify.dispatch_due` sends the
queued groups."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import PlannedAction, utcnow
from perf_orchestration.alerting.notifications.config import RoutingConfig
from perf_orchestration.alerting.notifications.matching import (
    episode_labels,
    matched_routes,
    matches,
    mute_window_end,
)
from perf_orchestration.alerting.notifications.schedule import (
    PLANNED,
    planned_stop_hold,
    record_muted,
)
from perf_orchestration.alerting.notifications.silences import active_silence
from perf_orchestration.alerting.rules import RuleSet
from perf_orchestration.tables import action_log, alert_episodes, alert_notifications

N = alert_notifications.c


@dataclass(frozen=True)
class Outcome:
    """What became of one action or notification: status and why (job logs and tests)."""

    status: str
    detail: str = ""
    retry_at: datetime | None = None  # a failed notification: when the next round tries it


def _route(config: RoutingConfig, labels: dict[str, str]):
    return matched_routes(config, labels)[0]


def _group_key(route, action: PlannedAction, labels: dict[str, str]) -> str:
    parts = [route.id, action.channel, action.person.employee_id, action.kind]
    parts += [f"{k}={labels.get(k, '')}" for k in route.group_by]
    return "|".join(parts)


def _inhibitor(conn, config: RoutingConfig, rules: RuleSet, labels: dict[str, str],
               episode_id: str, now: datetime) -> str | None:
    """The rule and episode muting an alert with these labels, if one is active."""
    targeting = [r for r in config.inhibit_rules if matches(r.target, labels)]
    if not targeting:
        return None
    longest = max(r.source_active_hours for r in targeting)
    e = alert_episodes.c
    rows = conn.execute(sa.select(e.episode_id, e.rule_id, e.subject, e.state, e.fired_at)
                        .where(e.episode_id != episode_id, sa.or_(
                            e.state == "firing",
                            sa.and_(e.state == "fired",
                                    e.fired_at >= now - timedelta(hours=longest))))).all()
    for eid, rule_id, subject, state, fired_at in rows:
        try:
            source_labels = episode_labels(conn, rules.rule(rule_id), subject)
        except KeyError:
            continue  # a rule no longer in force inhibits nothing
        for inhibit in targeting:
            if state == "fired" and (fired_at is None or fired_at
                                     < now - timedelta(hours=inhibit.source_active_hours)):
                continue
            if matches(inhibit.source, source_labels) and all(
                    source_labels.get(k) == labels.get(k) for k in inhibit.equal):
                return f"inhibited by {eid} (inhibit rule {inhibit.id})"
    return None


def _held(conn, config: RoutingConfig, labels: dict[str, str], now: datetime
          ) -> tuple[str, datetime] | None:
    """The silence or mute window holding an alert now, and when it ends."""
    silence = active_silence(conn, labels, now)
    if silence:
        return f"silenced by {silence[0]}", silence[1]
    for window in config.mute_windows:
        end = mute_window_end(window, labels, now)
        if end:
            return f"mute window {window.id} ({window.reason})", end
    if config.schedule_mutes:
        return planned_stop_hold(conn, config.schedule_mutes, labels, now)
    return None


def _episode(conn, episode_id: str) -> dict:
    return dict(conn.execute(sa.select(alert_episodes).where(
        alert_episodes.c.episode_id == episode_id)).mappings().one())


def enqueue(engine: Engine, config: RoutingConfig, rules: RuleSet, rule_id: str, subject: str,
            actions: list[PlannedAction], now: datetime | None = None
            ) -> list[tuple[PlannedAction, Outcome]]:
    """Record each notification action in its group, or why it is not sent."""
    now = now or utcnow()
    out = []
    with engine.begin() as conn:
        base = episode_labels(conn, rules.rule(rule_id), subject)
        known = dict(conn.execute(sa.select(N.action_key, N.status).where(
            N.action_key.in_([a.key for a in actions]))).all())
        for a in actions:
            if a.key in known:
                out.append((a, Outcome(known[a.key], "recorded before")))
                continue
            labels = {**base, "kind": a.kind}
            route = _route(config, labels)
            status, reason, hold = "queued", f"route {route.id}", None
            if a.kind == "fire":
                inhibited = _inhibitor(conn, config, rules, labels, a.episode_id, now)
                if inhibited:
                    status, reason = "inhibited", inhibited
            else:
                fire = conn.execute(sa.select(N.status).where(
                    N.episode_id == a.episode_id, N.kind == "fire",
                    N.recipient_id == a.person.employee_id)).scalar()
                if fire == "inhibited":
                    status, reason = "dropped", "its firing was inhibited"
            if status == "queued":
                held = _held(conn, config, labels, now)
                if held:
                    status, reason, hold = "silenced", held[0], held[1]
                    if reason.startswith(PLANNED):
                        record_muted(conn, _episode(conn, a.episode_id), now)
            conn.execute(alert_notifications.insert().values(
                action_key=a.key, episode_id=a.episode_id, rule_id=a.rule_id, kind=a.kind,
                channel=a.channel, recipient_id=a.person.employee_id,
                recipient_name=a.person.name,
                address=a.person.email if a.channel == "email" else a.person.employee_id,
                route_id=route.id, group_key=_group_key(route, a, labels),
                labels=json.dumps(labels, sort_keys=True), title=a.title, body=a.body,
                data=json.dumps(a.data, default=str), status=status, reason=reason,
                queued_at=now, hold_until=hold, updated_at=now))
            conn.execute(action_log.update().where(action_log.c.idempotency_key == a.key)
                         .values(status=status, detail=reason[:500]))
            out.append((a, Outcome(status, reason)))
    return out


def release_holds(engine: Engine, config: RoutingConfig, now: datetime) -> None:
    """Alerts whose silence or mute window ended: queued again if they still matter."""
    with engine.begin() as conn:
        rows = conn.execute(sa.select(N.action_key, N.kind, N.labels, N.reason,
                                      alert_episodes.c.state)
                            .join(alert_episodes, alert_episodes.c.episode_id == N.episode_id)
                            .where(N.status == "silenced")).all()
        for key, kind, labels, reason, state in rows:
            held = _held(conn, config, json.loads(labels), now)
            if held and held[0] == reason:
                continue  # still held by the same silence or window
            if held:  # another silence or window took over
                values = {"reason": held[0], "hold_until": held[1]}
            elif kind == "resolved" or state in ("firing", "fired"):
                values = {"status": "queued", "reason": f"held ({reason}), then released"}
            else:
                values = {"status": "dropped", "reason": f"resolved while held ({reason}); "
                          "its resolved notice is sent instead"}
            conn.execute(alert_notifications.update().where(N.action_key == key)
                         .values(updated_at=now, **values))
