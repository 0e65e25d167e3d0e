"""The source watch sensor judges the rules from the simulator's records as they appear:
the painting dip fires once when its second hour closes, the third failure of a device
fires the device rule, a replayed tick adds nothing, and a failing source is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa

from perf_orchestration.alerting.rules import load_rules, observations_from
from perf_orchestration.alerting.source_watch import WatchCursor, watch_tick
from perf_orchestration.alerting.store import (
    RULES_ASSET,
    SOURCE_WATCH,
    action_requests_since,
    record_metric_evaluation,
)
from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import ingest
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.tables import alert_episodes, alert_transitions, metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()


def local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 2, hour, minute, tzinfo=TZ)


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(load_scenario(), port=0, token="t0ken") as server:
        yield server


def _warehouse(url: str, server: SimulatorServer):
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    client = SourceClient("hr", server.url, "t0ken")
    for name in ("hr_teams", "hr_employees"):
        ingest(engine, client, ENTITIES_BY_TABLE[name], None, "roster")
    return engine


def _ticks(engine, server, hours, cursor=None):
    """One tick per quarter hour of plant time over `hours`, the clock moving on."""
    clients = {"mes": SourceClient("mes", server.url, "t0ken")}
    cursor = cursor or WatchCursor()
    outcomes = []
    start, end = hours
    t = start
    while t <= end:
        server.set_clock(t)
        outcomes.append((t, watch_tick(engine, RULES, clients, cursor, now=t)))
        t += timedelta(minutes=15)
    return cursor, outcomes


def _episodes(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(alert_episodes).order_by(
            alert_episodes.c.episode_id)).mappings().all()


def test_the_dip_fires_once_when_its_second_hour_closes(warehouse_url, simulator):
    engine = _warehouse(warehouse_url, simulator)
    try:
        cursor, outcomes = _ticks(engine, simulator, (local(7), local(13, 30)))
        fired = [(t, r.run_key) for t, o in outcomes for r in o.requests if r.kind == "fire"]
        fai = [(t, key) for t, key in fired if key.startswith("fai-below-92-5")]
        assert len(fai) == 1, fired
        at, key = fai[0]
        start_utc = local(9).astimezone(UTC).replace(tzinfo=None).isoformat()
        assert key == f"fai-below-92-5|T3|{start_utc}|fire"
        # the 10:00-11:00 hour closes once a record a minute past 11:00 has arrived
        assert local(11) < at <= local(11, 30)
        episode = next(e for e in _episodes(engine) if e["rule_id"] == "fai-below-92-5")
        signal = episode["signal_at"].replace(tzinfo=UTC)
        assert local(11, 1) <= signal <= at, "signal is the record that completed the hour"
        assert episode["value"] < 0.925 and episode["fired_at"] is not None
        # the dip lasts three hours: the first good hour (12:00-13:00) resolves it
        assert episode["state"] == "resolved"
        resolved = [r.run_key for _, o in outcomes for r in o.requests
                    if r.kind == "resolved"]
        assert resolved == [f"fai-below-92-5|T3|{start_utc}|resolved"]
        assert not any(o.errors for _, o in outcomes)
    finally:
        engine.dispose()


def test_replayed_tick_adds_nothing_and_rules_asset_finds_the_hours_judged(sqlite_url,
                                                                             simulator):
    engine = _warehouse(sqlite_url, simulator)
    cursor, _ = _ticks(engine, simulator, (local(8), local(11, 30)))
    before = _episodes(engine)
    # a tick that failed after recording is replayed from the cursor it started with
    stale = WatchCursor.from_json(WatchCursor().to_json())
    clients = {"mes": SourceClient("mes", simulator.url, "t0ken")}
    simulator.set_clock(local(11, 30))
    again = watch_tick(engine, RULES, clients, stale, now=local(8))
    assert _episodes(engine) == before
    # it still asks for the run it owns (Dagster keeps one run per run key)
    assert [r.run_key for r in again.requests] == [
        r.run_key for r in action_requests_since(engine, 0, SOURCE_WATCH)]
    # the rules asset, judging the same hours from the marts later, adds nothing
    rule = RULES.rule("fai-below-92-5")
    hours = observations_from([0.8, 0.8], local(9).astimezone(UTC).replace(tzinfo=None))
    result = record_metric_evaluation(engine, rule, RULES.stamp, {"T3": hours},
                                      recorded_by=RULES_ASSET)
    assert result.fired == [] and result.transitions == 0
    assert action_requests_since(engine, 0, RULES_ASSET) == []
    engine.dispose()


def test_the_third_failure_of_a_device_fires_the_device_rule(sqlite_url, simulator):
    engine = _warehouse(sqlite_url, simulator)
    _, outcomes = _ticks(engine, simulator, (local(2), local(20)))
    device = [(t, r.run_key) for t, o in outcomes for r in o.requests
              if r.run_key.startswith("device-failures")]
    assert [k for _, k in device] == ["device-failures-3-per-day|T2-D03|2026-11-02|fire"]
    assert device[0][0] >= local(19, 25), "fires only once the third failure is visible"
    episode = next(e for e in _episodes(engine) if e["rule_id"] == "device-failures-3-per-day")
    assert episode["signal_at"] == local(19, 25).astimezone(UTC).replace(tzinfo=None)
    engine.dispose()


def test_cursor_is_small_json_and_a_foreign_cursor_is_refused():
    cursor = WatchCursor()
    assert WatchCursor.from_json(cursor.to_json()) == cursor
    with pytest.raises(ValueError, match="version"):
        WatchCursor.from_json('{"v": 99}')


def test_a_failing_source_is_named_and_read_again_next_tick(sqlite_url):
    engine = make_engine(sqlite_url)
    ensure_schemas(engine, metadata)
    clients = {"mes": SourceClient("mes", "http://127.0.0.1:9", None, max_retries=0,
                                   connect_timeout=0.5)}
    cursor = WatchCursor()
    outcome = watch_tick(engine, RULES, clients, cursor, now=local(9))
    assert any("mes_first_article_inspections" in e and "MES endpoint" in e
               for e in outcome.errors), outcome.errors
    assert all(c.since is None for c in cursor.entities.values())
    assert "MES endpoint" in outcome.describe()
    engine.dispose()


def test_the_dagster_sensor_launches_one_run_per_episode(sqlite_url, simulator, monkeypatch):
    engine = _warehouse(sqlite_url, simulator)
    engine.dispose()
    for system in ("mes", "qms", "erp", "crm", "hr"):
        monkeypatch.setenv(f"PERFFLOW_{system.upper()}_URL", simulator.url)
        monkeypatch.setenv(f"PERFFLOW_{system.upper()}_TOKEN", "t0ken")
    monkeypatch.setenv("PERFFLOW_WAREHOUSE_URL", sqlite_url)
    from perf_orchestration.definitions import defs

    sensor = defs.resolve_sensor_def("source_watch_sensor")
    resources = {k: defs.resources[k] for k in ("warehouse", "mes_api")}
    # live records: a device fails three times now (the simulator stamps them as they come)
    now = datetime.now(TZ).replace(microsecond=0)
    simulator.set_clock(None)
    events = [{"event_id": f"LIVE-EV-{i}", "device_id": "T4-D01", "device_type": "robot",
               "station_id": "T4-S01", "team_id": "T4", "occurred_at": now.isoformat(),
               "event_type": "failure", "state": "down", "failure_code": "F04-WIRE-FEED"}
              for i in range(3)]
    with dg.build_sensor_context(resources=resources) as ctx:
        first = sensor.evaluate_tick(ctx)
    assert first.run_requests == [] and first.skip_message
    simulator.add_records("mes", "equipment_events", events)
    with dg.build_sensor_context(resources=resources, cursor=first.cursor) as ctx:
        tick = sensor.evaluate_tick(ctx)
    key = f"device-failures-3-per-day|T4-D01|{now.date().isoformat()}|fire"
    assert [r.run_key for r in tick.run_requests] == [key]
    assert tick.run_requests[0].run_config["ops"]["deliver_episode_actions"]["config"] == {
        "episode_id": key.removesuffix("|fire"), "kind": "fire"}
    with dg.build_sensor_context(resources=resources, cursor=tick.cursor) as ctx:
        quiet = sensor.evaluate_tick(ctx)
    assert quiet.run_requests == [] and "fetched" in quiet.skip_message
    with make_engine(sqlite_url).connect() as conn:
        recorded_by = conn.execute(sa.select(alert_transitions.c.recorded_by)).scalars().all()
    assert recorded_by == [SOURCE_WATCH]
