"""Least privilege on PostgreSQL: connect as each role and see what it can and cannot do.

`perfflow roles apply` runs perf_orchestration/deploy/roles.sql on a database of its own,
with role names
unique to this test session (roles are cluster-wide); login roles are made members,
the pipeline lands rows and runs the SQL models as itself, then HR and the auditor
read what they may and are refused the rest. Everything is dropped at the end.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import hourly_windows, ingest
from perf_orchestration.plant_calendar import calendar_rows
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import metadata, upsert_calendar
from perf_orchestration.warehouse import ensure_schemas, make_engine

ROOT = Path(__file__).resolve().parents[1]
PERFFLOW = str(Path(sys.executable).with_name("perfflow"))
DENIED = "permission denied"
WORK_LOGS = ("crm_activities", "crm_template_usage", "mes_maintenance_log")


@pytest.fixture(scope="module")
def roles_db(pg_database):
    """A database with the roles applied, and one login per role: {role: url}."""
    name = f"{sa.make_url(pg_database).database}_roles"
    admin_url = sa.make_url(pg_database).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    logins = {"pipeline": f"{name}_etl", "hr": f"{name}_hr_user",
              "auditor": f"{name}_audit_user"}
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = admin_url.set(database=name)
    try:
        for _ in range(2):  # idempotent: the second run changes nothing and succeeds
            proc = subprocess.run([PERFFLOW, "roles", "apply", "--prefix", name, "--warehouse",
                                   url.render_as_string(hide_password=False)],
                                  capture_output=True, text=True, timeout=120, cwd=ROOT)
            assert proc.returncode == 0, proc.stderr
        with admin.connect() as conn:
            for role, login in logins.items():
                conn.execute(sa.text(f'create role "{login}" login in role "{name}_{role}"'))
            # objects the pipeline's login creates belong to the group role, so the
            # default privileges of roles.sql apply to them
            conn.execute(sa.text(f'alter role "{logins["pipeline"]}" in database "{name}" '
                                 f'set role = "{name}_pipeline"'))
        yield {role: url.set(username=login).render_as_string(hide_password=False)
               for role, login in logins.items()}
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
            for login in logins.values():
                conn.execute(sa.text(f'drop role if exists "{login}"'))
            for role in ("pipeline", "hr", "auditor"):
                conn.execute(sa.text(f'drop role if exists "{name}_{role}"'))
        admin.dispose()


def _run_pipeline(url: str) -> None:
    """Land two hours and the HR roster, and run every SQL model, as the pipeline role."""
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    scenario = load_scenario()
    start, end = scenario.start, scenario.start + timedelta(hours=2)
    with SimulatorServer(scenario, port=0) as server:
        for table in ("hr_teams", "hr_employees", "mes_production",
                      "mes_first_article_inspections", "qms_defects", *WORK_LOGS):
            entity = ENTITIES_BY_TABLE[table]
            client = SourceClient(entity.system, server.url, read_timeout=10)
            ingest(engine, client, entity,
                   hourly_windows(start, end) if entity.partitioned else None, "roles-test")
    with engine.begin() as conn:
        upsert_calendar(conn, calendar_rows(start - timedelta(days=1), end))
        conn.execute(sa.text("insert into ops.action_log (idempotency_key, episode_id, rule_id, "
                             "action_id, kind, channel, recipient_id, recipient_role, status, "
                             "subject_line, planned_at) values ('k1', 'e1', 'r1', 'a1', 'fire', "
                             "'email', 'E0001', 'team_leader', 'planned', 's', now()) "
                             "on conflict do nothing"))
    _run_models(engine, start, end)
    engine.dispose()


def _run_models(engine, start, end) -> None:
    project = load_project(ROOT / "dbt_like_sql")
    for name in project.order():
        model = project.model(name)
        window = None
        if model.materialized == "incremental" and model.config.partition_by:
            window = model_window(model.config.partition_by, start, end)
        run_model(engine, project, name, window)


def _try(url: str, sql: str) -> str:
    """'ok' or the first line of the server's refusal."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
        return "ok"
    except sa.exc.DBAPIError as exc:
        return str(exc.orig).splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def warehouse(roles_db):
    _run_pipeline(roles_db["pipeline"])
    return roles_db


def test_the_pipeline_owns_what_it_writes_and_needs_no_database_privilege(warehouse):
    url = warehouse["pipeline"]
    assert _try(url, "create schema extra") .startswith(DENIED)
    assert _try(url, "select count(*) from raw.mes_production") == "ok"
    assert _try(url, "insert into ops.tasks (task_id, episode_id, owner_id, owner_role, title, "
                "body, status, created_at, due_at) values ('t', 'e1', 'E1', 'qa', 't', 'b', "
                "'open', now(), now())") == "ok"
    # SQL models dropped and re-created by a later run stay readable (default privileges)
    engine = make_engine(url)
    start = load_scenario().start
    _run_models(engine, start, start + timedelta(hours=2))
    engine.dispose()
    assert _try(warehouse["hr"], "select * from marts.team_hourly_quality") == "ok"


def test_hr_reads_marts_but_no_raw_staging_or_ops(warehouse):
    url = warehouse["hr"]
    for table in ("team_hourly_quality", "team_daily_quality", "line_daily_quality"):
        assert _try(url, f"select * from marts.{table}") == "ok", table
    for sql in ("select name, email from raw.hr_employees",
                "select * from staging.stg_hr__employees",
                "select * from ops.action_log", "select * from ops.quarantine"):
        assert DENIED in _try(url, sql), sql
    assert DENIED in _try(url, "delete from marts.team_hourly_quality")
    assert DENIED in _try(url, "create table marts.mine (x int)")


def test_hr_reads_role_snapshots_but_not_the_work_logs_behind_them(warehouse):
    """The snapshot names behaviours; the logs name people, so HR never reads them and the
    auditor reads only their provenance columns."""
    assert _try(warehouse["hr"], "select role, behaviour, lift from marts.role_snapshots") \
        == "ok"
    for table in WORK_LOGS:
        assert _try(warehouse["pipeline"], f"select count(*) from raw.{table}") == "ok"
        assert DENIED in _try(warehouse["hr"], f"select * from raw.{table}"), table
        assert DENIED in _try(warehouse["auditor"], f"select * from raw.{table}"), table
        assert _try(warehouse["auditor"], "select source_record_id, ingestion_run_id, "
                    f"partition_key from raw.{table}") == "ok", table
    for sql in ("select owner_id, phrases from raw.crm_activities",
                "select sender_id from raw.crm_template_usage",
                "select technician_id, steps from raw.mes_maintenance_log"):
        assert DENIED in _try(warehouse["auditor"], sql), sql


def test_hr_reads_a_mart_created_after_the_roles_were_applied(warehouse):
    assert _try(warehouse["pipeline"], "create table marts.added_later as select 1 as x") == "ok"
    assert _try(warehouse["hr"], "select x from marts.added_later") == "ok"
    assert _try(warehouse["auditor"], "select x from marts.added_later") == "ok"


def test_auditor_reads_ops_marts_and_raw_provenance_but_no_personal_data(warehouse):
    url = warehouse["auditor"]
    for sql in ("select * from ops.alert_episodes", "select * from ops.alert_transitions",
                "select * from ops.action_log", "select * from ops.ingestion_log",
                "select entity, source_record_id, failed_expectation, reason, run_id "
                "from ops.quarantine",
                "select * from marts.team_daily_quality",
                "select source_system, source_record_id, ingestion_run_id, ingested_at, "
                "partition_key from raw.hr_employees",
                "select source_record_id, ingestion_run_id from raw.mes_production"):
        assert _try(url, sql) == "ok", sql
    for sql in ("select name from raw.hr_employees", "select email from raw.hr_employees",
                "select * from raw.mes_production", "select payload from ops.quarantine",
                "select * from staging.stg_hr__employees"):
        assert DENIED in _try(url, sql), sql
    for sql in ("insert into ops.alert_state (rule_id, subject, state, last_window_end, "
                "updated_at) values ('r', 's', '{}', now(), now())",
                "delete from ops.action_log", "update raw.mes_production set team_id = 'x'"):
        assert DENIED in _try(url, sql), sql


def test_roles_apply_on_a_bad_url_is_one_line():
    proc = subprocess.run([PERFFLOW, "roles", "apply", "--warehouse",
                           "postgresql://nobody_at_all@127.0.0.1:5432/postgres"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert 'role "nobody_at_all" does not exist' in proc.stderr and "--warehouse" in proc.stderr
