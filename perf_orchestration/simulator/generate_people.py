"""People records: trainings completed, customer proposals with their due times, and the
answers people give to feedback requests.

Proposals cover `proposal_history_days` before the range so a person's baseline exists;
every proposal is sent on time except, on the last `proposal_slip_days` plant days, those
of one account manager (the second by employee id), who then sends them hours late.
"""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import at_local, range_end, rng_for
from perf_orchestration.simulator.names import Roster

Row = dict[str, Any]
ROLE_COURSES = {
    "maintenance_lead": ("mes-fault-codes", "safety-induction"),
    "maintenance_technician": ("mes-fault-codes", "safety-induction"),
    "team_leader": ("lean-basics", "safety-induction"),
    "account_manager": ("crm-proposals",),
    "qa_engineer": ("weld-quality", "paint-process"),
}


def slipping_manager(roster: Roster) -> str | None:
    """The account manager whose proposals go late at the end of the range."""
    managers = roster.with_role("account_manager")
    return managers[1] if len(managers) > 1 else (managers[0] if managers else None)


def trainings(scenario: Scenario, roster: Roster) -> list[Row]:
    """Courses completed in the 60 days before the range; every maintenance lead has
    finished the MES fault-code course."""
    tz = scenario.tz
    rows: list[Row] = []
    for emp in roster.rows:
        courses = ROLE_COURSES.get(emp["role"], ())
        rng = rng_for(scenario, "hr", "trainings", emp["employee_id"])
        done = [c for c in courses if rng.random() < 0.3]
        if emp["role"] == "maintenance_lead" and "mes-fault-codes" not in done:
            done.append("mes-fault-codes")
        if emp["employee_id"] == slipping_manager(roster):
            done = []  # the gap a colleague's graph covers
        for course in done:
            day = scenario.start.date() - timedelta(days=rng.randint(3, 60))
            at = at_local(day, time(rng.randint(9, 16), 0), tz)
            rows.append({"training_id": f"TRN-{emp['employee_id']}-{course}",
                         "employee_id": emp["employee_id"], "course": course,
                         "completed_at": at, "score": float(rng.randint(70, 100)),
                         "updated_at": at + timedelta(minutes=5)})
    return rows


def proposals(scenario: Scenario, roster: Roster) -> list[Row]:
    """Proposals due at 11:00 and 17:00 local per account manager and day."""
    tz, end, base = scenario.tz, range_end(scenario), scenario.baseline
    slip_owner = slipping_manager(roster)
    last_day = (end - timedelta(seconds=1)).astimezone(tz).date()
    first_day = scenario.start.date() - timedelta(days=base.proposal_history_days)
    clocks = [time(11 + 6 * (k % 2), 0) for k in range(base.proposals_per_manager_day)]
    rows: list[Row] = []
    for owner in roster.with_role("account_manager"):
        rng = rng_for(scenario, "crm", "proposals", owner)
        day = first_day
        while day <= last_day:
            slipping = owner == slip_owner and (last_day - day).days < base.proposal_slip_days
            for k, clock in enumerate(clocks):
                due = at_local(day, clock, tz)
                if due >= end:
                    continue
                if slipping:
                    sent = due + timedelta(hours=rng.randint(2, 6))
                else:
                    sent = due - timedelta(minutes=rng.randint(20, 240))
                sent = sent if sent < end else None
                rows.append({"proposal_id": f"PRP-{day:%Y%m%d}-{owner}-{k + 1}",
                             "account_id": f"ACC-{1000 + rng.randrange(200)}",
                             "owner_id": owner, "due_at": due, "sent_at": sent,
                             "updated_at": sent or due})
            day += timedelta(days=1)
    return rows


def answers_for(requests: list[dict], answered_at) -> list[Row]:
    """What the people asked answer: one response per request, deterministic text, plus
    one answer to a request nobody sent and one on an outdated form version, as a real
    forms tool also delivers."""
    rows: list[Row] = []
    for req in sorted(requests, key=lambda r: r["request_id"]):
        questions = json.loads(req["questions"])
        answers = {q: f"answer {i + 1} from {req['recipient_id']}"
                   for i, q in enumerate(questions)}
        rows.append({"response_id": f"RSP-{req['request_id']}", "request_id": req["request_id"],
                     "form_id": req["form_id"], "form_version": req["form_version"],
                     "respondent_id": req["recipient_id"], "answered_at": answered_at,
                     "answers": json.dumps(answers, sort_keys=True)})
    if requests:
        first = sorted(requests, key=lambda r: r["request_id"])[0]
        rows.append({**rows[0], "response_id": "RSP-UNKNOWN-1", "request_id": "FR-000000000000"})
        old = first["form_version"].rsplit(".", 1)[0] + ".0-old"
        rows.append({**rows[0], "response_id": f"RSP-{first['request_id']}-OLD",
                     "form_version": old})
    return rows
