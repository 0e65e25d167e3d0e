"""The main job: every partitioned asset of the flow, in one in-process run per range."""

import dagster as dg

from assets.partitions import PLANT_TIMEZONE, hourly_partitions

perf_flow_job = dg.define_asset_job(
    "perf_flow_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(
        ["raw", "hr_teams"], ["raw", "hr_employees"], ["raw", "hr_trainings"],
        ["raw", "crm_proposals"], ["raw", "hr_feedback_responses"],
        ["raw", "hr_mentor_feedback"])
    - dg.AssetSelection.groups("people", "reports"),
    partitions_def=hourly_partitions,
    executor_def=dg.in_process_executor,
    description="Ingest, check, transform and compute metrics for a range of hourly partitions "
    "(one run for the whole range).",
)

roster_job = dg.define_asset_job(
    "roster_job",
    selection=dg.AssetSelection.assets(["raw", "hr_teams"], ["raw", "hr_employees"]),
    executor_def=dg.in_process_executor,
    description="Refresh the HR roster snapshot (teams and employees).",
)

# The plant's clock. Each turned on in the UI (Automation) when a plant goes live; off by
# default so a trial instance or `dagster dev` runs nothing by itself.
perf_flow_hourly = dg.build_schedule_from_partitioned_job(
    perf_flow_job, minute_of_hour=10,
    description="Ten minutes past every hour, the hour that just ended (late rows of earlier "
    "hours land on their own hour's next run or a backfill).")

roster_daily = dg.ScheduleDefinition(
    name="roster_daily", job=roster_job, cron_schedule="0 5 * * *",
    execution_timezone=PLANT_TIMEZONE,
    description="The HR roster at 05:00 plant time, before the day shift.")

defs = dg.Definitions(jobs=[perf_flow_job, roster_job], schedules=[perf_flow_hourly, roster_daily])
