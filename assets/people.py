"""The people loop as assets: feedback requests, answers, badges, the capability graph,
personal reminders and new-hire onboarding progress (logic in perf_orchestration.people)."""

import json
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from assets.ingestion import SNAPSHOT_SOURCES
from assets.partitions import PLANT_TIMEZONE
from perf_orchestration.config.files import (
    plant_badges,
    plant_feedback,
    plant_onboarding,
    plant_snapshots,
)
from perf_orchestration.people.answers import build_feedback
from perf_orchestration.people.badges import award_badges
from perf_orchestration.people.capability import build_capability_graph
from perf_orchestration.people.onboarding import build_onboarding
from perf_orchestration.people.reminders import deliver_reminders, plan_reminders
from perf_orchestration.people.requests import deliver_requests, plan_requests
from perf_orchestration.tables import create_tables, feedback_requests

OWNERS = ["team:people-analytics"]
COMMON = {"group_name": "people", "owners": OWNERS, "kinds": {"python", "sql"},
          "required_resource_keys": {"warehouse", "delivery"}, "pool": "warehouse_write"}


def _engine(context: dg.AssetExecutionContext):
    engine = context.resources.warehouse.get_engine()
    create_tables(engine)
    return engine


def _now() -> datetime:
    return datetime.now(UTC)


@dg.asset(key=["ops", "feedback_requests"],
          deps=[["raw", "mes_equipment_events"], ["raw", "crm_renewals"], ["raw", "hr_employees"]],
          description="Feedback requests asked by the triggers of feedback.yaml, sent once.",
          **COMMON)
def feedback_requests_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine, config = _engine(context), plant_feedback()
    created = plan_requests(engine, config, _now())
    sent = deliver_requests(engine, context.resources.delivery.channels(),
                            {f.id: f.minutes for f in config.forms})
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(feedback_requests)).scalar()
    context.log.info(f"feedback: {len(created)} new request(s), {sent['delivered']} delivered")
    return dg.MaterializeResult(metadata={
        "new_requests": len(created), "delivered": sent["delivered"], "failed": sent["failed"],
        "requests_total": total, "config_version": config.version,
        "new": dg.MetadataValue.json([{k: r[k] for k in ("request_id", "trigger_id", "subject",
                                                         "form_version", "recipient_id")}
                                      for r in created])})


@dg.asset(key=["marts", "feedback"],
          deps=[["raw", "hr_feedback_responses"], ["ops", "feedback_requests"]],
          description="Answers matched to their request and form version; the rest quarantined.",
          **COMMON)
def feedback_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    out = build_feedback(_engine(context), context.run_id, _now())
    return dg.MaterializeResult(metadata={**{k: out[k] for k in ("answers", "matched",
                                                                  "quarantined")},
                                          "reasons": dg.MetadataValue.json(out["reasons"])})


@dg.asset(key=["marts", "badges"],
          deps=[["raw", "hr_trainings"], ["marts", "team_weekly_quality"]],
          description="Skill badges of badges.yaml: awarded once, revoked by rule.", **COMMON)
def badges_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    config = plant_badges()
    out = award_badges(_engine(context), config, _now())
    return dg.MaterializeResult(metadata={**out, "config_version": config.version})


@dg.asset(key=["marts", "capability_graph"],
          deps=[["marts", "feedback"], ["marts", "badges"], ["raw", "hr_trainings"],
                ["raw", "crm_proposals"], ["ops", "feedback_requests"]],
          description="Per person: skills with evidence, its date and source.", **COMMON)
def capability_graph_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    out = build_capability_graph(_engine(context), plant_feedback(), _now())
    return dg.MaterializeResult(metadata={"rows": out["rows"], "people": out["people"]})


@dg.asset(key=["ops", "person_reminders"],
          deps=[["marts", "capability_graph"], ["raw", "crm_proposals"]],
          description="One reminder per person and episode of 2 days below their baseline.",
          **COMMON)
def person_reminders_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = _engine(context)
    created = plan_reminders(engine, _now())
    sent = deliver_reminders(engine, created, context.resources.delivery.channels()["email"])
    return dg.MaterializeResult(metadata={
        "new_reminders": len(created), "delivered": sent,
        "new": dg.MetadataValue.json([{k: r[k] for k in ("reminder_id", "employee_id",
                                                         "days_below")} for r in created]),
        "suggestions": dg.MetadataValue.json([json.loads(r["suggestions"]) for r in created])})


@dg.asset(key=["marts", "onboarding_progress"],
          deps=[["raw", "hr_employees"], ["raw", "hr_trainings"], ["raw", "hr_mentor_feedback"],
                ["raw", "mes_production"], ["raw", "crm_opportunities"]],
          description="Per new hire and plant day: required courses done, mentor feedback per "
          "week and days to the first independent job, each with its records (onboarding.yaml).",
          **COMMON)
def onboarding_progress_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    config = plant_onboarding()
    out = build_onboarding(_engine(context), config, context.run_id, _now())
    context.log.info(f"onboarding: {out['new_hires']} new hire(s) over {out['days']} day(s), "
                     f"latest day {out['latest_day']}, {out['quarantined']} feedback entry(ies) "
                     "quarantined")
    return dg.MaterializeResult(metadata={
        **{k: out[k] for k in ("rows", "days", "new_hires", "feedback_entries", "quarantined")},
        "latest_day_status": dg.MetadataValue.json(out["latest_day"]),
        "reasons": dg.MetadataValue.json(out["reasons"]), "config_version": config.version,
        "formula": "training_share = required courses done / required; feedback_per_week = "
                   "entries in full weeks since hire / full weeks; days_to_first_job = plant "
                   "date of the first job without a mentor (or first won deal) - hire date"})


@dg.asset(key=["marts", "role_snapshots"],
          deps=[["raw", "crm_activities"], ["raw", "crm_template_usage"],
                ["raw", "mes_maintenance_log"], ["raw", "crm_contracts"], ["raw", "hr_employees"]],
          description="Per role of snapshots.yaml: the behaviours of its operation logs that "
          "distinguish its top performers by the role's metric from the rest, with the "
          "evidence (lift, corrected p, people and records); behaviours, never people.",
          **COMMON)
def role_snapshots_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # pandas, scipy and statsmodels load in the run, not with the code location
    from perf_orchestration.people.snapshots import build_role_snapshots

    config = plant_snapshots()
    out = build_role_snapshots(_engine(context), config)
    for role, info in out["roles"].items():
        context.log.info(f"role snapshot {role}: {info['status']}, "
                         f"{len(info.get('distinguishing', []))} distinguishing behaviour(s)"
                         + (f" ({info['reason']})" if info.get("reason") else ""))
    return dg.MaterializeResult(metadata={
        "rows": out["rows"], "config_version": config.version,
        "status": dg.MetadataValue.json({r: i["status"] for r, i in out["roles"].items()}),
        "distinguishing": dg.MetadataValue.json(
            {r: i.get("distinguishing", []) for r, i in out["roles"].items()}),
        "people_per_group": dg.MetadataValue.json(
            {r: {"top": i.get("top_people"), "rest": i.get("rest_people")}
             for r, i in out["roles"].items()}),
        "records": dg.MetadataValue.json(
            {r: {**i.get("records", {}), "metric": i.get("metric_records", 0)}
             for r, i in out["roles"].items()}),
        "reasons": dg.MetadataValue.json(
            {r: i["reason"] for r, i in out["roles"].items() if i.get("reason")}),
        "lines": dg.MetadataValue.json(
            [f"{r}: {line}" for r, i in out["roles"].items() for line in i["lines"]]),
        "method": "top share by the metric against the rest, per behaviour and person: "
                  "Mann-Whitney U (two-sided), p corrected over the behaviours tried; lift = "
                  "mean(top) / mean(rest)"})


people_job = dg.define_asset_job(
    "people_job",
    selection=dg.AssetSelection.groups("people", "customers")
    | dg.AssetSelection.assets(*SNAPSHOT_SOURCES),
    executor_def=dg.in_process_executor,
    description="The people loop and the customer evidence: the snapshot sources (trainings, "
    "proposals, answers, mentor feedback, work logs, contracts, ticket responses), then "
    "requests, feedback, badges, the capability graph, reminders, onboarding progress, role "
    "snapshots and the response-speed evidence.",
)

people_hourly = dg.ScheduleDefinition(
    name="people_hourly", job=people_job, cron_schedule="25 * * * *",
    execution_timezone=PLANT_TIMEZONE,
    description="Every hour after the main flow: new feedback requests, answers, badges, the "
    "capability graph, onboarding and reminders (off by default, like every schedule).")

defs = dg.Definitions(
    assets=[feedback_requests_asset, feedback_mart, badges_mart, capability_graph_mart,
            person_reminders_asset, onboarding_progress_mart, role_snapshots_mart],
    jobs=[people_job],
    schedules=[people_hourly],
)
