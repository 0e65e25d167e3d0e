"""Operations hears of a failed run once: a signed webhook message naming the job, the
failed step and the error."""

from __future__ import annotations

import dagster as dg

from perf_orchestration.testing.webhook import WebhookReceiver
from resources.delivery import DeliveryResource
from sensors.run_failures import run_failure_notice_sensor


@dg.op
def flaky_step() -> None:
    raise RuntimeError("MES endpoint /mes/production failed after 5 attempts")


@dg.job
def flaky_job():
    flaky_step()


def test_a_failed_run_notifies_operations_once():
    instance = dg.DagsterInstance.ephemeral()
    result = flaky_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0] \
        .dagster_event
    with WebhookReceiver("s3cret") as hook:
        delivery = DeliveryResource(webhook_url=hook.url, webhook_secret="s3cret",
                                    smtp_host="127.0.0.1", smtp_port=1)
        for _ in range(2):  # a re-evaluated tick sends the same key
            ctx = dg.build_run_status_sensor_context(
                sensor_name="run_failure_notice_sensor", dagster_instance=instance,
                dagster_run=result.dagster_run, dagster_event=failure,
                resources={"delivery": delivery}).for_run_failure()
            run_failure_notice_sensor(ctx)
        assert hook.wait_for(2)
        assert len(hook.unique()) == 1 and hook.duplicates == 1
        sent = hook.unique()[0]["json"]
    assert sent["subject"] == "[perfflow] flaky_job failed (flaky_step)"
    assert "MES endpoint /mes/production" in sent["body"]
    assert sent["data"]["run_id"] == result.run_id
