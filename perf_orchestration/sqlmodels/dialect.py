"""Running one model text on PostgreSQL and SQLite: SQL translation and window parameters.

Models are written for PostgreSQL and run there as written. On the embedded
(SQLite) warehouse the rendered SQL is parsed with sqlglot (read="postgres"),
rewritten where sqlglot's own SQLite output would not run, checked against the
subset below, and written with write="sqlite". Bound parameters (`:window_start`,
`:window_end`) survive as they are; the translation checks that. Translations are
cached per SQL text; `to_sqlite` shows what SQLite runs.

Supported subset (each item is run on both databases in tests/test_sqlmodels.py):

- select, joins, `with` chains, subqueries, union, group by / having, order by
  (sqlglot adds `nulls last`/`nulls first` so SQLite orders nulls like PostgreSQL),
  `distinct on` (rewritten by sqlglot to a row_number() subquery);
- case, coalesce, nullif, greatest/least (sqlglot: max/min of coalesces), `||`,
  concat (rewritten here to `||` of coalesces), lower, upper, length, substring,
  trim, replace, position/strpos, abs, round, floor, ceil, sqrt, ln, power, mod;
- aggregates sum, count (also `filter (where ...)`), avg, min, max, string_agg
  (group_concat), bool_or/bool_and (max/min);
- window functions row_number, rank, dense_rank, ntile, percent_rank, cume_dist,
  lag, lead, first_value, last_value, nth_value, with partition/order/frames;
- casts to numeric/decimal, double precision/float/real (all become SQLite REAL,
  so `cast(x as numeric) / y` divides as a float on both), integer/bigint/smallint
  (note: PostgreSQL rounds 2.7::int to 3, SQLite truncates to 2), text/varchar,
  timestamp (SQLite datetime(): whole seconds) and date; not with a length or scale
  (varchar(3), numeric(10, 2)): SQLite would ignore it;
- `date_trunc('second'|'minute'|'hour'|'day'|'week'|'month'|'year', ts)` → strftime
  giving 'YYYY-MM-DD HH:MM:SS';
- `extract(... from ts)` and `date_part(...)` for year, quarter, month, day, hour,
  minute, second, dow, isodow, doy, and `extract(epoch from (b - a))` (seconds between
  two timestamps, millisecond precision on SQLite) or `extract(epoch from ts)`;
- `ts + interval '90 minutes'`, `ts - interval '1 day 2 hours'` (units second .. year)
  → SQLite datetime(ts, '+90 minutes'), whole seconds;
- now() / current_timestamp (UTC on SQLite, the session time zone on PostgreSQL).

Anything else that sqlglot reads as a function (to_char, percentile_cont,
generate_series, stddev, regexp, json operators, array functions, ...), an interval
anywhere but `timestamp ± interval`, and casts to other types raise TranslationError
naming the model file and line. Known differences the translation does not hide:
integer division on both (cast explicitly), division by zero (PostgreSQL raises,
SQLite gives null: use nullif), timestamp - timestamp without extract(epoch ...)
(an interval on PostgreSQL, a meaningless number on SQLite), booleans (1/0 on SQLite).

What sqlglot 30.30 writes for SQLite without this module's rewrites, and why they exist:
date_trunc → TIMESTAMP_TRUNC(ts, HOUR), extract → EXTRACT(HOUR FROM ts), and
intervals → INTERVAL '1' HOUR, none of which SQLite knows, and concat → CONCAT,
which SQLite < 3.44 lacks; even with unsupported_level=RAISE it does not object.
floor() is guarded against null because SQLAlchemy's SQLite dialect replaces SQLite's
floor with Python's math.floor, which raises on null.

Datetime windows: SQLite stores SQLAlchemy DateTime values as 'YYYY-MM-DD
HH:MM:SS.ffffff' text, and the translated functions return 'YYYY-MM-DD HH:MM:SS'.
Window bounds are therefore bound on SQLite as 'YYYY-MM-DD HH:MM:SS' (with
'.ffffff' only when not zero), which compares correctly with both forms for the
half-open `col >= :window_start and col < :window_end`. Aware datetimes become naive
UTC on both databases, the warehouse convention. A partition column must hold
timestamps (date_trunc('day', ts), not ts::date): on SQLite '2024-05-06' sorts before
the bound '2024-05-06 00:00:00', so a date column would miss the window's first day.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from perf_orchestration.sqlmodels.errors import TranslationError
from perf_orchestration.sqlmodels.render import find_params

WINDOW_PARAMS = ("window_start", "window_end")
# A full refresh of an incremental model binds a window wider than any plant history.
FULL_REFRESH_WINDOW = (datetime(1900, 1, 1), datetime(9999, 1, 1))

_ALLOWED_FUNCTIONS: tuple[type[exp.Func], ...] = (
    exp.And, exp.Or,  # sqlglot types these operators as functions too
    exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max, exp.GroupConcat, exp.LogicalOr,
    exp.LogicalAnd, exp.Coalesce, exp.Nullif, exp.Case, exp.If, exp.Cast, exp.Abs, exp.Round,
    exp.Floor, exp.Ceil, exp.Sqrt, exp.Ln, exp.Pow, exp.Mod, exp.Lower, exp.Upper, exp.Length,
    exp.Substring, exp.Trim, exp.Replace, exp.StrPosition, exp.Greatest, exp.Least,
    exp.CurrentTimestamp, exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile, exp.PercentRank,
    exp.CumeDist, exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    # rewritten below
    exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.Concat,
)
_ALLOWED_CASTS = {
    exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT,
    exp.DataType.Type.INT, exp.DataType.Type.BIGINT, exp.DataType.Type.SMALLINT,
    exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR,
    exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATE,
}
_TRUNC_FORMATS = {
    "SECOND": ("%Y-%m-%d %H:%M:%S", ()),
    "MINUTE": ("%Y-%m-%d %H:%M:00", ()),
    "HOUR": ("%Y-%m-%d %H:00:00", ()),
    "DAY": ("%Y-%m-%d 00:00:00", ()),
    # the Monday on or before the day, as PostgreSQL's ISO weeks start on Monday
    "WEEK": ("%Y-%m-%d 00:00:00", ("-6 days", "weekday 1")),
    "MONTH": ("%Y-%m-01 00:00:00", ()),
    "YEAR": ("%Y-01-01 00:00:00", ()),
}
_EXTRACT_FORMATS = {"YEAR": "%Y", "MONTH": "%m", "DAY": "%d", "HOUR": "%H", "MINUTE": "%M",
                    "DOW": "%w", "DOY": "%j"}
_INTERVAL_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days",
                   "month": "months", "year": "years"}
_INTERVAL_PART = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([a-z]+?)s?\b", re.IGNORECASE)
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


class _Unsupported(Exception):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def to_sqlite(sql: str, origin: Path | str = "<sql>") -> str:
    """The SQLite text of one PostgreSQL-flavoured select, or TranslationError naming `origin`."""
    try:
        return _translate(sql)
    except _Unsupported as exc:
        raise TranslationError(origin, str(exc), exc.line) from None


def sql_for(dialect_name: str, sql: str, origin: Path | str = "<sql>") -> str:
    """The text a database runs: as written on PostgreSQL, translated on SQLite."""
    return to_sqlite(sql, origin) if dialect_name == "sqlite" else sql


def cache_info() -> functools._CacheInfo:
    """Hits and misses of the translation cache (one entry per distinct SQL text)."""
    return _translate.cache_info()


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    try:
        trees = [t for t in sqlglot.parse(sql, read="postgres") if t is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise _Unsupported(f"sqlglot cannot parse the SQL: {first.get('description') or exc}",
                           first.get("line")) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        raise _Unsupported("a model is exactly one select statement")
    tree = trees[0]
    _check_subset(tree)
    for node in reversed(list(tree.walk())):  # children before parents
        new = _rewrite(node)
        if new is not node:
            node.replace(new)
    try:
        out = tree.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise _Unsupported(f"sqlglot cannot write this for SQLite: {exc}") from None
    before = {name for name, _, _ in find_params(sql)}
    after = {name for name, _, _ in find_params(out)}
    if before != after:
        raise _Unsupported(f"bound parameters changed in translation: {sorted(before)} -> "
                           f"{sorted(after)}")
    return out


def _line(node: exp.Expression | None) -> int | None:
    """The line sqlglot recorded for the node, or for the nearest enclosing node that has one."""
    while node is not None:
        for candidate in node.walk():
            line = candidate.meta.get("line") if candidate.meta else None
            if line:
                return line
        node = node.parent
    return None


def _shown(node: exp.Expression) -> str:
    text = " ".join(node.sql(dialect="postgres").split())
    return text if len(text) <= 60 else text[:57] + "..."


def _check_subset(tree: exp.Expression) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_FUNCTIONS):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            raise _Unsupported(f"{_shown(node)!r} ({name.lower()}) does not translate to SQLite "
                               "(see the supported subset in sqlmodels/dialect.py)", _line(node))
        if isinstance(node, exp.GroupConcat) and node.find(exp.Order):
            raise _Unsupported("string_agg(... order by ...) does not translate to SQLite < 3.44",
                               _line(node))
        if isinstance(node, exp.Cast):
            target = node.to.this
            if target not in _ALLOWED_CASTS:
                raise _Unsupported(f"cast to {node.to.sql('postgres')} does not translate to "
                                   "SQLite", _line(node))
            if node.to.expressions:  # SQLite ignores a length or scale; PostgreSQL applies it
                raise _Unsupported(f"cast to {node.to.sql('postgres')} does not translate to "
                                   "SQLite, which ignores the length or scale (cast without "
                                   "it, and round() or substring() explicitly)", _line(node))
        if isinstance(node, exp.Interval) and not (
                isinstance(node.parent, exp.Add | exp.Sub) and node.arg_key == "expression"
                or isinstance(node.parent, exp.Add) and node.arg_key == "this"):
            raise _Unsupported("an interval translates only as timestamp + / - interval",
                               _line(node))


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _int(expression: exp.Expression) -> exp.Expression:
    return exp.Cast(this=expression, to=exp.DataType.build("INTEGER"))


def _unit(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    return (unit.name if unit is not None else "").upper()


def _rewrite(node: exp.Expression) -> exp.Expression:
    handler = _REWRITES.get(type(node))
    return handler(node) if handler else node


def _rewrite_trunc(node: exp.Expression) -> exp.Expression:
    unit = _unit(node)
    if unit not in _TRUNC_FORMATS:
        raise _Unsupported(f"date_trunc('{unit.lower()}', ...) does not translate to SQLite "
                           f"(units: {', '.join(u.lower() for u in _TRUNC_FORMATS)})", _line(node))
    fmt, modifiers = _TRUNC_FORMATS[unit]
    return _fn("STRFTIME", exp.Literal.string(fmt), node.this,
               *(exp.Literal.string(m) for m in modifiers))


def _seconds_between(later: exp.Expression, earlier: exp.Expression) -> exp.Expression:
    days = exp.Sub(this=_fn("JULIANDAY", later), expression=_fn("JULIANDAY", earlier))
    seconds = exp.Mul(this=exp.Paren(this=days), expression=exp.Literal.number("86400.0"))
    return exp.Round(this=seconds, decimals=exp.Literal.number(3))


def _rewrite_extract(node: exp.Extract) -> exp.Expression:
    unit = node.this.name.upper()
    value = node.expression
    if unit == "EPOCH":
        inner = value.unnest() if isinstance(value, exp.Paren) else value
        if isinstance(inner, exp.Sub) and not isinstance(inner.expression, exp.Interval):
            return _seconds_between(inner.this, inner.expression)
        return _seconds_between(value, exp.Literal.number(_UNIX_EPOCH_JULIAN_DAY))
    if unit in _EXTRACT_FORMATS:
        return _int(_fn("STRFTIME", exp.Literal.string(_EXTRACT_FORMATS[unit]), value))
    if unit == "SECOND":
        return exp.Cast(this=_fn("STRFTIME", exp.Literal.string("%f"), value),
                        to=exp.DataType.build("REAL"))
    if unit == "ISODOW":  # Monday 1 .. Sunday 7; %w is Sunday 0 .. Saturday 6
        dow = _int(_fn("STRFTIME", exp.Literal.string("%w"), value))
        shifted = exp.Mod(this=exp.Paren(this=exp.Add(this=dow, expression=exp.Literal.number(6))),
                          expression=exp.Literal.number(7))
        return exp.Paren(this=exp.Add(this=shifted, expression=exp.Literal.number(1)))
    if unit == "QUARTER":
        month = _int(_fn("STRFTIME", exp.Literal.string("%m"), value))
        return exp.Paren(this=exp.Div(
            this=exp.Paren(this=exp.Add(this=month, expression=exp.Literal.number(2))),
            expression=exp.Literal.number(3), typed=True))
    raise _Unsupported(f"extract({unit.lower()} from ...) does not translate to SQLite",
                       _line(node))


def _interval_modifiers(interval: exp.Interval, sign: int) -> list[exp.Expression]:
    if not isinstance(interval.this, exp.Literal):
        raise _Unsupported("only literal intervals translate (interval '2 hours')",
                           _line(interval))
    text = interval.this.name
    if interval.args.get("unit") is not None:
        text = f"{text} {interval.args['unit'].name}"
    parts = _INTERVAL_PART.findall(text)
    leftover = _INTERVAL_PART.sub("", text).strip()
    if not parts or leftover:
        raise _Unsupported(f"interval '{text}' does not translate to SQLite", _line(interval))
    modifiers = []
    for amount, unit in parts:
        unit = unit.lower()
        number = float(amount) * sign
        if unit == "week":
            unit, number = "day", number * 7
        if unit not in _INTERVAL_UNITS:
            raise _Unsupported(f"interval unit {unit!r} does not translate to SQLite",
                               _line(interval))
        shown = int(number) if number == int(number) else number
        modifiers.append(exp.Literal.string(f"{'+' if number >= 0 else ''}{shown} "
                                            f"{_INTERVAL_UNITS[unit]}"))
    return modifiers


def _rewrite_interval_arithmetic(node: exp.Add | exp.Sub) -> exp.Expression:
    if isinstance(node.expression, exp.Interval):
        sign = -1 if isinstance(node, exp.Sub) else 1
        return _fn("DATETIME", node.this, *_interval_modifiers(node.expression, sign))
    if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        return _fn("DATETIME", node.expression, *_interval_modifiers(node.this, 1))
    return node


def _rewrite_concat(node: exp.Concat) -> exp.Expression:
    parts = [exp.Coalesce(this=exp.Cast(this=e, to=exp.DataType.build("TEXT")),
                          expressions=[exp.Literal.string("")]) for e in node.expressions]
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part)
    return exp.Paren(this=out)


def _rewrite_floor(node: exp.Floor) -> exp.Expression:
    # SQLAlchemy's SQLite dialect registers Python's math.floor as floor(), which fails on null.
    value = node.this
    return exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()),
                                true=exp.Null())], default=node.copy())


_REWRITES: dict[type, Callable] = {
    exp.Floor: _rewrite_floor,
    exp.TimestampTrunc: _rewrite_trunc,
    exp.DateTrunc: _rewrite_trunc,
    exp.Extract: _rewrite_extract,
    exp.Add: _rewrite_interval_arithmetic,
    exp.Sub: _rewrite_interval_arithmetic,
    exp.Concat: _rewrite_concat,
}


def _bound_datetime(value: datetime, sqlite: bool) -> datetime | str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not sqlite:
        return value
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def window_params(dialect_name: str, window: tuple[datetime, datetime]) -> dict[str, object]:
    """`window_start`/`window_end` as each database compares them with its datetime columns."""
    sqlite = dialect_name == "sqlite"
    start, end = (_bound_datetime(v, sqlite) for v in window)
    if _bound_datetime(window[0], False) >= _bound_datetime(window[1], False):
        raise ValueError(f"window start {window[0]} is not before its end {window[1]}")
    return {"window_start": start, "window_end": end}
