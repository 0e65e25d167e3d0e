"""The code location loads, validates with Dagster's own command, and describes itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from perf_orchestration.definitions import defs
from perf_orchestration.ingestion.entities import ENTITIES

ROOT = Path(__file__).resolve().parents[1]


def test_every_entity_has_a_guarded_ingestion_asset():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {f"raw/{e.table}" for e in ENTITIES} <= keys
    check_keys = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for e in ENTITIES:
        assert (f"raw/{e.table}", "bad_rows_within_limit") in check_keys
        assert (f"raw/{e.table}", "required_columns_present") in check_keys


def test_assets_have_description_group_and_owner():
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, spec.key
        assert spec.group_name and spec.group_name != "default", spec.key
        assert spec.owners, spec.key


def test_jobs_exist_with_descriptions():
    for name in ("perf_flow_job", "roster_job", "workbook_intake_job"):
        job = defs.resolve_job_def(name)
        assert job.description
    for name in ("alert_episode_sensor", "workbook_intake_sensor"):
        assert defs.resolve_sensor_def(name).description


def test_the_plant_clock_runs_each_job_for_the_right_period_and_starts_stopped():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    expected = {"perf_flow_job_schedule": ("10 * * * *", "perf_flow_job"),
                "roster_daily": ("0 5 * * *", "roster_job"),
                "people_hourly": ("25 * * * *", "people_job"),
                "reports_job_schedule": ("30 6 * * *", "reports_job")}
    for name, (cron, job) in expected.items():
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.cron_schedule, schedule.job_name) == (cron, job), name
        assert schedule.execution_timezone == "Asia/Shanghai", name
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED, name
    # 09:10 plant time runs the hour 08:00-09:00 in its day; 00:10 the last hour of the day
    # before; 06:30 reports the day before
    window = ("perfflow/window_start", "perfflow/window_end")
    for name, at, key, hours in (
            ("perf_flow_job_schedule", datetime(2026, 11, 2, 9, 10, tzinfo=tz), "2026-11-02",
             ("2026-11-02T08:00:00+08:00", "2026-11-02T09:00:00+08:00")),
            ("perf_flow_job_schedule", datetime(2026, 11, 2, 0, 10, tzinfo=tz), "2026-11-01",
             ("2026-11-01T23:00:00+08:00", "2026-11-02T00:00:00+08:00")),
            ("reports_job_schedule", datetime(2026, 11, 2, 6, 30, tzinfo=tz), "2026-11-01",
             (None, None))):
        with dg.build_schedule_context(scheduled_execution_time=at,
                                       repository_def=defs.get_repository_def()) as context:
            requests = list(defs.resolve_schedule_def(name).evaluate_tick(context).run_requests)
        assert [r.partition_key for r in requests] == [key], name
        assert tuple(requests[0].tags.get(t) for t in window) == hours, name


def test_partitioned_assets_backfill_in_one_run():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.partitions_def is not None:
            assert node.backfill_policy == dg.BackfillPolicy.single_run(), key


def test_dagster_definitions_validate_passes():
    env = dict(os.environ, PERFFLOW_WAREHOUSE_URL="sqlite:////tmp/unused/warehouse.db")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate",
         "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_loading_definitions_does_not_import_great_expectations_or_pandas():
    """The code location loads in every run process and sensor tick: no heavy imports."""
    code = ("import sys, perf_orchestration.definitions; "
            "print('great_expectations' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "False False", out.stderr


def test_the_flow_runs_in_process_unless_a_backfill_asks_for_lanes():
    """An hour's run is mostly per-step cost, so it stays in one process; a backfill may run
    its steps two at a time (bench/year.py --lanes 2)."""
    job = defs.resolve_job_def("perf_flow_job")
    assert job.executor_def.name == "multi_or_in_process_executor"
    assert job.get_run_config_for_partition_key("2026-11-02") == {
        "execution": {"config": {"in_process": {}}}}
    schema = job.run_config_schema.config_type.fields["execution"].config_type
    assert {"in_process", "multiprocess"} <= set(schema.fields["config"].config_type.fields)
