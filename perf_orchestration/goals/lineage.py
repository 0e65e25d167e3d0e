"""Which mart columns each goal-table column is computed from (declared column lineage).

The goal assets report this as Dagster column lineage, so the UI shows that a score's
numerator is, for instance, team_daily_quality.fai_passed.
"""

from __future__ import annotations

from perf_orchestration.goals.subjects import SUBJECT_COLUMNS, relation_for
from perf_orchestration.metrics.library import METRICS

SUBJECT_KINDS = ("team", "line", "person", "plant")


def score_column_sources() -> dict[str, list[tuple[str, str]]]:
    """goal_scores column -> [(mart, column)] over every metric a goal may bind."""
    out: dict[str, list[tuple[str, str]]] = {"numerator": [], "denominator": [], "actual": []}
    for m in METRICS:
        for kind in SUBJECT_KINDS:
            rel = relation_for(m, kind)
            if rel is None:
                continue
            out["numerator"].append((rel.mart, m.numerator))
            if m.denominator:
                out["denominator"].append((rel.mart, m.denominator))
            out["actual"].append((rel.mart, m.column))
    return {k: sorted(set(v)) for k, v in out.items()}


def goal_marts() -> list[str]:
    """Every daily mart a goal's data source can read."""
    return sorted(SUBJECT_COLUMNS)
