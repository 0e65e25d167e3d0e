"""3x3 breakpoint analysis as an asset: the problems that hurt delivery most and the causes
the data supports, down to the deepest break (logic in perf_orchestration.breakpoints)."""

from datetime import UTC, date, datetime

import dagster as dg

from assets.partitions import plant_days
from perf_orchestration.config.files import plant_causes, plant_rules
from perf_orchestration.tables import create_tables


@dg.asset(
    key=["marts", "breakpoints"],
    deps=[["marts", "delivery_hourly"], ["marts", "team_hourly_quality"],
          ["ops", "interface_health"], ["ops", "alert_episodes"], ["marts", "goal_health"]],
    description="The last three problems that hurt delivery or the goal tree (targets of "
    "causes.yaml missed, fired episodes, red goal cells), each walked up to three levels of "
    "causes the data supports, ending at the deepest break; breaks on an interface first.",
    group_name="breakpoints", owners=["team:performance"], kinds={"python", "sql"},
    partitions_def=plant_days, backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"warehouse"}, pool="warehouse_write")
def breakpoints_mart(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from perf_orchestration.breakpoints.store import run_breakpoints

    engine = context.resources.warehouse.get_engine()
    create_tables(engine)
    config = plant_causes()
    last_day = date.fromisoformat(context.partition_keys[-1])
    chains = run_breakpoints(engine, config, plant_rules(), last_day, None, datetime.now(UTC))
    for chain in chains:
        context.log.info(f"breakpoint chain {chain['chain']}: {chain['text']}")
    return dg.MaterializeResult(metadata={
        "chains": len(chains), "last_day": last_day.isoformat(), "days": config.days,
        "interface_breaks": sum(c["ends_at_interface"] for c in chains),
        "text": dg.MetadataValue.md("\n".join(f"{c['chain']}. {c['text']}" for c in chains)
                                    or "no problem in the days looked at"),
        "config_version": config.version})


defs = dg.Definitions(assets=[breakpoints_mart])
