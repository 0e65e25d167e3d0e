"""Mart assets show their row count and newest rows in the Dagster UI."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import sqlalchemy as sa

from assets.sql_models import build_defs
from perf_orchestration.sqlmodels.preview import preview
from perf_orchestration.tables import RAW_TABLES
from resources.warehouse import WarehouseResource


def _write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _materializations(result, key):
    return [e.event_specific_data.materialization for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
            and e.asset_key == dg.AssetKey(key)]


def test_a_mart_materialization_carries_a_preview_and_its_row_count(warehouse_url, tmp_path):
    root = tmp_path / "models"
    _write(root, "sources.yml", "sources:\n  - name: hr\n    schema: raw\n    tables:\n"
           "      - name: teams\n        identifier: hr_teams\n")
    _write(root, "staging/stg_hr__teams.sql",
           "select team_id, name from {{ source('hr', 'teams') }}\n")
    _write(root, "staging/stg_hr__teams.yml", "description: teams\nconfig: {materialized: view}\n")
    _write(root, "marts/team_names.sql",
           "select team_id, name as team_name from {{ ref('stg_hr__teams') }}\n")
    _write(root, "marts/team_names.yml", "description: team names\n"
           "config: {materialized: table}\n")
    warehouse = WarehouseResource(url=warehouse_url)
    engine = warehouse.get_engine()
    now = datetime(2026, 11, 2)
    with engine.begin() as conn:
        conn.execute(RAW_TABLES["hr_teams"].insert(), [
            {"team_id": f"T{i}", "name": f"Team | {i}", "line_id": "L", "line_type": "welding",
             "workshop": "W", "updated_at": now, "source_system": "hr",
             "source_record_id": f"T{i}", "ingestion_run_id": "r", "ingested_at": now,
             "partition_key": "snapshot"} for i in range(1, 13)])
    result = dg.materialize(build_defs(root).assets, resources={"warehouse": warehouse},
                            selection=dg.AssetSelection.groups("staging", "metrics")
                            - dg.AssetSelection.assets(["staging", "plant_calendar"]))
    assert result.success
    (mart,) = _materializations(result, ["marts", "team_names"])
    assert mart.metadata["dagster/row_count"].value == 12
    table = mart.metadata["preview"].value.splitlines()
    assert table[0] == "| team_id | team_name |" and len(table) == 2 + 8
    assert "Team \\| 1" in "\n".join(table)
    staging = _materializations(result, ["staging", "stg_hr__teams"])
    assert staging and "preview" not in staging[0].metadata
    empty = preview(engine, "raw", "hr_employees")
    assert empty.row_count == 0 and empty.markdown().count("\n") == 2
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from marts.team_names")).scalar() == 12
