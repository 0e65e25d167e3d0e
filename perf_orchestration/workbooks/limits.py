"""Limits on a dropped workbook, checked on the zip container before openpyxl opens it.

An xlsx file is a zip of XML parts: a few kilobytes can unpack to gigabytes (a zip bomb),
a sheet can hold millions of cells, and formulas can link to other files. Each is refused
with a reason naming the limit (a setting of workbooks.yaml), the file is quarantined, and
the intake goes on with the next file. Counting rows and cells streams the parts' XML, so
a refusal costs a fraction of a second whatever the dimension the file claims.
"""

from __future__ import annotations

import io
import re
import zipfile

from perf_orchestration.workbooks.config import WorkbookLimits
from perf_orchestration.workbooks.read import UnreadableWorkbook

REFUSED = "refused"
RATIO_FROM_BYTES = 1_000_000  # small parts compress well and matter little
CHUNK = 1 << 20
_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")
_SHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")


def _refuse(reason: str) -> UnreadableWorkbook:
    return UnreadableWorkbook(REFUSED, f"refused: {reason}")


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def check_file_size(size: int, limits: WorkbookLimits) -> None:
    if size > limits.max_file_bytes:
        raise _refuse(f"{_mb(size)} on disk, more than max_file_bytes "
                      f"({_mb(limits.max_file_bytes)})")


def check_container(content: bytes, limits: WorkbookLimits) -> None:
    """Refuse a zip bomb, too many sheets, rows or cells, or external links."""
    try:
        book = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: openpyxl's reader says so with its own reason
    with book:
        parts = book.infolist()
        unpacked = sum(p.file_size for p in parts)
        if unpacked > limits.max_uncompressed_bytes:
            raise _refuse(f"unpacks to {_mb(unpacked)}, more than max_uncompressed_bytes "
                          f"({_mb(limits.max_uncompressed_bytes)})")
        for part in parts:
            ratio = part.file_size / max(part.compress_size, 1)
            if part.file_size >= RATIO_FROM_BYTES and ratio > limits.max_compression_ratio:
                raise _refuse(f"zip bomb: {part.filename} unpacks {ratio:,.0f} times its "
                              f"packed size, more than max_compression_ratio "
                              f"({limits.max_compression_ratio:g})")
        links = [p.filename for p in parts if p.filename.startswith("xl/externalLinks/")
                 and p.filename.endswith(".xml")]
        if links and not limits.allow_external_links:
            raise _refuse(f"links to {len(links)} external workbook(s) "
                          f"({links[0]}); allow_external_links is off")
        sheets = [p for p in parts if _SHEET.match(p.filename)]
        if len(sheets) > limits.max_sheets:
            raise _refuse(f"{len(sheets)} sheets, more than max_sheets ({limits.max_sheets})")
        cells = 0
        for part in sheets:
            rows, in_sheet = _count(book, part.filename, limits.max_rows,
                                    limits.max_cells - cells)
            cells += in_sheet
            if rows > limits.max_rows:
                raise _refuse(f"sheet part {part.filename} has more than max_rows "
                              f"({limits.max_rows:,}) rows")
            if cells > limits.max_cells:
                raise _refuse(f"more than max_cells ({limits.max_cells:,}) cells")


def _count(book: zipfile.ZipFile, name: str, max_rows: int, max_cells: int) -> tuple[int, int]:
    """Rows and cells of one sheet part, streamed; stops once past either limit."""
    rows = cells = 0
    tail = b""
    with book.open(name) as stream:
        while chunk := stream.read(CHUNK):
            data = tail + chunk
            keep = max(len(data) - 16, 0)  # a tag cut by the chunk's end is read with the next
            for pattern, is_row in ((_ROW, True), (_CELL, False)):
                found = list(pattern.finditer(data))
                if found:
                    keep = max(keep, found[-1].end())
                if is_row:
                    rows += len(found)
                else:
                    cells += len(found)
            tail = data[keep:]
            if rows > max_rows or cells > max_cells:
                break
    return rows, cells
