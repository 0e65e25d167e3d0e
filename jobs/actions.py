"""The action job: deliver one alert episode's actions, exactly once per recipient."""

import dagster as dg
from pydantic import Field

from perf_orchestration.alert_store import ActionRequest
from perf_orchestration.alerts import run_episode_actions
from perf_orchestration.config_files import plant_rules
from perf_orchestration.response import refresh_response_times


class EpisodeActionsConfig(dg.Config):
    episode_id: str = Field(description="ops.alert_episodes.episode_id")
    kind: str = Field(default="fire", description="fire, or resolved for the resolved notice")


@dg.op(
    required_resource_keys={"warehouse", "delivery"},
    retry_policy=dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL),
    description="Plan the episode's actions from its rule, route them by role through the HR "
    "roster, record each idempotency key once in ops.action_log, and deliver (webhook, email, "
    "task). Delivered keys are skipped on a retry; failures stay visible as failed rows.",
)
def deliver_episode_actions(context: dg.OpExecutionContext, config: EpisodeActionsConfig) -> None:
    engine = context.resources.warehouse.get_engine()
    results = run_episode_actions(engine, plant_rules(), config.episode_id,
                                  context.resources.delivery.channels(), config.kind,
                                  context.run_id)
    for action, result in results:
        context.log.info(f"{config.episode_id} [{config.kind}] {action.action_id} -> "
                         f"{action.person.name} ({action.role}) by {action.channel}: "
                         f"{result.status}")
    refresh_response_times(engine)
    failed = [a.action_id for a, r in results if r.status != "delivered"]
    if failed:
        raise dg.Failure(description=f"{len(failed)} action(s) not delivered: "
                         f"{', '.join(failed)}; see ops.action_log")


@dg.job(executor_def=dg.in_process_executor, tags={"domain": "actions"},
        description="Deliver the actions of one alert episode (launched by the actions sensor "
        "with the episode as run key).")
def alert_actions_job():
    deliver_episode_actions()


def episode_run_request(request: ActionRequest) -> dg.RunRequest:
    """The run of one episode and kind, keyed so that a repeated tick launches it once."""
    return dg.RunRequest(
        run_key=request.run_key,
        run_config={"ops": {"deliver_episode_actions": {
            "config": {"episode_id": request.episode_id, "kind": request.kind}}}},
        tags={"episode_id": request.episode_id, "kind": request.kind})


defs = dg.Definitions(jobs=[alert_actions_job])
