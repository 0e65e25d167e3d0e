"""Partition definitions shared by every time-partitioned asset, in the plant's time zone.

The zone is read once, when the definitions load (PERFFLOW_PLANT_TIMEZONE, see
docs/operating.md); a bad value stops the load with one line naming the variable.
"""

import dagster as dg

from perf_orchestration.plant_calendar import PARTITIONS_START, plant_timezone

PLANT_TIMEZONE = plant_timezone()

hourly_partitions = dg.HourlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=PLANT_TIMEZONE
)

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START[:10], timezone=PLANT_TIMEZONE
)
