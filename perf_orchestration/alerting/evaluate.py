"""Rule evaluation against the warehouse: episodes, their history, and who to act for.

Metric rules read their windows (perf_orchestration.alerting.observations), resume each subject
from `ops.alert_state`, run the episode state machine, and persist every transition
(`ops.alert_transitions`, unique per rule, subject, state and time, so a re-run adds
nothing) and every episode with its response times (`ops.alert_episodes`). Event rules
count source events per subject and plant day. Sending is not done here: an episode that
fired is picked up by the actions sensor, which launches one action run per episode.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import (
    ActionSpec,
    EpisodeFacts,
    claim,
    deliver,
    plan_actions,
    utcnow,
)
from perf_orchestration.alerting.checklist import build_checklist
from perf_orchestration.alerting.notifications.config import RoutingConfig
from perf_orchestration.alerting.notifications.matching import episode_labels, receiver_specs
from perf_orchestration.alerting.notifications.queue import enqueue
from perf_orchestration.alerting.observations import subject_observations
from perf_orchestration.alerting.recipients import subject_teams
from perf_orchestration.alerting.rules import FIRING, Event, Rule, RuleSet, evaluate_events
from perf_orchestration.alerting.store import (
    FIRED,
    RULES_ASSET,
    EvaluationResult,
    fired_episode_ids,
    record_event_firings,
    record_metric_evaluation,
)
from perf_orchestration.plant_calendar import calendar_row, period_end
from perf_orchestration.tables import RAW_TABLES, alert_episodes, alert_transitions
from perf_orchestration.tables.ops import interface_health


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def evaluate_metric_rules(engine: Engine, rules: RuleSet, start: datetime, end: datetime,
                          run_id: str | None = None, now: datetime | None = None
                          ) -> EvaluationResult:
    """Run every metric rule over the windows starting in [start, end) (UTC naive)."""
    result = EvaluationResult()
    for rule in rules.metric_rules:
        observations = subject_observations(engine, rule.metric, rule.subject, start, end,
                                            rule.condition.against_days)
        result.add(record_metric_evaluation(engine, rule, rules.stamp, observations,
                                            recorded_by=RULES_ASSET, run_id=run_id, now=now))
    return result


def _failures(conn: sa.Connection, day_start: datetime, day_end: datetime) -> list:
    events_table = RAW_TABLES["mes_equipment_events"]
    return conn.execute(sa.select(events_table.c.device_id, events_table.c.occurred_at,
                                  events_table.c.event_id)
                        .where(events_table.c.event_type == "failure",
                               events_table.c.occurred_at >= day_start,
                               events_table.c.occurred_at < day_end)).all()


def _interface_gaps(conn: sa.Connection, day_start: datetime, day_end: datetime) -> list:
    """Hours a link was over its gap threshold, as events at the hour's end (the moment the
    gap was seen, counted in that hour's plant day), each named link@hour."""
    if "interface_health" not in sa.inspect(conn).get_table_names(schema="ops"):
        return []
    return [(r.link, _dt(r.hour_end) - timedelta(microseconds=1), f"{r.link}@{r.partition_key}")
            for r in conn.execute(
        sa.select(interface_health.c.link, interface_health.c.hour_end,
                  interface_health.c.partition_key)
        .where(interface_health.c.over_threshold == 1,
               interface_health.c.hour_end > day_start, interface_health.c.hour_end <= day_end)
        .order_by(interface_health.c.hour_end))]


EVENT_READERS = {"equipment_failure": _failures, "interface_gap": _interface_gaps}


def evaluate_event_rules(engine: Engine, rules: RuleSet, start: datetime, end: datetime,
                         run_id: str | None = None, now: datetime | None = None
                         ) -> EvaluationResult:
    """Count failures per device, and hours over the gap threshold per link, per plant day
    for the days the hours [start, end) touch."""
    result = EvaluationResult()
    for rule in rules.event_rules:
        if rule.event not in EVENT_READERS:
            continue  # other events (CRM renewals) belong to the feedback loop
        day_start = calendar_row(start.replace(tzinfo=UTC))["day_start"]
        day_end = period_end("day_start", calendar_row(
            (end - timedelta(microseconds=1)).replace(tzinfo=UTC))["day_start"])
        with engine.begin() as conn:
            rows = EVENT_READERS[rule.event](conn, day_start, day_end)
            events = []
            for device, at, event_id in rows:
                at = _dt(at).replace(tzinfo=UTC)
                events.append(Event(device, at, calendar_row(at)["local_date"], event_id))
            firings = evaluate_events(rule, events, fired_episode_ids(conn, rule.id))
            result.add(record_event_firings(conn, rule, rules.stamp, firings,
                                            recorded_by=RULES_ASSET, stamp=now or utcnow(),
                                            run_id=run_id))
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
    if rule.subject in ("team", "line") and rule.metric:
        teams = tuple(subject_teams(engine, rule.subject, row["subject"]))
        checklist = build_checklist(engine, row["subject"], start, _dt(fired_window) or fired_at,
                                    teams)
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
                        kind: str = "fire", run_id: str | None = None,
                        routing: RoutingConfig | None = None,
                        now: datetime | None = None) -> list:
    """Plan and claim one episode's actions; tasks are created at once, notifications are
    queued in their groups by the routing (sent right away without one). Already
    delivered actions are skipped."""
    rule, facts = episode_facts(engine, rules, episode_id)
    specs = [ActionSpec(a.id, a.role, a.channel, a.template, a.due_hours or 8.0)
             for a in rule.actions]
    if kind == "resolved" and not rule.notify_resolved:
        return []
    if routing is not None:  # receivers the alert's route adds to the rule's own actions
        with engine.connect() as conn:
            labels = {**episode_labels(conn, rule, facts.subject), "kind": kind}
        specs += receiver_specs(routing, labels)
    todo = claim(engine, plan_actions(engine, facts, specs, kind), run_id)
    if routing is None:
        return deliver(engine, todo, channels)
    notes = [a for a in todo if a.channel != "task"]
    for channel in {a.channel for a in notes}:  # a channel that cannot send fails the run now
        getattr(channels.get(channel), "check", lambda: None)()
    results = deliver(engine, [a for a in todo if a.channel == "task"], channels)
    return results + enqueue(engine, routing, rules, rule.id, facts.subject,
                             notes, now)
