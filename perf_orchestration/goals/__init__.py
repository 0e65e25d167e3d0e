"""The goal tree: config, elastic weights, scores, alignment, health and their lineage.

Plain Python over the warehouse; assets/goals.py wraps it for Dagster and
`perfflow trace` walks back from any score or health cell to its source records.
"""

from perf_orchestration.goals.calibration import CALIBRATION_FILE, load_calibration
from perf_orchestration.goals.pipeline import GoalConfig, load_goal_config
from perf_orchestration.goals.tree import GOALS_FILE, GoalTree, load_goals

__all__ = ["CALIBRATION_FILE", "GOALS_FILE", "GoalConfig", "GoalTree", "load_calibration",
           "load_goal_config", "load_goals"]
