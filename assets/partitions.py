"""Partition definitions shared by every time-partitioned asset."""

import dagster as dg

from perf_orchestration.plant_calendar import PARTITIONS_START, PLANT_TIMEZONE

hourly_partitions = dg.HourlyPartitionsDefinition(
    start_date=PARTITIONS_START, timezone=PLANT_TIMEZONE
)

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START[:10], timezone=PLANT_TIMEZONE
)
