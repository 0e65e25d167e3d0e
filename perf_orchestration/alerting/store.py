"""Where rule evaluations are kept: states, transitions and episodes in `ops`.

Both evaluators write through here: the rules asset (after the marts of an hour are
materialized) and the source watch sensor (live, from the source systems). A transition
is unique per rule, subject, state and time, and each subject's state records the last
window judged, so whichever evaluator sees a window first judges it and the other adds
nothing. Each transition says who recorded it, and each evaluator launches the action
runs of its own transitions only, so no episode is launched twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.rules import (
    FIRING,
    PENDING,
    RESOLVED,
    Firing,
    Observation,
    Rule,
    SubjectState,
    evaluate_subjects,
)
from perf_orchestration.clock import REPLAY
from perf_orchestration.clock import current as current_clock
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import alert_episodes, alert_state, alert_transitions

FIRED = "fired"  # the state of an event-rule episode: it fires once and has nothing to resolve
RULES_ASSET = "rules_asset"
SOURCE_WATCH = "source_watch"


@dataclass
class EvaluationResult:
    transitions: int = 0
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def add(self, other: EvaluationResult) -> None:
        self.transitions += other.transitions
        self.fired += other.fired
        self.resolved += other.resolved


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _load_states(conn, rule_id: str) -> dict[str, SubjectState]:
    rows = conn.execute(sa.select(alert_state.c.subject, alert_state.c.state)
                        .where(alert_state.c.rule_id == rule_id))
    return {s: SubjectState.from_dict(json.loads(state)) for s, state in rows}


def _save_states(conn, rule_id: str, states: dict[str, SubjectState], now: datetime) -> None:
    for subject, st in states.items():
        if st.last_window_end is None:
            continue
        values = {"state": json.dumps(st.to_dict()), "last_window_end": st.last_window_end,
                  "updated_at": now}
        done = conn.execute(alert_state.update().where(alert_state.c.rule_id == rule_id,
                                                       alert_state.c.subject == subject)
                            .values(**values)).rowcount
        if not done:
            conn.execute(alert_state.insert().values(rule_id=rule_id, subject=subject, **values))


def _record_transition(conn, t, now: datetime, recorded_by: str) -> bool:
    exists = conn.execute(sa.select(alert_transitions.c.transition_id).where(
        alert_transitions.c.rule_id == t.rule_id, alert_transitions.c.subject == t.subject,
        alert_transitions.c.to_state == t.to_state, alert_transitions.c.at == t.at)).first()
    if exists:
        return False
    conn.execute(alert_transitions.insert().values(
        episode_id=t.episode_id, rule_id=t.rule_id, subject=t.subject, from_state=t.from_state,
        to_state=t.to_state, window_start=t.window_start, at=t.at, value=t.value,
        threshold=t.threshold, recorded_at=now, recorded_by=recorded_by))
    return True


def _apply_to_episode(conn, rule: Rule, version: str, t, now: datetime, run_id: str | None,
                      result: EvaluationResult) -> None:
    if t.episode_id is None:
        return
    ep = alert_episodes.c
    if t.to_state == PENDING:
        if not conn.execute(sa.select(ep.episode_id).where(ep.episode_id == t.episode_id)).first():
            conn.execute(alert_episodes.insert().values(
                episode_id=t.episode_id, rule_id=rule.id, rule_version=version,
                subject=t.subject, state=PENDING, episode_start=t.window_start,
                value=t.value, threshold=t.threshold, run_id=run_id, clock=current_clock()))
    elif t.to_state == FIRING:
        conn.execute(alert_episodes.update().where(ep.episode_id == t.episode_id).values(
            state=FIRING, signal_at=_naive_utc(t.signal_at), detected_at=now, fired_at=now,
            value=t.value, threshold=t.threshold, run_id=run_id))
        result.fired.append(t.episode_id)
    elif t.to_state == RESOLVED:
        conn.execute(alert_episodes.update().where(ep.episode_id == t.episode_id)
                     .values(state=RESOLVED, resolved_at=t.at))
        result.resolved.append(t.episode_id)
    elif t.from_state == PENDING:  # the condition cleared before `for` windows: no episode
        conn.execute(alert_episodes.update().where(ep.episode_id == t.episode_id,
                                                   ep.state == PENDING)
                     .values(state="cancelled"))


def record_metric_evaluation(engine: Engine, rule: Rule, version: str,
                             observations: Mapping[str, Sequence[Observation]], *,
                             recorded_by: str, run_id: str | None = None,
                             now: datetime | None = None) -> EvaluationResult:
    """Resume each subject of a metric rule, run its new windows through the episode
    machine, and keep the transitions, episodes and states, in one transaction."""
    result = EvaluationResult()
    with engine.begin() as conn:
        stamp = now or utcnow()
        states, transitions = evaluate_subjects(rule, _load_states(conn, rule.id),
                                                observations)
        for t in transitions:
            # a replay detects each change when the window that caused it closes
            at = _naive_utc(t.at) if current_clock() == REPLAY else stamp
            if _record_transition(conn, t, at, recorded_by):
                result.transitions += 1
                _apply_to_episode(conn, rule, version, t, at, run_id, result)
        _save_states(conn, rule.id, states, stamp)
    return result


def fired_episode_ids(conn, rule_id: str, episode_ids: Iterable[str] | None = None) -> set[str]:
    """Episode ids of a rule already recorded (all of them, or those among `episode_ids`)."""
    query = sa.select(alert_episodes.c.episode_id).where(alert_episodes.c.rule_id == rule_id)
    if episode_ids is not None:
        query = query.where(alert_episodes.c.episode_id.in_(list(episode_ids)))
    return set(conn.execute(query).scalars())


def record_event_firings(conn, rule: Rule, version: str, firings: Iterable[Firing], *,
                         recorded_by: str, stamp: datetime, run_id: str | None = None
                         ) -> EvaluationResult:
    """Keep each new firing of an event rule as an episode and its one transition."""
    result = EvaluationResult()
    threshold = float(rule.condition.count_at_least or 0)
    replay = current_clock() == REPLAY
    for f in firings:
        signal = _naive_utc(f.signal_at)
        count = float(len(f.record_ids))
        if replay:  # detected when the hour of the signal closes, as the hourly run would
            stamp = calendar_row(signal.replace(tzinfo=UTC))["hour_end"]
        conn.execute(alert_episodes.insert().values(
            episode_id=f.episode_id, rule_id=rule.id, rule_version=version,
            subject=f.subject, state=FIRED, episode_start=signal, signal_at=signal,
            detected_at=stamp, fired_at=stamp, value=count, threshold=threshold, run_id=run_id,
            clock=current_clock()))
        conn.execute(alert_transitions.insert().values(
            episode_id=f.episode_id, rule_id=rule.id, subject=f.subject,
            from_state="inactive", to_state=FIRED, window_start=signal, at=signal,
            value=count, threshold=threshold, recorded_at=stamp, recorded_by=recorded_by))
        result.fired.append(f.episode_id)
        result.transitions += 1
    return result


@dataclass(frozen=True)
class ActionRequest:
    episode_id: str
    kind: str  # fire or resolved
    transition_id: int

    @property
    def run_key(self) -> str:
        return f"{self.episode_id}|{self.kind}"


def action_requests_since(engine: Engine, after_transition_id: int, recorded_by: str,
                          limit: int = 200) -> list[ActionRequest]:
    """Episodes that fired or resolved after a transition id (a sensor's cursor), among
    the transitions `recorded_by` recorded: one indexed range read, so a tick costs the
    same whatever the history."""
    t = alert_transitions.c
    query = (sa.select(t.transition_id, t.episode_id, t.to_state)
             .where(t.transition_id > after_transition_id, t.recorded_by == recorded_by,
                    t.to_state.in_((FIRING, FIRED, RESOLVED)))
             .order_by(t.transition_id).limit(limit))
    with engine.connect() as conn:
        return [ActionRequest(eid, "resolved" if state == RESOLVED else "fire", tid)
                for tid, eid, state in conn.execute(query)]
