"""Goal templates expanded over the plant's own teams, lines, technical centres and people.

The bundled goals.yaml names no team: an entry with `for_each` is written once per line
type, role or level and becomes one goal per production line, production team, technical
centre, person of some roles, or sales channel of the plant, with `{team}`, `{line}`,
`{workshop}` ... filled in. Weights among generated siblings are relative and scaled to add
up to 100 (a line type's weight over the lines present, a team's over its line's teams).
An explicit goal with the same id as a generated one overrides it, so a plant changes one
team's target without copying the template. A template that `requires` line types or roles
the plant lacks is skipped with a line saying so, instead of scoring goals without data.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from perf_orchestration.config.loading import validation_problems
from perf_orchestration.goals.subjects import PRODUCTION_LINE_TYPES, KnownRoster

KINDS = ("line", "team", "technical_centre", "person", "channel")
GENERATOR_KEYS = ("for_each", "line_types", "roles", "channels", "weight_by")
SERVED_LINES = "{served_lines}"


@dataclass
class Expansion:
    """The goals.yaml data with every generator replaced by its goals."""

    data: dict
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    generated: set[str] = field(default_factory=set)


def slug(value: str) -> str:
    """A goal-id-safe form of a team, line or person id: 'T1' -> 't1', 'Linie 2' -> 'linie-2'."""
    text = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")
    return text or "x" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def _line_type_name(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def served_lines(roster: KnownRoster, serves: dict[str, list[str]], centre: str) -> list[str]:
    """The production lines a technical centre serves: as goals.yaml `serves` says, else all."""
    production = [line for line, kind in roster.lines.items() if kind in PRODUCTION_LINE_TYPES]
    return list(serves.get(centre, production))


def _items(kind: str, spec: dict, roster: KnownRoster, serves: dict) -> list[tuple[str, dict]]:
    """(weight key, placeholder values) for each subject the generator runs over."""
    types = spec.get("line_types") or list(PRODUCTION_LINE_TYPES)
    out: list[tuple[str, dict]] = []
    if kind == "line":
        for line, line_type in roster.lines.items():
            if line_type in types:
                team = next(t for t, (li, _) in roster.teams.items() if li == line)
                out.append((line_type, {"line": line, "line_type": line_type,
                                        "line_type_name": _line_type_name(line_type),
                                        "workshop": roster.workshop(team)}))
    elif kind == "team":
        for team, (line, line_type) in roster.teams.items():
            if line_type in types:
                out.append((line_type, {"team": team, "team_name": roster.team_name(team),
                                        "line": line, "line_type": line_type,
                                        "line_type_name": _line_type_name(line_type),
                                        "workshop": roster.workshop(team)}))
    elif kind == "technical_centre":
        for team, (_, line_type) in roster.teams.items():
            lines = served_lines(roster, serves, team)
            if line_type == "technical_centre" and lines:
                out.append(("technical_centre", {
                    "team": team, "team_name": roster.team_name(team),
                    "workshop": roster.workshop(team), "served_lines": lines,
                    "served_lines_text": ", ".join(lines)}))
    elif kind == "person":
        roles = spec.get("roles") or []
        for person, role in roster.people.items():
            if role in roles:
                out.append((role, {"person": person, "role": role}))
    else:
        out = [(c, {"channel": c}) for c in spec.get("channels") or []]
    return out


def _fill(value: Any, values: dict, slugged: bool) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values, slugged or k in ("id", "parent")) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, slugged) for v in value]
    if not isinstance(value, str):
        return value
    if value == SERVED_LINES:
        return list(values["served_lines"])
    shown = {k: (slug(v) if slugged else v) for k, v in values.items() if isinstance(v, str)}
    return value.format_map(shown)


Name = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeneratorSpec(_Strict):
    """The `for_each` part of a generator entry (the rest is the goal it writes)."""

    for_each: Literal[KINDS]  # type: ignore[valid-type]
    line_types: list[Name] | None = Field(default=None, description="narrow line or team")
    roles: list[Name] | None = Field(default=None, description="roles of a person entry")
    channels: list[Name] | None = Field(default=None, description="channels of a channel entry")
    weight_by: dict[Name, Annotated[float, Field(strict=True, gt=0, le=100)]] | None = Field(
        default=None, description="weight per line type, role or channel")


class Need(_Strict):
    """A template's requirement: a team of one of `line_types` and a person of one of `roles`."""

    line_types: list[Name] = []
    roles: list[Name] = []


class Template(_Strict):
    """The template keys the expansion reads; the goals are validated after it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    requires: Need | list[Need] = []


Serves = TypeAdapter(dict[Name, Annotated[list[Name], Field(min_length=1)]])


def _generator_problems(where: str, entry: dict) -> list[str]:
    spec = {k: v for k, v in entry.items() if k in GENERATOR_KEYS}
    try:
        gen = GeneratorSpec.model_validate(spec)
    except ValidationError as err:
        return validation_problems(where, err)
    problems = []
    if gen.for_each == "person" and not gen.roles:
        problems.append(f"{where}: roles: a goal for each person names the roles it is for")
    if gen.for_each == "channel" and not gen.channels:
        problems.append(f"{where}: channels: a goal for each channel lists the channels")
    return problems


def _requirement(template: dict, roster: KnownRoster) -> str | None:
    """Why the plant cannot use this (validated) template, or None. `requires` is one
    condition or a list of them, all to be met."""
    needs = Template.model_validate(template).requires
    kinds = {kind for _, kind in roster.teams.values()}
    for need in needs if isinstance(needs, list) else [needs]:
        if need.line_types and not kinds & set(need.line_types):
            return f"the plant has no {' or '.join(need.line_types)} team"
        if need.roles and not set(roster.people.values()) & set(need.roles):
            return f"the plant has no {' or '.join(need.roles)}"
    return None


def expand(source: str, data: dict, roster: KnownRoster) -> Expansion:
    """goals.yaml `data` with its generators expanded over `roster` (the input is not changed)."""
    out = copy.deepcopy(data)
    result = Expansion(out)
    serves = out.pop("serves", None) or {}
    try:
        serves = Serves.validate_python(serves)
    except ValidationError as err:
        result.problems += [p.replace(f"{source}: ", f"{source}: serves.", 1)
                            for p in validation_problems(source, err)]
        serves = {}
    result.problems += _serves_problems(source, serves, roster)
    templates = out.get("templates")
    if not isinstance(templates, list):
        return result
    explicit = {g.get("id") for t in templates if isinstance(t, dict)
                for g in (t.get("goals") if isinstance(t.get("goals"), list) else [])
                if isinstance(g, dict) and "for_each" not in g and isinstance(g.get("id"), str)}
    kept = []
    for ti, template in enumerate(templates):
        if not isinstance(template, dict):
            kept.append(template)
            continue
        try:
            why = _requirement(template, roster)
        except ValidationError as err:
            result.problems += validation_problems(f"{source}: templates[{ti}]", err)
            continue
        template.pop("requires", None)
        if why is not None:
            result.skipped.append(f"goals template {template.get('id')}: {why}")
            continue
        goals = template.get("goals")
        if isinstance(goals, list):
            template["goals"] = _expand_goals(source, ti, goals, roster, serves, explicit,
                                              result)
        kept.append(template)
    out["templates"] = kept
    _scale_weights(out, result.generated)
    return result


def _spec_key(goal: Any) -> str | None:
    """What a generator runs over, to group consecutive generators over the same subjects."""
    if not isinstance(goal, dict) or "for_each" not in goal:
        return None
    return repr([goal.get(k) for k in ("for_each", "line_types", "roles", "channels")])


def _runs(goals: list) -> list[list[tuple[int, Any]]]:
    """Consecutive generators of one kind form a run, expanded subject by subject (T1's three
    goals, then T2's); every other entry is a run of its own."""
    runs: list[list[tuple[int, Any]]] = []
    for gi, goal in enumerate(goals):
        key = _spec_key(goal)
        prev = runs[-1][0][1] if runs else None
        if key is not None and key == _spec_key(prev):
            runs[-1].append((gi, goal))
        else:
            runs.append([(gi, goal)])
    return runs


def _expand_goals(source: str, ti: int, goals: list, roster: KnownRoster, serves: dict,
                  explicit: set, result: Expansion) -> list:
    expanded: list = []
    for run in _runs(goals):
        gi, first = run[0]
        if not isinstance(first, dict) or "for_each" not in first:
            expanded.append(first)
            continue
        valid = []
        for gi, goal in run:
            where = f"{source}: templates[{ti}].goals[{gi}]"
            problems = _generator_problems(where, goal)
            result.problems += problems
            if not problems:
                valid.append((where, goal))
        items = _items(first["for_each"], first, roster, serves) if valid else []
        for _, values in items:
            for where, goal in valid:
                made = _generate(where, goal, values, result)
                if made is not None and isinstance(made.get("id"), str) \
                        and made["id"] not in explicit:
                    # an explicit goal of the same id overrides the template's
                    result.generated.add(made.get("id"))
                    expanded.append(made)
    return expanded


def _generate(where: str, goal: dict, values: dict, result: Expansion) -> dict | None:
    body = {k: v for k, v in goal.items() if k not in GENERATOR_KEYS}
    try:
        made = _fill(body, values, False)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError) as err:
        problem = (f"{where}: unknown placeholder {err} for a goal for each "
                   f"{goal['for_each']} (known: {', '.join(values)})")
        if problem not in result.problems:
            result.problems.append(problem)
        return None
    key = values.get("line_type") or values.get("role") or values.get("channel")
    weights = goal.get("weight_by") or {}
    if key in weights:
        made["weight"] = weights[key]
    return made


def _serves_problems(source: str, serves: dict, roster: KnownRoster) -> list[str]:
    problems = []
    for centre, lines in serves.items():
        if roster.teams.get(centre, (None, None))[1] != "technical_centre":
            problems.append(f"{source}: serves.{centre}: not a technical centre of "
                            f"{roster.source}")
        elif not isinstance(lines, list) or not lines:
            problems.append(f"{source}: serves.{centre}: a list of the line ids it serves")
        else:
            known = {li for li, kind in roster.lines.items() if kind in PRODUCTION_LINE_TYPES}
            problems += [f"{source}: serves.{centre}: {line!r} is not a production line of "
                         f"{roster.source} (known: {', '.join(sorted(known))})"
                         for line in lines if line not in known]
    return problems


def _scale_weights(data: dict, generated: set[str]) -> None:
    """Siblings with a generated member get weights scaled to add up to 100."""
    goals = [g for t in data.get("templates") or [] if isinstance(t, dict)
             for g in (t.get("goals") if isinstance(t.get("goals"), list) else [])
             if isinstance(g, dict)]
    by_parent: dict[str, list[dict]] = {}
    for g in goals:
        if isinstance(g.get("parent"), str):
            by_parent.setdefault(g["parent"], []).append(g)
    for kids in by_parent.values():
        weights = [k.get("weight") for k in kids]
        if not any(isinstance(k.get("id"), str) and k["id"] in generated for k in kids) \
                or not all(
                isinstance(w, int | float) and not isinstance(w, bool) and w > 0
                for w in weights):
            continue
        total = sum(weights)
        for k in kids:
            k["weight"] = round(k["weight"] * 100 / total, 6)
