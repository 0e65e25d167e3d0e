"""Data faults of the source systems: malformed, duplicated and late rows, a skewed clock
and a source that stops publishing for a while.

Each fault picks its rows with its own seeded generator among the rows of its
hour and logs exactly what it changed, so the ingestion's quarantine and
deduplication can be checked row by row. HTTP errors, timeouts and broken response
bodies are the server's business, not the data's.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE, Entity
from perf_orchestration.scenarios.config import Scenario, SourceFault
from perf_orchestration.simulator.common import HOUR, iso, rng_for, utc
from perf_orchestration.simulator.dataset import FaultRecord, Record, RowMeta

DATA_FAULTS = ("malformed_rows", "duplicate_rows", "late_rows", "clock_skew", "source_stops")
WHOLE_HOUR_FAULTS = ("clock_skew", "source_stops")  # every row of the hours, not `count`
NOT_A_NUMBER = "n/a"
NOT_A_TIME = "yesterday"
NOT_ALLOWED = "unknown"


def corruption_kinds(ent: Entity) -> list[str]:
    """The ways a row of `ent` can be malformed, in the order a fault cycles through them."""
    numeric = [c for c in ent.columns if c.type in ("int", "float")]
    kinds = ["missing_required"]
    if numeric:
        kinds.append("non_numeric")
    if any(c.allowed for c in ent.columns):
        kinds.append("not_allowed")
    if ent.ordered_pairs:
        kinds.append("order_violation")
    elif any(c.min is not None for c in numeric):
        kinds.append("out_of_range")
    kinds.append("bad_datetime")
    return kinds


def _corrupt(ent: Entity, record: Record, kind: str, rng: random.Random) -> tuple[str, object]:
    """Change one field of `record` in place; return (column, the value now served)."""
    def pick(names: list[str]) -> str:
        return rng.choice(sorted(names))

    if kind == "missing_required":
        col = pick([c.name for c in ent.columns if c.required and c.name not in
                    (ent.id_column, "updated_at") and record.get(c.name) is not None])
        record[col] = None
    elif kind == "non_numeric":
        col = pick([c.name for c in ent.columns if c.type in ("int", "float")])
        record[col] = NOT_A_NUMBER
    elif kind == "not_allowed":
        col = pick([c.name for c in ent.columns if c.allowed])
        record[col] = NOT_ALLOWED
    elif kind == "order_violation":
        high, low = rng.choice(ent.ordered_pairs)
        col = low
        record[col] = record[high] + rng.randint(1, 5)
    elif kind == "out_of_range":
        column = ent.column(pick([c.name for c in ent.columns
                                  if c.type in ("int", "float") and c.min is not None]))
        col = column.name
        below = column.min - rng.randint(1, 5)
        record[col] = int(below) if column.type == "int" else float(below)
    else:
        dated = [c.name for c in ent.columns if c.type == "datetime" and c.name != "updated_at"
                 and record.get(c.name) is not None]
        col = ent.event_time if ent.event_time in dated else pick(dated or ["updated_at"])
        record[col] = NOT_A_TIME
    return col, record[col]


def apply_data_faults(scenario: Scenario, tables: dict[str, list[Record]],
                      meta: dict[str, list[RowMeta]], skip: set[str]) -> list[FaultRecord]:
    """Apply every data fault of the scenario in incident order; tables in `skip` (literal
    records) are left exactly as written. A row is touched by at most one fault."""
    log: list[FaultRecord] = []
    for inc in scenario.incidents:
        if not isinstance(inc, SourceFault) or inc.fault not in DATA_FAULTS:
            continue
        table = f"{inc.system}_{inc.entity}"
        if table in skip:
            continue
        ent = ENTITIES_BY_TABLE[table]
        rng = rng_for(scenario, "fault", inc.id)
        hour0 = utc(inc.hour)
        span = timedelta(hours=inc.stop_hours) if inc.fault == "source_stops" else HOUR
        candidates = [i for i, m in enumerate(meta[table]) if m.incident is None and (
            ent.event_time is None
            or (m.event_at is not None and hour0 <= m.event_at < hour0 + span))]
        if inc.fault in WHOLE_HOUR_FAULTS:
            log += _whole_hours_fault(scenario, inc, ent, tables[table], meta[table],
                                      candidates if ent.event_time else [])
            continue
        picked = sorted(rng.sample(candidates, min(inc.count, len(candidates))))
        kinds = corruption_kinds(ent)
        for n, i in enumerate(picked):
            record, row = tables[table][i], meta[table][i]
            entry = dict(incident_id=inc.id, table=table, fault=inc.fault, record_id=row.row_id)
            if inc.fault == "malformed_rows":
                kind = kinds[n % len(kinds)]
                before = dict(record)
                col, served = _corrupt(ent, record, kind, rng)
                log.append(FaultRecord(**entry, kind=kind, column=col, original=before[col],
                                       served=served))
                meta[table][i] = RowMeta(row.row_id, row.event_at, row.updated_at, inc.id)
            elif inc.fault == "late_rows":
                updated = (row.event_at or row.updated_at) + timedelta(hours=inc.late_hours)
                log.append(FaultRecord(**entry, kind="late", column="updated_at",
                                       original=record["updated_at"],
                                       served=iso(updated, scenario.tz)))
                record["updated_at"] = iso(updated, scenario.tz)
                meta[table][i] = RowMeta(row.row_id, row.event_at, updated, inc.id)
            else:
                log.append(FaultRecord(**entry, kind="duplicate"))
                meta[table][i] = RowMeta(row.row_id, row.event_at, row.updated_at, inc.id)
                tables[table].append(dict(record))
                meta[table].append(meta[table][i])
    return log


def _whole_hours_fault(scenario: Scenario, inc: SourceFault, ent: Entity,
                       records: list[Record], meta: list[RowMeta],
                       rows: list[int]) -> list[FaultRecord]:
    """Every row of the fault's hours (entities with an event time only).

    clock_skew: the source's clock is `skew_seconds` off, so every time it serves for the
    rows of that hour is shifted, and it files them under the shifted times, as the source
    itself would (a row near the end of the hour moves to the next one).
    source_stops: the source publishes nothing for `stop_hours` from the hour; the rows
    of those hours appear when it resumes (updated_at = the end of the stop), so before
    then the hours read empty.
    """
    log = []
    resumed = utc(inc.hour) + timedelta(hours=inc.stop_hours)
    for i in rows:
        record, row = records[i], meta[i]
        entry = dict(incident_id=inc.id, table=ent.table, fault=inc.fault, record_id=row.row_id)
        if inc.fault == "clock_skew":
            skew = timedelta(seconds=inc.skew_seconds)
            before = record.get(ent.event_time)
            for column in (c.name for c in ent.columns if c.type == "datetime"):
                when = record.get(column)
                if isinstance(when, str) and (parsed := _parse(when)) is not None:
                    record[column] = iso(parsed + skew, scenario.tz)
            log.append(FaultRecord(**entry, kind="skewed", column=ent.event_time,
                                   original=before, served=record.get(ent.event_time)))
            meta[i] = RowMeta(row.row_id, row.event_at + skew, row.updated_at + skew, inc.id)
        else:
            updated = max(row.updated_at, resumed)
            log.append(FaultRecord(**entry, kind="held_back", column="updated_at",
                                   original=record["updated_at"],
                                   served=iso(updated, scenario.tz)))
            record["updated_at"] = iso(updated, scenario.tz)
            meta[i] = RowMeta(row.row_id, row.event_at, updated, inc.id)
    return log


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
