"""The `people` section of the demo's summary.json: what the people loop asked, received,
awarded and reminded, and how the new hires are doing, each with the record ids behind it."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.tables import (
    badges,
    capability_graph,
    feedback,
    feedback_requests,
    onboarding_progress,
    person_reminders,
    quarantine,
)


def onboarding_summary(conn: sa.Connection) -> dict:
    """The new hires on the latest plant day of marts.onboarding_progress, with their three
    metrics and the records behind each, and the mentor feedback set aside."""
    t = onboarding_progress
    day = conn.execute(sa.select(sa.func.max(t.c.as_of_date))).scalar()
    hires = [
        {"employee_id": r.employee_id, "role": r.role, "team_id": r.team_id,
         "track": r.track_id, "days_since_hire": r.days_since_hire, "mentor_id": r.mentor_id,
         "training_share": r.training_share,
         "trainings": f"{r.trainings_done}/{r.trainings_required}",
         "training_ids": json.loads(r.training_ids),
         "feedback_per_week": r.feedback_per_week,
         "feedback_by_week": json.loads(r.feedback_by_week),
         "feedback_ids": json.loads(r.feedback_ids),
         "days_to_first_job": r.days_to_first_job, "first_job_kind": r.first_job_kind,
         "first_job_id": r.first_job_id, "target_days": r.target_days, "status": r.status,
         "reasons": json.loads(r.reasons)}
        for r in conn.execute(sa.select(t).where(t.c.as_of_date == day)
                              .order_by(t.c.employee_id))] if day else []
    bad = [r.reason for r in conn.execute(sa.select(quarantine.c.reason).where(
        quarantine.c.entity == "hr_mentor_feedback").order_by(quarantine.c.source_record_id))]
    return {"as_of_date": day, "new_hires": hires,
            "by_status": {s: sum(h["status"] == s for h in hires)
                          for s in ("on_track", "at_risk", "late")},
            "feedback_quarantined": bad}


def people_summary(engine: Engine) -> dict:
    if not sa.inspect(engine).has_table("feedback_requests", schema="ops"):
        return {"requests": [], "answers": 0, "answers_quarantined": [], "reminders": [],
                "badges": [], "capability_graph": {"people": 0, "rows": 0, "shown": {}},
                "onboarding": {"as_of_date": None, "new_hires": [], "by_status": {},
                               "feedback_quarantined": []}}
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
        onboarding = onboarding_summary(conn)
    involved = ({r["recipient"] for r in requests} | {r["employee_id"] for r in reminders}
                | {b["employee_id"] for b in held[:1]})
    shown = {p: sorted({f"{g['skill']}:{g['evidence_kind']}:{g['evidence_id']}"
                        for g in graph if g["employee_id"] == p}) for p in sorted(involved)}
    return {"requests": requests, "answers": answers, "answers_quarantined": bad,
            "reminders": reminders, "badges": held,
            "capability_graph": {"people": len({g["employee_id"] for g in graph}),
                                 "rows": len(graph), "shown": shown},
            "onboarding": onboarding}
