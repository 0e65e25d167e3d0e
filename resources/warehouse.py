"""The warehouse resource: one SQLAlchemy engine per process for the configured URL."""

from __future__ import annotations

from functools import cache

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from perf_orchestration.tables import metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine, redacted


@cache
def _engine(url: str) -> Engine:
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    return engine


class WarehouseResource(dg.ConfigurableResource):
    """The plant's warehouse: embedded SQLite files or a PostgreSQL database."""

    url: str = Field(description="sqlite:///DIR/warehouse.db or postgresql://user@host/db")

    def get_engine(self) -> Engine:
        """The shared engine, with schemas and the Python-written tables created."""
        return _engine(self.url)

    @property
    def display_url(self) -> str:
        return redacted(self.url)
