"""marts.capability_graph: per person, skills with every piece of evidence (answers,
trainings, badges, incidents handled, metric history), each with its date and source.
Built from what happened, never from a self-assessment; rebuilt whole on each run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.config import FeedbackConfig
from perf_orchestration.people.reminders import GAP_SKILL, daily_proposals
from perf_orchestration.tables import (
    RAW_TABLES,
    badges,
    capability_graph,
    feedback,
    feedback_requests,
)


def build_capability_graph(engine: Engine, config: FeedbackConfig, now: datetime) -> dict:
    skills = {t.id: t.skill for t in config.triggers}
    rows: dict[tuple, dict] = {}

    def add(emp, skill, kind, ev_id, at, source, detail):
        rows[(emp, skill, kind, ev_id)] = {
            "employee_id": emp, "skill": skill, "evidence_kind": kind, "evidence_id": ev_id,
            "evidence_at": at, "source": source, "detail": detail}

    trainings = RAW_TABLES["hr_trainings"]
    proposals = RAW_TABLES["crm_proposals"]
    with engine.connect() as conn:
        for r in conn.execute(sa.select(feedback)).mappings():
            add(r["respondent_id"], skills.get(r["trigger_id"], r["trigger_id"]), "answer",
                r["response_id"], r["answered_at"], f"hr/feedback_responses {r['form_version']}",
                f"answered {r['form_id']} about {r['subject']}")
        for r in conn.execute(sa.select(trainings)).mappings():
            add(r["employee_id"], r["course"], "training", r["training_id"], r["completed_at"],
                "hr/trainings", f"completed {r['course']} (score {r['score']})")
        for r in conn.execute(sa.select(badges).where(badges.c.revoked_at.is_(None))).mappings():
            add(r["employee_id"], r["badge_id"], "badge", r["badge_id"], r["awarded_at"],
                "marts.badges", f"{r['title']} from {r['evidence']}")
        for r in conn.execute(sa.select(feedback_requests)
                              .where(feedback_requests.c.trigger_id.in_(
                                  [t.id for t in config.triggers if t.subject == "device"]))
                              ).mappings():
            add(r["recipient_id"], skills[r["trigger_id"]], "incident", r["request_id"],
                r["signal_at"], "mes/equipment_events",
                f"{r['subject']} failed on {r['period']}: {', '.join(json.loads(r['evidence']))}")
        history = daily_proposals(conn.execute(sa.select(proposals)).mappings().all(), now)
    for emp, days in history.items():
        due = sum(d["due"] for d in days.values())
        on_time = sum(d["on_time"] for d in days.values())
        if not due:
            continue
        last = max(days)
        add(emp, GAP_SKILL, "metric", f"proposal_on_time_rate:{min(days)}..{last}",
            datetime.fromisoformat(last), "crm/proposals",
            f"{on_time}/{due} proposals on time ({on_time / due:.0%})")
    with engine.begin() as conn:
        conn.execute(capability_graph.delete())
        if rows:
            conn.execute(capability_graph.insert(), list(rows.values()))
    people = {r["employee_id"] for r in rows.values()}
    return {"rows": len(rows), "people": len(people),
            "built_at": now.astimezone(UTC).isoformat()}
