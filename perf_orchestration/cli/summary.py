"""The demo's summary.json, built from run events and the warehouse (report.md, its
readable account, is cli/report.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from perf_orchestration.alerting.effects import effects_summary
from perf_orchestration.alerting.response import percentile
from perf_orchestration.breakpoints.store import read_chains
from perf_orchestration.customers.response_speed import read_evidence
from perf_orchestration.ingestion.landing import latest_partition_counts
from perf_orchestration.people.summary import people_summary
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.tables.marts import role_snapshots
from perf_orchestration.tables.ops import interface_health
from perf_orchestration.warehouse import make_engine
from perf_orchestration.workbooks.report import intake_summary

ROW_FIELDS = ("fetched", "landed", "quarantined", "duplicates", "late")


def _asset_events(results: list[dg.ExecuteInProcessResult]):
    materialized: list[str] = []
    checks = {"passed": 0, "failed": 0, "failed_checks": [], "by_name": {}}
    failures = []
    for result in results:
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                key = event.asset_key.to_user_string()
                if key not in materialized:
                    materialized.append(key)
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                ev = event.event_specific_data
                checks["by_name"][ev.check_name] = checks["by_name"].get(ev.check_name, 0) + 1
                if ev.passed:
                    checks["passed"] += 1
                else:
                    checks["failed"] += 1
                    checks["failed_checks"].append(
                        f"{ev.asset_key.to_user_string()}:{ev.check_name}")
            elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
                err = event.event_specific_data.error
                failures.append({"step": event.step_key,
                                 "error": (err.message if err else "").strip()[:500]})
    return materialized, checks, failures


def build_summary(*, scenario: Scenario, warehouse_url: str, partitions: tuple[str, str, int],
                  results: list[dg.ExecuteInProcessResult], simulator_stats: dict,
                  engine_url: str, receivers: dict | None = None,
                  intake_dir: Path | None = None) -> dict:
    """Everything summary.json promises, keys of later capabilities present but empty."""
    first, last, count = partitions
    materialized, checks, failures = _asset_events(results)
    engine = make_engine(engine_url)
    try:
        rows_by_entity: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
            ROW_FIELDS + ("requests", "retries", "partitions"), 0))
        unbalanced = []
        for row in latest_partition_counts(engine):
            key = row["partition_key"]
            if key != "snapshot" and not (first <= key <= last):
                continue
            agg = rows_by_entity[row["entity"]]
            for f in ROW_FIELDS + ("requests", "retries"):
                agg[f] += row[f]
            agg["partitions"] += 1
            if row["fetched"] != row["landed"] + row["quarantined"]:
                unbalanced.append(f"{row['entity']}@{key}")
        reasons = _quarantine_reasons(engine)
        team_days = _team_days(engine, scenario)
        alerts = alert_summary(engine)
        effects = effects_summary(engine)
        workbooks = intake_summary(engine, intake_dir) if intake_dir else {}
        notifications = notification_summary(engine)
        people = people_summary(engine)
        response_speed = response_speed_summary(engine)
        role_snapshots = role_snapshot_summary(engine)
        interfaces = interface_summary(engine)
        chains = [{k: c[k] for k in ("chain", "problem", "problem_kind", "problem_id", "scope",
                                     "impact", "ends_at_interface", "note", "text", "steps")}
                  for c in read_chains(engine)]
    finally:
        engine.dispose()
    rows = {f: sum(e[f] for e in rows_by_entity.values()) for f in ROW_FIELDS}
    return {
        "scenario": scenario.name,
        "success": all(r.success for r in results),
        "warehouse": warehouse_url,
        "partitions": {"first": first, "last": last, "count": count,
                       "timezone": scenario.timezone, "days": scenario.days},
        "runs": [{"job": r.job_def.name, "run_id": r.run_id,
                  "status": "SUCCESS" if r.success else "FAILURE"} for r in results],
        "assets_materialized": materialized,
        "checks": checks,
        "rows": rows,
        "rows_balanced": not unbalanced,
        "unbalanced_partitions": unbalanced,
        "rows_by_entity": dict(sorted(rows_by_entity.items())),
        "quarantine_reasons": reasons,
        "source_calls": {
            "requests": sum(e["requests"] for e in rows_by_entity.values()),
            "retried": sum(e["retries"] for e in rows_by_entity.values()),
            "faults_served": simulator_stats.get("faults", simulator_stats),
        },
        "step_failures": failures,
        "team_daily_metrics": team_days,
        "alerts": alerts["alerts"],
        "response_seconds": alerts["response_seconds"],
        "response_basis": alerts["response_basis"],
        "live_response_seconds": alerts["live_response_seconds"],
        "live_response_basis": alerts["live_response_basis"],
        "auto_triggered_ratio": alerts["auto_triggered_ratio"],
        "effects": effects,
        "notifications": notifications,
        "receivers": _receiver_counts(receivers or {}),
        "people": people,
        "response_speed": response_speed,
        "role_snapshots": role_snapshots,
        "breakpoints": chains,
        "interfaces": interfaces,
        "workbooks": workbooks,
    }


def interface_summary(engine) -> list[dict]:
    """Per link: its last hour judged (last sync, age, threshold, broken or not) and the
    hours it was over its threshold ([] before ops.interface_health exists)."""
    if "interface_health" not in sa.inspect(engine).get_table_names(schema="ops"):
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(interface_health).order_by(
            interface_health.c.link, interface_health.c.hour_end)).mappings().all()
    out: dict[str, dict] = {}
    for r in rows:
        link = out.setdefault(r["link"], {"link": r["link"], "kind": r["kind"],
                                          "threshold_hours": r["threshold_hours"],
                                          "hours_over_threshold": [], "worst_age_hours": None})
        if r["over_threshold"]:
            link["hours_over_threshold"].append(r["partition_key"])
        if r["age_hours"] is not None:
            link["worst_age_hours"] = max(link["worst_age_hours"] or 0.0, r["age_hours"])
        link.update(last_hour=r["partition_key"], last_sync_at=iso(r["last_sync_at"]),
                    age_hours=r["age_hours"], broken=bool(r["over_threshold"]))
    return list(out.values())


def role_snapshot_summary(engine) -> dict:
    """Per role: whether it got a snapshot, why not, and the behaviours that distinguish its
    top performers ({} before people_job wrote marts.role_snapshots)."""
    if "role_snapshots" not in sa.inspect(engine).get_table_names(schema="marts"):
        return {}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(role_snapshots).order_by(
            role_snapshots.c.role, role_snapshots.c.p_adjusted)).mappings().all()
    out: dict[str, dict] = {}
    for r in rows:
        role = out.setdefault(r["role"], {"snapshot": True, "reason": None,
                                          "metric": r["metric"], "distinguishing": []})
        if r["status"] == "no_snapshot":
            role.update(snapshot=False, reason=r["reason"])
        elif r["status"] == "distinguishing":
            role["distinguishing"].append({k: r[k] for k in (
                "behaviour", "label", "direction", "top_mean", "rest_mean", "lift",
                "p_adjusted", "top_people", "rest_people", "records")})
    return out


def response_speed_summary(engine) -> dict:
    """The response-speed evidence as written ({} before people_job wrote it)."""
    if "response_speed_evidence" not in sa.inspect(engine).get_table_names(schema="marts"):
        return {}
    row, buckets = read_evidence(engine)
    if row is None:
        return {}
    keep = ("status", "statement", "fast_hours", "tickets", "accounts", "contracts",
            "fast_tickets", "odds_ratio", "ci_low", "ci_high", "p_value", "confidence",
            "config_version")
    return {**{k: row[k] for k in keep}, "excluded": json.loads(row["excluded"]),
            "buckets": [{k: b[k] for k in ("bucket", "tickets", "accounts", "renewed",
                                           "renewal_share")} for b in buckets]}


def _receiver_counts(receivers: dict) -> dict:
    out = {}
    for name in ("webhook", "email"):
        counts = receivers.get(name) or {}
        out[name] = {"arrivals": sum(counts.values()), "unique_keys": len(counts),
                     "duplicates": sum(n - 1 for n in counts.values())}
    out["webhook_rejected_signatures"] = receivers.get("webhook_rejected", 0)
    return out


def iso(value) -> str | None:
    return None if value is None else (value if isinstance(value, str) else value.isoformat())


def _dt(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _percentile(values: list[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 3)


def alert_summary(engine) -> dict:
    """Alerts with their actions, and response time from signal to first delivery, each
    episode on its own clock: the replayed scenario's (the demo's main job and the action
    runs of what it fired) or the wall's (the live part). Both are the same figure the
    war-room pages and report.md show."""
    from sqlalchemy import select

    from perf_orchestration.alerting.rules import FIRING
    from perf_orchestration.alerting.store import FIRED
    from perf_orchestration.clock import REPLAY, response_seconds
    from perf_orchestration.tables import action_log, alert_episodes, alert_transitions

    with engine.connect() as conn:
        evaluated_by = dict(conn.execute(
            select(alert_transitions.c.episode_id, alert_transitions.c.recorded_by).where(
                alert_transitions.c.to_state.in_((FIRING, FIRED)))).all())
        episodes = conn.execute(select(alert_episodes).where(
            alert_episodes.c.fired_at.is_not(None)).order_by(alert_episodes.c.fired_at,
                                                             alert_episodes.c.episode_id)
        ).mappings().all()
        actions = conn.execute(select(action_log).order_by(action_log.c.planned_at,
                                                           action_log.c.action_id)
                               ).mappings().all()
    by_episode: dict[str, list] = defaultdict(list)
    for a in actions:
        by_episode[a["episode_id"]].append({
            "action": a["action_id"], "kind": a["kind"], "channel": a["channel"],
            "recipient": a["recipient_id"], "role": a["recipient_role"],
            "status": a["status"], "attempts": a["attempts"]})
    alerts, response, live = [], [], []
    for e in episodes:
        by = evaluated_by.get(e["episode_id"])
        alerts.append({"rule_id": e["rule_id"], "subject": e["subject"],
                       "episode_id": e["episode_id"], "state": e["state"],
                       "signal_at": iso(e["signal_at"]), "detected_at": iso(e["detected_at"]),
                       "fired_at": iso(e["fired_at"]), "delivered_at": iso(e["delivered_at"]),
                       "resolved_at": iso(e["resolved_at"]), "value": e["value"],
                       "threshold": e["threshold"], "evaluated_by": by, "clock": e["clock"],
                       "response_seconds": response_seconds(dict(e)),
                       "actions": by_episode[e["episode_id"]]})
        seconds = response_seconds(dict(e))
        if seconds is not None:
            (response if e["clock"] == REPLAY else live).append(seconds)
    delivered = [a for a in actions if a["status"] == "delivered"]
    auto = {e["episode_id"] for e in episodes if e["triggered_by"] == "system"}
    return {
        "alerts": alerts,
        "response_seconds": {"p50": _percentile(response, 0.5),
                             "p95": _percentile(response, 0.95),
                             "max": round(max(response), 3) if response else None},
        "response_basis": "signal_at -> first delivered action, on the replayed scenario's "
                          "clock",
        "live_response_seconds": {"p50": _percentile(live, 0.5), "p95": _percentile(live, 0.95),
                                  "max": round(max(live), 3) if live else None,
                                  "episodes": len(live)},
        "live_response_basis": "signal_at (the source record's own timestamp) -> first "
                               "delivered action, on the wall clock (the live part)",
        "auto_triggered_ratio": round(sum(a["episode_id"] in auto for a in delivered)
                                      / len(delivered), 3) if delivered else None,
    }


def notification_summary(engine) -> dict:
    """What the routing made of the alerts: each notification action's fate (sent in a
    group, inhibited, silenced, dropped) with its reason, and every grouped message."""
    from sqlalchemy import select

    from perf_orchestration.tables import alert_notifications, notification_log

    with engine.connect() as conn:
        members = conn.execute(select(alert_notifications.c.status,
                                      alert_notifications.c.episode_id,
                                      alert_notifications.c.recipient_id,
                                      alert_notifications.c.reason)
                               .order_by(alert_notifications.c.queued_at)).all()
        sent = conn.execute(select(notification_log).order_by(
            notification_log.c.created_at, notification_log.c.sequence)).mappings().all()
    by_status: dict[str, int] = defaultdict(int)
    for status, *_ in members:
        by_status[status] += 1
    return {
        "requested": len(members),
        "by_status": dict(sorted(by_status.items())),
        "sent": len([n for n in sent if n["status"] == "delivered"]),
        "messages": [{"group": n["group_key"], "reason": n["reason"], "alerts": n["alerts"],
                      "channel": n["channel"], "recipient": n["recipient_id"],
                      "status": n["status"]} for n in sent],
        "not_sent": [{"episode_id": e, "recipient": r, "status": st, "reason": why}
                     for st, e, r, why in members if st in ("inhibited", "silenced", "dropped")],
    }


TEAM_DAY_METRICS = ("oee", "availability", "performance", "quality_ratio", "first_pass_yield",
                    "first_article_pass_rate", "downtime_rate", "output_per_head")


def _team_days(engine, scenario: Scenario) -> list[dict]:
    """The day's team metrics from marts.team_daily_quality (empty before the marts exist)."""
    from sqlalchemy import inspect, text

    if "team_daily_quality" not in inspect(engine).get_table_names(schema="marts"):
        return []
    dates = sorted({(scenario.start + timedelta(hours=h))
                    .strftime("%Y-%m-%d") for h in range(scenario.hours)})
    cols = ", ".join(TEAM_DAY_METRICS)
    query = text(f"select team_id, local_date, {cols} from marts.team_daily_quality "
                 "where local_date >= :first and local_date <= :last "
                 "order by local_date, team_id")
    with engine.connect() as conn:
        rows = conn.execute(query, {"first": dates[0], "last": dates[-1]}).mappings().all()
    return [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            for r in rows]


def _quarantine_reasons(engine) -> dict[str, dict[str, int]]:
    from sqlalchemy import func, select

    from perf_orchestration.tables import quarantine as q

    out: dict[str, dict[str, int]] = defaultdict(dict)
    with engine.connect() as conn:
        rows = conn.execute(select(q.c.entity, q.c.failed_expectation, func.count())
                            .group_by(q.c.entity, q.c.failed_expectation)
                            .order_by(q.c.entity, q.c.failed_expectation))
        for entity, expectation, n in rows:
            out[entity][expectation] = n
    return dict(out)


def reports_summary(results: list, out_dir: Path) -> dict:
    """What summary.json says of the reports runs: each day's page and workbooks."""
    out: dict[str, dict] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            meta = {k: v.value for k, v in mat.metadata.items()}
            day = out.setdefault(mat.partition, {})
            if mat.asset_key.path == ["reports", "war_room"]:
                day["war_room"] = str(Path(meta["path"]).relative_to(out_dir))
                day["war_room_sections"] = {k: meta[k] for k in (
                    "health_cells", "red_items", "episodes", "open_episodes", "open_tasks",
                    "funnel_stages", "alarm_devices", "tickets")}
            elif mat.asset_key.path == ["reports", "hr_scorecards"]:
                day["hr_workbooks"] = [
                    {"department": r.data["department"],
                     "file": str(Path(r.data["file"]).relative_to(out_dir)),
                     "teams": r.data["teams"], "goal_rows": r.data["goal_rows"],
                     "people": r.data["people"], "red": r.data["red"]}
                    for r in meta["files"].records]
    return out
