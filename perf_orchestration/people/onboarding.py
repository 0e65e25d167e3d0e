"""New-hire onboarding (onboarding.yaml) into marts.onboarding_progress: per plant day, each
roster employee hired within `window_days` whose role is on a track, with the template's
input, process and output metrics, and the ids of the records behind each number.

- input: required courses completed by the end of the day / required courses;
- process: mentor feedback entries in the full onboarding weeks since hire / those weeks
  (week w = plant days 7w..7w+6 after the hire date; the running week counts once it ends);
- output: plant days from the hire date to the first independent job (first production
  hour run with no mentor named, or first won deal), or none yet.

Days are plant calendar dates, so a job at 00:30 local counts on its own date whatever the
UTC date. Mentor feedback naming someone the roster does not know is quarantined with the
reason, not counted. The mart is rebuilt whole on each run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.people.config import OnboardingConfig, OnboardingTrack
from perf_orchestration.people.store import replace_mart
from perf_orchestration.plant_calendar import day_bounds, plant_tz
from perf_orchestration.tables import RAW_TABLES, onboarding_progress, plant_calendar

ENTITY = "hr_mentor_feedback"
PARTITION = "marts.onboarding_progress"


@dataclass(frozen=True)
class FirstJob:
    """The record that made a new hire's first independent job, and when it happened."""

    record_id: str
    at: datetime  # naive UTC, as the warehouse stores it


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def plant_date(value: datetime) -> date:
    """The plant calendar date of a warehouse time (naive values are UTC)."""
    return _aware(value).astimezone(plant_tz()).date()


def _naive(value: datetime) -> datetime:
    return _aware(value).astimezone(UTC).replace(tzinfo=None)


def progress_row(hire: Mapping, track: OnboardingTrack, config: OnboardingConfig, day: date,
                 trainings: Iterable[Mapping], feedback: Iterable[Mapping],
                 first_job: FirstJob | None) -> dict | None:
    """One new hire's row as of the end of plant day `day`, or None when they are not in
    their first `window_days` days. `trainings` and `feedback` are the hire's own rows."""
    hired_on = plant_date(hire["hired_at"])
    days = (day - hired_on).days
    if not 0 <= days <= config.window_days:
        return None
    cutoff = day_bounds(day)[1]  # records count up to the end of the plant day
    required = list(dict.fromkeys(track.required_courses))
    done: dict[str, str] = {}
    for t in sorted(trainings, key=lambda r: (_naive(r["completed_at"]), r["training_id"])):
        if t["course"] in required and _naive(t["completed_at"]) < cutoff:
            done.setdefault(t["course"], t["training_id"])
    weeks = days // 7
    by_week = [0] * weeks
    counted: list[str] = []
    latest_mentor = None
    for f in sorted(feedback, key=lambda r: (_naive(r["given_at"]), r["feedback_id"])):
        if _naive(f["given_at"]) >= cutoff:
            continue
        latest_mentor = f["mentor_id"]
        week = (plant_date(f["given_at"]) - hired_on).days // 7
        if 0 <= week < weeks:
            by_week[week] += 1
            counted.append(f["feedback_id"])
    per_week = round(len(counted) / weeks, 4) if weeks else None
    mentor = hire.get("mentor_id") if config.mentor_source == "roster" else latest_mentor
    job = first_job if first_job and first_job.at < cutoff else None
    days_to_job = (plant_date(job.at) - hired_on).days if job else None

    share = len(done) / len(required)
    targets, reasons = config.targets, []
    late = (days_to_job > track.target_days if days_to_job is not None
            else days > track.target_days)
    if late:
        reasons.append(f"first independent job on day {days_to_job}, target day "
                       f"{track.target_days}" if job else
                       f"no independent job by day {days}, target day {track.target_days}")
    if days >= targets.trainings_due_days and share < 1:
        reasons.append(f"{len(done)}/{len(required)} required courses on day {days}, "
                       f"due by day {targets.trainings_due_days}")
    if mentor is None:
        reasons.append(f"no mentor ({config.mentor_source})")
    if per_week is not None and per_week < targets.feedback_per_week:
        reasons.append(f"{per_week:g} mentor feedback entries per week over {weeks} week(s), "
                       f"target {targets.feedback_per_week:g}")
    return {
        "as_of_date": day.isoformat(), "employee_id": hire["employee_id"], "role": hire["role"],
        "team_id": hire["team_id"], "track_id": track.id, "hired_at": _naive(hire["hired_at"]),
        "days_since_hire": days, "mentor_id": mentor,
        "trainings_required": len(required), "trainings_done": len(done),
        "training_share": round(share, 4), "training_ids": json.dumps(sorted(done.values())),
        "feedback_weeks": weeks, "feedback_entries": len(counted),
        "feedback_per_week": per_week, "feedback_by_week": json.dumps(by_week),
        "feedback_ids": json.dumps(counted), "first_job_kind": track.first_job,
        "first_job_id": job.record_id if job else None, "first_job_at": job.at if job else None,
        "days_to_first_job": days_to_job, "target_days": track.target_days,
        "status": "late" if late else ("at_risk" if reasons else "on_track"),
        "reasons": json.dumps(reasons), "config_version": config.version,
    }


def _first_job(conn: sa.Connection, track: OnboardingTrack, hire: Mapping) -> FirstJob | None:
    """The earliest independent job of `hire` on or after their hire time, from the landed
    MES production hours or CRM opportunity stages."""
    if track.first_job == "mes_production":
        t = RAW_TABLES["mes_production"]
        query = (sa.select(t.c.production_id, t.c.hour_start)
                 .where(t.c.operator_id == hire["employee_id"], t.c.mentor_id.is_(None),
                        t.c.hour_start >= hire["hired_at"])
                 .order_by(t.c.hour_start, t.c.production_id))
    else:
        t = RAW_TABLES["crm_opportunities"]
        query = (sa.select(t.c.change_id, t.c.changed_at)
                 .where(t.c.owner_id == hire["employee_id"], t.c.stage == "won",
                        t.c.changed_at >= hire["hired_at"])
                 .order_by(t.c.changed_at, t.c.change_id))
    row = conn.execute(query.limit(1)).first()
    return FirstJob(row[0], _naive(row[1])) if row else None


def _calendar_days(conn: sa.Connection) -> list[date]:
    if not sa.inspect(conn).has_table("plant_calendar", schema="staging"):
        return []
    return [date.fromisoformat(d) for d in conn.execute(
        sa.select(plant_calendar.c.local_date).distinct().order_by(plant_calendar.c.local_date)
    ).scalars()]


def _quarantine_row(entry: Mapping, who: str, person: str, run_id: str, now: datetime) -> dict:
    payload = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in entry.items()}
    return {"entity": ENTITY, "partition_key": PARTITION,
            "source_record_id": entry["feedback_id"], "failed_expectation": "known_employee",
            "reason": f"mentor feedback {entry['feedback_id']} names {who} {person}, who is "
                      "not on the HR roster",
            "payload": json.dumps(payload, default=str), "run_id": run_id,
            "quarantined_at": _naive(now)}


def build_onboarding(engine: Engine, config: OnboardingConfig, run_id: str, now: datetime,
                     days: list[date] | None = None) -> dict:
    """Replace marts.onboarding_progress for `days` (default: every day of the plant
    calendar) and this step's quarantine rows; counts of each outcome."""
    emp, trn = RAW_TABLES["hr_employees"], RAW_TABLES["hr_trainings"]
    mf = RAW_TABLES[ENTITY]
    with engine.connect() as conn:
        days = sorted(days) if days is not None else _calendar_days(conn)
        roster = {r["employee_id"]: r for r in conn.execute(sa.select(
            emp.c.employee_id, emp.c.role, emp.c.team_id, emp.c.hired_at, emp.c.mentor_id)
        ).mappings()}
        hires = {e: r for e, r in roster.items() if days and r["hired_at"] is not None
                 and config.track_of(r["role"]) is not None
                 and days[0] - timedelta(days=config.window_days)
                 <= plant_date(r["hired_at"]) <= days[-1]}
        ids = sorted(hires)
        trainings = conn.execute(sa.select(trn).where(trn.c.employee_id.in_(ids))
                                 ).mappings().all() if ids else []
        entries = conn.execute(sa.select(mf).order_by(mf.c.feedback_id)).mappings().all()
        jobs = {e: _first_job(conn, config.track_of(hires[e]["role"]), hires[e]) for e in ids}
    bad, good = [], []
    for entry in entries:
        unknown = [(who, entry[col]) for who, col in (("mentee", "mentee_id"),
                                                      ("mentor", "mentor_id"))
                   if entry[col] not in roster]
        if unknown:
            bad.append(_quarantine_row(entry, *unknown[0], run_id, now))
        else:
            good.append(entry)
    rows = []
    for day in days:
        for e in ids:
            row = progress_row(hires[e], config.track_of(hires[e]["role"]), config, day,
                               [t for t in trainings if t["employee_id"] == e],
                               [f for f in good if f["mentee_id"] == e], jobs[e])
            if row:
                rows.append(row)
    replace_mart(engine, onboarding_progress, rows, ENTITY, bad)
    statuses = [r["status"] for r in rows if r["as_of_date"] == (days[-1].isoformat()
                                                                  if days else None)]
    return {"rows": len(rows), "days": len(days), "new_hires": len({r["employee_id"]
                                                                     for r in rows}),
            "feedback_entries": len(entries), "quarantined": len(bad),
            "reasons": [b["reason"] for b in bad],
            "latest_day": {s: statuses.count(s) for s in ("on_track", "at_risk", "late")}}
