"""A year of the default plant, backfilled end to end, beside its two floors, in one command.

    .venv/bin/python bench/year.py [--days 365] [--pg URL] [--lanes 2]
                                   [--engine celery --workers 2]

The simulator serves the year from its own process (`perfflow simulate`); its generation
is not timed. Then, on PostgreSQL (a scratch warehouse and a scratch Dagster instance
database, both dropped after):

- floor 1, fetch: every time-partitioned entity fetched a plant day at a time, as the
  ingestion fetches it, with no checks or landing;
- the year: `roster_job`, then `perf_flow_job` over the year's plant days as one run
  (ingestion with its Great Expectations suites, calendar, every SQL model with its
  checks, goals, rules), in a child process with the PostgreSQL instance of
  deploy/dagster.yaml; its Dagster event count by type;
- floor 2, SQL: every SQL model alone over the landed year, in the warehouse.

With `--engine celery` the year is `perfflow backfill --engine celery`: perf_flow_celery_job
with its steps on `--workers` dagster-celery workers over a Redis broker (Debian's
redis-server), all started by the bench as tests/test_celery_engine.py starts them.

It prints the figures and writes bench/results/year-<UTC date>.json. The targets
(issue "A year of history in minutes"): the year <= 6 min and <= 1.5 x (fetch + SQL).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-year"
sys.path.insert(0, str(ROOT / "bench"))


def year_scenario(days: int, path: Path | None = None) -> dict:
    """A plant (the bundled default when `path` is None) for `days` days ending where its
    scenario starts, no faults."""
    from perf_orchestration.scenarios.config import load_scenario

    base = load_scenario(path)
    data = base.model_dump(mode="json")
    data["start"] = (base.start - timedelta(days=days)).replace(tzinfo=None).isoformat()
    data["hours"] = 24 * days
    data["incidents"] = []
    data["name"] = f"{base.name}-{days}d"
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([str(BIN / "perfflow"), "simulate", "--port", str(port),
                             "--scenario", str(path), "--token", TOKEN],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the simulator stopped: {proc.stderr.read().decode()[-2000:]}")
        try:
            request = urllib.request.Request(url + "/mes/teams",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
            urllib.request.urlopen(request, timeout=5)
            return proc, url
        except urllib.error.HTTPError:  # answering, whatever it says about this path
            return proc, url
        except OSError:
            time.sleep(2)
    proc.kill()
    sys.exit("the simulator did not answer within 15 minutes")


def fetch_floor(url: str, scenario_data: dict) -> dict:
    """Every time-partitioned entity, a plant day at a time, no checks or landing."""
    from perf_orchestration.ingestion.client import SourceClient
    from perf_orchestration.ingestion.entities import ENTITIES
    from perf_orchestration.ingestion.landing import fetch_spans, hourly_windows
    from perf_orchestration.scenarios.config import Scenario

    scenario = Scenario.model_validate(scenario_data)
    spans = fetch_spans(hourly_windows(scenario.start, scenario.end, scenario.timezone))
    rows = 0
    t = time.perf_counter()
    for e in ENTITIES:
        if not e.partitioned:
            continue
        client = SourceClient(e.system, url, TOKEN, read_timeout=60)
        for span in spans:
            rows += len(client.fetch(e.name, start=span[0].start, end=span[-1].end).items)
    return {"seconds": round(time.perf_counter() - t, 1), "rows": rows, "requests": len(spans)}


def _env(url: str, warehouse: str, instance_db: str, admin_url: str, timezone: str) -> dict:
    import sqlalchemy as sa

    admin = sa.make_url(admin_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFFLOW_")}
    env.update({"PERFFLOW_WAREHOUSE_URL": warehouse, "PERFFLOW_PLANT_TIMEZONE": timezone,
                "PERFFLOW_DAGSTER_PG_HOST": admin.host or "127.0.0.1",
                "PERFFLOW_DAGSTER_PG_PORT": str(admin.port or 5432),
                "PERFFLOW_DAGSTER_PG_DB": sa.make_url(instance_db).database,
                "PERFFLOW_DAGSTER_PG_USER": admin.username or "postgres",
                "PERFFLOW_DAGSTER_PG_PASSWORD": admin.password or ""})
    from perf_orchestration.ingestion.entities import SYSTEMS

    for system in SYSTEMS:
        env[f"PERFFLOW_{system.upper()}_URL"] = url
        env[f"PERFFLOW_{system.upper()}_TOKEN"] = TOKEN
    return env


def flow_job():
    """perf_flow_job, for Dagster to rebuild in each step process of a multiprocess run."""
    from perf_orchestration.definitions import defs

    return defs.resolve_job_def("perf_flow_job")


def run_year(home: str, first: str, last: str, lanes: int = 1, engine: str = "in-process"
             ) -> dict:
    """The child process: roster_job, then perf_flow_job over [first, last] in one run
    (in process, or with `lanes` steps at once in their own processes), or, with engine
    celery, `perfflow backfill`'s run of perf_flow_celery_job on the workers."""
    if engine == "celery":
        from perf_orchestration.cli.backfill import run_range

        outcome = run_range(Path(home), first, last, "celery")
        return {"perf_flow_job": {"seconds": outcome["seconds"], "success": outcome["success"],
                                  "run_id": outcome["run_id"], "engine": "celery",
                                  "failures": outcome["failures"][:5]}}
    from perf_orchestration.cli import use_dagster_env
    from perf_orchestration.cli.deploy import open_instance, prepare_home
    from perf_orchestration.clock import CLOCK_TAG, REPLAY

    use_dagster_env()  # as every perfflow command does

    prepare_home(ROOT / "deploy" / "dagster.yaml", Path(home))
    instance = open_instance(Path(home), pooled=True)
    from perf_orchestration.definitions import defs

    out = {}
    for name, tags in (("roster_job", {}),
                       ("perf_flow_job", {"dagster/asset_partition_range_start": first,
                                          "dagster/asset_partition_range_end": last,
                                          CLOCK_TAG: REPLAY})):
        t = time.perf_counter()
        if name == "perf_flow_job" and lanes > 1:
            import dagster as dg

            with dg.execute_job(dg.reconstructable(flow_job), instance=instance, tags=tags,
                                raise_on_error=False, run_config={"execution": {"config": {
                                    "multiprocess": {"max_concurrent": lanes}}}}) as result:
                out[name] = {"seconds": round(time.perf_counter() - t, 1),
                             "success": result.success, "run_id": result.run_id,
                             "lanes": lanes}
            if not result.success:
                break
            continue
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, tags=tags, raise_on_error=False)
        out[name] = {"seconds": round(time.perf_counter() - t, 1), "success": result.success,
                     "run_id": result.run_id}
        if not result.success:
            failures = [e.event_specific_data.error.message if e.is_step_failure else e.message
                        for e in result.all_events if e.is_failure]
            out[name]["failures"] = failures[:5]
            break
    return out


@contextmanager
def celery_plant(env: dict, home: Path, folder: Path, workers: int):
    """A plant on Celery: a Redis broker and `workers` workers, started as
    tests/test_celery_engine.py starts them, with the instance installed in `home`; `env`
    gains the broker and DAGSTER_HOME."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _celery import celery_workers, redis_server

    from perf_orchestration.cli.deploy import prepare_home

    saved = dict(os.environ)
    os.environ.update(env)  # prepare_home reads the instance's settings
    try:
        prepare_home(ROOT / "deploy" / "dagster.yaml", home)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with redis_server() as broker:
        env.update({"PERFFLOW_CELERY_BROKER_URL": broker, "PERFFLOW_CELERY_BACKEND_URL": broker,
                    "DAGSTER_HOME": str(home)})
        with celery_workers(workers, env, folder):
            yield


@contextmanager
def _engine(args, env: dict, home: Path, folder: Path):
    """Nothing for the in-process run; for celery, the plant's broker and workers."""
    if args.engine != "celery":
        yield
        return
    with celery_plant(env, home, folder, args.workers):
        yield


def event_counts(instance_db: str, run_id: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(sa.make_url(instance_db).set(drivername="postgresql+psycopg2"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select coalesce(dagster_event_type, 'log'), count(*) from event_logs "
            "where run_id = :r group by 1 order by 2 desc"), {"r": run_id}).all()
        steps = conn.execute(sa.text(
            "select step_key, extract(epoch from max(timestamp) - min(timestamp)) from event_logs "
            "where run_id = :r and dagster_event_type in ('STEP_START', 'STEP_SUCCESS', "
            "'STEP_FAILURE') group by 1 order by 2 desc"), {"r": run_id}).all()
    engine.dispose()
    return {"by_type": {k: n for k, n in rows}, "total": sum(n for _, n in rows),
            "steps_s": {k: round(float(s), 1) for k, s in steps}}


def sql_floor(warehouse: str, scenario_data: dict) -> dict:
    """Every SQL model alone over the landed year, in project order."""
    from perf_orchestration.config.bundled import package_path
    from perf_orchestration.scenarios.config import Scenario
    from perf_orchestration.sqlmodels import load_project, run_model
    from perf_orchestration.sqlmodels.windows import model_window
    from perf_orchestration.warehouse import make_engine

    scenario = Scenario.model_validate(scenario_data)
    project = load_project(package_path("dbt_like_sql"))
    engine = make_engine(warehouse)
    t = time.perf_counter()
    rows = 0
    for name in project.order():
        model = project.model(name)
        partitioned = model.materialized == "incremental" and bool(model.config.partition_by)
        window = (model_window(model.config.partition_by, scenario.start, scenario.end,
                               scenario.timezone) if partitioned else None)
        rows += run_model(engine, project, name, window).rows
    engine.dispose()
    return {"seconds": round(time.perf_counter() - t, 1), "model_rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL admin URL")
    ap.add_argument("--lanes", type=int, default=1,
                    help="steps of the year run at once, each in its own process (default: 1, "
                    "the in-process run)")
    ap.add_argument("--engine", choices=["in-process", "celery"], default="in-process",
                    help="celery: the year's steps on --workers Celery workers over a Redis "
                    "broker started for the run")
    ap.add_argument("--workers", type=int, default=2, help="Celery workers (with --engine celery)")
    ap.add_argument("--child", nargs=3, metavar=("HOME", "FIRST", "LAST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_year(*args.child, lanes=args.lanes, engine=args.engine)))
        return
    from run import machine
    from transforms import scratch_pg_database

    data = year_scenario(args.days)
    res: dict = {"machine": machine(), "days": args.days, "lanes": args.lanes,
                 "engine": args.engine,
                 "celery_workers": args.workers if args.engine == "celery" else None,
                 "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        t = time.perf_counter()
        sim, url = start_simulator(path)
        res["simulator_ready_s"] = round(time.perf_counter() - t, 1)
        print(f"simulator ready in {res['simulator_ready_s']} s", flush=True)
        try:
            res["floor_fetch"] = fetch_floor(url, data)
            print(f"floor, fetch: {res['floor_fetch']}", flush=True)
            from perf_orchestration.scenarios.config import Scenario

            days = Scenario.model_validate(data).days
            with scratch_pg_database(args.pg) as warehouse, \
                    scratch_pg_database(args.pg) as instance_db:
                env = _env(url, warehouse, instance_db, args.pg, data["timezone"])
                home = Path(tmp) / "home"
                with _engine(args, env, home, Path(tmp)):
                    t = time.perf_counter()
                    proc = subprocess.run(
                        [sys.executable, __file__, "--child", str(home), days[0], days[-1],
                         "--lanes", str(args.lanes), "--engine", args.engine],
                        capture_output=True, text=True, cwd=ROOT, env=env)
                    wall = time.perf_counter() - t
                if proc.returncode != 0:
                    sys.exit(f"the year run failed:\n{proc.stderr[-3000:]}")
                runs = json.loads(proc.stdout.strip().splitlines()[-1])
                res["year"] = {"wall_s": round(wall, 1), "runs": runs, "days": len(days)}
                flow = runs.get("perf_flow_job", {})
                if flow.get("run_id"):
                    res["year"]["events"] = event_counts(instance_db, flow["run_id"])
                print(f"year: {json.dumps(res['year'])}", flush=True)
                res["floor_sql"] = sql_floor(warehouse, data)
                print(f"floor, SQL: {res['floor_sql']}", flush=True)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    flow_s = res["year"]["runs"].get("perf_flow_job", {}).get("seconds")
    floors = res["floor_fetch"]["seconds"] + res["floor_sql"]["seconds"]
    res["summary"] = {"year_flow_s": flow_s, "floors_s": round(floors, 1),
                      "ratio_to_floors": round(flow_s / floors, 2) if flow_s else None,
                      "target_6_min": bool(flow_s and flow_s <= 360),
                      "target_1_5x_floors": bool(flow_s and flow_s <= 1.5 * floors)}
    print(json.dumps(res["summary"]))
    lanes = f"-lanes{args.lanes}" if args.lanes > 1 else ""
    lanes += f"-celery{args.workers}" if args.engine == "celery" else ""
    write_results(f"year{lanes}", args.days, res)


def write_results(name: str, days: int, res: dict) -> None:
    """bench/results/<name>[-<days>d]-<UTC date>.json: a run shorter than a year keeps the
    year's figures."""
    RESULTS.mkdir(exist_ok=True)
    short = f"-{days}d" if days != 365 else ""
    out = RESULTS / f"{name}{short}-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
