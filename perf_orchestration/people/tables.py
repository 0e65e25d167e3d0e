"""The people loop's tables: requests and reminders in ops, answers, badges, the
capability graph and onboarding progress in marts. Evidence columns hold the source
record ids as JSON."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.warehouse import ensure_schemas

metadata = sa.MetaData()

feedback_requests = sa.Table(
    "feedback_requests", metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("trigger_id", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("form_id", sa.Text, nullable=False),
    sa.Column("form_version", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("questions", sa.Text, nullable=False),
    sa.Column("recipient_id", sa.Text, nullable=False),
    sa.Column("recipient_email", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("signal_at", sa.DateTime, nullable=False),
    sa.Column("due_at", sa.DateTime, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("delivered_at", sa.DateTime),
    schema="ops", comment="One row per feedback request; the id is derived, so never twice.",
)

person_reminders = sa.Table(
    "person_reminders", metadata,
    sa.Column("reminder_id", sa.Text, primary_key=True),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("episode_start", sa.Text, nullable=False),
    sa.Column("days_below", sa.Text, nullable=False),
    sa.Column("baseline", sa.Float, nullable=False),
    sa.Column("suggestions", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    schema="ops", comment="One reminder per person, metric and episode below baseline.",
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("response_id", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("trigger_id", sa.Text, nullable=False),
    sa.Column("form_id", sa.Text, nullable=False),
    sa.Column("form_version", sa.Text, nullable=False),
    sa.Column("respondent_id", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("answered_at", sa.DateTime, nullable=False),
    sa.Column("answers", sa.Text, nullable=False),
    schema="marts", comment="Answers matched to their request and form version.",
)

badges = sa.Table(
    "badges", metadata,
    sa.Column("employee_id", sa.Text, primary_key=True),
    sa.Column("badge_id", sa.Text, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("awarded_at", sa.DateTime, nullable=False),
    sa.Column("revoked_at", sa.DateTime),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("rule_version", sa.Text, nullable=False),
    schema="marts", comment="Skill badges: awarded once, revoked by rule, with evidence.",
)

capability_graph = sa.Table(
    "capability_graph", metadata,
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("skill", sa.Text, nullable=False),
    sa.Column("evidence_kind", sa.Text, nullable=False),
    sa.Column("evidence_id", sa.Text, nullable=False),
    sa.Column("evidence_at", sa.DateTime, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("employee_id", "skill", "evidence_kind", "evidence_id"),
    schema="marts", comment="Per person: skills with each piece of evidence, date and source.",
)

onboarding_progress = sa.Table(
    "onboarding_progress", metadata,
    sa.Column("as_of_date", sa.Text, nullable=False),
    sa.Column("employee_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("team_id", sa.Text),
    sa.Column("track_id", sa.Text, nullable=False),
    sa.Column("hired_at", sa.DateTime, nullable=False),
    sa.Column("days_since_hire", sa.Integer, nullable=False),
    sa.Column("mentor_id", sa.Text),
    sa.Column("trainings_required", sa.Integer, nullable=False),
    sa.Column("trainings_done", sa.Integer, nullable=False),
    sa.Column("training_share", sa.Float, nullable=False),
    sa.Column("training_ids", sa.Text, nullable=False),
    sa.Column("feedback_weeks", sa.Integer, nullable=False),
    sa.Column("feedback_entries", sa.Integer, nullable=False),
    sa.Column("feedback_per_week", sa.Float),
    sa.Column("feedback_by_week", sa.Text, nullable=False),
    sa.Column("feedback_ids", sa.Text, nullable=False),
    sa.Column("first_job_kind", sa.Text, nullable=False),
    sa.Column("first_job_id", sa.Text),
    sa.Column("first_job_at", sa.DateTime),
    sa.Column("days_to_first_job", sa.Integer),
    sa.Column("target_days", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("config_version", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("as_of_date", "employee_id"),
    schema="marts",
    comment="Per new hire and plant day: training share, mentor feedback per week and days "
    "to the first independent job, with the record ids behind each.",
)


def ensure_people_tables(engine: Engine) -> None:
    ensure_schemas(engine, metadata)


def replace_mart(engine: Engine, table: sa.Table, rows: list[dict], entity: str,
                 bad: list[dict]) -> None:
    """Replace a people mart and the quarantine rows it set aside (quarantine partition
    `<schema>.<table>` of `entity`), in one transaction: a re-run never doubles either."""
    from perf_orchestration.tables import quarantine

    with engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(quarantine.delete().where(
            quarantine.c.entity == entity,
            quarantine.c.partition_key == f"{table.schema}.{table.name}"))
        if rows:
            conn.execute(table.insert(), rows)
        if bad:
            conn.execute(quarantine.insert(), bad)
