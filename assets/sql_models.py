"""One asset per SQL model in dbt_like_sql/, with its column tests as asset checks."""

import re
from pathlib import Path

import dagster as dg

from assets.partitions import plant_days, window
from perf_orchestration.config.bundled import package_path
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.freshness import hourly_volume, source_freshness
from perf_orchestration.sqlmodels import SqlProject, load_project, run_model, run_tests
from perf_orchestration.sqlmodels.preview import preview
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import plant_calendar, upsert_calendar

OWNERS = ["team:data-engineering"]
SQL_ROOT = package_path("dbt_like_sql")
GROUPS = {"staging": "staging", "marts": "metrics"}


def _check_name(column: str, test: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", f"{column}__{test}".lower())


def _window(context: dg.AssetExecutionContext, partition_by: str | None):
    if not context.has_partition_key_range and not context.has_partition_key:
        return None
    return model_window(partition_by, *window(context))


@dg.asset(
    key=["staging", "plant_calendar"],
    description="The plant's local hours: date, shift (day 08-20, night 20-08) and ISO week "
    "per hour, so SQL models never do time-zone arithmetic.",
    group_name="staging", owners=OWNERS, kinds={"python", "sql"},
    partitions_def=plant_days, backfill_policy=dg.BackfillPolicy.single_run(),
    required_resource_keys={"warehouse"}, pool="warehouse_write",
)
def plant_calendar_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    from perf_orchestration.plant_calendar import calendar_rows

    rows = calendar_rows(*window(context))
    with context.resources.warehouse.get_engine().begin() as conn:
        upsert_calendar(conn, rows)
    return dg.MaterializeResult(metadata={"hours": len(rows), "table": str(plant_calendar)})


def _deps(project: SqlProject, name: str) -> list[dg.AssetKey]:
    model = project.model(name)
    keys = [dg.AssetKey([project.model(r).schema, r]) for r in model.refs]
    for src in model.sources:
        table = project.sources[src]
        keys.append(dg.AssetKey([table.schema, table.identifier]))
    return keys


def _watched_sources(project: SqlProject, name: str) -> list:
    """Partitioned raw sources of a staging model that declare a freshness limit."""
    out = []
    for src in project.model(name).sources:
        table = project.sources[src]
        entity = ENTITIES_BY_TABLE.get(table.identifier)
        if table.schema == "raw" and entity and entity.partitioned and table.freshness_hours:
            out.append(table)
    return out


def _source_checks(context, engine, watched) -> list[dg.AssetCheckResult]:
    start, end = window(context)
    results = []
    for table in watched:
        fresh = source_freshness(engine, table.identifier, table.loaded_at_field or "updated_at",
                                 table.freshness_hours, start, end)
        volume = hourly_volume(engine, table.identifier, start, end)
        results += [
            dg.AssetCheckResult(
                check_name=f"{table.identifier}_fresh", passed=fresh.fresh,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"newest_source_update_utc": str(fresh.newest),
                          "age_hours_at_window_end": fresh.age_hours,
                          "limit_hours": fresh.limit_hours}),
            dg.AssetCheckResult(
                check_name=f"{table.identifier}_volume", passed=volume.ok,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"baseline_rows_per_hour": volume.baseline_median,
                          "hours_out_of_range": dg.MetadataValue.json(volume.outliers)}),
        ]
    return results


def build_model_asset(project: SqlProject, name: str) -> dg.AssetsDefinition:
    """The asset materializing model `name` and running its column tests as checks."""
    model = project.model(name)
    key = dg.AssetKey([model.schema, name])
    partitioned = model.materialized == "incremental" and bool(model.config.partition_by)
    tests = [(c.name, t.kind) for c in model.columns for t in c.tests]
    specs = [dg.AssetCheckSpec(_check_name(col, test), asset=key,
                               description=f"{test} on {col} ({model.yml_path.name})")
             for col, test in tests]
    watched = _watched_sources(project, name) if partitioned else []
    for table in watched:
        specs += [
            dg.AssetCheckSpec(f"{table.identifier}_fresh", asset=key,
                              description=f"{table.relation} has rows no older than "
                              f"{table.freshness_hours}h at the end of the hours processed."),
            dg.AssetCheckSpec(f"{table.identifier}_volume", asset=key,
                              description=f"{table.relation}'s rows per hour stay within range "
                              "of the week before; an hour with no rows fails."),
        ]

    @dg.asset(
        key=key, deps=_deps(project, name), description=model.description or name,
        group_name=GROUPS.get(model.schema, model.schema), owners=OWNERS, kinds={"sql"},
        code_version=model.code_version,
        partitions_def=plant_days if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        required_resource_keys={"warehouse"}, pool="warehouse_write", check_specs=specs,
        metadata={"sql_file": str(model.path.relative_to(project.root.parent)),
                  "materialized": model.materialized},
    )
    def _model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        engine = context.resources.warehouse.get_engine()
        window = _window(context, model.config.partition_by) if partitioned else None
        result = run_model(engine, project, name, window)
        outcomes = run_tests(engine, project, name, window)
        context.log.info(f"{model.relation}: {result.rows} rows in {result.seconds:.2f}s"
                         + (f", window {window[0]} .. {window[1]} UTC" if window else ""))
        return dg.MaterializeResult(
            metadata={
                "rows": result.rows, "seconds": round(result.seconds, 3),
                "rows_replaced": result.deleted,
                "window_utc": f"{window[0]} .. {window[1]}" if window else "full",
                "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
                **_preview_metadata(engine, model),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=_check_name(o.column, o.test), passed=o.passed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"failing_rows": o.failing_rows})
                for o in outcomes
            ] + (_source_checks(context, engine, watched) if watched and window else []),
        )

    return _model


def _preview_metadata(engine, model) -> dict:
    """A mart's whole row count (plotted over time by the UI) and its newest rows."""
    if model.schema != "marts":
        return {}
    seen = preview(engine, model.schema, model.name, model.config.partition_by)
    return {"dagster/row_count": seen.row_count,
            "preview": dg.MetadataValue.md(seen.markdown())}


def build_defs(root: Path = SQL_ROOT) -> dg.Definitions:
    if not (root / "sources.yml").exists():
        return dg.Definitions(assets=[plant_calendar_asset])
    project = load_project(root)
    return dg.Definitions(
        assets=[plant_calendar_asset, *(build_model_asset(project, n) for n in project.order())])


defs = build_defs()
