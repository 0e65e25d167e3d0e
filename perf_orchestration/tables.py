"""Warehouse tables written by Python code: raw landings and the ops bookkeeping.

Raw tables are derived from the entity table, each with the provenance columns
an auditor needs to trace a row back to its source record and the run that
landed it. SQL models (dbt_like_sql/) create the staging and marts tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import ENTITIES, Entity

metadata = sa.MetaData()

SQL_TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "datetime": sa.DateTime,
             "date": sa.Date}
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

# --- alerting: episodes, their history, actions and tasks -------------------------------

alert_episodes = sa.Table(
    "alert_episodes", metadata,
    sa.Column("episode_id", sa.Text, primary_key=True),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("rule_version", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("episode_start", sa.DateTime, nullable=False),
    sa.Column("signal_at", sa.DateTime),
    sa.Column("detected_at", sa.DateTime),
    sa.Column("fired_at", sa.DateTime),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("acted_at", sa.DateTime),
    sa.Column("acknowledged_at", sa.DateTime),
    sa.Column("acknowledged_by", sa.Text),
    sa.Column("escalated_at", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("triggered_by", sa.Text, nullable=False, server_default="system"),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_alert_episodes_rule_subject", "rule_id", "subject"),
    schema="ops", comment="One row per alert episode with the times response is measured by "
    "(UTC): signal, detected, fired, delivered, acted, resolved.",
)

alert_transitions = sa.Table(
    "alert_transitions", metadata,
    sa.Column("transition_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("episode_id", sa.Text),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("from_state", sa.Text, nullable=False),
    sa.Column("to_state", sa.Text, nullable=False),
    sa.Column("window_start", sa.DateTime),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    # which evaluator recorded it: the rules asset (after the marts) or the source watch
    # sensor (live); each launches the action runs of its own transitions
    sa.Column("recorded_by", sa.Text, nullable=False, server_default="rules_asset"),
    sa.UniqueConstraint("rule_id", "subject", "to_state", "at", name="uq_alert_transition"),
    schema="ops", comment="Every state change of every rule and subject, with its time.",
)

action_log = sa.Table(
    "action_log", metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("episode_id", sa.Text, nullable=False),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("action_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # fire or resolved
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("recipient_role", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # planned, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("detail", sa.Text),
    sa.Column("subject_line", sa.Text, nullable=False),
    sa.Column("planned_at", sa.DateTime, nullable=False),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_action_log_episode", "episode_id"),
    schema="ops", comment="Every planned action once (unique idempotency key) and its delivery.",
)

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("task_id", sa.Text, primary_key=True),  # the action's idempotency key
    sa.Column("episode_id", sa.Text, nullable=False),
    sa.Column("owner_id", sa.Text, nullable=False),
    sa.Column("owner_role", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # open, done
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
    schema="ops", comment="Tasks the flow gives people (checklists, reviews), with owner and due.",
)

silences = sa.Table(
    "silences", metadata,
    sa.Column("silence_id", sa.Text, primary_key=True),
    sa.Column("matchers", sa.Text, nullable=False),  # JSON {label: value}
    sa.Column("starts_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expired_at", sa.DateTime),
    schema="ops", comment="Ad-hoc silences (perfflow silence): matching alerts are held, "
    "not lost, from start to end (UTC).",
)

alert_notifications = sa.Table(
    "alert_notifications", metadata,
    sa.Column("action_key", sa.Text, primary_key=True),  # ops.action_log.idempotency_key
    sa.Column("episode_id", sa.Text, nullable=False),
    sa.Column("rule_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("recipient_name", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("labels", sa.Text, nullable=False),  # JSON
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # JSON
    sa.Column("status", sa.Text, nullable=False),  # queued sent inhibited silenced dropped
    sa.Column("reason", sa.Text),
    sa.Column("queued_at", sa.DateTime, nullable=False),
    sa.Column("hold_until", sa.DateTime),
    sa.Column("notification_id", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_alert_notifications_status_group", "status", "group_key"),
    schema="ops", comment="Every alert notification an action asked for, with what became of "
    "it: queued in its group, sent in a grouped notification, inhibited, silenced or dropped, "
    "and why.",
)

notification_log = sa.Table(
    "notification_log", metadata,
    sa.Column("notification_id", sa.Text, primary_key=True),  # the Idempotency-Key sent
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),  # first, group_interval, repeat, held
    sa.Column("members", sa.Text, nullable=False),  # JSON list of action keys
    sa.Column("alerts", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # sending delivered failed
    sa.Column("attempts", sa.Integer, nullable=False),  # channel attempts, retries included
    # dispatch rounds that tried it: a failed notification is tried again in later rounds
    sa.Column("dispatches", sa.Integer, nullable=False, server_default="0"),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    # when a later round may send it again (after a failed round, or while a round is
    # sending it); NULL once delivered or when no round is left
    sa.Column("retry_at", sa.DateTime),
    sa.UniqueConstraint("group_key", "sequence", name="uq_notification_group_sequence"),
    schema="ops", comment="Every grouped notification sent: its group, members and why it "
    "went out then.",
)

alert_state = sa.Table(
    "alert_state", metadata,
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # JSON of the episode engine's SubjectState
    sa.Column("last_window_end", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    schema="ops", comment="Where each rule and subject stands, so evaluation resumes exactly.",
)

response_times = sa.Table(
    "response_times", metadata,
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("team_id", sa.Text, primary_key=True),
    sa.Column("episodes", sa.Integer, nullable=False),
    sa.Column("delivered_episodes", sa.Integer, nullable=False),
    sa.Column("signal_to_delivered_p50_s", sa.Float),
    sa.Column("signal_to_delivered_p95_s", sa.Float),
    sa.Column("signal_to_delivered_max_s", sa.Float),
    sa.Column("detected_to_delivered_p50_s", sa.Float),
    sa.Column("detected_to_delivered_p95_s", sa.Float),
    sa.Column("detected_to_delivered_max_s", sa.Float),
    sa.Column("acknowledged_episodes", sa.Integer),
    sa.Column("signal_to_acknowledged_p50_s", sa.Float),
    sa.Column("escalated_episodes", sa.Integer),
    sa.Column("acted_episodes", sa.Integer),  # episodes a person marked done (a task closed)
    sa.Column("signal_to_acted_p50_s", sa.Float),
    sa.Column("signal_to_acted_p95_s", sa.Float),
    sa.Column("actions_delivered", sa.Integer, nullable=False),
    sa.Column("actions_auto", sa.Integer, nullable=False),
    sa.Column("auto_triggered_ratio", sa.Float),
    sa.Column("refreshed_at", sa.DateTime, nullable=False),
    schema="marts", comment="Per rule and team: signal -> delivered and detected -> delivered "
    "percentiles (seconds), and the share of delivered actions the flow triggered on its own.",
)

# --- workbook intake --------------------------------------------------------------------

file_intake = sa.Table(
    "file_intake", metadata,
    sa.Column("file_hash", sa.Text, primary_key=True),  # sha256 of the content
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("kind", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("sheets_read", sa.Integer, nullable=False),
    sa.Column("sheets_skipped", sa.Integer, nullable=False),
    sa.Column("rows_landed", sa.Integer, nullable=False),
    sa.Column("rows_quarantined", sa.Integer, nullable=False),
    sa.Column("rows_excluded", sa.Integer, nullable=False),
    sa.Column("total_check", sa.Text, nullable=False),  # ok, mismatch, absent, not_run
    sa.Column("total_detail", sa.Text),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("intake_at", sa.DateTime, nullable=False),
    sa.Index("ix_file_intake_path", "path"),
    schema="ops", comment="One row per workbook file content (sha256) dropped for intake: what "
    "was read, landed and quarantined, the workbook's own total check, status and reason.",
)
