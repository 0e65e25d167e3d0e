"""The workbook's own totals against the rows that landed.

A department's sheet total (合计) and grand total (总计) are what its head signed off;
when they disagree with the sum of the rows the flow landed, either a row was
quarantined or the workbook's arithmetic is wrong, and someone has to look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perf_orchestration.workbooks.config import WorkbookKind
from perf_orchestration.workbooks.read import TotalRow


@dataclass(frozen=True)
class TotalCheck:
    total: TotalRow
    column: str
    stated: float
    landed: float
    ok: bool

    def describe(self, file_name: str) -> str:
        what = "grand total" if self.total.scope == "file" else "total"
        return (f"{file_name}, sheet {self.total.sheet!r}, row {self.total.row_number} ({what}), "
                f"field {self.column}: the workbook states {self.stated:g} but the landed rows "
                f"sum to {self.landed:g}")


def check_totals(kind: WorkbookKind, totals: list[TotalRow], landed: list[dict],
                 tolerance: float) -> list[TotalCheck]:
    """One check per stated total and column; a blank or non-numeric total is not checked."""
    checks = []
    for total in totals:
        rows = landed if total.scope == "file" else [
            r for r in landed if r["sheet_name"] == total.sheet]
        for column in kind.total_columns:
            stated = total.values.get(column)
            if isinstance(stated, bool) or not isinstance(stated, int | float) \
                    or not math.isfinite(stated):
                continue
            summed = float(sum(r[column] or 0 for r in rows))
            checks.append(TotalCheck(total, column, float(stated), summed,
                                     abs(summed - stated) <= tolerance))
    return checks


def total_summary(checks: list[TotalCheck], file_name: str) -> tuple[str, str]:
    """(ok | mismatch | absent, one line for ops.file_intake)."""
    if not checks:
        return "absent", "no total row (合计/总计/Total) found"
    bad = [c for c in checks if not c.ok]
    if not bad:
        rows = {(c.total.sheet, c.total.row_number) for c in checks}
        grand = len({(c.total.sheet, c.total.row_number) for c in checks
                     if c.total.scope == "file"})
        return "ok", (f"{len(rows)} total row(s) checked ({grand} grand total), "
                      f"{len(checks)} values, all match")
    lines = [c.describe(file_name) for c in bad[:3]]
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    return "mismatch", "; ".join(lines) + more
