"""Alert notifications between an episode's actions and the people: queued in groups,
inhibited, silenced or held, and sent as one grouped notification per group and turn.

`queue.enqueue` records what each notification action became (`ops.alert_notifications`,
one row per action key, so a retried job adds nothing); `dispatch_due` sends every group
whose time has come (group_wait after its first alert, group_interval after its last
notification, repeat_interval for alerts still firing), each as one message with an
idempotency key from (group, sequence) claimed in `ops.notification_log` before it is
sent, so neither a retried run nor a restarted daemon sends a notification twice.

A notification whose round failed (the webhook or mail server down through all of the
channel's own retries) is tried again by later rounds, each due only after a growing
wait (`RETRY_DELAYS`), so a receiver that is down for minutes is still reached although
the dispatch sensor ticks every few seconds.
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

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.config import RoutingConfig
from perf_orchestration.alerting.notifications.escalation import ack_link
from perf_orchestration.alerting.notifications.queue import Outcome, release_holds
from perf_orchestration.clock import current as current_clock
from perf_orchestration.tables import (
    action_log,
    alert_episodes,
    alert_notifications,
    notification_log,
)

N = alert_notifications.c
ACK_URL_ENV = "PERFFLOW_ACK_URL"  # where signed acknowledgement links point
ACK_SECRET_ENV = "PERFFLOW_ACK_SECRET"
# The wait before each later dispatch round of a failed notification, counted from the
# round that failed: 30 s, 1, 2 and 4 min, so a webhook or mail server down for up to
# about 7 minutes (a restart, a failover) still gets it.
RETRY_DELAYS: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (30, 60, 120, 240))
# Dispatch rounds a failed notification is tried in (each round is the channel's own
# retries with backoff); counted in rounds, not channel attempts, so a channel that
# retries three times within one round still gets its later rounds.
MAX_DISPATCHES = len(RETRY_DELAYS) + 1
# A notification a round has taken (claimed, or taken again after a failed round) is that
# round's for this long; after it the round is taken to have crashed between taking and
# finishing, and the next round sends it again with the same key.
IN_FLIGHT_TIMEOUT = timedelta(minutes=1)


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
                attempts=0, created_at=now, retry_at=now + IN_FLIGHT_TIMEOUT))
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
    # a dispatcher serves the alerts of its own clock: the wall's, or a replay's
    on_clock = alert_episodes.c.clock == current_clock()
    queued = conn.execute(sa.select(N.group_key, N.route_id, N.channel, N.recipient_id,
                                    N.action_key, N.queued_at)
                          .join(alert_episodes, alert_episodes.c.episode_id == N.episode_id)
                          .where(N.status == "queued", on_clock)
                          .order_by(N.queued_at)).all()
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
                                      alert_episodes.c.state == "firing", on_clock)).all()
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
    from perf_orchestration.alerting.notifications.matching import _resolve

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
    from perf_orchestration.delivery import DeliveryResult

    with engine.connect() as conn:
        rows = conn.execute(sa.select(alert_notifications).where(
            N.action_key.in_(n.members)).order_by(N.queued_at, N.action_key)).mappings().all()
    if rows:
        result = _deliver(n, rows, channels)
    else:
        result = DeliveryResult("failed", 0, "no members", None)
    return _record(engine, n, rows, result, now)


def _deliver(n: Notification, rows, channels: Mapping):
    from perf_orchestration.delivery import Message

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
    return channels[first["channel"]].send(Message(
        idempotency_key=n.notification_id, recipient=first["address"],
        recipient_name=first["recipient_name"], subject=subject, body=body,
        data={"group_key": n.group_key, "route_id": first["route_id"], "reason": n.reason,
              "alerts": alerts}))


def _record(engine: Engine, n: Notification, rows, result, now: datetime) -> Outcome:
    """Store a round's outcome: delivered, or failed with the time of the next round."""
    delivered = _naive(result.delivered_at)
    log = notification_log.c
    with engine.begin() as conn:
        rounds = (conn.execute(sa.select(log.dispatches).where(
            log.notification_id == n.notification_id)).scalar() or 0) + 1
        retry_at = retry_time(rounds, now) if result.status != "delivered" else None
        conn.execute(notification_log.update()
                     .where(log.notification_id == n.notification_id)
                     .values(status=result.status, detail=result.detail[:500],
                             sent_at=now if result.status == "delivered" else None,
                             attempts=log.attempts + result.attempts,
                             dispatches=rounds, retry_at=retry_at))
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
        elif result.status != "delivered" and n.reason != "repeat":
            # a failed "still firing" reminder stays in ops.notification_log; the actions
            # it repeats were delivered and stay so
            conn.execute(action_log.update().where(action_log.c.idempotency_key.in_(n.members))
                         .values(status="failed",
                                 detail=f"{result.detail[:400]}; {_rounds_note(rounds, retry_at)}"))
    return Outcome(result.status, result.detail, retry_at)


def retry_time(rounds: int, failed_at: datetime) -> datetime | None:
    """When a notification that failed `rounds` dispatch rounds, the last at `failed_at`,
    is due again; None when no round is left."""
    if rounds >= MAX_DISPATCHES:
        return None
    return failed_at + RETRY_DELAYS[min(rounds, len(RETRY_DELAYS)) - 1]


def _rounds_note(rounds: int, retry_at: datetime | None) -> str:
    if retry_at is None:
        return f"dispatch round {rounds} of {MAX_DISPATCHES}, no round left"
    return (f"dispatch round {rounds} of {MAX_DISPATCHES}, next round at "
            f"{_naive(retry_at):%Y-%m-%d %H:%M:%S} UTC")


def _resend_condition(now: datetime, failed_now: bool = False):
    """Turns a round may send again with the same key: failed ones whose retry time has
    come (any, in a deliberate round), and ones taken by a round that never finished."""
    log = notification_log.c
    failed = log.status == "failed"
    if not failed_now:
        failed = sa.and_(failed, sa.or_(log.retry_at.is_(None), log.retry_at <= now))
    stale = sa.and_(log.status == "sending", sa.or_(
        log.retry_at <= now,
        # taken before retry times were kept
        sa.and_(log.retry_at.is_(None), log.created_at < now - IN_FLIGHT_TIMEOUT)))
    return sa.and_(log.dispatches < MAX_DISPATCHES, sa.or_(failed, stale))


def _failed_turns(engine: Engine, now: datetime, failed_now: bool) -> list[Notification]:
    """Take the turns to send again with the same key; each is marked `sending` with a
    time after which a later round may take it again, so two dispatchers never send one
    turn at once and a crash in between is recovered after IN_FLIGHT_TIMEOUT."""
    log = notification_log.c
    condition = _resend_condition(now, failed_now)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notification_log).where(condition)
                            .order_by(log.created_at, log.sequence)).mappings().all()
    taken = []
    for r in rows:
        with engine.begin() as conn:
            took = conn.execute(notification_log.update().where(
                log.notification_id == r["notification_id"], condition).values(
                status="sending", retry_at=now + IN_FLIGHT_TIMEOUT)).rowcount
        if took == 1:
            taken.append(Notification(r["notification_id"], r["group_key"], r["reason"],
                                      tuple(json.loads(r["members"]))))
    return taken


def dispatch_due(engine: Engine, config: RoutingConfig, channels: Mapping,
                 now: datetime | None = None, *, retry_failed_now: bool = False
                 ) -> list[tuple[Notification, Outcome]]:
    """Send what is due: released holds, failed turns whose retry time has come (with
    the same key), new turns. `retry_failed_now` makes a deliberate round (a failed run
    re-executed by an operator) try every failed turn with rounds left at once."""
    now = now or utcnow()
    release_holds(engine, config, now)
    turns = _failed_turns(engine, now, retry_failed_now) + _plan_turns(engine, config, now)
    seen, out = set(), []
    for n in turns:
        if n.notification_id in seen:
            continue
        seen.add(n.notification_id)
        out.append((n, _send(engine, n, channels, now)))
    return out


def next_due(engine: Engine, config: RoutingConfig) -> datetime | None:
    """The earliest time a group, a hold or a retry needs the dispatcher (UTC naive)."""
    log = notification_log.c
    with engine.connect() as conn:
        times = [t.due for t in _turns(conn, config)]
        hold = conn.execute(sa.select(sa.func.min(N.hold_until))
                            .where(N.status == "silenced")).scalar()
        if hold:
            times.append(_naive(hold))
        again = conn.execute(sa.select(log.status, log.created_at, log.retry_at).where(
            log.dispatches < MAX_DISPATCHES, log.status.in_(("failed", "sending")))).all()
    for status, created_at, retry_at in again:
        if retry_at is not None:
            times.append(_naive(retry_at))
        elif status == "failed":  # failed before retry times were kept: due now
            times.append(utcnow())
        else:
            times.append(_naive(created_at) + IN_FLIGHT_TIMEOUT)
    return min(times) if times else None
