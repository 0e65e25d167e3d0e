"""The people loop's tables: requests and reminders in ops, answers, badges and the
capability graph in marts. Evidence columns hold the source record ids as JSON."""

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


def ensure_people_tables(engine: Engine) -> None:
    ensure_schemas(engine, metadata)
