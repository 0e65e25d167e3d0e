"""From a source's records to canonical entity records: field names, nesting, times, codes.

A mapping is compiled once per entity from sources.yaml. A record whose value cannot be
read as declared (a time in another format) is not dropped: it comes back as a `Rejected`
row with the reason naming the system, entity and setting, and lands in ops.quarantine
like any other bad row. A mapped field that no record of a fetch has at all is a setting
error, not bad data: `SourceSettingError` names it and nothing of the fetch is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from perf_orchestration.ingestion.entities import Entity
from perf_orchestration.ingestion.sources.config import EntitySpec, FieldSpec, TimeFormat
from perf_orchestration.ingestion.sources.times import BadTime, canonical_time

MAPPING_EXPECTATION = "source_mapping"


class SourceSettingError(Exception):
    """A sources.yaml setting that does not fit what the source answers; one line."""


@dataclass(frozen=True)
class Rejected:
    """A source record that could not be mapped, kept whole with why."""

    payload: dict
    source_record_id: str | None
    reason: str


@dataclass(frozen=True)
class _Field:
    column: str
    path: tuple[str, ...]
    time: TimeFormat | None
    values: dict | None
    required: bool
    setting: str


class Mapper:
    """Canonical records from one entity's source records."""

    def __init__(self, entity: Entity, spec: EntitySpec, default_times: TimeFormat,
                 tz: ZoneInfo, where: str, *, json_values: bool = True):
        self.entity, self.tz, self.where = entity, tz, where
        self.label = f"{entity.system.upper()} {entity.name}"
        times = spec.times or default_times
        self.explicit = set(spec.fields)  # columns the file maps (the others: same name)
        self.fields: list[_Field] = []
        for column in entity.columns:
            raw = spec.fields.get(column.name, column.name)
            field = raw if isinstance(raw, FieldSpec) else FieldSpec(**{"from": raw})
            time = field.time or (times if column.type == "datetime" else None)
            self.fields.append(_Field(
                column.name, tuple(field.from_.split(".")), time, field.values,
                column.required, f"{where}.fields.{column.name}"))
        # the simulator's shape: same names, ISO times, no codes; records pass unchanged
        # (database rows never do: their times and decimals are Python objects)
        self.identity = json_values and all(f.path == (f.column,) and f.time in (None, "iso8601")
                            and f.values is None for f in self.fields)

    def source_column(self, column: str) -> str:
        """The source field a canonical column is read from (its first path element)."""
        return next(f.path[0] for f in self.fields if f.column == column)

    def map(self, records: list) -> tuple[list[dict], list[Rejected]]:
        if self.identity or not records:
            return records, []
        out: list[dict] = []
        rejected: list[Rejected] = []
        seen: set[str] = set()
        for record in records:
            if not isinstance(record, dict):
                rejected.append(Rejected({"value": record}, None,
                                         f"{self.label}: a record is not an object"))
                continue
            row, problem = self._row(record, seen)
            if problem is None:
                out.append(row)
            else:
                ident = row.get(self.entity.id_column)
                rejected.append(Rejected(record, None if ident is None else str(ident), problem))
        self._check_present(records, seen)
        return out, rejected

    def _row(self, record: dict, seen: set[str]) -> tuple[dict, str | None]:
        row: dict = {}
        problem = None
        for f in self.fields:
            found, value = _lookup(record, f.path)
            if not found:
                continue
            seen.add(f.column)
            value = _plain(value)
            if f.values is not None and value is not None:
                value = f.values.get(str(value), value)
            if f.time is not None and value is not None and problem is None:
                try:
                    value = canonical_time(value, f.time, self.tz)
                except BadTime as exc:
                    problem = f"{self.label}: {f.column}: {exc} (setting {f.setting}: " \
                              f"{f.time})"
            elif isinstance(value, datetime | date):
                value = value.isoformat()
            row[f.column] = value
        return row, problem

    def _check_present(self, records: list, seen: set[str]) -> None:
        missing = [f for f in self.fields if f.required and f.column not in seen]
        if missing:
            f = missing[0]
            names = sorted({k for r in records[:50] if isinstance(r, dict) for k in r})
            raise SourceSettingError(
                f"{self.label}: {f.setting}: source field {'.'.join(f.path)!r} is in none of "
                f"the {len(records)} records (their fields: {', '.join(names)})")


def _lookup(record: dict, path: tuple[str, ...]) -> tuple[bool, object]:
    node: object = record
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _plain(value: object) -> object:
    """Database values as JSON would carry them (Decimal as a number)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent \
            >= 0 else float(value)
    return value
