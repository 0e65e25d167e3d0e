"""The flow's partitions: plant days in the plant's time zone (docs/deploy.md, "The unit of
work"). The tables keep the hour; a run's window is its days, narrowed by its window tags.

The zone is read once, when the definitions load (PERFFLOW_PLANT_TIMEZONE, see
docs/operating.md); a bad value stops the load with one line naming the variable.
"""

from datetime import datetime

import dagster as dg

from perf_orchestration.deploy.priority import is_backfill, yield_to_live_work
from perf_orchestration.plant_calendar import (
    PARTITIONS_START,
    WindowTagError,
    plant_timezone,
    run_window,
)

PLANT_TIMEZONE = plant_timezone()

# Today is a partition too (end_offset=1): the live path refreshes the day hour by hour.
plant_days = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=PLANT_TIMEZONE, end_offset=1)

# Closed days only: what is reported on (the war room and the HR workbooks of a whole day).
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=PLANT_TIMEZONE)


def window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """The aware [start, end) of the run: its days, narrowed by its window tags. A backfill
    run's steps yield the processor to live runs (perf_orchestration/deploy/priority.py)."""
    if is_backfill(context.run.tags):
        yield_to_live_work()
    tw = context.partition_time_window
    try:
        return run_window(tw.start, tw.end, context.run.tags)
    except WindowTagError as exc:
        raise dg.Failure(description=f"{exc}. Nothing of this run was written.") from None
