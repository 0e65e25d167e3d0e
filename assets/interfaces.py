"""Interface health as an asset: every link's last sync, age and gaps per hour (logic in
perf_orchestration.interfaces)."""

from datetime import UTC, datetime

import dagster as dg

from assets.partitions import plant_days, window
from perf_orchestration.config.files import plant_interfaces
from perf_orchestration.ingestion.entities import ENTITIES
from perf_orchestration.interfaces.health import judge, latest_state
from perf_orchestration.tables import create_tables

KEY = dg.AssetKey(["ops", "interface_health"])
FRESH_CHECK = "links_within_threshold"


@dg.asset(
    key=KEY,
    # every hourly source (the warehouse links read their ingestion log) and the calendar
    deps=[*(["raw", e.table] for e in ENTITIES if e.partitioned), ["staging", "plant_calendar"]],
    description="Per link (each source system to the warehouse, erp→wms, wms→tms) and local "
    "hour: last sync, age at the hour's end and whether it is over the threshold of "
    "interfaces.yaml (ops.interface_health).",
    group_name="interfaces", owners=["team:data-engineering"], kinds={"python", "sql"},
    partitions_def=plant_days, backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"warehouse"}, pool="warehouse_write",
    check_specs=[dg.AssetCheckSpec(
        FRESH_CHECK, asset=KEY, description="Every link synced within its threshold by the "
        "end of the hours judged (a broken interface fails it).")])
def interface_health_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    engine = context.resources.warehouse.get_engine()
    create_tables(engine)
    config = plant_interfaces()
    start, end = window(context)
    rows = judge(engine, config, start, end, datetime.now(UTC))
    state = latest_state(rows)
    broken = [s for s in state if s["broken"]]
    for s in broken:
        context.log.warning(f"interface {s['link']}: no sync for {s['age_hours']:.1f} h "
                            f"(threshold {s['threshold_hours']:g} h) at {s['hour']}")
    gap_hours = {}
    for row in rows:
        gap_hours[row["link"]] = gap_hours.get(row["link"], 0) + row["over_threshold"]
    return dg.MaterializeResult(
        metadata={"hours": len({r["partition_key"] for r in rows}), "links": len(state),
                  "hours_over_threshold": dg.MetadataValue.json(gap_hours),
                  "latest": dg.MetadataValue.json([{**s, "last_sync_at": str(s["last_sync_at"])}
                                                   for s in state]),
                  "config_version": config.version},
        check_results=[dg.AssetCheckResult(
            check_name=FRESH_CHECK, passed=not broken, severity=dg.AssetCheckSeverity.WARN,
            metadata={"broken": ", ".join(f"{s['link']} {s['age_hours']:.1f} h"
                                          for s in broken) or "none"})])


defs = dg.Definitions(assets=[interface_health_asset])
