"""`perfflow trace TABLE ROW_KEY`: the chain behind a goal-health cell or a goal score, or
one link of a breakpoint chain (marts.breakpoints CHAIN/LEVEL)."""

from __future__ import annotations

from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.config.files import config_dir
from perf_orchestration.goals.pipeline import load_goal_config
from perf_orchestration.goals.trace import parse_target, trace_lines
from perf_orchestration.warehouse import make_engine


def run_trace(table: str, key: str, warehouse: str | None, config: str | None) -> int:
    if table.removeprefix("marts.") == "breakpoints":
        from perf_orchestration.breakpoints.trace import parse_link, trace_link

        parse_link(key)
        engine = make_engine(warehouse or default_warehouse_url())
        try:
            print("\n".join(trace_link(engine, key)))
        finally:
            engine.dispose()
        return 0
    parse_target(table, key)  # a wrong table is refused before any database is touched
    engine = make_engine(warehouse or default_warehouse_url())
    try:
        tree = load_goal_config(config_dir(config), engine).tree
        for line in trace_lines(engine, tree, table, key):
            print(line)
    finally:
        engine.dispose()
    return 0
