"""The scenario file: what the plant simulator serves, validated with pydantic.

A scenario fixes the plant layout, the time range, the random seed, baseline
rates and injected incidents, so the same file always produces the same source
records, byte for byte.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from perf_orchestration.config.bundled import package_path
from perf_orchestration.config.loading import load_model
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE, FAILURE_CODES, LINE_TYPES

DEFAULT_SCENARIO = "default.yaml"
PRODUCTION_LINE_TYPES = ("welding", "painting", "assembly", "machining")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamSpec(_Strict):
    """A production team (or technical centre) and its stations."""

    id: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,15}$", description="Team id, e.g. T1")
    name: str
    line_id: str = Field(description="The line the team works on; thresholds can differ per line")
    line_type: Literal[LINE_TYPES]  # type: ignore[valid-type]
    workshop: str = "Workshop 1"
    stations: int = Field(default=6, ge=0, le=50, description="Stations (one device each)")
    headcount: int = Field(default=120, ge=1, le=2000)


def _default_teams() -> list[TeamSpec]:
    prod = [
        ("T1", "Welding A", "WLD", "welding", "Body Shop"),
        ("T2", "Welding B", "WLD", "welding", "Body Shop"),
        ("T3", "Painting", "PNT", "painting", "Paint Shop"),
        ("T4", "Assembly A", "ASM", "assembly", "Assembly Hall"),
        ("T5", "Assembly B", "ASM", "assembly", "Assembly Hall"),
        ("T6", "Machining A", "MCH", "machining", "Machine Shop"),
        ("T7", "Machining B", "MCH", "machining", "Machine Shop"),
    ]
    centres = [
        ("TC1", "Process Engineering Centre"), ("TC2", "Quality Lab"),
        ("TC3", "Maintenance Centre"), ("TC4", "Customer Service Centre"),
    ]
    teams = [TeamSpec(id=i, name=n, line_id=li, line_type=lt, workshop=w, headcount=120)
             for i, n, li, lt, w in prod]
    teams += [TeamSpec(id=i, name=n, line_id="TC", line_type="technical_centre",
                       workshop="Technical Centres", stations=0, headcount=40)
              for i, n in centres]
    teams.append(TeamSpec(id="OFF", name="Office, Sales and Planning", line_id="OFF",
                          line_type="office", workshop="Head Office", stations=0,
                          headcount=200))
    return teams


class PlantSpec(_Strict):
    """The plant layout; the default is 7 production teams, 4 centres, 1,200 people."""

    name: str = "Plant 1"
    teams: list[TeamSpec] = Field(default_factory=_default_teams)

    @field_validator("teams")
    @classmethod
    def _unique_ids(cls, teams: list[TeamSpec]) -> list[TeamSpec]:
        ids = [t.id for t in teams]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate team ids: {', '.join(dupes)}")
        if not any(t.stations for t in teams):
            raise ValueError("the plant needs at least one team with stations")
        return teams

    @property
    def headcount(self) -> int:
        return sum(t.headcount for t in self.teams)


Rate = Annotated[float, Field(ge=0, le=1)]


class Baseline(_Strict):
    """Normal-day rates the simulator draws around (each hour jitters within +-jitter)."""

    availability: Rate = 0.92
    performance: Rate = 0.93
    first_pass_yield: Rate = 0.965
    rework_share_of_bad: Rate = 0.7
    first_article_pass_rate: Rate = 0.985
    inspections_per_station_hour: int = Field(default=4, ge=0, le=60)
    equipment_check_completion: Rate = 0.97
    changeovers_per_station_day: float = Field(default=2.0, ge=0, le=24)
    weld_strength_kn: float = Field(default=12.0, gt=0)
    weld_strength_cv: Rate = 0.04
    voc_limit_mg_m3: float = Field(default=50.0, gt=0)
    voc_over_limit_rate: Rate = 0.02
    work_orders_per_team_day: int = Field(default=4, ge=0, le=100)
    opportunities_per_day: int = Field(default=12, ge=0, le=1000)
    tickets_per_day: int = Field(default=10, ge=0, le=1000)
    proposals_per_manager_day: int = Field(
        default=2, ge=0, le=50, description="Customer proposals due per account manager and day")
    proposal_history_days: int = Field(
        default=14, ge=0, le=90, description="Days of proposal history before the range")
    proposal_slip_days: int = Field(
        default=2, ge=0, le=30,
        description="Last days of the range on which one account manager sends proposals late")
    order_lines_per_day: int = Field(
        default=48, ge=0, le=5000, description="ERP order lines promised to ship per day")
    dispatch_accuracy: Rate = Field(
        default=0.985, description="Share of dispatches loaded as planned on fresh stock")
    on_time_shipping: Rate = Field(
        default=0.985, description="Share of lines shipped on time when nothing is in the way")
    jitter: Rate = 0.01


class History(_Strict):
    """Months of people and customer history before the range, served whole by the
    snapshot sources: the work logs role snapshots read, and the contract book and
    ticket responses the response-speed analysis reads."""

    months: int = Field(default=6, ge=1, le=36, description="History before the range")
    high_performer_share: Rate = Field(
        default=0.25, description="Share of each role's people cast as high performers")
    planted_behaviours: bool = Field(
        default=True, description="High performers behave differently and do better; false "
        "makes everyone noise, so nothing should distinguish them")
    renewals_per_manager_month: float = Field(
        default=4.0, ge=0, le=100, description="Renewal decisions per account manager and month")
    tickets_per_contract: float = Field(
        default=3.0, ge=0, le=50, description="Mean service tickets in a contract's last "
        "180 days")
    fast_response_share: Rate = Field(
        default=0.5, description="Share of contracts whose tickets are answered within 4 h")
    response_odds_ratio: float = Field(
        default=3.8, gt=0, le=100, description="Renewal odds of an answer within 4 h against "
        "a slower one (1 plants no effect)")


DIP_METRICS = ("first_article_pass_rate", "first_pass_yield", "availability", "performance",
               "voc_over_limit_rate", "equipment_check_completion")
FAULT_KINDS = ("http_5xx", "timeout", "rate_limited", "truncated_json", "malformed_json",
               "malformed_rows", "duplicate_rows", "late_rows", "clock_skew", "source_stops")


class MetricDip(_Strict):
    """A team's rate held at `value` for `hours` from `start`."""

    kind: Literal["metric_dip"]
    id: str
    team: str
    metric: Literal[DIP_METRICS]  # type: ignore[valid-type]
    value: Rate
    start: datetime
    hours: float = Field(gt=0, le=24 * 31)


class EquipmentFailure(_Strict):
    """Failures of one device at given times, each followed by a repair."""

    kind: Literal["equipment_failure"]
    id: str
    device: str = Field(description="Device id, e.g. T2-D03 (team T2, station 3)")
    at: list[datetime] = Field(min_length=1)
    failure_code: Literal[FAILURE_CODES] = "F01-SERVO"  # type: ignore[valid-type]
    repair_minutes: float = Field(default=35, gt=0, le=24 * 60)


class CrmRenewal(_Strict):
    """A renewal closed in the CRM."""

    kind: Literal["crm_renewal"]
    id: str
    account: str
    at: datetime
    amount: float = Field(default=250_000, ge=0)
    owner: str | None = Field(default=None, description="Employee id; default an account manager")


class SourceFault(_Strict):
    """A fault of one source endpoint in one hour of data."""

    kind: Literal["source_fault"]
    id: str
    system: str
    entity: str
    fault: Literal[FAULT_KINDS]  # type: ignore[valid-type]
    hour: datetime = Field(description="The hour of data whose requests or rows are affected")
    count: int = Field(default=2, ge=1, le=1000, description="Failing calls, or rows affected")
    status: int = Field(default=503, ge=500, le=599)
    delay_seconds: float = Field(default=3.0, gt=0, le=120, description="For timeouts")
    late_hours: float = Field(default=3.0, gt=0, le=24 * 7, description="For late rows")
    retry_after_seconds: int = Field(default=1, ge=0, le=120,
                                     description="Retry-After of a rate_limited answer")
    skew_seconds: float = Field(default=300.0, ge=-86_400, le=86_400,
                                description="How far the source's clock is off (clock_skew)")
    stop_hours: float = Field(default=2.0, gt=0, le=24 * 7,
                              description="How long the source publishes nothing (source_stops)")

    @model_validator(mode="after")
    def _known_entity(self) -> SourceFault:
        if f"{self.system}_{self.entity}" not in ENTITIES_BY_TABLE:
            raise ValueError(f"unknown source entity /{self.system}/{self.entity}")
        return self


# Links between source systems the delivery chain reveals: sender -> receiver.
LINKS = ("erp→wms", "wms→tms")


class InterfaceDown(_Strict):
    """A link between two source systems carries nothing for `hours` from `start`: the
    receiving system keeps what it last got (the WMS does not see new order lines; the
    TMS plans dispatches on stale stock)."""

    kind: Literal["interface_down"]
    id: str
    link: str = Field(description="erp→wms or wms→tms (-> is read as →)")
    start: datetime = Field(description="May lie before the range: an outage under way")
    hours: float = Field(gt=0, le=24 * 60)

    @field_validator("link")
    @classmethod
    def _known_link(cls, value: str) -> str:
        link = value.replace("->", "→").replace(" ", "").lower()
        if link not in LINKS:
            raise ValueError(f"unknown link {value!r} (known: {', '.join(LINKS)})")
        return link


Incident = Annotated[MetricDip | EquipmentFailure | CrmRenewal | SourceFault | InterfaceDown,
                     Field(discriminator="kind")]


class Scenario(_Strict):
    """One simulated stretch of plant life."""

    name: str = "scenario"
    description: str = ""
    seed: int = 7
    start: datetime = Field(description="Local start time (naive means the scenario time zone)")
    timezone: str = "Asia/Shanghai"
    hours: int = Field(default=24, ge=1, le=24 * 400)
    plant: PlantSpec = Field(default_factory=PlantSpec)
    baseline: Baseline = Field(default_factory=Baseline)
    incidents: list[Incident] = Field(default_factory=list)
    history: History | None = Field(
        default_factory=History, description="Months of history before the range; null: none")
    records: dict[str, list[dict]] = Field(
        default_factory=dict,
        description="Literal records per entity ('mes/production': [...]) served as they are",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("records")
    @classmethod
    def _known_record_entities(cls, records: dict[str, list[dict]]) -> dict[str, list[dict]]:
        for key in records:
            if key.replace("/", "_", 1) not in ENTITIES_BY_TABLE:
                raise ValueError(f"unknown entity {key!r} (use system/entity, e.g. mes/production)")
        return records

    @model_validator(mode="after")
    def _localize_and_check(self) -> Scenario:
        tz = self.tz
        self.start = _aware(self.start, tz)
        end = self.end
        team_ids = {t.id for t in self.plant.teams}
        seen: set[str] = set()
        for inc in self.incidents:
            if inc.id in seen:
                raise ValueError(f"incidents: duplicate incident id {inc.id!r}")
            seen.add(inc.id)
            times = {"metric_dip": lambda i: [i.start], "equipment_failure": lambda i: i.at,
                     "crm_renewal": lambda i: [i.at], "source_fault": lambda i: [i.hour],
                     "interface_down": lambda i: [i.start]}
            localized = [_aware(t, tz) for t in times[inc.kind](inc)]
            if inc.kind == "interface_down":  # an outage may have begun before the range
                if not localized[0] < end or localized[0] + timedelta(hours=inc.hours) \
                        <= self.start - timedelta(days=30):
                    raise ValueError(f"incident {inc.id}: the outage must begin before the "
                                     f"range ends ({end.isoformat()}) and reach the 30 days "
                                     "before it")
                inc.start, localized = localized[0], []
            for t in localized:
                if not (self.start <= t < end):
                    raise ValueError(
                        f"incident {inc.id}: time {t.isoformat()} is outside the scenario "
                        f"range {self.start.isoformat()} .. {end.isoformat()}")
            _set_times(inc, localized)
            if getattr(inc, "team", None) and inc.team not in team_ids:
                raise ValueError(f"incident {inc.id}: unknown team {inc.team!r}")
            if inc.kind == "equipment_failure":
                team_id, _, num = inc.device.rpartition("-D")
                spec = next((t for t in self.plant.teams if t.id == team_id), None)
                if spec is None or not _production(spec) or not num.isdigit() \
                        or not 1 <= int(num) <= spec.stations:
                    raise ValueError(f"incident {inc.id}: device {inc.device!r} does not exist "
                                     "(devices are <team>-D01..D<stations> of a production "
                                     "team with stations)")
            if inc.kind == "metric_dip" and not _production(
                    next(t for t in self.plant.teams if t.id == inc.team)):
                raise ValueError(f"incident {inc.id}: team {inc.team!r} is no production team "
                                 "with stations")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def end(self) -> datetime:
        return (self.start.astimezone(UTC) + timedelta(hours=self.hours)).astimezone(self.tz)

    @property
    def days(self) -> list[str]:
        """The plant days its hours fall on: the flow's Dagster partitions (2026-11-02)."""
        first = self.start.astimezone(self.tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _production(team: TeamSpec) -> bool:
    """A team that runs stations on a production line (its devices and rates exist)."""
    return team.stations > 0 and team.line_type in PRODUCTION_LINE_TYPES


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)


def _set_times(inc: Incident, times: list[datetime]) -> None:
    if inc.kind == "interface_down":
        return
    if inc.kind == "metric_dip":
        inc.start = times[0]
    elif inc.kind == "equipment_failure":
        inc.at = times
    elif inc.kind == "crm_renewal":
        inc.at = times[0]
    else:
        inc.hour = times[0].replace(minute=0, second=0, microsecond=0)


def bundled_scenario_path(name: str = DEFAULT_SCENARIO) -> Path:
    """The path of a scenario shipped inside the package."""
    return package_path("perf_orchestration.scenarios", name)


def load_scenario(path: Path | str | None = None) -> Scenario:
    """Load and validate a scenario file (the bundled default when `path` is None)."""
    return load_model(path or bundled_scenario_path(), Scenario)
