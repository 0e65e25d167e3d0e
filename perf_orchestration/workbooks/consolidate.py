"""Consolidating dropped workbooks: read, check, land, quarantine, record the file.

All files of one call are read first; the rows of each kind are judged in one Great
Expectations run (the suite of perf_orchestration.ingestion.quality, built from the kind), then
every file is landed in its own transaction that first removes what an earlier
intake of the same content or an older version of the same file landed, so a re-run
lands nothing twice and a corrected workbook replaces the one it corrects.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.ingestion.quality import validate_records
from perf_orchestration.tables import file_intake, quarantine
from perf_orchestration.workbooks.config import WorkbookConfig
from perf_orchestration.workbooks.intake import OpenedFile, open_files
from perf_orchestration.workbooks.tables import SYSTEM, ensure_tables, kind_entity
from perf_orchestration.workbooks.totals import check_totals, total_summary

INTAKE_ENTITY = "excel_intake"  # ops.quarantine entity of file- and sheet-level problems
# A new version of a file replaces the older one's rows only when it could be read; a
# locked, corrupt or unrecognised version leaves the last good one in place.
LANDING_STATUSES = ("landed", "total_mismatch")


@dataclass
class FileResult:
    """What one intake did with one file (a row of ops.file_intake)."""

    path: str
    file_hash: str
    kind: str | None
    status: str
    reason: str | None = None
    sheets_read: int = 0
    sheets_skipped: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rows_excluded: int = 0
    total_check: str = "not_run"
    total_detail: str | None = None
    quarantine_reasons: Counter = field(default_factory=Counter)

    def line(self) -> str:
        """The per-file line `perfflow intake` prints."""
        text = (f"{Path(self.path).name}: {self.status}"
                f"{' (' + self.kind + ')' if self.kind else ''}, sheets read "
                f"{self.sheets_read}, rows landed {self.rows_landed}, quarantined "
                f"{self.rows_quarantined}, total check {self.total_check}")
        detail = self.reason if self.status != "landed" else None
        if detail:
            detail = detail.removeprefix(f"{Path(self.path).name}: ").removeprefix(
                f"{Path(self.path).name}, ")
        return text + (f": {detail}" if detail else "")


@dataclass
class _Plan:
    result: FileResult
    landed: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)


def consolidate(engine: Engine, paths: list[Path], config: WorkbookConfig, run_id: str,
                now: datetime | None = None) -> list[FileResult]:
    """Intake every file of `paths`; one file's problem never stops the others."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    tables = ensure_tables(engine, config)
    opened = open_files([Path(p) for p in paths], config)
    plans = [_plan_for(f, run_id, now) for f in opened]
    _judge_rows(config, opened, plans, run_id, now)
    for f, plan in zip(opened, plans, strict=True):
        if f.read is not None and f.read.kind is not None:
            _check_file_totals(config, f, plan, run_id, now)
        _land(engine, tables, plan, run_id, now)
    return [p.result for p in plans]


def _plan_for(f: OpenedFile, run_id: str, now: datetime) -> _Plan:
    """The file's result before its rows are judged: file- and sheet-level problems."""
    name = f.path.name
    if f.read is None:
        plan = _Plan(FileResult(str(f.path), f.file_hash, None, f.status, f.reason))
        plan.quarantined.append(_problem(f, None, f.status, f.reason or f.status, run_id, now))
        return plan
    read = f.read
    result = FileResult(str(f.path), f.file_hash, read.kind.id if read.kind else None, "landed",
                        sheets_read=len(read.sheets),
                        sheets_skipped=len(read.unknown) + len(read.empty))
    result.rows_excluded = sum(sum(s.excluded.values()) for s in read.sheets)
    plan = _Plan(result)
    for sheet in read.unknown:
        reason = (f"{name}, sheet {sheet!r}: unknown layout, no header of a known workbook kind "
                  "in its first rows")
        plan.quarantined.append(_problem(f, sheet, "unknown_layout", reason, run_id, now))
    if read.kind is None:
        result.status = "unknown_layout" if read.unknown else "empty"
        result.reason = (f"{name}: no sheet matches a workbook kind of workbooks.yaml"
                         if read.unknown else f"{name}: no sheet holds any data")
        if not read.unknown:
            plan.quarantined.append(_problem(f, None, "empty", result.reason, run_id, now))
    elif read.unknown:
        result.reason = f"{len(read.unknown)} sheet(s) of unknown layout: " + ", ".join(
            repr(s) for s in read.unknown)
    return plan


def _judge_rows(config: WorkbookConfig, opened: list[OpenedFile], plans: list[_Plan],
                run_id: str, now: datetime) -> None:
    """One quality-suite run per kind over the rows of every file of that kind."""
    for kind in config.kinds:
        owners: list[int] = []
        records: list[dict] = []
        for i, f in enumerate(opened):
            if f.read is not None and f.read.kind is not None and f.read.kind.id == kind.id:
                rows = [r for s in f.read.sheets for r in s.records]
                records += rows
                owners += [i] * len(rows)
        if not records:
            continue
        entity = kind_entity(kind)
        outcome = validate_records(entity, records)
        columns = list(entity.column_names)
        for values, position in zip(outcome.landed[columns].itertuples(index=False, name=None),
                                    outcome.landed["_position"], strict=True):
            row = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
            plans[owners[int(position)]].landed.append(row)
        for q in outcome.quarantined:
            plan = plans[owners[q.position]]
            record = records[q.position]
            where = (f"{Path(record['source_file']).name}, sheet {record['sheet_name']!r}, "
                     f"row {record['row_number']}")
            plan.quarantined.append({
                "entity": kind.table, "partition_key": plan.result.file_hash,
                "source_record_id": record["source_record_id"],
                "failed_expectation": q.failed_expectation, "reason": f"{where}: {q.reason}",
                "payload": _json(record), "run_id": run_id, "quarantined_at": now})
            plan.result.rows_quarantined += 1
            plan.result.quarantine_reasons[q.failed_expectation] += 1
    for plan in plans:
        plan.result.rows_landed = len(plan.landed)


def _check_file_totals(config: WorkbookConfig, f: OpenedFile, plan: _Plan, run_id: str,
                       now: datetime) -> None:
    kind = f.read.kind
    totals = [t for s in f.read.sheets for t in s.totals]
    checks = check_totals(kind, totals, plan.landed, config.total_tolerance)
    plan.result.total_check, plan.result.total_detail = total_summary(checks, f.path.name)
    for check in checks:
        if not check.ok:
            plan.quarantined.append({
                "entity": kind.table, "partition_key": f.file_hash,
                "source_record_id": f"{f.path.name}!{check.total.sheet}!R"
                                    f"{check.total.row_number}",
                "failed_expectation": "workbook_total_matches",
                "reason": check.describe(f.path.name),
                "payload": _json({"stated": check.stated, "landed_sum": check.landed,
                                  "column": check.column, "scope": check.total.scope}),
                "run_id": run_id, "quarantined_at": now})
    if plan.result.total_check == "mismatch":
        plan.result.status = "total_mismatch"
        plan.result.reason = plan.result.total_detail


def _problem(f: OpenedFile, sheet: str | None, status: str, reason: str, run_id: str,
             now: datetime) -> dict:
    ref = f.path.name + (f"!{sheet}" if sheet else "")
    return {"entity": INTAKE_ENTITY, "partition_key": f.file_hash, "source_record_id": ref,
            "failed_expectation": status, "reason": reason,
            "payload": _json({"file": str(f.path), "sheet": sheet}), "run_id": run_id,
            "quarantined_at": now}


def _land(engine: Engine, tables: dict[str, sa.Table], plan: _Plan, run_id: str,
          now: datetime) -> None:
    """Replace what earlier intakes of this content or this path landed, in one transaction."""
    r = plan.result
    with engine.begin() as conn:
        older = [] if r.status not in LANDING_STATUSES else [h for (h,) in conn.execute(
            sa.select(file_intake.c.file_hash).where(file_intake.c.path == r.path,
                                                     file_intake.c.file_hash != r.file_hash))]
        hashes = [r.file_hash, *older]
        for table in tables.values():
            conn.execute(table.delete().where(table.c.file_hash.in_(hashes)))
        conn.execute(quarantine.delete().where(quarantine.c.entity.like(f"{SYSTEM}\\_%",
                                                                        escape="\\"),
                                               quarantine.c.partition_key.in_(hashes)))
        if older:
            conn.execute(file_intake.update().where(file_intake.c.file_hash.in_(older)).values(
                status="superseded", reason=f"replaced by a newer version ({r.file_hash[:12]})",
                rows_landed=0))
        conn.execute(file_intake.delete().where(file_intake.c.file_hash == r.file_hash))
        if plan.landed:
            stamp = {"ingestion_run_id": run_id, "ingested_at": now}
            conn.execute(tables[r.kind].insert(), [{**row, **stamp} for row in plan.landed])
        if plan.quarantined:
            conn.execute(quarantine.insert(), plan.quarantined)
        conn.execute(file_intake.insert(), {
            "file_hash": r.file_hash, "path": r.path, "kind": r.kind, "status": r.status,
            "reason": r.reason, "sheets_read": r.sheets_read, "sheets_skipped": r.sheets_skipped,
            "rows_landed": r.rows_landed, "rows_quarantined": r.rows_quarantined,
            "rows_excluded": r.rows_excluded, "total_check": r.total_check,
            "total_detail": r.total_detail, "run_id": run_id, "intake_at": now})


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
