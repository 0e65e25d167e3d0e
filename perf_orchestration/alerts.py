"""Rule evaluation against the warehouse: episodes, their history, and who to act for.

Metric rules read their windows (perf_orchestration.observations), resume each subject
from `ops.alert_state`, run the episode state machine, and persist every transition
(`ops.alert_transitions`, unique per rule, subject, state and time, so a re-run adds
nothing) and every episode with its response times (`ops.alert_episodes`). Event rules
count source events per subject and plant day. Sending is not done here: an episode that
fired is picked up by the actions sensor, which launches one action run per episode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.actions import (
    ActionSpec,
    EpisodeFacts,
    claim,
    deliver,
    plan_actions,
    utcnow,
)
from perf_orchestration.checklist import build_checklist
from perf_orchestration.observations import team_hour_observations
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.rules import (
    FIRING,
    PENDING,
    RESOLVED,
    Event,
    Observation,
    Rule,
    RuleSet,
    SubjectState,
    evaluate_events,
    evaluate_subjects,
)
from perf_orchestration.tables import RAW_TABLES, alert_episodes, alert_state, alert_transitions

FIRED = "fired"  # the state of an event-rule episode: it fires once and has nothing to resolve


@dataclass
class EvaluationResult:
    transitions: int = 0
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


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


def _record_transition(conn, t, now: datetime) -> bool:
    exists = conn.execute(sa.select(alert_transitions.c.transition_id).where(
        alert_transitions.c.rule_id == t.rule_id, alert_transitions.c.subject == t.subject,
        alert_transitions.c.to_state == t.to_state, alert_transitions.c.at == t.at)).first()
    if exists:
        return False
    conn.execute(alert_transitions.insert().values(
        episode_id=t.episode_id, rule_id=t.rule_id, subject=t.subject, from_state=t.from_state,
        to_state=t.to_state, window_start=t.window_start, at=t.at, value=t.value,
        threshold=t.threshold, recorded_at=now))
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
                value=t.value, threshold=t.threshold, run_id=run_id))
    elif t.to_state == FIRING:
        conn.execute(alert_episodes.update().where(ep.episode_id == t.episode_id).values(
            state=FIRING, signal_at=t.signal_at, detected_at=now, fired_at=now,
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


def evaluate_metric_rules(engine: Engine, rules: RuleSet, start: datetime, end: datetime,
                          run_id: str | None = None, now: datetime | None = None
                          ) -> EvaluationResult:
    """Run every metric rule over the hours starting in [start, end) (UTC naive)."""
    result = EvaluationResult()
    for rule in rules.metric_rules:
        if rule.subject != "team":
            raise ValueError(f"rule {rule.id}: subject {rule.subject!r} has no metric windows "
                             "yet (team-hour metrics only)")
        hours = team_hour_observations(engine, rule.metric, start, end)
        observations = {team: [Observation(h.window_start, h.window_end, h.value, h.signal_at,
                                           line_id=h.line_id) for h in hs]
                        for team, hs in hours.items()}
        with engine.begin() as conn:
            stamp = now or utcnow()
            states, transitions = evaluate_subjects(rule, _load_states(conn, rule.id),
                                                    observations)
            for t in transitions:
                if _record_transition(conn, t, stamp):
                    result.transitions += 1
                    _apply_to_episode(conn, rule, rules.stamp, t, stamp, run_id, result)
            _save_states(conn, rule.id, states, stamp)
    return result


def evaluate_event_rules(engine: Engine, rules: RuleSet, start: datetime, end: datetime,
                         run_id: str | None = None, now: datetime | None = None
                         ) -> EvaluationResult:
    """Count failures per device and plant day for the days the hours [start, end) touch."""
    result = EvaluationResult()
    events_table = RAW_TABLES["mes_equipment_events"]
    for rule in rules.event_rules:
        if rule.event != "equipment_failure":
            continue  # other events (CRM renewals) belong to the feedback loop
        day_start = calendar_row(start.replace(tzinfo=UTC))["day_start"]
        day_end = calendar_row((end - timedelta(microseconds=1)).replace(tzinfo=UTC))[
            "day_start"] + timedelta(days=1)
        with engine.begin() as conn:
            rows = conn.execute(sa.select(events_table.c.device_id, events_table.c.occurred_at,
                                          events_table.c.event_id)
                                .where(events_table.c.event_type == "failure",
                                       events_table.c.occurred_at >= day_start,
                                       events_table.c.occurred_at < day_end)).all()
            events = []
            for device, at, event_id in rows:
                at = _dt(at).replace(tzinfo=UTC)
                events.append(Event(device, at, calendar_row(at)["local_date"], event_id))
            fired_before = set(conn.execute(sa.select(alert_episodes.c.episode_id)
                                            .where(alert_episodes.c.rule_id == rule.id))
                               .scalars())
            stamp = now or utcnow()
            for f in evaluate_events(rule, events, fired_before):
                signal = f.signal_at.astimezone(UTC).replace(tzinfo=None)
                conn.execute(alert_episodes.insert().values(
                    episode_id=f.episode_id, rule_id=rule.id, rule_version=rules.stamp,
                    subject=f.subject, state=FIRED, episode_start=signal, signal_at=signal,
                    detected_at=stamp, fired_at=stamp, value=float(len(f.record_ids)),
                    threshold=float(rule.condition.count_at_least), run_id=run_id))
                conn.execute(alert_transitions.insert().values(
                    episode_id=f.episode_id, rule_id=rule.id, subject=f.subject,
                    from_state="inactive", to_state=FIRED, window_start=signal, at=signal,
                    value=float(len(f.record_ids)),
                    threshold=float(rule.condition.count_at_least), recorded_at=stamp))
                result.fired.append(f.episode_id)
                result.transitions += 1
    return result


def episode_facts(engine: Engine, rules: RuleSet, episode_id: str) -> tuple[Rule, EpisodeFacts]:
    """What the actions of an episode say, with the checklist built from its breach window."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_episodes).where(
            alert_episodes.c.episode_id == episode_id)).mappings().one()
        fired_window = conn.execute(sa.select(sa.func.max(alert_transitions.c.at)).where(
            alert_transitions.c.episode_id == episode_id,
            alert_transitions.c.to_state.in_((FIRING, FIRED)))).scalar()
    rule = rules.rule(row["rule_id"])
    start = _dt(row["episode_start"])
    fired_at = _dt(row["fired_at"]) or utcnow()
    extra: dict = {}
    if rule.subject == "team" and rule.metric:
        checklist = build_checklist(engine, row["subject"], start, _dt(fired_window) or fired_at)
        extra["checklist_text"] = checklist.as_text()
        extra["top_codes"] = ", ".join(f"{c} ({n})" for c, n in checklist.top_defect_codes[:3])
        extra["source_records"] = checklist.source_records
    if rule.event:
        extra["count"] = int(row["value"] or 0)
        extra["local_date"] = episode_id.rsplit("|", 1)[-1]
    facts = EpisodeFacts(episode_id, rule.id, rule.description, rule.subject, row["subject"],
                         rule.metric, row["value"], row["threshold"], start, fired_at, extra)
    return rule, facts


def run_episode_actions(engine: Engine, rules: RuleSet, episode_id: str, channels: dict,
                        kind: str = "fire", run_id: str | None = None) -> list:
    """Plan, claim and deliver one episode's actions; already delivered ones are skipped."""
    rule, facts = episode_facts(engine, rules, episode_id)
    specs = [ActionSpec(a.id, a.role, a.channel, a.template, a.due_hours or 8.0)
             for a in rule.actions]
    if kind == "resolved" and not rule.notify_resolved:
        return []
    planned = plan_actions(engine, facts, specs, kind)
    return deliver(engine, claim(engine, planned, run_id), channels)


@dataclass(frozen=True)
class ActionRequest:
    episode_id: str
    kind: str  # fire or resolved
    transition_id: int

    @property
    def run_key(self) -> str:
        return f"{self.episode_id}|{self.kind}"


def action_requests_since(engine: Engine, after_transition_id: int, limit: int = 200
                          ) -> list[ActionRequest]:
    """Episodes that fired or resolved after a transition id (the sensor's cursor): one
    indexed range read, so a tick costs the same whatever the history."""
    t = alert_transitions.c
    query = (sa.select(t.transition_id, t.episode_id, t.to_state)
             .where(t.transition_id > after_transition_id,
                    t.to_state.in_((FIRING, FIRED, RESOLVED)))
             .order_by(t.transition_id).limit(limit))
    with engine.connect() as conn:
        return [ActionRequest(eid, "resolved" if state == RESOLVED else "fire", tid)
                for tid, eid, state in conn.execute(query)]
