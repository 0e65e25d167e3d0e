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

# Consolidating pulls in pandas and openpyxl: loaded on first use, not when the code
# location (which validates workbooks.yaml) is loaded.
_LAZY = {"FileResult": "consolidate", "consolidate": "consolidate",
         "content_hash": "intake", "is_locked": "intake", "workbook_files": "intake"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"perf_orchestration.workbooks.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value  # also over the submodule of the same name import just set
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
