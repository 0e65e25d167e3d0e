"""The group layer as assets, in the group's own code location
(`perf_orchestration.group_definitions`): one step reads every plant's goal scores and
writes the three group tables (logic in perf_orchestration.group)."""

import dagster as dg

from perf_orchestration.goals.heatmap import markdown_image
from perf_orchestration.group import settings
from perf_orchestration.group.config import load_group
from perf_orchestration.group.rollup import heatmap_png, roll_up

KEYS = {"plant_scores": ["marts", "group_plant_goal_scores"],
        "group_scores": ["marts", "group_goal_scores"],
        "health": ["marts", "group_goal_health"]}


@dg.multi_asset(
    name="group_rollup", group_name="group", can_subset=False,
    specs=[
        dg.AssetSpec(KEYS["plant_scores"], kinds={"sql"},
                     description="Every plant's goal scores, each row with its plant id."),
        dg.AssetSpec(KEYS["group_scores"], kinds={"sql"}, deps=[KEYS["plant_scores"]],
                     description="The group goals per period, as ratios of the plants' sums."),
        dg.AssetSpec(KEYS["health"], kinds={"sql"}, deps=[KEYS["group_scores"]],
                     description="Each plant and the group on each group goal, against the "
                     "group's targets; the heatmap is in the metadata."),
    ])
def group_rollup(context: dg.AssetExecutionContext):
    path = settings.group_file()
    group = load_group(path)
    result = roll_up(group, settings.plant_urls(group, path), settings.group_warehouse_url())
    counts = {s: sum(c["status"] == s for c in result.cells) for s in ("green", "yellow", "red")}
    context.log.info(f"group {group.name!r}: {result.plant_rows} plant rows from "
                     f"{', '.join(result.plants_read)}, heatmap {counts}")
    yield dg.MaterializeResult(asset_key=KEYS["plant_scores"], metadata={
        "dagster/row_count": result.plant_rows, "plants": result.plants_read})
    yield dg.MaterializeResult(asset_key=KEYS["group_scores"], metadata={
        "dagster/row_count": len(result.group_rows)})
    yield dg.MaterializeResult(asset_key=KEYS["health"], metadata={
        "dagster/row_count": len(result.cells), **counts,
        "heatmap": dg.MetadataValue.md(markdown_image(heatmap_png(group, result.cells),
                                                      "group health"))})


group_rollup_job = dg.define_asset_job(
    "group_rollup_job", selection=dg.AssetSelection.assets(group_rollup),
    description="Roll every plant's goal scores up to the group.")

# Off by default, as the plants' schedules are; at 40 past, after the plants' hourly flows.
group_rollup_schedule = dg.ScheduleDefinition(
    name="group_rollup_schedule", job=group_rollup_job, cron_schedule="40 * * * *",
    description="Forty minutes past every hour, after the plants' hourly flows.")

defs = dg.Definitions(assets=[group_rollup], jobs=[group_rollup_job],
                      schedules=[group_rollup_schedule])
