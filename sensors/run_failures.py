"""The run-failure sensor: operations hears about every failed run of this project."""

import os

import dagster as dg

from perf_orchestration.alerting.ops_notices import run_failure_message
from resources.delivery import DeliveryResource


def _root_cause(error) -> str:
    """The innermost error's message (Dagster wraps what the step raised)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


@dg.run_failure_sensor(
    name="run_failure_notice_sensor", default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Sends the operations team one signed webhook message per failed run of any "
    "job (failed steps and the error), keyed by the run id.",
)
def run_failure_notice_sensor(context: dg.RunFailureSensorContext,
                              delivery: DeliveryResource) -> None:
    run = context.dagster_run
    failures = context.get_step_failure_events()
    steps = sorted({e.step_key for e in failures if e.step_key})
    errors = [f"{e.step_key}: {_root_cause(e.event_specific_data.error)}"
              for e in failures if getattr(e.event_specific_data, "error", None)]
    error = "\n".join(errors) or context.failure_event.message or "no message"
    message = run_failure_message(run.job_name, run.run_id, error, steps,
                                  os.environ.get("PERFFLOW_UI_URL"))
    result = delivery.channels()["webhook"].send(message)
    if result.status != "delivered":
        raise dg.Failure(f"run failure notice for {run.run_id} not delivered: {result.detail}")


defs = dg.Definitions(sensors=[run_failure_notice_sensor])
