"""Row-level verdicts for a batch of source records: land the good rows, quarantine the rest.

Nothing is dropped: every input position ends up exactly once either in the
landed frame or in the quarantine list, with the first failed expectation in
CHECK_ORDER and a sentence naming the field and the value, so that
fetched = landed + quarantined holds for every ingestion partition.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd

from perf_orchestration.ingestion.entities import Column, Entity
from perf_orchestration.ingestion.quality import runtime
from perf_orchestration.ingestion.quality.parsing import (
    INVALID,
    TYPE_DESCRIPTIONS,
    as_number,
    fingerprint,
    is_null,
    parse_column,
    scalar,
    scalars,
    type_tag,
    type_tags,
)
from perf_orchestration.ingestion.quality.suite import (
    allowed_columns,
    build_suite,
    number_column,
    numeric_columns,
    required_columns,
    schema_suite,
    text_column,
    type_column,
)

POSITION_COLUMN = "_position"
DUPLICATE_ROW = "duplicate_row"
_LANDED_DTYPES = {"str": "string", "int": "Int64", "float": "Float64", "datetime": "datetime64[us]",
                  "date": "object"}


@dataclass(frozen=True)
class QuarantinedRow:
    """A rejected record kept as received, with the check that rejected it and why."""

    position: int
    source_record_id: str | None
    failed_expectation: str
    reason: str
    payload: dict


@dataclass
class ValidationOutcome:
    """What one batch produced: typed good rows, quarantined rows and the suite's summary."""

    landed: pd.DataFrame
    quarantined: list[QuarantinedRow]
    duplicates: int = 0
    missing_columns: list[str] = field(default_factory=list)
    unexpected_columns: list[str] = field(default_factory=list)
    expectations: list[dict] = field(default_factory=list)


def quarantine_share(outcome: ValidationOutcome) -> float:
    """Quarantined rows over all rows of the batch; 0.0 for an empty batch, not a division error."""
    total = len(outcome.landed) + len(outcome.quarantined)
    return len(outcome.quarantined) / total if total else 0.0


@cache
def _cached_suite(entity: Entity) -> Any:
    """One suite per entity per process; building it costs more than validating small batches."""
    return build_suite(entity)


@cache
def _cached_schema_suite(entity: Entity) -> Any:
    """The schema-only suite, cached like the full one."""
    return schema_suite(entity)


def validate_records(entity: Entity, records: list[dict]) -> ValidationOutcome:
    """Validate a batch with the entity's GX suite and split it into landed and quarantined rows.

    Order of work: schema drift (the whole batch), exact duplicates (all but the
    first copy), then one GX run whose failures are ranked per row in CHECK_ORDER.
    """
    records = list(records)
    if not records:
        return ValidationOutcome(landed=_landed_frame(entity, {}, []), quarantined=[])
    rows = [record if isinstance(record, dict) else {} for record in records]
    present = list(dict.fromkeys(key for row in rows for key in row))
    present_set, known = set(present), set(entity.column_names)
    unexpected = [key for key in present if key not in known]
    missing = [name for name in required_columns(entity) if name not in present_set]
    if missing:
        return _schema_drift(entity, records, rows, present, missing, unexpected)

    quarantined: list[QuarantinedRow] = []
    first_copy: dict[Hashable, int] = {}
    kept: list[int] = []
    for position, payload in enumerate(records):
        seen = fingerprint(payload)
        if seen in first_copy:
            reason = f"exact duplicate of the record at position {first_copy[seen]}"
            quarantined.append(_quarantine(entity, position, payload, DUPLICATE_ROW, reason))
        else:
            first_copy[seen] = position
            kept.append(position)
    duplicates = len(quarantined)

    batch = _Batch(entity, records, rows, kept)
    result = runtime.run_suite(entity.table, batch.frame(), _cached_suite(entity))
    failures: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    summary: list[tuple[int, dict]] = []
    for item in result.results:
        config = item.expectation_config
        check, columns = config.meta["check"], list(config.meta["columns"])
        failing = [int(p) for p in item.result.get("unexpected_index_list") or []]
        line = _summary(config.type, columns, bool(item.success), len(failing))
        summary.append((config.meta["rank"], line))
        if check == "schema" and not item.success:
            raise runtime.QualitySuiteError(
                f"{entity.table}: schema check failed although every required column is present"
            )
        reasons = batch.reasons(check, columns, failing)
        for position in failing:
            failures[position].append((config.meta["rank"], config.type, reasons[position]))

    good: list[int] = []
    for position in kept:
        found = sorted(failures.get(position, ()))
        if not found:
            good.append(position)
            continue
        reason = found[0][2]
        if len(found) > 1:
            reason += "; also " + "; ".join(text for _, _, text in found[1:])
        payload = records[position]
        quarantined.append(_quarantine(entity, position, payload, found[0][1], reason))

    quarantined.sort(key=lambda row: row.position)
    landed = _landed_frame(entity, batch.parsed_rows(good), good)
    _check_nothing_lost(entity, len(records), landed, quarantined)
    return ValidationOutcome(
        landed=landed,
        quarantined=quarantined,
        duplicates=duplicates,
        missing_columns=[],
        unexpected_columns=unexpected,
        expectations=[line for _, line in sorted(summary, key=lambda pair: pair[0])],
    )


def _schema_drift(
    entity: Entity,
    records: list[Any],
    rows: list[dict],
    present: list[str],
    missing: list[str],
    unexpected: list[str],
) -> ValidationOutcome:
    """Quarantine the whole batch: without a required column no row can be judged or landed."""
    frame = pd.DataFrame(
        {key: pd.Series([scalar(row.get(key)) for row in rows], dtype=object) for key in present},
        index=pd.RangeIndex(len(rows)),
    )
    result = runtime.run_suite(entity.table, frame, _cached_schema_suite(entity))
    item = result.results[0]
    reported = (item.result.get("details") or {}).get("mismatched", {}).get("missing") or []
    if item.success or set(reported) != set(missing):
        raise runtime.QualitySuiteError(
            f"{entity.table}: GX reports missing columns {sorted(reported)} but "
            f"{', '.join(missing)} is absent from every record"
        )
    reason = f"schema drift: required column(s) {', '.join(missing)} absent from every record"
    if unexpected:
        reason += f"; unknown column(s) present: {', '.join(unexpected)}"
    quarantined = [
        _quarantine(entity, position, payload, item.expectation_config.type, reason)
        for position, payload in enumerate(records)
    ]
    return ValidationOutcome(
        landed=_landed_frame(entity, {}, []),
        quarantined=quarantined,
        missing_columns=missing,
        unexpected_columns=unexpected,
        expectations=[_summary(item.expectation_config.type, [], False, len(missing))],
    )


class _Batch:
    """The kept records, parsed once, and the frame GX validates (indexed by input position)."""

    def __init__(self, entity: Entity, records: list[Any], rows: list[dict], kept: list[int]):
        self.entity = entity
        self.records = records
        self.rows = rows
        self.kept = kept
        self.raw: dict[str, dict[int, Any]] = {}
        self.parsed: dict[str, dict[int, Any]] = {}
        for column in entity.columns:
            values = [rows[p].get(column.name) for p in kept]
            self.raw[column.name] = dict(zip(kept, values, strict=True))
            self.parsed[column.name] = dict(
                zip(kept, parse_column(column.type, values), strict=True))

    def frame(self) -> pd.DataFrame:
        """Raw columns for the null check plus the typed, text and numeric helper columns."""
        index = pd.Index(self.kept, dtype="int64")
        data: dict[str, pd.Series] = {}

        def put(name: str, values: list[Any], dtype: str = "object") -> None:
            data[name] = pd.Series(values, index=index, dtype=dtype)

        for column in self.entity.columns:
            raw, parsed = self.raw[column.name], self.parsed[column.name]
            put(column.name, scalars(list(raw.values())))
            put(type_column(column.name),
                type_tags(column.type, list(parsed.values()), list(raw.values())))
        for name in allowed_columns(self.entity):
            parsed = self.parsed[name]
            put(text_column(name), [v if isinstance(v, str) else None for v in parsed.values()])
        for name in numeric_columns(self.entity):
            type_ = self.entity.column(name).type
            put(
                number_column(name),
                [as_number(type_, v) for v in self.parsed[name].values()],
                "float64",
            )
        return pd.DataFrame(data, index=index)

    def parsed_rows(self, positions: list[int]) -> dict[str, list[Any]]:
        """Typed values of the given rows per column, for the landed frame."""
        return {name: [values[p] for p in positions] for name, values in self.parsed.items()}

    def reasons(self, check: str, columns: list[str], failing: list[int]) -> dict[int, str]:
        """One sentence per failing row that names the field(s) and the offending value."""
        if check == "unique":
            return self._key_reasons(columns, failing)
        return {p: self._reason(check, columns, p) for p in failing}

    def _reason(self, check: str, columns: list[str], p: int) -> str:
        """The sentence for one row and one row-level check, quoting the value as received."""
        name = columns[0]
        value = self.raw[name][p]
        column = self.entity.column(name)
        if check == "not_null":
            if not isinstance(self.records[p], dict):
                kind = type(self.records[p]).__name__
                return f"{name}: missing (the record is a {kind}, not a JSON object)"
            if name not in self.rows[p]:
                return f"{name}: missing from the record"
            return f"{name}: null"
        if check == "type":
            return f"{name}: {_show(value)} is not {TYPE_DESCRIPTIONS[column.type]}"
        if check == "allowed":
            return f"{name}: {_show(value)} is not one of {', '.join(column.allowed or ())}"
        if check == "range":
            return f"{name}: {_show(value)} is {_range_side(column, self.parsed[name][p])}"
        if check == "pair":
            a, b = columns
            return (
                f"{a} ({_show(self.raw[a][p])}) is less than {b} ({_show(self.raw[b][p])}); "
                f"{a} must be >= {b}"
            )
        raise ValueError(f"unknown check {check!r}")

    def _key_reasons(self, columns: list[str], failing: list[int]) -> dict[int, str]:
        """Name the natural key and every position sharing it, so the conflict can be traced."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for p in failing:
            tags = tuple(
                type_tag(self.entity.column(c).type, self.parsed[c][p], self.raw[c][p])
                for c in columns
            )
            groups[tags].append(p)
        reasons: dict[int, str] = {}
        for members in groups.values():
            for p in members:
                key = ", ".join(f"{c}={_show(self.raw[c][p])}" for c in columns)
                others = ", ".join(str(o) for o in members if o != p)
                reasons[p] = (
                    f"natural key ({key}) conflicts: {len(members)} rows with different "
                    f"payloads share it (other position(s): {others})"
                )
        return reasons


def _landed_frame(
    entity: Entity, values: dict[str, list[Any]], positions: list[int]
) -> pd.DataFrame:
    """Typed good rows in entity column order, plus the input position of each."""
    data: dict[str, Any] = {}
    for column in entity.columns:
        column_values = values.get(column.name, [])
        if any(v is INVALID for v in column_values):
            raise runtime.QualitySuiteError(
                f"{entity.table}.{column.name}: a value that did not parse passed the suite"
            )
        data[column.name] = pd.Series(column_values, dtype=_LANDED_DTYPES[column.type])
    data[POSITION_COLUMN] = pd.Series(positions, dtype="int64")
    return pd.DataFrame(data)


def _quarantine(
    entity: Entity, position: int, payload: Any, failed: str, reason: str
) -> QuarantinedRow:
    """A quarantined row carrying the source's own id when the record has one."""
    record_id = payload.get(entity.id_column) if isinstance(payload, dict) else None
    if is_null(record_id) or isinstance(record_id, dict | list):
        record_id = None
    return QuarantinedRow(
        position=position,
        source_record_id=None if record_id is None else str(record_id),
        failed_expectation=failed,
        reason=reason,
        payload=payload,
    )


def _summary(expectation: str, columns: list[str], success: bool, unexpected: int) -> dict:
    """One line of the suite summary, keyed by entity columns rather than helper columns."""
    return {
        "expectation": expectation,
        "column": ", ".join(columns) if columns else None,
        "success": success,
        "unexpected": unexpected,
    }


def _range_side(column: Column, parsed: Any) -> str:
    """Which bound a numeric value broke, in words."""
    number = as_number(column.type, parsed)
    if column.min is not None and not math.isnan(number) and number < column.min:
        return f"below the minimum {column.min:g}"
    if column.max is not None:
        return f"above the maximum {column.max:g}"
    return "out of range"


def _show(value: Any, limit: int = 80) -> str:
    """A value as it arrived, quoted like Python does, cut short for long payloads."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_nothing_lost(
    entity: Entity, total: int, landed: pd.DataFrame, quarantined: list[QuarantinedRow]
) -> None:
    """Refuse to return an outcome that lost or doubled a row: the audit trail depends on it."""
    seen = sorted([*landed[POSITION_COLUMN].tolist(), *(row.position for row in quarantined)])
    if seen != list(range(total)):
        raise runtime.QualitySuiteError(
            f"{entity.table}: {total} records in, but positions {seen[:20]}... came out"
        )
