"""The notification dispatch sensor: a group's time has come, its notification goes out."""

import dagster as dg

from jobs.actions import notification_dispatch_job
from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.escalation import next_escalation
from perf_orchestration.alerting.notifications.notify import next_due
from perf_orchestration.config.files import plant_routing, plant_rules
from resources.warehouse import WarehouseResource


@dg.sensor(
    job=notification_dispatch_job, minimum_interval_seconds=2,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches notification_dispatch_job when a notification group is due "
    "(group_wait, group_interval, repeat_interval, or a silence or mute window ending) or an "
    "unacknowledged alert is due for escalation.",
)
def notification_dispatch_sensor(context: dg.SensorEvaluationContext,
                                 warehouse: WarehouseResource) -> dg.SensorResult:
    engine = warehouse.get_engine()
    times = [t for t in (next_due(engine, plant_routing()),
                         next_escalation(engine, plant_rules())) if t is not None]
    due = min(times, default=None)
    now = utcnow()
    if due is None:
        return dg.SensorResult(skip_reason=dg.SkipReason(
            "no notification queued or held, no escalation pending"))
    if due > now:
        return dg.SensorResult(skip_reason=dg.SkipReason(
            f"next notification due at {due:%Y-%m-%d %H:%M:%S} UTC"))
    return dg.SensorResult(run_requests=[dg.RunRequest(
        run_key=f"dispatch|{due.isoformat()}", tags={"due": due.isoformat()})])


defs = dg.Definitions(sensors=[notification_dispatch_sensor])
