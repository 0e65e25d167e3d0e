"""The main job: every partitioned asset of the flow, in one in-process run per range."""

import dagster as dg

from assets.partitions import hourly_partitions

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

defs = dg.Definitions(jobs=[perf_flow_job, roster_job])
