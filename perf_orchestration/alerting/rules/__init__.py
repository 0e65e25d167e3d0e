"""The rule engine: validated rules (rules.yaml), the alert-episode state machine, and a
backtest that replays history through it.

Plain Python without dagster, so sensors, the CLI and tests share one implementation.
"""

from perf_orchestration.alerting.rules.backtest import BacktestReport, EpisodeSummary, backtest
from perf_orchestration.alerting.rules.config import (
    BUNDLED_RULES,
    CHANNELS,
    EVENTS,
    RULES_FILE,
    TEMPLATE_NAMES,
    Action,
    Condition,
    Rule,
    RuleSet,
    load_rules,
)
from perf_orchestration.alerting.rules.episodes import (
    ERROR,
    FIRING,
    INACTIVE,
    NO_DATA,
    PENDING,
    RESOLVED,
    Evaluation,
    Event,
    Firing,
    Observation,
    SubjectState,
    Transition,
    episode_id_for,
    evaluate,
    evaluate_events,
    evaluate_subjects,
    fires_when,
    observations_from,
)

__all__ = [
    "BUNDLED_RULES", "CHANNELS", "ERROR", "EVENTS", "FIRING", "INACTIVE", "NO_DATA", "PENDING",
    "RESOLVED", "RULES_FILE", "TEMPLATE_NAMES", "Action", "BacktestReport", "Condition",
    "EpisodeSummary", "Evaluation", "Event", "Firing", "Observation", "Rule", "RuleSet",
    "SubjectState", "Transition", "backtest", "episode_id_for", "evaluate", "evaluate_events",
    "evaluate_subjects", "fires_when", "load_rules", "observations_from",
]
