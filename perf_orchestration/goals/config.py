"""goals.yaml: the goal tree, each goal bound to live data, validated before anything runs.

Goals go company -> department -> team -> person. Every goal but a root names one parent,
the parent outcome it moves and in which business scenario (its value-contribution path),
its weight among its siblings, and a data source: a metric of the metric library for one
subject (team, line, person, or the plant), with a target, a direction and a period.
Field-level problems (no data source, unknown metric, a metric not kept for the subject,
a team or person unknown to the HR roster) are found here; problems of the tree as a
whole (unknown parent, cycle, no path to a root, sibling weights) in goals.tree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from perf_orchestration.goals.subjects import (
    CHANNEL_MARTS,
    SUBJECTS_WITH_DATA,
    KnownRoster,
    relation_for,
)
from perf_orchestration.metrics.library import METRICS_BY_NAME, Metric

Level = Literal["company", "department", "team", "person"]
LEVELS: tuple[str, ...] = ("company", "department", "team", "person")
Period = Literal["day", "week"]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
                          description="lower-case letters, digits, '-' and '_'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contribution(_Strict):
    """The value-contribution path: which outcome of the parent this goal moves, and when."""

    outcome: str = Field(min_length=1, description="the parent's outcome this goal moves")
    scenario: str = Field(min_length=1, description="the business scenario where it does")


class DataSource(_Strict):
    """The metric that measures the goal, for one subject, against a target per period."""

    metric: str = Field(description="a metric name from perf_orchestration.metrics.library")
    team: str | None = Field(default=None, description="hr_teams.team_id")
    line: str | None = Field(default=None, description="hr_teams.line_id")
    lines: tuple[str, ...] | None = Field(
        default=None, min_length=1, description="several lines summed together (ratio of sums), "
        "e.g. the lines a technical centre serves")
    owner: str | None = Field(
        default=None, description="hr_teams.team_id whose goal this is when its data is other "
        "subjects' (a technical centre bound to the yield of the lines it serves)")
    person: str | None = Field(default=None, description="hr_employees.employee_id")
    channel: str | None = Field(default=None, description="CRM sales channel (CRM marts)")
    target: Number
    direction: Literal["higher", "lower"]
    period: Period = "day"

    @model_validator(mode="after")
    def _fits(self, info: ValidationInfo) -> DataSource:
        m = METRICS_BY_NAME.get(self.metric)
        if m is None:
            raise ValueError(f"unknown metric {self.metric!r}: not a metric asset of the "
                             f"metric library (known: {', '.join(METRICS_BY_NAME)})")
        picked = [k for k in ("team", "line", "lines", "person") if getattr(self, k) is not None]
        if len(picked) > 1:
            raise ValueError(f"a data source filters one subject, got {' and '.join(picked)}")
        if self.direction != m.direction:
            raise ValueError(f"direction: {m.name} is better {m.direction}, not "
                             f"{self.direction}")
        if m.is_ratio and not 0 <= self.target <= 1:
            raise ValueError(f"target: {m.name} is a ratio, {self.target:g} is not in [0, 1]")
        relation = relation_for(m, self.subject_kind)
        if relation is None:
            raise ValueError(f"{m.name} has no data per {self.subject_kind} (it is kept in "
                             f"{m.mart}); bind it to another subject or pick another metric")
        if self.channel is not None and relation.mart not in CHANNEL_MARTS:
            raise ValueError(f"channel: {m.name} is not kept per sales channel")
        roster: KnownRoster | None = (info.context or {}).get("roster")
        if roster is not None:
            self._check_roster(m, roster)
            self._check_has_data(relation.mart, roster)
        return self

    def _check_has_data(self, mart: str, roster: KnownRoster) -> None:
        kinds, roles = SUBJECTS_WITH_DATA.get(mart, ((), ()))
        for subject, kind in self._subject_kinds(roster):
            if kind not in kinds:
                raise ValueError(f"{self.metric} has no data for {subject}: marts.{mart} "
                                 f"holds {' and '.join(kinds)} teams, {subject} is {kind}")
        if self.person is not None and roster.people[self.person] not in roles:
            raise ValueError(f"{self.metric} has no data for {self.person}: marts.{mart} "
                             f"holds {', '.join(roles)} people, {self.person} is a "
                             f"{roster.people[self.person]}")

    def _check_roster(self, m: Metric, roster: KnownRoster) -> None:
        if self.team is not None and self.team not in roster.teams:
            raise ValueError(f"team {self.team!r} is unknown to {roster.source} (known: "
                             f"{', '.join(roster.teams)})")
        for line in (self.line,) if self.line is not None else self.lines or ():
            if line not in roster.lines:
                raise ValueError(f"line {line!r} is unknown to {roster.source} (known: "
                                 f"{', '.join(roster.lines)})")
        if self.owner is not None and self.owner not in roster.teams:
            raise ValueError(f"owner: team {self.owner!r} is unknown to {roster.source}")
        if self.person is not None and self.person not in roster.people:
            raise ValueError(f"person {self.person!r} is unknown to {roster.source}")
        for subject, kind in self._subject_kinds(roster):
            if m.line_types and kind not in m.line_types:
                raise ValueError(f"{m.name} has no data for {subject}: it is measured on "
                                 f"{' and '.join(m.line_types)} lines, not {kind}")

    def _subject_kinds(self, roster: KnownRoster) -> list[tuple[str, str]]:
        """(team or line, its line type) for each team or line the source reads."""
        if self.team is not None:
            return [(self.team, roster.teams[self.team][1])]
        lines = (self.line,) if self.line is not None else self.lines or ()
        return [(line, roster.lines[line]) for line in lines]

    @property
    def subject_kind(self) -> str:
        if self.lines is not None:
            return "line"
        for kind in ("team", "line", "person"):
            if getattr(self, kind) is not None:
                return kind
        return "plant"

    @property
    def subject(self) -> str:
        """'T3', 'WLD', 'E1081', 'plant' or the owner (a technical centre): the heatmap's row."""
        if self.owner is not None:
            return self.owner
        if self.lines is not None:
            return "+".join(self.lines)
        return self.team or self.line or self.person or "plant"

    @property
    def subject_values(self) -> tuple[str, ...]:
        """The ids the mart's subject column is filtered on (one, or the lines summed)."""
        if self.lines is not None:
            return self.lines
        return (self.team or self.line or self.person or "plant",)

    @property
    def definition(self) -> Metric:
        return METRICS_BY_NAME[self.metric]


class Goal(_Strict):
    """One goal of the tree."""

    id: Id
    name: str = Field(min_length=1)
    level: Level
    parent: str | None = None
    contribution: Contribution | None = None
    weight: Annotated[float, Field(strict=False, gt=0, le=100)] | None = Field(
        default=None, description="percent of the parent's score; siblings add up to 100")
    source: DataSource | None = None

    @model_validator(mode="after")
    def _complete(self) -> Goal:
        if self.source is None:
            raise ValueError("no data source: bind the goal to a metric (source: metric, "
                             "target, direction, period) so its attainment can be measured")
        if self.parent is not None:
            if self.contribution is None:
                raise ValueError(f"no contribution: say which outcome of {self.parent} this "
                                 "goal moves and in which scenario (contribution: outcome, "
                                 "scenario)")
            if self.weight is None:
                raise ValueError(f"no weight: give the goal's share of {self.parent} in percent")
        return self


class Template(_Strict):
    """One goal tree, e.g. the manufacturing or the sales template."""

    id: Id
    name: str = Field(min_length=1)
    goals: tuple[Goal, ...]


class HealthBands(_Strict):
    """Progress ratio (actual / expected) below `yellow_below` is yellow, below `red_below` red."""

    yellow_below: Number = 0.995
    red_below: Number = 0.98

    @model_validator(mode="after")
    def _ordered(self) -> HealthBands:
        if not 0 < self.red_below <= self.yellow_below:
            raise ValueError(f"red_below ({self.red_below:g}) must be above 0 and not above "
                             f"yellow_below ({self.yellow_below:g})")
        return self

    def status(self, ratio: float | None) -> str | None:
        if ratio is None:
            return None
        return "red" if ratio < self.red_below else "yellow" if ratio < self.yellow_below \
            else "green"


class GoalsFile(_Strict):
    """goals.yaml as a whole: a version label, health bands, alignment tolerance, trees."""

    version: str = Field(min_length=1, max_length=100, description="e.g. V2.3.7-line")
    health: HealthBands = HealthBands()
    alignment_tolerance: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.05, description="divergence above which a parent counts as misaligned")
    templates: tuple[Template, ...]

    @field_validator("templates")
    @classmethod
    def _some_template(cls, v: tuple[Template, ...]) -> tuple[Template, ...]:
        # Checked after the items, not with min_length: pydantic counts only the items
        # that validated, so one broken goal in the only template would add a second,
        # misleading "at least 1 item" line.
        if not v:
            raise ValueError("at least one template (a goal tree) is needed")
        return v

    @property
    def goals(self) -> tuple[Goal, ...]:
        return tuple(g for t in self.templates for g in t.goals)

    def template_of(self, goal_id: str) -> str:
        return next(t.id for t in self.templates for g in t.goals if g.id == goal_id)
