"""raw.excel_<kind>: one table per workbook kind, and the entity its rows are checked as.

The kinds come from workbooks.yaml, so their tables live in their own MetaData built
from the loaded config; the columns are the kind's plus the provenance an auditor needs
to open the very cell a number came from (file hash, file, sheet, row).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.ingestion.entities import Column, Entity
from perf_orchestration.tables import create_tables, raw_table
from perf_orchestration.warehouse import ensure_schemas
from perf_orchestration.workbooks.config import WorkbookConfig, WorkbookKind

SYSTEM = "excel"
RUN_COLUMNS = """
    ingestion_run_id text not null
    ingested_at      datetime not null
"""


def kind_entity(kind: WorkbookKind) -> Entity:
    """The kind as a source entity, so the project's quality suite judges its rows.

    Provenance columns are part of the entity: the natural key is unique per file (the
    hash), and a row that lost its provenance could not be traced, so it may not land.
    """
    columns = tuple(Column(c.name, c.type, c.required, min=c.min, max=c.max)
                    for c in kind.columns)
    columns += (Column("file_hash", "str"), Column("source_file", "str"),
                Column("sheet_name", "str"), Column("row_number", "int", min=1),
                Column("source_record_id", "str"))
    return Entity(SYSTEM, kind.id, kind.description, "source_record_id", columns,
                  key=("file_hash", *kind.key), event_time=None,
                  ordered_pairs=tuple(tuple(p) for p in kind.ordered_pairs))


def kind_tables(config: WorkbookConfig) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """A MetaData holding raw.excel_<kind> for every kind of the config: the landing
    tables of the registry's raw schema, built from the kinds the plant configures."""
    md = sa.MetaData()
    tables = {kind.id: raw_table(kind_entity(kind), md, extra=RUN_COLUMNS,
                                 indexes=("file_hash", "source_file"))
              for kind in config.kinds}
    return md, tables


def ensure_tables(engine: Engine, config: WorkbookConfig) -> dict[str, sa.Table]:
    """Create the registry's tables and every kind's raw table that is missing; return the
    kinds' raw tables."""
    create_tables(engine)
    md, tables = kind_tables(config)
    ensure_schemas(engine, md)
    return tables
