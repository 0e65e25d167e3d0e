"""Every warehouse table the product writes from Python, declared once.

One registry per schema, all on one MetaData: `raw` (a landing table per source entity,
with provenance), `staging` (the plant calendar), `ops` (the flow's bookkeeping) and
`marts` (the marts written from Python). The SQL models of dbt_like_sql/ create the
other staging and marts tables. `create_tables` creates what is missing on SQLite and
PostgreSQL (and adds columns a newer release declares); the warehouse roles and the
tests read the same registry.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from perf_orchestration.tables.base import columns, metadata, table
from perf_orchestration.tables.marts import (
    badges,
    capability_graph,
    feedback,
    goal_alignment,
    goal_health,
    goal_scores,
    onboarding_progress,
    response_times,
)
from perf_orchestration.tables.ops import (
    action_log,
    alert_episodes,
    alert_notifications,
    alert_state,
    alert_transitions,
    feedback_requests,
    file_intake,
    ingestion_log,
    notification_log,
    person_reminders,
    quarantine,
    silences,
    tasks,
    weight_changes,
)
from perf_orchestration.tables.raw import (
    PROVENANCE_COLUMNS,
    RAW_TABLES,
    SNAPSHOT_PARTITION,
    SQL_TYPES,
    entity_columns,
    raw_table,
)
from perf_orchestration.tables.staging import plant_calendar, upsert_calendar

SCHEMA_TABLES = {schema: sorted(t.name for t in metadata.tables.values() if t.schema == schema)
                 for schema in ("raw", "staging", "ops", "marts")}


def create_tables(engine: Engine) -> None:
    """Create the schemas and every table of the registry that is missing."""
    from perf_orchestration.warehouse import ensure_schemas

    ensure_schemas(engine, metadata)


__all__ = [
    "PROVENANCE_COLUMNS", "RAW_TABLES", "SCHEMA_TABLES", "SNAPSHOT_PARTITION", "SQL_TYPES",
    "action_log", "alert_episodes", "alert_notifications", "alert_state", "alert_transitions",
    "badges", "capability_graph", "columns", "create_tables", "entity_columns", "feedback",
    "feedback_requests", "file_intake", "goal_alignment", "goal_health", "goal_scores",
    "ingestion_log", "metadata", "notification_log", "onboarding_progress", "person_reminders",
    "plant_calendar", "quarantine", "raw_table", "response_times", "silences", "table", "tasks",
    "upsert_calendar", "weight_changes",
]
