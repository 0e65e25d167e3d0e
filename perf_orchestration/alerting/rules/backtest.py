"""Backtest: what a rule would have done over past windows, before it goes live.

Changing a threshold or `for` should be a decision made on numbers ("this would have
fired 14 times last month, 9 on the paint line"), so the replay runs the very state
machine the sensor runs, from an inactive start, with no side effects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from perf_orchestration.alerting.rules.config import Rule
from perf_orchestration.alerting.rules.episodes import (
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    Observation,
    evaluate,
)


@dataclass(frozen=True)
class EpisodeSummary:
    """One episode that fired. Times are window ends: `fired_at` is the end of the window
    that completed `for`, `resolved_at` the end of the window that closed it (None while
    still firing at the end of the data). `peak_value` is the worst breaching value."""

    subject: str
    episode_id: str
    episode_start: datetime
    fired_at: datetime
    resolved_at: datetime | None
    signal_at: datetime | None
    peak_value: float | None
    windows_breached: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BacktestReport:
    rule_id: str
    episodes: list[EpisodeSummary]
    fired_count: int
    subjects: int
    windows: int
    pending_aborted: int  # candidates that started but did not last `for` windows

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "episodes": [e.to_dict() for e in self.episodes]}


def backtest(rule: Rule, observations_by_subject: Mapping[str, Sequence[Observation]]
             ) -> BacktestReport:
    """Replay every subject's windows from an inactive state and summarise the episodes."""
    episodes: list[EpisodeSummary] = []
    aborted = 0
    windows = 0
    worse = max if rule.condition.op in (">", ">=") else min
    for subject in sorted(observations_by_subject):
        observations = sorted(observations_by_subject[subject], key=lambda o: o.window_start)
        windows += len(observations)
        _, transitions = evaluate(rule, subject, None, observations)
        fired = {t.episode_id: t for t in transitions if t.to_state == FIRING}
        resolved = {t.episode_id: t for t in transitions if t.to_state == RESOLVED}
        aborted += sum(1 for t in transitions
                       if t.from_state == PENDING and t.to_state == INACTIVE)
        for episode_id, fire in fired.items():
            assert episode_id is not None
            start = next(t.window_start for t in transitions
                         if t.episode_id == episode_id and t.to_state == PENDING)
            end = resolved[episode_id].window_start if episode_id in resolved else None
            breaching = [o.value for o in observations
                         if o.window_start >= start and (end is None or o.window_start < end)
                         and not o.error and o.value is not None and not math.isnan(o.value)
                         and rule.breached(o.value, o.line_id)]
            episodes.append(EpisodeSummary(
                subject=subject, episode_id=episode_id, episode_start=start,
                fired_at=fire.at,
                resolved_at=resolved[episode_id].at if episode_id in resolved else None,
                signal_at=fire.signal_at, peak_value=worse(breaching) if breaching else None,
                windows_breached=len(breaching)))
    episodes.sort(key=lambda e: (e.fired_at, e.subject))
    return BacktestReport(rule.id, episodes, len(episodes), len(observations_by_subject),
                          windows, aborted)
