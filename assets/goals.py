"""Goal-tree assets: weight calibration, scores, alignment and the goal-health heatmap."""

from datetime import UTC, datetime

import dagster as dg

from assets.partitions import plant_days, window
from perf_orchestration.config.files import config_dir
from perf_orchestration.goals.heatmap import markdown_image, render_png
from perf_orchestration.goals.lineage import goal_marts, score_column_sources
from perf_orchestration.goals.pipeline import (
    align,
    apply_calibration,
    load_goal_config,
    refresh_health,
    score_window,
    weight_schedule,
)
from perf_orchestration.goals.scores import ScoreRun

OWNERS = ["team:performance"]
COMMON = dict(group_name="goals", owners=OWNERS, kinds={"python", "sql"},
              partitions_def=plant_days, backfill_policy=dg.BackfillPolicy.single_run(),
              required_resource_keys={"warehouse"}, pool="warehouse_write")
SCORES = dg.AssetKey(["marts", "goal_scores"])
WEIGHTS = dg.AssetKey(["ops", "weight_changes"])


def _window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    start, end = window(context)
    return start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lineage(pairs: dict[str, list[tuple[dg.AssetKey, str]]]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage({col: [dg.TableColumnDep(asset_key=k, column_name=c)
                                        for k, c in deps] for col, deps in pairs.items()})


@dg.asset(key=WEIGHTS, deps=[dg.AssetKey(["raw", "crm_opportunities"])],
          description="Elastic weights: calibration.yaml rules applied to what the source data "
          "shows (a new CRM sales channel re-weights its goal, siblings scale to keep 100%); "
          "every change with its trigger and effective time.", **COMMON)
def weight_changes_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    config = load_goal_config(config_dir(), engine)
    schedule, recorded = apply_calibration(engine, config, context.run_id, _now())
    context.log.info(f"calibration {config.calibration_version}: {len(schedule.changes)} "
                     f"weight change(s), {recorded} new")
    return dg.MaterializeResult(metadata={
        "calibration_version": config.calibration_version,
        "config_version": config.tree.version, "changes": len(schedule.changes),
        "new_changes": recorded,
        "weights_now": dg.MetadataValue.json(schedule.at(_now())[0]),
    })


@dg.asset(key=SCORES, deps=[WEIGHTS, *(dg.AssetKey(["marts", m]) for m in goal_marts())],
          description="Attainment of every goal (goals.yaml) per period from its metric, and "
          "the weighted rollup of its children with the weights valid at the time.",
          check_specs=[dg.AssetCheckSpec(
              "every_goal_has_data", asset=SCORES,
              description="Every goal's metric has mart rows for its subject in the periods "
              "scored; a goal without data has no attainment and drops out of its rollup.")],
          **COMMON)
def goal_scores_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    config = load_goal_config(config_dir(), engine)
    schedule = weight_schedule(engine, config)
    mart_runs = {}
    for mart in goal_marts():
        event = context.instance.get_latest_materialization_event(dg.AssetKey(["marts", mart]))
        if event is not None:
            mart_runs[mart] = event.run_id
    run = ScoreRun(config.tree.version, context.run_id, _now(), mart_runs)
    rows = score_window(engine, config, schedule, *_window(context), run)
    missing = sorted({f"{r['goal_id']}@{r['period']}: {r['null_reason']}" for r in rows
                      if r["attainment"] is None})
    context.log.info(f"goals {config.tree.version}: {len(rows)} score(s), "
                     f"{len(missing)} without data")
    lineage = {col: [(dg.AssetKey(["marts", mart]), c) for mart, c in deps]
               for col, deps in score_column_sources().items()}
    return dg.MaterializeResult(metadata={
        "rows": len(rows), "config_version": config.tree.version,
        "weight_versions": dg.MetadataValue.json(sorted({r["weight_version"] for r in rows})),
        "formula": "attainment = actual / target (higher) or target / actual (lower), capped "
                   "at 1.5; rollup = sum(weight x child score) / sum(weight)",
        "preview": dg.MetadataValue.json([
            {k: r[k] for k in ("goal_id", "period", "actual", "attainment", "score", "weight")}
            for r in rows[:10]]),
        "dagster/column_lineage": _lineage(lineage),
    }, check_results=[dg.AssetCheckResult(
        check_name="every_goal_has_data", passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"goals_without_data": dg.MetadataValue.json(missing[:50])})])


@dg.asset(key=["marts", "goal_alignment"], deps=[SCORES],
          description="Per parent goal and period, how far its children's weighted attainment "
          "and its own outcome diverge.", **COMMON)
def goal_alignment_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from perf_orchestration.goals.periods import periods_touched

    engine = context.resources.warehouse.get_engine()
    config = load_goal_config(config_dir(), engine)
    start, end = _window(context)
    periods = sorted({p.key for kind in ("day", "week")
                      for p in periods_touched(engine, kind, start, end)})
    rows = align(engine, config, periods, context.run_id)
    return dg.MaterializeResult(metadata={
        "rows": rows, "config_version": config.tree.version,
        "formula": "divergence = children's weighted rollup - own attainment",
        "dagster/column_lineage": _lineage({
            "own_attainment": [(SCORES, "attainment")],
            "children_rollup": [(SCORES, "rollup_score")],
            "divergence": [(SCORES, "rollup_score"), (SCORES, "attainment")],
            "children_spread": [(SCORES, "score")]}),
    })


@dg.asset(key=["marts", "goal_health"], deps=[SCORES],
          description="Red/yellow/green per team or person goal for the current period, from "
          "actual against expected progress; the heatmap is in the metadata.", **COMMON)
def goal_health_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    config = load_goal_config(config_dir(), engine)
    rows = refresh_health(engine, config, context.run_id)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("green", "yellow", "red")}
    png = render_png(rows, f"Goal health {rows[0]['period'] if rows else ''} "
                           f"({config.tree.version})")
    context.log.info(f"goal health: {counts}")
    return dg.MaterializeResult(metadata={
        "cells": len(rows), **counts, "config_version": config.tree.version,
        "red_cells": dg.MetadataValue.json(
            [f"{r['subject']} {r['goal_id']}" for r in rows if r["status"] == "red"]),
        "heatmap": dg.MetadataValue.md(markdown_image(png)),
        "dagster/column_lineage": _lineage({
            "actual_progress": [(SCORES, "actual")],
            "progress_ratio": [(SCORES, "actual"), (SCORES, "target")],
            "status": [(SCORES, "actual"), (SCORES, "target")]}),
    })


defs = dg.Definitions(assets=[weight_changes_asset, goal_scores_asset, goal_alignment_asset,
                              goal_health_asset])
