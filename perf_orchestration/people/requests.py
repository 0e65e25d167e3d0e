"""Feedback requests: triggers evaluated over the raw source events, one request per
(trigger, subject, plant day or record, recipient), delivered through the action channels.

The request id is a hash of what caused it, so re-running over the same events finds the
row already there and asks nobody twice. Each request keeps the record ids that caused it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.devices import device_team
from perf_orchestration.delivery.base import Message, one_line
from perf_orchestration.people.config import FeedbackConfig, Form, Trigger
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import RAW_TABLES, feedback_requests


@dataclass(frozen=True)
class Occurrence:
    """A trigger reached for a subject: the period it counts in and the records behind it."""

    trigger_id: str
    subject: str
    period: str
    signal_at: datetime  # aware UTC
    record_ids: tuple[str, ...]
    context: tuple[tuple[str, str], ...] = ()  # e.g. device type, failure codes


def request_id(trigger_id: str, subject: str, period: str, recipient_id: str) -> str:
    digest = hashlib.sha256(f"{trigger_id}|{subject}|{period}|{recipient_id}".encode())
    return f"FR-{digest.hexdigest()[:12]}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def count_per_day(trigger: Trigger, events: list[dict]) -> list[Occurrence]:
    """Failures per device and plant day (local calendar date); a day reaching the count
    gives one occurrence, its evidence the first `count_at_least` events."""
    groups: dict[tuple[str, str], dict[str, dict]] = {}
    for ev in events:
        at = _utc(ev["occurred_at"])
        day = calendar_row(at)["local_date"]
        groups.setdefault((ev["device_id"], day), {}).setdefault(ev["event_id"], {**ev,
                                                                               "at": at})
    out = []
    for (device, day), by_id in sorted(groups.items()):
        if len(by_id) < trigger.count_at_least:
            continue
        first = sorted(by_id.values(), key=lambda e: (e["at"], e["event_id"]))
        used = first[: trigger.count_at_least]
        codes = sorted({e["failure_code"] for e in first if e.get("failure_code")})
        out.append(Occurrence(trigger.id, device, day, used[-1]["at"],
                              tuple(e["event_id"] for e in used),
                              (("device_type", first[0]["device_type"]),
                               ("failure_codes", ",".join(codes)))))
    return out


def questions_for(form: Form, context: Mapping[str, str]) -> list[str]:
    """The form's questions for this case: failure-code ones first, then the device type's,
    then general ones, `question_count` in all, without repeats."""
    picked: list[str] = []
    for code in filter(None, context.get("failure_codes", "").split(",")):
        picked += form.questions_by_failure_code.get(code, [])
    picked += form.questions_by_device_type.get(context.get("device_type", ""), [])
    picked += form.general_questions
    return list(dict.fromkeys(picked))[: form.question_count]


def occurrences(engine: Engine, config: FeedbackConfig, now: datetime) -> list[Occurrence]:
    """Every trigger occurrence in the landed source records."""
    out: list[Occurrence] = []
    events, renewals = RAW_TABLES["mes_equipment_events"], RAW_TABLES["crm_renewals"]
    with engine.connect() as conn:
        for trigger in config.triggers:
            if not trigger.enabled:
                continue
            if trigger.event == "equipment_failure":
                rows = conn.execute(sa.select(
                    events.c.event_id, events.c.device_id, events.c.device_type,
                    events.c.occurred_at, events.c.failure_code)
                    .where(events.c.event_type == "failure")).mappings().all()
                out += count_per_day(trigger, [dict(r) for r in rows])
            elif trigger.event == "crm_renewal":
                rows = conn.execute(sa.select(renewals.c.renewal_id, renewals.c.owner_id,
                                              renewals.c.account_id, renewals.c.closed_at)
                                    .where(renewals.c.status == "won")
                                    .order_by(renewals.c.renewal_id)).all()
                out += [Occurrence(trigger.id, owner, rid, _utc(at), (rid,),
                                   (("account_id", account),))
                        for rid, owner, account, at in rows]
            elif trigger.event == "monthly":
                out += _monthly(conn, trigger, now)
    return out


def _monthly(conn: sa.Connection, trigger: Trigger, now: datetime) -> list[Occurrence]:
    """Every holder of the trigger's role, once per plant month (the period is YYYY-MM)."""
    emp = RAW_TABLES["hr_employees"]
    month = calendar_row(now)["local_date"][:7]
    ids = conn.execute(sa.select(emp.c.employee_id).where(emp.c.role == trigger.role)
                       .order_by(emp.c.employee_id)).scalars()
    return [Occurrence(trigger.id, e, month, now.astimezone(UTC), (f"calendar:{month}",))
            for e in ids]


def _recipients(conn: sa.Connection, trigger: Trigger, subject: str) -> list[tuple[str, str]]:
    emp = RAW_TABLES["hr_employees"]
    query = sa.select(emp.c.employee_id, emp.c.email).where(emp.c.role == trigger.role)
    if trigger.subject == "device":
        query = query.where(emp.c.team_id == device_team(conn, subject))
    else:
        query = query.where(emp.c.employee_id == subject)
    return [tuple(r) for r in conn.execute(query.order_by(emp.c.employee_id))]


def plan_requests(engine: Engine, config: FeedbackConfig, now: datetime) -> list[dict]:
    """Insert the requests not asked yet (status planned) and return them."""
    triggers = {t.id: t for t in config.triggers}
    created: list[dict] = []
    found = occurrences(engine, config, now)
    with engine.begin() as conn:
        known = set(conn.execute(sa.select(feedback_requests.c.request_id)).scalars())
        for occ in found:
            trigger = triggers[occ.trigger_id]
            form = config.form(trigger.form)
            context = dict(occ.context)
            for recipient_id, email in _recipients(conn, trigger, occ.subject):
                rid = request_id(occ.trigger_id, occ.subject, occ.period, recipient_id)
                if rid in known:
                    continue
                known.add(rid)
                created.append({
                    "request_id": rid, "trigger_id": trigger.id, "subject": occ.subject,
                    "period": occ.period, "form_id": form.id, "form_version": form.version,
                    "title": form.title.format(subject=context.get("account_id", occ.subject)),
                    "questions": json.dumps(questions_for(form, context)),
                    "recipient_id": recipient_id, "recipient_email": email,
                    "channel": trigger.channel,
                    "signal_at": occ.signal_at.replace(tzinfo=None),
                    "due_at": (now + timedelta(hours=trigger.due_hours)).replace(tzinfo=None),
                    "evidence": json.dumps(list(occ.record_ids)), "status": "planned",
                    "detail": None, "created_at": now.replace(tzinfo=None),
                    "delivered_at": None})
        if created:
            conn.execute(feedback_requests.insert(), created)
    return created


def deliver_requests(engine: Engine, channels: Mapping, minutes: Mapping[str, int]) -> dict:
    """Send every planned request once; the outcome is stored on the request row."""
    counts = {"delivered": 0, "failed": 0}
    with engine.connect() as conn:
        pending = conn.execute(sa.select(feedback_requests)
                               .where(feedback_requests.c.status == "planned")
                               .order_by(feedback_requests.c.request_id)).mappings().all()
    for req in pending:
        questions = json.loads(req["questions"])
        body = "\n".join([f"{req['title']} (form {req['form_id']} {req['form_version']}, "
                          f"about {minutes.get(req['form_id'], 3)} minutes)", ""]
                         + [f"{i + 1}. {q}" for i, q in enumerate(questions)]
                         + ["", f"Request {req['request_id']}, caused by "
                            f"{', '.join(json.loads(req['evidence']))}."])
        message = Message(req["request_id"], req["recipient_email"], req["recipient_id"],
                          req["title"], body, {"request_id": req["request_id"],
                                               "form_version": req["form_version"]})
        result = channels[req["channel"]].send(message)
        counts[result.status] += 1
        with engine.begin() as conn:
            conn.execute(feedback_requests.update()
                         .where(feedback_requests.c.request_id == req["request_id"])
                         .values(status=result.status, detail=one_line(result.detail),
                                 delivered_at=result.delivered_at.astimezone(UTC)
                                 .replace(tzinfo=None) if result.delivered_at else None))
    return counts
