"""Sources as configuration: sources.yaml says how each system is read (config), and the
readers follow it: HTTP (ingestion/client.py) and SQL (sql.py), both mapping records onto
the canonical entities (mapping.py) with the times (times.py) and pages (paging.py) the
system uses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from perf_orchestration.ingestion.sources.config import (
    SOURCES_FILE,
    HttpSystem,
    SqlSystem,
    load_sources,
)
from perf_orchestration.ingestion.sources.mapping import (
    MAPPING_EXPECTATION,
    Rejected,
    SourceSettingError,
)

if TYPE_CHECKING:
    from datetime import datetime

    from perf_orchestration.ingestion.client import FetchResult

__all__ = ["MAPPING_EXPECTATION", "SOURCES_FILE", "Rejected", "SourceReader",
           "SourceSettingError", "load_sources", "open_source", "reader_for"]


class SourceReader(Protocol):
    """What ingestion and the source watch ask of a system, whatever its kind."""

    system: str

    def fetch(self, entity: str, *, start: datetime | None = None,
              end: datetime | None = None, since: datetime | str | None = None
              ) -> FetchResult: ...


def reader_for(system: str, spec: HttpSystem | SqlSystem, **overrides) -> SourceReader:
    """The reader of one described system; `overrides` are the HTTP client's settings."""
    if isinstance(spec, SqlSystem):
        from perf_orchestration.ingestion.sources.sql import SqlSource

        return SqlSource(system, spec)
    from perf_orchestration.ingestion.client import SourceClient

    return SourceClient(system, spec=spec, **overrides)


def open_source(system: str, directory: Path | str | None = None, **overrides
                ) -> SourceReader:
    """The reader of `system` as the plant config folder (else the bundled file) says."""
    systems = load_sources(directory)
    if system not in systems:
        raise SourceSettingError(f"{SOURCES_FILE}: systems.{system}: not described")
    return reader_for(system, systems[system], **overrides)
