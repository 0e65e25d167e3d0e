"""Running the flow's day-partitioned assets over some hours, as the hourly schedule does."""

from datetime import UTC, datetime, timedelta

from perf_orchestration.plant_calendar import day_key, plant_tz, window_tags


def hours_run(local_start: str, hours: int = 1, tz_name: str | None = None) -> dict:
    """`partition_key` and `tags` for dg.materialize: the plant day holding the local hour
    `local_start` ('2026-11-02T09:00'), narrowed to `hours` hours from it."""
    tz = plant_tz(tz_name)
    start = datetime.fromisoformat(local_start).replace(tzinfo=tz)
    end = (start.astimezone(UTC) + timedelta(hours=hours)).astimezone(tz)
    return {"partition_key": day_key(start, tz.key), "tags": window_tags(start, end)}
