"""The `people` section of the demo's summary.json: what the people loop asked, received,
awarded and reminded, each with the record ids that caused it."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.tables import (
    badges,
    capability_graph,
    feedback,
    feedback_requests,
    person_reminders,
)
from perf_orchestration.tables import quarantine


def people_summary(engine: Engine) -> dict:
    if not sa.inspect(engine).has_table("feedback_requests", schema="ops"):
        return {"requests": [], "answers": 0, "answers_quarantined": [], "reminders": [],
                "badges": [], "capability_graph": {"people": 0, "rows": 0, "shown": {}}}
    with engine.connect() as conn:
        requests = [
            {"request_id": r.request_id, "trigger_id": r.trigger_id, "subject": r.subject,
             "form_id": r.form_id, "form_version": r.form_version,
             "recipient": r.recipient_id, "status": r.status,
             "questions": json.loads(r.questions), "evidence": json.loads(r.evidence)}
            for r in conn.execute(sa.select(feedback_requests)
                                  .order_by(feedback_requests.c.request_id))]
        answers = conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar()
        bad = [r.reason for r in conn.execute(sa.select(quarantine.c.reason).where(
            quarantine.c.entity == "hr_feedback_responses"))]
        reminders = [
            {"reminder_id": r.reminder_id, "employee_id": r.employee_id, "metric": r.metric,
             "days_below": r.days_below.split(","), "baseline": r.baseline,
             "status": r.status, "suggestions": json.loads(r.suggestions),
             "evidence": json.loads(r.evidence)}
            for r in conn.execute(sa.select(person_reminders)
                                  .order_by(person_reminders.c.reminder_id))]
        held = [{"employee_id": r.employee_id, "badge_id": r.badge_id,
                 "evidence": json.loads(r.evidence), "revoked": r.revoked_at is not None}
                for r in conn.execute(sa.select(badges).order_by(badges.c.badge_id,
                                                                 badges.c.employee_id))]
        graph = conn.execute(sa.select(capability_graph)).mappings().all()
    involved = ({r["recipient"] for r in requests} | {r["employee_id"] for r in reminders}
                | {b["employee_id"] for b in held[:1]})
    shown = {p: sorted({f"{g['skill']}:{g['evidence_kind']}:{g['evidence_id']}"
                        for g in graph if g["employee_id"] == p}) for p in sorted(involved)}
    return {"requests": requests, "answers": answers, "answers_quarantined": bad,
            "reminders": reminders, "badges": held,
            "capability_graph": {"people": len({g["employee_id"] for g in graph}),
                                 "rows": len(graph), "shown": shown}}
