"""`perfflow intake DIR`: the drop folder's workbooks consolidated once, without the daemon."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.config.files import plant_workbooks
from perf_orchestration.warehouse import make_engine
from perf_orchestration.workbooks import consolidate, workbook_files


def run_intake(directory: str, url: str | None, config: str | None) -> int:
    folder = Path(directory)
    if not folder.is_dir():
        print(f"perfflow intake: {folder}: not a folder", file=sys.stderr)
        return 1
    kinds = plant_workbooks(config)
    files = workbook_files(folder)
    if not files:
        print(f"{folder}: no .xlsx workbooks")
        return 0
    engine = make_engine(url or default_warehouse_url())
    run_id = f"intake-{uuid.uuid4().hex[:12]}"
    results = consolidate(engine, files, kinds, run_id)
    for result in results:
        print(result.line())
    landed = sum(r.rows_landed for r in results)
    quarantined = sum(r.rows_quarantined for r in results)
    problems = sum(r.status != "landed" for r in results)
    print(f"{len(results)} file(s), {sum(r.sheets_read for r in results)} sheet(s) read: rows "
          f"landed {landed}, quarantined {quarantined}; {problems} file(s) need a look "
          f"(ops.file_intake, ops.quarantine); run {run_id}")
    return 0
