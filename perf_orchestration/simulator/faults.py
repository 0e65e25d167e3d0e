"""Data faults of the source systems: malformed, duplicated and late rows.

Each fault picks its rows with its own seeded generator among the rows of its
hour and logs exactly what it changed, so the ingestion's quarantine and
deduplication can be checked row by row. HTTP errors and timeouts are the
server's business, not the data's.
"""

from __future__ import annotations

import random
from datetime import timedelta

from perf_orchestration.entities import ENTITIES_BY_TABLE, Entity
from perf_orchestration.scenario import Scenario, SourceFault
from perf_orchestration.simulator.common import HOUR, iso, rng_for, utc
from perf_orchestration.simulator.dataset import FaultRecord, Record, RowMeta

DATA_FAULTS = ("malformed_rows", "duplicate_rows", "late_rows")
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
        candidates = [i for i, m in enumerate(meta[table]) if m.incident is None and (
            ent.event_time is None
            or (m.event_at is not None and hour0 <= m.event_at < hour0 + HOUR))]
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
