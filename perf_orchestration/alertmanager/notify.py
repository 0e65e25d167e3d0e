"""Alert notifications between an episode's actions and the people: queued in groups,
inhibited, silenced or held, and sent as one grouped notification per group and turn.

`enqueue` records what each notification action became (`ops.alert_notifications`, one
row per action key, so a retried job adds nothing); `dispatch_due` sends every group
whose time has come (group_wait after its first alert, group_interval after its last
notification, repeat_interval for alerts still firing), each as one message with an
idempotency key from (group, sequence) claimed in `ops.notification_log` before it is
sent, so neither a retried run nor a restarted daemon sends a notification twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.actions import PlannedAction, utcnow
from perf_orchestration.alertmanager.config import RoutingConfig
from perf_orchestration.alertmanager.escalation import ack_link
from perf_orchestration.alertmanager.matching import (
    episode_labels,
    matched_routes,
    matches,
    mute_window_end,
)
from perf_orchestration.alertmanager.silences import active_silence
from perf_orchestration.rules import RuleSet
from perf_orchestration.tables import (
    action_log,
    alert_episodes,
    alert_notifications,
    notification_log,
)

N = alert_notifications.c
ACK_URL_ENV = "PERFFLOW_ACK_URL"  # where signed acknowledgement links point
ACK_SECRET_ENV = "PERFFLOW_ACK_SECRET"
# Dispatch rounds a failed notification is tried in (each round is the channel's own
# retries with backoff); counted in rounds, not channel attempts, so a channel that
# retries three times within one round still gets its later rounds.
MAX_DISPATCHES = 5


@dataclass(frozen=True)
class Outcome:
    """What became of one action or notification: status and why (job logs and tests)."""

    status: str
    detail: str = ""


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
    return None


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


def _release_holds(engine: Engine, config: RoutingConfig, now: datetime) -> None:
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


@dataclass(frozen=True)
class Notification:
    notification_id: str
    group_key: str
    reason: str
    members: tuple[str, ...]
    status: str = "sending"


def _claim(conn, group_key: str, route_id: str, channel: str, recipient: str, reason: str,
           members: list[str], now: datetime) -> Notification | None:
    seq = (conn.execute(sa.select(sa.func.max(notification_log.c.sequence))
                        .where(notification_log.c.group_key == group_key)).scalar() or 0) + 1
    nid = hashlib.sha256(f"{group_key}|{seq}".encode()).hexdigest()[:40]
    try:
        with conn.begin_nested():
            conn.execute(notification_log.insert().values(
                notification_id=nid, group_key=group_key, sequence=seq, route_id=route_id,
                channel=channel, recipient_id=recipient, reason=reason,
                members=json.dumps(members), alerts=len(members), status="sending",
                attempts=0, created_at=now))
    except sa.exc.IntegrityError:
        return None  # another dispatcher took this turn of the group
    return Notification(nid, group_key, reason, tuple(members))


@dataclass(frozen=True)
class _Turn:
    group_key: str
    route_id: str
    channel: str
    recipient_id: str
    reason: str
    members: tuple[str, ...]
    due: datetime


def _turns(conn, config: RoutingConfig) -> list[_Turn]:
    """Every group's next turn and when it is due: queued alerts go out group_wait after
    the group's first alert (group_interval after its last notification); alerts still
    firing with nothing new are repeated repeat_interval after the last notification."""
    routes = {r.id: r for r in matched_routes_all(config)}
    queued = conn.execute(sa.select(N.group_key, N.route_id, N.channel, N.recipient_id,
                                    N.action_key, N.queued_at)
                          .where(N.status == "queued").order_by(N.queued_at)).all()
    last = {k: _naive(v) for k, v in conn.execute(
        sa.select(notification_log.c.group_key, sa.func.max(notification_log.c.sent_at))
        .where(notification_log.c.status == "delivered")
        .group_by(notification_log.c.group_key)).all()}
    groups: dict[str, list] = defaultdict(list)
    for row in queued:
        groups[row.group_key].append(row)
    out = []
    for key, rows in groups.items():
        route = routes.get(rows[0].route_id)
        sent = last.get(key)
        if sent:
            due = sent + (route.group_interval if route else timedelta(0))
        else:
            due = min(_naive(r.queued_at) for r in rows) + \
                (route.group_wait if route else timedelta(0))
        out.append(_Turn(key, rows[0].route_id, rows[0].channel, rows[0].recipient_id,
                         "group_interval" if sent else "first",
                         tuple(r.action_key for r in rows), due))
    for key, sent in last.items():
        route = routes.get(key.split("|", 1)[0])
        if key in groups or sent is None or route is None or not route.repeat_interval:
            continue
        members = conn.execute(sa.select(N.action_key, N.channel, N.recipient_id)
                               .join(alert_episodes, alert_episodes.c.episode_id == N.episode_id)
                               .where(N.group_key == key, N.status == "sent", N.kind == "fire",
                                      alert_episodes.c.state == "firing")).all()
        if members:
            out.append(_Turn(key, route.id, members[0].channel, members[0].recipient_id,
                             "repeat", tuple(m.action_key for m in members),
                             sent + route.repeat_interval))
    return out


def _plan_turns(engine: Engine, config: RoutingConfig, now: datetime) -> list[Notification]:
    """Claim one notification for every group whose time has come."""
    claimed = []
    with engine.begin() as conn:
        for turn in _turns(conn, config):
            if turn.due > now:
                continue
            n = _claim(conn, turn.group_key, turn.route_id, turn.channel, turn.recipient_id,
                       turn.reason, list(turn.members), now)
            if n is None:
                continue
            if turn.reason != "repeat":
                conn.execute(alert_notifications.update().where(N.action_key.in_(n.members))
                             .values(status="sending", notification_id=n.notification_id,
                                     updated_at=now))
            claimed.append(n)
    return claimed


def matched_routes_all(config: RoutingConfig):
    """Every route of the tree with its inherited settings, by id."""
    from perf_orchestration.alertmanager.matching import _resolve

    out, stack = [], [(config.route, None)]
    while stack:
        route, parent = stack.pop()
        here = _resolve(route, parent)
        out.append(here)
        stack += [(child, here) for child in route.routes]
    return out


def _naive(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _send(engine: Engine, n: Notification, channels: Mapping, now: datetime) -> Outcome:
    from perf_orchestration.delivery import Message

    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_notifications).where(
            N.action_key.in_(n.members)).order_by(N.queued_at, N.action_key)).mappings().all()
    if not rows:
        return Outcome("failed", "no members")
    first = rows[0]
    titles = list(dict.fromkeys(r["title"] for r in rows))
    subject = titles[0] if len(rows) == 1 else f"{len(rows)} alerts: " + "; ".join(titles[:3])
    if n.reason == "repeat":
        subject = f"Still firing: {subject}"
    body = "\n\n---\n\n".join(r["body"] for r in rows)
    alerts = [json.loads(r["data"]) for r in rows]
    base, secret = os.environ.get(ACK_URL_ENV), os.environ.get(ACK_SECRET_ENV)
    if base and secret and n.reason != "resolved" and first["kind"] == "fire":
        for alert, r in zip(alerts, rows, strict=True):
            alert["ack_url"] = ack_link(base, secret, r["episode_id"], r["recipient_id"])
        body += "\n\nAcknowledge: " + " ".join(a["ack_url"] for a in alerts)
    result = channels[first["channel"]].send(Message(
        idempotency_key=n.notification_id, recipient=first["address"],
        recipient_name=first["recipient_name"], subject=subject, body=body,
        data={"group_key": n.group_key, "route_id": first["route_id"], "reason": n.reason,
              "alerts": alerts}))
    delivered = _naive(result.delivered_at)
    with engine.begin() as conn:
        conn.execute(notification_log.update()
                     .where(notification_log.c.notification_id == n.notification_id)
                     .values(status=result.status, detail=result.detail[:500],
                             sent_at=now if result.status == "delivered" else None,
                             attempts=notification_log.c.attempts + result.attempts,
                             dispatches=notification_log.c.dispatches + 1))
        if result.status == "delivered" and n.reason != "repeat":
            conn.execute(alert_notifications.update().where(N.action_key.in_(n.members))
                         .values(status="sent", updated_at=now))
            conn.execute(action_log.update().where(action_log.c.idempotency_key.in_(n.members))
                         .values(status="delivered", delivered_at=delivered,
                                 attempts=action_log.c.attempts + 1,
                                 detail=f"in notification {n.notification_id[:12]} "
                                        f"({len(rows)} alert(s))"))
            fired = [r["episode_id"] for r in rows if r["kind"] == "fire"]
            if fired:
                conn.execute(alert_episodes.update().where(
                    alert_episodes.c.episode_id.in_(fired),
                    sa.or_(alert_episodes.c.delivered_at.is_(None),
                           alert_episodes.c.delivered_at > delivered))
                    .values(delivered_at=delivered))
        elif result.status != "delivered":
            conn.execute(action_log.update().where(action_log.c.idempotency_key.in_(n.members))
                         .values(status="failed", detail=result.detail[:500]))
    return Outcome(result.status, result.detail)


def _failed_turns(engine: Engine, now: datetime) -> list[Notification]:
    """Turns to send again with the same key: failed ones, and ones claimed but never
    finished (a crash between claim and send) after a minute."""
    log = notification_log.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notification_log).where(
            log.dispatches < MAX_DISPATCHES, sa.or_(
                log.status == "failed",
                sa.and_(log.status == "sending",
                        log.created_at < now - timedelta(minutes=1))))).mappings().all()
    return [Notification(r["notification_id"], r["group_key"], r["reason"],
                         tuple(json.loads(r["members"]))) for r in rows]


def dispatch_due(engine: Engine, config: RoutingConfig, channels: Mapping,
                 now: datetime | None = None) -> list[tuple[Notification, Outcome]]:
    """Send what is due: released holds, failed turns again (same key), new turns."""
    now = now or utcnow()
    _release_holds(engine, config, now)
    turns = _failed_turns(engine, now) + _plan_turns(engine, config, now)
    seen, out = set(), []
    for n in turns:
        if n.notification_id in seen:
            continue
        seen.add(n.notification_id)
        out.append((n, _send(engine, n, channels, now)))
    return out


def next_due(engine: Engine, config: RoutingConfig) -> datetime | None:
    """The earliest time a group, a hold or a retry needs the dispatcher (UTC naive)."""
    with engine.connect() as conn:
        times = [t.due for t in _turns(conn, config)]
        hold = conn.execute(sa.select(sa.func.min(N.hold_until))
                            .where(N.status == "silenced")).scalar()
        if hold:
            times.append(_naive(hold))
        if conn.execute(sa.select(notification_log.c.notification_id).where(
                notification_log.c.status == "failed",
                notification_log.c.dispatches < MAX_DISPATCHES).limit(1)).first():
            times.append(utcnow())
    return min(times) if times else None
