"""Which config file holds what: the table `perfflow validate` walks.

A plant config folder holds named files (line_metrics.yaml, rules.yaml, routing.yaml,
goals.yaml, calibration.yaml, feedback.yaml, badges.yaml, onboarding.yaml, snapshots.yaml,
workbooks.yaml, sources.yaml, complaints.yaml, response_speed.yaml, interfaces.yaml,
causes.yaml) and a scenarios/ folder; each is validated by its pydantic model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from perf_orchestration.alerting.notifications.config import (
    ROUTING_FILE,
    RoutingConfig,
    load_routing,
)
from perf_orchestration.alerting.rules import RULES_FILE, RuleSet, load_rules
from perf_orchestration.breakpoints.config import CAUSES_FILE, CausesConfig, load_causes
from perf_orchestration.config.bundled import bundled_config_dir
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.customers.config import (
    RESPONSE_SPEED_FILE,
    ResponseSpeedConfig,
    load_response_speed,
)
from perf_orchestration.goals import CALIBRATION_FILE, GOALS_FILE, load_calibration, load_goals
from perf_orchestration.ingestion.sources.config import SOURCES_FILE, load_sources_file
from perf_orchestration.interfaces.config import (
    INTERFACES_FILE,
    InterfacesConfig,
    load_interfaces,
)
from perf_orchestration.metrics.lines import load_line_config
from perf_orchestration.people.config import (
    BADGES_FILE,
    FEEDBACK_FILE,
    ONBOARDING_FILE,
    BadgeConfig,
    FeedbackConfig,
    OnboardingConfig,
    load_badges,
    load_feedback,
    load_onboarding,
)
from perf_orchestration.people.snapshot_config import (
    SNAPSHOTS_FILE,
    SnapshotsConfig,
    load_snapshots,
)
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.text.keywords import COMPLAINTS_FILE, ComplaintsConfig, load_complaints
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
    SNAPSHOTS_FILE: load_snapshots,
    WORKBOOKS_FILE: load_workbook_config,
    SOURCES_FILE: load_sources_file,
    COMPLAINTS_FILE: load_complaints,
    RESPONSE_SPEED_FILE: load_response_speed,
    INTERFACES_FILE: load_interfaces,
    CAUSES_FILE: load_causes,
}


def in_force(name: str, directory: str | Path | None = None):
    """The config file `name` in force: the plant config folder's (explicit, else
    $PERFFLOW_CONFIG_DIR), else the bundled one; validated by its loader."""
    path = config_dir(directory) / name
    return NAMED_FILES[name](path if path.exists() else None)


def plant_rules(directory: str | Path | None = None) -> RuleSet:
    return in_force(RULES_FILE, directory)


def plant_workbooks(directory: str | Path | None = None):
    return in_force(WORKBOOKS_FILE, directory)


def plant_routing(directory: str | Path | None = None) -> RoutingConfig:
    return in_force(ROUTING_FILE, directory)


def plant_feedback(directory: str | Path | None = None) -> FeedbackConfig:
    return in_force(FEEDBACK_FILE, directory)


def plant_badges(directory: str | Path | None = None) -> BadgeConfig:
    return in_force(BADGES_FILE, directory)


def plant_onboarding(directory: str | Path | None = None) -> OnboardingConfig:
    return in_force(ONBOARDING_FILE, directory)


def plant_snapshots(directory: str | Path | None = None) -> SnapshotsConfig:
    return in_force(SNAPSHOTS_FILE, directory)


def plant_complaints(directory: str | Path | None = None) -> ComplaintsConfig:
    return in_force(COMPLAINTS_FILE, directory)


def plant_response_speed(directory: str | Path | None = None) -> ResponseSpeedConfig:
    return in_force(RESPONSE_SPEED_FILE, directory)


def plant_interfaces(directory: str | Path | None = None) -> InterfacesConfig:
    return in_force(INTERFACES_FILE, directory)


def plant_causes(directory: str | Path | None = None) -> CausesConfig:
    return in_force(CAUSES_FILE, directory)


def config_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env) if env else bundled_config_dir()


def _group_or_scenario(path: Path) -> Callable[[Path], object]:
    """A group file (plants at the top) is read as one, with its plants' scenarios."""
    from perf_orchestration.group.config import is_group_file, load_group_and_plants

    return load_group_and_plants if is_group_file(path) else load_scenario


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
    scenarios = sorted((directory / "scenarios").glob("*.yaml"))
    scenarios += [Path(p) for p in extra_scenarios]
    jobs += [(p, _group_or_scenario(p)) for p in scenarios]
    for path, loader in jobs:
        checked += 1
        try:
            loader(path)
        except ConfigError as err:
            problems.extend(err.problems)
    return problems, checked
