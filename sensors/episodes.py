"""The actions sensor: each episode that fired (or resolved) launches one action run."""

import json

import dagster as dg

from jobs.actions import alert_actions_job, episode_run_request
from perf_orchestration.alerting.store import RULES_ASSET, action_requests_since
from resources.warehouse import WarehouseResource


@dg.sensor(
    job=alert_actions_job, minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls ops.alert_transitions past its cursor for episodes that fired or "
    "resolved and launches alert_actions_job once per episode and kind (run key).",
)
def alert_episode_sensor(context: dg.SensorEvaluationContext,
                         warehouse: WarehouseResource) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {"transition_id": 0}
    engine = warehouse.get_engine()
    requests = action_requests_since(engine, cursor["transition_id"], RULES_ASSET)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(
            f"no episode fired or resolved after transition {cursor['transition_id']}"))
    return dg.SensorResult(
        run_requests=[episode_run_request(r) for r in requests],
        cursor=json.dumps({"transition_id": requests[-1].transition_id}),
    )


defs = dg.Definitions(sensors=[alert_episode_sensor])
