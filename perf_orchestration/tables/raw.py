"""Schema `raw`: one landing table per source entity, derived from the entity table, each
with the provenance columns an auditor needs to trace a row back to its source record and
the run that landed it. SQL models (dbt_like_sql/) create the staging and marts models."""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import ENTITIES, Entity
from perf_orchestration.tables.base import columns, metadata

SQL_TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "datetime": sa.DateTime,
             "date": sa.Date}
PROVENANCE_COLUMNS = ("source_system", "source_record_id", "ingestion_run_id", "ingested_at",
                      "partition_key")
SNAPSHOT_PARTITION = "snapshot"
PROVENANCE = """
    source_system    text not null
    source_record_id text not null
    ingestion_run_id text not null
    ingested_at      datetime not null
    partition_key    text not null
"""


def entity_columns(entity: Entity) -> list[sa.Column]:
    """The entity's own columns, all nullable: what does not hold is quarantined, not
    refused by the database."""
    return [sa.Column(c.name, SQL_TYPES[c.type](), nullable=True) for c in entity.columns]


def raw_table(entity: Entity, md: sa.MetaData = metadata, extra: str = PROVENANCE,
              indexes: tuple[str, ...] | None = None) -> sa.Table:
    """The landing table of `entity` (another MetaData and provenance for tables built from
    config at run time, like the workbook kinds')."""
    if indexes is None:
        indexes = ("partition_key",)
        if entity.event_time:  # staging models select their window on the event time
            indexes += (entity.event_time,)
    names = {"partition_key": "partition"}
    return sa.Table(entity.table, md, *entity_columns(entity), *columns(extra),
                    *(sa.Index(f"ix_{entity.table}_{names.get(c, c)}", c) for c in indexes),
                    schema="raw", comment=entity.description)


RAW_TABLES: dict[str, sa.Table] = {e.table: raw_table(e) for e in ENTITIES}
