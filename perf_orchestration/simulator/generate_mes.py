"""MES and QMS records: output, first-article inspections, equipment, checks, changeovers,
process readings and defects.

Rows carry aware datetimes here; `generate.py` turns them into ISO strings. The
generators share one `Shopfloor` so that output, defects, equipment events and
changeovers tell the same story (a device that is down produces less).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import (
    CHANGEOVER_STANDARD_MINUTES,
    DAY_SHIFT_START,
    HOUR,
    LINE_DEFECT_CODES,
    NIGHT_SHIFT_START,
    Diffuser,
    Rates,
    Station,
    apportion,
    at_local,
    failure_windows,
    half_up,
    hour_key,
    hour_starts,
    local_days,
    overlap_minutes,
    production_teams,
    products_of,
    range_end,
    rng_for,
    stamp,
    stations_of,
    utc,
)
from perf_orchestration.simulator.names import Roster

Row = dict[str, Any]
CHECK_OFFSET = timedelta(minutes=30)
DIP_DEFECT_METRICS = ("first_article_pass_rate", "first_pass_yield")


@dataclass
class Changeover:
    """A planned product change on one station."""

    station: Station
    started: datetime
    from_product: str
    to_product: str
    standard: float
    actual: float

    @property
    def ended(self) -> datetime:
        return self.started + timedelta(minutes=self.actual)


@dataclass
class Shopfloor:
    """What every MES generator needs to agree on: rates, failures, changeovers, people."""

    scenario: Scenario
    roster: Roster
    rates: Rates = field(init=False)
    hours: list[datetime] = field(init=False)
    end: datetime = field(init=False)
    downtime: dict[str, list[tuple[datetime, datetime, str]]] = field(init=False)
    changeovers: dict[str, list[Changeover]] = field(init=False)

    def __post_init__(self) -> None:
        self.rates = Rates(self.scenario)
        self.hours = hour_starts(self.scenario)
        self.end = range_end(self.scenario)
        self.downtime = failure_windows(self.scenario)
        self.changeovers = _plan_changeovers(self)

    @property
    def tz(self) -> ZoneInfo:
        return self.scenario.tz

    def product_at(self, station: Station, at: datetime) -> str:
        """The product the station makes at `at`, following its changeovers."""
        products = products_of(station.team.line_type)
        current = products[(station.index - 1) % len(products)]
        for co in self.changeovers.get(station.station_id, []):
            if co.started <= at:
                current = co.to_product
        return current

    def defect_codes(self, station: Station, hour: datetime) -> tuple[str, ...]:
        """The line's codes; in a quality dip only two, so a top-defects list points somewhere."""
        codes = LINE_DEFECT_CODES[station.team.line_type]
        if self.rates.in_dip(station.team.id, hour, DIP_DEFECT_METRICS):
            rng = rng_for(self.scenario, "dip-codes", station.team.id)
            return tuple(rng.sample(codes, min(2, len(codes))))
        return codes


def _plan_changeovers(floor: Shopfloor) -> dict[str, list[Changeover]]:
    """About changeovers_per_station_day per station and day, kept clear of repairs."""
    sc = floor.scenario
    start, span = utc(sc.start), sc.hours * 60
    plans: dict[str, list[Changeover]] = {}
    for team in production_teams(sc):
        rng = rng_for(sc, "changeovers", team.id)
        diffuser = Diffuser()
        products = products_of(team.line_type)
        standard = CHANGEOVER_STANDARD_MINUTES[team.line_type]
        for st in stations_of(team):
            n = diffuser.take(sc.baseline.changeovers_per_station_day * sc.hours / 24)
            current = products[(st.index - 1) % len(products)]
            downs = floor.downtime.get(st.device_id, [])
            plan: list[Changeover] = []
            for j in range(n):
                actual = round(standard * rng.uniform(0.9, 1.4), 1)
                lo, hi = j * span / n, max(j * span / n, (j + 1) * span / n - actual - 1)
                chosen = None
                for _ in range(30):
                    t0 = start + timedelta(minutes=int(rng.uniform(lo, hi)))
                    t1 = t0 + timedelta(minutes=actual)
                    margin = timedelta(minutes=10)
                    clash = any(overlap_minutes(t0 - margin, t1 + margin, d0, d1)
                                for d0, d1, _ in downs)
                    if t1 <= floor.end and not clash:
                        chosen = t0
                        break
                if chosen is None:
                    continue
                to = rng.choice([p for p in products if p != current])
                plan.append(Changeover(st, chosen, current, to, standard, actual))
                current = to
            plans[st.station_id] = plan
    return plans


def production_and_defects(floor: Shopfloor) -> tuple[list[Row], list[Row]]:
    """mes_production per station-hour, and the qms_defects that explain its bad units."""
    sc, tz, b = floor.scenario, floor.tz, floor.scenario.baseline
    production: list[Row] = []
    defects: list[Row] = []
    for team in production_teams(sc):
        rng = rng_for(sc, "production", team.id)
        drng = rng_for(sc, "defects", team.id)
        bad_diffuser = Diffuser()
        stations = stations_of(team)
        for hour in floor.hours:
            avail = floor.rates.rate(team.id, "availability", hour)
            perf = floor.rates.rate(team.id, "performance", hour)
            fpy = floor.rates.rate(team.id, "first_pass_yield", hour)
            runs, totals = [], []
            for st in stations:
                down = sum(overlap_minutes(hour, hour + HOUR, d0, d1)
                           for d0, d1, _ in floor.downtime.get(st.device_id, []))
                run = round(max(0.0, avail * 60 - down), 2)
                runs.append(run)
                totals.append(math.floor(run * 60 / st.ideal_cycle_seconds * perf + 1e-9))
            bad_total = min(sum(totals), bad_diffuser.take(sum(totals) * (1 - fpy)))
            for st, run, total, bad in zip(stations, runs, totals, apportion(bad_total, totals),
                                           strict=True):
                rework = half_up(bad * b.rework_share_of_bad)
                production.append({
                    "production_id": f"{st.station_id}-{hour_key(hour, tz)}",
                    "station_id": st.station_id, "team_id": team.id, "hour_start": hour,
                    "planned_minutes": 60.0, "run_minutes": run, "total_count": total,
                    "good_count": total - bad, "rework_count": rework, "scrap_count": bad - rework,
                    "ideal_cycle_seconds": st.ideal_cycle_seconds,
                    "updated_at": hour + timedelta(minutes=59, seconds=rng.randint(0, 58)),
                })
                defects += _defects(floor, st, hour, rework, bad - rework, drng)
    return production, defects


def _defects(floor: Shopfloor, st: Station, hour: datetime, rework: int, scrap: int,
             rng) -> list[Row]:
    """Defect rows whose quantities add up to the station-hour's rework and scrap counts."""
    codes = floor.defect_codes(st, hour)
    rows: list[Row] = []
    for disposition, qty in (("rework", rework), ("scrap", scrap)):
        if qty <= 0:
            continue
        parts = [qty] if qty < 2 or rng.random() < 0.5 else [qty - qty // 2, qty // 2]
        for part in parts:
            if disposition == "rework":
                severity = "minor" if rng.random() < 0.9 else "major"
            else:
                severity = rng.choices(("minor", "major", "critical"), (0.55, 0.4, 0.05))[0]
            detected = hour + timedelta(seconds=rng.randint(60, 3540))
            rows.append({
                "defect_id": f"QD-{st.station_id}-{hour_key(hour, floor.tz)}-{len(rows) + 1:02d}",
                "station_id": st.station_id, "team_id": st.team.id, "detected_at": detected,
                "defect_code": rng.choice(codes), "quantity": part, "severity": severity,
                "disposition": disposition, "updated_at": stamp(detected, rng, floor.tz),
            })
    return rows


def first_article_inspections(floor: Shopfloor) -> list[Row]:
    """Inspections with an exact team-hour pass rate (baseline, or the dip's value)."""
    sc, tz = floor.scenario, floor.tz
    per_hour = sc.baseline.inspections_per_station_hour
    rows: list[Row] = []
    if per_hour <= 0:
        return rows
    for team in production_teams(sc):
        rng = rng_for(sc, "fai", team.id)
        fails = Diffuser()
        stations = stations_of(team)
        inspector = floor.roster.first(team.id, "qa_engineer", "team_leader") or "E0000"
        for hour in floor.hours:
            n = len(stations) * per_hour
            rate = floor.rates.rate(team.id, "first_article_pass_rate", hour)
            failed = set(rng.sample(range(n), min(n, fails.take(n * (1 - rate)))))
            for i in range(n):
                st = stations[i // per_hour]
                slot = 3600 // per_hour
                at = hour + timedelta(seconds=(i % per_hour) * slot + rng.randint(30, slot - 30))
                fail = i in failed
                rows.append({
                    "inspection_id": f"FAI-{st.station_id}-{hour_key(hour, tz)}-{i % per_hour + 1}",
                    "station_id": st.station_id, "team_id": team.id, "inspected_at": at,
                    "product": floor.product_at(st, at), "result": "fail" if fail else "pass",
                    "defect_code": rng.choice(floor.defect_codes(st, hour)) if fail else None,
                    "inspector_id": inspector, "updated_at": stamp(at, rng, tz, 20, 180),
                })
    return rows


def equipment_events(floor: Shopfloor) -> list[Row]:
    """Start-up, failures and repairs from incidents only, setup/running around changeovers."""
    sc, tz = floor.scenario, floor.tz
    failure_codes = {i.id: i.failure_code for i in sc.incidents if i.kind == "equipment_failure"}
    rows: list[Row] = []
    for team in production_teams(sc):
        rng = rng_for(sc, "equipment-events", team.id)
        for st in stations_of(team):
            events: list[tuple[datetime, str, str, str | None]] = [
                (utc(sc.start), "state_change", "running", None)]
            for down, back, inc_id in floor.downtime.get(st.device_id, []):
                events.append((down, "failure", "down", failure_codes[inc_id]))
                events.append((back, "repair", "running", None))
            for co in floor.changeovers.get(st.station_id, []):
                events.append((co.started, "state_change", "setup", None))
                events.append((co.ended, "state_change", "running", None))
            events = sorted((e for e in events if e[0] < floor.end), key=lambda e: e[0])
            for n, (at, kind, state, code) in enumerate(events, start=1):
                rows.append({
                    "event_id": f"EV-{st.device_id}-{n:04d}", "device_id": st.device_id,
                    "device_type": st.device_type, "station_id": st.station_id,
                    "team_id": team.id, "occurred_at": at, "event_type": kind, "state": state,
                    "failure_code": code, "updated_at": stamp(at, rng, tz, 1, 30),
                })
    return rows


def equipment_checks(floor: Shopfloor) -> list[Row]:
    """One check per device per shift, due 08:30 and 20:30 local, completed at an exact rate."""
    sc, tz = floor.scenario, floor.tz
    dues = [at_local(day, clock, tz) + CHECK_OFFSET for day in local_days(sc)
            for clock in (DAY_SHIFT_START, NIGHT_SHIFT_START)]
    dues = [d for d in dues if utc(sc.start) <= d < floor.end]
    rows: list[Row] = []
    missed_diffuser = Diffuser()  # plant-wide, so a short scenario still misses its share
    for due in dues:
        for team in production_teams(sc):
            rng = rng_for(sc, "checks", team.id, hour_key(due, tz))
            stations = stations_of(team)
            hour = floor.hours[int((due - floor.hours[0]) / HOUR)]
            rate = floor.rates.rate(team.id, "equipment_check_completion", hour)
            missed = set(rng.sample(range(len(stations)),
                                    min(len(stations), missed_diffuser.take(
                                        len(stations) * (1 - rate)))))
            for i, st in enumerate(stations):
                done = i not in missed
                completed = due + timedelta(seconds=rng.randint(120, 1200)) if done else None
                rows.append({
                    "check_id": f"CHK-{st.device_id}-{hour_key(due, tz, '%Y%m%d%H%M')}",
                    "device_id": st.device_id, "team_id": team.id, "due_at": due,
                    "completed_at": completed, "status": "completed" if done else "missed",
                    "result": ("issue" if rng.random() < 0.04 else "ok") if done else None,
                    "updated_at": stamp(completed or due + timedelta(minutes=25), rng, tz, 5, 60),
                })
    return rows


def changeovers(floor: Shopfloor) -> list[Row]:
    """mes_changeovers from the plan the equipment events also follow."""
    rows: list[Row] = []
    rng = rng_for(floor.scenario, "changeover-rows")
    for station_id, plan in floor.changeovers.items():
        for co in plan:
            rows.append({
                "changeover_id": f"CO-{station_id}-{hour_key(co.started, floor.tz, '%Y%m%d%H%M')}",
                "station_id": station_id, "team_id": co.station.team.id,
                "started_at": co.started, "from_product": co.from_product,
                "to_product": co.to_product, "standard_minutes": co.standard,
                "actual_minutes": co.actual, "updated_at": stamp(co.started, rng, floor.tz),
            })
    return rows


def planned_stops(floor: Shopfloor, changeover_rows: list[Row]) -> list[Row]:
    """mes_planned_stops: each changeover as the schedule planned it (its standard time),
    published when the plan was made, ahead of the stop."""
    lines = {t.id: t.line_id for t in floor.scenario.plant.teams}
    rows: list[Row] = []
    for co in changeover_rows:
        start = co["started_at"]
        rows.append({
            "stop_id": "PLAN-" + co["changeover_id"], "line_id": lines[co["team_id"]],
            "team_id": co["team_id"], "station_id": co["station_id"], "kind": "changeover",
            "planned_start": start,
            "planned_end": start + timedelta(minutes=co["standard_minutes"]),
            "updated_at": min(co["updated_at"], start - timedelta(hours=1)),
        })
    return rows


def process_measurements(floor: Shopfloor) -> list[Row]:
    """Weld strength on welding lines, VOC with an exact over-limit share on painting lines."""
    sc, tz, b = floor.scenario, floor.tz, floor.scenario.baseline
    rows: list[Row] = []
    for team in production_teams(sc):
        if team.line_type not in ("welding", "painting"):
            continue
        rng = rng_for(sc, "measurements", team.id)
        over_diffuser = Diffuser()
        stations = stations_of(team)
        welding = team.line_type == "welding"
        per_hour = 3 if welding else 2
        for hour in floor.hours:
            n = len(stations) * per_hour
            over: set[int] = set()
            if not welding:
                rate = floor.rates.rate(team.id, "voc_over_limit_rate", hour)
                over = set(rng.sample(range(n), min(n, over_diffuser.take(n * rate))))
            for i in range(n):
                st, k = stations[i // per_hour], i % per_hour
                slot = 3600 // per_hour
                at = hour + timedelta(seconds=k * slot + rng.randint(60, slot - 60))
                if welding:
                    sd = b.weld_strength_kn * b.weld_strength_cv
                    value = round(max(0.1, rng.gauss(b.weld_strength_kn, sd)), 3)
                    parameter, limit = "weld_strength_kn", None
                else:
                    lo, hi = (1.03, 1.3) if i in over else (0.4, 0.92)
                    value = round(b.voc_limit_mg_m3 * rng.uniform(lo, hi), 2)
                    parameter, limit = "voc_mg_m3", b.voc_limit_mg_m3
                rows.append({
                    "measurement_id": f"PM-{st.station_id}-{hour_key(hour, tz)}-{k + 1}",
                    "station_id": st.station_id, "team_id": team.id, "measured_at": at,
                    "parameter": parameter, "value": value, "upper_limit": limit,
                    "updated_at": stamp(at, rng, tz, 2, 60),
                })
    return rows
