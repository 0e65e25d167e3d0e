"""Folders the flow reads from or writes to: the workbook drop folder and the reports
folder (war-room pages, HR scorecard workbooks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import dagster as dg
from pydantic import Field


class _Folder(dg.ConfigurableResource):
    """A folder from config, else from an environment variable, else under DAGSTER_HOME."""

    ENV: ClassVar[str]
    SUBDIR: ClassVar[str]

    directory: str | None = Field(
        default=None, description="the folder; default from the environment variable, else "
        "$DAGSTER_HOME/<subdir>, else ./<subdir>")

    def path(self) -> Path:
        """The folder in force, read when it is used (never at import)."""
        if self.directory:
            return Path(self.directory)
        if os.environ.get(self.ENV):
            return Path(os.environ[self.ENV])
        home = os.environ.get("DAGSTER_HOME")
        return Path(home) / self.SUBDIR if home else Path(self.SUBDIR)


class IntakeFolderResource(_Folder):
    """The drop folder watched by workbook_intake_sensor ($PERFFLOW_INTAKE_DIR)."""

    ENV: ClassVar[str] = "PERFFLOW_INTAKE_DIR"
    SUBDIR: ClassVar[str] = "intake"


class ReportsFolderResource(_Folder):
    """Where the war-room pages and HR workbooks go ($PERFFLOW_REPORTS_DIR)."""

    ENV: ClassVar[str] = "PERFFLOW_REPORTS_DIR"
    SUBDIR: ClassVar[str] = "reports"
