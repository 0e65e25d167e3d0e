"""The action job: deliver one alert episode's actions, exactly once per recipient."""

from contextlib import nullcontext

import dagster as dg
from pydantic import Field

from perf_orchestration.alerting.effects import check_action_effects
from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.escalation import escalate_due
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.alerting.replay import dispatch_replayed, replay_start
from perf_orchestration.alerting.response import refresh_response_times
from perf_orchestration.alerting.store import ActionRequest
from perf_orchestration.clock import replay_from
from perf_orchestration.config.files import plant_routing, plant_rules

DELIVERY_RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL)


class EpisodeActionsConfig(dg.Config):
    episode_id: str = Field(description="ops.alert_episodes.episode_id")
    kind: str = Field(default="fire", description="fire, or resolved for the resolved notice")


@dg.op(
    required_resource_keys={"warehouse", "delivery"},
    retry_policy=DELIVERY_RETRY,
    description="Plan the episode's actions from its rule, route them by role through the HR "
    "roster, record each idempotency key once in ops.action_log, and deliver (webhook, email, "
    "task). Delivered keys are skipped on a retry; failures stay visible as failed rows.",
)
def deliver_episode_actions(context: dg.OpExecutionContext, config: EpisodeActionsConfig) -> None:
    engine = context.resources.warehouse.get_engine()
    channels = context.resources.delivery.channels()
    routing = plant_routing()
    start = replay_start(engine, config.episode_id, config.kind)
    with replay_from(start) if start else nullcontext():  # a replay's episode, its clock
        results = run_episode_actions(engine, plant_rules(), config.episode_id, channels,
                                      config.kind, context.run_id, routing)
        for action, result in results:
            context.log.info(f"{config.episode_id} [{config.kind}] {action.action_id} -> "
                             f"{action.person.name} ({action.role}) by {action.channel}: "
                             f"{result.status}")
        sent = dispatch_due(engine, routing, channels, retry_failed_now=_re_executed(context))
        if start:
            sent += dispatch_replayed(engine, routing, channels)
        _log_notifications(context, sent)
        results += escalate_due(engine, plant_rules(), channels)
    check_action_effects(engine, plant_rules())  # on the wall's now: a replay's by its data
    refresh_response_times(engine)
    failed = [a.action_id for a, r in results if r.status == "failed"]
    undelivered = _undelivered(sent)
    if failed or undelivered:
        # a retry of this op cannot help a notification before its next dispatch round
        raise dg.Failure(description=f"{len(failed) + len(undelivered)} action(s) or "
                         f"notification(s) not delivered: {', '.join(failed + undelivered)}; "
                         "see ops.action_log and ops.notification_log",
                         allow_retries=bool(failed))


def _re_executed(context: dg.OpExecutionContext) -> bool:
    """A re-executed run is a deliberate round: it tries failed notifications at once
    instead of waiting for their next dispatch round."""
    return context.dagster_run.parent_run_id is not None


def _undelivered(sent) -> list[str]:
    return [f"{n.notification_id[:12]} (" + (
        f"next round at {r.retry_at:%Y-%m-%d %H:%M:%S} UTC" if r.retry_at
        else "no dispatch round left") + ")" for n, r in sent if r.status != "delivered"]


def _log_notifications(context, sent) -> None:
    for n, result in sent:
        retry = (f", next round at {result.retry_at:%H:%M:%S} UTC"
                 if result.retry_at is not None else "")
        context.log.info(f"notification {n.notification_id[:12]} ({n.reason}, "
                         f"{len(n.members)} alert(s)) for group {n.group_key}: "
                         f"{result.status}{retry}")


@dg.op(
    required_resource_keys={"warehouse", "delivery"},
    retry_policy=DELIVERY_RETRY,
    description="Send every notification group whose time has come (group_wait, "
    "group_interval, repeat_interval, a silence or mute window ending), each as one message "
    "claimed once in ops.notification_log, and escalate what nobody acknowledged in time.",
)
def dispatch_notifications(context: dg.OpExecutionContext) -> None:
    engine = context.resources.warehouse.get_engine()
    channels = context.resources.delivery.channels()
    sent = dispatch_due(engine, plant_routing(), channels,
                        retry_failed_now=_re_executed(context))
    _log_notifications(context, sent)
    escalated = escalate_due(engine, plant_rules(), channels)
    for action, result in escalated:
        context.log.info(f"escalated {action.episode_id} -> {action.person.name} "
                         f"({action.role}) by {action.channel}: {result.status}")
    check_action_effects(engine, plant_rules())
    refresh_response_times(engine)
    failed = [a.action_id for a, r in escalated if r.status == "failed"]
    undelivered = _undelivered(sent)
    if failed or undelivered:
        # the dispatch sensor launches the next round when it is due; a retry of this op
        # would find nothing due before then
        raise dg.Failure(description=f"notification(s) not delivered: "
                         f"{', '.join(undelivered + failed)}; see ops.notification_log",
                         allow_retries=bool(failed))


@dg.job(executor_def=dg.in_process_executor, tags={"domain": "actions"},
        description="Deliver the actions of one alert episode (launched by the actions sensor "
        "with the episode as run key).")
def alert_actions_job():
    deliver_episode_actions()


@dg.job(executor_def=dg.in_process_executor, tags={"domain": "actions"},
        description="Send the alert notifications that are due (launched by the notification "
        "dispatch sensor).")
def notification_dispatch_job():
    dispatch_notifications()


def episode_run_request(request: ActionRequest) -> dg.RunRequest:
    """The run of one episode and kind, keyed so that a repeated tick launches it once."""
    return dg.RunRequest(
        run_key=request.run_key,
        run_config={"ops": {"deliver_episode_actions": {
            "config": {"episode_id": request.episode_id, "kind": request.kind}}}},
        tags={"episode_id": request.episode_id, "kind": request.kind})


defs = dg.Definitions(jobs=[alert_actions_job, notification_dispatch_job])
