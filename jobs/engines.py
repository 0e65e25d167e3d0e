"""Celery as the flow's engine: each step of a run goes to Celery workers over a broker
(dagster-celery), so several machines can land and transform one run's steps side by side.

The executor checks the broker before the run hands out its first step, so a broker that
is down fails the run with one line naming it instead of a run that waits forever for
workers that cannot be reached. dagster-celery is imported when a run uses it, not when
the code location loads.
"""

from __future__ import annotations

import os

import dagster as dg

from perf_orchestration.deploy.checks import BACKEND_ENV, BROKER_ENV, broker_problem

CELERY_CONFIG = {
    "broker": dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None,
                       description=f"The Celery broker, e.g. redis://host:6379/0 (default: "
                       f"${BROKER_ENV})"),
    "backend": dg.Field(dg.Noneable(dg.StringSource), is_required=False, default_value=None,
                        description=f"Where Celery keeps task results (default: ${BACKEND_ENV}, "
                        "else the broker)"),
    "include": dg.Field([str], is_required=False,
                        default_value=["perf_orchestration.definitions"],
                        description="Modules every worker imports"),
    "config_source": dg.Field(dg.Permissive(), is_required=False, default_value={},
                              description="Celery settings (lowercase names)"),
}

#: What every run on Celery sets: one step at a time per worker process, and a step whose
#: worker died is handed to another worker instead of being lost.
CELERY_SETTINGS = {"worker_prefetch_multiplier": 1, "task_acks_late": True,
                   "task_reject_on_worker_lost": True}


@dg.executor(name="celery", config_schema=CELERY_CONFIG,
             requirements=dg.multiple_process_executor_requirements())
def checked_celery_executor(init_context: dg.InitExecutorContext):
    """dagster-celery's executor, after a check that its broker answers."""
    config = init_context.executor_config
    broker = config["broker"] or os.environ.get(BROKER_ENV)
    problem = broker_problem(broker)
    if problem:
        raise _BrokerDown(problem)
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor

    backend = config["backend"] or os.environ.get(BACKEND_ENV) or broker
    return CeleryExecutor(broker=broker, backend=backend,
                          include=config["include"],
                          config_source={**CELERY_SETTINGS, **config["config_source"]},
                          retries=RetryMode.ENABLED)


class _BrokerDown(dg.DagsterError):
    """The broker a Celery run needs does not answer."""
