"""3x3 breakpoint analysis on a plant that is not the default (three lines in Europe/Berlin):
each chain is found from the data, never from an incident's name. An erp→wms outage and a
production dip, neither in the default scenario, are found with the bundled causes.yaml;
a plant without an outage has no interface break; noise alone supports no cause; too little
history stops a chain where the data stops; a bad causes.yaml is one line per entry."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from _plant_flow import run_flow, unbalanced_windows

from perf_orchestration.alerting.evaluate import evaluate_metric_rules
from perf_orchestration.alerting.observations import subject_observations
from perf_orchestration.alerting.rules import load_rules
from perf_orchestration.breakpoints.config import load_causes
from perf_orchestration.breakpoints.store import read_chains, run_breakpoints
from perf_orchestration.breakpoints.trace import trace_link
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.interfaces.config import load_interfaces
from perf_orchestration.interfaces.health import judge
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.tables import alert_episodes
from perf_orchestration.warehouse import make_engine

TEAMS = [
    {"id": "W1", "name": "Schweissen", "line_id": "WLD-1", "line_type": "welding",
     "workshop": "Rohbau", "stations": 3, "headcount": 30},
    {"id": "A1", "name": "Montage", "line_id": "ASM-1", "line_type": "assembly",
     "workshop": "Montage", "stations": 3, "headcount": 30},
    {"id": "M1", "name": "Zerspanung", "line_id": "MCH-1", "line_type": "machining",
     "workshop": "Fertigung", "stations": 3, "headcount": 30},
    {"id": "VK", "name": "Vertrieb", "line_id": "OFF", "line_type": "office",
     "workshop": "Verwaltung", "stations": 0, "headcount": 20}]
INCIDENTS = {
    "erp-wms-outage": [{"kind": "interface_down", "id": "order-feed-down", "link": "erp->wms",
                        "start": "2026-03-11T07:00:00", "hours": 4}],
    "availability-dip": [{"kind": "metric_dip", "id": "assembly-slow", "team": "A1",
                          "metric": "availability", "value": 0.45,
                          "start": "2026-03-11T12:00:00", "hours": 4}],
    "quiet": [],
}
NOW = datetime(2026, 3, 12, tzinfo=UTC)


def _scenario(case: str, hours: int = 48, seed: int = 5) -> Scenario:
    return Scenario.model_validate({
        "name": case, "seed": seed, "start": "2026-03-10T00:00:00",
        "timezone": "Europe/Berlin", "hours": hours,
        "plant": {"name": "Werk Nord", "teams": TEAMS},
        "baseline": {"order_lines_per_day": 96}, "history": None,
        "incidents": INCIDENTS[case]})


def _chains(url: str, scenario: Scenario, monkeypatch, days: int = 2) -> list[dict]:
    monkeypatch.setenv("PERFFLOW_PLANT_TIMEZONE", scenario.timezone)
    result = run_flow(scenario, url)
    assert unbalanced_windows(result) == []
    engine = make_engine(url)
    try:
        judge(engine, load_interfaces(), scenario.start, scenario.end, NOW)
        last = (scenario.end.astimezone(scenario.tz)).date()
        last = last if scenario.end.astimezone(scenario.tz).hour else date.fromordinal(
            last.toordinal() - 1)
        run_breakpoints(engine, load_causes(), load_rules(), last, days, NOW)
        return read_chains(engine)
    finally:
        engine.dispose()


def _nodes(chain: dict) -> list[str]:
    return [s["node"] for s in chain["steps"][1:]]


def test_an_outage_of_another_link_is_found_down_to_the_interface(warehouse_url, monkeypatch):
    chains = _chains(warehouse_url, _scenario("erp-wms-outage"), monkeypatch)
    first = chains[0]
    assert first["problem_id"] == "on_time_delivery_rate@plant/2026-03-11"
    assert _nodes(first) == ["order_receipt_wait_h", "interface:erp→wms"]
    assert first["ends_at_interface"] and first["steps"][-1]["is_break"]
    link = first["steps"][-1]
    assert link["value_during"] > link["value_before"] and link["correlation"] >= 0.5
    assert link["records"][0].startswith("ops.interface_health:erp→wms@2026-03-11-")
    tested = {t["node"]: t for t in first["steps"][0]["tested"]}
    assert not tested["dispatch_accuracy"]["supported"]  # the stock sync was fine
    assert not any(c["ends_at_interface"] for c in chains[1:])
    engine = make_engine(warehouse_url)
    try:
        lines = trace_link(engine, f"1/{link['level']}")
    finally:
        engine.dispose()
    assert "the deepest supported break, on an interface" in "\n".join(lines)
    assert any("raw.erp_order_lines:" in line and "landed by run run-1" in line
               for line in lines)


def test_the_delivery_rule_fires_against_the_days_before(warehouse_url, monkeypatch):
    """delivery-delay-up-5-points on line-day windows: the outage day's delay rate against
    the day before it (the only history there is) fires for the lines it hurt."""
    scenario = _scenario("erp-wms-outage")
    _chains(warehouse_url, scenario, monkeypatch)
    rules = load_rules()
    rule = rules.rule("delivery-delay-up-5-points")
    engine = make_engine(warehouse_url)
    try:
        windows = subject_observations(engine, rule.metric, "line", scenario.start.replace(
            tzinfo=None) - timedelta(hours=1), scenario.end.replace(tzinfo=None),
            rule.condition.against_days)
        evaluate_metric_rules(engine, rules, datetime(2026, 3, 10, 23), datetime(2026, 3, 11, 23))
        with engine.connect() as conn:
            fired = conn.execute(sa.select(alert_episodes.c.subject).where(
                alert_episodes.c.rule_id == rule.id, alert_episodes.c.fired_at.is_not(None))) \
                .scalars().all()
    finally:
        engine.dispose()
    first_days = [w[0] for w in windows.values()]
    assert all(w.value is None for w in first_days)  # no day before the first: not judged
    second = {line: w[1].value for line, w in windows.items()}
    assert max(second.values()) > 0.05 and set(fired) == {
        line for line, v in second.items() if v is not None and v > 0.05}


def test_a_production_dip_is_found_and_no_interface_is_blamed(sqlite_url, monkeypatch):
    chains = _chains(sqlite_url, _scenario("availability-dip"), monkeypatch)
    delivery = next(c for c in chains if c["problem_kind"] == "target")
    assert _nodes(delivery) == ["availability"]
    assert delivery["steps"][1]["lag_hours"] == 2
    assert delivery["steps"][1]["value_during"] < delivery["steps"][1]["value_before"]
    assert "no cause of availability the data supports" in delivery["note"]
    assert not any(c["ends_at_interface"] for c in chains)


def test_noise_alone_supports_no_cause_and_no_interface_breaks(warehouse_url, monkeypatch):
    chains = _chains(warehouse_url, _scenario("quiet", seed=6), monkeypatch)
    assert all(len(c["steps"]) == 1 for c in chains), [c["text"] for c in chains]
    for chain in chains:
        assert "supports" in chain["note"] or "needed" in chain["note"]


def test_too_little_history_stops_the_chain_where_the_data_stops(sqlite_url, monkeypatch):
    scenario = Scenario.model_validate({
        **_scenario("quiet").model_dump(mode="json"), "start": "2026-03-11T08:00:00",
        "hours": 4, "incidents": [{"kind": "interface_down", "id": "x", "link": "wms->tms",
                                   "start": "2026-03-11T02:00:00", "hours": 9}]})
    chains = _chains(sqlite_url, scenario, monkeypatch, days=1)
    assert chains and not chains[0]["ends_at_interface"]
    reasons = [t["reason"] for t in chains[0]["steps"][-1]["tested"]]
    assert "the data stops" in chains[0]["note"] or any("data stops" in r for r in reasons)


@pytest.mark.parametrize("text, problem", [
    ("causes:\n  on_time_delivery_rate:\n    - {cause: happiness, sign: '+'}\n",
     "causes.on_time_delivery_rate[0]: unknown cause 'happiness'"),
    ("causes:\n  dispatch_accuracy:\n    - {cause: stock_age_h, sign: '-'}\n"
     "  stock_age_h:\n    - {cause: dispatch_accuracy, sign: '-'}\n",
     "causes: a cycle dispatch_accuracy -> stock_age_h -> dispatch_accuracy"),
    ("days: 2\ncauses:\n  availability:\n    - {cause: device_failures, sign: '-', "
     "lag_hours: 48}\n", "causes.availability[0]: lag of 48 h is longer than the history"),
    ("problems:\n  - {metric: stock_age_h, op: '>', value: 3}\n",
     "problems[0]: unknown metric 'stock_age_h'"),
])
def test_a_bad_causes_file_names_the_file_and_the_entry(tmp_path, text, problem):
    path = tmp_path / "causes.yaml"
    path.write_text("version: t\n" + text)
    with pytest.raises(ConfigError) as err:
        load_causes(path)
    lines = err.value.problems
    assert len(lines) == 1 and str(path) in lines[0] and problem in lines[0], lines


def test_the_bundled_causes_and_chain_rows_are_json_clean():
    config = load_causes()
    assert config.of("stock_age_h")[0].cause == "interface:wms→tms"
    assert json.loads(json.dumps([c.model_dump() for c in config.of("dispatch_accuracy")]))
