"""The chain behind a goal-health cell or a goal score, for auditors.

From the row: the goal and its path to the root with each value-contribution path and
weight, the metric and its formula, the summed numerator and denominator, the mart and
the run that wrote it, the raw source records (system, entity, record ids, the runs that
landed them), the weight version and any calibration change behind it, and the config
version. Every number printed is read back from the warehouse, not recomputed.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.goals.periods import PERIOD_COLUMNS
from perf_orchestration.goals.sources import METRIC_SOURCES, subject_filter
from perf_orchestration.goals.tree import GoalTree
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.tables import goal_health, goal_scores, weight_changes
from perf_orchestration.warehouse import redacted

TABLES = {"goal_health": goal_health, "goal_scores": goal_scores}
IDS_SHOWN = 8


def parse_target(table: str, key: str) -> tuple[str, str, str | None]:
    """('goal_health' | 'goal_scores', goal id, period or None) from the command's words."""
    name = table.removeprefix("marts.")
    if name not in TABLES:
        raise ConfigError([f"trace: table {table!r} is not traceable (use marts.goal_health "
                           "or marts.goal_scores)"])
    goal_id, _, period = key.partition("@")
    return name, goal_id, period or None


def _row(conn: sa.Connection, name: str, goal_id: str, period: str | None) -> dict:
    table = TABLES[name]
    query = sa.select(table).where(table.c.goal_id == goal_id)
    if period:
        query = query.where(table.c.period == period)
    rows = conn.execute(query.order_by(table.c.period.desc())).mappings().all()
    if not rows:
        raise ConfigError([f"trace: no row of marts.{name} for goal {goal_id!r}"
                           + (f" and period {period}" if period else "")
                           + " (the row key is GOAL_ID or GOAL_ID@PERIOD)"])
    return dict(rows[0])


def _fmt(value: object) -> str:
    if value is None:
        return "NULL"
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def trace_lines(engine: sa.Engine, tree: GoalTree, table: str, key: str) -> list[str]:
    name, goal_id, period = parse_target(table, key)
    out: list[str] = []
    if not sa.inspect(engine).has_table(name, schema="marts"):
        raise ConfigError([f"trace: {redacted(engine.url)} has no marts.{name}: materialize "
                           "the goal assets first (perfflow demo, or perf_flow_job)"])
    with engine.connect() as conn:
        row = _row(conn, name, goal_id, period)
        score = row if name == "goal_scores" else _row(conn, "goal_scores", goal_id,
                                                        row["period"])
        if name == "goal_health":
            out += [f"marts.goal_health {goal_id} @ {row['period']}: "
                    f"{(row['status'] or 'no colour').upper()} (progress ratio "
                    f"{_fmt(row['progress_ratio'])}: actual {_fmt(row['actual_progress'])} vs "
                    f"expected {_fmt(row['expected_progress'])} by now, "
                    f"{row['elapsed_share']:.0%} of the period elapsed; yellow below "
                    f"{_fmt(row['yellow_below'])}, red below {_fmt(row['red_below'])})",
                    f"  written by run {row['run_id']}; config {row['config_version']}"]
        out += [f"marts.goal_scores {goal_id} @ {score['period']}: attainment "
                f"{_fmt(score['attainment'])}, rollup {_fmt(score['rollup_score'])}, score "
                f"{_fmt(score['score'])}, weight {_fmt(score['weight'])}% "
                f"(weights {score['weight_version']})",
                f"  written by run {score['run_id']}; config {score['config_version']}"]
        out += _path(tree, goal_id)
        out += _weights(conn, score)
        out += _metric(tree, goal_id, score)
        out += _records(conn, tree, goal_id, score)
    return out


def _path(tree: GoalTree, goal_id: str) -> list[str]:
    if goal_id not in tree.by_id:
        return [f"goal {goal_id}: no longer in the goals config ({tree.version})"]
    out = ["path to the root:"]
    for g in tree.path_to_root(goal_id):
        line = f"  {g.id} [{g.level}] {g.name}"
        if g.parent:
            c = g.contribution
            line += (f" -> moves {c.outcome!r} of {g.parent} in {c.scenario!r}, weight "  # type: ignore[union-attr]
                     f"{_fmt(g.weight)}% in config")
        else:
            line += " (root)"
        out.append(line)
    return out


def _weights(conn: sa.Connection, score: dict) -> list[str]:
    wc = weight_changes
    rows = conn.execute(sa.select(wc).where(wc.c.goal_id == score["goal_id"],
                                            wc.c.weight_version == score["weight_version"])
                        ).mappings().all() if sa.inspect(conn).has_table(
        "weight_changes", schema="ops") else []
    return [f"weight {_fmt(r['old_weight'])}% -> {_fmt(r['new_weight'])}% from "
            f"{r['effective_from']} UTC by calibration rule {r['rule_id']} "
            f"({r['calibration_version']}): {r['trigger']}; recorded by run {r['run_id']}"
            for r in rows]


def _metric(tree: GoalTree, goal_id: str, score: dict) -> list[str]:
    goal = tree.by_id.get(goal_id)
    src = goal.source if goal else None
    m = src.definition if src else None
    formula = (f"{m.numerator} / {m.denominator}" if m and m.denominator
               else (m.numerator if m else "?"))
    out = [f"metric {score['metric']} = {formula} summed over the period "
           f"({m.description if m else ''})",
           f"  from marts.{score['mart']} where subject = {score['subject']}"
           + (f", channel = {src.channel}" if src and src.channel else "")
           + f", {score['period_kind']} {score['period']}; mart written by run "
           f"{score['mart_run_id'] or 'unknown'}",
           f"  numerator {_fmt(score['numerator'])}, denominator {_fmt(score['denominator'])}"
           f", actual {_fmt(score['actual'])}, target {_fmt(score['target'])} "
           f"({score['direction']} is better)"
           + (f", NULL because {score['null_reason']}" if score["null_reason"] else "")]
    return out


def _records(conn: sa.Connection, tree: GoalTree, goal_id: str, score: dict) -> list[str]:
    goal = tree.by_id.get(goal_id)
    source = METRIC_SOURCES.get(score["metric"])
    if goal is None or goal.source is None or source is None:
        return ["source records: unknown for this metric"]
    src = goal.source
    entity = ENTITIES_BY_TABLE[source.table]
    key_col = PERIOD_COLUMNS[score["period_kind"]][0]
    where = [f"r.partition_key in (select partition_key from staging.plant_calendar "
             f"where {key_col} = :period)"]
    params: dict[str, object] = {"period": score["period"]}
    by_subject = subject_filter(source.table, src.subject_kind)
    if by_subject:
        params["subjects"] = list(src.subject_values)
    for extra in (by_subject, source.scope):
        if extra:
            where.append(extra if extra.startswith("r.") else f"r.{extra}")
    if src.channel:
        where.append("r.channel = :channel")
        params["channel"] = src.channel
    bad = f"case when r.{source.bad} then 1 else 0 end" if source.bad else "0"
    group = "r.station_id" if "station_id" in entity.column_names else "r.source_system"
    sql = sa.text(f"select {group}, r.source_record_id, r.ingestion_run_id, {bad} "
                  f"from raw.{source.table} r where {' and '.join(where)} "
                  f"order by 4 desc, r.source_record_id")
    if by_subject:
        sql = sql.bindparams(sa.bindparam("subjects", expanding=True))
    rows = conn.execute(sql, params).all()
    runs = Counter(r[2] for r in rows)
    out = [f"source: {entity.system.upper()} {entity.name} (raw.{source.table}), "
           f"{len(rows)} record(s) in the period, landed by run(s) "
           + ", ".join(f"{run} ({n})" for run, n in runs.most_common())]
    bad_ids = [r[1] for r in rows if r[3]]
    if source.bad:
        out.append(f"  {source.bad_label} ({len(bad_ids)})" + (f": {_ids(bad_ids)}" if bad_ids
                                                               else ""))
    by_group: dict[str, list] = {}
    for r in rows:
        by_group.setdefault(r[0], []).append(r)
    for where_from, recs in sorted(by_group.items()):
        if not source.bad:
            out.append(f"  {where_from}: {len(recs)} record(s): {_ids([r[1] for r in recs])}")
            continue
        bad = [r[1] for r in recs if r[3]]
        good = [r[1] for r in recs if not r[3]]
        # each list under its own label, so no record is read as what it is not
        out.append(f"  {where_from}: {len(recs)} record(s); {source.bad_label} ({len(bad)})"
                   + (f": {_ids(bad)}" if bad else "")
                   + f"; {source.good_label} ({len(good)})" + (f": {_ids(good)}" if good else ""))
    return out


def _ids(ids: list[str]) -> str:
    return ", ".join(ids[:IDS_SHOWN]) + (" ..." if len(ids) > IDS_SHOWN else "")
