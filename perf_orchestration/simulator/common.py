"""Building blocks shared by the simulator's generators: time, seeds, exact rates, layout.

Every generator draws from its own seeded `random.Random` and turns rates into
integer counts with error diffusion, so one scenario always yields the same
records and an hour's observed rate is as close to the scenario's as counts allow.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from perf_orchestration.scenarios.config import (
    PRODUCTION_LINE_TYPES,
    EquipmentFailure,
    MetricDip,
    Scenario,
    TeamSpec,
)

HOUR = timedelta(hours=1)
DEVICE_TYPES = {"welding": "welding_robot", "painting": "paint_robot",
                "assembly": "torque_station", "machining": "cnc_mill"}
IDEAL_CYCLE_SECONDS = {"welding": 45.0, "painting": 60.0, "assembly": 90.0, "machining": 120.0}
CHANGEOVER_STANDARD_MINUTES = {"welding": 20.0, "painting": 45.0, "assembly": 25.0,
                               "machining": 35.0}
LINE_DEFECT_CODES = {
    "welding": ("D01-POROSITY", "D02-CRACK", "D03-UNDERCUT", "D04-SPATTER"),
    "painting": ("D05-RUN", "D06-ORANGE-PEEL", "D07-THIN-FILM"),
    "assembly": ("D10-MISSING-PART", "D11-TORQUE"),
    "machining": ("D08-DIMENSION", "D09-BURR", "D12-SCRATCH"),
}
LINE_PRODUCT_BASE = {"welding": 1000, "painting": 2000, "assembly": 3000, "machining": 4000}
PRODUCTS_PER_LINE = 6
DAY_SHIFT_START = time(8, 0)
NIGHT_SHIFT_START = time(20, 0)


def rng_for(scenario: Scenario, *parts: str) -> random.Random:
    """A generator private to one entity or team, so adding a team never shifts another's data."""
    return random.Random(f"{scenario.seed}:" + ":".join(parts))


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the scenario's UTC offset and whole seconds, the way every source serves it."""
    if value is None:
        return None
    return value.astimezone(tz).replace(microsecond=0).isoformat()


def utc(value: datetime) -> datetime:
    """The same instant in UTC; generators compute in UTC so that adding an hour is one hour."""
    return value.astimezone(UTC)


def hour_starts(scenario: Scenario) -> list[datetime]:
    """The scenario's hours (UTC-aware), stepped in real time so DST days have the right length."""
    start = utc(scenario.start)
    return [start + k * HOUR for k in range(scenario.hours)]


def range_end(scenario: Scenario) -> datetime:
    """The exclusive end of the generated data (UTC-aware)."""
    return utc(scenario.start) + scenario.hours * HOUR


def local_days(scenario: Scenario) -> Iterator[date]:
    """Every local calendar day the scenario touches."""
    day = scenario.start.date()
    last = range_end(scenario).astimezone(scenario.tz).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time on a day, as a UTC-aware datetime."""
    return utc(datetime.combine(day, clock, tzinfo=tz))


def hour_key(value: datetime, tz: ZoneInfo, fmt: str = "%Y%m%d%H") -> str:
    """YYYYMMDDHH in local time, used inside ids; the repeated hour when clocks go back
    gets a "b" so that ids stay unique."""
    local = value.astimezone(tz)
    return local.strftime(fmt) + ("b" if local.fold else "")


def stamp(event: datetime, rng: random.Random, tz: ZoneInfo, lo: int = 5,
          hi: int = 120) -> datetime:
    """updated_at a few seconds after the event, but never past the end of the event's hour.

    Keeping normal rows inside their local hour means an ingestion run with the
    clock at the hour's end sees all of them; only injected late rows arrive after it.
    """
    local = event.astimezone(tz)
    hour_end = utc(local.replace(minute=0, second=0, microsecond=0)) + HOUR - timedelta(seconds=1)
    return max(event, min(event + timedelta(seconds=rng.randint(lo, hi)), hour_end))


def overlap_minutes(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    """Minutes that [a0, a1) and [b0, b1) share."""
    seconds = (min(a1, b1) - max(a0, b0)).total_seconds()
    return max(0.0, seconds / 60.0)


def half_up(value: float) -> int:
    """Round half up (Python's round() rounds half to even, which surprises readers of counts)."""
    return math.floor(value + 0.5)


class Diffuser:
    """Error diffusion: integer counts whose running total tracks the expected total.

    Each call returns floor or ceil of the expected count, carrying the remainder
    to the next call, so no hour drifts more than one unit from its rate.
    """

    def __init__(self, carry: float = 0.5):
        self.carry = carry

    def take(self, expected: float) -> int:
        total = max(0.0, expected) + self.carry
        count = math.floor(total + 1e-9)
        self.carry = total - count
        return count


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights` by largest remainder (ties go to the first)."""
    if total <= 0 or not weights:
        return [0] * len(weights)
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    quotas = [total * w / weight_sum for w in weights]
    counts = [math.floor(q + 1e-9) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class Station:
    """One station of a production team and the one device on it."""

    team: TeamSpec
    index: int

    @property
    def station_id(self) -> str:
        return f"{self.team.id}-S{self.index:02d}"

    @property
    def device_id(self) -> str:
        return f"{self.team.id}-D{self.index:02d}"

    @property
    def device_type(self) -> str:
        return DEVICE_TYPES[self.team.line_type]

    @property
    def ideal_cycle_seconds(self) -> float:
        return IDEAL_CYCLE_SECONDS[self.team.line_type]


def production_teams(scenario: Scenario) -> list[TeamSpec]:
    """Teams that run stations (technical centres and the office have none)."""
    return [t for t in scenario.plant.teams
            if t.stations > 0 and t.line_type in PRODUCTION_LINE_TYPES]


def stations_of(team: TeamSpec) -> list[Station]:
    """The team's stations S01..Snn."""
    return [Station(team, i) for i in range(1, team.stations + 1)]


def products_of(line_type: str) -> list[str]:
    """The products a line makes, e.g. P-1001..P-1006 on welding lines."""
    base = LINE_PRODUCT_BASE[line_type]
    return [f"P-{base + i}" for i in range(1, PRODUCTS_PER_LINE + 1)]


def failure_windows(scenario: Scenario) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Per device, the (down_from, back_at, incident id) windows of injected failures.

    Raises ValueError naming the incident when a device does not exist, because a
    failure nobody can observe would make the scenario's promise silently false.
    """
    devices = {s.device_id for t in production_teams(scenario) for s in stations_of(t)}
    windows: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for inc in scenario.incidents:
        if not isinstance(inc, EquipmentFailure):
            continue
        if inc.device not in devices:
            raise ValueError(f"incident {inc.id}: device {inc.device!r} does not exist "
                             f"(devices are <team>-D01..D<stations> of production teams)")
        for at in sorted(inc.at):
            windows.setdefault(inc.device, []).append(
                (utc(at), utc(at) + timedelta(minutes=inc.repair_minutes), inc.id))
    return windows


class Rates:
    """The rate of a metric for a team in an hour: baseline or dip, plus seeded jitter.

    A dip covering part of an hour counts in proportion to the minutes it covers.
    """

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.hours = hour_starts(scenario)
        self._index = {h: k for k, h in enumerate(self.hours)}
        self._jitter: dict[tuple[str, str], list[float]] = {}
        self._dips = [i for i in scenario.incidents if isinstance(i, MetricDip)]

    def jitter(self, team: str, metric: str, k: int) -> float:
        key = (team, metric)
        if key not in self._jitter:
            rng = rng_for(self.scenario, "jitter", team, metric)
            j = self.scenario.baseline.jitter
            self._jitter[key] = [rng.uniform(-j, j) for _ in self.hours]
        return self._jitter[key][k]

    def dip_share(self, team: str, metric: str, hour: datetime) -> tuple[float, float]:
        """(share of the hour under a dip, the dip's value) for this team and metric."""
        share, value = 0.0, 0.0
        for dip in self._dips:
            if dip.team != team or dip.metric != metric:
                continue
            minutes = overlap_minutes(hour, hour + HOUR, utc(dip.start),
                                      utc(dip.start) + timedelta(hours=dip.hours))
            if minutes > 0:
                share, value = min(1.0, minutes / 60.0), dip.value
        return share, value

    def rate(self, team: str, metric: str, hour: datetime) -> float:
        base = float(getattr(self.scenario.baseline, metric))
        share, value = self.dip_share(team, metric, hour)
        mixed = base * (1 - share) + value * share
        k = self._index.get(hour, 0)
        return min(1.0, max(0.0, mixed + self.jitter(team, metric, k)))

    def in_dip(self, team: str, hour: datetime, metrics: tuple[str, ...]) -> bool:
        return any(self.dip_share(team, m, hour)[0] > 0 for m in metrics)


def parse_time(value: object, tz: ZoneInfo) -> datetime | None:
    """A datetime or ISO 8601 string as a UTC-aware datetime (naive means `tz`); None if not one."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return utc(parsed)
