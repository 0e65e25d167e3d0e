"""The source watch sensor: rules judged from the source systems as records arrive."""

import dagster as dg

from jobs.actions import alert_actions_job, episode_run_request
from perf_orchestration.alerting.source_watch import WatchCursor, watch_tick
from perf_orchestration.config.files import plant_rules
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.sources import SourceSettingError
from resources.sources import SourceSystemResource
from resources.warehouse import WarehouseResource


@dg.sensor(
    job=alert_actions_job, minimum_interval_seconds=2,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads new MES first-article inspections and equipment events since its "
    "cursor, judges the closed team-hours and the failure counts with the rules "
    "(rules.yaml), records episodes in ops.alert_episodes and launches alert_actions_job "
    "once per episode that fired or resolved (run key: episode id and kind).",
)
def source_watch_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                        mes_api: SourceSystemResource) -> dg.SensorResult:
    cursor = WatchCursor.from_json(context.cursor)
    try:
        client = mes_api.client()
    except (SourceSettingError, ConfigError) as exc:  # said once per tick, in one line
        return dg.SensorResult(skip_reason=dg.SkipReason(f"MES not readable: {exc}"),
                               cursor=cursor.to_json())
    outcome = watch_tick(warehouse.get_engine(), plant_rules(), {"mes": client}, cursor)
    if not outcome.requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(outcome.describe()),
                               cursor=outcome.cursor.to_json())
    context.log.info(outcome.describe())
    return dg.SensorResult(run_requests=[episode_run_request(r) for r in outcome.requests],
                           cursor=outcome.cursor.to_json())


defs = dg.Definitions(sensors=[source_watch_sensor])
