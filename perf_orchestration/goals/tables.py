"""Warehouse tables of the goal tree: scores, alignment, health, and weight changes."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

goal_scores = sa.Table(
    "goal_scores", metadata,
    sa.Column("goal_id", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, primary_key=True),  # local date or ISO week
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("parent_id", sa.Text),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("period_kind", sa.Text, nullable=False),
    sa.Column("period_start", sa.DateTime, nullable=False),
    sa.Column("period_end", sa.DateTime, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("mart", sa.Text, nullable=False),
    sa.Column("numerator", sa.Float),
    sa.Column("denominator", sa.Float),
    sa.Column("actual", sa.Float),
    sa.Column("target", sa.Float, nullable=False),
    sa.Column("direction", sa.Text, nullable=False),
    sa.Column("attainment", sa.Float),
    sa.Column("rollup_score", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("weight", sa.Float),
    sa.Column("weight_version", sa.Text, nullable=False),
    sa.Column("null_reason", sa.Text),
    sa.Column("data_until", sa.DateTime),
    sa.Column("config_version", sa.Text, nullable=False),
    sa.Column("mart_run_id", sa.Text),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("computed_at", sa.DateTime, nullable=False),
    schema="marts", comment="Attainment of every goal per period from its metric, and the "
    "weighted rollup of its children, with the config and weight versions that produced it.",
)

goal_alignment = sa.Table(
    "goal_alignment", metadata,
    sa.Column("goal_id", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, primary_key=True),
    sa.Column("children", sa.Integer, nullable=False),
    sa.Column("own_attainment", sa.Float),
    sa.Column("children_rollup", sa.Float),
    sa.Column("divergence", sa.Float),
    sa.Column("children_spread", sa.Float),
    sa.Column("aligned", sa.Integer),
    sa.Column("config_version", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    schema="marts", comment="Per parent goal and period: its own outcome against its "
    "children's weighted attainment (divergence = rollup - own).",
)

goal_health = sa.Table(
    "goal_health", metadata,
    sa.Column("goal_id", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("elapsed_share", sa.Float, nullable=False),
    sa.Column("expected_progress", sa.Float, nullable=False),
    sa.Column("actual_progress", sa.Float),
    sa.Column("progress_ratio", sa.Float),
    sa.Column("status", sa.Text),  # green, yellow, red; NULL without data
    sa.Column("yellow_below", sa.Float, nullable=False),
    sa.Column("red_below", sa.Float, nullable=False),
    sa.Column("config_version", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    schema="marts", comment="Red/yellow/green per team or person goal for the current "
    "period, from actual against expected progress.",
)

weight_changes = sa.Table(
    "weight_changes", metadata,
    sa.Column("rule_id", sa.Text, primary_key=True),
    sa.Column("goal_id", sa.Text, primary_key=True),
    sa.Column("parent_id", sa.Text, nullable=False),
    sa.Column("old_weight", sa.Float, nullable=False),
    sa.Column("new_weight", sa.Float, nullable=False),
    sa.Column("effective_from", sa.DateTime, nullable=False),
    sa.Column("weight_version", sa.Text, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("trigger_record_id", sa.Text, nullable=False),
    sa.Column("calibration_version", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    schema="ops", comment="Every weight a calibration rule changed, from when, and why.",
)
