"""Role capability snapshots: a plant that is not the default (America/Chicago, 42 account
managers, 38 maintenance technicians) with six months of work logs. The planted behaviours
are found and no noise behaviour is; without planting nothing distinguishes; a small role
gets no snapshot and says why; unknown catalogue ids and empty months are metadata lines;
nothing in the logs is lost; the drafts hold the evidence and name no one."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.config.bundled import bundled_file
from perf_orchestration.config.files import validate_config_dir
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import ingest
from perf_orchestration.people.config import load_onboarding
from perf_orchestration.people.snapshot_config import SNAPSHOTS_FILE, load_snapshots
from perf_orchestration.people.snapshots import build_role_snapshots, snapshot_role
from perf_orchestration.reports.role_snapshots import write_role_snapshots
from perf_orchestration.scenarios.config import History, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.simulator.generate import generate_dataset
from perf_orchestration.simulator.generate_work_logs import work_logs
from perf_orchestration.simulator.names import build_roster
from perf_orchestration.tables import RAW_TABLES, metadata
from perf_orchestration.tables.marts import role_snapshots
from perf_orchestration.testing.rows import land_rows
from perf_orchestration.warehouse import embedded_url, ensure_schemas, make_engine

PLANT = Path(__file__).parent / "scenarios" / "snapshot_plant.yaml"
LOGS = ("crm_activities", "crm_template_usage", "mes_maintenance_log")
SOURCES = ("hr_employees", "crm_contracts", *LOGS)
CONFIG = load_snapshots()
PLANTED = {
    "account_manager": {"activity:visit", "email_template:TPL-VALUE-RECAP",
                        "phrase:next step agreed", "follow_up:within_4h"},
    "maintenance_technician": {"step:check-fault-history", "step:photo-before-after",
                               "failure_family:electrical"},
}


def _scenario(planted: bool = True):
    scenario = load_scenario(PLANT)
    return scenario.model_copy(update={"history": scenario.history.model_copy(
        update={"planted_behaviours": planted})})


def _land(url: str, scenario) -> tuple[sa.Engine, dict[str, tuple[int, int, int]]]:
    """The roster, the contract book and the work logs landed through the guarded ingestion;
    per table (fetched, landed, quarantined)."""
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    counts = {}
    with SimulatorServer(scenario, port=0) as server:
        for table in SOURCES:
            entity = ENTITIES_BY_TABLE[table]
            result = ingest(engine, SourceClient(entity.system, server.url, read_timeout=10),
                            entity, None, "snapshot-test")
            counts[table] = tuple(result.total(k) for k in ("fetched", "landed", "quarantined"))
    return engine, counts


def _found(out: dict, role: str) -> set[str]:
    return {d.split(" (")[0] for d in out["roles"][role].get("distinguishing", [])}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    url = embedded_url(tmp_path_factory.mktemp("planted"))
    engine, counts = _land(url, _scenario())
    yield engine, counts, build_role_snapshots(engine, CONFIG)
    engine.dispose()


def test_the_work_logs_lose_nothing_and_stay_modest(planted):
    _, counts, _ = planted
    for table in LOGS:
        fetched, landed, quarantined = counts[table]
        assert fetched == landed + quarantined and landed > 1000, (table, counts[table])
    default = load_scenario()  # 50 account managers, 82 technicians, 6 months
    logs = work_logs(default.model_copy(update={"history": History()}), build_roster(default))
    assert 10_000 < sum(len(rows) for rows in logs.values()) < 25_000


def test_the_planted_behaviours_are_found_and_no_noise_behaviour_is(planted):
    engine, _, out = planted
    for role, behaviours in PLANTED.items():
        assert out["roles"][role]["status"] == "snapshot"
        assert _found(out, role) == behaviours, out["roles"][role]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(role_snapshots)).mappings().all()
    found = [r for r in rows if r["status"] == "distinguishing"]
    assert all(r["direction"] == "more" and r["lift"] > 1.5 and r["p_adjusted"] < 0.05
               and r["top_people"] >= 5 and r["rest_people"] >= 5 and r["records"] > 100
               for r in found)
    repair = {r["behaviour"]: r for r in rows if r["role"] == "maintenance_technician"}
    assert repair["step:check-fault-history"]["top_metric"] < \
        repair["step:check-fault-history"]["rest_metric"]  # fewer minutes is better


def test_the_mart_names_behaviours_never_people(planted):
    engine, _, _ = planted
    with engine.connect() as conn:
        people = set(conn.execute(sa.select(RAW_TABLES["hr_employees"].c.employee_id,
                                            RAW_TABLES["hr_employees"].c.name)).all())
        text = " ".join(str(v) for r in conn.execute(sa.select(role_snapshots)).all()
                        for v in r)
    assert not re.search(r"\bE\d{4}\b", text)
    assert not any(name in text for _, name in people)


def test_the_analysis_gives_the_same_answer_on_postgresql(planted, pg_url):
    engine, counts = _land(pg_url, _scenario())
    out = build_role_snapshots(engine, CONFIG)
    engine.dispose()
    assert counts == planted[1]
    for role in PLANTED:
        assert _found(out, role) == _found(planted[2], role)


def test_without_planting_nothing_distinguishes(tmp_path):
    engine, _ = _land(embedded_url(tmp_path), _scenario(planted=False))
    out = build_role_snapshots(engine, CONFIG)
    engine.dispose()
    for role in PLANTED:
        info = out["roles"][role]
        assert info["status"] == "snapshot" and info["distinguishing"] == []
        assert any("no behaviour distinguishes" in line for line in info["lines"])


def test_a_role_below_the_people_threshold_gets_no_snapshot_and_says_why(planted):
    engine, _, _ = planted
    strict = CONFIG.model_copy(update={"roles": [r.model_copy(update={
        "min_people_per_group": 12}) for r in CONFIG.roles]})
    out = build_role_snapshots(engine, strict)
    info = out["roles"]["maintenance_technician"]
    assert info["status"] == "no_snapshot"
    assert info["reason"].startswith("too few people to compare without pointing at someone: "
                                     "10 in the top 25% and 28 in the rest")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(role_snapshots).where(
            role_snapshots.c.role == "maintenance_technician")).mappings().all()
    assert [(r["behaviour"], r["status"]) for r in rows] == [("*", "no_snapshot")]
    assert rows[0]["p_value"] is None and rows[0]["top_people"] is None
    build_role_snapshots(engine, CONFIG)  # the module's mart as it was


def test_a_role_nobody_holds_and_a_role_without_metric_data(planted):
    rows, info = snapshot_role(CONFIG.roles[0], CONFIG, [], {}, None)
    assert info == {"people": 0, "lines": [], "status": "no_snapshot",
                    "reason": "no one on the HR roster holds the role account_manager"}
    assert [(r["behaviour"], r["status"], r["reason"]) for r in rows] == [
        ("*", "no_snapshot", info["reason"])]
    engine, _, _ = planted
    directors = [CONFIG.roles[0].model_copy(update={"role": "workshop_director"})]
    info = build_role_snapshots(engine, CONFIG.model_copy(update={"roles": directors})
                                )["roles"]["workshop_director"]
    assert info["status"] == "no_snapshot" and info["reason"] == (
        "no records of the 1 workshop_director(s) in crm/activities, crm/template_usage")
    build_role_snapshots(engine, CONFIG)  # the module's mart as it was


def test_unknown_template_and_empty_month_are_metadata_lines(tmp_path):
    engine, _ = _land(embedded_url(tmp_path), _scenario())
    emp = RAW_TABLES["hr_employees"]
    with engine.connect() as conn:
        tech = conn.execute(sa.select(sa.func.min(emp.c.employee_id)).where(
            emp.c.role == "maintenance_technician")).scalar()
    land_rows(engine, "mes_maintenance_log", [{
        "job_id": "JOB-X-1", "technician_id": tech, "device_id": "P1-D01",
        "failure_code": "F03-SENSOR", "started_at": datetime(2026, 9, 1, 10),
        "finished_at": datetime(2026, 9, 1, 11), "steps": "dance-around;test-run",
        "updated_at": datetime(2026, 9, 1, 11)}], "job_id")
    messages = RAW_TABLES["crm_template_usage"]
    with engine.begin() as conn:  # the IM system was down for a month
        conn.execute(messages.delete().where(messages.c.sent_at.between(
            datetime(2026, 6, 1), datetime(2026, 7, 25))))
    out = build_role_snapshots(engine, CONFIG)
    lines = out["roles"]["account_manager"]["lines"]
    assert ("crm/template_usage: template 'TPL-LEGACY-PROMO' is not in the catalogue of "
            "snapshots.yaml: ") in " ".join(lines)
    assert any(line.startswith("crm/template_usage: no records from ") for line in lines)
    assert ("mes/maintenance_log: step 'dance-around' is not in the catalogue of "
            "snapshots.yaml: 1 record(s) counted under its own id"
            ) in out["roles"]["maintenance_technician"]["lines"]
    with engine.connect() as conn:
        unknown = conn.execute(sa.select(role_snapshots.c.in_catalogue, role_snapshots.c.label)
                               .where(role_snapshots.c.behaviour ==
                                      "message_template:TPL-LEGACY-PROMO")).one()
    assert unknown.in_catalogue == 0 and "not in the catalogue" in unknown.label
    engine.dispose()


def test_the_drafts_hold_the_evidence_and_name_no_one(planted, tmp_path):
    from openpyxl import load_workbook

    engine, _, _ = planted
    report = write_role_snapshots(engine, load_onboarding(), datetime(2026, 9, 14).date(),
                                  tmp_path)
    assert report.roles == 2 and report.distinguishing == 7
    with engine.connect() as conn:
        names = set(conn.execute(sa.select(RAW_TABLES["hr_employees"].c.name)).scalars())
    manager = (tmp_path / "role_snapshot_account_manager_2026-09-14.md").read_text()
    assert manager.startswith("# Role capability snapshot: account manager")
    assert "TPL-VALUE-RECAP" in manager and "next step agreed" in manager
    assert "corrected p" in manager and "records of crm/activities" in manager
    assert "Onboarding track `sales`" in manager and "safety-induction" in manager
    assert "Practise in the first 90 days: customer visits per month" in manager
    technician = (tmp_path / "role_snapshot_maintenance_technician_2026-09-14.md").read_text()
    assert "check-fault-history" in technician and "on no onboarding track" in technician
    book = load_workbook(report.workbook)
    assert book.sheetnames == ["account manager", "maintenance technician"]
    cells = [str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row
             if c is not None]
    assert any("TPL-VALUE-RECAP" in c for c in cells) and "distinguishing" in cells
    for text in (manager, technician, " ".join(cells)):
        assert not re.search(r"\bE\d{4}\b", text)
        assert not any(name in text for name in names)


def test_a_bad_snapshots_entry_is_one_line_naming_file_and_entry(tmp_path):
    bad = tmp_path / SNAPSHOTS_FILE
    text = (bundled_file(SNAPSHOTS_FILE).read_text().replace("role: maintenance_technician",
                                                    "role: maintenance_wizard")
            .replace("codes: [F04-WIRE-FEED, F06-CONVEYOR]", "codes: [F04-WIRE-FEED, F99]"))
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_snapshots(bad)
    assert err.value.problems == [
        f"{bad}: roles[1].role: unknown role 'maintenance_wizard' (known: "
        "operator, team_leader, qa_engineer, production_planner, maintenance_lead, "
        "maintenance_technician, workshop_director, account_manager, sales_rep, engineer, "
        "hr_partner, manager)",
        f"{bad}: catalogues.failure_families.feed.codes: unknown failure code(s) F99 (known: "
        "F01-SERVO, F02-HYDRAULIC, F03-SENSOR, F04-WIRE-FEED, F05-NOZZLE, F06-CONVEYOR, "
        "F07-PLC, F08-SPINDLE)"]
    problems, _ = validate_config_dir(tmp_path)
    assert problems == err.value.problems


def test_no_history_no_work_logs_and_the_logs_are_deterministic():
    scenario = load_scenario(PLANT)
    bare = generate_dataset(scenario.model_copy(update={"history": None}))
    assert all(bare.tables[t] == [] for t in LOGS)
    once, again = generate_dataset(scenario), generate_dataset(scenario)
    assert all(once.tables[t] == again.tables[t] for t in LOGS)
    last = max(r["finished_at"] for r in once.tables["mes_maintenance_log"])
    assert datetime.fromisoformat(last) <= scenario.start.replace(
        tzinfo=scenario.tz)  # history only, before the range
