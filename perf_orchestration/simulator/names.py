"""The HR roster: teams and people with pinyin-style names, roles and shifts.

The roster decides who receives every action later (team leader, QA engineer,
maintenance lead, account manager), so each production team is given exactly
one of each role that the rules address.

Established staff were hired at least ESTABLISHED_DAYS before the range; a small cohort
of new hires (NEW_HIRE_PROFILES) is planted with a mentor each, so the onboarding
template has people in their first 90 days whose stories the other generators tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from perf_orchestration.scenarios.config import Scenario, TeamSpec
from perf_orchestration.simulator.common import (
    at_local,
    production_teams,
    rng_for,
    stations_of,
)

SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
    "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo", "Zheng", "Liang", "Xie", "Song",
    "Tang", "Han", "Feng", "Deng", "Cao", "Peng", "Zeng", "Xiao", "Tian", "Dong", "Yuan",
    "Pan", "Cai", "Jiang", "Yu", "Du", "Ye", "Cheng", "Wei", "Su", "Lu", "Ding", "Ren", "Shen",
)
GIVEN_NAMES = (
    "Wei", "Na", "Fang", "Min", "Jing", "Lei", "Qiang", "Yan", "Jun", "Yong", "Jie", "Tao",
    "Ming", "Chao", "Xiu Ying", "Xia", "Ping", "Gang", "Gui Ying", "Hui", "Hao", "Yu", "Lin",
    "Peng", "Hua", "Dan", "Bo", "Xin", "Rui", "Kai", "Ting", "Lan", "Jian", "Hong", "Bin",
    "Ying", "Long", "Feng", "Yi", "Qing", "Zhi Qiang", "Xiao Ming", "Jian Guo", "Li Hua",
    "Hai Yan", "Wen", "Shu", "Yun", "Zhen", "Kun", "Liang", "Shan", "Hong Mei", "Guo Qing",
    "Xue", "Mei", "Jia", "Yue", "Chen", "Dong",
)


ESTABLISHED_DAYS = 180
# (profile, role, days since hire at the range start): what the onboarding generator
# makes of each new hire; the bundled onboarding.yaml judges them on_track, on_track,
# at_risk and on_track.
NEW_HIRE_PROFILES = (
    ("independent", "operator", (35, 50)),  # trained, mentored, works alone in the range
    ("learning", "operator", (12, 25)),  # half of the courses, still beside the mentor
    ("at_risk", "operator", (40, 55)),  # one course of two, weeks without feedback
    ("first_deal", "sales_rep", (25, 40)),  # trained, mentored, wins a deal in the range
)


@dataclass(frozen=True)
class NewHire:
    """A person in their first 90 days, with the story the generators tell about them."""

    employee_id: str
    role: str
    team_id: str
    profile: str
    hired_on: date
    mentor_id: str
    station_id: str | None  # where an operator learns, beside the mentor's station crew


@dataclass
class Roster:
    """Employees by team and role, for the generators that need an inspector or an owner."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    by_team_role: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    new_hires: list[NewHire] = field(default_factory=list)

    def first(self, team: str, *roles: str) -> str | None:
        """The first employee of the team holding one of `roles`, in that order of preference."""
        for role in roles:
            ids = self.by_team_role.get((team, role))
            if ids:
                return ids[0]
        return None

    def with_role(self, *roles: str) -> list[str]:
        """Every employee holding one of `roles`, in employee id order."""
        ids = [i for (_, role), members in self.by_team_role.items() if role in roles
               for i in members]
        return sorted(ids)


def _production_roles(team: TeamSpec, director: bool) -> list[tuple[str, str]]:
    fixed = [("team_leader", "day"), ("qa_engineer", "day"), ("production_planner", "day"),
             ("maintenance_lead", "day")]
    if director:
        fixed.append(("workshop_director", "day"))
    technicians = max(1, round(team.headcount * 0.05))
    roles = fixed + [("maintenance_technician", "day" if i % 2 == 0 else "night")
                     for i in range(technicians)]
    operators = max(0, team.headcount - len(roles))
    roles += [("operator", "day" if i % 2 == 0 else "night") for i in range(operators)]
    return roles[: team.headcount]


def _centre_roles(team: TeamSpec) -> list[tuple[str, str]]:
    technicians = max(1, team.headcount // 4)
    roles = [("team_leader", "day")]
    roles += [("maintenance_technician", "day" if i % 2 == 0 else "night")
              for i in range(technicians)]
    roles += [("engineer", "day")] * max(0, team.headcount - len(roles))
    return roles[: team.headcount]


def _office_roles(team: TeamSpec) -> list[tuple[str, str]]:
    left = team.headcount
    counts = {}
    for role, wanted in (("account_manager", max(5, team.headcount // 4)),
                         ("manager", max(1, team.headcount // 20)),
                         ("hr_partner", max(1, team.headcount // 25))):
        counts[role] = min(left, wanted)
        left -= counts[role]
    counts["sales_rep"] = left
    order = ("manager", "account_manager", "sales_rep", "hr_partner")
    return [(role, "office") for role in order for _ in range(counts[role])]


def uncast_profiles(roster: Roster) -> list[str]:
    """The new-hire profiles the plant could not cast (no team or role to hold them)."""
    cast = {h.profile for h in roster.new_hires}
    return [profile for profile, _, _ in NEW_HIRE_PROFILES if profile not in cast]


def email_domain(scenario: Scenario) -> str:
    """plant1.example.com for "Plant 1": a reserved example domain, never a real one."""
    slug = re.sub(r"[^a-z0-9]", "", scenario.plant.name.lower()) or "plant"
    return f"{slug}.example.com"


def build_roster(scenario: Scenario) -> Roster:
    """Exactly sum(team.headcount) employees, E0001.., team by team in plant order."""
    rng = rng_for(scenario, "hr", "employees")
    tz = scenario.tz
    total = scenario.plant.headcount
    combos = len(SURNAMES) * len(GIVEN_NAMES)
    picks = (rng.sample(range(combos), total) if total <= combos
             else [rng.randrange(combos) for _ in range(total)])
    prod_ids = {t.id for t in production_teams(scenario)}
    directed: set[str] = set()
    domain = email_domain(scenario)
    roster = Roster()
    n = 0
    for team in scenario.plant.teams:
        if team.id in prod_ids:
            director = team.workshop not in directed
            directed.add(team.workshop)
            roles = _production_roles(team, director)
        elif team.line_type == "office":
            roles = _office_roles(team)
        else:
            roles = _centre_roles(team)
        for role, shift in roles:
            pick = picks[n]
            n += 1
            emp_id = f"E{n:04d}"
            surname, given = divmod(pick, len(GIVEN_NAMES))
            days = rng.randint(ESTABLISHED_DAYS, 15 * 365)
            hired = at_local(scenario.start.date() - timedelta(days=days), time(9, 0), tz)
            roster.rows.append({
                "employee_id": emp_id, "name": f"{SURNAMES[surname]} {GIVEN_NAMES[given]}",
                "team_id": team.id,
                "role": role, "shift": shift, "email": f"{emp_id.lower()}@{domain}",
                "hired_at": hired, "mentor_id": None, "updated_at": scenario.start,
            })
            roster.by_team_role.setdefault((team.id, role), []).append(emp_id)
    _plant_new_hires(scenario, roster)
    return roster


def _plant_new_hires(scenario: Scenario, roster: Roster) -> None:
    """Make the last day-shift operator of three production teams (and the last sales rep)
    new hires, each mentored by the team's first day-shift operator (the first account
    manager); profiles that the plant cannot cast are left out."""
    rng = rng_for(scenario, "hr", "new-hires")
    rows = {r["employee_id"]: r for r in roster.rows}
    teams = {t.id: t for t in production_teams(scenario)}
    pool = rng.sample(sorted(teams), len(teams))
    for profile, role, (lo, hi) in NEW_HIRE_PROFILES:
        station = None
        if role == "operator":
            if not pool:
                continue
            team = pool.pop(0)
            crew = [e for e in roster.by_team_role.get((team, "operator"), [])
                    if rows[e]["shift"] == "day"]
            stations = stations_of(teams[team])
            if not stations:
                continue
            station = stations[0].station_id
        else:
            crew = roster.with_role(role)
            managers = roster.with_role("account_manager")
            crew = managers[:1] + crew if managers else crew
        if len(crew) < 2:
            continue
        if role != "operator":
            team = rows[crew[-1]]["team_id"]
        hire, mentor = crew[-1], crew[0]
        hired_on = scenario.start.date() - timedelta(days=rng.randint(lo, hi))
        rows[hire]["hired_at"] = at_local(hired_on, time(9, 0), scenario.tz)
        rows[hire]["mentor_id"] = mentor
        roster.new_hires.append(NewHire(hire, role, team, profile, hired_on, mentor, station))


def team_rows(scenario: Scenario) -> list[dict[str, Any]]:
    """hr_teams: one row per team, as of the scenario start."""
    return [{"team_id": t.id, "name": t.name, "line_id": t.line_id, "line_type": t.line_type,
             "workshop": t.workshop, "updated_at": scenario.start} for t in scenario.plant.teams]
