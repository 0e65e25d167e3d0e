"""Reading one workbook with openpyxl: which kind it is, where each sheet's header is, and
its rows as records with provenance, its subtotal/total rows set aside.

A header may sit below a title block, span two rows with merged group cells above the
column names, and name columns in Chinese or English; merged cells are read as their
top-left value wherever they are. Sheets that match no kind are reported, not guessed.
"""

from __future__ import annotations

import fnmatch
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from perf_orchestration.workbooks.config import WorkbookConfig, WorkbookKind, header_text
from perf_orchestration.workbooks.normalize import is_blank, row_marker, to_type

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


class UnreadableWorkbook(Exception):
    """The file cannot be opened as a workbook; `status` is corrupt or encrypted."""

    def __init__(self, status: str, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class TotalRow:
    """A total the workbook states: a sheet's 合计 or the workbook's 总计 (scope file)."""

    scope: str  # sheet or file
    sheet: str
    row_number: int
    values: dict[str, Any]


@dataclass
class SheetRead:
    sheet: str
    kind: str | None = None
    header_row: int | None = None
    summary: bool = False
    records: list[dict] = field(default_factory=list)
    excluded: Counter = field(default_factory=Counter)
    totals: list[TotalRow] = field(default_factory=list)


@dataclass
class WorkbookRead:
    """What the reader found in one file: its kind and every sheet's records and totals."""

    kind: WorkbookKind | None
    sheets: list[SheetRead]
    unknown: list[str]  # sheets with content whose layout matches no kind
    empty: list[str]


def load(content: bytes) -> Any:
    """An openpyxl workbook from the file's bytes, or UnreadableWorkbook with the reason."""
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    if content.startswith(OLE_MAGIC):
        raise UnreadableWorkbook("encrypted", "password-protected: an encrypted OLE container, "
                                 "not an xlsx zip (or a legacy .xls renamed); save it without "
                                 "a password as .xlsx")
    if not content.startswith(ZIP_MAGIC):
        raise UnreadableWorkbook("corrupt", "corrupt: not an xlsx zip container")
    try:
        return openpyxl.load_workbook(io.BytesIO(content), data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError,
            OSError, EOFError) as exc:
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UnreadableWorkbook("corrupt", f"corrupt: openpyxl cannot read it ({text})") from None


def sheet_rows(ws: Any) -> list[tuple]:
    """All rows of a sheet as value tuples, merged ranges filled with their top-left value."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:
        value = ws.cell(merged.min_row, merged.min_col).value
        for r in range(merged.min_row - 1, min(merged.max_row, len(rows))):
            row = rows[r]
            for c in range(merged.min_col - 1, merged.max_col):
                if c < len(row):
                    row[c] = value
    return [tuple(r) for r in rows]


def find_header(rows: list[tuple], kind: WorkbookKind, wanted: list[str]
                ) -> tuple[int, dict[str, int]] | None:
    """(header row index, column name -> column index) when all `wanted` columns are found.

    A column matches on its own cell or on the group cell above joined with it, so
    "首件检验 / 合格" under a merged group header reads as 首件检验合格.
    """
    aliases = {c.name: {header_text(a) for a in c.aliases} for c in kind.columns}
    for r in range(min(kind.header_search_rows, len(rows))):
        here = [_candidates(v) for v in rows[r]]
        above = [_candidates(v) for v in rows[r - 1]] if r else [set()] * len(here)
        found: dict[str, int] = {}
        for i, texts in enumerate(here):
            parents = above[i] if i < len(above) else set()
            joined = {p + t for p in parents for t in texts if p not in texts}
            for name, wanted_texts in aliases.items():
                if texts & wanted_texts or joined & wanted_texts:
                    found.setdefault(name, i)
        if all(name in found for name in wanted):
            return r, found
    return None


def _candidates(value: Any) -> set[str]:
    """A header cell's texts: the whole cell and each line of a bilingual "日期\\nDate" cell."""
    if is_blank(value):
        return set()
    text = str(value)
    return {header_text(text)} | {header_text(line) for line in text.splitlines()
                                  if line.strip()}


def header_columns(kind: WorkbookKind) -> list[str]:
    """Columns a data sheet's header must name: required ones not taken from the sheet name."""
    return [c.name for c in kind.columns if c.required and not c.from_sheet_name]


def _ordered_kinds(config: WorkbookConfig, file_name: str) -> list[WorkbookKind]:
    name = file_name.lower()
    hinted = [k for k in config.kinds
              if any(fnmatch.fnmatch(name, p.lower()) for p in k.file_patterns)]
    return hinted + [k for k in config.kinds if k not in hinted]


def read_workbook(book: Any, config: WorkbookConfig, file_name: str) -> WorkbookRead:
    """Recognise each sheet's kind, then read the sheets of the workbook's kind."""
    kinds = _ordered_kinds(config, file_name)
    layouts: dict[str, tuple[WorkbookKind, int, dict[str, int], bool]] = {}
    rows_by_sheet: dict[str, list[tuple]] = {}
    empty, unknown = [], []
    for ws in book.worksheets:
        rows = sheet_rows(ws)
        rows_by_sheet[ws.title] = rows
        if all(is_blank(v) for row in rows for v in row):
            empty.append(ws.title)
            continue
        for kind in kinds:
            summary = header_text(ws.title) in {header_text(s) for s in kind.summary_sheets}
            if summary and not kind.total_columns:
                continue  # nothing to read from a totals-only sheet of this kind
            wanted = kind.total_columns[:1] if summary else header_columns(kind)
            found = find_header(rows, kind, wanted)
            if found:
                layouts[ws.title] = (kind, found[0], found[1], summary)
                break
        else:
            unknown.append(ws.title)
    data_kinds = Counter(k.id for k, _, _, s in layouts.values() if not s)
    if not data_kinds:
        return WorkbookRead(None, [], unknown + [s for s in layouts], empty)
    kind = config.kind(data_kinds.most_common(1)[0][0])
    sheets = []
    for title, (k, header_row, columns, summary) in layouts.items():
        if k.id != kind.id:
            unknown.append(title)
            continue
        sheets.append(_read_sheet(rows_by_sheet[title], title, kind, config, header_row,
                                  columns, summary, file_name))
    return WorkbookRead(kind, sheets, unknown, empty)


def _read_sheet(rows: list[tuple], title: str, kind: WorkbookKind, config: WorkbookConfig,
                header_row: int, columns: dict[str, int], summary: bool,
                file_name: str) -> SheetRead:
    out = SheetRead(title, kind.id, header_row + 1, summary)
    types = {c.name: c.type for c in kind.columns}
    for r in range(header_row + 1, len(rows)):
        row, number = rows[r], r + 1
        if all(is_blank(v) for v in row):
            out.excluded["blank"] += 1
            continue
        marker = row_marker(row, config.markers)
        if marker == "note" and sum(not is_blank(v) for v in row) > 2:
            marker = None  # a remark in a data row, not a footer line
        if marker in ("total", "grand_total"):
            values = {n: to_type(types[n], _cell(row, columns.get(n)), config.date_formats)
                      for n in kind.total_columns}
            scope = "file" if marker == "grand_total" or summary else "sheet"
            out.totals.append(TotalRow(scope, title, number, values))
        if marker or summary:
            out.excluded[marker or "summary"] += 1
            continue
        record = {}
        for column in kind.columns:
            if column.name in columns:
                raw = _cell(row, columns[column.name])
            else:
                raw = title if column.from_sheet_name else None
            record[column.name] = to_type(types[column.name], raw, config.date_formats)
        record.update(source_file=file_name, sheet_name=title, row_number=number,
                      source_record_id=f"{file_name}!{title}!R{number}")
        out.records.append(record)
    return out


def _cell(row: tuple, index: int | None) -> Any:
    return row[index] if index is not None and index < len(row) else None
