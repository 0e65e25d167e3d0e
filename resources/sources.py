"""One resource per source system (MES, QMS, ERP, CRM, HR), fed by environment variables."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import SYSTEMS


class SourceApiResource(dg.ConfigurableResource):
    """A source system's HTTP API: base URL and token from the environment."""

    system: str = Field(description="mes, qms, erp, crm or hr")
    base_url: str = Field(description="e.g. http://127.0.0.1:8765")
    token: str | None = Field(default=None, description="Bearer token (from an EnvVar)")
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 2.0
    max_retries: int = 4
    backoff_seconds: float = 0.2
    page_size: int = 1000

    def client(self) -> SourceClient:
        return SourceClient(self.system, self.base_url, self.token,
                            connect_timeout=self.connect_timeout_seconds,
                            read_timeout=self.read_timeout_seconds,
                            max_retries=self.max_retries, backoff_seconds=self.backoff_seconds,
                            page_size=self.page_size)


def source_resource_key(system: str) -> str:
    return f"{system}_api"


def source_resources() -> dict[str, SourceApiResource]:
    """PERFFLOW_<SYSTEM>_URL and PERFFLOW_<SYSTEM>_TOKEN for every source system."""
    return {
        source_resource_key(s): SourceApiResource(
            system=s,
            base_url=dg.EnvVar(f"PERFFLOW_{s.upper()}_URL"),
            token=dg.EnvVar(f"PERFFLOW_{s.upper()}_TOKEN"),
        )
        for s in SYSTEMS
    }
