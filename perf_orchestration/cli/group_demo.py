"""`perfflow demo --scenario GROUP.yaml`: a group of plants, each a deployment of its own.

Each plant runs the whole single-plant demo in a process of its own (its simulator,
warehouse, Dagster instance, time zone and config folder, with its plant id set), two at a
time on a two-core machine, under DIR/plants/<id>/; then the group roll-up reads the
plants' goal scores and writes the group warehouse (DIR/group), the group heatmap
(DIR/group_health.png), summary.json and report.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perf_orchestration.config.files import CONFIG_DIR_ENV
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.goals.heatmap import write_png
from perf_orchestration.group.config import (
    GroupFile,
    GroupPlant,
    load_group_and_plants,
    resolved,
)
from perf_orchestration.group.plant import PLANT_ID_ENV
from perf_orchestration.group.rollup import GROUP_ROW, ROOT, heatmap_png, roll_up
from perf_orchestration.warehouse import embedded_url

PLANT_TIMEOUT_S = 900


def _plant_run(group_path: Path, plant: GroupPlant, out: Path) -> dict:
    """One plant's demo in its own process; its output under out/, its log beside it."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != CONFIG_DIR_ENV}
    env[PLANT_ID_ENV] = plant.id
    if plant.config:
        env[CONFIG_DIR_ENV] = str(resolved(group_path, plant.config))
    cmd = [sys.executable, "-m", "perf_orchestration.cli", "demo", "--out", str(out),
           "--scenario", str(resolved(group_path, plant.scenario))]
    t = time.perf_counter()
    with open(out / "demo.out", "w") as stdout, open(out / "demo.err", "w") as stderr:
        try:
            code = subprocess.run(cmd, stdout=stdout, stderr=stderr, env=env,
                                  timeout=PLANT_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            code = -1
    return {"returncode": code, "seconds": round(time.perf_counter() - t, 1)}


def _checked(group_path: Path) -> GroupFile:
    group = load_group_and_plants(group_path)
    missing = [f"{group_path}: plants[{n}].scenario (id {p.id}): the demo needs each "
               "plant's scenario" for n, p in enumerate(group.plants) if not p.scenario]
    if missing:
        raise ConfigError(missing)
    return group


def _plant_summary(out: Path, run: dict) -> dict:
    path = out / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    return {**run, "success": run["returncode"] == 0 and bool(summary.get("success")),
            "summary": str(path), "timezone": summary.get("partitions", {}).get("timezone"),
            "rows": summary.get("rows"), "checks": {k: summary.get("checks", {}).get(k)
                                                    for k in ("passed", "failed")}}


def _report(summary: dict) -> str:
    lines = [f"# Group demo: {summary['group']}", "",
             "| plant | name | time zone | demo | seconds | rows fetched | landed | quarantined |",
             "|---|---|---|---|---|---|---|---|"]
    for pid, p in summary["plants"].items():
        rows = p["rows"] or {}
        lines.append(f"| {pid} | {p['name']} | {p['timezone']} | "
                     f"{'ok' if p['success'] else 'FAILED'} | {p['seconds']} | "
                     f"{rows.get('fetched')} | {rows.get('landed')} | {rows.get('quarantined')} |")
    lines += ["", "## Group goals (latest period, ratio of sums over the plants)", "",
              "| goal | period | actual | target | score | plants |",
              "|---|---|---|---|---|---|"]
    for g in summary["goals"]:
        actual = "-" if g["actual"] is None else f"{g['actual']:.4f}"
        score = "-" if g["score"] is None else f"{g['score']:.3f}"
        target = "-" if g["target"] is None else f"{g['target']:g}"
        lines.append(f"| {g['goal_id']} | {g['period']} | {actual} | {target} | {score} | "
                     f"{g['plants']} |")
    lines += ["", f"![group health]({summary['heatmap']['png']})", ""]
    return "\n".join(lines)


def run_group_demo(out: str, group_path: str, quiet: bool = False) -> int:
    t0 = time.perf_counter()
    path = Path(group_path).resolve()
    group = _checked(path)
    out_dir = Path(out).resolve()
    say = (lambda _m: None) if quiet else (
        lambda m: print(f"[{time.perf_counter() - t0:6.1f}s] {m}", file=sys.stderr, flush=True))
    say(f"group {group.name!r}: {len(group.plants)} plants, each its own deployment "
        f"under {out_dir / 'plants'}")
    dirs = {p.id: out_dir / "plants" / p.id for p in group.plants}
    workers = max(1, min(len(group.plants), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        runs = dict(zip(dirs, pool.map(lambda p: _plant_run(path, p, dirs[p.id]),
                                       group.plants), strict=True))
    plants = {}
    for plant in group.plants:
        plants[plant.id] = {"name": plant.name, **_plant_summary(dirs[plant.id], runs[plant.id])}
        say(f"plant {plant.id}: demo {'ok' if plants[plant.id]['success'] else 'FAILED'} in "
            f"{runs[plant.id]['seconds']} s (log in {dirs[plant.id] / 'demo.err'})")
    ready = {pid: embedded_url(d / "warehouse") for pid, d in dirs.items()
             if (d / "summary.json").exists()}
    if len(ready) < len(group.plants):
        print(f"group demo FAILED: no warehouse for {', '.join(sorted(set(dirs) - set(ready)))}",
              file=sys.stderr)
        return 1
    result = roll_up(group, ready, embedded_url(out_dir / "group"))
    png = write_png(heatmap_png(group, result.cells), out_dir / "group_health.png")
    latest = {}
    for row in result.group_rows:
        if row["goal_id"] not in latest or row["period"] > latest[row["goal_id"]]["period"]:
            latest[row["goal_id"]] = row
    summary = {
        "group": group.name, "success": all(p["success"] for p in plants.values()),
        "plants": plants, "group_warehouse": embedded_url(out_dir / "group"),
        "plant_goal_rows": result.plant_rows, "group_goal_rows": len(result.group_rows),
        "goals": [{k: row[k] for k in ("goal_id", "period", "plant_goal", "actual", "target",
                                       "score", "plants")}
                  for row in sorted(latest.values(), key=lambda r: r["goal_id"] == ROOT)],
        "heatmap": {"png": png.name, "cells": [
            {k: c[k] for k in ("plant_id", "goal_id", "period", "actual", "attainment",
                               "status")} for c in result.cells],
            "counts": {s: sum(c["status"] == s for c in result.cells if c["plant_id"] != GROUP_ROW)
                       for s in ("green", "yellow", "red", None)}},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(_report(summary))
    print(f"group demo {'ok' if summary['success'] else 'FAILED'} in {summary['seconds']}s: "
          f"{len(plants)} plants ({', '.join(plants)}), {result.plant_rows} plant goal rows "
          f"rolled up into {len(result.group_rows)} group rows; summary in "
          f"{out_dir / 'summary.json'}")
    return 0 if summary["success"] else 1
