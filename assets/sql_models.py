"""One asset per SQL model in dbt_like_sql/, with its column tests as asset checks; models
that read the same source systems run in one step (a multi-asset per group)."""

from pathlib import Path

import dagster as dg

from assets.ingestion import system_step
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


# A model's column tests are one asset check: Dagster writes each check evaluation as its
# own events, so one check per test (434 in the default flow) cost ~10 s of a demo's
# flow; each test's outcome is in the check's metadata (docs/performance.md).
COLUMN_TESTS = "column_tests"


def _test_label(column: str, test: str) -> str:
    return f"{test} on {column}"


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


def _source_checks(context, engine, watched, key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    start, end = window(context)
    results = []
    for table in watched:
        fresh = source_freshness(engine, table.identifier, table.loaded_at_field or "updated_at",
                                 table.freshness_hours, start, end)
        volume = hourly_volume(engine, table.identifier, start, end)
        results += [
            dg.AssetCheckResult(
                asset_key=key, check_name=f"{table.identifier}_fresh", passed=fresh.fresh,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"newest_source_update_utc": str(fresh.newest),
                          "age_hours_at_window_end": fresh.age_hours,
                          "limit_hours": fresh.limit_hours}),
            dg.AssetCheckResult(
                asset_key=key, check_name=f"{table.identifier}_volume", passed=volume.ok,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"baseline_rows_per_hour": volume.baseline_median,
                          "hours_out_of_range": dg.MetadataValue.json(volume.outliers)}),
        ]
    return results


def _specs(project: SqlProject, name: str) -> tuple[dg.AssetSpec, list[dg.AssetCheckSpec]]:
    """A model's asset and its checks: column tests, and freshness and volume of the raw
    tables it reads."""
    model = project.model(name)
    key = dg.AssetKey([model.schema, name])
    tests = [_test_label(col.name, test.kind) for col in model.columns for test in col.tests]
    specs = [dg.AssetCheckSpec(COLUMN_TESTS, asset=key, description=(
        f"{len(tests)} column test(s) of {model.yml_path.name}: " + ", ".join(tests)))] \
        if tests else []
    for table in _watched_sources(project, name) if _partitioned(model) else []:
        specs += [
            dg.AssetCheckSpec(f"{table.identifier}_fresh", asset=key,
                              description=f"{table.relation} has rows no older than "
                              f"{table.freshness_hours}h at the end of the hours processed."),
            dg.AssetCheckSpec(f"{table.identifier}_volume", asset=key,
                              description=f"{table.relation}'s rows per hour stay within range "
                              "of the week before; an hour with no rows fails."),
        ]
    spec = dg.AssetSpec(
        key=key, deps=_deps(project, name), description=model.description or name,
        group_name=GROUPS.get(model.schema, model.schema), owners=OWNERS, kinds={"sql"},
        code_version=model.code_version,
        metadata={"sql_file": str(model.path.relative_to(project.root.parent)),
                  "materialized": model.materialized})
    return spec, specs


def _partitioned(model) -> bool:
    return model.materialized == "incremental" and bool(model.config.partition_by)


def _column_tests_result(key: dg.AssetKey, outcomes: list) -> dg.AssetCheckResult:
    """Every column test of a model as one result: failed when any test finds a row."""
    failed = [o for o in outcomes if not o.passed]
    return dg.AssetCheckResult(
        asset_key=key, check_name=COLUMN_TESTS, passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=("failed: " + ", ".join(f"{_test_label(o.column, o.test)} "
                                            f"({o.failing_rows} rows)" for o in failed))
        if failed else f"all {len(outcomes)} passed",
        metadata={"tests": len(outcomes), "failed": len(failed),
                  "failing_rows": sum(o.failing_rows for o in outcomes),
                  "results": dg.MetadataValue.json(
                      [{"column": o.column, "test": o.test, "failing_rows": o.failing_rows}
                       for o in outcomes])})


def _run_one(context, engine, project: SqlProject, name: str) -> dg.MaterializeResult:
    model = project.model(name)
    key = dg.AssetKey([model.schema, name])
    window = _window(context, model.config.partition_by) if _partitioned(model) else None
    result = run_model(engine, project, name, window)
    outcomes = run_tests(engine, project, name, window)
    context.log.info(f"{model.relation}: {result.rows} rows in {result.seconds:.2f}s"
                     + (f", window {window[0]} .. {window[1]} UTC" if window else ""))
    watched = _watched_sources(project, name) if window else []
    checks = [_column_tests_result(key, outcomes)] if outcomes else []
    checks += _source_checks(context, engine, watched, key) if watched else []
    selected = context.selected_asset_check_keys
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "rows": result.rows, "seconds": round(result.seconds, 3),
            "rows_replaced": result.deleted,
            "window_utc": f"{window[0]} .. {window[1]}" if window else "full",
            "sql": dg.MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
            **_preview_metadata(engine, model),
        },
        check_results=[c for c in checks
                       if dg.AssetCheckKey(key, c.check_name) in selected],
    )


def build_model_group(project: SqlProject, names: list[str], step: str) -> dg.AssetsDefinition:
    """One step materializing `names` (models of one schema, all partitioned or all not) in
    project order, each with its checks; any subset may be selected. A model that fails
    does not stop those of the group that do not read it; the step then fails naming it."""
    specs, check_specs = [], []
    for name in names:
        spec, checks = _specs(project, name)
        specs.append(spec)
        check_specs += checks
    partitioned = _partitioned(project.model(names[0]))

    @dg.multi_asset(
        name=step, specs=specs, check_specs=check_specs, can_subset=True,
        description="SQL models " + ", ".join(names),
        partitions_def=plant_days if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        required_resource_keys={"warehouse"}, pool="warehouse_write",
    )
    def _models(context: dg.AssetExecutionContext):
        engine = context.resources.warehouse.get_engine()
        selected = context.selected_asset_keys
        failed: dict[str, str] = {}
        for name in names:
            model = project.model(name)
            if dg.AssetKey([model.schema, name]) not in selected:
                continue
            broken = [r for r in model.refs if r in failed]
            if broken:
                failed[name] = f"not run: {', '.join(broken)} failed"
                continue
            try:
                yield _run_one(context, engine, project, name)
            except Exception as exc:  # noqa: BLE001 - named below, with the other failures
                context.log.error(f"{model.relation}: {exc}")
                failed[name] = str(exc).strip().splitlines()[0] if str(exc).strip() \
                    else type(exc).__name__
        if failed:
            raise dg.Failure(description="; ".join(f"{n}: {why}" for n, why in failed.items()),
                             metadata={"models_failed": ", ".join(failed)})

    return _models


def model_groups(project: SqlProject) -> list[tuple[str, list[str]]]:
    """The project's models in steps: models of one schema that read exactly the same steps
    outside the project (a system's ingestion, the calendar, a Python asset) share a step,
    so a failing source skips exactly the models it skipped when each was its own step."""
    reads: dict[str, frozenset[str]] = {}
    systems: dict[str, frozenset[str]] = {}
    groups: dict[tuple, list[str]] = {}
    for name in project.order():
        model = project.model(name)
        steps, found = set(), set()
        for ref in model.refs:
            steps |= reads[ref]
            found |= systems[ref]
        for src in model.sources:
            table = project.sources[src]
            entity = ENTITIES_BY_TABLE.get(table.identifier) if table.schema == "raw" else None
            if entity:
                steps.add(system_step(entity.system, entity.partitioned))
                found.add(entity.system)
            else:
                steps.add(f"{table.schema}.{table.identifier}")
        reads[name], systems[name] = frozenset(steps), frozenset(found)
        groups.setdefault((model.schema, _partitioned(model), reads[name]), []).append(name)
    out, taken = [], set()
    for (schema, partitioned, _), names in groups.items():
        if len(names) == 1:
            step = f"{schema}__{names[0]}"
        else:
            step = f"{schema}__{'_'.join(sorted(systems[names[0]])) or 'models'}"
            step += "" if partitioned else "_snapshots"
        while step in taken:
            step += "_2"
        taken.add(step)
        out.append((step, names))
    return out


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
        assets=[plant_calendar_asset,
                *(build_model_group(project, names, step)
                  for step, names in model_groups(project))])


defs = build_defs()
