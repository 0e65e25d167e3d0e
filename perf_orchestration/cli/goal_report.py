"""What the demo draws from the warehouse beside summary.json: the goal-health picture
(marts.goal_health as a PNG), each technical centre's deviation, and the live part's own
war-room page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.config.files import config_dir
from perf_orchestration.goals.heatmap import render_png, write_png
from perf_orchestration.goals.pipeline import load_goal_config
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.plant_calendar import plant_tz
from perf_orchestration.reports.war_room import write_war_room
from perf_orchestration.tables import goal_alignment, goal_health
from perf_orchestration.warehouse import make_engine

HEATMAP_FILE = "goal_health.png"


def centre_deviations(engine: sa.Engine, tree: GoalTree) -> list[dict]:
    """Per technical centre and day: how far its own goals (the children of its goal bound
    to the yield of the lines it serves) deviate from that yield's attainment, relative to
    it: |children's rollup - own attainment| / own attainment."""
    bound = {g.id: g for g in tree.goals if g.source and g.source.owner and
             g.source.owner in tree.serves and tree.children(g.id)}
    if not bound or not sa.inspect(engine).has_table("goal_alignment", schema="marts"):
        return []
    ga = goal_alignment
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ga).where(ga.c.goal_id.in_(sorted(bound)))
                            .order_by(ga.c.goal_id, ga.c.period)).mappings().all()
    out = []
    for r in rows:
        if "W" in r["period"]:
            continue  # day periods; the week rows say the same over a longer window
        own, kids = r["own_attainment"], r["children_rollup"]
        goal = bound[r["goal_id"]]
        out.append({
            "centre": goal.source.owner, "goal_id": goal.id, "period": r["period"],
            "lines": list(tree.serves[goal.source.owner]),
            "supported_yield_attainment": None if own is None else round(own, 4),
            "own_goals_attainment": None if kids is None else round(kids, 4),
            "deviation": None if own in (None, 0) or kids is None
            else round(abs(kids - own) / own, 4)})
    return out


def goal_health_report(engine: sa.Engine, out_dir: Path, tree: GoalTree | None = None) -> dict:
    """Write DIR/goal_health.png and return what summary.json says about it."""
    if not sa.inspect(engine).has_table("goal_health", schema="marts"):
        return {}
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(goal_health).order_by(goal_health.c.subject, goal_health.c.goal_id)
        ).mappings()]
    if not rows:
        return {}
    version = rows[0]["config_version"]
    period = max(r["period"] for r in rows)
    write_png(render_png(rows, f"Goal health {period} ({version})"), out_dir / HEATMAP_FILE)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("green", "yellow", "red")}
    return {
        "technical_centres": centre_deviations(engine, tree) if tree else [],
        "heatmap": HEATMAP_FILE, "period": period, "config_version": version,
        "subjects": sorted({r["subject"] for r in rows}), "cells": {**counts, "total": len(rows)},
        "red": [{"goal_id": r["goal_id"], "subject": r["subject"], "metric": r["metric"],
                 "progress_ratio": round(r["progress_ratio"], 4),
                 "trace": f"perfflow trace marts.goal_health {r['goal_id']}"}
                for r in rows if r["status"] == "red"],
    }


def demo_pages(url: str, out_dir: Path, skipped: list[dict]) -> tuple[dict, str]:
    """The goal-health summary (heatmap, centre deviations) and the live part's war-room
    page, of today's plant date on the wall clock (the scenario day's page lists the replay
    only); the goal templates the plant cannot use are added to `skipped`."""
    engine = make_engine(url)
    try:
        tree = load_goal_config(config_dir(), engine).tree
        for line in tree.skipped:
            feature, _, reason = line.partition(": ")
            skipped.append({"feature": feature, "reason": reason})
        health = goal_health_report(engine, out_dir, tree)
        today = datetime.now(plant_tz()).date()
        path, _ = write_war_room(engine, tree, today, out_dir / "reports" / "war_room",
                                 live=True)
    finally:
        engine.dispose()
    return health, str(path.relative_to(out_dir))
