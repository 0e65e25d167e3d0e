"""One resource per source system (MES, QMS, ERP, CRM, HR), read as sources.yaml says.

The plant config folder's sources.yaml (PERFFLOW_CONFIG_DIR; the bundled file describes
the simulator) says whether a system is an HTTP API or a database and names the
environment variables holding its URL and secrets; the resource's own fields override the
HTTP settings (tests, a temporary longer timeout).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import dagster as dg
from pydantic import Field

from perf_orchestration.config.files import config_dir
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.ingestion.sources import SourceReader, load_sources, reader_for


class SourceSystemResource(dg.ConfigurableResource):
    """A source system's reader, HTTP or SQL, built from sources.yaml."""

    system: str = Field(description="mes, qms, erp, crm or hr")
    base_url: str | None = Field(default=None, description="overrides the file's base URL")
    token: str | None = Field(default=None, description="a bearer token overriding the auth")
    connect_timeout_seconds: float | None = None
    read_timeout_seconds: float | None = None
    max_retries: int | None = None
    backoff_seconds: float | None = None
    page_size: int | None = None

    def client(self) -> SourceReader:
        return self.reader_factory()()

    def reader_factory(self) -> Callable[[], SourceReader]:
        """Builds the reader; it pickles, so an ingestion worker process can build its own."""
        spec = load_sources(config_dir())[self.system]
        if spec.kind == "sql":
            return partial(reader_for, self.system, spec)
        return partial(reader_for, self.system, spec, base_url=self.base_url, token=self.token,
                       connect_timeout=self.connect_timeout_seconds,
                       read_timeout=self.read_timeout_seconds,
                       max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
                       page_size=self.page_size)


def source_resource_key(system: str) -> str:
    return f"{system}_api"


def source_resources() -> dict[str, SourceSystemResource]:
    """A reader resource for every source system, each as sources.yaml describes it."""
    return {source_resource_key(s): SourceSystemResource(system=s) for s in SYSTEMS}
