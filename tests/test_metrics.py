"""The SQL models of dbt_like_sql/ on hand-computed cases, on both databases, in windows.

Hand cases land a few rows straight into the raw tables (one plant day, 2026-11-02,
Asia/Shanghai, UTC+8), run the whole model DAG and compare with numbers worked out
below. The default scenario's day then checks that SQLite and PostgreSQL give the same
rows, that hourly windowed runs give what a full refresh gives, and that every ratio
in every mart is its numerator over its denominator.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.entities import ENTITIES, ENTITIES_BY_TABLE
from perf_orchestration.metrics.library import METRICS, METRICS_BY_NAME
from perf_orchestration.metrics.lines import LineConfig, load_line_config
from perf_orchestration.plant_calendar import calendar_row, calendar_rows, plant_timezone
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import generate_dataset
from perf_orchestration.sqlmodels import load_project, run_model, run_project, run_tests
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import RAW_TABLES, SNAPSHOT_PARTITION, metadata, upsert_calendar
from perf_orchestration.warehouse import ensure_schemas, make_engine

ROOT = Path(__file__).resolve().parents[1] / "dbt_like_sql"
TZ = ZoneInfo(plant_timezone())
LANDED_AT = datetime(2026, 11, 3, 12)
NO_PRODUCTION = ("no planned production time; no run time; no output; no inspections; "
                 "no checks due; no changeovers")


@pytest.fixture(scope="module")
def project():
    return load_project(ROOT)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A local plant time on November `day` 2026, as the warehouse stores it (naive UTC)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ).astimezone(UTC).replace(tzinfo=None)


def norm(value: object) -> object:
    """One comparable form for what the two databases return."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[13] == ":":
        return value[:19]  # SQLite keeps timestamps as text, with microseconds
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    return value


def query(engine: sa.Engine, sql: str, **params: object) -> list[dict]:
    with engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        return [{k: norm(v) for k, v in row._mapping.items()} for row in result]


def one(engine: sa.Engine, sql: str, **params: object) -> dict:
    rows = query(engine, sql, **params)
    assert len(rows) == 1, rows
    return rows[0]


def raw_row(table: str, values: dict) -> dict:
    """A raw landing: the entity's columns plus provenance, filed under the event's hour."""
    entity = ENTITIES_BY_TABLE[table]
    row = {c: values.get(c) for c in entity.column_names}
    if entity.event_time:
        key = calendar_row(row[entity.event_time].replace(tzinfo=UTC))["partition_key"]
        row["updated_at"] = row["updated_at"] or row[entity.event_time]
    else:
        key = SNAPSHOT_PARTITION
        row["updated_at"] = row["updated_at"] or local(1, 0)
    return {**row, "source_system": entity.system, "source_record_id": str(row[entity.id_column]),
            "ingestion_run_id": "test", "ingested_at": LANDED_AT, "partition_key": key}


def land(engine: sa.Engine, rows: dict[str, list[dict]], calendar: list[dict]) -> None:
    ensure_schemas(engine, metadata)
    with engine.begin() as conn:
        upsert_calendar(conn, calendar)
        for table, values in rows.items():
            if values:
                conn.execute(RAW_TABLES[table].insert(), [raw_row(table, v) for v in values])


# --- the hand-computed plant day -------------------------------------------------------------

def _production(station: str, team: str, hour: datetime, planned: float, run: float,
                total: int, good: int, rework: int = 0, scrap: int = 0, cycle: float = 45.0):
    return {"production_id": f"{station}-{hour:%d%H}", "station_id": station, "team_id": team,
            "hour_start": hour, "planned_minutes": planned, "run_minutes": run,
            "total_count": total, "good_count": good, "rework_count": rework,
            "scrap_count": scrap, "ideal_cycle_seconds": cycle}


def _employee(emp: str, team: str, shift: str, role: str = "operator",
              hired: datetime = datetime(2020, 1, 1)):
    return {"employee_id": emp, "name": emp, "team_id": team, "role": role, "shift": shift,
            "email": f"{emp.lower()}@plant.example.com", "hired_at": hired}


def _event(event: str, device: str, station: str, at: datetime, kind: str):
    return {"event_id": event, "device_id": device, "device_type": "welding_robot",
            "station_id": station, "team_id": "T1", "occurred_at": at, "event_type": kind,
            "state": {"failure": "down"}.get(kind, "running"),
            "failure_code": "F04-WIRE-FEED" if kind == "failure" else None}


def _reading(mid: str, team: str, at: datetime, parameter: str, value: float,
             limit: float | None = None):
    return {"measurement_id": mid, "station_id": f"{team}-S01", "team_id": team,
            "measured_at": at, "parameter": parameter, "value": value, "upper_limit": limit}


def _fai(n: int, at: datetime, result: str):
    return {"inspection_id": f"FAI-{n}", "station_id": "T1-S01", "team_id": "T1",
            "inspected_at": at, "product": "P-1", "result": result,
            "defect_code": "D01-POROSITY" if result == "fail" else None, "inspector_id": "E1"}


def _order(wo: str, released: datetime, closed: datetime | None):
    return {"work_order_id": wo, "team_id": "T1", "product": "P-1", "quantity": 10,
            "released_at": released, "closed_at": closed,
            "status": "closed" if closed else "in_progress"}


def _stage(opp: str, stage: str, at: datetime):
    return {"change_id": f"{opp}:{stage}", "opportunity_id": opp, "account_id": "ACC-1",
            "owner_id": "E5", "stage": stage, "amount": 1000.0, "channel": "direct",
            "changed_at": at}


def _ticket(ticket: str, opened: datetime, resolved: datetime | None):
    return {"ticket_id": ticket, "account_id": "ACC-1", "opened_at": opened,
            "resolved_at": resolved, "priority": "low", "category": "delivery",
            "subject": "late delivery of order"}


HAND_ROWS: dict[str, list[dict]] = {
    "hr_teams": [
        {"team_id": t, "name": n, "line_id": line, "line_type": lt, "workshop": "W"}
        for t, n, line, lt in [("T1", "Welding A", "WLD", "welding"),
                               ("T2", "Welding B", "WLD", "welding"),
                               ("T3", "Painting", "PNT", "painting"),
                               ("TC1", "Quality Lab", "TC", "technical_centre")]],
    "hr_employees": [
        _employee("E1", "T1", "day"), _employee("E2", "T1", "day"),
        _employee("E3", "T1", "night"),
        _employee("E4", "T1", "day", "team_leader", hired=local(2, 12)),
        _employee("E5", "T1", "office", "account_manager"), _employee("E6", "T2", "night")],
    "mes_production": [
        # 09:00: planned 120, run 90, 100 units (94 good, 4 rework, 2 scrap), ideal 75 min
        _production("T1-S01", "T1", local(2, 9), 60, 50, 60, 54, rework=4, scrap=2),
        _production("T1-S02", "T1", local(2, 9), 60, 40, 40, 40),
        # 10:00: a bad hour, half the units reworked
        _production("T1-S01", "T1", local(2, 10), 60, 60, 10, 5, rework=5),
        # 11:00: no rows at all; 12:00: a planned stop reported as zeros
        _production("T1-S01", "T1", local(2, 12), 0, 0, 0, 0),
        # the night shift of Nov 2 runs past local midnight
        _production("T1-S01", "T1", local(2, 22), 60, 60, 80, 80),
        _production("T1-S01", "T1", local(2, 23), 60, 60, 80, 80),
        _production("T1-S01", "T1", local(3, 0), 60, 60, 80, 80),
        # the painting team (60 s cycle), nobody on its roster
        _production("T3-S01", "T3", local(2, 9), 60, 60, 60, 60, cycle=60.0),
    ],
    "mes_first_article_inspections": [
        _fai(1, local(2, 9, 5), "pass"), _fai(2, local(2, 9, 20), "pass"),
        _fai(3, local(2, 9, 35), "fail"), _fai(4, local(2, 9, 50), "pass"),
        _fai(5, local(2, 10, 5), "pass"), _fai(6, local(2, 10, 35), "pass")],
    "mes_equipment_checks": [
        {"check_id": "CHK-1", "device_id": "T1-D01", "team_id": "T1", "due_at": local(2, 8, 30),
         "completed_at": local(2, 8, 40), "status": "completed", "result": "ok"},
        {"check_id": "CHK-2", "device_id": "T1-D02", "team_id": "T1", "due_at": local(2, 8, 30),
         "completed_at": None, "status": "missed", "result": None}],
    "mes_changeovers": [
        {"changeover_id": "CO-1", "station_id": "T1-S01", "team_id": "T1",
         "started_at": local(2, 9, 15), "from_product": "P-1", "to_product": "P-2",
         "standard_minutes": 20.0, "actual_minutes": 30.0},
        {"changeover_id": "CO-2", "station_id": "T1-S02", "team_id": "T1",
         "started_at": local(2, 10, 15), "from_product": "P-2", "to_product": "P-1",
         "standard_minutes": 20.0, "actual_minutes": 15.0}],
    "mes_equipment_events": [
        _event("EV-1", "T1-D01", "T1-S01", local(2, 0), "state_change"),
        _event("EV-2", "T1-D01", "T1-S01", local(2, 9, 10), "failure"),
        _event("EV-3", "T1-D01", "T1-S01", local(2, 9, 50), "repair"),
        _event("EV-4", "T1-D01", "T1-S01", local(2, 23, 50), "failure"),
        _event("EV-5", "T1-D01", "T1-S01", local(3, 0, 20), "repair"),
        _event("EV-6", "T1-D02", "T1-S02", local(2, 0), "state_change"),
        _event("EV-7", "T1-D02", "T1-S02", local(2, 10, 20), "failure")],
    "mes_process_measurements": [
        _reading("PM-1", "T1", local(2, 9, 10), "weld_strength_kn", 10.0),
        _reading("PM-2", "T1", local(2, 9, 40), "weld_strength_kn", 12.0),
        _reading("PM-3", "T1", local(2, 10, 10), "weld_strength_kn", 14.0),
        *[_reading(f"PM-V{i}", "T3", at, "voc_mg_m3", v, 50.0) for i, (at, v) in enumerate(
            [(local(2, 9, 5), 40.0), (local(2, 9, 20), 55.0), (local(2, 9, 35), 45.0),
             (local(2, 9, 50), 60.0), (local(2, 10, 5), 30.0), (local(2, 10, 35), 52.0)])]],
    "qms_defects": [
        {"defect_id": "DEF-1", "station_id": "T1-S01", "team_id": "T1",
         "detected_at": local(2, 9, 30), "defect_code": "D01-POROSITY", "quantity": 4,
         "severity": "minor", "disposition": "rework"}],
    "erp_work_orders": [
        _order("WO-1", local(2, 9), local(2, 12, 30)),      # 3.5 h, closed Nov 2
        _order("WO-2", local(2, 10), local(2, 11, 15)),     # 1.25 h, closed Nov 2
        _order("WO-3", local(2, 11), None),                 # open
        _order("WO-4", local(2, 20), local(3, 2))],         # 6 h, closed Nov 3
    "crm_opportunities": [
        _stage("O1", "lead", local(2, 9)), _stage("O1", "qualified", local(2, 10)),
        _stage("O1", "proposal", local(2, 11)),
        _stage("O2", "lead", local(2, 9, 30)), _stage("O2", "qualified", local(2, 13)),
        _stage("O2", "lost", local(2, 14)),
        _stage("O3", "lead", local(2, 23, 30)),
        _stage("O4", "lead", local(3, 0, 30)), _stage("O4", "qualified", local(3, 1))],
    "crm_renewals": [
        {"renewal_id": "REN-1", "account_id": "ACC-1042", "contract_id": "C-1",
         "owner_id": "E5", "closed_at": local(2, 15, 20), "amount": 1000.0, "status": "won"},
        {"renewal_id": "REN-2", "account_id": "ACC-1043", "contract_id": "C-2",
         "owner_id": "E5", "closed_at": local(2, 16), "amount": 500.0, "status": "lost"}],
    "crm_service_tickets": [
        _ticket("TCK-1", local(2, 9), local(2, 11, 30)),     # 2.5 h
        _ticket("TCK-2", local(2, 10), local(2, 10, 45)),    # 0.75 h
        _ticket("TCK-3", local(2, 22), local(3, 1)),         # 3 h, resolved Nov 3
        _ticket("TCK-4", local(2, 23), None)],
}
# Local Nov 2 00:00 to Nov 3 08:00: the end of Nov 2's night shift.
HAND_CALENDAR = calendar_rows(datetime(2026, 11, 2, tzinfo=TZ), datetime(2026, 11, 3, 8, tzinfo=TZ))


@pytest.fixture
def hand(warehouse_url, project):
    """The hand-computed day landed and every model run, on SQLite and on PostgreSQL."""
    engine = make_engine(warehouse_url)
    land(engine, HAND_ROWS, HAND_CALENDAR)
    run_project(engine, project)
    yield engine
    engine.dispose()


def hourly(engine: sa.Engine, team: str, key: str) -> dict:
    return one(engine, "select * from marts.team_hourly_quality "
               "where team_id = :t and partition_key = :k", t=team, k=key)


def test_an_hour_without_production_is_null_with_a_reason_not_zero(hand):
    for key in ("2026-11-02-11:00", "2026-11-02-12:00"):  # no rows; a row of zeros
        row = hourly(hand, "T1", key)
        assert (row["planned_minutes"], row["total_count"]) == (0, 0)
        for ratio in ("availability", "performance", "quality_ratio", "oee", "first_pass_yield",
                      "rework_ratio", "scrap_ratio", "downtime_rate", "output_per_head",
                      "first_article_pass_rate", "changeover_deviation"):
            assert row[ratio] is None, (key, ratio)
        assert row["null_reason"] == NO_PRODUCTION
    assert hourly(hand, "T1", "2026-11-02-12:00")["headcount_on_shift"] == 3  # E4 from 12:00
    # every calendar hour of every production team has a row; TC1 has none
    counts = query(hand, "select team_id, count(*) as n from marts.team_hourly_quality "
                   "group by team_id order by team_id")
    assert counts == [{"team_id": t, "n": 32} for t in ("T1", "T2", "T3")]
    t3 = hourly(hand, "T3", "2026-11-02-09:00")
    assert t3["first_pass_yield"] == 1.0 and t3["output_per_head"] is None
    assert "no one on shift" in t3["null_reason"]


def test_an_hour_of_production_has_every_quantity_and_ratio(hand):
    row = hourly(hand, "T1", "2026-11-02-09:00")
    assert {k: row[k] for k in (
        "line_id", "local_date", "local_hour", "shift", "shift_date", "hour_start",
        "planned_minutes", "run_minutes", "downtime_minutes", "ideal_minutes",
        "good_ideal_minutes", "total_count", "good_count", "rework_count", "scrap_count",
        "fai_total", "fai_passed", "changeover_count", "changeover_standard_minutes",
        "changeover_actual_minutes", "changeover_excess_minutes", "headcount_on_shift",
        "source_partition")} == {
        "line_id": "WLD", "local_date": "2026-11-02", "local_hour": 9, "shift": "day",
        "shift_date": "2026-11-02", "hour_start": "2026-11-02 01:00:00",
        "planned_minutes": 120, "run_minutes": 90, "downtime_minutes": 30, "ideal_minutes": 75,
        "good_ideal_minutes": 70.5, "total_count": 100, "good_count": 94, "rework_count": 4,
        "scrap_count": 2, "fai_total": 4, "fai_passed": 3, "changeover_count": 1,
        "changeover_standard_minutes": 20, "changeover_actual_minutes": 30,
        "changeover_excess_minutes": 10, "headcount_on_shift": 2,
        "source_partition": "2026-11-02-09:00"}
    expected = {"availability": 0.75, "performance": 75 / 90, "quality_ratio": 0.94,
                "oee": 70.5 / 120, "first_pass_yield": 0.94, "rework_ratio": 0.04,
                "scrap_ratio": 0.02, "downtime_rate": 0.25, "setup_ratio": 30 / 90,
                "output_per_head": 47.0, "first_article_pass_rate": 0.75,
                "changeover_deviation": 0.5}
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12), name
    assert row["oee"] == pytest.approx(
        row["availability"] * row["performance"] * row["quality_ratio"], rel=1e-12)
    assert row["null_reason"] == "no checks due"
    assert "raw.mes_production" in row["source_tables"].split(",")
    # the drill-down: team_id + partition_key reach the raw rows
    raw = one(hand, "select count(*) as n, sum(total_count) as units from raw.mes_production "
              "where team_id = :t and partition_key = :k", t="T1", k=row["source_partition"])
    assert (raw["n"], raw["units"]) == (2, 100)
    checks = hourly(hand, "T1", "2026-11-02-08:00")
    assert (checks["checks_due"], checks["checks_completed"],
            checks["equipment_check_completion"]) == (2, 1, 0.5)


def test_the_day_is_a_ratio_of_sums_not_the_mean_of_its_hours(hand):
    day = one(hand, "select * from marts.team_daily_quality "
              "where team_id = 'T1' and local_date = '2026-11-02'")
    # hours 09, 10, 12 (zeros), 22, 23: 270 units, 259 good
    assert (day["total_count"], day["good_count"], day["rework_count"]) == (270, 259, 9)
    assert day["first_pass_yield"] == pytest.approx(259 / 270, rel=1e-12)
    hours = [r["first_pass_yield"] for r in query(
        hand, "select first_pass_yield from marts.team_hourly_quality where team_id = 'T1' "
        "and local_date = '2026-11-02' and first_pass_yield is not null")]
    assert sorted(hours) == pytest.approx([0.5, 0.94, 1.0, 1.0])
    assert sum(hours) / len(hours) == pytest.approx(0.86)  # not the day's 0.959
    assert day["first_article_pass_rate"] == pytest.approx(5 / 6, rel=1e-12)
    assert day["changeover_deviation"] == pytest.approx(5 / 40, rel=1e-12)
    assert day["oee"] == pytest.approx((70.5 + 3.75 + 120) / 300, rel=1e-12)
    assert day["team_hour_count"] == 24 and day["null_reason"] is None
    # per hour the roster people on shift: 12 day hours x 2, E4 from 12:00 to 20:00 (8),
    # 8 + 4 night hours x 1 (E3)
    assert day["person_hours_on_shift"] == 24 + 8 + 12
    line = one(hand, "select * from marts.line_daily_quality "
               "where line_id = 'WLD' and local_date = '2026-11-02'")
    assert (line["team_count"], line["team_hour_count"], line["total_count"]) == (2, 48, 270)
    plant = one(hand, "select * from marts.plant_daily_quality where local_date = '2026-11-02'")
    assert (plant["team_count"], plant["line_count"]) == (3, 2)
    assert plant["first_pass_yield"] == pytest.approx((259 + 60) / (270 + 60), rel=1e-12)
    week = one(hand, "select * from marts.team_weekly_quality where team_id = 'T1'")
    assert (week["iso_week"], week["total_count"], week["team_hour_count"]) == (
        "2026-W45", 350, 32)


def test_a_night_shift_crossing_midnight_is_one_shift(hand):
    after_midnight = hourly(hand, "T1", "2026-11-03-00:00")
    assert (after_midnight["local_date"], after_midnight["shift"],
            after_midnight["shift_date"], after_midnight["headcount_on_shift"]) == (
        "2026-11-03", "night", "2026-11-02", 1)
    shift = one(hand, "select * from marts.team_shift_quality "
                "where team_id = 'T1' and shift_date = '2026-11-02' and shift = 'night'")
    # 20:00 Nov 2 .. 08:00 Nov 3 local: 22:00, 23:00 and 00:00 produced
    assert (shift["team_hour_count"], shift["planned_minutes"], shift["total_count"],
            shift["shift_start"], shift["person_hours_on_shift"]) == (
        12, 180, 240, "2026-11-02 12:00:00", 12)
    assert shift["availability"] == 1.0
    shifts = query(hand, "select shift_date, shift, team_hour_count from marts.team_shift_quality "
                   "where team_id = 'T1' order by shift_start")
    assert shifts == [
        {"shift_date": "2026-11-01", "shift": "night", "team_hour_count": 8},
        {"shift_date": "2026-11-02", "shift": "day", "team_hour_count": 12},
        {"shift_date": "2026-11-02", "shift": "night", "team_hour_count": 12}]
    next_day = one(hand, "select total_count, team_hour_count from marts.team_daily_quality "
                   "where team_id = 'T1' and local_date = '2026-11-03'")
    assert next_day == {"total_count": 80, "team_hour_count": 8}


def test_mtbf_and_mttr(hand):
    rows = {(r["device_id"], r["local_date"]): r for r in query(
        hand, "select * from marts.device_daily_reliability")}
    d01 = rows[("T1-D01", "2026-11-02")]
    # failures 09:10 -> 09:50 (40 min) and 23:50 -> 00:20 next day (30 min, on Nov 2);
    # station T1-S01 planned 60 + 60 + 0 + 60 + 60 minutes on Nov 2
    assert {k: d01[k] for k in ("failures", "repaired_failures", "repair_minutes",
                                "planned_minutes", "operating_minutes", "mtbf_minutes",
                                "mttr_minutes", "null_reason", "line_id")} == {
        "failures": 2, "repaired_failures": 2, "repair_minutes": 70, "planned_minutes": 240,
        "operating_minutes": 170, "mtbf_minutes": 85, "mttr_minutes": 35, "null_reason": None,
        "line_id": "WLD"}
    d02 = rows[("T1-D02", "2026-11-02")]  # failed at 10:20, no repair yet
    assert (d02["failures"], d02["open_failures"], d02["mtbf_minutes"], d02["mttr_minutes"],
            d02["null_reason"]) == (1, 1, 60, None, "no repaired failures")
    quiet = rows[("T1-D01", "2026-11-03")]
    assert (quiet["failures"], quiet["planned_minutes"], quiet["mtbf_minutes"],
            quiet["mttr_minutes"], quiet["null_reason"]) == (0, 60, None, None, "no failures")


def test_weld_strength_cv_and_voc_over_limit_frequency(hand):
    weld = one(hand, "select * from marts.line_process_quality where team_id = 'T1'")
    # 10, 12, 14 kN: mean 12, sample standard deviation 2
    assert (weld["parameter"], weld["reading_count"], weld["line_id"]) == (
        "weld_strength_kn", 3, "WLD")
    assert weld["value_mean"] == pytest.approx(12, rel=1e-12)
    assert weld["value_stddev"] == pytest.approx(2, rel=1e-12)
    assert weld["value_cv"] == pytest.approx(1 / 6, rel=1e-12)
    assert (weld["over_limit_per_hour"], weld["null_reason"]) == (None, "no upper limit")
    voc = one(hand, "select * from marts.line_process_quality where team_id = 'T3'")
    # 55 and 60 over 50 at 09:00, 52 at 10:00: 3 over-limit readings in 2 hours, of 6
    assert (voc["over_limit_count"], voc["limited_hour_count"], voc["limited_reading_count"],
            voc["over_limit_per_hour"], voc["over_limit_share"], voc["null_reason"]) == (
        3, 2, 6, 1.5, 0.5, None)


def test_work_order_closure_and_the_crm_days(hand):
    orders = {(r["team_id"], r["local_date"]): r for r in query(
        hand, "select * from marts.work_order_closure_daily")}
    nov2 = orders[("T1", "2026-11-02")]
    assert (nov2["released_orders"], nov2["closed_orders"], nov2["open_orders"]) == (4, 2, 2)
    assert nov2["closure_hours_total"] == pytest.approx(3.5 + 1.25, rel=1e-12)
    assert nov2["avg_closure_hours"] == pytest.approx(2.375, rel=1e-12)
    nov3 = orders[("T1", "2026-11-03")]
    assert (nov3["closed_orders"], nov3["avg_closure_hours"], nov3["open_orders"]) == (
        1, pytest.approx(6.0, rel=1e-12), 1)
    idle = orders[("T2", "2026-11-02")]
    assert (idle["closed_orders"], idle["avg_closure_hours"], idle["null_reason"]) == (
        0, None, "no closed orders")

    funnel = {r["stage"]: r for r in query(
        hand, "select * from marts.sales_funnel_daily where local_date = '2026-11-02'")}
    assert {s: (r["reached_count"], r["previous_stage_reached_count"],
                r["conversion_from_previous"], r["null_reason"]) for s, r in funnel.items()} == {
        "lead": (3, None, None, "no previous stage"),
        "qualified": (2, 3, pytest.approx(2 / 3, rel=1e-12), None),
        "proposal": (1, 2, 0.5, None),
        "negotiation": (0, 1, 0.0, None),
        "won": (0, 0, None, "previous stage not reached"),
        "lost": (1, None, None, "no previous stage")}

    renewals = query(hand, "select local_date, renewal_count, won_count, won_amount, "
                     "renewal_amount, win_rate, null_reason from marts.renewals_daily "
                     "order by local_date")
    assert renewals == [
        {"local_date": "2026-11-02", "renewal_count": 2, "won_count": 1, "won_amount": 1000,
         "renewal_amount": 1500, "win_rate": 0.5, "null_reason": None},
        {"local_date": "2026-11-03", "renewal_count": 0, "won_count": 0, "won_amount": 0,
         "renewal_amount": 0, "win_rate": None, "null_reason": "no renewals"}]

    tickets = {r["local_date"]: r for r in query(
        hand, "select * from marts.service_ticket_resolution_daily")}
    assert (tickets["2026-11-02"]["opened_tickets"], tickets["2026-11-02"]["resolved_tickets"],
            tickets["2026-11-02"]["open_tickets"]) == (4, 2, 2)
    assert tickets["2026-11-02"]["avg_resolution_hours"] == pytest.approx(1.625, rel=1e-12)
    assert (tickets["2026-11-03"]["resolved_tickets"], tickets["2026-11-03"]["open_tickets"],
            tickets["2026-11-03"]["avg_resolution_hours"]) == (1, 1, pytest.approx(3.0))


# --- the default scenario's day --------------------------------------------------------------

def _value(kind: str, value: object) -> object:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(str(value)).astimezone(UTC).replace(tzinfo=None)
    return {"float": float, "int": int, "str": str}[kind](value)


@pytest.fixture(scope="module")
def default_day() -> tuple[dict[str, list[dict]], list[dict]]:
    """The default scenario's records (without rows a data fault touched), typed for raw."""
    scenario = load_scenario()
    data = generate_dataset(scenario)
    rows = {e.table: [{c.name: _value(c.type, r.get(c.name)) for c in e.columns}
                      for r in data.clean_records(e.table)] for e in ENTITIES}
    return rows, calendar_rows(scenario.start, scenario.end)


def snapshot(engine: sa.Engine, project) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every model's columns and rows, sorted by their text columns (unique per row)."""
    out = {}
    for name in project.order():
        model = project.model(name)
        with engine.connect() as conn:
            result = conn.execute(sa.text(f"select * from {model.relation}"))
            columns = list(result.keys())
            rows = [tuple(norm(v) for v in row) for row in result]
        rows.sort(key=lambda r: tuple(v for v in r if isinstance(v, str)))
        out[name] = (columns, rows)
    return out


def assert_same(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for name in left:
        (lcols, lrows), (rcols, rrows) = left[name], right[name]
        assert lcols == rcols, name
        assert len(lrows) == len(rrows), name
        for lrow, rrow in zip(lrows, rrows, strict=True):
            for column, a, b in zip(lcols, lrow, rrow, strict=True):
                same = (math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
                        if isinstance(a, float) and isinstance(b, float) else a == b)
                assert same, (name, column, lrow, rrow)


def test_sqlite_and_postgres_give_identical_marts(sqlite_url, pg_url, project, default_day):
    rows, calendar = default_day
    snapshots = []
    for url in (sqlite_url, pg_url):
        engine = make_engine(url)
        land(engine, rows, calendar)
        run_project(engine, project)
        failing = [t for name in project.order() for t in run_tests(engine, project, name)
                   if not t.passed]
        assert failing == []
        snapshots.append(snapshot(engine, project))
        engine.dispose()
    sqlite, postgres = snapshots
    assert_same(sqlite, postgres)
    for name, (columns, _) in sqlite.items():  # the ymls document what the models return
        documented = [c.name for c in project.model(name).columns]
        if project.model(name).schema == "marts":
            assert documented == columns, name
        else:
            assert set(documented) <= set(columns), name
    marts = {n: v for n, v in sqlite.items() if project.model(n).schema == "marts"}
    assert all(rows for _, rows in marts.values()), [n for n, (_, r) in marts.items() if not r]
    assert len(marts["team_hourly_quality"][1]) == 7 * 24
    _assert_ratios_are_numerator_over_denominator(marts)


def _assert_ratios_are_numerator_over_denominator(marts: dict) -> None:
    for m in METRICS:
        if m.denominator is None:
            continue
        for mart in m.marts:
            columns, rows = marts[mart]
            position = {c: i for i, c in enumerate(columns)}
            where = [(position[c], v) for c, v in m.where]
            checked = 0
            for row in rows:
                if any(row[i] != v for i, v in where):
                    continue
                numerator, denominator = row[position[m.numerator]], row[position[m.denominator]]
                value = row[position[m.column]]
                if numerator is None or not denominator or not all(
                        row[position[c]] for c in m.null_when_zero):
                    assert value is None and row[position["null_reason"]], (m.name, mart, row)
                else:
                    assert value == pytest.approx(numerator / denominator, rel=1e-9), (m.name, mart)
                    checked += 1
            assert checked, (m.name, mart)


def test_hourly_windowed_runs_give_what_a_full_refresh_gives(sqlite_url, project, default_day):
    """Land and run the day in three 8-hour runs, as Dagster would, then rebuild it whole."""
    rows, calendar = default_day
    engine = make_engine(sqlite_url)
    land(engine, {t: r for t, r in rows.items() if t.startswith("hr_")}, [])
    start = datetime(2026, 11, 2, tzinfo=TZ)
    for chunk in range(3):
        begin, end = start + timedelta(hours=8 * chunk), start + timedelta(hours=8 * chunk + 8)
        keys = {c["partition_key"] for c in calendar_rows(begin, end)}
        land(engine, {t: [r for r in values if raw_row(t, r)["partition_key"] in keys]
                      for t, values in rows.items() if not t.startswith("hr_")},
             calendar_rows(begin, end))
        for name in project.order():
            model = project.model(name)
            window = (model_window(model.config.partition_by, begin, end)
                      if model.materialized == "incremental" else None)
            run_model(engine, project, name, window)
    windowed = snapshot(engine, project)
    run_project(engine, project)
    assert_same(windowed, snapshot(engine, project))
    engine.dispose()


# --- the metric library and the line config --------------------------------------------------

def test_every_metric_names_columns_its_marts_document(project):
    for m in METRICS:
        assert (m.label == "iso") == bool(m.iso_name), m.name
        for mart in m.marts:
            documented = {c.name for c in project.model(mart).columns}
            needed = {m.column, m.numerator, *(c for c, _ in m.where), *m.null_when_zero}
            if m.denominator:
                needed |= {m.denominator, "null_reason"}
            assert needed <= documented, (m.name, mart, needed - documented)


def test_the_bundled_line_config_covers_every_production_line_type():
    config = load_line_config()
    assert [t.line_type for t in config.line_types] == ["welding", "painting", "assembly",
                                                        "machining"]
    assert config.lines == ()  # a template: no line of one plant
    fai = config.line("PNT", "painting").band("first_article_pass_rate")
    assert (fai.yellow, fai.red) == (0.95, 0.925)
    assert [fai.status(v) for v in (0.96, 0.95, 0.93, 0.925, 0.92, None)] == [
        "green", "green", "yellow", "yellow", "red", None]
    failures = config.line("焊接线", "welding").band("device_failures")
    assert [failures.status(n) for n in (0, 1, 2, 3)] == ["green", "green", "yellow", "red"]
    assert config.line("WLD", "welding").band("voc_over_limit_share") is None
    with pytest.raises(KeyError, match="no line 'XYZ'"):
        config.line("XYZ")


def test_a_line_of_its_own_replaces_its_type_s_bands_metric_by_metric(tmp_path):
    path = tmp_path / "line_metrics.yaml"
    path.write_text("line_types:\n  - line_type: welding\n    metrics:\n"
                    "      - {metric: oee, yellow: 0.78, red: 0.72}\n"
                    "      - {metric: availability, yellow: 0.88, red: 0.85}\n"
                    "lines:\n  - id: WELD-2\n    line_type: welding\n    metrics:\n"
                    "      - {metric: oee, yellow: 0.7, red: 0.6}\n")
    config = load_line_config(path)
    own, other = config.line("WELD-2"), config.line("WELD-1", "welding")
    assert [(b.metric, b.yellow) for b in own.metrics] == [("oee", 0.7), ("availability", 0.88)]
    assert [(b.metric, b.yellow) for b in other.metrics] == [("oee", 0.78),
                                                             ("availability", 0.88)]


@pytest.mark.parametrize(("metrics", "line_type", "expected"), [
    ("- {metric: first_pass_yeld, yellow: 0.95, red: 0.93}", "welding",
     "lines[0].metrics[0] (id WLD): unknown metric 'first_pass_yeld' (known: availability, "),
    ("- {metric: first_article_pass_rate, yellow: 0.925, red: 0.95}", "welding",
     "lines[0].metrics[0] (id WLD): first_article_pass_rate: higher is better, so red (0.95) "
     "must be below yellow (0.925)"),
    ("- {metric: rework_ratio, yellow: 0.05, red: 0.03}", "welding",
     "lines[0].metrics[0] (id WLD): rework_ratio: lower is better, so red (0.03) must be "
     "above yellow (0.05)"),
    ("- {metric: scrap_ratio, yellow: 2, red: 5}", "welding",
     "lines[0].metrics[0] (id WLD): scrap_ratio is a ratio: red and yellow must lie in [0, 1]"),
    ("- {metric: voc_over_limit_share, yellow: 0.03, red: 0.05}", "welding",
     "lines[0] (id WLD): metrics[0]: voc_over_limit_share applies to painting lines, "
     "not welding"),
    ("- {metric: oee, yellow: 0.8, red: 0.7}\n      - {metric: oee, yellow: 0.8, red: 0.7}",
     "welding", "lines[0] (id WLD): metrics listed twice: oee"),
    ("- {metric: oee, yellow: 0.8, red: 0.7, green: 0.9}", "welding",
     "lines[0].metrics[0].green (id WLD): Extra inputs are not permitted"),
    ("- {metric: oee, yellow: 0.8, red: 0.7}", "office",
     "lines[0].line_type (id WLD): Input should be 'welding', 'painting', 'assembly' or "
     "'machining'"),
])
def test_a_bad_line_config_names_the_file_the_field_and_the_line(tmp_path, metrics, line_type,
                                                                 expected):
    path = tmp_path / "line_metrics.yaml"
    path.write_text(f"lines:\n  - id: WLD\n    name: Welding\n    line_type: {line_type}\n"
                    f"    metrics:\n      {metrics}\n")
    with pytest.raises(ConfigError) as caught:
        load_line_config(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(f"{path}: {expected}"), caught.value.problems


def test_duplicate_lines_and_yaml_errors_are_config_errors(tmp_path):
    path = tmp_path / "line_metrics.yaml"
    line = "  - {id: WLD, name: W, line_type: welding, metrics: [{metric: oee, yellow: 0.8, " \
           "red: 0.7}]}\n"
    path.write_text("lines:\n" + line + line)
    with pytest.raises(ConfigError, match="lines listed twice: WLD"):
        load_line_config(path)
    path.write_text("lines: []\n")
    with pytest.raises(ConfigError, match="no line types or lines configured"):
        load_line_config(path)
    path.write_text("lines: [\n")
    with pytest.raises(ConfigError, match="line 2, column 1"):
        load_line_config(path)
    assert isinstance(load_line_config(), LineConfig)
    assert METRICS_BY_NAME["first_article_pass_rate"].label == "plant"
