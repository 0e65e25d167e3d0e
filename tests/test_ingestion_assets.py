"""The ingestion assets under Dagster: blocking checks and clear source failures."""

from __future__ import annotations

import dagster as dg
from _hours import hours_run

from assets.ingestion import ingestion_assets
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer
from resources.sources import SourceSystemResource
from resources.warehouse import WarehouseResource

PARTITION = "2026-11-02-00:00"  # the hour the tables key
HOUR = hours_run("2026-11-02T00:00")


def _asset(table: str) -> dg.AssetsDefinition:
    """The system's ingestion step that lands raw.<table>."""
    return next(a for a in ingestion_assets if dg.AssetKey(["raw", table]) in a.keys)


def materialization(result, table: str):
    """The metadata of raw.<table>'s materialization in a run's result."""
    key = dg.AssetKey(["raw", table])
    return next(e.event_specific_data.materialization for e in result.all_events
                if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
                and e.asset_key == key)


def _scenario(**changes) -> Scenario:
    base = load_scenario().model_dump()
    base.update({"hours": 2, "incidents": []})
    base.update(changes)
    return Scenario.model_validate(base)


def _materialize(table: str, server: SimulatorServer, warehouse_url: str, **api):
    system = table.split("_")[0]
    resources = {
        "warehouse": WarehouseResource(url=warehouse_url),
        f"{system}_api": SourceSystemResource(system=system, base_url=server.url, token="t",
                                           backoff_seconds=0.01, **api),
    }
    return dg.materialize([_asset(table)], selection=[dg.AssetKey(["raw", table])], **HOUR,
                          resources=resources,
                          instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_clean_partition_passes_both_checks_with_counts_in_metadata(sqlite_url):
    with SimulatorServer(_scenario(), port=0, token="t") as server:
        result = _materialize("mes_production", server, sqlite_url)
    assert result.success
    assert _checks(result) == {"bad_rows_within_limit": True, "required_columns_present": True}
    meta = materialization(result, "mes_production").metadata
    assert meta["fetched"].value == meta["landed"].value == 42
    assert meta["fetched_equals_landed_plus_quarantined"].value is True


def test_schema_drift_fails_the_blocking_checks(sqlite_url):
    record = {"production_id": "T1-S01-2026110200", "station_id": "T1-S01", "team_id": "T1",
              "hour_start": "2026-11-02T00:00:00+08:00", "run_minutes": 50.0,
              "total_count": 60, "good_count": 58, "rework_count": 1, "scrap_count": 1,
              "ideal_cycle_seconds": 45.0, "updated_at": "2026-11-02T00:59:00+08:00"}
    with SimulatorServer(_scenario(records={"mes/production": [record]}), port=0,
                         token="t") as server:
        result = _materialize("mes_production", server, sqlite_url)
    checks = _checks(result)
    assert checks == {"bad_rows_within_limit": False, "required_columns_present": False}
    evaluation = next(e for e in result.get_asset_check_evaluations()
                      if e.check_name == "required_columns_present")
    assert evaluation.metadata["missing_columns"].value == "planned_minutes"
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR


def test_a_source_that_keeps_failing_fails_the_asset_naming_system_and_endpoint(sqlite_url):
    scenario = _scenario(incidents=[{
        "kind": "source_fault", "id": "down", "system": "qms", "entity": "defects",
        "fault": "http_5xx", "hour": "2026-11-02T00:00:00", "count": 50}])
    with SimulatorServer(scenario, port=0, token="t") as server:
        result = _materialize("qms_defects", server, sqlite_url, max_retries=1)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "QMS endpoint /qms/defects?" in message and "503" in message
