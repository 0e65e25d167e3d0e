"""Roll the plants' goal scores up to the group, as ratios of sums.

Each plant keeps its own warehouse; the roll-up reads every plant's `marts.goal_scores`,
keeps them with their plant id (`marts.group_plant_goal_scores`) and, per group goal and
period, sums the numerators and the denominators of the plants with data and divides
once (`marts.group_goal_scores`): a plant with ten times the output weighs ten times as
much, as it does in the plant's own roll-up of teams into lines. A metric without a
denominator (a count, an amount) is summed. The root `group` is the weighted roll-up of
the group goals' scores, the formula the plant tree uses (`goals.scores`).

The heatmap (`marts.group_goal_health`) puts each plant on each group goal for the plant's
latest period, and the group for its own, every cell against the group's target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from perf_orchestration.goals.scores import attainment, weighted_rollup
from perf_orchestration.group.config import GroupError, GroupFile
from perf_orchestration.tables import goal_scores
from perf_orchestration.tables.group import (
    GROUP_TABLES,
    PLANT_SCORE_COLUMNS,
    group_goal_health,
    group_goal_scores,
    group_metadata,
    plant_goal_scores,
)
from perf_orchestration.warehouse import ensure_schemas, insert_rows, make_engine

GROUP_ROW = "GROUP"
ROOT = "group"


@dataclass
class RollupResult:
    plant_rows: int
    group_rows: list[dict]
    cells: list[dict]
    plants_read: list[str] = field(default_factory=list)


def read_plant_scores(plant_id: str, url: str, read_at: datetime) -> list[dict]:
    """The plant's goal scores, each with its plant id."""
    engine = make_engine(url)
    try:
        if not sa.inspect(engine).has_table("goal_scores", schema="marts"):
            raise GroupError(f"plant {plant_id}: its warehouse has no marts.goal_scores yet: "
                             "run the plant's flow first")
        with engine.connect() as conn:
            rows = conn.execute(sa.select(*(goal_scores.c[c] for c in PLANT_SCORE_COLUMNS),
                                          goal_scores.c.run_id)).mappings().all()
    finally:
        engine.dispose()
    return [{"plant_id": plant_id, **{c: r[c] for c in PLANT_SCORE_COLUMNS},
             "plant_run_id": r["run_id"], "read_at": read_at} for r in rows]


def _summed(rows: pd.DataFrame) -> tuple[float | None, float | None, float | None]:
    """Numerator, denominator and actual of the plants with data, as a ratio of sums."""
    have = rows[rows["numerator"].notna()]
    if have.empty:
        return None, None, None
    num = float(have["numerator"].sum())
    if have["denominator"].isna().all():  # a count or an amount: the sum
        return num, None, num
    have = have[have["denominator"].notna()]
    num, den = float(have["numerator"].sum()), float(have["denominator"].sum())
    return num, den, (num / den if den else None)


def group_scores(group: GroupFile, plants: pd.DataFrame, now: datetime) -> list[dict]:
    """The group goals per period, and the root `group` over them."""
    out: list[dict] = []
    for goal in group.goals:
        sub = plants[(plants["goal_id"] == goal.goal)
                     & plants["plant_id"].isin(group.plants_of(goal))]
        for period, rows in sub.groupby("period", sort=True):
            num, den, actual = _summed(rows)
            with_data = sorted(rows.loc[rows["numerator"].notna(), "plant_id"])
            score = attainment(actual, goal.target, goal.direction)
            out.append({"goal_id": goal.id, "period": period, "plant_goal": goal.goal,
                        "metric": rows["metric"].iloc[0], "numerator": num,
                        "denominator": den, "actual": actual, "target": goal.target,
                        "direction": goal.direction, "attainment": score, "score": score,
                        "weight": goal.weight, "plants": ",".join(with_data),
                        "group_name": group.name, "computed_at": now})
    for period in sorted({r["period"] for r in out}):
        children = [r for r in out if r["period"] == period and r["goal_id"] != ROOT]
        score = weighted_rollup([(r["weight"], r["score"]) for r in children])
        out.append({"goal_id": ROOT, "period": period, "plant_goal": None, "metric": None,
                    "numerator": None, "denominator": None, "actual": None, "target": None,
                    "direction": None, "attainment": None, "score": score, "weight": None,
                    "plants": ",".join(sorted({p for r in children if r["plants"]
                                               for p in r["plants"].split(",")})),
                    "group_name": group.name, "computed_at": now})
    return out


def health_cells(group: GroupFile, plants: pd.DataFrame, rows: list[dict],
                 now: datetime) -> list[dict]:
    """Each plant on each group goal for the plant's own latest period (plants in other
    zones are on other local dates at the same moment), and the group for its latest
    period; every cell against the group's target, coloured by the group's health bands."""
    bands = group.health
    cells = []
    for goal in group.goals:
        own = [r for r in rows if r["goal_id"] == goal.id]
        if not own:
            continue
        latest = max(own, key=lambda r: r["period"])
        found = plants[(plants["goal_id"] == goal.goal)].sort_values("period")
        per_plant = {r.plant_id: r for r in found.itertuples()}  # the last period wins
        for plant_id in (*group.plants_of(goal), GROUP_ROW):
            if plant_id == GROUP_ROW:
                period, actual = latest["period"], latest["actual"]
            elif plant_id in per_plant:
                r = per_plant[plant_id]
                period, actual = r.period, None if pd.isna(r.actual) else float(r.actual)
            else:
                period, actual = latest["period"], None
            ratio = attainment(actual, goal.target, goal.direction)
            cells.append({"plant_id": plant_id, "goal_id": goal.id, "period": period,
                          "metric": latest["metric"], "actual": actual, "target": goal.target,
                          "attainment": ratio, "status": bands.status(ratio),
                          "yellow_below": bands.yellow_below, "red_below": bands.red_below,
                          "computed_at": now})
    return cells


def write_group(engine: sa.Engine, plant_rows: list[dict], rows: list[dict],
                cells: list[dict]) -> None:
    """Replace the group tables in one transaction: the roll-up is a full recompute."""
    ensure_schemas(engine, group_metadata)
    with engine.begin() as conn:
        for table in GROUP_TABLES:
            conn.execute(table.delete())
        insert_rows(conn, plant_goal_scores, plant_rows)
        insert_rows(conn, group_goal_scores, rows)
        insert_rows(conn, group_goal_health, cells)


def roll_up(group: GroupFile, plant_urls: dict[str, str], group_url: str) -> RollupResult:
    """Read every plant's scores, roll them up and write the group warehouse."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    missing = [p.id for p in group.plants if p.id not in plant_urls]
    if missing:
        raise GroupError(f"no warehouse for plant(s) {', '.join(missing)}")
    plant_rows = [r for p in group.plants for r in read_plant_scores(p.id, plant_urls[p.id], now)]
    frame = pd.DataFrame(plant_rows, columns=["plant_id", *PLANT_SCORE_COLUMNS])
    rows = group_scores(group, frame, now)
    cells = health_cells(group, frame, rows, now)
    engine = make_engine(group_url)
    try:
        write_group(engine, plant_rows, rows, cells)
    finally:
        engine.dispose()
    return RollupResult(len(plant_rows), rows, cells, [p.id for p in group.plants])


def heatmap_png(group: GroupFile, cells: list[dict]) -> bytes:
    """The group heatmap: each plant on each group goal, against the group's targets."""
    from perf_orchestration.goals.heatmap import render_png

    return render_png(heatmap_rows(cells), f"{group.name}: each plant against the group's targets")


def heatmap_rows(cells: list[dict]) -> list[dict]:
    """The cells in the shape of the plant heatmap's rows (`goals.heatmap.render_png`)."""
    return [{"subject": c["plant_id"], "metric": c["goal_id"], "template": "group",
             "status": c["status"], "progress_ratio": c["attainment"],
             "yellow_below": c["yellow_below"], "red_below": c["red_below"]} for c in cells]
