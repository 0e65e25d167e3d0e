"""The group file: the plants of one deployment and the goals rolled up over them.

```yaml
name: Northern group
plants:
  - {id: SH1, name: Shanghai, scenario: plants/sh1.yaml}
  - {id: BER, name: Berlin, scenario: plants/ber.yaml, config: config/ber}
goals:
  - {id: group-first-pass-yield, goal: plant-first-pass-yield, target: 0.965}
```

Paths are relative to the group file. A plant id named anywhere in the file that is not
one of `plants` is refused, naming the file and the plant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from perf_orchestration.config.loading import ConfigError, load_model, parse_yaml
from perf_orchestration.deploy.checks import SettingError
from perf_orchestration.goals.config import HealthBands
from perf_orchestration.group.plant import PLANT_ID_PATTERN

PlantId = Annotated[str, Field(pattern=PLANT_ID_PATTERN.pattern,
                               description="e.g. SH1; upper case, digits and dashes")]


class GroupError(SettingError):
    """A plant the group layer cannot read or does not know; the message names it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GroupPlant(_Strict):
    id: PlantId
    name: str = Field(min_length=1)
    scenario: str | None = Field(default=None, description="the plant's scenario (demo)")
    config: str | None = Field(default=None, description="the plant's config folder")


class GroupGoal(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str | None = None
    goal: str = Field(min_length=1, description="the plant goal id rolled up")
    target: float = Field(gt=0)
    direction: str = Field(default="higher", pattern="^(higher|lower)$")
    weight: float = Field(default=1, gt=0)
    plants: tuple[PlantId, ...] | None = Field(default=None,
                                               description="default: every plant")


class GroupFile(_Strict):
    name: str = Field(default="group", min_length=1)
    description: str = ""
    plants: tuple[GroupPlant, ...] = Field(min_length=1)
    goals: tuple[GroupGoal, ...] = Field(min_length=1)
    health: HealthBands = HealthBands()

    def plant(self, plant_id: str) -> GroupPlant:
        return next(p for p in self.plants if p.id == plant_id)

    def plants_of(self, goal: GroupGoal) -> tuple[str, ...]:
        return goal.plants or tuple(p.id for p in self.plants)


def is_group_file(path: str | Path | None) -> bool:
    """A group file has `plants` at its top level (a scenario never does)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        data = parse_yaml(Path(path))
    except ConfigError:
        return False
    return isinstance(data, dict) and "plants" in data


def load_group(path: str | Path) -> GroupFile:
    """Read and validate a group file; its plants' scenario and config paths must exist."""
    path = Path(path)
    group = load_model(path, GroupFile)
    problems = [f"{path}: {line}" for line in _id_problems(group)]
    for n, plant in enumerate(group.plants):
        for field in ("scenario", "config"):
            value = getattr(plant, field)
            if value is not None and not (path.parent / value).exists():
                problems.append(f"{path}: plants[{n}].{field} (id {plant.id}): "
                                f"{path.parent / value} does not exist")
    if problems:
        raise ConfigError(problems)
    return group


def load_group_and_plants(path: str | Path) -> GroupFile:
    """The group file, each plant's scenario and each plant's config folder, all checked;
    every problem is one line naming the group file and the plant."""
    from perf_orchestration.config.files import validate_config_dir
    from perf_orchestration.scenarios.config import load_scenario

    path = Path(path)
    group = load_group(path)
    problems = []
    for n, plant in enumerate(group.plants):
        where = f"{path}: plants[{n}] (id {plant.id})"
        scenario = resolved(path, plant.scenario)
        if plant.config:
            found, _ = validate_config_dir(resolved(path, plant.config),
                                           [scenario] if scenario else [])
            problems += [f"{where}: {line}" for line in found]
        elif scenario:
            try:
                load_scenario(scenario)
            except ConfigError as err:
                problems += [f"{where}: {line}" for line in err.problems]
    if problems:
        raise ConfigError(problems)
    return group


def _id_problems(group: GroupFile) -> list[str]:
    """Ids given twice, and plant ids the file names but does not configure."""
    problems = []
    for label, ids in (("plants", [p.id for p in group.plants]),
                       ("goals", [g.id for g in group.goals])):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        problems += [f"{label}: id {i} is given twice" for i in twice]
    known = [p.id for p in group.plants]
    for n, goal in enumerate(group.goals):
        for plant in goal.plants or ():
            if plant not in known:
                problems.append(f"goals[{n}].plants (id {goal.id}): plant {plant} is not "
                                f"configured (plants: {', '.join(known)})")
    return problems


def resolved(path: str | Path, value: str | None) -> Path | None:
    """A path of the group file, relative to the file's folder."""
    return None if value is None else (Path(path).parent / value).resolve()
