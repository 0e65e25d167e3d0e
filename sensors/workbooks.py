"""The intake sensor: each new or changed workbook in the drop folder launches one run."""

import json

import dagster as dg

from jobs.workbooks import workbook_intake_job
from perf_orchestration.workbooks.scan import poll_folder
from resources.folders import IntakeFolderResource

FILES_PER_TICK = 50


@dg.sensor(
    job=workbook_intake_job, minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches the intake folder for new or changed .xlsx workbooks and launches "
    "workbook_intake_job once per content hash (run key); files open in Excel wait.",
)
def workbook_intake_sensor(context: dg.SensorEvaluationContext,
                           intake_folder: IntakeFolderResource) -> dg.SensorResult:
    folder = intake_folder.path()
    if not folder.is_dir():
        return dg.SensorResult(skip_reason=dg.SkipReason(f"intake folder {folder} does not exist"))
    seen = json.loads(context.cursor) if context.cursor else {}
    requests, cursor = poll_folder(folder, seen, FILES_PER_TICK)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new or changed workbook in {folder}"),
                               cursor=json.dumps(cursor, sort_keys=True))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(
            run_key=r.run_key,
            run_config={"ops": {"consolidate_workbook": {"config": {"path": r.path}}}},
            tags={"workbook": r.path.rsplit("/", 1)[-1][:200], "intake_state": r.state})
            for r in requests],
        cursor=json.dumps(cursor, sort_keys=True),
    )


defs = dg.Definitions(sensors=[workbook_intake_sensor])
