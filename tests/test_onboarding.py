"""New-hire onboarding: the three metrics on hand-made rows, the 90-day window, statuses,
quarantined mentor feedback, the simulator's cohort and bad onboarding.yaml entries."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.files import validate_config_dir
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.people.config import ONBOARDING_FILE, load_onboarding
from perf_orchestration.people.onboarding import FirstJob, build_onboarding, progress_row
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import (
    create_tables,
    metadata,
    onboarding_progress,
    quarantine,
    upsert_calendar,
)
from perf_orchestration.testing.rows import land_rows
from perf_orchestration.warehouse import ensure_schemas, make_engine

CONFIG = load_onboarding()
OPERATOR = CONFIG.track_of("operator")
NOW = datetime(2026, 11, 3, 12)
PROV = {"source_system": "t", "ingestion_run_id": "r", "ingested_at": NOW,
        "partition_key": "snapshot"}


def utc(local: datetime) -> datetime:
    """A plant-local time (UTC+8) as the warehouse stores it: naive UTC."""
    return local - timedelta(hours=8)


# hired 2026-09-01 09:00 local
HIRE = {"employee_id": "E1", "role": "operator", "team_id": "T1", "mentor_id": "E2",
        "hired_at": utc(datetime(2026, 9, 1, 9))}
TRAININGS = [
    {"training_id": "TRN-1", "course": "safety-induction",
     "completed_at": utc(datetime(2026, 9, 3, 10))},
    {"training_id": "TRN-2", "course": "weld-quality",  # not required on the track
     "completed_at": utc(datetime(2026, 9, 4, 10))},
    {"training_id": "TRN-3", "course": "lean-basics",  # after the day asked about
     "completed_at": utc(datetime(2026, 9, 25, 10))},
]
# onboarding weeks: W1 = Sep 1..7, W2 = Sep 8..14 (no feedback), W3 = Sep 15..21
FEEDBACK = [
    {"feedback_id": "MF-1", "mentor_id": "E2", "given_at": utc(datetime(2026, 9, 2, 16))},
    {"feedback_id": "MF-2", "mentor_id": "E2", "given_at": utc(datetime(2026, 9, 17, 16))},
    {"feedback_id": "MF-3", "mentor_id": "E2",  # day 21: the running week, not counted yet
     "given_at": utc(datetime(2026, 9, 22, 11))},
]
# 00:00 local on Sep 15 is Sep 14 16:00 UTC: 14 plant days after the hire, 13 UTC days
JOB = FirstJob("T1-S01-2026091500", utc(datetime(2026, 9, 15, 0)))


def test_three_metrics_on_hand_made_rows():
    row = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 9, 22), TRAININGS, FEEDBACK, JOB)
    assert row["days_since_hire"] == 21
    # input: 1 of the 2 required courses by the end of Sep 22
    assert (row["trainings_done"], row["trainings_required"], row["training_share"]) == \
        (1, 2, 0.5)
    assert json.loads(row["training_ids"]) == ["TRN-1"]
    # process: 3 full weeks, one of them without feedback: 2 / 3
    assert row["feedback_weeks"] == 3 and json.loads(row["feedback_by_week"]) == [1, 0, 1]
    assert row["feedback_per_week"] == 0.6667
    assert json.loads(row["feedback_ids"]) == ["MF-1", "MF-2"]
    # output: counted in plant days across the local midnight
    assert (row["days_to_first_job"], row["first_job_id"]) == (14, "T1-S01-2026091500")
    assert row["status"] == "at_risk"
    assert json.loads(row["reasons"]) == [
        "0.6667 mentor feedback entries per week over 3 week(s), target 1"]


def test_the_first_job_counts_from_its_own_plant_day():
    before = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 9, 14), TRAININGS, FEEDBACK, JOB)
    assert before["days_to_first_job"] is None and before["first_job_id"] is None
    on = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 9, 15), TRAININGS, FEEDBACK, JOB)
    assert on["days_to_first_job"] == 14


@pytest.mark.parametrize("day, included", [
    (date(2026, 8, 31), False),  # the day before the hire
    (date(2026, 9, 1), True),  # day 0
    (date(2026, 11, 30), True),  # day 90
    (date(2026, 12, 1), False),  # day 91
])
def test_only_the_first_90_days_are_tracked(day, included):
    row = progress_row(HIRE, OPERATOR, CONFIG, day, TRAININGS, FEEDBACK, JOB)
    assert (row is not None) == included


def test_statuses_against_the_targets():
    done = TRAININGS[:1] + [{**TRAININGS[2], "completed_at": utc(datetime(2026, 9, 5, 10))}]
    weekly = [{"feedback_id": f"MF-{w}", "mentor_id": "E2",
               "given_at": utc(datetime(2026, 9, 2, 16)) + timedelta(days=7 * w)}
              for w in range(12)]
    on_track = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 10, 10), done, weekly, JOB)
    assert on_track["status"] == "on_track" and on_track["feedback_per_week"] == 1.0
    # day 30 with a course missing: at risk
    missing = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 10, 1), TRAININGS[:1], weekly,
                           JOB)
    assert missing["status"] == "at_risk"
    assert "1/2 required courses on day 30, due by day 30" in json.loads(missing["reasons"])
    # day 60 without an independent job is still on time; day 61 is late
    due = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 10, 31), done, weekly, None)
    assert due["status"] == "on_track"
    late = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 11, 1), done, weekly, None)
    assert late["status"] == "late"
    assert json.loads(late["reasons"]) == ["no independent job by day 61, target day 60"]


def test_the_mentor_can_come_from_the_feedback_entries():
    config = CONFIG.model_copy(update={"mentor_source": "mentor_feedback"})
    feedback = FEEDBACK[:1] + [{**FEEDBACK[1], "mentor_id": "E7"}]
    row = progress_row({**HIRE, "mentor_id": None}, OPERATOR, config, date(2026, 9, 22),
                       TRAININGS, feedback, JOB)
    assert row["mentor_id"] == "E7"  # the latest entry's mentor
    no_one = progress_row({**HIRE, "mentor_id": None}, OPERATOR, CONFIG, date(2026, 9, 22),
                          TRAININGS, feedback, JOB)
    assert no_one["mentor_id"] is None and "no mentor (roster)" in json.loads(no_one["reasons"])


def test_late_when_the_first_job_came_after_the_target():
    job = FirstJob("T1-S01-2026110210", utc(datetime(2026, 11, 2, 10)))  # day 62
    row = progress_row(HIRE, OPERATOR, CONFIG, date(2026, 11, 5), TRAININGS, FEEDBACK, job)
    assert row["days_to_first_job"] == 62 and row["status"] == "late"


def _engine(url):
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    create_tables(engine)
    return engine


def _insert(engine, table, rows, id_col):
    land_rows(engine, table, rows, id_col, **PROV)


def _production(station, local, operator, mentor):
    return {"production_id": f"{station}-{local:%Y%m%d%H}", "station_id": station,
            "team_id": "T1", "hour_start": utc(local), "planned_minutes": 60.0,
            "run_minutes": 60.0, "total_count": 10, "good_count": 10, "rework_count": 0,
            "scrap_count": 0, "ideal_cycle_seconds": 45.0, "operator_id": operator,
            "mentor_id": mentor}


def test_the_mart_from_warehouse_rows_with_unknown_people_quarantined(warehouse_url):
    engine = _engine(warehouse_url)
    person = {"name": "N", "team_id": "T1", "shift": "day", "email": "x@x.example"}
    _insert(engine, "hr_employees", [
        {**person, "employee_id": "E1", "role": "operator",
         "hired_at": utc(datetime(2026, 9, 1, 9)), "mentor_id": "E2"},
        {**person, "employee_id": "E2", "role": "operator",
         "hired_at": utc(datetime(2019, 3, 1, 9)), "mentor_id": None},
        {**person, "employee_id": "E3", "role": "sales_rep", "team_id": "OFF",
         "shift": "office", "hired_at": utc(datetime(2026, 10, 1, 9)), "mentor_id": "E4"},
        {**person, "employee_id": "E4", "role": "account_manager", "team_id": "OFF",
         "shift": "office", "hired_at": utc(datetime(2018, 1, 1, 9)), "mentor_id": None},
    ], "employee_id")
    _insert(engine, "hr_trainings", [
        {**t, "employee_id": "E1", "score": 90.0} for t in TRAININGS], "training_id")
    _insert(engine, "hr_mentor_feedback", [
        {**f, "mentee_id": "E1", "topic": "check-in"} for f in FEEDBACK] + [
        {"feedback_id": "MF-X", "mentor_id": "E2", "mentee_id": "E9999",
         "given_at": utc(datetime(2026, 9, 10, 16)), "topic": "check-in"},
        {"feedback_id": "MF-Y", "mentor_id": "E8888", "mentee_id": "E1",
         "given_at": utc(datetime(2026, 9, 10, 16)), "topic": "skills"}], "feedback_id")
    _insert(engine, "mes_production", [
        _production("T1-S01", datetime(2026, 9, 14, 22), "E1", "E2"),  # beside the mentor
        _production("T1-S01", datetime(2026, 9, 15, 0), "E1", None),  # alone, after midnight
        _production("T1-S01", datetime(2026, 9, 15, 1), "E1", None),
        _production("T1-S02", datetime(2026, 9, 15, 0), "E2", None),
    ], "production_id")
    _insert(engine, "crm_opportunities", [
        {"change_id": f"OPP-1:{stage}", "opportunity_id": "OPP-1", "account_id": "A",
         "owner_id": "E3", "stage": stage, "amount": 1.0, "channel": "direct",
         "changed_at": utc(datetime(2026, 10, 20, 9 + k))}
        for k, stage in enumerate(("proposal", "won"))], "change_id")
    for _ in range(2):  # a re-run replaces, never doubles
        out = build_onboarding(engine, CONFIG, "run", NOW,
                               days=[date(2026, 9, 22), date(2026, 12, 1)])
    assert out["quarantined"] == 2
    with engine.connect() as conn:
        rows = {(r["as_of_date"], r["employee_id"]): r for r in conn.execute(
            sa.select(onboarding_progress)).mappings()}
        reasons = sorted(conn.execute(sa.select(quarantine.c.reason).where(
            quarantine.c.entity == "hr_mentor_feedback")).scalars())
    # E1 is on day 91 on Dec 1, no longer tracked; E2 and E4 are established staff
    assert sorted(rows) == [("2026-09-22", "E1"), ("2026-12-01", "E3")]
    e1 = rows[("2026-09-22", "E1")]
    assert (e1["training_share"], e1["feedback_per_week"], e1["days_to_first_job"]) == \
        (0.5, 0.6667, 14)
    assert e1["first_job_id"] == "T1-S01-2026091500" and e1["mentor_id"] == "E2"
    assert json.loads(e1["feedback_ids"]) == ["MF-1", "MF-2"]
    e3 = rows[("2026-12-01", "E3")]
    assert (e3["days_to_first_job"], e3["first_job_id"]) == (19, "OPP-1:won")
    assert (e3["training_share"], e3["feedback_per_week"]) == (0.0, 0.0)
    assert e3["status"] == "at_risk"
    assert reasons == [
        "mentor feedback MF-X names mentee E9999, who is not on the HR roster",
        "mentor feedback MF-Y names mentor E8888, who is not on the HR roster"]
    # without named days: every day of the plant calendar the flow has filled
    with engine.begin() as conn:
        upsert_calendar(conn, [calendar_row(utc(datetime(2026, 9, 22, h)).replace(tzinfo=UTC))
                               for h in (0, 23)])
    assert build_onboarding(engine, CONFIG, "run", NOW)["days"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(onboarding_progress.c.as_of_date,
                                      onboarding_progress.c.employee_id)).all() == [
            ("2026-09-22", "E1")]


def test_the_simulator_plants_a_cohort_with_its_records():
    from perf_orchestration.scenarios.config import load_scenario
    from perf_orchestration.simulator.generate import generate_dataset
    from perf_orchestration.simulator.generate_onboarding import UNKNOWN_MENTEE

    data = generate_dataset(load_scenario(None))
    hires = {r["employee_id"]: r for r in data.records("hr_employees") if r["mentor_id"]}
    assert sorted(r["role"] for r in hires.values()) == ["operator"] * 3 + ["sales_rep"]
    crew = [r for r in data.records("mes_production") if r["operator_id"] in hires]
    alone = [r for r in crew if r["mentor_id"] is None]
    assert alone and min(r["hour_start"] for r in alone) == "2026-11-02T10:00:00+08:00"
    assert {r["mentor_id"] for r in crew} - {None} <= {h["mentor_id"] for h in hires.values()}
    mentees = {r["mentee_id"] for r in data.records("hr_mentor_feedback")}
    assert mentees == set(hires) | {UNKNOWN_MENTEE}
    assert any(r["owner_id"] in hires and r["stage"] == "won"
               for r in data.records("crm_opportunities"))


@pytest.mark.parametrize("original, replacement, expected, where", [
    ("roles: [operator]", "roles: [operator, wizard]", "unknown role(s) 'wizard'",
     "tracks[0].roles (id production-operator)"),
    ("required_courses: [safety-induction, lean-basics]",
     "required_courses: [safety-induction, juggling]", "unknown course(s) 'juggling'",
     "tracks[0].required_courses (id production-operator)"),
    ("roles: [sales_rep, account_manager]", "roles: [sales_rep, operator]",
     "track sales: role 'operator' is already on track production-operator", "(top level)"),
    ("first_job: crm_won_deal", "first_job: first_coffee", "Input should be",
     "tracks[1].first_job (id sales)"),
    ("\nmentor_source: roster", "\nmentor_source: guess", "Input should be",
     "mentor_source"),
])
def test_bad_onboarding_config_is_one_line_naming_file_and_entry(tmp_path, original,
                                                                  replacement, expected, where):
    good = bundled_file(ONBOARDING_FILE).read_text()
    assert original in good
    path = tmp_path / ONBOARDING_FILE
    path.write_text(good.replace(original, replacement, 1))
    with pytest.raises(ConfigError) as err:
        load_onboarding(path)
    (line,) = err.value.problems
    assert line.startswith(f"{path}: {where}") and expected in line, line


def test_validate_names_a_bad_onboarding_file(tmp_path):
    good = bundled_file(ONBOARDING_FILE).read_text()
    (tmp_path / ONBOARDING_FILE).write_text(good.replace("lean-basics", "juggling"))
    problems, checked = validate_config_dir(tmp_path)
    assert checked == 1
    (line,) = problems
    assert ONBOARDING_FILE in line and "(id production-operator)" in line and "juggling" in line
