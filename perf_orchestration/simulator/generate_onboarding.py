"""New hires' first 90 days as the sources record them: courses completed (HR learning
records), mentor feedback (the HR onboarding tool), who ran each station-hour (MES) and a
new sales rep's first won deal (CRM).

The cohort and its profiles come from the roster (`Roster.new_hires`). An operator learns
on the station of their mentor, in the day shift, with the mentor named on every
production hour until they work alone; the "independent" operator works alone from
10:00 local of the range's first day. Feedback is given at 16:00 local on a weekday of each
onboarding week before the range; one entry names a mentee the roster does not know (a
hire the HR snapshot has not caught up with), which the onboarding mart quarantines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import (
    at_local,
    hour_starts,
    production_teams,
    range_end,
    rng_for,
    stamp,
    stations_of,
)
from perf_orchestration.simulator.names import NewHire, Roster

Row = dict[str, Any]
NEW_HIRE_COURSES = {
    "operator": ("safety-induction", "lean-basics"),
    "sales_rep": ("safety-induction", "product-catalogue"),
}
COURSES_DONE = {"independent": 2, "learning": 1, "at_risk": 1, "first_deal": 2}
INDEPENDENT_FROM = time(10, 0)
DAY_SHIFT_HOURS = range(8, 20)
UNKNOWN_MENTEE = "E9999"


def trainings(scenario: Scenario, roster: Roster) -> list[Row]:
    """The new hires' completed courses: the first on day 2 after hire, the next on day 6."""
    rows: list[Row] = []
    for hire in roster.new_hires:
        rng = rng_for(scenario, "hr", "onboarding-trainings", hire.employee_id)
        courses = NEW_HIRE_COURSES.get(hire.role, ())[: COURSES_DONE[hire.profile]]
        for k, course in enumerate(courses):
            at = at_local(hire.hired_on + timedelta(days=2 + 4 * k),
                          time(rng.randint(9, 15), 30), scenario.tz)
            rows.append({"training_id": f"TRN-{hire.employee_id}-{course}",
                         "employee_id": hire.employee_id, "course": course,
                         "completed_at": at, "score": float(rng.randint(75, 98)),
                         "updated_at": at + timedelta(minutes=5)})
    return rows


def _entries_in_week(hire: NewHire, week: int, rng) -> int:
    if hire.profile == "at_risk":
        return 1 if week % 3 == 0 else 0
    return 2 if rng.random() < 0.35 else 1


def mentor_feedback(scenario: Scenario, roster: Roster) -> list[Row]:
    """Entries per onboarding week (days 7w..7w+6 after hire) that ended before the range:
    one or two for most new hires, one every third week for the at-risk one."""
    tz, first_day = scenario.tz, scenario.start.astimezone(scenario.tz).date()
    rows: list[Row] = []
    topics = ("check-in", "skills", "safety", "quality")
    for hire in roster.new_hires:
        rng = rng_for(scenario, "hr", "mentor-feedback", hire.employee_id)
        for week in range((first_day - hire.hired_on).days // 7):
            days = sorted(rng.sample(range(1, 6), _entries_in_week(hire, week, rng)))
            for n, offset in enumerate(days, start=1):
                at = at_local(hire.hired_on + timedelta(days=7 * week + offset), time(16, 0), tz)
                topic = "customer" if hire.role == "sales_rep" and n == 2 else topics[week % 4]
                rows.append({"feedback_id": f"MF-{hire.employee_id}-W{week + 1:02d}-{n}",
                             "mentor_id": hire.mentor_id, "mentee_id": hire.employee_id,
                             "given_at": at, "topic": topic,
                             "updated_at": at + timedelta(minutes=2)})
    if roster.new_hires:
        hire = roster.new_hires[0]
        at = at_local(first_day - timedelta(days=1), time(16, 30), tz)
        rows.append({"feedback_id": f"MF-{UNKNOWN_MENTEE}-W01-1", "mentor_id": hire.mentor_id,
                     "mentee_id": UNKNOWN_MENTEE, "given_at": at, "topic": "check-in",
                     "updated_at": at + timedelta(minutes=2)})
    return rows


def _independent_at(scenario: Scenario, hire: NewHire) -> datetime | None:
    """The first day-shift hour from 10:00 local in the range, for the independent profile."""
    if hire.profile != "independent":
        return None
    for hour in hour_starts(scenario):
        local = hour.astimezone(scenario.tz)
        if local.hour in DAY_SHIFT_HOURS and local.time() >= INDEPENDENT_FROM:
            return hour
    return None


def station_crew(scenario: Scenario,
                 roster: Roster) -> Callable[[str, str, datetime], tuple[str | None, str | None]]:
    """(team, station, hour) -> (operator, mentor) for a production hour. The regular crew
    of a shift takes stations in order (station k: the shift's k-th operator, cycling);
    a new operator holds their station in the day shift, beside their mentor until the
    hour they work alone."""
    shifts = {r["employee_id"]: r["shift"] for r in roster.rows}
    new = {h.employee_id for h in roster.new_hires}
    crews = {(t.id, s): [e for e in roster.by_team_role.get((t.id, "operator"), [])
                         if shifts[e] == s and e not in new]
             for t in production_teams(scenario) for s in ("day", "night")}
    index = {st.station_id: st.index for t in production_teams(scenario)
             for st in stations_of(t)}
    learners = {h.station_id: (h, _independent_at(scenario, h)) for h in roster.new_hires
                if h.role == "operator" and h.station_id}

    def crew(team: str, station: str, hour: datetime) -> tuple[str | None, str | None]:
        shift = "day" if hour.astimezone(scenario.tz).hour in DAY_SHIFT_HOURS else "night"
        if shift == "day" and station in learners:
            hire, alone = learners[station]
            return hire.employee_id, (None if alone and hour >= alone else hire.mentor_id)
        members = crews.get((team, shift)) or [None]
        return members[(index.get(station, 1) - 1) % len(members)], None

    return crew


def add_crew(scenario: Scenario, roster: Roster, production: list[Row]) -> None:
    """Name the operator (and a learner's mentor) on every production row, in place."""
    crew = station_crew(scenario, roster)
    for row in production:
        row["operator_id"], row["mentor_id"] = crew(row["team_id"], row["station_id"],
                                                    row["hour_start"])


def first_deals(scenario: Scenario, roster: Roster) -> list[Row]:
    """The new sales rep's first won opportunity: its stages half an hour apart, won at
    60% of the range (14:24 local on a day from midnight); stages before the range are
    not served, as for every opportunity."""
    tz, start, end = scenario.tz, scenario.start, range_end(scenario)
    won_at = start + timedelta(minutes=int(scenario.hours * 60 * 0.6))
    rows: list[Row] = []
    for hire in roster.new_hires:
        if hire.profile != "first_deal":
            continue
        rng = rng_for(scenario, "crm", "first-deal", hire.employee_id)
        opp = f"OPP-{won_at.astimezone(tz):%Y%m%d}-{hire.employee_id}"
        account, amount = f"ACC-{1000 + rng.randrange(200)}", float(rng.randrange(20, 200) * 1000)
        stages = ("lead", "qualified", "proposal", "negotiation", "won")
        for k, stage in enumerate(stages):
            at = won_at - timedelta(minutes=30 * (len(stages) - 1 - k))
            if not start <= at < end:
                continue
            rows.append({"change_id": f"{opp}:{stage}", "opportunity_id": opp,
                         "account_id": account, "owner_id": hire.employee_id, "stage": stage,
                         "amount": amount, "channel": "direct", "changed_at": at,
                         "updated_at": stamp(at, rng, tz, 5, 30)})
    return rows
