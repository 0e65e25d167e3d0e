"""routing.yaml: how notifications are grouped, timed, inhibited and muted.

Like Alertmanager's configuration, over the labels of an alert episode (the rule's
labels plus `rule_id`, `team`, `line`, `line_type`, `device` and `subject`):

- `route`: a tree; the root matches every alert, a child matches when all its `match`
  labels equal the alert's; the first matching child is taken (more with `continue`).
  Each route inherits `group_by` and the three timers from its parent.
- `inhibit_rules`: while an alert matching `source` fires, alerts matching `target` with
  the same values of the `equal` labels are muted (recorded, not sent).
- `mute_windows`: recurring plant-time windows (weekdays, a time range, or holidays) in
  which matching alerts are held; what still matters when the window ends is sent then.

Ad-hoc silences are data, not config: `perfflow silence add|list|expire`, `ops.silences`.
"""

from __future__ import annotations

import hashlib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from perf_orchestration.alerting.notifications.schedule import ScheduleMute
from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, parse_yaml, validation_problems

ROUTING_FILE = "routing.yaml"
BUNDLED_ROUTING = bundled_file(ROUTING_FILE)
LABELS = ("rule_id", "team", "line", "line_type", "device", "subject", "severity", "domain",
          "kind")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Seconds = Annotated[int, Field(strict=True, ge=0, le=7 * 86_400)]
Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Matchers = dict[str, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _label_names(kind: str, labels: list[str] | dict) -> None:
    unknown = sorted(set(labels) - set(LABELS))
    if unknown:
        raise ValueError(f"{kind}: unknown label {', '.join(map(repr, unknown))} (known: "
                         f"{', '.join(LABELS)})")


class Route(_Strict):
    id: Id
    match: Matchers = Field(default_factory=dict)
    group_by: tuple[str, ...] | None = None
    group_wait_seconds: Seconds | None = None
    group_interval_seconds: Seconds | None = None
    repeat_interval_seconds: Seconds | None = None
    continue_: bool = Field(default=False, alias="continue")
    receivers: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()

    @field_validator("match")
    @classmethod
    def _match_labels(cls, v: Matchers) -> Matchers:
        _label_names("match", v)
        return v

    @field_validator("group_by")
    @classmethod
    def _group_labels(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None:
            _label_names("group_by", list(v))
        return v

    @model_validator(mode="after")
    def _children_reachable(self) -> Route:
        for i, first in enumerate(self.routes):
            if first.continue_:
                continue
            for later in self.routes[i + 1:]:
                if not first.match or first.match.items() <= later.match.items():
                    raise ValueError(f"routes {first.id!r} and {later.id!r}: every alert "
                                     f"{later.id!r} matches is taken by {first.id!r}, which "
                                     f"does not continue, so {later.id!r} is never reached")
        return self


class InhibitRule(_Strict):
    id: Id
    source: Matchers = Field(min_length=1)
    target: Matchers = Field(min_length=1)
    equal: tuple[str, ...] = ()
    source_active_hours: float = Field(default=8.0, gt=0, le=24 * 7, description=(
        "how long an event alert (which never resolves) inhibits after it fired"))

    @model_validator(mode="after")
    def _not_itself(self) -> InhibitRule:
        _label_names("source", self.source)
        _label_names("target", self.target)
        _label_names("equal", list(self.equal))
        # every source alert would also be a target: the rule would inhibit itself
        if self.target.items() <= self.source.items():
            raise ValueError("every alert matching source also matches target, so the rule "
                             "would inhibit its own source; narrow target")
        return self


class MuteWindow(_Strict):
    """Recurring plant-time window: weekdays with a time range, or whole holidays."""

    id: Id
    match: Matchers = Field(default_factory=dict)
    weekdays: tuple[Weekday, ...] = ()
    start: time | None = None
    end: time | None = None
    dates: tuple[date, ...] = ()
    reason: str = Field(min_length=1)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        # a plant clock time as "HH:MM": a number would be read as seconds since the epoch
        # in UTC, and an offset has no meaning in plant time
        if isinstance(value, bool | int | float):
            raise ValueError(f"{value!r} is not a clock time; write it as \"HH:MM\" (plant time)")
        return value

    @field_validator("start", "end")
    @classmethod
    def _plant_time(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(f"{value} carries a UTC offset; mute windows are in plant time, "
                             "write \"HH:MM\"")
        return value

    @model_validator(mode="after")
    def _shape(self) -> MuteWindow:
        _label_names("match", self.match)
        if not self.dates and not self.weekdays:
            raise ValueError("a mute window needs weekdays (with start and end) or dates")
        if self.weekdays and (self.start is None or self.end is None):
            raise ValueError("weekdays need start and end times (plant time)")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start} (split a window "
                             "that crosses midnight in two)")
        return self


class Receiver(_Strict):
    """Who else is told of the alerts a route takes, besides the rule's own actions: the
    holders of roles for the alert's subject, or named employees, on one channel."""

    id: Id
    roles: tuple[str, ...] = ()
    people: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")], ...] = ()
    channel: Literal["webhook", "email"]

    @model_validator(mode="after")
    def _someone(self) -> Receiver:
        from perf_orchestration.ingestion.entities import ROLES

        if bool(self.roles) == bool(self.people):
            raise ValueError("a receiver names roles or people (exactly one of the two)")
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role {', '.join(map(repr, unknown))} (known: "
                             f"{', '.join(ROLES)})")
        return self


class RoutingConfig(_Strict):
    version: str = Field(min_length=1, max_length=100)
    receivers: tuple[Receiver, ...] = ()
    route: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()
    mute_windows: tuple[MuteWindow, ...] = ()
    schedule_mutes: tuple[ScheduleMute, ...] = ()
    content_hash: str = ""

    @model_validator(mode="after")
    def _root(self) -> RoutingConfig:
        r = self.route
        if r.match:
            raise ValueError("route: the root route matches every alert; give it no match")
        missing = [k for k in ("group_by", "group_wait_seconds", "group_interval_seconds",
                               "repeat_interval_seconds") if getattr(r, k) is None]
        if missing:
            raise ValueError(f"route: the root route must set {', '.join(missing)} (children "
                             "inherit them)")
        ids = [x.id for x in self.all_routes()]
        known = {x.id for x in self.receivers}
        for route in self.all_routes():
            unknown = [x for x in route.receivers if x not in known]
            if unknown:
                raise ValueError(f"route {route.id!r}: unknown receiver "
                                 f"{', '.join(map(repr, unknown))} (known: "
                                 f"{', '.join(sorted(known)) or 'none'})")
        for kind, items in (("receiver", [x.id for x in self.receivers]), ("route", ids),
                            ("inhibit rule", [i.id for i in self.inhibit_rules]),
                            ("mute window", [m.id for m in self.mute_windows]),
                            ("schedule mute", [m.id for m in self.schedule_mutes])):
            doubled = sorted({i for i in items if items.count(i) > 1})
            if doubled:
                raise ValueError(f"{kind} ids listed twice: {', '.join(doubled)}")
        return self

    def receiver(self, receiver_id: str) -> Receiver:
        return next(x for x in self.receivers if x.id == receiver_id)

    def all_routes(self) -> list[Route]:
        out, stack = [], [self.route]
        while stack:
            r = stack.pop(0)
            out.append(r)
            stack = list(r.routes) + stack
        return out


def load_routing(path: Path | str | None = None) -> RoutingConfig:
    """Read and validate a routing file (default: the bundled one), or raise ConfigError."""
    path = Path(path) if path else BUNDLED_ROUTING
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    text = path.read_text(encoding="utf-8")
    try:
        return RoutingConfig.model_validate(
            {**data, "content_hash": hashlib.sha256(text.encode()).hexdigest()[:12]})
    except ValidationError as err:
        raise ConfigError(validation_problems(str(path), err, data)) from None
