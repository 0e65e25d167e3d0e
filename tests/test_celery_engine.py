"""The flow on a distributed engine: its steps handed to two dagster-celery worker processes
over a real Redis broker write exactly the tables the in-process run writes, even when the
processes running its steps are killed in the middle of a step, while a second plant of
the group (its own deployment and worker) runs its days beside it; a broker that is down
is one line naming it, and no run waits for workers that cannot be reached."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from _celery import celery_workers, free_port, redis_server, run_flow, step_processes

from perf_orchestration.config.files import CONFIG_DIR_ENV
from perf_orchestration.group.plant import PLANT_ID_ENV
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = ROOT / "deploy" / "dagster.yaml"
GROUP = ROOT / "perf_orchestration" / "scenarios" / "group"
DAYS = ("2026-11-02", "2026-11-03")
TOKEN = "celery-test"
# columns naming the run or the moment that wrote a row, not what the row says
RUN_COLUMNS = {"ingestion_run_id", "mart_run_id", "run_id", "quarantine_id", "ingested_at",
               "logged_at", "quarantined_at", "computed_at", "refreshed_at"}


@contextmanager
def _scratch_database(pg_database: str):
    """A database of its own on the session's PostgreSQL server, dropped afterwards."""
    name = f"perfflow_test_celery_{uuid.uuid4().hex[:8]}"
    server = sa.make_url(pg_database)
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _scenario() -> Scenario:
    data = load_scenario().model_dump()
    data["hours"] = 48
    return Scenario.model_validate(data)


def _env(warehouse: str, source_url: str, instance_env: dict, broker: str,
         timezone: str = "Asia/Shanghai") -> dict:
    env = {**instance_env, "PERFFLOW_WAREHOUSE_URL": warehouse,
           "PERFFLOW_PLANT_TIMEZONE": timezone,
           "PERFFLOW_CELERY_BROKER_URL": broker, "PERFFLOW_CELERY_BACKEND_URL": broker}
    for system in SYSTEMS:
        env[f"PERFFLOW_{system.upper()}_URL"] = source_url
        env[f"PERFFLOW_{system.upper()}_TOKEN"] = TOKEN
    return env


def _tables(url: str) -> dict[str, list[tuple]]:
    """Every row of raw, staging and marts, and the quarantine, without the run's stamps."""
    engine = sa.create_engine(url)
    out: dict[str, list[tuple]] = {}
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        for schema in ("raw", "staging", "marts", "ops"):
            for table in inspector.get_table_names(schema=schema):
                if schema == "ops" and table not in ("quarantine", "alert_episodes"):
                    continue
                columns = [c["name"] for c in inspector.get_columns(table, schema=schema)
                           if c["name"] not in RUN_COLUMNS]
                rows = conn.execute(sa.text(
                    f'select {", ".join(chr(34) + c + chr(34) for c in columns)} '
                    f'from {schema}."{table}"'))
                out[f"{schema}.{table}"] = sorted(
                    tuple("" if v is None else str(v) for v in row) for row in rows)
    engine.dispose()
    return out


def _column(url: str, sql: str) -> set:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        values = set(conn.execute(sa.text(sql)).scalars())
    engine.dispose()
    return values


def _instance_url(instance_env: dict) -> str:
    return (f"postgresql+psycopg2://{instance_env['PERFFLOW_DAGSTER_PG_USER']}@"
            f"{instance_env['PERFFLOW_DAGSTER_PG_HOST']}:{instance_env['PERFFLOW_DAGSTER_PG_PORT']}"
            f"/{instance_env['PERFFLOW_DAGSTER_PG_DB']}")


class _KillMidStep(threading.Thread):
    """Waits until an ingestion step of the run has started on a worker and not finished,
    then kills every worker's step process (SIGKILL, as the kernel's OOM killer would)."""

    def __init__(self, instance_url: str, folder: Path, workers: int):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(instance_url)
        self.folder, self.workers = folder, workers
        with self.engine.connect() as conn:
            self.after = conn.execute(sa.text("select coalesce(max(id), 0) from event_logs")
                                      ).scalar()
        self.killed: list[int] = []
        self.step: str | None = None

    def _in_flight(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(
                "select s.step_key from event_logs s where s.id > :after and "
                "s.dagster_event_type = 'STEP_START' and s.step_key like '%ingestion%' and "
                "not exists (select 1 from event_logs e where e.id > s.id and "
                "e.step_key = s.step_key and e.dagster_event_type in "
                "('STEP_SUCCESS', 'STEP_FAILURE'))"), {"after": self.after}).scalar()

    def run(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not self.killed:
            self.step = self._in_flight()
            if self.step:
                time.sleep(0.5)  # into the step's work, past its first events
                for pid in step_processes(self.folder, self.workers):
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
            time.sleep(0.2)
        self.engine.dispose()


@contextmanager
def _chicago(pg_database: str, instance_env: dict, folder: Path):
    """The group's Chicago plant as a deployment of its own (warehouse, instance, broker,
    one worker, plant id, config folder), ready to run its day on Celery."""
    scenario = load_scenario(GROUP / "chicago.yaml")
    (folder / "home").mkdir(parents=True)
    shutil.copyfile(INSTANCE, folder / "home" / "dagster.yaml")  # the worker's instance
    with redis_server() as broker, _scratch_database(pg_database) as warehouse, \
            SimulatorServer(scenario, port=0, token=TOKEN) as server:
        env = {**_env(warehouse, server.url, instance_env, broker, scenario.timezone),
               PLANT_ID_ENV: "CHI", CONFIG_DIR_ENV: str(GROUP / "chicago"),
               "DAGSTER_HOME": str(folder / "home")}
        with celery_workers(1, env, folder):
            yield env, scenario.days


def test_steps_on_two_celery_workers_write_what_one_process_writes(
        pg_database, fresh_pg_instance_env, second_pg_instance_env, tmp_path):
    with redis_server() as broker, _scratch_database(pg_database) as on_celery, \
            _scratch_database(pg_database) as in_process:
        with SimulatorServer(_scenario(), port=0, token=TOKEN) as server:
            env = _env(in_process, server.url, fresh_pg_instance_env, broker)
            code, alone, err = run_flow(tmp_path / "home", env, *DAYS, "in-process", INSTANCE)
            assert code == 0 and alone["success"], (err[-2000:], alone)
        with SimulatorServer(_scenario(), port=0, token=TOKEN) as server, \
                _chicago(pg_database, second_pg_instance_env, tmp_path / "chi") as (chi, days), \
                ThreadPoolExecutor(1) as beside:
            # the second plant's days run on its own worker while the first plant's run
            chicago = beside.submit(run_flow, tmp_path / "chi" / "home", chi, days[0],
                                    days[-1], "celery", INSTANCE)
            env = _env(on_celery, server.url, fresh_pg_instance_env, broker)
            env["DAGSTER_HOME"] = str(tmp_path / "home")  # the workers' instance
            with celery_workers(2, env, tmp_path):
                killer = _KillMidStep(_instance_url(fresh_pg_instance_env), tmp_path, 2)
                killer.start()
                code, spread, err = run_flow(tmp_path / "home", env, *DAYS, "celery", INSTANCE)
                killer.join(timeout=10)
            assert code == 0 and spread["success"], "\n".join(spread["failures"])[:4000]
            workers = "".join((tmp_path / f"worker{i}.log").read_text() for i in (0, 1))
            chi_code, chi_run, chi_err = chicago.result()
            chi_teams = _column(chi["PERFFLOW_WAREHOUSE_URL"],
                                "select distinct team_id from raw.mes_production")
            chi_logs = _column(chi["PERFFLOW_WAREHOUSE_URL"], "select fetched - landed - "
                               "quarantined from ops.ingestion_log")
        chi_worker = (tmp_path / "chi" / "worker0.log").read_text()
        # the step processes were killed in the middle of a step; Celery gave the step back
        # and a new pool process ran it again from the start
        assert killer.step and killer.killed, killer.step
        assert "WorkerLostError" in workers, workers[-3000:]
        assert workers.count(f'Started execution of step "{killer.step}"') == 2
        assert spread["engine"] == "celery"
        expected, got = _tables(in_process), _tables(on_celery)
        teams = _column(on_celery, "select distinct team_id from raw.mes_production")
    assert expected["raw.mes_production"] and expected["marts.team_hourly_quality"]
    assert sorted(got) == sorted(expected)
    different = {name: (sorted(set(expected[name]) - set(got[name]))[:2],
                        sorted(set(got[name]) - set(expected[name]))[:2])
                 for name in expected if got[name] != expected[name]}
    assert different == {}
    # the only tracebacks in the workers' logs are those of the killed step processes
    tracebacks = [t.split("\n[", 1)[0] for t in workers.split("Traceback (most recent")[1:]]
    assert tracebacks and all("WorkerLostError" in t for t in tracebacks), tracebacks
    # the second plant: its run on its own worker, its rows in its own warehouse
    assert chi_code == 0 and chi_run["success"] and chi_run["engine"] == "celery", chi_err[-2000:]
    assert chi_run["run_id"] in chi_worker and chi_run["run_id"] not in workers
    assert spread["run_id"] not in chi_worker
    assert "Traceback" not in chi_worker, chi_worker[-3000:]
    assert chi_teams == {"C1", "C2"}, chi_teams
    assert teams and not chi_teams & teams
    assert chi_logs == {0}  # fetched = landed + quarantined in every entity and window


def test_a_broker_that_is_down_is_one_line_and_no_run(fresh_pg_instance_env, tmp_path):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env = _env("postgresql://postgres@127.0.0.1:5432/postgres", "http://127.0.0.1:9",
               fresh_pg_instance_env, closed)
    code, outcome, err = run_flow(tmp_path / "home", env, *DAYS, "celery", INSTANCE)
    assert code == 1 and outcome is None
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"Celery broker {closed} is not reachable" in lines[0]
    assert "PERFFLOW_CELERY_BROKER_URL" in lines[0]


def test_the_celery_job_checks_its_broker_when_launched_from_the_ui(tmp_path, monkeypatch):
    import dagster as dg

    from perf_orchestration.cli.backfill import celery_flow_job

    closed = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("PERFFLOW_CELERY_BROKER_URL", closed)
    monkeypatch.setenv("PERFFLOW_CELERY_BACKEND_URL", closed)
    monkeypatch.setenv("PERFFLOW_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'wh' / 'warehouse.db'}")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with dg.execute_job(dg.reconstructable(celery_flow_job), instance=instance,
                            tags={"dagster/partition": DAYS[0]},
                            raise_on_error=False) as result:
            assert not result.success
            failure = next(e for e in result.all_events if e.is_run_failure)
    message = failure.event_specific_data.error.message
    assert f"Celery broker {closed} is not reachable" in message
