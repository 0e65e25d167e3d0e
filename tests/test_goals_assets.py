"""The goal assets materialized by Dagster: the heatmap and the column lineage in their
metadata, the data check, and the run id in the rows."""

from __future__ import annotations

import dagster as dg
from _hours import hours_run
from test_goals_scores import default_day  # noqa: F401 - the module's fixture
from test_metrics import ROOT, land, query

from assets.goals import defs as goal_defs
from perf_orchestration.sqlmodels import load_project, run_project
from perf_orchestration.warehouse import make_engine
from resources.warehouse import WarehouseResource


def test_goal_assets_report_heatmap_lineage_and_check(sqlite_url, default_day):  # noqa: F811
    engine = make_engine(sqlite_url)
    land(engine, *default_day)
    run_project(engine, load_project(ROOT))
    engine.dispose()
    assets = list(goal_defs.assets)
    result = dg.materialize(assets, **hours_run("2026-11-02T10:00"),
                            resources={"warehouse": WarehouseResource(url=sqlite_url)})
    assert result.success
    events = [e.event_specific_data.materialization
              for e in result.get_asset_materialization_events()]
    meta = {m.asset_key.to_user_string(): m.metadata for m in events}
    heatmap = meta["marts/goal_health"]["heatmap"].value
    assert heatmap.startswith("![goal health](data:image/png;base64,iVBOR")
    assert meta["marts/goal_health"]["red"].value >= 1
    lineage = meta["marts/goal_scores"]["dagster/column_lineage"].value
    numerators = {(d.asset_key.to_user_string(), d.column_name)
                  for d in lineage.deps_by_column["numerator"]}
    assert ("marts/team_daily_quality", "fai_passed") in numerators
    assert ("marts/sales_process_daily", "on_time_advances") in numerators
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("every_goal_has_data", True)]
    engine = make_engine(sqlite_url)
    runs = query(engine, "select distinct run_id from marts.goal_health")
    assert runs == [{"run_id": result.run_id}]
    engine.dispose()
