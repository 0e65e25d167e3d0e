"""The goal tree as a whole: parents, cycles, paths to a root and sibling weights.

`load_goals` reads goals.yaml, validates each goal (goals.config) and then the tree, and
returns a `GoalTree` with the config version (the file's human label and content hash)
that every score row records, so a score can be reproduced from the exact text that ran.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.loading import ConfigError, parse_yaml, validation_problems
from perf_orchestration.goals.config import LEVELS, Goal, GoalsFile
from perf_orchestration.goals.expand import expand, served_lines
from perf_orchestration.goals.subjects import KnownRoster, bundled_roster, roster_for

GOALS_FILE = "goals.yaml"
BUNDLED_GOALS = bundled_file(GOALS_FILE)
WEIGHT_TOLERANCE = 0.01


@dataclass
class GoalTree:
    """A validated goals.yaml with lookups by id, children and the path to the root."""

    file: GoalsFile
    content_hash: str = ""
    path: Path | None = None
    skipped: tuple[str, ...] = ()  # templates the plant cannot use, with the reason
    serves: dict[str, tuple[str, ...]] = field(default_factory=dict)  # centre -> its lines
    by_id: dict[str, Goal] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {g.id: g for g in self.file.goals}

    @property
    def goals(self) -> tuple[Goal, ...]:
        return self.file.goals

    @property
    def version(self) -> str:
        """Human label and content hash, e.g. V2.3.7-line@3f2a9c01d4e5."""
        return f"{self.file.version}@{self.content_hash}" if self.content_hash \
            else self.file.version

    def goal(self, goal_id: str) -> Goal:
        try:
            return self.by_id[goal_id]
        except KeyError:
            raise KeyError(f"no goal {goal_id!r} in {self.path or GOALS_FILE}") from None

    def children(self, goal_id: str) -> list[Goal]:
        return [g for g in self.goals if g.parent == goal_id]

    def path_to_root(self, goal_id: str) -> list[Goal]:
        """The goal, its parent, ... up to its root (the tree is known to be acyclic)."""
        out = [self.goal(goal_id)]
        while out[-1].parent is not None:
            out.append(self.goal(out[-1].parent))
        return out

    def bottom_up(self) -> list[Goal]:
        """Every goal, deepest first, so a rollup sees children before their parent."""
        return sorted(self.goals, key=lambda g: -len(self.path_to_root(g.id)))

    def base_weights(self) -> dict[str, float]:
        return {g.id: g.weight for g in self.goals if g.weight is not None}


def _raw_goals(data: dict) -> tuple[Any, ...]:
    """The id, parent, level and weight of every readable goal entry, for tree checks on a
    file whose goals do not all validate (so both kinds of problem show at once)."""
    out = []
    templates = data.get("templates")
    for t in templates if isinstance(templates, list) else []:
        goals = t.get("goals") if isinstance(t, dict) else None
        for g in goals if isinstance(goals, list) else []:
            if not isinstance(g, dict) or not isinstance(g.get("id"), str):
                continue
            weight = g.get("weight")
            out.append(SimpleNamespace(
                id=g["id"], parent=g.get("parent") if isinstance(g.get("parent"), str) else None,
                level=g.get("level") if g.get("level") in LEVELS else None,
                weight=weight if isinstance(weight, int | float) and weight > 0 else None))
    return tuple(out)


def tree_problems(source: str, goals: tuple[Goal, ...]) -> list[str]:
    """One line per broken-tree problem, naming the file and the goal id."""
    by_id: dict[str, Goal] = {}
    problems: list[str] = []
    for g in goals:
        if g.id in by_id:
            problems.append(f"{source}: goal {g.id}: id listed twice")
        by_id[g.id] = g

    def say(goal: Goal, msg: str) -> None:
        problems.append(f"{source}: goal {goal.id}: {msg}")

    for g in goals:
        if g.parent is None:
            if g.level not in ("company", None):
                say(g, f"path does not reach a root: a {g.level} goal needs a parent (only "
                    "company goals are roots)")
            continue
        parent = by_id.get(g.parent)
        if parent is None:
            say(g, f"parent: unknown goal {g.parent!r}")
            continue
        if parent.level and g.level and g.parent != g.id \
                and LEVELS.index(parent.level) >= LEVELS.index(g.level):
            say(g, f"level: a {g.level} goal cannot sit under the {parent.level} goal "
                f"{parent.id} (company -> department -> team -> person)")
        period, parent_period = (getattr(getattr(x, "source", None), "period", None)
                                 for x in (g, parent))
        if period and parent_period and period != parent_period:
            say(g, f"period: {period}, but its parent {parent.id} is scored per "
                f"{parent_period}; a rollup needs children of the parent's period")
    problems += _cycles_and_orphans(source, goals, by_id)
    problems += _weights(source, goals, by_id)
    return problems


def _cycles_and_orphans(source: str, goals: tuple[Goal, ...], by_id: dict[str, Goal]):
    out: list[str] = []
    for g in goals:
        seen = [g.id]
        node = g
        while node.parent is not None and node.parent in by_id:
            node = by_id[node.parent]
            if node.id in seen:
                cycle = seen[seen.index(node.id):] + [node.id]
                if g.id == min(cycle):  # report each cycle once, on its smallest id
                    out.append(f"{source}: goal {g.id}: cycle: {' -> '.join(cycle)}; the path "
                               "never reaches a root")
                break
            seen.append(node.id)
        else:
            if node.id != g.id and node.parent is None and node.level not in ("company", None):
                out.append(f"{source}: goal {g.id}: path does not reach a root: it ends at "
                           f"{node.id}, a {node.level} goal without a parent")
    return out


def _weights(source: str, goals: tuple[Goal, ...], by_id: dict[str, Goal]) -> list[str]:
    out: list[str] = []
    for parent_id in dict.fromkeys(g.parent for g in goals if g.parent in by_id):
        kids = [g for g in goals if g.parent == parent_id and g.weight is not None]
        total = sum(k.weight for k in kids)  # type: ignore[misc]
        if kids and abs(total - 100) > WEIGHT_TOLERANCE:
            parts = ", ".join(f"{k.id} {k.weight:g}" for k in kids)
            out.append(f"{source}: goal {parent_id}: weights of its children add up to "
                       f"{total:g}%, not 100% ({parts})")
    return out


def load_goals(path: Path | str | None = None, roster: KnownRoster | None = None) -> GoalTree:
    """Read goals.yaml (default: the bundled one), expand its templates over the plant's
    roster and validate the result, or raise ConfigError.

    The roster is the one given (at run time, the HR roster in the warehouse), else that of
    the scenario beside the file (a config folder's scenarios/default.yaml), else the
    bundled scenario's. The content hash covers the file and the goals it expanded to.
    """
    path = Path(path) if path else BUNDLED_GOALS
    raw = parse_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: (top level): expected a mapping of fields"])
    if roster is None:
        roster = roster_for(path.parent) if path != BUNDLED_GOALS else bundled_roster()
    expansion = expand(str(path), raw, roster)
    data = expansion.data
    if expansion.problems:
        raise ConfigError(expansion.problems)
    try:
        file = GoalsFile.model_validate(data, context={"roster": roster})
    except ValidationError as err:
        problems = validation_problems(str(path), err, data)
        raise ConfigError(problems + tree_problems(str(path), _raw_goals(data))) from None
    problems = tree_problems(str(path), file.goals)
    if problems:
        raise ConfigError(problems)
    text = path.read_text(encoding="utf-8") + json.dumps(data, sort_keys=True, default=str)
    serves = {team: tuple(served_lines(roster, raw.get("serves") or {}, team))
              for team, (_, kind) in roster.teams.items() if kind == "technical_centre"}
    return GoalTree(file, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], path,
                    tuple(expansion.skipped), serves)
