"""The plant's time axis: its time zone, hourly partitions, shifts and days.

Partitions are hourly in the plant's local time, so a partition key such as
2026-11-02-09:00 reads as the hour people on the shop floor call 9 o'clock.
The calendar rows computed here are the one place local dates, shifts and weeks
are derived; SQL models join them by partition_key instead of doing time-zone
arithmetic that SQLite and PostgreSQL would each do differently.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

PLANT_TIMEZONE = "Asia/Shanghai"
PARTITIONS_START = "2026-01-01-00:00"
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"
DAY_SHIFT_START_HOUR = 8
NIGHT_SHIFT_START_HOUR = 20


def _utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def iso_week_key(day: date) -> str:
    """The ISO week holding `day` as the calendar and the weekly marts name it: 2026-W45."""
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def shift_of(local: datetime) -> tuple[str, datetime]:
    """The shift ('day' 08-20, 'night' 20-08) of a local time and that shift's local start."""
    base = local.replace(minute=0, second=0, microsecond=0)
    if DAY_SHIFT_START_HOUR <= local.hour < NIGHT_SHIFT_START_HOUR:
        return "day", base.replace(hour=DAY_SHIFT_START_HOUR)
    start = base.replace(hour=NIGHT_SHIFT_START_HOUR)
    if local.hour < DAY_SHIFT_START_HOUR:
        start = (start - timedelta(days=1)).replace(hour=NIGHT_SHIFT_START_HOUR)
    return "night", start


def calendar_row(hour_start: datetime, tz_name: str = PLANT_TIMEZONE) -> dict:
    """Everything the SQL models need to know about one local hour."""
    tz = ZoneInfo(tz_name)
    local = hour_start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    end = (local.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    shift, shift_start = shift_of(local)
    day_start = local.replace(hour=0)
    iso = local.isocalendar()
    week_start = day_start - timedelta(days=iso.weekday - 1)
    return {
        "partition_key": local.strftime(PARTITION_KEY_FORMAT),
        "hour_start": _utc_naive(local),
        "hour_end": _utc_naive(end),
        "local_date": local.strftime("%Y-%m-%d"),
        "local_hour": local.hour,
        "shift": shift,
        "shift_date": shift_start.strftime("%Y-%m-%d"),
        "shift_start": _utc_naive(shift_start),
        "day_start": _utc_naive(day_start),
        "iso_week": iso_week_key(local.date()),
        "week_start": _utc_naive(week_start),
    }


def calendar_rows(start: datetime, end: datetime, tz_name: str = PLANT_TIMEZONE) -> list[dict]:
    """One calendar row per local hour in [start, end) (aware datetimes)."""
    tz = ZoneInfo(tz_name)
    t = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    rows = []
    while t < end:
        rows.append(calendar_row(t, tz_name))
        t = (t.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    return rows


def day_bounds(day: date, tz_name: str = PLANT_TIMEZONE) -> tuple[datetime, datetime]:
    """The local date `day` as [start, end) in naive UTC, as the warehouse stores times."""
    tz = ZoneInfo(tz_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return _utc_naive(start), _utc_naive(end)


def local_time(value: datetime, tz_name: str = PLANT_TIMEZONE) -> datetime:
    """A naive UTC warehouse time as the plant's local time."""
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(tz_name))
