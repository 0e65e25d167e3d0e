"""calibration.yaml: elastic weights, rules that re-weight goals when the business changes.

A rule names a trigger seen in source data (a new sales channel in the CRM) and a goal
whose weight becomes `weight` percent from the moment of the trigger; its siblings scale
down (or up) in proportion so the sum stays 100. Each applied rule is a new weight
version with an effective-from time; ops.weight_changes records every change and what
triggered it, and scores use the weights valid at the end of their period.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, parse_yaml, validation_problems
from perf_orchestration.goals.config import Id
from perf_orchestration.goals.tree import GOALS_FILE, GoalTree, load_goals

CALIBRATION_FILE = "calibration.yaml"
BUNDLED_CALIBRATION = bundled_file(CALIBRATION_FILE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    """What in the data sets the rule off: a CRM sales channel's first opportunity."""

    new_crm_channel: str = Field(min_length=1, description="channel of crm_opportunities")


class CalibrationRule(_Strict):
    """Give `goal` the weight `weight` from the moment `when` first holds."""

    id: Id
    description: str = Field(min_length=1)
    when: Trigger
    goal: str
    weight: Annotated[float, Field(gt=0, lt=100)]

    @model_validator(mode="after")
    def _goal_known(self, info: ValidationInfo) -> CalibrationRule:
        tree: GoalTree | None = (info.context or {}).get("tree")
        if tree is None:
            return self
        if self.goal not in tree.by_id:
            if tree.skipped:  # its template may be one this plant cannot use
                return self
            raise ValueError(f"goal: unknown goal {self.goal!r} (not in {GOALS_FILE})")
        parent = tree.by_id[self.goal].parent
        if parent is None or len(tree.children(parent)) < 2:
            raise ValueError(f"goal: {self.goal} has no siblings, so its weight cannot change "
                             "(siblings scale to keep the sum at 100)")
        return self


class Calibration(_Strict):
    version: str = Field(min_length=1, max_length=100)
    rules: tuple[CalibrationRule, ...] = ()


@dataclass(frozen=True)
class WeightChange:
    """One goal's weight changed by one rule, from `effective_from` (UTC)."""

    rule_id: str
    goal_id: str
    parent_id: str
    old_weight: float
    new_weight: float
    effective_from: datetime
    trigger: str
    trigger_record_id: str
    weight_version: str


def load_calibration(path: Path | str | None = None, tree: GoalTree | None = None) \
        -> Calibration:
    """Read calibration.yaml, its goals checked against the goals.yaml beside it."""
    path = Path(path) if path else BUNDLED_CALIBRATION
    data = parse_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    if tree is None:
        beside = path.parent / GOALS_FILE
        try:
            tree = load_goals(beside if beside.exists() else None)
        except ConfigError:
            raise ConfigError([f"{path}: goals cannot be checked because {beside} is "
                               "invalid (see its own errors)"]) from None
    try:
        return Calibration.model_validate(data, context={"tree": tree})
    except ValidationError as err:
        raise ConfigError(validation_problems(str(path), err, data)) from None


def rescale(weights: dict[str, float], goal_id: str, new_weight: float) -> dict[str, float]:
    """Siblings' weights with `goal_id` set to `new_weight` and the others scaled in
    proportion so the sum stays 100 (to 0.01; the rounding rest goes to the largest)."""
    others = {g: w for g, w in weights.items() if g != goal_id}
    rest = sum(others.values())
    out = {g: round(w * (100 - new_weight) / rest, 2) for g, w in others.items()}
    out[goal_id] = round(new_weight, 2)
    largest = max(others, key=lambda g: (others[g], g))
    out[largest] = round(out[largest] + 100 - sum(out.values()), 2)
    return {g: out[g] for g in weights}


def first_channel_record(engine: sa.Engine, channel: str) -> tuple[datetime, str] | None:
    """When and in which CRM record a sales channel first appears, or None."""
    sql = sa.text("select changed_at, source_record_id from raw.crm_opportunities "
                  "where channel = :channel order by changed_at, source_record_id limit 1")
    if "crm_opportunities" not in sa.inspect(engine).get_table_names(schema="raw"):
        return None
    with engine.connect() as conn:
        row = conn.execute(sql, {"channel": channel}).first()
    if row is None:
        return None
    at = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    return at, row[1]


def weight_changes(engine: sa.Engine, tree: GoalTree, calibration: Calibration) \
        -> list[WeightChange]:
    """Every change the rules make, in effective order, from the triggers in the data."""
    fired = []
    for rule in calibration.rules:
        if rule.goal not in tree.by_id:
            continue  # a goal of a template the plant does not use
        found = first_channel_record(engine, rule.when.new_crm_channel)
        if found is not None:
            fired.append((found[0], rule, found[1]))
    weights = tree.base_weights()
    version = tree.file.version
    changes: list[WeightChange] = []
    for at, rule, record in sorted(fired, key=lambda f: (f[0], f[1].id)):
        parent = tree.goal(rule.goal).parent
        siblings = {g.id: weights[g.id] for g in tree.children(parent)}  # type: ignore[arg-type]
        new = rescale(siblings, rule.goal, rule.weight)
        version = f"{version}+{rule.id}"
        trigger = (f"new CRM channel {rule.when.new_crm_channel!r}: first opportunity "
                   f"{record} at {at:%Y-%m-%d %H:%M} UTC")
        for goal_id, w in new.items():
            changes.append(WeightChange(rule.id, goal_id, parent, siblings[goal_id], w,  # type: ignore[arg-type]
                                        at, trigger, record, version))
            weights[goal_id] = w
    return changes


@dataclass(frozen=True)
class WeightSchedule:
    """The base weights and every change after them: which weights held when."""

    base: dict[str, float]
    base_version: str
    changes: tuple[WeightChange, ...]

    def at(self, moment: datetime) -> tuple[dict[str, float], str]:
        """Weights in force at `moment` (UTC) and their version label."""
        weights, version = dict(self.base), self.base_version
        for c in self.changes:
            if c.effective_from <= moment:
                weights[c.goal_id] = c.new_weight
                version = c.weight_version
        return weights, version


def calibration_hash(path: Path | None) -> str:
    text = (path or BUNDLED_CALIBRATION).read_text(encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
