"""Rule evaluation as an asset: every hour's windows go through the alert rules; the
expected effects of the actions are checked once the marts hold the hours after them."""

from datetime import UTC

import dagster as dg

from assets.partitions import plant_days, window
from perf_orchestration.alerting.effects import (
    STATUSES,
    check_action_effects,
    effects_summary,
    latest_judged_markdown,
)
from perf_orchestration.alerting.evaluate import evaluate_event_rules, evaluate_metric_rules
from perf_orchestration.alerting.response import refresh_response_times
from perf_orchestration.clock import CLOCK_TAG, on_clock
from perf_orchestration.config.files import plant_rules

# the marts rules and expected effects read their windows from
WATCHED_MARTS = [dg.AssetKey(["marts", name]) for name in (
    "team_hourly_quality", "device_daily_reliability", "delivery_daily")]


@dg.asset(
    key=["ops", "alert_episodes"],
    deps=[*WATCHED_MARTS, dg.AssetKey(["raw", "mes_equipment_events"]),
          dg.AssetKey(["ops", "interface_health"])],
    description="Alert rules (rules.yaml) evaluated over the partition's hours: every state "
    "change in ops.alert_transitions, every episode with its signal, detection and firing "
    "times in ops.alert_episodes. The actions sensor delivers what fired.",
    group_name="actions", owners=["team:operations"], kinds={"python", "sql"},
    partitions_def=plant_days, backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"warehouse"}, pool="warehouse_write",
)
def alert_episodes_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    rules = plant_rules()
    start, end = (t.astimezone(UTC).replace(tzinfo=None) for t in window(context))
    with on_clock(context.run.tags.get(CLOCK_TAG)):  # a replay's episodes say so
        metric = evaluate_metric_rules(engine, rules, start, end, context.run_id)
        events = evaluate_event_rules(engine, rules, start, end, context.run_id)
    fired = metric.fired + events.fired
    context.log.info(f"rules {rules.stamp}: {metric.transitions + events.transitions} "
                     f"transition(s), fired {fired or 'nothing'}, resolved "
                     f"{metric.resolved or 'nothing'}")
    return dg.MaterializeResult(metadata={
        "rules_version": rules.stamp,
        "transitions": metric.transitions + events.transitions,
        "fired": dg.MetadataValue.json(fired),
        "resolved": dg.MetadataValue.json(metric.resolved),
    })


@dg.asset(
    key=["ops", "action_effects"],
    deps=[alert_episodes_asset, *WATCHED_MARTS],
    description="Expected effects of the actions (rules.yaml `effect`): each fire action's "
    "metric for its subject over the windows after it, judged effective, not_effective or "
    "no_data once its horizon has passed on the warehouse's data clock (pending before), in "
    "ops.action_effects; marts.response_times gains signal -> effect seen.",
    group_name="actions", owners=["team:operations"], kinds={"python", "sql"},
    required_resource_keys={"warehouse"}, pool="warehouse_write",
)
def action_effects_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    rules = plant_rules()
    written = check_action_effects(engine, rules)
    refresh_response_times(engine)
    summary = effects_summary(engine)
    share = summary["seen_share"]
    context.log.info(f"rules {rules.stamp}: {len(written)} action(s) checked; "
                     + ", ".join(f"{s} {summary[s]}" for s in STATUSES))
    return dg.MaterializeResult(metadata={
        "rules_version": rules.stamp, "checked": len(written),
        "actions_with_effect": summary["actions_with_effect"],
        **{s: summary[s] for s in STATUSES},
        "seen_share": dg.MetadataValue.float(share) if share is not None
        else dg.MetadataValue.null(),
        "latest_judged": dg.MetadataValue.md(latest_judged_markdown(summary)),
    })


defs = dg.Definitions(assets=[alert_episodes_asset, action_effects_asset])
