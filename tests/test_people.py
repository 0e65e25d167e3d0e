"""The people loop on real warehouses: triggers, answers, reminders, badges, bad config."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.people.answers import build_feedback
from perf_orchestration.people.badges import award_badges, qualifying_run
from perf_orchestration.people.config import load_badges, load_feedback
from perf_orchestration.people.reminders import daily_proposals, episodes, plan_reminders
from perf_orchestration.people.requests import plan_requests
from perf_orchestration.tables import badges, create_tables, feedback, metadata, quarantine
from perf_orchestration.testing.rows import land_rows
from perf_orchestration.warehouse import ensure_schemas, make_engine

NOW = datetime(2026, 11, 3, 12, tzinfo=UTC)
PROV = {"source_system": "t", "ingestion_run_id": "r", "ingested_at": datetime(2026, 11, 3),
        "partition_key": "snapshot"}


def _engine(url):
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    create_tables(engine)
    return engine


def _insert(engine, table, rows, id_col):
    land_rows(engine, table, rows, id_col, **PROV)


def _roster(engine):
    _insert(engine, "hr_employees", [
        {"employee_id": "E1", "name": "Li Na", "team_id": "T2", "role": "maintenance_lead",
         "shift": "day", "email": "e1@x.example", "hired_at": datetime(2020, 1, 1)},
        {"employee_id": "E2", "name": "Wang Wei", "team_id": "OFF", "role": "account_manager",
         "shift": "office", "email": "e2@x.example", "hired_at": datetime(2020, 1, 1)},
    ], "employee_id")


def _failures(engine, local_times):
    # local plant times (UTC+8) stored as naive UTC, as ingestion lands them
    _insert(engine, "mes_equipment_events", [
        {"event_id": f"EV-{i}", "device_id": "T2-D03", "device_type": "welding_robot",
         "station_id": "T2-S03", "team_id": "T2", "event_type": "failure", "state": "down",
         "failure_code": "F04-WIRE-FEED", "occurred_at": t - timedelta(hours=8)}
        for i, t in enumerate(local_times)], "event_id")


@pytest.mark.parametrize("local_times, asked", [
    # 3 failures inside one plant day (00:05 .. 23:55 local)
    ([datetime(2026, 11, 2, 0, 5), datetime(2026, 11, 2, 12), datetime(2026, 11, 2, 23, 55)],
     1),
    # 3 failures across midnight: 2 on one day, 1 on the next -> nothing
    ([datetime(2026, 11, 1, 23, 50), datetime(2026, 11, 2, 0, 10),
      datetime(2026, 11, 1, 22)], 0),
    ([datetime(2026, 11, 2, 3), datetime(2026, 11, 2, 9)], 0),  # 2 failures asks nothing
])
def test_device_failures_per_plant_day(warehouse_url, local_times, asked):
    engine = _engine(warehouse_url)
    _roster(engine)
    _failures(engine, local_times)
    created = plan_requests(engine, load_feedback(), NOW)
    assert len(created) == asked
    if asked:
        req = created[0]
        assert req["recipient_id"] == "E1" and req["form_version"] == "V2.3.7-line"
        assert len(json.loads(req["questions"])) == 3
        assert "wire-feed" in json.loads(req["questions"])[0]
        assert json.loads(req["evidence"]) == ["EV-0", "EV-1", "EV-2"]
    assert plan_requests(engine, load_feedback(), NOW) == []  # a repeated run asks nobody


def test_renewal_asks_once_and_answers_are_matched(warehouse_url):
    engine = _engine(warehouse_url)
    _roster(engine)
    _insert(engine, "crm_renewals", [
        {"renewal_id": "REN-1", "account_id": "ACC-1042", "contract_id": "C", "owner_id": "E2",
         "closed_at": datetime(2026, 11, 2, 7), "amount": 1.0, "status": "won"}], "renewal_id")
    (req,) = plan_requests(engine, load_feedback(), NOW)
    assert req["form_id"] == "success_story" and req["recipient_id"] == "E2"
    assert plan_requests(engine, load_feedback(), NOW + timedelta(hours=1)) == []
    answer = {"request_id": req["request_id"], "form_id": "success_story",
              "form_version": "V1.2.0-crm", "respondent_id": "E2",
              "answered_at": datetime(2026, 11, 3, 9), "answers": "{}"}
    _insert(engine, "hr_feedback_responses", [
        {**answer, "response_id": "R1"},
        {**answer, "response_id": "R2", "request_id": "FR-nope"},
        {**answer, "response_id": "R3", "form_version": "V1.1.0-crm"}], "response_id")
    out = build_feedback(engine, "run", NOW)
    assert (out["matched"], out["quarantined"]) == (1, 2)
    with engine.connect() as conn:
        assert conn.execute(sa.select(feedback.c.response_id)).scalars().all() == ["R1"]
        reasons = sorted(conn.execute(sa.select(quarantine.c.failed_expectation)).scalars())
    assert reasons == ["known_request", "request_form_version"]


def _days(rates):
    start = date(2026, 10, 20)
    return {f"{start + timedelta(days=i):%Y-%m-%d}": {"on_time": on, "due": 2, "ids": [],
                                                     "late": [(f"P{i}", "A")] * (2 - on)}
            for i, on in enumerate(rates)}


def test_reminder_after_exactly_two_days_below_baseline():
    assert episodes(_days([2] * 10 + [0])) == []  # one day below: nothing
    (ep,) = episodes(_days([2] * 10 + [0, 1]))
    assert ep["days"] == ["2026-10-30", "2026-10-31"]
    assert len(episodes(_days([2] * 10 + [0, 0, 0]))) == 1  # one reminder per episode


def test_reminder_planned_once(warehouse_url):
    engine = _engine(warehouse_url)
    _roster(engine)
    rows = []
    for d in range(10):
        day = datetime(2026, 10, 24, 9) + timedelta(days=d)  # 17:00 local
        late = d >= 8
        rows.append({"proposal_id": f"P{d}", "account_id": "A", "owner_id": "E2",
                     "due_at": day, "sent_at": day + timedelta(hours=3 if late else -1)})
    _insert(engine, "crm_proposals", rows, "proposal_id")
    assert len(daily_proposals(rows, NOW)["E2"]) == 10
    (rem,) = plan_reminders(engine, NOW)
    assert len(json.loads(rem["suggestions"])) == 3 and json.loads(rem["evidence"]) == [
        "P8", "P9"]
    assert plan_reminders(engine, NOW) == []


def test_badge_weeks_need_to_be_consecutive():
    assert qualifying_run({"2026-W40": 0.96, "2026-W41": 0.97, "2026-W42": 0.95}, 0.95, 3) \
        == ["2026-W40", "2026-W41", "2026-W42"]
    # W41 has no data: the run breaks
    assert qualifying_run({"2026-W40": 0.96, "2026-W42": 0.97, "2026-W43": 0.99}, 0.95, 3) \
        is None
    assert qualifying_run({"2026-W40": 0.96, "2026-W41": None, "2026-W42": 0.97}, 0.95, 3) \
        is None
    assert qualifying_run({"2026-W52": 0.96, "2026-W53": 0.97, "2027-W01": 0.99}, 0.95, 3)


def test_training_badge_awarded_once(warehouse_url):
    engine = _engine(warehouse_url)
    _insert(engine, "hr_trainings", [
        {"training_id": "TRN-1", "employee_id": "E1", "course": "mes-fault-codes",
         "completed_at": datetime(2026, 10, 1), "score": 90.0}], "training_id")
    assert award_badges(engine, load_badges(), NOW)["awarded"] == 1
    assert award_badges(engine, load_badges(), NOW)["awarded"] == 0
    with engine.connect() as conn:
        row = conn.execute(sa.select(badges)).one()
    assert row.badge_id == "mes-fault-code-reader" and json.loads(row.evidence) == ["TRN-1"]


@pytest.mark.parametrize("name, original, replacement, expected", [
    ("feedback.yaml", "role: maintenance_lead", "role: wizard", "unknown role 'wizard'"),
    ("feedback.yaml", "form: success_story", "form: nope", "unknown form 'nope'"),
    ("feedback.yaml", "version: V2.3.7-line", "version: V2.3",
     "is not a label like V2.3.7-line"),
    ("feedback.yaml", "    subject: person", "    subject: device",
     "counts per person, not per device"),
    ("feedback.yaml", "F04-WIRE-FEED:", "F99-BOGUS:", "unknown failure code(s) F99-BOGUS"),
    ("feedback.yaml", "welding_robot:", "spaceship:", "unknown device type(s) spaceship"),
    ("badges.yaml", "course: mes-fault-codes", "course: juggling", "unknown course 'juggling'"),
    ("badges.yaml", "at_least: 0.95", "at_least: 1.5", "less than or equal to 1"),
])
def test_bad_config_is_one_line_naming_file_and_entry(tmp_path, name, original, replacement,
                                                      expected):
    from perf_orchestration.config.bundled import bundled_file

    good = bundled_file(name).read_text()
    assert original in good
    path = tmp_path / name
    path.write_text(good.replace(original, replacement, 1))
    loader = load_feedback if name == "feedback.yaml" else load_badges
    with pytest.raises(ConfigError) as err:
        loader(path)
    (line,) = err.value.problems
    assert line.startswith(str(path)) and expected in line
    assert "(id " in line or "trigger " in line


def test_monthly_form_asks_each_front_line_user_once_a_month(sqlite_url, tmp_path):
    from perf_orchestration.config.bundled import bundled_file
    from perf_orchestration.people.config import FEEDBACK_FILE

    engine = _engine(sqlite_url)
    _insert(engine, "hr_employees", [
        {"employee_id": f"E{i}", "name": "Op", "team_id": "T1", "role": "operator",
         "shift": "day", "email": f"e{i}@x.example", "hired_at": datetime(2020, 1, 1)}
        for i in range(3)], "employee_id")
    path = tmp_path / FEEDBACK_FILE
    enabled = bundled_file(FEEDBACK_FILE).read_text().replace("enabled: false", "enabled: true")
    path.write_text(enabled)
    config = load_feedback(path)
    created = plan_requests(engine, config, NOW)
    assert [r["recipient_id"] for r in created] == ["E0", "E1", "E2"]
    assert {r["form_version"] for r in created} == {"V1.0.3-line"}
    assert plan_requests(engine, config, NOW + timedelta(days=5)) == []
    assert len(plan_requests(engine, config, NOW + timedelta(days=30))) == 3


def test_the_people_assets_read_the_plant_config_folder(sqlite_url, tmp_path, monkeypatch):
    """A plant's own badges.yaml (PERFFLOW_CONFIG_DIR) is the one the asset applies, as
    `perfflow validate` checks it; the bundled file is only the fallback."""
    import dagster as dg

    from assets.people import badges_mart
    from perf_orchestration.config.files import bundled_config_dir
    from resources.delivery import DeliveryResource
    from resources.warehouse import WarehouseResource

    text = (bundled_config_dir() / "badges.yaml").read_text()
    assert "version: V1.0.0-plant" in text
    (tmp_path / "badges.yaml").write_text(text.replace("version: V1.0.0-plant",
                                                       "version: V1.1.0-plant1"))
    monkeypatch.setenv("PERFFLOW_CONFIG_DIR", str(tmp_path))
    _engine(sqlite_url).dispose()
    result = dg.materialize([badges_mart], resources={
        "warehouse": WarehouseResource(url=sqlite_url),
        "delivery": DeliveryResource(webhook_url="http://127.0.0.1:9/unused")},
        selection=[badges_mart])
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["config_version"].value == "V1.1.0-plant1"
