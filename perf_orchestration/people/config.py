"""feedback.yaml, badges.yaml and onboarding.yaml: feedback triggers with their versioned
forms, skill badges, and the new-hire onboarding template. Each is validated with pydantic;
a bad entry is one line naming file and id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import load_model
from perf_orchestration.ingestion.entities import COURSES, FAILURE_CODES, ROLES

FEEDBACK_FILE = "feedback.yaml"
BADGES_FILE = "badges.yaml"
ONBOARDING_FILE = "onboarding.yaml"
VERSION_LABEL = re.compile(r"^V\d+\.\d+\.\d+(-[a-z0-9]+)?$")
DEVICE_TYPES = ("welding_robot", "paint_robot", "torque_station", "cnc_mill")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _version(value: str) -> str:
    if not VERSION_LABEL.match(value):
        raise ValueError(f"version {value!r} is not a label like V2.3.7-line")
    return value


VersionLabel = Annotated[str, AfterValidator(_version)]


class Form(_Strict):
    """A form template; its version label is recorded on every request and answer."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    version: VersionLabel = Field(description="Version label, e.g. V2.3.7-line")
    title: str
    minutes: int = Field(ge=1, le=30, description="Time the form takes to answer")
    question_count: int = Field(ge=1, le=10)
    questions_by_failure_code: dict[str, list[str]] = Field(default_factory=dict)
    questions_by_device_type: dict[str, list[str]] = Field(default_factory=dict)
    general_questions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_keys(self) -> Form:
        bad = sorted(set(self.questions_by_failure_code) - set(FAILURE_CODES))
        if bad:
            raise ValueError(f"unknown failure code(s) {', '.join(bad)}")
        bad = sorted(set(self.questions_by_device_type) - set(DEVICE_TYPES))
        if bad:
            raise ValueError(f"unknown device type(s) {', '.join(bad)}")
        if len(self.general_questions) < self.question_count:
            raise ValueError(f"needs at least {self.question_count} general questions "
                             "to fall back on")
        return self


class Trigger(_Strict):
    """An event rule over the sources that asks people holding `role` to fill in `form`."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    description: str = ""
    event: Literal["equipment_failure", "crm_renewal", "monthly"]
    subject: Literal["device", "person"]
    count_at_least: int = Field(ge=1, le=100)
    form: str
    skill: str = Field(description="The capability an answer is evidence of")
    role: str
    channel: Literal["email", "webhook"] = "email"
    due_hours: int = Field(ge=1, le=24 * 31)
    enabled: bool = True

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"unknown role {value!r} (known: {', '.join(ROLES)})")
        return value

    @model_validator(mode="after")
    def _event_fits_subject(self) -> Trigger:
        wanted = {"equipment_failure": "device", "crm_renewal": "person", "monthly": "person"}
        if self.subject != wanted[self.event]:
            raise ValueError(f"event {self.event} counts per {wanted[self.event]}, "
                             f"not per {self.subject}")
        if self.event == "equipment_failure" and self.count_at_least < 2:
            raise ValueError("count_at_least below 2 would ask after every single failure")
        return self


class FeedbackConfig(_Strict):
    version: VersionLabel
    forms: list[Form]
    triggers: list[Trigger]

    @model_validator(mode="after")
    def _references(self) -> FeedbackConfig:
        forms = [f.id for f in self.forms]
        for name, ids in (("form", forms), ("trigger", [t.id for t in self.triggers])):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {name} id(s) {', '.join(dup)}")
        for t in self.triggers:
            if t.form not in forms:
                raise ValueError(f"trigger {t.id}: unknown form {t.form!r}")
        return self

    def form(self, form_id: str) -> Form:
        return next(f for f in self.forms if f.id == form_id)


class Badge(_Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str
    kind: Literal["training", "team_metric"]
    course: str | None = None
    min_score: float = Field(default=0, ge=0, le=100)
    metric: Literal["oee", "first_pass_yield"] | None = None
    at_least: float | None = Field(default=None, gt=0, le=1)
    weeks: int = Field(default=3, ge=1, le=52)
    revoke: bool = False

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Badge:
        if self.kind == "training" and self.course not in COURSES:
            raise ValueError(f"unknown course {self.course!r} (known: {', '.join(COURSES)})")
        if self.kind == "team_metric" and (self.metric is None or self.at_least is None):
            raise ValueError("a team_metric badge needs metric and at_least")
        return self


class BadgeConfig(_Strict):
    version: VersionLabel
    badges: list[Badge]

    @model_validator(mode="after")
    def _unique(self) -> BadgeConfig:
        ids = [b.id for b in self.badges]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate badge id(s) {', '.join(dup)}")
        return self


def load_feedback(path: Path | str | None = None) -> FeedbackConfig:
    """Read and validate feedback.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(path or bundled_file(FEEDBACK_FILE), FeedbackConfig)


def load_badges(path: Path | str | None = None) -> BadgeConfig:
    """Read and validate badges.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(path or bundled_file(BADGES_FILE), BadgeConfig)



def _all_known(values: list[str], known: tuple[str, ...], what: str) -> list[str]:
    bad = [v for v in values if v not in known]
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(map(repr, bad))} "
                         f"(known: {', '.join(known)})")
    return values

class OnboardingTrack(_Strict):
    """New hires of `roles`: the courses they must finish and what counts as their first
    independent job."""

    id: str = Field(pattern=r"^[a-z0-9-]+$")
    roles: list[str] = Field(min_length=1, description="Roster roles on this track")
    required_courses: list[str] = Field(min_length=1, description="Courses of hr/trainings")
    first_job: Literal["mes_production", "crm_won_deal"] = Field(
        description="mes_production: the first production hour the new hire runs with no "
        "mentor named; crm_won_deal: the first opportunity they own reaching won")
    target_days: int = Field(ge=1, le=365, description="First independent job by this day")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        return _all_known(value, ROLES, "role")

    @field_validator("required_courses")
    @classmethod
    def _known_courses(cls, value: list[str]) -> list[str]:
        return _all_known(value, COURSES, "course")


class OnboardingTargets(_Strict):
    trainings_due_days: int = Field(ge=1, le=365, description="Required courses done by")
    feedback_per_week: float = Field(gt=0, le=20, description="Mentor entries per full week")


class OnboardingConfig(_Strict):
    version: VersionLabel
    window_days: int = Field(default=90, ge=7, le=365,
                             description="A new hire is tracked up to this day after hire")
    mentor_source: Literal["roster", "mentor_feedback"] = Field(
        description="roster: hr/employees.mentor_id; mentor_feedback: the mentor of the "
        "new hire's latest hr/mentor_feedback entry")
    targets: OnboardingTargets
    tracks: list[OnboardingTrack] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_track_per_role(self) -> OnboardingConfig:
        ids = [t.id for t in self.tracks]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate track id(s) {', '.join(dup)}")
        seen: dict[str, str] = {}
        for t in self.tracks:
            for role in t.roles:
                if role in seen:
                    raise ValueError(f"track {t.id}: role {role!r} is already on track "
                                     f"{seen[role]}")
                seen[role] = t.id
        return self

    def track_of(self, role: str) -> OnboardingTrack | None:
        return next((t for t in self.tracks if role in t.roles), None)


def load_onboarding(path: Path | str | None = None) -> OnboardingConfig:
    """Read and validate onboarding.yaml (default: the bundled one), or raise ConfigError."""
    return load_model(path or bundled_file(ONBOARDING_FILE), OnboardingConfig)
