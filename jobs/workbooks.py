"""The workbook intake job: consolidate one dropped workbook (launched per content hash)."""

import dagster as dg
from pydantic import Field

from perf_orchestration.config.files import plant_workbooks


class WorkbookFileConfig(dg.Config):
    path: str = Field(description="the workbook file in the intake folder")


@dg.op(
    required_resource_keys={"warehouse"},
    description="Read the workbook with the kinds of workbooks.yaml, judge its rows with the "
    "kind's quality suite, land good rows in raw.excel_<kind>, quarantine bad ones and record "
    "the file in ops.file_intake. A bad file is recorded with its reason, not raised.",
)
def consolidate_workbook(context: dg.OpExecutionContext, config: WorkbookFileConfig) -> None:
    engine = context.resources.warehouse.get_engine()
    from perf_orchestration.workbooks import consolidate  # pandas and openpyxl, on first use

    (result,) = consolidate(engine, [config.path], plant_workbooks(), context.run_id)
    context.log.info(result.line())
    context.log_event(dg.AssetObservation(
        asset_key=dg.AssetKey(["ops", "file_intake"]),
        metadata={"file": result.path, "file_hash": result.file_hash, "status": result.status,
                  "kind": result.kind or "", "sheets_read": result.sheets_read,
                  "rows_landed": result.rows_landed,
                  "rows_quarantined": result.rows_quarantined,
                  "total_check": result.total_check, "reason": result.reason or ""}))


@dg.job(executor_def=dg.in_process_executor, tags={"domain": "workbooks"},
        description="Consolidate one workbook from the intake folder (launched by "
        "workbook_intake_sensor with the file's content hash as run key).")
def workbook_intake_job():
    consolidate_workbook()


defs = dg.Definitions(jobs=[workbook_intake_job])
