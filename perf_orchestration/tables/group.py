"""The group warehouse's tables: each plant's goal scores with its plant id, the group goals
rolled up over the plants, and the group heatmap's cells.

They live in the group's own warehouse (its own MetaData, so a plant's warehouse never
gets them), in the `marts` schema.
"""

from __future__ import annotations

import sqlalchemy as sa

from perf_orchestration.tables.base import columns
from perf_orchestration.tables.marts import goal_scores

group_metadata = sa.MetaData()


def _table(name: str, spec: str, comment: str) -> sa.Table:
    return sa.Table(name, group_metadata, *columns(spec), schema="marts", comment=comment)


# the columns of a plant's marts.goal_scores the group keeps, declared there once
PLANT_SCORE_COLUMNS = ("goal_id", "period", "level", "metric", "period_kind", "numerator",
                       "denominator", "actual", "target", "direction", "attainment", "score",
                       "config_version")

plant_goal_scores = sa.Table(
    "group_plant_goal_scores", group_metadata,
    sa.Column("plant_id", sa.Text, primary_key=True),
    *(sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
      for c in (goal_scores.c[name] for name in PLANT_SCORE_COLUMNS)),
    *columns("""
    plant_run_id   text not null       -- the plant's run that wrote the score
    read_at        datetime not null
"""), schema="marts", comment="Every plant's goal scores, read from its warehouse, keyed by plant.")

group_goal_scores = _table("group_goal_scores", """
    goal_id     text pk                -- a group goal, or `group` (the root)
    period      text pk
    plant_goal  text                   -- the plants' goal rolled up; NULL for the root
    metric      text
    numerator   float                  -- summed over the plants with data
    denominator float
    actual      float                  -- sum of numerators / sum of denominators
    target      float
    direction   text
    attainment  float
    score       float
    weight      float
    plants      text not null          -- the plants in the sum, comma separated
    group_name  text not null
    computed_at datetime not null
""", "The group's goals per period: the plants rolled up as ratios of sums.")

group_goal_health = _table("group_goal_health", """
    plant_id     text pk               -- a plant, or GROUP for the roll-up
    goal_id      text pk               -- the group goal
    period       text not null         -- the plant's latest period of the goal
    metric       text not null
    actual       float
    target       float not null
    attainment   float                 -- actual against the group's target
    status       text                  -- green, yellow, red; NULL without data
    yellow_below float not null
    red_below    float not null
    computed_at  datetime not null
""", "The group heatmap: each plant and the group on each group goal, latest periods.")

GROUP_TABLES = (plant_goal_scores, group_goal_scores, group_goal_health)
