"""Workbook intake: the Excel workbooks departments keep, consolidated into the warehouse.

Plain Python without dagster: the intake sensor and job, `perfflow intake` and the demo
share this implementation.
"""

from perf_orchestration.workbooks.config import (
    BUNDLED_WORKBOOKS,
    WORKBOOKS_FILE,
    WorkbookConfig,
    WorkbookKind,
    load_workbook_config,
)
from perf_orchestration.workbooks.consolidate import FileResult, consolidate
from perf_orchestration.workbooks.intake import content_hash, is_locked, workbook_files

__all__ = [
    "BUNDLED_WORKBOOKS",
    "WORKBOOKS_FILE",
    "FileResult",
    "WorkbookConfig",
    "WorkbookKind",
    "consolidate",
    "content_hash",
    "is_locked",
    "load_workbook_config",
    "workbook_files",
]
