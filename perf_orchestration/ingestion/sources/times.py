"""The four ways a source writes a moment, both ways: asking for a window, reading a record.

`iso8601` is ISO 8601 with a UTC offset (the canonical form every landed record carries);
`naive_local` is a wall-clock time without offset in the system's zone (the plant's unless
the system names another); `epoch_seconds` and `epoch_millis` count from 1970-01-01 UTC.
An ambiguous local time (the repeated hour when clocks go back) is read as its first
occurrence, as most systems that store naive local times do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from perf_orchestration.ingestion.sources.config import TimeFormat


class BadTime(ValueError):
    """A value that is not a moment in the declared format."""


def window_value(moment: datetime, fmt: TimeFormat, tz: ZoneInfo) -> str | int:
    """An aware moment as the source expects it in a query parameter."""
    if fmt == "iso8601":
        return moment.isoformat()
    if fmt == "naive_local":
        return moment.astimezone(tz).replace(tzinfo=None).isoformat()
    seconds = moment.timestamp()
    return int(seconds) if fmt == "epoch_seconds" else int(round(seconds * 1000))


def sql_value(moment: datetime, fmt: TimeFormat, tz: ZoneInfo) -> datetime | str | int:
    """An aware moment as a bound SQL parameter compared with a column stored as `fmt`."""
    if fmt == "naive_local":
        return moment.astimezone(tz).replace(tzinfo=None)
    if fmt == "iso8601":
        return moment
    return window_value(moment, fmt, tz)


def canonical_time(value: object, fmt: TimeFormat, tz: ZoneInfo) -> str:
    """A record's time value as ISO 8601 with offset, or BadTime saying what it is not."""
    if fmt in ("epoch_seconds", "epoch_millis"):
        number = _number(value)
        if number is None:
            raise BadTime(f"{value!r} is not {fmt.replace('_', ' ')}")
        seconds = number / 1000 if fmt == "epoch_millis" else number
        try:
            return datetime.fromtimestamp(seconds, UTC).astimezone(tz).isoformat()
        except (OverflowError, OSError, ValueError):
            raise BadTime(f"{value!r} is out of range for {fmt}") from None
    moment = _moment(value)
    if moment is None:
        raise BadTime(f"{value!r} is not an ISO 8601 date-time")
    if moment.tzinfo is None:
        if fmt == "iso8601":
            raise BadTime(f"{value!r} has no UTC offset (a local time without offset is "
                          "times: naive_local)")
        moment = moment.replace(tzinfo=tz)
    return moment.isoformat()


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date) or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None
