"""Warehouse tables written by Python code: raw landings and the ops bookkeeping.

Raw tables are derived from the entity table, each with the provenance columns
an auditor needs to trace a row back to its source record and the run that
landed it. SQL models (dbt_like_sql/) create the staging and marts tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.entities import ENTITIES, Entity

metadata = sa.MetaData()

SQL_TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "datetime": sa.DateTime}
PROVENANCE_COLUMNS = ("source_system", "source_record_id", "ingestion_run_id", "ingested_at",
                      "partition_key")
SNAPSHOT_PARTITION = "snapshot"


def _raw_table(entity: Entity) -> sa.Table:
    cols = [sa.Column(c.name, SQL_TYPES[c.type](), nullable=True) for c in entity.columns]
    cols += [
        sa.Column("source_system", sa.Text, nullable=False),
        sa.Column("source_record_id", sa.Text, nullable=False),
        sa.Column("ingestion_run_id", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.DateTime, nullable=False),
        sa.Column("partition_key", sa.Text, nullable=False),
    ]
    indexes = [sa.Index(f"ix_{entity.table}_partition", "partition_key")]
    if entity.event_time:  # staging models select their window on the event time
        indexes.append(sa.Index(f"ix_{entity.table}_{entity.event_time}", entity.event_time))
    return sa.Table(entity.table, metadata, *cols, *indexes,
                    schema="raw", comment=entity.description)


RAW_TABLES: dict[str, sa.Table] = {e.table: _raw_table(e) for e in ENTITIES}

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("quarantine_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("partition_key", sa.Text, nullable=False),
    sa.Column("source_record_id", sa.Text),
    sa.Column("failed_expectation", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("quarantined_at", sa.DateTime, nullable=False),
    sa.Index("ix_quarantine_entity_partition", "entity", "partition_key"),
    schema="ops", comment="Rows that failed their entity's quality suite, with the reason.",
)

ingestion_log = sa.Table(
    "ingestion_log", metadata,
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("partition_key", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("fetched", sa.Integer, nullable=False),
    sa.Column("landed", sa.Integer, nullable=False),
    sa.Column("quarantined", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("late", sa.Integer, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("retries", sa.Integer, nullable=False),
    sa.Column("newest_source_update", sa.DateTime),
    sa.Column("logged_at", sa.DateTime, nullable=False),
    sa.Index("ix_ingestion_log_entity_partition", "entity", "partition_key"),
    schema="ops",
    comment="One row per entity, partition and run: fetched = landed + quarantined.",
)

plant_calendar = sa.Table(
    "plant_calendar", metadata,
    sa.Column("partition_key", sa.Text, primary_key=True),
    sa.Column("hour_start", sa.DateTime, nullable=False),
    sa.Column("hour_end", sa.DateTime, nullable=False),
    sa.Column("local_date", sa.Text, nullable=False),
    sa.Column("local_hour", sa.Integer, nullable=False),
    sa.Column("shift", sa.Text, nullable=False),
    sa.Column("shift_date", sa.Text, nullable=False),
    sa.Column("shift_start", sa.DateTime, nullable=False),
    sa.Column("day_start", sa.DateTime, nullable=False),
    sa.Column("iso_week", sa.Text, nullable=False),
    sa.Column("week_start", sa.DateTime, nullable=False),
    schema="staging",
    comment="One row per local plant hour: date, shift and week, in the plant's time zone "
    "(times are UTC).",
)


def upsert_calendar(conn: sa.Connection, rows: list[dict]) -> None:
    """Replace the calendar rows for these hours (idempotent)."""
    keys = [r["partition_key"] for r in rows]
    for i in range(0, len(keys), 500):
        conn.execute(plant_calendar.delete().where(
            plant_calendar.c.partition_key.in_(keys[i:i + 500])))
    if rows:
        conn.execute(plant_calendar.insert(), rows)
