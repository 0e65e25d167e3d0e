"""Benchmark: consolidating 32 department workbooks of 32 sheets each.

Generates the workbooks (production/quality monthly reports and sales weekly reports,
messy as departments keep them), then times, in one process:
  floor      openpyxl read-only load of every file, every cell value read, no processing
  read       the intake reader: full load (merged cells), header search, normalisation
  consolidate  the whole intake into a fresh warehouse: read, Great Expectations suite per
             kind, land, quarantine, total checks, ops.file_intake
The Great Expectations import and context are paid before the timings and shown apart.

    .venv/bin/python bench/workbooks.py [--files 32] [--sheets 32] [--warehouse URL]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perf_orchestration.ingestion.quality.runtime import get_context  # noqa: E402
from perf_orchestration.scenarios.config import load_scenario  # noqa: E402
from perf_orchestration.warehouse import embedded_url, make_engine  # noqa: E402
from perf_orchestration.workbooks import consolidate, load_workbook_config  # noqa: E402
from perf_orchestration.workbooks.generate import (  # noqa: E402
    Mess,
    production_workbook,
    sales_workbook,
)
from perf_orchestration.workbooks.intake import open_file  # noqa: E402


def generate(folder: Path, files: int, sheets: int) -> list[Path]:
    scenario = load_scenario()
    paths = []
    for i in range(files):
        mess = Mess(bad_rows=2, total_off=50 if i % 8 == 7 else 0)
        if i % 4 == 3:
            paths.append(sales_workbook(folder / f"销售周报_{i:02d}.xlsx", scenario,
                                        sheets=sheets, seed=i, mess=mess))
        else:
            paths.append(production_workbook(folder / f"生产质量月报_{i:02d}.xlsx", scenario,
                                             sheets=sheets, seed=i, mess=mess))
    return paths


def floor(paths: list[Path]) -> tuple[float, int]:
    import openpyxl

    t = time.perf_counter()
    cells = 0
    for path in paths:
        book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True,
                                      data_only=True)
        for ws in book.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells += len(row)
        book.close()
    return time.perf_counter() - t, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--sheets", type=int, default=32)
    parser.add_argument("--warehouse", help="warehouse URL (default: a fresh embedded one)")
    args = parser.parse_args()
    config = load_workbook_config()
    with tempfile.TemporaryDirectory(prefix="bench-workbooks-") as tmp:
        folder = Path(tmp) / "intake"
        t = time.perf_counter()
        paths = generate(folder, args.files, args.sheets)
        generated = time.perf_counter() - t
        size = sum(p.stat().st_size for p in paths) / 2**20
        t = time.perf_counter()
        get_context()
        gx = time.perf_counter() - t
        floor_s, cells = floor(paths)
        t = time.perf_counter()
        opened = [open_file(p, config) for p in paths]
        read_s = time.perf_counter() - t
        rows = sum(len(s.records) for f in opened for s in f.read.sheets)
        engine = make_engine(args.warehouse or embedded_url(Path(tmp) / "warehouse"))
        t = time.perf_counter()
        results = consolidate(engine, paths, config, "bench")
        total = time.perf_counter() - t
    landed = sum(r.rows_landed for r in results)
    quarantined = sum(r.rows_quarantined for r in results)
    sheets = sum(r.sheets_read for r in results)
    checks = {s: sum(r.total_check == s for r in results) for s in ("ok", "mismatch")}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, "
          f"{len(os.sched_getaffinity(0))} cores; load average at the end {load} "
          "(other work on the machine slows every figure alike)")
    print(f"workbooks: {len(paths)} files x {args.sheets} sheets (+ a summary sheet each), "
          f"{size:.1f} MiB, {cells:,} cells, {rows:,} data rows; generated in {generated:.1f} s")
    print(f"great expectations import + context (once per process): {gx:.2f} s")
    print(f"floor, openpyxl read-only load, every value read: {floor_s:.2f} s")
    print(f"intake reader alone (merges, headers, normalisation): {read_s:.2f} s")
    print(f"consolidate, end to end: {total:.2f} s for {sheets} sheets: rows landed {landed:,}, "
          f"quarantined {quarantined:,}; total checks ok {checks['ok']}, mismatch "
          f"{checks['mismatch']}; {total / len(paths):.2f} s per workbook; peak RSS {peak:.0f} MiB")
    print(f"target: under 30 s -> {'met' if total < 30 else 'NOT met'}; by hand: 11.6 hours")


if __name__ == "__main__":
    main()
