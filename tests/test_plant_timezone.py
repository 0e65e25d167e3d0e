"""The plant's time zone is a setting, and a day the clocks go back has 25 hours everywhere:
in Dagster's hourly partitions, the calendar, the model windows and the marts."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa
from _plant_flow import foreign_names, run_flow, unbalanced_windows

from perf_orchestration.ingestion.landing import hourly_windows
from perf_orchestration.plant_calendar import (
    TIMEZONE_ENV,
    TimezoneSettingError,
    calendar_rows,
    day_bounds,
    partition_key,
    period_end,
    plant_timezone,
)
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.warehouse import make_engine

ROOT = Path(__file__).resolve().parents[1]
BERLIN = "Europe/Berlin"
FALL_BACK = date(2026, 10, 25)  # the last Sunday of October 2026
SPRING_FORWARD = date(2026, 3, 29)


def _day_keys_of_dagster(day: date) -> list[str]:
    parts = dg.HourlyPartitionsDefinition(start_date=f"{day - timedelta(days=1)}-00:00",
                                          end_date=f"{day + timedelta(days=2)}-00:00",
                                          timezone=BERLIN)
    return [k for k in parts.get_partition_keys() if k.startswith(day.isoformat())]


@pytest.mark.parametrize(("day", "hours"), [(FALL_BACK, 25), (SPRING_FORWARD, 23)])
def test_the_calendar_keys_a_dst_day_as_dagster_does(day, hours):
    start, end = (t.replace(tzinfo=ZoneInfo("UTC")) for t in day_bounds(day, BERLIN))
    rows = calendar_rows(start, end, BERLIN)
    keys = [r["partition_key"] for r in rows]
    assert len(rows) == len(set(keys)) == hours
    assert keys == _day_keys_of_dagster(day)
    assert {r["local_date"] for r in rows} == {day.isoformat()}
    assert [w.partition_key for w in hourly_windows(start, end, BERLIN)] == keys
    assert all(r["hour_end"] - r["hour_start"] == timedelta(hours=1) for r in rows)
    assert period_end("day_start", rows[0]["day_start"], BERLIN) - rows[0]["day_start"] == \
        timedelta(hours=hours)


def test_the_repeated_hour_is_keyed_with_its_offset_and_belongs_to_the_night_shift():
    second = datetime(2026, 10, 25, 1, 0, tzinfo=ZoneInfo("UTC"))  # 02:00 CET, the 2nd time
    assert partition_key(second, BERLIN) == "2026-10-25-02:00+0100"
    assert partition_key(second - timedelta(hours=1), BERLIN) == "2026-10-25-02:00"
    rows = calendar_rows(second - timedelta(hours=1), second + timedelta(hours=1), BERLIN)
    assert [r["shift"] for r in rows] == ["night", "night"]
    assert rows[0]["shift_start"] == rows[1]["shift_start"] == datetime(2026, 10, 24, 18, 0)
    # the night shift that holds the extra hour lasts 13 hours
    night = rows[0]["shift_start"]
    assert period_end("shift_start", night, BERLIN) - night == timedelta(hours=13)


def test_a_daily_model_window_covers_all_25_hours():
    tz = ZoneInfo(BERLIN)
    start, end = model_window("day_start", datetime(2026, 10, 25, 23, tzinfo=tz),
                              datetime(2026, 10, 26, 0, tzinfo=tz), BERLIN)
    assert end - start == timedelta(hours=25)


def test_the_zone_comes_from_the_setting(monkeypatch):
    monkeypatch.delenv(TIMEZONE_ENV, raising=False)
    assert plant_timezone() == "Asia/Shanghai"
    monkeypatch.setenv(TIMEZONE_ENV, BERLIN)
    assert plant_timezone() == BERLIN
    assert calendar_rows(datetime(2026, 7, 1, 10, tzinfo=ZoneInfo("UTC")),
                         datetime(2026, 7, 1, 11, tzinfo=ZoneInfo("UTC")))[0][
        "partition_key"] == "2026-07-01-12:00"
    monkeypatch.setenv(TIMEZONE_ENV, "Mars/Olympus")
    with pytest.raises(TimezoneSettingError, match="PERFFLOW_PLANT_TIMEZONE='Mars/Olympus'"):
        plant_timezone()


def test_the_definitions_load_their_partitions_in_the_configured_zone():
    code = ("from perf_orchestration.definitions import defs; "
            "job = defs.resolve_job_def('perf_flow_job'); "
            "print(job.partitions_def.timezone, defs.resolve_schedule_def("
            "'roster_daily').execution_timezone)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), TIMEZONE_ENV: BERLIN}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    assert proc.stdout.split() == [BERLIN, BERLIN], proc.stderr[-2000:]
    env[TIMEZONE_ENV] = "Nowhere/City"
    proc = subprocess.run([str(Path(sys.executable).with_name("perfflow")), "validate"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "PERFFLOW_PLANT_TIMEZONE='Nowhere/City' is not an IANA time zone" in proc.stderr


def test_a_25_hour_day_gives_25_hourly_rows_per_team_and_one_daily_row(tmp_path, monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, BERLIN)
    base = load_scenario().model_dump()
    base.update(name="berlin-fall-back", timezone=BERLIN, start="2026-10-25T00:00:00",
                hours=25, incidents=[], plant={"name": "Werk Berlin", "teams": [
                    {"id": "SW1", "name": "Schweißen", "line_id": "SW", "line_type": "welding",
                     "workshop": "Rohbau", "stations": 2, "headcount": 20},
                    {"id": "LA1", "name": "Lackierung", "line_id": "LA",
                     "line_type": "painting", "workshop": "Lackiererei", "stations": 1,
                     "headcount": 12}]})
    scenario = type(load_scenario()).model_validate(base)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    result = run_flow(scenario, url)
    assert unbalanced_windows(result) == []
    assert len(result.ingested["mes_production"].partitions) == 25
    assert foreign_names(url, scenario) == []
    engine = make_engine(url)
    with engine.connect() as conn:
        hourly = conn.execute(sa.text(
            "select team_id, count(*), count(distinct partition_key), sum(total_count) "
            "from marts.team_hourly_quality where local_date = '2026-10-25' "
            "group by team_id order by team_id")).all()
        daily = conn.execute(sa.text(
            "select team_id, count(*), sum(team_hour_count), sum(total_count) "
            "from marts.team_daily_quality where local_date = '2026-10-25' "
            "group by team_id order by team_id")).all()
        calendar = conn.execute(sa.text(
            "select count(*) from staging.plant_calendar where local_date = '2026-10-25'")
        ).scalar()
    engine.dispose()
    assert calendar == 25
    assert [(t, n, k) for t, n, k, _ in hourly] == [("LA1", 25, 25), ("SW1", 25, 25)]
    assert [(t, n, h) for t, n, h, _ in daily] == [("LA1", 1, 25), ("SW1", 1, 25)]
    assert [o for *_, o in daily] == [o for *_, o in hourly]


def test_a_time_inside_an_hour_is_keyed_by_its_local_hour_in_a_half_hour_zone():
    at = datetime(2026, 11, 2, 4, 45, tzinfo=ZoneInfo("UTC"))  # 10:15 in Kolkata (+05:30)
    assert partition_key(at, "Asia/Kolkata") == "2026-11-02-10:00"
    assert partition_key(at, BERLIN) == "2026-11-02-05:00"
