"""The plant simulator: deterministic data with the default scenario's promised facts, and
the HTTP API over real loopback sockets (pagination, cursors, clock, faults, admin)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

import pytest
import requests

from perf_orchestration.ingestion.entities import ENTITIES, ENTITIES_BY_TABLE
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer, generate_dataset

TOKEN = "sim-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = "2026-11-02"
PRODUCTION_ROLES = ("team_leader", "qa_engineer", "production_planner", "maintenance_lead")


def at(hhmm: str) -> str:
    """A local time of the default scenario's day with its offset."""
    return f"{DAY}T{hhmm}:00+08:00"


def small_scenario(**fields) -> Scenario:
    """A two-team, three-hour plant, so fault tests start fast and read clearly."""
    data = {
        "name": "small", "seed": 3, "start": f"{DAY}T08:00:00", "hours": 3,
        "plant": {"teams": [
            {"id": "T1", "name": "Welding", "line_id": "WLD", "line_type": "welding",
             "stations": 2, "headcount": 12},
            {"id": "OFF", "name": "Office", "line_id": "OFF", "line_type": "office",
             "stations": 0, "headcount": 8},
        ]},
    }
    data.update(fields)
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario()


@pytest.fixture(scope="module")
def dataset(scenario):
    return generate_dataset(scenario)


@pytest.fixture
def server(scenario, dataset):
    """A fresh server per test: fault budgets, clock and appended rows are server state."""
    with SimulatorServer(scenario, token=TOKEN, dataset=dataset) as srv:
        yield srv


def get(srv: SimulatorServer, path: str, timeout: float = 5, **params) -> requests.Response:
    return requests.get(srv.url + path, params=params, headers=AUTH, timeout=timeout)


def fetch_all(srv: SimulatorServer, path: str, **params) -> tuple[list[dict], str | None]:
    """Every page of a query; the cursor of the last page."""
    items, token, cursor = [], None, None
    while True:
        page_params = dict(params, **({"page_token": token} if token else {}))
        body = get(srv, path, **page_params).json()
        items += body["items"]
        cursor = body["cursor"]
        token = body["next_page_token"]
        if token is None:
            return items, cursor


def set_clock(srv: SimulatorServer, now: str | None) -> None:
    resp = requests.post(srv.url + "/_admin/clock", json={"now": now}, headers=AUTH, timeout=5)
    assert resp.status_code == 200, resp.text


# --- generation ---------------------------------------------------------------------------

def test_same_scenario_same_data_and_another_seed_differs(scenario, dataset):
    again = generate_dataset(scenario)
    assert json.dumps(again.tables, sort_keys=True) == json.dumps(dataset.tables, sort_keys=True)
    assert again.fault_log == dataset.fault_log
    other = generate_dataset(scenario.model_copy(update={"seed": scenario.seed + 1}))
    assert other.tables["mes_first_article_inspections"] != (
        dataset.tables["mes_first_article_inspections"])


def test_every_record_has_its_columns_and_lies_in_range(scenario, dataset):
    start, end = scenario.start, scenario.end
    for ent in ENTITIES:
        records = dataset.clean_records(ent.table)
        # answers to feedback requests arrive live (POST /_admin/records), never generated
        assert records or ent.table == "hr_feedback_responses", ent.table
        for rec in records:
            assert list(rec) == list(ent.column_names), ent.table
            for col in ent.columns:
                if col.required:
                    assert rec[col.name] is not None, (ent.table, col.name)
                if col.allowed and rec[col.name] is not None:
                    assert rec[col.name] in col.allowed, (ent.table, col.name)
            if ent.event_time:
                assert start <= datetime.fromisoformat(rec[ent.event_time]) < end
            assert rec["updated_at"].endswith("+08:00")
    json.dumps(dataset.tables)


def test_roster_has_1200_people_and_every_production_role(dataset):
    people = dataset.records("hr_employees")
    assert len(people) == 1200
    assert len({p["employee_id"] for p in people}) == 1200
    assert people[0]["email"].endswith("@plant1.example.com")
    roles = Counter((p["team_id"], p["role"]) for p in people)
    for team in ("T1", "T2", "T3", "T4", "T5", "T6", "T7"):
        for role in PRODUCTION_ROLES:
            assert roles[(team, role)] == 1, (team, role)
        assert roles[(team, "maintenance_technician")] >= 1
        assert roles[(team, "operator")] > 100
    directors = sorted(t for (t, r), n in roles.items() if r == "workshop_director")
    assert directors == ["T1", "T3", "T4", "T6"]  # first team of each workshop
    assert roles[("OFF", "account_manager")] >= 5
    assert {p["shift"] for p in people if p["team_id"] == "OFF"} == {"office"}


def test_first_article_pass_rate_dips_exactly_in_the_dip_hours(dataset):
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for rec in dataset.clean_records("mes_first_article_inspections"):
        key = (rec["team_id"], rec["inspected_at"][11:13])
        tally[key][0] += rec["result"] == "pass"
        tally[key][1] += 1
    low = sorted(k for k, (passed, n) in tally.items() if passed / n < 0.925)
    assert low == [("T3", "09"), ("T3", "10"), ("T3", "11")]
    assert all(passed / n >= 0.95 for k, (passed, n) in tally.items() if k not in low)
    dip_codes = Counter(r["defect_code"] for r in dataset.records("mes_first_article_inspections")
                        if r["team_id"] == "T3" and r["result"] == "fail"
                        and r["inspected_at"][11:13] in ("09", "10", "11"))
    assert len(dip_codes) <= 2 and sum(dip_codes.values()) >= 9


def test_only_the_scenario_devices_fail(dataset):
    events = dataset.records("mes_equipment_events")
    failures = Counter(e["device_id"] for e in events if e["event_type"] == "failure")
    repairs = Counter(e["device_id"] for e in events if e["event_type"] == "repair")
    assert failures == {"T2-D03": 3, "T6-D02": 2}
    assert repairs == failures
    starts = [e for e in events if e["occurred_at"] == at("00:00")]
    assert len(starts) == 42 and {e["state"] for e in starts} == {"running"}


def test_one_renewal_and_consistent_production(dataset):
    [renewal] = dataset.records("crm_renewals")
    assert renewal["account_id"] == "ACC-1042" and renewal["closed_at"] == at("15:20")
    managers = {p["employee_id"] for p in dataset.records("hr_employees")
                if p["role"] == "account_manager"}
    assert renewal["owner_id"] in managers
    bad = {}
    for rec in dataset.clean_records("mes_production"):
        assert rec["good_count"] + rec["rework_count"] + rec["scrap_count"] == rec["total_count"]
        bad[(rec["station_id"], rec["hour_start"][:13])] = (rec["rework_count"],
                                                            rec["scrap_count"])
    defects: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for rec in dataset.records("qms_defects"):
        defects[(rec["station_id"], rec["detected_at"][:13])][rec["disposition"] == "scrap"] += (
            rec["quantity"])
    for key, counts in bad.items():
        assert tuple(defects.get(key, [0, 0])) == counts, key


# --- HTTP ---------------------------------------------------------------------------------

def test_health_token_and_errors(server):
    health = requests.get(server.url + "/health", timeout=5)
    assert health.json() == {"status": "ok", "scenario": "default"}
    assert requests.get(server.url + "/hr/teams", timeout=5).status_code == 401
    wrong = requests.get(server.url + "/hr/teams", headers={"Authorization": "Bearer x"},
                         timeout=5)
    assert wrong.status_code == 401
    assert get(server, "/hr/teams").status_code == 200
    assert get(server, "/mes/nothing").status_code == 404
    bad = get(server, "/hr/teams", limit="0")
    assert bad.status_code == 400 and bad.json()["parameter"] == "limit"
    bad = get(server, "/mes/production", start="noon")
    assert bad.status_code == 400 and bad.json()["parameter"] == "start"
    assert get(server, "/hr/teams", until="x").json()["parameter"] == "until"


def test_pagination_returns_every_row_exactly_once_in_order(server, dataset):
    items, cursor = fetch_all(server, "/mes/first_article_inspections", limit=700)
    expected = dataset.records("mes_first_article_inspections")
    assert [i["inspection_id"] for i in items] == [r["inspection_id"] for r in expected]
    assert len(items) == len({i["inspection_id"] for i in items}) == 4032
    assert cursor == max(m.updated_at for m in dataset.meta["mes_first_article_inspections"]
                         ).astimezone(server.scenario.tz).isoformat()


def test_since_cursor_polls_incrementally(server):
    set_clock(server, at("10:00"))
    first, cursor = fetch_all(server, "/mes/equipment_events")
    assert first and all(i["updated_at"] <= at("10:00") for i in first)
    set_clock(server, at("16:00"))
    more, cursor2 = fetch_all(server, "/mes/equipment_events", since=cursor)
    assert more and all(cursor < i["updated_at"] <= at("16:00") for i in more)
    everything, _ = fetch_all(server, "/mes/equipment_events")
    assert [i["event_id"] for i in first + more] == [i["event_id"] for i in everything]
    empty = get(server, "/mes/equipment_events", since=cursor2).json()
    assert empty == {"items": [], "next_page_token": None, "cursor": None}


def test_start_end_window(server):
    items, _ = fetch_all(server, "/mes/production", start=at("13:00"), end=at("14:00"))
    assert len(items) == 42 and {i["hour_start"] for i in items} == {at("13:00")}
    teams, _ = fetch_all(server, "/hr/teams", start=at("13:00"), end=at("14:00"))
    assert len(teams) == 12  # no event time: the window does not apply


def test_5xx_burst_then_success(server):
    window = {"start": at("05:00"), "end": at("06:00")}
    assert get(server, "/mes/production", start=at("07:00"), end=at("08:00")).status_code == 200
    assert [get(server, "/mes/production", **window).status_code for _ in range(2)] == [503, 503]
    ok = get(server, "/mes/production", **window)
    assert ok.status_code == 200 and len(ok.json()["items"]) == 42
    stats = requests.get(server.url + "/_admin/stats", headers=AUTH, timeout=5).json()
    assert stats["faults"]["mes-5xx-burst"]["served"] == 2
    assert stats["requests"]["/mes/production"] == {"200": 2, "503": 2}


def test_timeout_then_success():
    scen = small_scenario(incidents=[{
        "kind": "source_fault", "id": "slow", "system": "mes", "entity": "changeovers",
        "fault": "timeout", "hour": f"{DAY}T09:00:00", "count": 1, "delay_seconds": 0.5}])
    with SimulatorServer(scen) as srv:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(srv.url + "/mes/changeovers", timeout=0.2)
        resp = requests.get(srv.url + "/mes/changeovers", timeout=2)
        assert resp.status_code == 200
        assert srv.stats()["faults"]["slow"]["served"] == 1


def test_malformed_rows_are_served_and_logged(server, dataset):
    logged = [f for f in dataset.fault_log if f.fault == "malformed_rows"]
    assert len(logged) == 3
    assert {f.kind for f in logged} == {"missing_required", "not_allowed", "bad_datetime"}
    items, _ = fetch_all(server, "/mes/first_article_inspections", start=at("13:00"),
                         end=at("14:00"))
    by_id = {i["inspection_id"]: i for i in items}
    assert len(items) == 168
    for fault in logged:
        assert by_id[fault.record_id][fault.column] == fault.served != fault.original


def test_duplicate_rows_are_served_twice(server, dataset):
    items, _ = fetch_all(server, "/mes/production", start=at("14:00"), end=at("15:00"))
    counts = Counter(i["production_id"] for i in items)
    twice = {k for k, n in counts.items() if n == 2}
    assert len(items) == 46 and twice == dataset.faulted_ids("mes_production", "duplicate_rows")
    copies = [i for i in items if i["production_id"] in twice]
    assert all(copies[n] == copies[n + 1] for n in range(0, len(copies), 2))


def test_late_rows_appear_only_after_the_clock_passes_them(server, dataset):
    late = dataset.faulted_ids("qms_defects", "late_rows")
    assert len(late) == 5
    window = {"start": at("09:00"), "end": at("10:00")}
    set_clock(server, at("10:00"))
    early, cursor = fetch_all(server, "/qms/defects", **window)
    assert early and not late & {i["defect_id"] for i in early}
    set_clock(server, at("13:00"))
    later, _ = fetch_all(server, "/qms/defects", **window)
    assert late <= {i["defect_id"] for i in later}
    assert len(later) == len(early) + 5
    polled, _ = fetch_all(server, "/qms/defects", since=cursor, **window)
    assert late <= {i["defect_id"] for i in polled}
    set_clock(server, None)
    assert len(fetch_all(server, "/qms/defects", **window)[0]) == len(later)


def test_literal_records_replace_generated_ones():
    renewal = {"renewal_id": "REN-X", "account_id": "ACC-1", "contract_id": "C-1",
               "owner_id": "E0001", "closed_at": datetime(2026, 11, 2, 9, 30),
               "amount": 10.0, "status": "won", "updated_at": f"{DAY}T09:31:00+08:00"}
    scen = small_scenario(records={"crm/renewals": [renewal]})
    data = generate_dataset(scen)
    served = dict(renewal, closed_at=f"{DAY}T09:30:00+08:00")
    assert data.records("crm_renewals") == [served]
    with SimulatorServer(scen) as srv:
        body = requests.get(srv.url + "/crm/renewals", timeout=5).json()
        assert body["items"] == [served] and body["cursor"] == f"{DAY}T09:31:00+08:00"


def test_admin_records_appear_live(server):
    before = len(fetch_all(server, "/crm/renewals")[0])
    record = {"renewal_id": "REN-LIVE", "account_id": "ACC-2000", "contract_id": "C-9",
              "owner_id": "E1100", "closed_at": at("23:30"), "amount": 5.0, "status": "won"}
    resp = requests.post(server.url + "/_admin/records/crm/renewals", json=[record],
                         headers=AUTH, timeout=5)
    assert resp.json() == {"added": 1}
    items, _ = fetch_all(server, "/crm/renewals")
    assert len(items) == before + 1
    live = items[-1]
    assert live["renewal_id"] == "REN-LIVE" and live["updated_at"]
    assert get(server, "/crm/renewals", start=at("23:00"), end=at("23:59")).json()["items"] == [
        live]
    bad = requests.post(server.url + "/_admin/records/crm/renewals", json={"x": 1},
                        headers=AUTH, timeout=5)
    assert bad.status_code == 400
    assert ENTITIES_BY_TABLE["crm_renewals"].column_names == tuple(record) + ("updated_at",)
