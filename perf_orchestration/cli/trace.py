"""`perfflow trace TABLE ROW_KEY`: the chain behind a goal-health cell or a goal score."""

from __future__ import annotations

from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.config.files import config_dir
from perf_orchestration.goals.pipeline import load_goal_config
from perf_orchestration.goals.trace import parse_target, trace_lines
from perf_orchestration.warehouse import make_engine


def run_trace(table: str, key: str, warehouse: str | None, config: str | None) -> int:
    parse_target(table, key)  # a wrong table is refused before any database is touched
    engine = make_engine(warehouse or default_warehouse_url())
    try:
        tree = load_goal_config(config_dir(config), engine).tree
        for line in trace_lines(engine, tree, table, key):
            print(line)
    finally:
        engine.dispose()
    return 0
