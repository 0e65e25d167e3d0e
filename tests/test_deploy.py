"""`perfflow check-instance` against the real server: ok, or one line naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from perf_orchestration.cli import main

ROOT = Path(__file__).resolve().parents[1]
PERFFLOW = str(Path(sys.executable).with_name("perfflow"))
CONFIG = str(ROOT / "deploy" / "dagster.yaml")


def _check(env: dict, *args: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PERFFLOW_")}
    full.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run([PERFFLOW, "check-instance", "--instance-config", CONFIG, *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=full)


def test_check_instance_reports_postgres_storage_and_the_run_queue(pg_instance_env, pg_url):
    proc = _check({**pg_instance_env, "PERFFLOW_WAREHOUSE_URL": pg_url})
    assert proc.returncode == 0, proc.stderr
    assert "PostgresRunStorage" in proc.stdout and "PostgresEventLogStorage" in proc.stdout
    assert "PostgresScheduleStorage" in proc.stdout
    assert "at most 4 at once" in proc.stdout and "'value': 'actions'" in proc.stdout
    assert "warehouse: ok, PostgreSQL" in proc.stdout


@pytest.mark.parametrize("change, named", [
    ({"PERFFLOW_DAGSTER_PG_PASSWORD": None}, "PERFFLOW_DAGSTER_PG_PASSWORD is not set"),
    ({"PERFFLOW_DAGSTER_PG_DB": "no_such_db_here"}, "check PERFFLOW_DAGSTER_PG_DB"),
    ({"PERFFLOW_DAGSTER_PG_USER": "no_such_role_here"},
     "check PERFFLOW_DAGSTER_PG_USER and PERFFLOW_DAGSTER_PG_PASSWORD"),
    ({"PERFFLOW_DAGSTER_PG_PORT": "1"}, "check PERFFLOW_DAGSTER_PG_HOST and "
     "PERFFLOW_DAGSTER_PG_PORT"),
    ({"PERFFLOW_WAREHOUSE_URL": "postgresql://postgres@127.0.0.1:5432/no_such_db_here"},
     "check PERFFLOW_WAREHOUSE_URL"),
    ({"PERFFLOW_WAREHOUSE_URL": None}, "PERFFLOW_WAREHOUSE_URL is not set"),
])
def test_a_wrong_or_missing_setting_is_one_line_naming_it(pg_instance_env, pg_url, change,
                                                          named, monkeypatch, capsys):
    """In process (the command's own error handling), to keep the six cases quick."""
    for key, value in {**pg_instance_env, "PERFFLOW_WAREHOUSE_URL": pg_url, **change}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    assert main(["check-instance", "--instance-config", CONFIG]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err, err


def test_demo_with_the_instance_config_but_no_settings_is_one_line(tmp_path):
    full = {k: v for k, v in os.environ.items() if not k.startswith("PERFFLOW_")}
    proc = subprocess.run([PERFFLOW, "demo", "--out", str(tmp_path), "--instance-config", CONFIG],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=full)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "perfflow demo: PERFFLOW_DAGSTER_PG_HOST is not set; dagster.yaml reads it"]
