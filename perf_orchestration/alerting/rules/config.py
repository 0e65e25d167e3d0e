"""rules.yaml: the plant's alert rules, validated before any sensor reads them.

A rule names what it watches (a metric of the metric library, or a source event), the
subject it is judged per (team, line, device, person), the condition, how long the
condition must hold, and who is asked to do what when it fires. Everything a rule refers
to is checked here (metrics, events, roles, channels, templates, line ids) so a typo is a
one-line error naming the file, the rule id and the field, not a silent rule that never
fires or a sensor failing at 3 a.m.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, parse_yaml, validation_problems
from perf_orchestration.ingestion.entities import ROLES
from perf_orchestration.metrics.library import (
    DELIVERY_HOURLY,
    METRICS_BY_NAME,
    TEAM_HOURLY,
    Metric,
)
from perf_orchestration.metrics.lines import LINE_CONFIG_FILE, load_line_config

RULES_FILE = "rules.yaml"
BUNDLED_RULES = bundled_file(RULES_FILE)

Op = Literal["<", "<=", ">", ">="]
SubjectKind = Literal["team", "line", "device", "person", "link"]
EffectSubject = Literal["same", "team", "line", "device"]
NoDataPolicy = Literal["keep", "ok", "alerting"]
ErrorPolicy = Literal["keep", "error"]
EventPer = Literal["day", "event"]

CHANNELS = ("webhook", "email", "task")
# The names alerting.templates renders; kept here so loading rules does not pull in
# the rendering code (tests check both lists agree).
TEMPLATE_NAMES = ("breach_alert", "root_cause_checklist", "parameter_review",
                  "shift_schedule_review", "skill_gap_questionnaire", "success_story",
                  "resolved_notice", "escalation_notice")
# Source events an event rule may count, and the subject each is counted per: a failure
# belongs to its device, a renewal to its owner (the account manager).
EVENT_SUBJECTS: dict[str, tuple[str, ...]] = {
    "equipment_failure": ("device",),
    "crm_renewal": ("person",),
    # an hour in which a link (ops.interface_health) is over its gap threshold
    "interface_gap": ("link",),
}
EVENTS = tuple(EVENT_SUBJECTS)
# The marts whose grain matches a subject: a team-hour metric can be judged per team or per
# line, a device-day metric per device. No metric is kept per person.
SUBJECT_MARTS: dict[str, tuple[str, ...]] = {
    "team": (TEAM_HOURLY,),
    "line": (TEAM_HOURLY, DELIVERY_HOURLY),  # delivery metrics are judged per line-day
    "device": ("device_daily_reliability",),
    "person": (),
    "link": (),
}
# The subjects an expected effect may be read on, from the episode's subject: the subject
# itself, the line of a team, and the team or line of a device.
EFFECT_SUBJECTS: dict[str, tuple[str, ...]] = {
    "team": ("team", "line"),
    "line": ("line",),
    "device": ("device", "team", "line"),
    "person": (),
    "link": (),
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
# A plain number: no numeric strings, no booleans, no NaN or infinity (a NaN threshold
# would make every comparison false and the rule silently dead).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
                          description="lower-case letters, digits, '-' and '_'; no '|' since "
                                      "episode ids join rule id, subject and time with it")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _known(kind: str, value: str, known: tuple[str, ...]) -> str:
    if value not in known:
        raise ValueError(f"unknown {kind} {value!r} (known: {', '.join(known)})")
    return value


def _no_doubles(kind: str, ids: list[str]) -> None:
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ValueError(f"{kind} ids listed twice: {', '.join(doubled)}")


class Condition(_Strict):
    """When a window breaches: `op`/`threshold` for a metric rule, `count_at_least`/`per`
    for an event rule. One model for both keeps error messages short (no union noise)."""

    op: Op | None = None
    threshold: Number | None = None
    # compare the window's value minus the metric over the subject's previous N days (a
    # ratio of their summed counts): "delay rate up 5 points against the last 7 days"
    against_days: Annotated[int, Field(strict=True, ge=1, le=90)] | None = None
    count_at_least: Annotated[int, Field(strict=True, ge=1)] | None = None
    per: EventPer | None = None


class EffectTarget(_Strict):
    """The value the metric should be back at, e.g. `{op: ">=", value: 0.925}`."""

    op: Op
    value: Number

    def met(self, value: float) -> bool:
        """Whether a (non-NULL) value of the metric meets the target."""
        return _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


class Effect(_Strict):
    """What an action aims at, checked after it (alerting/effects.py): the metric of
    `subject` meets `target` in a window of the metric's grain inside `horizon_hours`."""

    metric: str | None = Field(default=None, description="a metric of the metric library; "
                               "default the rule's own metric")
    target: EffectTarget
    horizon_hours: Annotated[float, Field(strict=True, gt=0, le=24 * 31, allow_inf_nan=False,
                                          description="hours after the action's delivery")]
    subject: EffectSubject = Field(default="same", description=(
        "same (the episode's subject), or the team or line of the episode's subject"))

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, v: str | None) -> str | None:
        return v if v is None else _known("metric", v, tuple(METRICS_BY_NAME))

    def subject_kind(self, episode_subject: str) -> str:
        """The kind of subject the effect is read on, for an episode of `episode_subject`."""
        return episode_subject if self.subject == "same" else self.subject

    def problem(self, rule_metric: str | None, rule_subject: str) -> tuple[str, str] | None:
        """Why this effect cannot be checked for a rule of `rule_metric` per `rule_subject`, as
        (field of the effect, reason), None when it can: a metric to read, a subject
        reachable from the episode's, and a metric kept per that subject."""
        name = self.metric or rule_metric
        if name is None:
            return "metric", "an event rule's effect must name the metric it aims at"
        kind = self.subject_kind(rule_subject)
        if not EFFECT_SUBJECTS[rule_subject]:
            return "subject", (f"no metric is kept per {rule_subject}, so the actions of a "
                               f"{rule_subject} rule have no effect to check")
        if kind not in EFFECT_SUBJECTS[rule_subject]:
            possible = ", ".join(("same", *EFFECT_SUBJECTS[rule_subject][1:]))
            return "subject", (f"a {rule_subject} episode has no {kind} to read an effect on "
                               f"(possible: {possible})")
        m = METRICS_BY_NAME[name]
        if m.mart not in SUBJECT_MARTS[kind]:
            fits = [s for s, marts in SUBJECT_MARTS.items() if m.mart in marts]
            return "metric", (f"{name} is kept in {m.mart}, which cannot be read per {kind} "
                              f"(it is kept per {' or '.join(fits) or 'no subject'})")
        if m.is_ratio and not 0 <= self.target.value <= 1:
            return "target.value", (f"{name} is a ratio: the target must lie in [0, 1] "
                                    f"(got {self.target.value:g})")
        return None


class Action(_Strict):
    """Who is asked to do what when the rule fires: a roster role, a channel, a template,
    and optionally the effect the action aims at (overriding the rule's)."""

    id: Id
    role: str
    channel: str
    template: str
    due_hours: Annotated[float, Field(strict=True, gt=0, le=24 * 31, allow_inf_nan=False)] \
        | None = None
    effect: Effect | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        return _known("role", v, ROLES)

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        return _known("channel", v, CHANNELS)

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        return _known("template", v, TEMPLATE_NAMES)


class Escalation(_Strict):
    """Who is told when nobody acknowledged a fired alert in time."""

    after_minutes: Annotated[float, Field(strict=True, gt=0, le=7 * 24 * 60,
                                          allow_inf_nan=False)]
    role: str
    channel: Literal["webhook", "email"] = "email"

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        return _known("role", v, ROLES)


def _checkable(info: ValidationInfo) -> bool:
    """Whether effects can be checked against the rule's metric and subject: exactly one of
    metric and event, valid and fitting the subject (else that is the error reported)."""
    d = info.data
    if not {"metric", "event", "subject"} <= set(d):
        return False
    if (d["metric"] is None) == (d["event"] is None):
        return False
    if d["metric"] is not None:
        return METRICS_BY_NAME[d["metric"]].mart in SUBJECT_MARTS[d["subject"]]
    return d["subject"] in EVENT_SUBJECTS[d["event"]]


class Rule(_Strict):
    """One alert rule. Metric rules run the episode state machine over windows; event
    rules count source events per subject and plant day."""

    id: Id
    description: str = Field(min_length=1)
    metric: str | None = None
    event: str | None = None
    subject: SubjectKind
    condition: Condition
    thresholds_by_line: dict[str, Number] = Field(default_factory=dict)
    for_: int = Field(default=1, alias="for", strict=True, ge=1, le=10_000)
    keep_firing_for: int = Field(default=1, strict=True, ge=1, le=10_000)
    no_data: NoDataPolicy = "keep"
    on_error: ErrorPolicy = "keep"
    labels: dict[str, str] = Field(default_factory=dict)
    notify_resolved: bool = True
    actions: tuple[Action, ...] = ()
    escalation: Escalation | None = None
    effect: Effect | None = Field(default=None, description=(
        "the effect every action aims at unless it declares its own"))

    @field_validator("metric")
    @classmethod
    def _metric_known(cls, v: str | None) -> str | None:
        return v if v is None else _known("metric", v, tuple(METRICS_BY_NAME))

    @field_validator("event")
    @classmethod
    def _event_known(cls, v: str | None) -> str | None:
        return v if v is None else _known("event", v, EVENTS)

    @field_validator("thresholds_by_line")
    @classmethod
    def _lines_known(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        known = (info.context or {}).get("line_ids")
        if known is None:
            known = _bundled_line_ids()
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown line {', '.join(map(repr, unknown))} (known: "
                             f"{', '.join(known)}; lines come from the plant's HR roster "
                             f"and {LINE_CONFIG_FILE})")
        return v

    @field_validator("actions")
    @classmethod
    def _unique_actions(cls, v: tuple[Action, ...], info: ValidationInfo) -> tuple[Action, ...]:
        _no_doubles("action", [a.id for a in v])
        if _checkable(info):
            for a in v:
                problem = a.effect and a.effect.problem(info.data["metric"],
                                                        info.data["subject"])
                if problem:
                    raise ValueError(f"action {a.id}: effect.{problem[0]}: {problem[1]}")
        return v

    @field_validator("effect")
    @classmethod
    def _effect_readable(cls, v: Effect | None, info: ValidationInfo) -> Effect | None:
        if v is not None and _checkable(info):
            problem = v.problem(info.data["metric"], info.data["subject"])
            if problem:
                raise ValueError(f"{problem[0]}: {problem[1]}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if (self.metric is None) == (self.event is None):
            has = "both" if self.metric else "neither"
            raise ValueError(f"a rule needs exactly one of metric and event (has {has})")
        c = self.condition
        if self.metric is not None:
            if c.op is None or c.threshold is None:
                raise ValueError("condition: a metric rule needs op and threshold")
            if c.count_at_least is not None or c.per is not None:
                raise ValueError("condition: count_at_least/per belong to event rules")
            m = METRICS_BY_NAME[self.metric]
            if m.mart not in SUBJECT_MARTS[self.subject]:
                fits = [s for s, marts in SUBJECT_MARTS.items() if m.mart in marts]
                if not fits:
                    raise ValueError(f"metric: {self.metric} is kept in {m.mart}, whose rows "
                                     "are no team, line, device or person: no rule can watch it")
                raise ValueError(f"subject: {self.metric} is kept per {m.mart}, so the subject "
                                 f"must be {' or '.join(fits)}, not {self.subject}")
            if c.against_days is not None and m.mart != DELIVERY_HOURLY:
                raise ValueError(f"condition: against_days needs day windows; {self.metric} is "
                                 f"judged per {m.mart} window")
            if m.is_ratio and c.against_days is not None:
                out = {k: t for k, t in self.thresholds.items() if not -1 <= t <= 1}
                if out:
                    raise ValueError(f"{self.metric} is a ratio: a change against the last "
                                     "days lies in [-1, 1]")
            elif m.is_ratio:
                out = {k: t for k, t in self.thresholds.items() if not 0 <= t <= 1}
                if out:
                    raise ValueError(f"{self.metric} is a ratio: thresholds must lie in [0, 1] "
                                     f"(got {', '.join(f'{k}={t:g}' for k, t in out.items())})")
        else:
            if c.count_at_least is None or c.per is None:
                raise ValueError("condition: an event rule needs count_at_least and per")
            if c.op is not None or c.threshold is not None or c.against_days is not None:
                raise ValueError("condition: op/threshold/against_days belong to metric rules")
            if c.per == "event" and c.count_at_least != 1:
                raise ValueError("condition: per event means each event fires on its own, so "
                                 "count_at_least must be 1")
            fits = EVENT_SUBJECTS[self.event]  # type: ignore[index]
            if self.subject not in fits:
                raise ValueError(f"subject: {self.event} events are attributed to "
                                 f"{' or '.join(fits)}, not {self.subject}")
            stray = sorted({"thresholds_by_line", "for_", "keep_firing_for", "no_data",
                            "on_error", "notify_resolved"} & self.model_fields_set)
            if stray:
                names = ", ".join("for" if s == "for_" else s for s in stray)
                raise ValueError(f"{names}: only metric rules use these (an event rule fires "
                                 "once when the count is reached and never resolves)")
        return self

    @property
    def kind(self) -> Literal["metric", "event"]:
        return "metric" if self.metric is not None else "event"

    @property
    def metric_definition(self) -> Metric | None:
        return METRICS_BY_NAME[self.metric] if self.metric else None

    def effect_of(self, action_id: str) -> Effect | None:
        """The effect action `action_id` aims at: its own, else the rule's; the metric filled
        in with the rule's own when the effect names none. None: nothing to check."""
        action = next((a for a in self.actions if a.id == action_id), None)
        if action is None:  # a route's receiver or an escalation: told, not asked to act
            return None
        effect = action.effect or self.effect
        if effect is None or effect.metric is not None:
            return effect
        return effect.model_copy(update={"metric": self.metric})

    @property
    def thresholds(self) -> dict[str, float]:
        """Every threshold of the rule: the default under key '*' and the per-line ones."""
        out: dict[str, float] = {}
        if self.condition.threshold is not None:
            out["*"] = self.condition.threshold
        out.update(self.thresholds_by_line)
        return out

    def threshold_for(self, line_id: str | None) -> float:
        """The threshold of the subject's line: its override, else the rule's own."""
        if self.condition.threshold is None:
            raise ValueError(f"rule {self.id} is an event rule and has no threshold")
        if line_id is not None and line_id in self.thresholds_by_line:
            return self.thresholds_by_line[line_id]
        return self.condition.threshold

    def breached(self, value: float, line_id: str | None = None) -> bool:
        """Whether a (non-NULL) value meets the condition on the subject's line."""
        return _OPS[self.condition.op or "<"](value, self.threshold_for(line_id))


class WatchSettings(_Strict):
    """How the source watch sensor reads the source systems live."""

    lateness_seconds: int = Field(default=60, strict=True, ge=0, le=86_400, description=(
        "an hour is judged once a record this much past its end has arrived; records "
        "arriving later for a judged hour are left to the warehouse"))
    lookback_hours: int = Field(default=2, strict=True, ge=0, le=24 * 31, description=(
        "how far back the first tick of a new cursor reads (older hours are the "
        "rules asset's)"))


class RuleSet(_Strict):
    """rules.yaml as a whole: a human version label, the rules (ids unique) and how the
    source watch sensor reads the sources."""

    version: str = Field(min_length=1, max_length=100)
    rules: tuple[Rule, ...] = ()
    watch: WatchSettings = WatchSettings()
    _content_hash: str = PrivateAttr(default="")

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: tuple[Rule, ...]) -> tuple[Rule, ...]:
        _no_doubles("rule", [r.id for r in v])
        return v

    @property
    def content_hash(self) -> str:
        """First 12 hex digits of the sha256 of the file text ('' when not read from a file):
        the version label is edited by hand, the hash says which exact text ran."""
        return self._content_hash

    @property
    def stamp(self) -> str:
        """Version label and content hash together, for rows that record which rules ran."""
        return f"{self.version}@{self.content_hash}" if self.content_hash else self.version

    def rule(self, rule_id: str) -> Rule:
        """The rule `rule_id`; KeyError names the known ones."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r} (known: {', '.join(r.id for r in self.rules)})")

    @property
    def metric_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.metric is not None)

    @property
    def event_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.event is not None)


@cache
def _bundled_line_ids() -> tuple[str, ...]:
    return _line_ids_for(BUNDLED_RULES)[0] or ()


def _line_ids_for(rules_path: Path) -> tuple[tuple[str, ...] | None, Path]:
    """The plant's line ids: the production lines of the roster beside the rules file (a
    config folder's scenarios/default.yaml, else the bundled plant's) and the lines the
    line config beside it names."""
    from perf_orchestration.goals.subjects import PRODUCTION_LINE_TYPES, roster_for

    beside = rules_path.parent / LINE_CONFIG_FILE
    source = beside if beside.exists() else None
    try:
        config = load_line_config(source)
        roster = roster_for(rules_path.parent)
    except ConfigError:
        return None, beside
    lines = [li for li, kind in roster.lines.items() if kind in PRODUCTION_LINE_TYPES]
    return tuple(dict.fromkeys([*lines, *(str(line.id) for line in config.lines)])), beside


def _ids_for_messages(data: Any) -> Any:
    """A copy of the data whose action ids read 'rule-id/action-id', so that an error inside
    an action names the rule too (validation_problems reports the innermost entry id)."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        return data
    rules = []
    for r in data["rules"]:
        if isinstance(r, dict) and isinstance(r.get("id"), str) \
                and isinstance(r.get("actions"), list):
            actions = [{**a, "id": f"{r['id']}/{a['id']}"}
                       if isinstance(a, dict) and isinstance(a.get("id"), str) else a
                       for a in r["actions"]]
            r = {**r, "actions": actions}
        rules.append(r)
    return {**data, "rules": rules}


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Read and validate a rules file (default: the bundled one), or raise ConfigError.

    Line ids in thresholds_by_line are checked against the plant's lines: those of the
    roster beside the rules file (a plant config folder's scenario) or the bundled plant's,
    and those the line_metrics.yaml beside it names.
    """
    path = Path(path) if path else BUNDLED_RULES
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    line_ids, line_file = _line_ids_for(path)
    if line_ids is None:
        uses_lines = isinstance(data.get("rules"), list) and any(
            isinstance(r, dict) and r.get("thresholds_by_line") for r in data["rules"])
        if uses_lines:
            raise ConfigError([f"{path}: rules: thresholds_by_line cannot be checked because "
                               f"{line_file} is invalid (see its own errors)"])
        line_ids = ()
    try:
        ruleset = RuleSet.model_validate(data, context={"line_ids": line_ids})
    except ValidationError as err:
        raise ConfigError(validation_problems(str(path), err, _ids_for_messages(data))) from None
    text = path.read_text(encoding="utf-8")
    ruleset._content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return ruleset
