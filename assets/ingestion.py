"""One guarded ingestion asset per source entity, built from the entity table."""

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from assets.partitions import PLANT_TIMEZONE, plant_days, window
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.client import SourceCallError
from perf_orchestration.ingestion.entities import ENTITIES, Entity
from perf_orchestration.ingestion.landing import (
    DEFAULT_BAD_SHARE_LIMIT,
    IngestionResult,
    Window,
    hourly_windows,
    ingest,
)
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


def build_ingestion_asset(entity: Entity) -> dg.AssetsDefinition:
    """The asset landing `entity` into raw.<system>_<entity>, with its blocking checks."""
    key = dg.AssetKey(["raw", entity.table])
    api_key = source_resource_key(entity.system)

    @dg.asset(
        key=key,
        description=f"{entity.description} Landed from {entity.system.upper()} {entity.path}, "
        "validated by its Great Expectations suite; bad rows go to ops.quarantine.",
        group_name="ingestion",
        owners=OWNERS,
        kinds={"python", "sql"},
        partitions_def=plant_days if entity.partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if entity.partitioned else None,
        required_resource_keys={"warehouse", api_key},
        pool="warehouse_write",
        check_specs=[
            dg.AssetCheckSpec(BAD_ROWS_CHECK, asset=key, blocking=True,
                              description="Quarantined share of fetched rows stays under the "
                              "configured limit (exact duplicates excluded)."),
            dg.AssetCheckSpec(SCHEMA_CHECK, asset=key, blocking=True,
                              description="Every required column is present (no schema drift)."),
        ],
        tags={"system": entity.system},
    )
    def _ingest(context: dg.AssetExecutionContext, config: IngestionConfig) -> dg.MaterializeResult:
        engine = context.resources.warehouse.get_engine()
        try:
            client = getattr(context.resources, api_key).client()
            result = ingest(engine, client, entity, _windows(context), context.run_id)
        except (SourceSettingError, ConfigError) as exc:
            raise dg.Failure(description=f"{entity.system.upper()} {entity.name}: {exc}. "
                             "Nothing of this run was written.",
                             metadata={"system": entity.system, "entity": entity.name}) from None
        except SourceCallError as exc:
            raise dg.Failure(description=str(exc),
                             metadata={"system": exc.system, "endpoint": exc.endpoint}) from None
        except sa.exc.OperationalError as exc:  # the server went away or restarted
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise dg.Failure(
                description=f"warehouse {context.resources.warehouse.display_url} lost the "
                f"connection while landing raw.{entity.table}: {reason}. The landing is one "
                "transaction, so nothing of this run was kept; re-run the partitions.") from None
        missing = result.outcome.missing_columns
        context.log.info(
            f"{entity.path}: {len(result.partitions)} partition(s), fetched "
            f"{result.total('fetched')}, landed {result.total('landed')}, quarantined "
            f"{result.total('quarantined')} ({result.total('duplicates')} duplicates), "
            f"{result.stats.retries} retried call(s)")
        return dg.MaterializeResult(
            metadata=_metadata(result),
            check_results=[
                dg.AssetCheckResult(
                    check_name=BAD_ROWS_CHECK, passed=result.bad_share <= config.bad_share_limit,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"bad_share": float(round(result.bad_share, 6)),
                              "limit": config.bad_share_limit}),
                dg.AssetCheckResult(
                    check_name=SCHEMA_CHECK, passed=not missing,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"missing_columns": ", ".join(missing) or "none",
                              "unexpected_columns":
                                  ", ".join(result.outcome.unexpected_columns) or "none"}),
            ],
        )

    return _ingest


ingestion_assets = [build_ingestion_asset(e) for e in ENTITIES]
ROSTER_SOURCES = (dg.AssetKey(["raw", "hr_teams"]), dg.AssetKey(["raw", "hr_employees"]))
# snapshot entities (fetched whole, no partitions) other than the roster: the people loop's
# records, the work logs of role snapshots and the customer history
SNAPSHOT_SOURCES = tuple(dg.AssetKey(["raw", e.table]) for e in ENTITIES
                         if not e.partitioned and dg.AssetKey(["raw", e.table])
                         not in ROSTER_SOURCES)
defs = dg.Definitions(assets=ingestion_assets)
