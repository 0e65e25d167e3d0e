"""The main job: every partitioned asset of the flow, in one in-process run per range of
plant days; the hourly schedule refreshes today's partition with the hour that just ended."""

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from assets.ingestion import ROSTER_SOURCES, SNAPSHOT_SOURCES
from assets.partitions import PLANT_TIMEZONE, plant_days
from jobs.engines import checked_celery_executor
from perf_orchestration.plant_calendar import day_key, window_tags

FLOW_SELECTION = (dg.AssetSelection.all()
                  - dg.AssetSelection.assets(*ROSTER_SOURCES, *SNAPSHOT_SOURCES)
                  - dg.AssetSelection.groups("people", "customers", "reports"))


def _flow_job(name: str, executor_def: dg.ExecutorDefinition, config: dict,
              description: str):
    return dg.define_asset_job(name, selection=FLOW_SELECTION, partitions_def=plant_days,
                               executor_def=executor_def, config=config,
                               description=description)


perf_flow_job = _flow_job(
    "perf_flow_job",
    # In process by default (an hour's run is mostly per-step cost); a backfill may pick
    # `multiprocess: {max_concurrent: 2}` in its run config to run two steps at once.
    dg.multi_or_in_process_executor, {"execution": {"config": {"in_process": {}}}},
    "Ingest, check, transform and compute metrics for a range of plant days (one run for "
    "the whole range; the window tags narrow it to some hours).")

perf_flow_celery_job = _flow_job(
    "perf_flow_celery_job", checked_celery_executor, {},
    "perf_flow_job with its steps on Celery workers (dagster-celery; the broker and result "
    "backend from PERFFLOW_CELERY_BROKER_URL and PERFFLOW_CELERY_BACKEND_URL): for "
    "backfills spread over several machines (docs/deploy.md).")

roster_job = dg.define_asset_job(
    "roster_job",
    selection=dg.AssetSelection.assets(*ROSTER_SOURCES),
    executor_def=dg.in_process_executor,
    description="Refresh the HR roster snapshot (teams and employees).",
)

# The plant's clock. Each turned on in the UI (Automation) when a plant goes live; off by
# default so a trial instance or `dagster dev` runs nothing by itself.
@dg.schedule(
    name="perf_flow_job_schedule", job=perf_flow_job, cron_schedule="10 * * * *",
    execution_timezone=PLANT_TIMEZONE,
    description="Ten minutes past every hour, the hour that just ended, in its day's partition "
    "(late rows of earlier hours land on their day's next full run or a backfill).")
def perf_flow_hourly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tz = ZoneInfo(PLANT_TIMEZONE)
    end = context.scheduled_execution_time.astimezone(tz).replace(minute=0, second=0,
                                                                   microsecond=0)
    start = (end.astimezone(UTC) - timedelta(hours=1)).astimezone(tz)  # across clock changes
    return dg.RunRequest(run_key=f"hour-{start.isoformat()}",
                         partition_key=day_key(start, PLANT_TIMEZONE),
                         tags=window_tags(start, end))

roster_daily = dg.ScheduleDefinition(
    name="roster_daily", job=roster_job, cron_schedule="0 5 * * *",
    execution_timezone=PLANT_TIMEZONE,
    description="The HR roster at 05:00 plant time, before the day shift.")

defs = dg.Definitions(jobs=[perf_flow_job, perf_flow_celery_job, roster_job],
                      schedules=[perf_flow_hourly, roster_daily])
