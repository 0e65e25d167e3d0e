"""Answers matched to their requests into marts.feedback; an answer for an unknown request
or on another form version than its request's is quarantined with the reason, not lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.store import replace_mart
from perf_orchestration.tables import RAW_TABLES, feedback, feedback_requests

ENTITY = "hr_feedback_responses"
PARTITION = "marts.feedback"


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def build_feedback(engine: Engine, run_id: str, now: datetime) -> dict:
    """Replace marts.feedback and this step's quarantine rows; counts of each outcome."""
    raw = RAW_TABLES[ENTITY]
    with engine.connect() as conn:
        answers = conn.execute(sa.select(raw).order_by(raw.c.response_id)).mappings().all()
        requests = {r["request_id"]: r for r in conn.execute(
            sa.select(feedback_requests)).mappings()}
    good, bad = [], []
    for a in answers:
        req = requests.get(a["request_id"])
        if req is None:
            reason = (f"answer {a['response_id']} names request {a['request_id']}, "
                      "which was never sent")
            check = "known_request"
        elif a["form_version"] != req["form_version"]:
            reason = (f"answer {a['response_id']} uses form {a['form_id']} "
                      f"{a['form_version']}, the request asked {req['form_version']}")
            check = "request_form_version"
        else:
            good.append({"response_id": a["response_id"], "request_id": a["request_id"],
                         "trigger_id": req["trigger_id"], "form_id": a["form_id"],
                         "form_version": a["form_version"], "respondent_id": a["respondent_id"],
                         "subject": req["subject"], "answered_at": _naive(a["answered_at"]),
                         "answers": a["answers"]})
            continue
        payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in a.items()}
        bad.append({"entity": ENTITY, "partition_key": PARTITION,
                    "source_record_id": a["response_id"], "failed_expectation": check,
                    "reason": reason, "payload": json.dumps(payload, default=str),
                    "run_id": run_id, "quarantined_at": _naive(now)})
    replace_mart(engine, feedback, good, ENTITY, bad)
    return {"answers": len(answers), "matched": len(good), "quarantined": len(bad),
            "reasons": [b["reason"] for b in bad]}
