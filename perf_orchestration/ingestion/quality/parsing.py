"""Per-value parsing of source records into the entity's declared types.

The Great Expectations suite gives the row-level verdicts, but whether a value
*is* an integer or a date-time with an offset is decided here, in one place, so
that the verdict GX reports and the typed value that lands can never disagree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from datetime import UTC, date, datetime
from typing import Any, Final

from perf_orchestration.ingestion.entities import ColumnType

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class _Invalid:
    """Marker for a value that does not parse, distinct from None (which means null)."""

    _instance: _Invalid | None = None

    def __new__(cls) -> _Invalid:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()

#: How a reason names what a column's values must be.
TYPE_DESCRIPTIONS: Final[dict[str, str]] = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "datetime": "an ISO 8601 date-time with a UTC offset",
    "date": "a date",
}

#: What the canonical text of a parsed value looks like, per type; the regex expectation
#: on the type column checks exactly this, so anything that did not parse fails it.
TYPE_PATTERNS: Final[dict[str, str]] = {
    "int": r"^int:-?\d+$",
    "float": r"^float:-?\d+(?:\.\d+)?(?:e[+-]\d+)?$",
    "str": r"^str:",
    "datetime": r"^datetime:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?$",
    "date": r"^date:\d{4}-\d{2}-\d{2}$",
}


def is_null(value: Any) -> bool:
    """True for JSON null and a float NaN, which pandas would treat as missing anyway."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def parse_value(type_: ColumnType, value: Any) -> Any:
    """The value as the declared type, or INVALID; JSON booleans are never numbers."""
    if type_ == "str":
        return value if isinstance(value, str) else INVALID
    if type_ == "int":
        if isinstance(value, bool):
            return INVALID
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                return INVALID
            value = int(value)
        if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
            return value
        return INVALID
    if type_ == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return INVALID
        number = float(value)
        return number if math.isfinite(number) else INVALID
    if type_ == "datetime":
        return parse_datetime(value)
    if type_ == "date":
        return parse_date(value)
    raise ValueError(f"unknown column type {type_!r}")


def parse_column(type_: ColumnType, values: list[Any]) -> list[Any]:
    """parse_value over a column, None for nulls: the common well-typed values (a str for
    text, an int in range for integers, a finite float for numbers) pass without the general
    path, which is the one place that judges everything else."""
    if type_ == "str":
        return [v if type(v) is str else None if is_null(v) else parse_value(type_, v)
                for v in values]
    if type_ == "int":
        return [v if type(v) is int and INT64_MIN <= v <= INT64_MAX
                else None if is_null(v) else parse_value(type_, v) for v in values]
    if type_ == "float":
        return [v if type(v) is float and v - v == 0.0  # finite: inf - inf and nan are nan
                else None if is_null(v) else parse_value(type_, v) for v in values]
    return [None if is_null(v) else parse_value(type_, v) for v in values]


def parse_datetime(value: Any) -> datetime | _Invalid:
    """UTC, timezone-naive datetime from an ISO 8601 string that carries an offset.

    A string without an offset is rejected: guessing the plant's zone would shift
    every hourly bucket silently.
    """
    if not isinstance(value, str):
        return INVALID
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return INVALID
        return parsed.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return INVALID


def parse_date(value: Any) -> date | _Invalid:
    """A calendar date from a date object or ISO text (YYYY-MM-DD); a date-time is not one."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) != 10:
        return INVALID
    try:
        return date.fromisoformat(value)
    except ValueError:
        return INVALID


def json_text(value: Any) -> str:
    """The value as JSON text, so lists and objects reach GX as plain strings."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return repr(value)


def type_tag(type_: ColumnType, parsed: Any, raw: Any) -> str | None:
    """The text the type expectation matches: "<type>:<canonical>" when the value parsed.

    Values that did not parse become "rejected:<json>", which no pattern in
    TYPE_PATTERNS accepts; nulls stay None so that the null check alone reports them.
    """
    if is_null(raw):
        return None
    if parsed is INVALID:
        return f"rejected:{json_text(raw)}"
    if type_ in ("datetime", "date"):
        return f"{type_}:{parsed.isoformat()}"
    if type_ == "float":
        return f"float:{parsed!r}"
    return f"{type_}:{parsed}"


def type_tags(type_: ColumnType, parsed: list[Any], raw: list[Any]) -> list[str | None]:
    """type_tag() over a column: a value that parsed is tagged without the general path."""
    prefix = f"{type_}:"
    if type_ in ("datetime", "date"):
        show = _isoformat
    elif type_ == "float":
        show = repr
    else:
        show = str
    return [type_tag(type_, p, r) if p is None or p is INVALID else prefix + show(p)
            for p, r in zip(parsed, raw, strict=True)]


def _isoformat(value: date) -> str:
    return value.isoformat()


def as_number(type_: ColumnType, parsed: Any) -> float:
    """A float copy for range and pair checks; anything that did not parse is NaN."""
    if parsed is None or parsed is INVALID:
        return math.nan
    if type_ in ("int", "float"):
        return float(parsed)
    if type_ == "datetime":
        return parsed.replace(tzinfo=UTC).timestamp()
    if type_ == "date":
        return float(parsed.toordinal())
    return math.nan


def scalars(values: list[Any]) -> list[Any]:
    """scalar() over a column; text and integers, most of any batch, pass as they are."""
    return [v if type(v) is str or type(v) is int else scalar(v) for v in values]


def scalar(value: Any) -> Any:
    """The raw value with lists and objects turned into JSON text (GX cannot report them)."""
    if isinstance(value, dict | list | tuple | set):
        return json_text(value)
    return None if is_null(value) else value


_PLAIN = (str, int, float, bool, type(None))


def fingerprint(payload: Any) -> Hashable:
    """A stable key for exact-duplicate detection that ignores key order: for a flat record
    of plain values, its sorted (field, type, value) items (1, 1.0 and true stay apart, as in
    JSON text); for anything else, or a NaN, the JSON text."""
    if type(payload) is dict:
        items = payload.items()
        if all(type(v) in _PLAIN and v == v for _, v in items):
            return tuple(sorted((k, type(v).__name__, v) for k, v in items))
    return json_text(payload)
