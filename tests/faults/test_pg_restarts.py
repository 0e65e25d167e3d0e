"""PostgreSQL restarted for real (a private server, `pg_ctl restart -m fast`) in the middle
of an ingestion run, of the SQL models, of an action run, and while the daemon's sensors
tick. Each run fails cleanly naming the warehouse, nothing is half-written (the
transaction per run or per model holds), a re-run gives identical tables, no action is
sent twice or lost, and the daemon carries on by itself once the server is back.

Each restart is timed by a lock: another connection holds a lock the run needs, the run
blocks inside its transaction, the server is restarted (which also ends the lock)."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_ingestion_assets import PARTITION
from test_ingestion_assets import _materialize as materialize_ingestion
from test_ingestion_assets import _scenario as small_scenario
from test_metrics import ROOT as SQL_ROOT
from test_metrics import default_day, land  # noqa: F401 - default_day is a fixture

from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.config import load_routing
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.alerting.rules import load_rules
from perf_orchestration.alerting.rules.config import BUNDLED_RULES
from perf_orchestration.delivery import EmailChannel, WebhookChannel
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.sqlmodels import load_project, run_project
from perf_orchestration.tables import action_log, alert_episodes, metadata
from perf_orchestration.testing.postgres import PrivatePostgres, unavailable
from perf_orchestration.testing.rows import land_people, land_rows
from perf_orchestration.testing.smtp import SmtpReceiver
from perf_orchestration.testing.webhook import WebhookReceiver
from perf_orchestration.warehouse import ensure_schemas, make_engine

ROOT = Path(__file__).resolve().parents[2]
REASON = unavailable()
pytestmark = [pytest.mark.skipif(REASON is not None,
                                 reason=f"private PostgreSQL server: {REASON}"),
              pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server():
    pg = PrivatePostgres().start()
    yield pg
    pg.close()


@pytest.fixture
def database(server, request):
    name = "w_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    return server.create_database(name)


def _blocked(server: PrivatePostgres, database: str, timeout: float = 60) -> None:
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with admin.connect() as conn:
                if conn.execute(sa.text(
                        "select count(*) from pg_stat_activity where datname = :d and "
                        "wait_event_type = 'Lock' and state = 'active'"), {"d": database}
                        ).scalar():
                    return
            time.sleep(0.1)
    finally:
        admin.dispose()
    raise AssertionError("the run never reached the locked table")


def _restart_while_blocked(server: PrivatePostgres, url: str, lock_sql: str, work):
    """Run `work` in a thread, blocked on `lock_sql`'s lock, restart the server, and return
    what `work` returned or raised."""
    database = sa.make_url(url).database
    locker = sa.create_engine(url).connect()
    locker.execute(sa.text(lock_sql))
    box: dict = {}

    def run():
        try:
            box["result"] = work()
        except Exception as exc:  # noqa: BLE001 - the failure is what the test reads
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    try:
        _blocked(server, database)
        server.restart()
    finally:
        worker.join(timeout=120)
        locker.invalidate()
        locker.close()
    return box


def _dump(url: str, schemas: tuple[str, ...], drop: tuple[str, ...] = ()) -> dict[str, str]:
    """A digest of every table of `schemas`, rows sorted, the columns in `drop` left out."""
    engine = sa.create_engine(url)
    out = {}
    with engine.connect() as conn:
        for schema in schemas:
            for table in sa.inspect(conn).get_table_names(schema=schema):
                t = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)
                cols = [c for c in t.c if c.name not in drop]
                rows = sorted(repr(tuple(r)) for r in conn.execute(sa.select(*cols)))
                out[f"{schema}.{table}"] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    engine.dispose()
    return out


def test_a_restart_mid_landing_fails_cleanly_and_a_rerun_lands_once(server, database,
                                                                     invariant):
    table = "mes_production"
    with SimulatorServer(small_scenario(), port=0, token="t") as sim:
        assert materialize_ingestion(table, sim, database).success
        before = _dump(database, ("raw",), drop=("ingestion_run_id", "ingested_at"))
        box = _restart_while_blocked(
            server, database, "lock table ops.quarantine in access exclusive mode",
            lambda: materialize_ingestion(table, sim, database))
        failed = box["result"]
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message
        invariant("PostgreSQL restart mid-landing", "the run fails naming the warehouse",
                  not failed.success and "warehouse" in message, message=message[:200])
        after = _dump(database, ("raw",), drop=("ingestion_run_id", "ingested_at"))
        invariant("PostgreSQL restart mid-landing", "nothing half-written",
                  after == before, tables=len(after))
        again = materialize_ingestion(table, sim, database)
    rerun = _dump(database, ("raw",), drop=("ingestion_run_id", "ingested_at"))
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        rows, distinct = conn.execute(sa.text(
            f"select count(*), count(distinct source_record_id) from raw.{table} "
            "where partition_key = :p"), {"p": PARTITION}).one()
    engine.dispose()
    invariant("PostgreSQL restart mid-landing", "a re-run gives identical tables, rows once",
              again.success and rerun == before and rows == distinct > 0, rows=rows)


def test_a_restart_mid_sql_models_leaves_each_model_whole_and_a_rerun_is_identical(
        server, database, default_day, invariant):
    engine = make_engine(database)
    land(engine, *default_day)
    project = load_project(SQL_ROOT)
    run_project(engine, project)
    reference = _dump(database, ("staging", "marts"))
    box = _restart_while_blocked(
        server, database, "lock table marts.team_daily_quality in access exclusive mode",
        lambda: run_project(make_engine(database), project))
    error = box.get("error")
    invariant("PostgreSQL restart mid-SQL-models", "the run fails, naming the model",
              error is not None and "team_daily_quality" in str(error),
              error=str(error)[:200])
    invariant("PostgreSQL restart mid-SQL-models", "every model is its old or new whole self",
              _dump(database, ("staging", "marts")) == reference, models=len(reference))
    run_project(make_engine(database), project)
    invariant("PostgreSQL restart mid-SQL-models", "a re-run gives identical tables",
              _dump(database, ("staging", "marts")) == reference, models=len(reference))
    engine.dispose()


T0 = datetime(2026, 11, 2, 1, 0)


def test_a_restart_mid_action_run_sends_nothing_twice_and_loses_nothing(server, database,
                                                                         invariant):
    engine = make_engine(database)
    ensure_schemas(engine, metadata)
    land_rows(engine, "hr_teams", [{"team_id": "W1", "name": "W1", "line_id": "WLD",
                                    "line_type": "welding", "workshop": "Hall A",
                                    "updated_at": T0}], "team_id")
    land_people(engine, [("E1", "Li Na", "W1", "team_leader"),
                         ("E2", "Zhou Jie", "W1", "qa_engineer"),
                         ("E3", "Chen Yu", "W1", "production_planner")])
    episode = f"fai-below-92-5|W1|{(T0 - timedelta(hours=2)).isoformat()}"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode, rule_id="fai-below-92-5", rule_version="t", subject="W1",
            state="firing", episode_start=T0 - timedelta(hours=2), signal_at=T0,
            detected_at=T0, fired_at=T0, value=0.8, threshold=0.925))
    rules, routing = load_rules(), load_routing()
    with WebhookReceiver("s3cret") as hook, SmtpReceiver() as smtp:
        channels = {"webhook": WebhookChannel(hook.url, "s3cret", backoff_seconds=0.01),
                    "email": EmailChannel("127.0.0.1", smtp.port, "alerts@plant1.example.com",
                                          backoff_seconds=0.01)}

        def act():
            fresh = make_engine(database)
            run_episode_actions(fresh, rules, episode, channels, routing=routing, now=T0)
            return dispatch_due(fresh, routing, channels, now=T0 + timedelta(minutes=5))

        box = _restart_while_blocked(server, database,
                                     "lock table ops.action_log in access exclusive mode", act)
        invariant("PostgreSQL restart mid-action-run", "the run fails, nothing sent",
                  "error" in box and not hook.unique() and not smtp.count_by_key(),
                  error=str(box.get("error"))[:200])
        act()  # the re-run (a retried action run) and a later dispatch round
        act()
        with engine.connect() as conn:
            logged = conn.execute(sa.select(action_log.c.action_id, action_log.c.status)
                                  ).all()
        arrivals = len(hook.unique()) + len(smtp.count_by_key())
        invariant("PostgreSQL restart mid-action-run", "every action once, none lost",
                  hook.duplicates == 0 and all(n == 1 for n in smtp.count_by_key().values())
                  and {s for _, s in logged} == {"delivered"} and arrivals >= 1,
                  actions=len(logged), arrivals=arrivals)
    engine.dispose()


def _inspection(i: int, team: str, at: datetime, result: str) -> dict:
    return {"inspection_id": f"RESTART-FAI-{team}-{i:03d}", "station_id": f"{team}-S01",
            "team_id": team, "inspected_at": at.isoformat(), "product": "P-100",
            "result": result, "defect_code": "D03-RUN" if result == "fail" else None,
            "inspector_id": "E0001"}


def test_the_daemon_recovers_by_itself_after_a_restart(server, tmp_path, monkeypatch,
                                                       invariant):
    from perf_orchestration.cli.live import start_live

    warehouse = server.create_database("live_warehouse")
    server.create_database("live_instance")
    for key, value in {"PERFFLOW_DAGSTER_PG_HOST": "127.0.0.1",
                       "PERFFLOW_DAGSTER_PG_PORT": str(server.port),
                       "PERFFLOW_DAGSTER_PG_DB": "live_instance",
                       "PERFFLOW_DAGSTER_PG_USER": "postgres",
                       "PERFFLOW_DAGSTER_PG_PASSWORD": ""}.items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "config"
    config.mkdir()
    (config / "rules.yaml").write_text(BUNDLED_RULES.read_text() + "\nwatch: {lookback_hours: 6}\n")
    with start_live(tmp_path / "live", config_dir=str(config), warehouse=warehouse,
                    instance_config=str(ROOT / "deploy" / "dagster.yaml")) as stack:
        log = stack.out_dir / "daemon.log"
        assert stack.wait_until_watching(120), log.read_text()[-3000:]
        server.restart()
        restarted = datetime.now(UTC)
        time.sleep(3)  # a few ticks against the restarted server
        sim = stack.simulator
        hour = datetime.now(sim.scenario.tz).replace(minute=0, second=0, microsecond=0)
        team = sorted({t.id for t in sim.scenario.plant.teams if t.stations})[0]
        records = [_inspection(i, team, hour - timedelta(hours=3, minutes=-5 * i),
                               "fail" if i % 2 else "pass") for i in range(10)]
        records += [_inspection(10 + i, team, hour - timedelta(hours=2, minutes=-5 * i),
                                "fail" if i % 3 else "pass") for i in range(10)]
        records.append(_inspection(99, team, hour - timedelta(minutes=50), "pass"))
        sim.add_records("mes", "first_article_inspections", records)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not stack.webhook.unique():
            time.sleep(0.5)
        time.sleep(8)  # more ticks: nothing is sent again
        alive = all(process.poll() is None for process in stack.processes)  # never restarted
        delivered = stack.webhook.unique()
        invariant("PostgreSQL restart under the daemon", "sensors tick on; the breach is "
                  "told once after the restart",
                  alive and len(delivered) == 1 and stack.webhook.duplicates == 0
                  and all(d["received_at"] > restarted for d in delivered),
                  delivered=len(delivered), log_tail=log.read_text()[-400:]
                  if not delivered else "")
