"""Which config file holds what: the table `perfflow validate` walks.

A plant config folder holds named files (line_metrics.yaml, rules.yaml, routing.yaml,
goals.yaml, calibration.yaml, feedback.yaml, badges.yaml, onboarding.yaml, workbooks.yaml)
and a scenarios/ folder; each is validated by its pydantic model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from perf_orchestration.alertmanager.config import ROUTING_FILE, RoutingConfig, load_routing
from perf_orchestration.configfile import ConfigError
from perf_orchestration.goals import CALIBRATION_FILE, GOALS_FILE, load_calibration, load_goals
from perf_orchestration.line_config import load_line_config
from perf_orchestration.people.config import (
    BADGES_FILE,
    FEEDBACK_FILE,
    ONBOARDING_FILE,
    load_badges,
    load_feedback,
    load_onboarding,
)
from perf_orchestration.rules import RULES_FILE, RuleSet, load_rules
from perf_orchestration.scenario import load_scenario
from perf_orchestration.workbooks.config import WORKBOOKS_FILE, load_workbook_config

CONFIG_DIR_ENV = "PERFFLOW_CONFIG_DIR"

# file name inside the config folder -> loader raising ConfigError
NAMED_FILES: dict[str, Callable[[Path], object]] = {
    "line_metrics.yaml": load_line_config,
    RULES_FILE: load_rules,
    ROUTING_FILE: load_routing,
    GOALS_FILE: load_goals,
    CALIBRATION_FILE: load_calibration,
    FEEDBACK_FILE: load_feedback,
    BADGES_FILE: load_badges,
    ONBOARDING_FILE: load_onboarding,
    WORKBOOKS_FILE: load_workbook_config,
}


def plant_rules(directory: str | Path | None = None) -> RuleSet:
    """The rules in force: the config folder's rules.yaml, or the bundled one."""
    path = config_dir(directory) / RULES_FILE
    return load_rules(path if path.exists() else None)


def plant_workbooks(directory: str | Path | None = None):
    """The workbook kinds in force: the config folder's workbooks.yaml, or the bundled one."""
    path = config_dir(directory) / WORKBOOKS_FILE
    return load_workbook_config(path if path.exists() else None)


def plant_routing(directory: str | Path | None = None) -> RoutingConfig:
    """The notification routing in force: the config folder's routing.yaml, or the
    bundled one."""
    path = config_dir(directory) / ROUTING_FILE
    return load_routing(path if path.exists() else None)


def bundled_config_dir() -> Path:
    return Path(str(resources.files("perf_orchestration")))


def config_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env) if env else bundled_config_dir()


def validate_config_dir(directory: Path, extra_scenarios: list[Path] = ()) -> tuple[list[str], int]:
    """Every problem in the folder's known files and scenarios, and how many files were read."""
    problems: list[str] = []
    checked = 0
    if not directory.is_dir():
        return [f"{directory}: not a folder"], 0
    jobs: list[tuple[Path, Callable[[Path], object]]] = []
    for name, loader in NAMED_FILES.items():
        if (directory / name).exists():
            jobs.append((directory / name, loader))
    jobs += [(p, load_scenario) for p in sorted((directory / "scenarios").glob("*.yaml"))]
    jobs += [(Path(p), load_scenario) for p in extra_scenarios]
    for path, loader in jobs:
        checked += 1
        try:
            loader(path)
        except ConfigError as err:
            problems.extend(err.problems)
    return problems, checked
