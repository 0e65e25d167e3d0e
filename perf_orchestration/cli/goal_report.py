"""The demo's goal-health picture: marts.goal_health drawn as a PNG beside summary.json."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.goals.heatmap import render_png, write_png
from perf_orchestration.tables import goal_health

HEATMAP_FILE = "goal_health.png"


def goal_health_report(engine: sa.Engine, out_dir: Path) -> dict:
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
        "heatmap": HEATMAP_FILE, "period": period, "config_version": version,
        "subjects": sorted({r["subject"] for r in rows}), "cells": {**counts, "total": len(rows)},
        "red": [{"goal_id": r["goal_id"], "subject": r["subject"], "metric": r["metric"],
                 "progress_ratio": round(r["progress_ratio"], 4),
                 "trace": f"perfflow trace marts.goal_health {r['goal_id']}"}
                for r in rows if r["status"] == "red"],
    }
