"""One scoring pass, as the goal assets run it: weights, scores, alignment, health.

Each function reads the config it is given and the warehouse, writes its table, and
returns what the asset reports; none of them knows about Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.goals.calibration import (
    CALIBRATION_FILE,
    Calibration,
    WeightSchedule,
    calibration_hash,
    load_calibration,
    weight_changes,
)
from perf_orchestration.goals.health import health_rows
from perf_orchestration.goals.periods import periods_touched
from perf_orchestration.goals.scores import ScoreRun, score_rows
from perf_orchestration.goals.store import (
    write_alignment,
    write_health,
    write_scores,
    write_weight_changes,
)
from perf_orchestration.goals.subjects import roster_from_warehouse
from perf_orchestration.goals.tree import GOALS_FILE, GoalTree, load_goals


@dataclass(frozen=True)
class GoalConfig:
    """goals.yaml and calibration.yaml of one config folder, validated together."""

    tree: GoalTree
    calibration: Calibration
    calibration_version: str


def load_goal_config(directory: Path | None = None,
                     engine: sa.Engine | None = None) -> GoalConfig:
    """The folder's goals.yaml and calibration.yaml, each falling back to the bundled one,
    the templates expanded over the HR roster in the warehouse of `engine` (once it has
    landed; before, over the config folder's scenario roster)."""
    goals = directory / GOALS_FILE if directory else None
    cal = directory / CALIBRATION_FILE if directory else None
    roster = roster_from_warehouse(engine) if engine is not None else None
    tree = load_goals(goals if goals and goals.exists() else None, roster)
    cal_path = cal if cal and cal.exists() else None
    calibration = load_calibration(cal_path, tree)
    return GoalConfig(tree, calibration,
                      f"{calibration.version}@{calibration_hash(cal_path)}")


def weight_schedule(engine: sa.Engine, config: GoalConfig) -> WeightSchedule:
    """The base weights and every change the calibration rules make from the data."""
    changes = weight_changes(engine, config.tree, config.calibration)
    return WeightSchedule(config.tree.base_weights(), config.tree.file.version, tuple(changes))


def apply_calibration(engine: sa.Engine, config: GoalConfig, run_id: str,
                      now: datetime) -> tuple[WeightSchedule, int]:
    """The weight schedule from the triggers in the data; new changes are recorded."""
    schedule = weight_schedule(engine, config)
    recorded = write_weight_changes(engine, list(schedule.changes), config.calibration_version,
                                    run_id, now)
    return schedule, recorded


def score_window(engine: sa.Engine, config: GoalConfig, schedule: WeightSchedule,
                 start: datetime, end: datetime, run: ScoreRun) -> list[dict]:
    """Score every goal for the periods the window [start, end) touches (naive UTC)."""
    kinds = {g.source.period for g in config.tree.goals if g.source}
    spans = {k: periods_touched(engine, k, start, end) for k in kinds}
    rows = score_rows(engine, config.tree, schedule, spans, run)
    write_scores(engine, rows, sorted({s.key for v in spans.values() for s in v}))
    return rows


def align(engine: sa.Engine, config: GoalConfig, periods: list[str], run_id: str) -> int:
    return write_alignment(engine, periods, config.tree.file.alignment_tolerance, run_id)


def refresh_health(engine: sa.Engine, config: GoalConfig, run_id: str) -> list[dict]:
    rows = health_rows(engine, config.tree, run_id)
    write_health(engine, rows)
    return rows
