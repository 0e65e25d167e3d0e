"""The generated source data: records exactly as served, where each row is filed, and the
log of injected data faults.

Tests and the demo read the fault log to know which rows the ingestion must
quarantine, deduplicate or pick up late, without re-deriving the simulator's choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class RowMeta:
    """Where the source files a row: its true event and update times (UTC), whatever the
    served copy says after a fault corrupted it, so windows and `since` still place it."""

    row_id: str
    event_at: datetime | None
    updated_at: datetime
    incident: str | None = None


@dataclass(frozen=True)
class FaultRecord:
    """One row touched by a data fault: which incident, what was changed and how."""

    incident_id: str
    table: str
    fault: str
    record_id: str
    kind: str
    column: str | None = None
    original: Any = None
    served: Any = None


@dataclass
class Dataset:
    """Per entity table ("mes_production"), the JSON-ready records in served order.

    `tables[t][i]` and `meta[t][i]` describe the same row. Duplicated rows occur twice
    in both lists. Rows are ordered by (updated_at, id) as the server orders them.
    """

    scenario: str
    tables: dict[str, list[Record]]
    meta: dict[str, list[RowMeta]]
    fault_log: list[FaultRecord] = field(default_factory=list)

    def records(self, table: str) -> list[Record]:
        """The served records of one table (KeyError for unknown tables)."""
        return self.tables[table]

    def faulted_ids(self, table: str, fault: str | None = None) -> set[str]:
        """Ids of rows of `table` touched by a data fault (optionally of one fault kind)."""
        return {f.record_id for f in self.fault_log
                if f.table == table and (fault is None or f.fault == fault)}

    def clean_records(self, table: str) -> list[Record]:
        """The table's records without any row touched by a data fault, each once."""
        touched = self.faulted_ids(table)
        return [r for r, m in zip(self.tables[table], self.meta[table], strict=True)
                if m.row_id not in touched]
