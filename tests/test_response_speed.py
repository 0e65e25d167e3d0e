"""Response speed and renewals on a plant that is not the default: the contract book and the
service history come from the simulator through the real HTTP sources and guarded landing,
and the analysis recovers a planted renewal odds ratio within its interval, finds none when
none is planted, and counts every ticket it cannot use."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.customers.chart import response_speed_png, wilson
from perf_orchestration.customers.config import ResponseSpeedConfig, load_response_speed
from perf_orchestration.customers.response_speed import analyse, read_evidence, write_evidence
from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import ingest
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.tables import create_tables, metadata
from perf_orchestration.testing.rows import land_rows
from perf_orchestration.warehouse import ensure_schemas, make_engine

TOKEN = "t"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
CONFIG = load_response_speed()


def _sales_plant(odds_ratio: float) -> Scenario:
    """A plant in Europe/Berlin with one welding team and a sales office of 40 account
    managers, six months of history with the given odds ratio planted."""
    return Scenario.model_validate({
        "name": "sales-plant", "seed": 2, "start": "2026-03-27T00:00:00",
        "timezone": "Europe/Berlin", "hours": 2,
        "plant": {"name": "Werk Süd", "teams": [
            {"id": "W1", "name": "Schweißen", "line_id": "WLD-1", "line_type": "welding",
             "workshop": "Rohbau", "stations": 2, "headcount": 20},
            {"id": "VK", "name": "Vertrieb", "line_id": "OFF", "line_type": "office",
             "workshop": "Verwaltung", "stations": 0, "headcount": 160}]},
        "history": {"months": 6, "renewals_per_manager_month": 6,
                    "response_odds_ratio": odds_ratio}})


def _land_history(url: str, scenario: Scenario):
    """Serve the scenario and land both customer sources as the people job does."""
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    create_tables(engine)
    server = SimulatorServer(scenario, port=0, token=TOKEN).start()
    try:
        client = SourceClient("crm", server.url, TOKEN, backoff_seconds=0.01, read_timeout=5.0)
        landed = {table: ingest(engine, client, ENTITIES_BY_TABLE[table], None, "run-1")
                  for table in ("crm_contracts", "crm_ticket_responses")}
    finally:
        server.stop()
    return engine, landed


@pytest.mark.parametrize("planted", [3.8, 1.0])
def test_a_planted_odds_ratio_is_recovered_and_none_is_found_when_none_is_planted(
        warehouse_url, planted):
    engine, landed = _land_history(warehouse_url, _sales_plant(planted))
    for result in landed.values():  # nothing of the logs is lost
        assert result.total("fetched") == result.total("landed") + result.total("quarantined")
        assert result.total("fetched") > 1000
    evidence = analyse(engine, CONFIG)
    assert evidence.tickets > 3000 and evidence.accounts > 1000
    assert evidence.ci_low <= planted <= evidence.ci_high
    if planted > 1:
        assert evidence.status == "effect" and evidence.ci_low > 1
        assert "times the renewal odds" in evidence.statement
    else:
        assert evidence.status == "no_effect"
        assert evidence.statement.startswith("No difference in renewal odds")
    # open contracts have no renewal decision yet: their tickets are left out, counted
    assert evidence.excluded["no_renewal_window"] > 0
    assert sum(b["tickets"] for b in evidence.buckets) == evidence.tickets
    write_evidence(engine, evidence, CONFIG, NOW)
    write_evidence(engine, evidence, CONFIG, NOW)  # rebuilt whole, not appended
    row, buckets = read_evidence(engine)
    assert row["status"] == evidence.status and len(buckets) == len(CONFIG.buckets_hours) + 1
    assert json.loads(row["excluded"]) == evidence.excluded
    engine.dispose()


def _contract(cid, outcome, decided, value=100_000.0):
    return {"contract_id": cid, "account_id": f"A-{cid}", "owner_id": "E1",
            "annual_value": value, "term_end": decided, "decided_at": decided,
            "outcome": outcome, "updated_at": decided}


def _ticket(tid, cid, opened, answered):
    return {"ticket_id": tid, "account_id": f"A-{cid}", "contract_id": cid,
            "opened_at": opened, "first_response_at": answered, "updated_at": opened}


def test_tickets_that_cannot_speak_to_renewals_are_counted_per_reason(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    create_tables(engine)
    decided = datetime(2026, 6, 1)
    land_rows(engine, "crm_contracts", [
        _contract("C1", "renewed", decided), _contract("C2", "open", None),
        _contract("C3", "churned", decided, value=None)], "contract_id")
    opened = datetime(2026, 5, 1, 9)
    land_rows(engine, "crm_ticket_responses", [
        _ticket("T1", "C1", opened, datetime(2026, 5, 1, 10)),   # usable
        _ticket("T2", "C9", opened, datetime(2026, 5, 1, 10)),   # contract not in the book
        _ticket("T3", "C2", opened, datetime(2026, 5, 1, 10)),   # no renewal decision yet
        _ticket("T4", "C1", datetime(2026, 7, 1), None),         # after the decision
        _ticket("T5", "C1", opened, None),                       # never answered
        _ticket("T6", "C1", opened, datetime(2026, 4, 30)),      # answered before opened
        _ticket("T7", "C3", opened, datetime(2026, 5, 2)),       # no account size
        _ticket("T8", "C1", datetime(2025, 6, 1), datetime(2025, 6, 1, 2)),  # too early
    ], "ticket_id")
    evidence = analyse(engine, CONFIG)
    assert evidence.excluded == {"no_contract": 1, "no_renewal_window": 3, "unanswered": 1,
                                 "answered_before_opened": 1, "no_account_size": 1}
    assert evidence.tickets == 1 and evidence.status == "insufficient"
    assert evidence.odds_ratio is None
    assert "1 decided ticket(s); an estimate needs at least 100" in evidence.statement
    write_evidence(engine, evidence, CONFIG, NOW)  # an estimate-less row is still written
    assert read_evidence(engine)[0]["statement"] == evidence.statement
    engine.dispose()


def test_an_empty_history_gives_a_line_not_a_traceback(sqlite_url):
    engine = make_engine(sqlite_url)
    ensure_schemas(engine, metadata)
    create_tables(engine)
    evidence = analyse(engine, CONFIG)
    assert evidence.status == "insufficient" and evidence.tickets == 0
    assert evidence.statement.startswith("No estimate: 0 decided ticket(s)")
    assert response_speed_png({**evidence.as_dict(), "fast_hours": 4}, evidence.buckets) is None
    engine.dispose()


def test_the_chart_draws_one_bar_per_bucket_with_tickets():
    from PIL import Image

    buckets = [{"bucket": "<= 4 h", "high_hours": 4.0, "tickets": 40, "renewed": 30},
               {"bucket": "> 4 h", "high_hours": None, "tickets": 60, "renewed": 20}]
    png = response_speed_png({"statement": "Customers answered within 4 h renew more.",
                              "fast_hours": 4}, buckets)
    assert Image.open(io.BytesIO(png)).size == (640, 340)
    low, high = wilson(30, 40)
    assert 0.59 < low < 0.75 < high < 0.86


@pytest.mark.parametrize("text, problem", [
    ("version: v\nbuckets_hours: [1, 8, 24]\n", "must contain fast_hours (4)"),
    ("version: v\nbuckets_hours: [8, 4]\n", "positive and increasing"),
    ("version: v\nconfidence: 1.5\n", "confidence"),
])
def test_a_bad_response_speed_file_names_the_file_and_the_field(tmp_path, text, problem):
    path = tmp_path / "response_speed.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_response_speed(path)
    assert str(path) in str(err.value) and problem in str(err.value)
    assert ResponseSpeedConfig(version="v").fast_hours == 4
