"""The intake folder: where departments save the workbooks the flow consolidates."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

INTAKE_DIR_ENV = "PERFFLOW_INTAKE_DIR"


class IntakeFolderResource(dg.ConfigurableResource):
    """The drop folder watched by workbook_intake_sensor."""

    directory: str | None = Field(
        default=None, description="the folder; default $PERFFLOW_INTAKE_DIR, else "
        "$DAGSTER_HOME/intake, else ./intake")

    def path(self) -> Path:
        """The folder in force, read when the sensor ticks (never at import)."""
        if self.directory:
            return Path(self.directory)
        if os.environ.get(INTAKE_DIR_ENV):
            return Path(os.environ[INTAKE_DIR_ENV])
        home = os.environ.get("DAGSTER_HOME")
        return Path(home) / "intake" if home else Path("intake")
