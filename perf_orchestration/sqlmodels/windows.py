"""Which time window a SQL model replaces when a run covers some hours (its plant days, or
the hours its window tags narrow them to).

An hourly model replaces exactly the run's hours; a model partitioned on day,
shift or week starts is recomputed for every whole day, shift or week the run
touches, since its rows summarize all of that period's hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perf_orchestration.plant_calendar import PERIOD_WALL_LENGTH, calendar_row, period_end


def model_window(partition_by: str | None, start: datetime, end: datetime,
                 tz_name: str | None = None) -> tuple[datetime, datetime]:
    """The UTC-naive [start, end) the model must replace for the aware hour range [start, end)
    (a day is 23 or 25 hours long when the plant's clocks change)."""
    if partition_by not in PERIOD_WALL_LENGTH:
        return (start.astimezone(UTC).replace(tzinfo=None),
                end.astimezone(UTC).replace(tzinfo=None))
    first = calendar_row(start, tz_name)[partition_by]
    last = calendar_row(end - timedelta(microseconds=1), tz_name)[partition_by]
    return first, period_end(partition_by, last, tz_name)
