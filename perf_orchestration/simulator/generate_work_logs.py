"""Months of operation logs before the range, read by the role snapshots: the account
managers' CRM activities and messaging template usage, and the maintenance technicians'
repair jobs.

Everyone behaves at personal rates drawn at random (noise). With the scenario's
`planted_behaviours`, the high performers cast by `generate_history.high_performers` also
show a few planted behaviours, each added on top of the noise so that it moves no other
behaviour: account managers send the value-recap template, write "next step agreed",
follow a customer signal up within 4 h and visit more; technicians read the fault history,
photograph before and after, take extra electrical jobs and repair faster (their contracts
already renew more often, see generate_history). Without it, behaviours and metrics are
unrelated.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import (
    Diffuser,
    production_teams,
    rng_for,
    stations_of,
)
from perf_orchestration.simulator.generate_history import high_performers, history_start
from perf_orchestration.simulator.names import Roster

Row = dict[str, Any]
MONTH = timedelta(days=30)
FAST_HOURS = 4.0

RECAP, NEXT_STEP = "TPL-VALUE-RECAP", "next step agreed"
EMAIL_TEMPLATES = (RECAP, "TPL-INTRO", "TPL-PRICE-UPDATE", "TPL-MEETING-REQUEST",
                   "TPL-THANK-YOU", "TPL-CASE-STUDY")
IM_TEMPLATES = ("TPL-QUICK-UPDATE", "TPL-MEETING-REQUEST", "TPL-THANK-YOU", "TPL-PRICE-UPDATE")
LEGACY_TEMPLATE = "TPL-LEGACY-PROMO"  # retired from the catalogue, still used now and then
PHRASES = (NEXT_STEP, "as discussed", "please find attached", "let me check", "happy to help",
           "thanks for your time")
HISTORY_STEP, PHOTO_STEP = "check-fault-history", "photo-before-after"
STEPS = (HISTORY_STEP, PHOTO_STEP, "lockout-tagout", "replace-part", "clean-and-inspect",
         "calibrate", "test-run", "update-spare-parts")
FAMILIES = {"electrical": ("F03-SENSOR", "F07-PLC"), "drive": ("F01-SERVO", "F08-SPINDLE"),
            "fluid": ("F02-HYDRAULIC", "F05-NOZZLE"), "feed": ("F04-WIRE-FEED", "F06-CONVEYOR")}
PLANTED_FAMILY = "electrical"


def _months(scenario: Scenario) -> list[datetime]:
    """The starts of the history's 30-day months (UTC), oldest first."""
    begin = history_start(scenario)
    return [begin + k * MONTH for k in range(scenario.history.months)]


def _at(rng: random.Random, month: datetime) -> datetime:
    return (month + timedelta(seconds=rng.uniform(0, MONTH.total_seconds()))).replace(
        microsecond=0)


def _count(rng: random.Random, mean: float) -> int:
    """A Poisson-like count: the mean, rounded at random."""
    return math.floor(mean + rng.random())


def _noise(rng: random.Random, names: tuple[str, ...], lo: float, hi: float) -> dict[str, float]:
    return {n: rng.uniform(lo, hi) for n in names}


def work_logs(scenario: Scenario, roster: Roster) -> dict[str, list[Row]]:
    """crm_activities, crm_template_usage and mes_maintenance_log (empty without history)."""
    if scenario.history is None:
        return {"crm_activities": [], "crm_template_usage": [], "mes_maintenance_log": []}
    planted = scenario.history.planted_behaviours
    months = _months(scenario)
    activities: list[Row] = []
    messages: list[Row] = []
    strong = high_performers(scenario, roster, "account_manager") if planted else frozenset()
    for owner in roster.with_role("account_manager"):
        activities += _activities(rng_for(scenario, "worklogs", "crm", owner), owner, months,
                                  owner in strong)
        messages += _messages(rng_for(scenario, "worklogs", "im", owner), owner, months)
    jobs: list[Row] = []
    fast = high_performers(scenario, roster, "maintenance_technician") if planted else frozenset()
    devices = _devices(scenario, roster)
    for tech in roster.with_role("maintenance_technician"):
        jobs += _jobs(rng_for(scenario, "worklogs", "mes", tech), tech, months,
                      devices.get(tech) or devices["*"], tech in fast)
    return {"crm_activities": activities, "crm_template_usage": messages,
            "mes_maintenance_log": jobs}


def _activities(rng: random.Random, owner: str, months: list[datetime], strong: bool
                ) -> list[Row]:
    rates = {"call": rng.uniform(8, 16), "email": rng.uniform(6, 12),
             "follow_up_note": rng.uniform(4, 8), "visit": rng.uniform(1.5, 3.5)}
    if strong:
        rates["visit"] += 3
    templates = _noise(rng, EMAIL_TEMPLATES, 0.02, 0.10)
    phrases = _noise(rng, PHRASES, 0.05, 0.35)
    fast_share = rng.uniform(0.15, 0.45)
    if strong:
        templates[RECAP], phrases[NEXT_STEP], fast_share = 0.35, 0.6, 0.8
    rows: list[Row] = []
    diffusers = {kind: Diffuser(rng.random()) for kind in rates}
    for month in months:
        for kind, rate in rates.items():
            for _ in range(diffusers[kind].take(rate)):
                rows.append(_activity(rng, owner, kind, month, templates, phrases, fast_share))
    for n, row in enumerate(sorted(rows, key=lambda r: r["occurred_at"]), start=1):
        row["activity_id"] = f"ACT-{owner}-{n:05d}"
    return rows


def _activity(rng: random.Random, owner: str, kind: str, month: datetime,
              templates: dict[str, float], phrases: dict[str, float], fast_share: float
              ) -> Row:
    at = _at(rng, month)
    row: Row = {"owner_id": owner, "account_id": f"ACC-{owner}-{rng.randint(1, 12):03d}",
                "kind": kind, "occurred_at": at, "template_id": None, "phrases": None,
                "signal_at": None, "updated_at": at}
    if kind == "email":
        draw, acc = rng.random(), 0.0
        for template, share in templates.items():  # the rest is written freely
            acc += share
            if draw < acc:
                row["template_id"] = template
                break
    elif kind == "follow_up_note":  # the first follow-up of a customer signal
        used = [p for p, share in phrases.items() if rng.random() < share]
        row["phrases"] = ";".join(used) or None
        hours = (rng.uniform(0.3, FAST_HOURS - 0.1) if rng.random() < fast_share
                 else math.exp(rng.uniform(math.log(4.5), math.log(72))))
        row["signal_at"] = at - timedelta(seconds=round(hours * 3600))
    return row


def _messages(rng: random.Random, sender: str, months: list[datetime]) -> list[Row]:
    rate = rng.uniform(6, 14)
    templates = {**_noise(rng, IM_TEMPLATES, 0.03, 0.15), LEGACY_TEMPLATE: 0.02}
    rows: list[Row] = []
    diffuser = Diffuser(rng.random())
    for month in months:
        for _ in range(diffuser.take(rate)):
            at = _at(rng, month)
            template = next((t for t, share in templates.items() if rng.random() < share), None)
            rows.append({"sender_id": sender, "channel": "im" if rng.random() < 0.7 else "email",
                         "sent_at": at, "template_id": template, "updated_at": at})
    rows.sort(key=lambda r: r["sent_at"])
    for n, row in enumerate(rows, start=1):
        row["message_id"] = f"MSG-{sender}-{n:05d}"
    return rows


def _devices(scenario: Scenario, roster: Roster) -> dict[str, list[str]]:
    """Per technician the devices of their team; "*" every device of the plant (for the
    technical centres), or one placeholder when the plant has none."""
    by_team = {t.id: [s.device_id for s in stations_of(t)] for t in production_teams(scenario)}
    every = [d for ids in by_team.values() for d in ids] or ["EQ-01"]
    out: dict[str, list[str]] = {"*": every}
    for (team, role), people in roster.by_team_role.items():
        if role == "maintenance_technician" and by_team.get(team):
            out.update({p: by_team[team] for p in people})
    return out


def _jobs(rng: random.Random, tech: str, months: list[datetime], devices: list[str],
          strong: bool) -> list[Row]:
    rate = rng.uniform(6, 12)
    families = {f: rng.uniform(0.5, 1.5) for f in FAMILIES}
    steps = _noise(rng, STEPS, 0.1, 0.5)
    pace = math.exp(rng.gauss(0, 0.12)) * (0.6 if strong else 1.0)
    if strong:
        steps[HISTORY_STEP], steps[PHOTO_STEP] = 0.8, 0.7
    rows: list[Row] = []
    diffuser, extra = Diffuser(rng.random()), Diffuser(rng.random())
    for month in months:
        picks = [rng.choices(list(families), weights=list(families.values()))[0]
                 for _ in range(diffuser.take(rate))]
        picks += [PLANTED_FAMILY] * (extra.take(3) if strong else 0)
        for family in picks:
            minutes = max(5, round(60 * pace * math.exp(rng.gauss(0, 0.4))))
            # every job is finished before the range starts: the log is history
            start = min(_at(rng, month), months[-1] + MONTH - timedelta(minutes=minutes + 1))
            end = start + timedelta(minutes=minutes)
            used = [s for s, share in steps.items() if rng.random() < share]
            rows.append({"technician_id": tech, "device_id": rng.choice(devices),
                         "failure_code": rng.choice(FAMILIES[family]), "started_at": start,
                         "finished_at": end, "steps": ";".join(used) or None,
                         "updated_at": end})
    rows.sort(key=lambda r: r["started_at"])
    for n, row in enumerate(rows, start=1):
        row["job_id"] = f"JOB-{tech}-{n:04d}"
    return rows
