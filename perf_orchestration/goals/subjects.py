"""Who a goal is about, and where its metric is kept for that subject.

A goal's data source names a metric of the metric library and a subject: a team, a line,
a person (with a sales channel where the mart has one), or nothing for the whole plant.
This module says which daily mart and which column hold the metric for that subject, so
"a metric with no data for its subject" (first-pass yield of a salesperson, VOC of a
welding team) is refused when the config is read, not discovered as an empty heatmap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.metrics.library import TEAM_HOURLY, Metric

# Daily marts of the team-hour metrics, per subject kind.
TEAM_METRIC_MARTS = {"team": "team_daily_quality", "line": "line_daily_quality",
                     "plant": "plant_daily_quality"}
# The column naming each subject kind in the other daily marts (absent: not kept per it).
SUBJECT_COLUMNS: dict[str, dict[str, str]] = {
    "team_daily_quality": {"team": "team_id"},
    "line_daily_quality": {"line": "line_id"},
    "plant_daily_quality": {},
    "device_daily_reliability": {"team": "team_id", "line": "line_id"},
    "line_process_quality": {"team": "team_id", "line": "line_id"},
    "work_order_closure_daily": {"team": "team_id", "line": "line_id"},
    "sales_process_daily": {"team": "team_id", "person": "owner_id"},
    "sales_funnel_daily": {},
    "renewals_daily": {},
    "service_ticket_resolution_daily": {},
}
# Marts with a sales channel column a goal may filter on.
CHANNEL_MARTS = ("sales_process_daily",)
# Who has rows in a mart: production teams (and their lines) in the MES and ERP marts,
# the sales office and the opportunity owners in the CRM's sales-process mart.
PRODUCTION_LINE_TYPES = ("welding", "painting", "assembly", "machining")
SUBJECTS_WITH_DATA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # mart: (line types of teams and lines with rows, roles of people with rows)
    "sales_process_daily": (("office",), ("account_manager", "sales_rep")),
    **{m: (PRODUCTION_LINE_TYPES, ()) for m in (
        "team_daily_quality", "line_daily_quality", "device_daily_reliability",
        "line_process_quality", "work_order_closure_daily")},
}


@dataclass(frozen=True)
class Relation:
    """Where a goal's numbers are read: the mart and the column selecting its subject."""

    mart: str
    subject_column: str | None


def relation_for(metric: Metric, subject_kind: str) -> Relation | None:
    """The daily mart holding `metric` for a subject kind, or None when it is not kept so."""
    if metric.mart == TEAM_HOURLY:
        mart = TEAM_METRIC_MARTS.get(subject_kind)
        if mart is None:
            return None
        return Relation(mart, SUBJECT_COLUMNS[mart].get(subject_kind))
    columns = SUBJECT_COLUMNS.get(metric.mart)
    if columns is None:
        return None
    if subject_kind == "plant":
        return Relation(metric.mart, None)
    column = columns.get(subject_kind)
    return Relation(metric.mart, column) if column else None


@dataclass(frozen=True)
class KnownRoster:
    """Teams (with line id and line type) and people of the HR roster."""

    teams: dict[str, tuple[str, str]]
    people: dict[str, str]  # employee id -> role
    source: str
    details: dict[str, tuple[str, str]] = field(default_factory=dict)  # team -> name, workshop

    def team_name(self, team: str) -> str:
        return self.details.get(team, (team, ""))[0]

    def workshop(self, team: str) -> str:
        return self.details.get(team, ("", ""))[1]

    @property
    def lines(self) -> dict[str, str]:
        """Line id -> line type, from the teams working on it."""
        return {line: kind for line, kind in self.teams.values()}


def roster_from_scenario(path: Path | None = None) -> KnownRoster:
    """The roster the plant simulator serves for a scenario (default: the bundled one)."""
    from perf_orchestration.scenarios.config import load_scenario
    from perf_orchestration.simulator.names import build_roster

    scenario = load_scenario(path)
    people = {r["employee_id"]: r["role"] for r in build_roster(scenario).rows}
    teams = {t.id: (t.line_id, t.line_type) for t in scenario.plant.teams}
    details = {t.id: (t.name, t.workshop) for t in scenario.plant.teams}
    return KnownRoster(teams, people, f"the HR roster of scenario {scenario.name!r}", details)


def roster_from_warehouse(engine: sa.Engine) -> KnownRoster | None:
    """The teams and people the HR system delivered (raw.hr_teams, raw.hr_employees), the
    latest version of each; None before the roster has landed."""
    inspector = sa.inspect(engine)
    if not all(inspector.has_table(t, schema="raw") for t in ("hr_teams", "hr_employees")):
        return None
    with engine.connect() as conn:
        team_rows = conn.execute(sa.text(
            "select team_id, name, line_id, line_type, workshop from raw.hr_teams "
            "order by updated_at, team_id")).all()
        people_rows = conn.execute(sa.text(
            "select employee_id, role from raw.hr_employees order by updated_at, employee_id"
        )).all()
    if not team_rows:
        return None
    teams = {r[0]: (r[2], r[3]) for r in team_rows}
    details = {r[0]: (r[1], r[4]) for r in team_rows}
    return KnownRoster(teams, {r[0]: r[1] for r in people_rows},
                       "the HR roster in the warehouse", details)


@cache
def bundled_roster() -> KnownRoster:
    return roster_from_scenario(None)


def roster_for(config_dir: Path) -> KnownRoster:
    """The roster of the config folder's scenarios/default.yaml, else the bundled scenario's."""
    beside = config_dir / "scenarios" / "default.yaml"
    return roster_from_scenario(beside) if beside.exists() else bundled_roster()
