"""Which time window a SQL model replaces when a run covers some hourly partitions.

An hourly model replaces exactly the run's hours; a model partitioned on day,
shift or week starts is recomputed for every whole day, shift or week the run
touches, since its rows summarize all of that period's hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from perf_orchestration.plant_calendar import calendar_row

GRAIN_LENGTH = {"day_start": timedelta(days=1), "shift_start": timedelta(hours=12),
                "week_start": timedelta(days=7)}


def model_window(partition_by: str | None, start: datetime, end: datetime
                 ) -> tuple[datetime, datetime]:
    """The UTC-naive [start, end) the model must replace for the aware hour range [start, end)."""
    length = GRAIN_LENGTH.get(partition_by or "")
    if length is None:
        return (start.astimezone(UTC).replace(tzinfo=None),
                end.astimezone(UTC).replace(tzinfo=None))
    first = calendar_row(start)[partition_by]
    last = calendar_row(end - timedelta(microseconds=1))[partition_by]
    return first, last + length
