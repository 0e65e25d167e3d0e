"""The plant's time axis: its time zone, hours, shifts and days.

Dagster partitions the flow by plant day (docs/deploy.md, "The unit of work"); the
tables keep the hour. Every row's partition_key is its local hour, so a key such as
2026-11-02-09:00 reads as the hour people on the shop floor call 9 o'clock. When the
clocks go back, the repeated hour's second instance is keyed with its UTC offset
(2026-10-25-02:00+0100), as Dagster keys hours, so a 25-hour day has 25 distinct keys.
A run covers the days of its partitions, narrowed by the window tags below when the
live path refreshes the hour that just ended or a replay covers part of a day.
The calendar rows computed here are the one place local dates, shifts and weeks
are derived; SQL models join them by partition_key instead of doing time-zone
arithmetic that SQLite and PostgreSQL would each do differently.

The time zone is a plant setting: PERFFLOW_PLANT_TIMEZONE (an IANA name), read when
the definitions load and whenever a time is shown or a plant day is cut; unset, the
bundled plant's zone.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIMEZONE_ENV = "PERFFLOW_PLANT_TIMEZONE"
DEFAULT_PLANT_TIMEZONE = "Asia/Shanghai"
PARTITIONS_START = "2025-01-01"
WINDOW_START_TAG = "perfflow/window_start"
WINDOW_END_TAG = "perfflow/window_end"
PARTITION_KEY_FORMAT = "%Y-%m-%d-%H:%M"
DAY_SHIFT_START_HOUR = 8
NIGHT_SHIFT_START_HOUR = 20
SHIFT_HOURS = NIGHT_SHIFT_START_HOUR - DAY_SHIFT_START_HOUR


class WindowTagError(ValueError):
    """A run's window tag is not an ISO 8601 time with offset inside the run's days."""


class TimezoneSettingError(ValueError):
    """PERFFLOW_PLANT_TIMEZONE names no time zone; the message says which value, in one line."""


def check_timezone(name: str, where: str = TIMEZONE_ENV) -> str:
    """`name` if it is an IANA time zone, else TimezoneSettingError naming `where`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimezoneSettingError(
            f"{where}={name!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return name


def plant_timezone() -> str:
    """The plant's time zone: PERFFLOW_PLANT_TIMEZONE, validated, or the bundled default."""
    value = os.environ.get(TIMEZONE_ENV, "").strip()
    return check_timezone(value) if value else DEFAULT_PLANT_TIMEZONE


def plant_tz(tz_name: str | None = None) -> ZoneInfo:
    """The ZoneInfo of `tz_name`, or of the plant's configured zone when None."""
    return ZoneInfo(tz_name or plant_timezone())


def _utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _is_second_instance(local: datetime) -> bool:
    """True for the second pass through a repeated hour (the clocks went back)."""
    return bool(local.fold) and local.replace(fold=0).utcoffset() > local.utcoffset()


def partition_key(value: datetime, tz_name: str | None = None) -> str:
    """The key of the hourly partition holding an aware time, as Dagster keys the plant's
    hours: the local hour, and the UTC offset appended on the second pass through a
    repeated hour."""
    local = value.astimezone(plant_tz(tz_name)).replace(minute=0, second=0, microsecond=0)
    fmt = PARTITION_KEY_FORMAT + ("%z" if _is_second_instance(local) else "")
    return local.strftime(fmt)


def iso_week_key(day: date) -> str:
    """The ISO week holding `day` as the calendar and the weekly marts name it: 2026-W45."""
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _wall(local: datetime, **fields) -> datetime:
    """A wall-clock time on the local day of `local` (fold cleared: shift and day starts are
    never inside a repeated hour)."""
    return local.replace(minute=0, second=0, microsecond=0, fold=0, **fields)


def shift_of(local: datetime) -> tuple[str, datetime]:
    """The shift ('day' 08-20, 'night' 20-08) of a local time and that shift's local start."""
    if DAY_SHIFT_START_HOUR <= local.hour < NIGHT_SHIFT_START_HOUR:
        return "day", _wall(local, hour=DAY_SHIFT_START_HOUR)
    start = _wall(local, hour=NIGHT_SHIFT_START_HOUR)
    if local.hour < DAY_SHIFT_START_HOUR:
        start = start - timedelta(days=1)  # wall-clock arithmetic: 20:00 the day before
    return "night", start


def calendar_row(hour_start: datetime, tz_name: str | None = None) -> dict:
    """Everything the SQL models need to know about one local hour."""
    tz = plant_tz(tz_name)
    local = hour_start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    end = (local.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    shift, shift_start = shift_of(local)
    day_start = _wall(local, hour=0)
    iso = local.isocalendar()
    week_start = day_start - timedelta(days=iso.weekday - 1)
    return {
        "partition_key": partition_key(local, tz.key),
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


def calendar_rows(start: datetime, end: datetime, tz_name: str | None = None) -> list[dict]:
    """One calendar row per local hour in [start, end) (aware datetimes)."""
    tz = plant_tz(tz_name)
    t = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    rows = []
    stop = end.astimezone(UTC)  # not `t < end`: one zone compares wall times, and the hour
    while t.astimezone(UTC) < stop:  # the clocks go back has the same wall time twice
        rows.append(calendar_row(t, tz.key))
        t = (t.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    return rows


PERIOD_WALL_LENGTH = {"day_start": timedelta(days=1), "shift_start": timedelta(hours=SHIFT_HOURS),
                      "week_start": timedelta(days=7)}


def period_end(grain: str, start: datetime, tz_name: str | None = None) -> datetime:
    """The naive UTC end of the day, shift or week (`grain`: day_start, shift_start,
    week_start) that starts at the naive UTC `start`: a wall-clock length, so the day the
    clocks go back ends 25 hours after it began and the day they go forward 23."""
    tz = plant_tz(tz_name)
    local = start.replace(tzinfo=UTC).astimezone(tz)
    return _utc_naive((local.replace(tzinfo=None) + PERIOD_WALL_LENGTH[grain]).replace(tzinfo=tz))


def day_bounds(day: date, tz_name: str | None = None) -> tuple[datetime, datetime]:
    """The local date `day` as [start, end) in naive UTC, as the warehouse stores times."""
    tz = plant_tz(tz_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return _utc_naive(start), _utc_naive(end)


def local_time(value: datetime, tz_name: str | None = None) -> datetime:
    """A naive UTC warehouse time as the plant's local time."""
    return value.replace(tzinfo=UTC).astimezone(plant_tz(tz_name))


def run_window(start: datetime, end: datetime, tags: dict[str, str]) -> tuple[datetime, datetime]:
    """The aware [start, end) a run works on: its partitions' days [start, end), narrowed by
    the run's window tags (ISO 8601 with offset) to whole hours inside those days."""
    out = [start, end]
    for i, tag in enumerate((WINDOW_START_TAG, WINDOW_END_TAG)):
        raw = tags.get(tag)
        if not raw:
            continue
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise WindowTagError(f"run tag {tag}={raw!r} is not an ISO 8601 time") from None
        if value.tzinfo is None:
            raise WindowTagError(f"run tag {tag}={raw!r} has no UTC offset")
        local = value.astimezone(start.tzinfo)
        if not start <= value <= end or local.minute or local.second or local.microsecond:
            raise WindowTagError(
                f"run tag {tag}={raw!r} is not a whole hour within the run's days "
                f"{start.isoformat()} .. {end.isoformat()}")
        out[i] = local
    if out[0] >= out[1]:
        raise WindowTagError(f"run tags {WINDOW_START_TAG} .. {WINDOW_END_TAG} leave no hour: "
                             f"{out[0].isoformat()} .. {out[1].isoformat()}")
    return out[0], out[1]


def window_tags(start: datetime | None = None, end: datetime | None = None) -> dict[str, str]:
    """The run tags narrowing a run of whole days to the hours [start, end)."""
    tags = {}
    if start is not None:
        tags[WINDOW_START_TAG] = start.isoformat()
    if end is not None:
        tags[WINDOW_END_TAG] = end.isoformat()
    return tags


def day_key(value: datetime, tz_name: str | None = None) -> str:
    """The Dagster key of the plant day holding an aware time (2026-11-02)."""
    return value.astimezone(plant_tz(tz_name)).strftime("%Y-%m-%d")
