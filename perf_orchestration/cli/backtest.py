"""`perfflow backtest`: replay rules over the warehouse's history without sending anything.

A planner tunes a threshold by seeing how many episodes a rule would have fired, when,
and whom they would have reached, before switching it on.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from perf_orchestration.alerting.observations import subject_observations
from perf_orchestration.alerting.recipients import recipients
from perf_orchestration.alerting.rules import (
    Event,
    backtest,
    evaluate_events,
    load_rules,
)
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.plant_calendar import calendar_row, plant_tz
from perf_orchestration.tables import RAW_TABLES
from perf_orchestration.warehouse import WarehouseError, make_engine


def _utc(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise WarehouseError(f"--from/--to: {text!r} is not a time like 2026-11-02T00:00") \
            from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=plant_tz())
    return value.astimezone(UTC).replace(tzinfo=None)


def _who(engine, rule, subject: str) -> str:
    names = []
    for action in rule.actions:
        people = recipients(engine, action.role, rule.subject, subject)
        names += [f"{p.name} ({action.role}, {action.channel})" for p in people]
    return "; ".join(names) or "nobody in the roster"


def _local(value: datetime) -> str:
    return value.replace(tzinfo=UTC).astimezone(plant_tz()).strftime(
        "%Y-%m-%d %H:%M")


def run_backtest(rules_path: str | None, start_text: str, end_text: str,
                 warehouse: str | None) -> int:
    rules = load_rules(rules_path)
    start, end = _utc(start_text), _utc(end_text)
    engine = make_engine(warehouse or default_warehouse_url())
    print(f"backtest of {rules.stamp} over {_local(start)} .. {_local(end)} plant time "
          "(nothing is sent)")
    try:
        for rule in rules.metric_rules:
            report = backtest(rule, subject_observations(
                engine, rule.metric, rule.subject, start, end, rule.condition.against_days))
            print(f"\n{rule.id}: {report.fired_count} episode(s) would have fired")
            for ep in report.episodes:
                print(f"  {ep.subject}: from {_local(ep.episode_start)}, fired "
                      f"{_local(ep.fired_at)}, resolved "
                      f"{_local(ep.resolved_at) if ep.resolved_at else 'still firing'}, "
                      f"worst {ep.peak_value:.3f} -> {_who(engine, rule, ep.subject)}")
        events = RAW_TABLES["mes_equipment_events"]
        for rule in rules.event_rules:
            if rule.event != "equipment_failure":
                continue
            with engine.connect() as conn:
                rows = conn.execute(sa.select(events.c.device_id, events.c.occurred_at,
                                              events.c.event_id)
                                    .where(events.c.event_type == "failure",
                                           events.c.occurred_at >= start,
                                           events.c.occurred_at < end)).all()
            found = []
            for device, at, event_id in rows:
                at = (datetime.fromisoformat(at) if isinstance(at, str) else at)
                at = at.replace(tzinfo=UTC)
                found.append(Event(device, at, calendar_row(at)["local_date"], event_id))
            firings = evaluate_events(rule, found)
            print(f"\n{rule.id}: {len(firings)} episode(s) would have fired")
            for f in firings:
                print(f"  {f.subject} on {f.local_date} (events {', '.join(f.record_ids)}) -> "
                      f"{_who(engine, rule, f.subject)}")
    finally:
        engine.dispose()
    return 0
