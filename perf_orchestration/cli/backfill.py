"""`perfflow backfill`: the flow over a range of plant days as one run, on the instance of
a deployment, in process or with its steps on Celery workers (docs/deploy.md).

    perfflow backfill 2025-11-02 2026-11-01 --instance-config deploy/dagster.yaml \
        [--engine celery]

The warehouse, the sources and the plant come from the environment, as for the daemon's
runs. The HR roster is refreshed first (the marts join on its teams), then the flow runs.
With `--engine celery` the broker is checked first: a broker that does not answer is one
line naming it, and no run is started.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from perf_orchestration.deploy.checks import BROKER_ENV, SettingError, broker_problem
from perf_orchestration.deploy.priority import yield_to_live_work

ENGINES = {"in-process": "perf_flow_job", "celery": "perf_flow_celery_job"}


def celery_flow_job():
    """perf_flow_celery_job, for Dagster to rebuild in each Celery worker."""
    from perf_orchestration.definitions import defs

    return defs.resolve_job_def(ENGINES["celery"])


def run_range(home: Path, first: str, last: str, engine: str = "in-process") -> dict:
    """The flow over plant days [first, last] as one run on the instance in `home`; what it
    did: success, run id, seconds, and the failed steps' errors."""
    import os

    import dagster as dg

    from perf_orchestration.cli import use_dagster_env
    from perf_orchestration.cli.deploy import open_instance
    from perf_orchestration.clock import CLOCK_TAG, REPLAY

    for day in (first, last):
        try:
            date.fromisoformat(day)
        except ValueError:
            raise SettingError(f"{day!r} is not a plant day (YYYY-MM-DD)") from None
    if engine not in ENGINES:
        raise SettingError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "celery":
        problem = broker_problem(os.environ.get(BROKER_ENV))
        if problem:
            raise SettingError(problem)
    use_dagster_env()
    instance = open_instance(home, pooled=engine == "in-process")
    from perf_orchestration.definitions import defs

    # the teams and people the marts join on, as HR has them now (as the daily schedule does)
    roster = defs.resolve_job_def("roster_job").execute_in_process(instance=instance,
                                                                   raise_on_error=False)
    if not roster.success:
        return {"success": False, "run_id": roster.run_id, "engine": engine, "seconds": 0.0,
                "failures": _failures(roster.all_events)}
    tags = {"dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last, CLOCK_TAG: REPLAY,
            "perfflow/kind": "backfill"}
    yield_to_live_work()  # this process and its ingestion workers; Celery workers by tag
    started = time.perf_counter()
    if engine == "celery":
        with dg.execute_job(dg.reconstructable(celery_flow_job), instance=instance, tags=tags,
                            raise_on_error=False) as result:
            failures = _failures(result.all_events)
            success, run_id = result.success, result.run_id
    else:
        result = defs.resolve_job_def(ENGINES[engine]).execute_in_process(
            instance=instance, tags=tags, raise_on_error=False)
        failures = _failures(result.all_events)
        success, run_id = result.success, result.run_id
    return {"success": success, "run_id": run_id, "engine": engine,
            "seconds": round(time.perf_counter() - started, 1), "failures": failures}


def _failures(events) -> list[str]:
    out = []
    for event in events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error.cause is not None and "Error occurred while executing" in error.message:
                error = error.cause  # the op's own error, not the wrapper around it
            out.append(f"{event.step_key}: {error.message.strip()}")
        elif event.is_run_failure and event.event_specific_data and \
                event.event_specific_data.error:
            out.append(event.event_specific_data.error.message.strip())
    return out


def run_backfill(args) -> int:
    from perf_orchestration.cli.deploy import prepare_home

    home = Path(args.home)
    for line in prepare_home(Path(args.instance_config), home):
        print(line)
    outcome = run_range(home, args.first, args.last, args.engine)
    print(json.dumps(outcome) if args.json else
          f"{ENGINES[args.engine]} {args.first} .. {args.last} on {args.engine}: "
          f"{'succeeded' if outcome['success'] else 'FAILED'} in {outcome['seconds']} s "
          f"(run {outcome['run_id']})")
    for failure in outcome["failures"]:
        print(f"  {failure.splitlines()[0]}")
    return 0 if outcome["success"] else 1
