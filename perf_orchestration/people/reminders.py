"""Personal reminders: a person's own metric below their baseline on consecutive plant days.

Metric: on-time delivery of customer proposals per owner and day (proposals due that day
sent by their due time / proposals due that day). Baseline: the same ratio over the
`BASELINE_DAYS` days before (sums, then divide). A day is below when its rate is under
baseline - TOLERANCE; a day with no proposals due neither extends nor breaks a run. When a
run reaches FOR_DAYS days, one reminder per episode (id from person, metric, first day).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.delivery.base import Message, one_line
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import RAW_TABLES, capability_graph, person_reminders

METRIC = "proposal_on_time_rate"
FOR_DAYS = 2
BASELINE_DAYS = 14
TOLERANCE = 0.1
GAP_SKILL = "crm-proposals"

Day = dict  # {"on_time": int, "due": int, "ids": [...], "late": [...]}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def daily_proposals(rows: list[Mapping], now: datetime) -> dict[str, dict[str, Day]]:
    """Per owner and local due day: proposals due before `now`, on time or not."""
    out: dict[str, dict[str, Day]] = defaultdict(dict)
    for r in rows:
        due = _utc(r["due_at"])
        if due > now:
            continue
        day = out[r["owner_id"]].setdefault(calendar_row(due)["local_date"],
                                            {"on_time": 0, "due": 0, "ids": [], "late": []})
        on_time = r["sent_at"] is not None and _utc(r["sent_at"]) <= due
        day["due"] += 1
        day["on_time"] += int(on_time)
        day["ids"].append(r["proposal_id"])
        if not on_time:
            day["late"].append((r["proposal_id"], r["account_id"]))
    return out


def episodes(days: Mapping[str, Day]) -> list[dict]:
    """Runs of FOR_DAYS or more days below baseline: first day, days, baseline, evidence."""
    out, run = [], []
    for key in sorted(days):
        d = date.fromisoformat(key)
        window = [days[k] for k in days
                  if d - timedelta(days=BASELINE_DAYS) <= date.fromisoformat(k) < d]
        due = sum(w["due"] for w in window)
        if not due or not days[key]["due"]:
            continue
        baseline = sum(w["on_time"] for w in window) / due
        if days[key]["on_time"] / days[key]["due"] < baseline - TOLERANCE:
            run.append((key, baseline))
            if len(run) == FOR_DAYS:
                out.append({"start": run[0][0], "days": [k for k, _ in run],
                            "baseline": run[0][1],
                            "late": [p for k, _ in run for p in days[k]["late"]]})
        else:
            run = []
    return out


def reminder_id(employee_id: str, start: str) -> str:
    digest = hashlib.sha256(f"{employee_id}|{METRIC}|{start}".encode()).hexdigest()[:12]
    return f"PR-{digest}"


def _suggestions(conn: sa.Connection, employee_id: str, late: list, history: dict) -> list[str]:
    emp = RAW_TABLES["hr_employees"]
    late_ids = {p for p, _ in late}
    past = sorted((k, p) for owner, days in history.items() if owner != employee_id
                  for k, d in days.items() for p in d["ids"] if p not in late_ids)
    case = (f"Similar past case: proposal {past[-1][1]} by a colleague went out on time; "
            "reuse its outline" if past else "Similar past case: none on record yet")
    colleague = conn.execute(
        sa.select(capability_graph.c.employee_id, capability_graph.c.evidence_id)
        .where(capability_graph.c.skill == GAP_SKILL,
               capability_graph.c.evidence_kind.in_(("training", "badge")),
               capability_graph.c.employee_id != employee_id)
        .order_by(capability_graph.c.evidence_at.desc(), capability_graph.c.employee_id)
        .limit(1)).first()
    team = conn.execute(sa.select(emp.c.team_id).where(emp.c.employee_id == employee_id)).scalar()
    expert = conn.execute(sa.select(emp.c.employee_id, emp.c.name)
                          .where(emp.c.team_id == team, emp.c.role == "manager")
                          .order_by(emp.c.employee_id).limit(1)).first()
    return [case,
            (f"Colleague: {colleague[0]} covers {GAP_SKILL} ({colleague[1]})" if colleague
             else f"Colleague: nobody's capability graph covers {GAP_SKILL} yet"),
            (f"Expert on call: {expert[1]} ({expert[0]})" if expert
             else "Expert on call: the sales desk")]


def plan_reminders(engine: Engine, now: datetime) -> list[dict]:
    """Insert one reminder per new episode and return the new ones."""
    proposals = RAW_TABLES["crm_proposals"]
    emp = RAW_TABLES["hr_employees"]
    created = []
    with engine.begin() as conn:
        rows = conn.execute(sa.select(proposals)).mappings().all()
        history = daily_proposals(rows, now)
        known = set(conn.execute(sa.select(person_reminders.c.reminder_id)).scalars())
        for employee_id in sorted(history):
            for ep in episodes(history[employee_id]):
                rid = reminder_id(employee_id, ep["start"])
                if rid in known:
                    continue
                email = conn.execute(sa.select(emp.c.email)
                                     .where(emp.c.employee_id == employee_id)).scalar()
                created.append({
                    "reminder_id": rid, "employee_id": employee_id, "metric": METRIC,
                    "episode_start": ep["start"], "days_below": ",".join(ep["days"]),
                    "baseline": round(ep["baseline"], 4),
                    "suggestions": json.dumps(_suggestions(conn, employee_id, ep["late"],
                                                           history)),
                    "evidence": json.dumps([p for p, _ in ep["late"]]),
                    "status": "planned" if email else "failed",
                    "detail": None if email else "no e-mail address in the HR roster",
                    "created_at": now.replace(tzinfo=None), "_email": email})
        if created:
            conn.execute(person_reminders.insert(),
                         [{k: v for k, v in c.items() if k != "_email"} for c in created])
    return created


def deliver_reminders(engine: Engine, reminders: list[dict], channel) -> int:
    sent = 0
    for r in reminders:
        if r["status"] != "planned":
            continue
        body = (f"Your {METRIC.replace('_', ' ')} was below your baseline "
                f"({r['baseline']:.0%}) on {r['days_below']}.\n\n"
                + "\n".join(f"- {s}" for s in json.loads(r["suggestions"]))
                + f"\n\nLate proposals: {', '.join(json.loads(r['evidence']))}.")
        result = channel.send(Message(r["reminder_id"], r["_email"], r["employee_id"],
                                      "Proposals: three ideas for this week", body))
        sent += int(result.ok)
        with engine.begin() as conn:
            conn.execute(person_reminders.update()
                         .where(person_reminders.c.reminder_id == r["reminder_id"])
                         .values(status=result.status, detail=one_line(result.detail)))
    return sent
