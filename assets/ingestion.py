"""One ingestion step per source system (a multi-asset: one asset per entity, each with its
blocking checks), built from the entity table; the work itself is
perf_orchestration/ingestion/runs.py."""

import dagster as dg
from pydantic import Field

from assets.partitions import PLANT_TIMEZONE, plant_days, window
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.entities import ENTITIES, Entity
from perf_orchestration.ingestion.landing import (
    DEFAULT_BAD_SHARE_LIMIT,
    IngestionResult,
    Window,
    hourly_windows,
)
from perf_orchestration.ingestion.runs import choose_workers, run_system
from perf_orchestration.ingestion.sources import SourceSettingError
from resources.sources import source_resource_key

OWNERS = ["team:data-engineering"]
BAD_ROWS_CHECK = "bad_rows_within_limit"
SCHEMA_CHECK = "required_columns_present"


class IngestionConfig(dg.Config):
    bad_share_limit: float = Field(
        default=DEFAULT_BAD_SHARE_LIMIT,
        description="Largest share of fetched rows that may be quarantined for bad content",
    )
    workers: int | None = Field(
        default=None, ge=1,
        description="Processes landing the run's units of work (an entity over up to two "
        "weeks); unset: one per core for a run of several days on PostgreSQL, else 1")


def _windows(context: dg.AssetExecutionContext) -> list[Window] | None:
    """The run's hours (its days, narrowed by its window tags), fetched a day at a time."""
    if not context.has_partition_key_range and not context.has_partition_key:
        return None
    return hourly_windows(*window(context), PLANT_TIMEZONE)


def _metadata(result: IngestionResult) -> dict:
    parts = result.partitions
    table = "\n".join(
        f"| {p.partition_key} | {p.fetched} | {p.landed} | {p.quarantined} | {p.duplicates} "
        f"| {p.late} | {p.retries} |" for p in parts[:48])
    preview = result.outcome.landed.drop(columns="_position").head(5)
    return {
        "fetched": result.total("fetched"),
        "landed": result.total("landed"),
        "quarantined": result.total("quarantined"),
        "duplicates": result.total("duplicates"),
        "late_rows": result.total("late"),
        "source_requests": result.stats.requests,
        "source_retries": result.stats.retries,
        "bad_share": float(round(result.bad_share, 6)),
        "partitions": len(parts),
        "fetched_equals_landed_plus_quarantined": all(
            p.fetched == p.landed + p.quarantined for p in parts),
        "quarantine_reasons": dg.MetadataValue.json(result.quarantine_reasons()),
        "by_partition": dg.MetadataValue.md(
            "| partition | fetched | landed | quarantined | duplicates | late | retries |\n"
            "|---|---|---|---|---|---|---|\n" + table),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)
                                       if not preview.empty else "(no rows)"),
        "expectations": dg.MetadataValue.json(result.outcome.expectations),
    }


def _specs(entity: Entity) -> tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]:
    key = dg.AssetKey(["raw", entity.table])
    spec = dg.AssetSpec(
        key=key, group_name="ingestion", owners=OWNERS, kinds={"python", "sql"},
        description=f"{entity.description} Landed from {entity.system.upper()} {entity.path}, "
        "validated by its Great Expectations suite; bad rows go to ops.quarantine.",
        tags={"system": entity.system})
    checks = [
        dg.AssetCheckSpec(BAD_ROWS_CHECK, asset=key, blocking=True,
                          description="Quarantined share of fetched rows stays under the "
                          "configured limit (exact duplicates excluded)."),
        dg.AssetCheckSpec(SCHEMA_CHECK, asset=key, blocking=True,
                          description="Every required column is present (no schema drift)."),
    ]
    return spec, checks


def _checks(context, result: IngestionResult, limit: float) -> list[dg.AssetCheckResult]:
    key = dg.AssetKey(["raw", result.entity.table])
    missing = result.outcome.missing_columns
    results = [
        dg.AssetCheckResult(
            asset_key=key, check_name=BAD_ROWS_CHECK, passed=result.bad_share <= limit,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"bad_share": float(round(result.bad_share, 6)), "limit": limit}),
        dg.AssetCheckResult(
            asset_key=key, check_name=SCHEMA_CHECK, passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"missing_columns": ", ".join(missing) or "none",
                      "unexpected_columns":
                          ", ".join(result.outcome.unexpected_columns) or "none"}),
    ]
    selected = context.selected_asset_check_keys
    return [r for r in results if dg.AssetCheckKey(key, r.check_name) in selected]


def system_step(system: str, partitioned: bool) -> str:
    """The name of the step landing a system's time-partitioned entities, or its snapshots."""
    return f"{system}_{'ingestion' if partitioned else 'snapshots'}"


def build_system_asset(system: str, entities: list[Entity]) -> dg.AssetsDefinition:
    """One step landing a system's entities (all time-partitioned, or all snapshots) into
    raw.<system>_<entity>, each with its blocking checks; any subset may be selected."""
    specs, check_specs = [], []
    for entity in entities:
        spec, checks = _specs(entity)
        specs.append(spec)
        check_specs += checks
    partitioned = entities[0].partitioned
    api_key = source_resource_key(system)

    @dg.multi_asset(
        name=system_step(system, partitioned),
        specs=specs, check_specs=check_specs, can_subset=True,
        description=f"{system.upper()}: " + ", ".join(e.name for e in entities)
        + (", landed by the run's hours." if partitioned else ", landed whole (snapshots)."),
        partitions_def=plant_days if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        required_resource_keys={"warehouse", api_key}, pool="warehouse_write",
    )
    def _ingest(context: dg.AssetExecutionContext, config: IngestionConfig):
        chosen = [e for e in entities
                  if dg.AssetKey(["raw", e.table]) in context.selected_asset_keys]
        warehouse = context.resources.warehouse
        engine, windows = warehouse.get_engine(), _windows(context)
        try:
            reader = getattr(context.resources, api_key).reader_factory()
        except (SourceSettingError, ConfigError) as exc:
            raise dg.Failure(description=f"{system.upper()}: {exc}. Nothing of this run was "
                             "written.", metadata={"system": system}) from None
        done = run_system(engine, reader, chosen, windows, context.run_id,
                          warehouse=warehouse.display_url,
                          workers=choose_workers(engine, windows, config.workers))
        if done.workers > 1:
            context.log.info(f"{system.upper()}: {done.units} units of work over "
                             f"{done.workers} worker processes")
        for run in done.entities:
            if run.result is None:
                continue
            result = run.result
            context.log.info(
                f"{result.entity.path}: {len(result.partitions)} partition(s), fetched "
                f"{result.total('fetched')}, landed {result.total('landed')}, quarantined "
                f"{result.total('quarantined')} ({result.total('duplicates')} duplicates), "
                f"{result.stats.retries} retried call(s)")
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", result.entity.table]), metadata=_metadata(result),
                check_results=_checks(context, result, config.bad_share_limit))
        if done.failed:
            raise dg.Failure(
                description="; ".join(r.error for r in done.failed),
                metadata={"system": system,
                          "entities_failed": ", ".join(r.entity.name for r in done.failed)})

    return _ingest


def _by_system() -> list[tuple[str, list[Entity]]]:
    groups: dict[tuple[str, bool], list[Entity]] = {}
    for entity in ENTITIES:
        groups.setdefault((entity.system, entity.partitioned), []).append(entity)
    return [(system, members) for (system, _), members in groups.items()]


ingestion_assets = [build_system_asset(system, members) for system, members in _by_system()]
ROSTER_SOURCES = (dg.AssetKey(["raw", "hr_teams"]), dg.AssetKey(["raw", "hr_employees"]))
# snapshot entities (fetched whole, no partitions) other than the roster: the people loop's
# records, the work logs of role snapshots and the customer history
SNAPSHOT_SOURCES = tuple(dg.AssetKey(["raw", e.table]) for e in ENTITIES
                         if not e.partitioned and dg.AssetKey(["raw", e.table])
                         not in ROSTER_SOURCES)
defs = dg.Definitions(assets=ingestion_assets)
