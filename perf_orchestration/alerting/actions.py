"""From a firing episode to delivered actions, each exactly once.

Every action gets an idempotency key from (rule, subject, episode start, action,
recipient, fire/resolved). `ops.action_log` holds each key once (primary key): a retried
job or a repeated sensor tick finds the key delivered and sends nothing; a key that
failed before is tried again, and the receiver sees the same Idempotency-Key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.recipients import Person, people_by_id, recipients
from perf_orchestration.alerting.templates import AlertContext, render
from perf_orchestration.clock import now as clock_now
from perf_orchestration.tables import action_log, alert_episodes, tasks


class Channel(Protocol):
    def send(self, message): ...  # returns a DeliveryResult


@dataclass(frozen=True)
class ActionSpec:
    id: str
    role: str
    channel: str
    template: str
    due_hours: float = 8.0
    people: tuple[str, ...] = ()  # named employees instead of the role's holders


@dataclass(frozen=True)
class EpisodeFacts:
    """What the actions of one episode need to know about it."""

    episode_id: str
    rule_id: str
    description: str
    subject_kind: str
    subject: str
    metric: str | None
    value: float | None
    threshold: float | None
    episode_start: datetime  # UTC naive
    fired_at: datetime  # UTC naive
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedAction:
    key: str
    episode_id: str
    rule_id: str
    action_id: str
    kind: str
    channel: str
    role: str
    person: Person
    title: str
    body: str
    due_at: datetime
    data: dict


def action_key(rule_id: str, subject: str, episode_start: datetime, action_id: str,
               recipient_id: str, kind: str = "fire") -> str:
    raw = "|".join((rule_id, subject, episode_start.isoformat(), action_id, recipient_id, kind))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def utcnow() -> datetime:
    """Naive UTC now, on the replay's clock inside a replay (alerting.clock)."""
    return clock_now()


def plan_actions(engine: Engine, facts: EpisodeFacts, specs: list[ActionSpec],
                 kind: str = "fire", now: datetime | None = None) -> list[PlannedAction]:
    """One planned action per action spec and recipient found in the roster; tasks are due
    `due_hours` after they are planned."""
    now = now or utcnow()
    out = []
    for spec in specs:
        if kind == "resolved" and spec.channel == "task":
            continue  # the task stays with its owner; the resolved notice is a message
        template = "resolved_notice" if kind == "resolved" else spec.template
        found = people_by_id(engine, spec.people) if spec.people else \
            recipients(engine, spec.role, facts.subject_kind, facts.subject)
        for person in found:
            ctx = AlertContext(facts.rule_id, facts.description, facts.subject_kind,
                               facts.subject, facts.metric, facts.value, facts.threshold,
                               facts.episode_start, facts.fired_at, person.name, facts.extra)
            title, body = render(template, ctx)
            out.append(PlannedAction(
                key=action_key(facts.rule_id, facts.subject, facts.episode_start, spec.id,
                               person.employee_id, kind),
                episode_id=facts.episode_id, rule_id=facts.rule_id, action_id=spec.id,
                kind=kind, channel=spec.channel, role=spec.role, person=person, title=title,
                body=body, due_at=now + timedelta(hours=spec.due_hours),
                data={"rule_id": facts.rule_id, "subject": facts.subject,
                      "episode_id": facts.episode_id, "metric": facts.metric,
                      "value": facts.value, "threshold": facts.threshold,
                      "role": spec.role, "kind": kind}))
    return out


def claim(engine: Engine, actions: list[PlannedAction], run_id: str | None,
          now: datetime | None = None) -> list[PlannedAction]:
    """Record the actions once; return those still to deliver (new, planned or failed)."""
    if not actions:
        return []
    now = now or utcnow()
    keys = [a.key for a in actions]
    with engine.begin() as conn:
        status = dict(conn.execute(sa.select(action_log.c.idempotency_key, action_log.c.status)
                                   .where(action_log.c.idempotency_key.in_(keys))).all())
        new = [a for a in actions if a.key not in status]
        if new:
            conn.execute(action_log.insert(), [{
                "idempotency_key": a.key, "episode_id": a.episode_id, "rule_id": a.rule_id,
                "action_id": a.action_id, "kind": a.kind, "channel": a.channel,
                "recipient_id": a.person.employee_id, "recipient_role": a.role,
                "status": "planned", "attempts": 0, "subject_line": a.title,
                "planned_at": now, "run_id": run_id} for a in new])
    return [a for a in actions if status.get(a.key) != "delivered"]


def _deliver_task(engine: Engine, action: PlannedAction, now: datetime):
    from perf_orchestration.delivery import DeliveryResult

    with engine.begin() as conn:
        exists = conn.execute(sa.select(tasks.c.task_id)
                              .where(tasks.c.task_id == action.key)).first()
        if not exists:
            conn.execute(tasks.insert().values(
                task_id=action.key, episode_id=action.episode_id,
                owner_id=action.person.employee_id, owner_role=action.role, title=action.title,
                body=action.body, status="open", created_at=now, due_at=action.due_at))
    return DeliveryResult("delivered", 1, "task row in ops.tasks", now.replace(tzinfo=UTC))


def deliver(engine: Engine, actions: list[PlannedAction], channels: Mapping[str, Channel],
            now: Callable[[], datetime] = utcnow) -> list[tuple[PlannedAction, object]]:
    """Send each action on its channel and record the outcome; failures stay visible."""
    from perf_orchestration.delivery import Message

    results = []
    for action in actions:
        if action.channel == "task":
            result = _deliver_task(engine, action, now())
        else:
            recipient = action.person.email if action.channel == "email" else \
                action.person.employee_id
            result = channels[action.channel].send(Message(
                idempotency_key=action.key, recipient=recipient,
                recipient_name=action.person.name, subject=action.title, body=action.body,
                data=action.data))
        delivered_at = result.delivered_at.astimezone(UTC).replace(tzinfo=None) \
            if result.delivered_at else None
        with engine.begin() as conn:
            conn.execute(action_log.update().where(action_log.c.idempotency_key == action.key)
                         .values(status=result.status,
                                 attempts=action_log.c.attempts + result.attempts,
                                 detail=result.detail[:500], delivered_at=delivered_at))
            if delivered_at and action.kind == "fire":
                conn.execute(alert_episodes.update()
                             .where(alert_episodes.c.episode_id == action.episode_id,
                                    sa.or_(alert_episodes.c.delivered_at.is_(None),
                                           alert_episodes.c.delivered_at > delivered_at))
                             .values(delivered_at=delivered_at))
        results.append((action, result))
    return results
