"""Guarded ingestion end to end: simulator over HTTP -> GX suite -> raw / quarantine.

Runs on the embedded warehouse and on PostgreSQL (the warehouse_url fixture).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from perf_orchestration.ingestion.client import SourceCallError, SourceClient
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import hourly_windows, ingest, latest_partition_counts
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.tables import metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine

TOKEN = "test-token"


@pytest.fixture
def default_server():
    """A fresh simulator per test: its fault counters are used up by the calls."""
    server = SimulatorServer(load_scenario(), port=0, token=TOKEN)
    server.start()
    yield server
    server.stop()


def _engine(url):
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    return engine


def _client(server, system, **kw):
    kw.setdefault("backoff_seconds", 0.01)
    kw.setdefault("read_timeout", 1.0)
    return SourceClient(system, server.url, TOKEN, **kw)


def _balance(engine, table):
    """Per partition: (fetched, rows in raw, rows in quarantine) from the warehouse itself."""
    out = {}
    with engine.connect() as conn:
        for row in latest_partition_counts(engine, table):
            key = row["partition_key"]
            raw = conn.execute(sa.text(f"select count(*) from raw.{table} "
                                       "where partition_key = :k"), {"k": key}).scalar()
            quarantined = conn.execute(sa.text(
                "select count(*) from ops.quarantine where entity = :e and partition_key = :k"),
                {"e": table, "k": key}).scalar()
            out[key] = (row["fetched"], raw, quarantined)
    return out


def _assert_balanced(engine, table):
    balance = _balance(engine, table)
    assert balance, f"nothing logged for {table}"
    for key, (fetched, raw, quarantined) in balance.items():
        assert fetched == raw + quarantined, (table, key, fetched, raw, quarantined)
    return balance


def test_default_day_lands_every_row_or_quarantines_it(warehouse_url, default_server):
    scenario = load_scenario()
    engine = _engine(warehouse_url)
    windows = hourly_windows(scenario.start, scenario.end)
    results = {}
    for table in ("mes_production", "mes_first_article_inspections", "qms_defects"):
        entity = ENTITIES_BY_TABLE[table]
        results[table] = ingest(engine, _client(default_server, entity.system), entity,
                                windows, run_id="run-1")
        _assert_balanced(engine, table)

    prod = {p.partition_key: p for p in results["mes_production"].partitions}
    assert prod["2026-11-02-14:00"].duplicates == 4
    # one fetch a day: the 503 burst at 05:00 was retried, counted on the day's first hour
    assert prod["2026-11-02-00:00"].retries >= 2
    assert sum(p.requests for p in prod.values()) == prod["2026-11-02-00:00"].requests
    fai = {p.partition_key: p for p in results["mes_first_article_inspections"].partitions}
    # the three malformed rows sent at 13:00; one whose time cannot be read counts in the
    # first hour of the day it was fetched with
    assert sum(p.quarantined for p in fai.values()) == 3 and fai["2026-11-02-13:00"].quarantined
    defects = {p.partition_key: p for p in results["qms_defects"].partitions}
    assert defects["2026-11-02-00:00"].retries >= 1  # the timeout at 10:00 was retried
    assert defects["2026-11-02-09:00"].late == 5
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "select source_system, source_record_id, ingestion_run_id, partition_key "
            "from raw.mes_production order by source_record_id limit 1")).one()
        assert row.source_system == "mes" and row.ingestion_run_id == "run-1"
        payloads = conn.execute(sa.text(
            "select reason, payload from ops.quarantine "
            "where entity = 'mes_first_article_inspections'")).all()
    assert len(payloads) == 3 and all(p.reason and p.payload.startswith("{") for p in payloads)
    engine.dispose()


def test_rerun_replaces_the_partition(warehouse_url, default_server):
    scenario = load_scenario()
    engine = _engine(warehouse_url)
    entity = ENTITIES_BY_TABLE["mes_production"]
    window = [w for w in hourly_windows(scenario.start, scenario.end)
              if w.partition_key == "2026-11-02-14:00"]
    ingest(engine, _client(default_server, "mes"), entity, window, run_id="a")
    first = _assert_balanced(engine, entity.table)
    ingest(engine, _client(default_server, "mes"), entity, window, run_id="b")
    assert _assert_balanced(engine, entity.table) == first
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select distinct ingestion_run_id from raw.mes_production")
                            ).scalars().all()
    assert runs == ["b"]
    engine.dispose()


def _small(**changes) -> Scenario:
    base = load_scenario().model_dump()
    base.update({"hours": 2, "incidents": []})
    base.update(changes)
    return Scenario.model_validate(base)


def test_exhausted_retries_fail_naming_the_endpoint_and_a_later_run_fills(sqlite_url):
    scenario = _small(incidents=[{
        "kind": "source_fault", "id": "burst", "system": "erp", "entity": "work_orders",
        "fault": "http_5xx", "hour": "2026-11-02T00:00:00", "count": 5}])
    engine = _engine(sqlite_url)
    entity = ENTITIES_BY_TABLE["erp_work_orders"]
    windows = hourly_windows(scenario.start, scenario.end)[:1]
    with SimulatorServer(scenario, port=0, token=TOKEN) as server:
        client = _client(server, "erp", max_retries=2)
        with pytest.raises(SourceCallError) as err:
            ingest(engine, client, entity, windows, run_id="r1")
        assert "ERP endpoint /erp/work_orders?" in str(err.value)
        assert latest_partition_counts(engine, entity.table) == []
        result = ingest(engine, client, entity, windows, run_id="r2")  # 2 more 503s, then ok
    assert result.stats.retries == 2
    _assert_balanced(engine, entity.table)
    engine.dispose()


def test_schema_drift_quarantines_every_row_with_the_missing_column(sqlite_url):
    record = {"production_id": "T1-S01-2026110200", "station_id": "T1-S01", "team_id": "T1",
              "hour_start": "2026-11-02T00:00:00+08:00", "run_minutes": 50.0,
              "total_count": 60, "good_count": 58, "rework_count": 1, "scrap_count": 1,
              "ideal_cycle_seconds": 45.0, "updated_at": "2026-11-02T01:00:05+08:00"}
    scenario = _small(records={"mes/production": [record]})  # planned_minutes is missing
    engine = _engine(sqlite_url)
    entity = ENTITIES_BY_TABLE["mes_production"]
    with SimulatorServer(scenario, port=0, token=TOKEN) as server:
        result = ingest(engine, _client(server, "mes"), entity,
                        hourly_windows(scenario.start, scenario.end), run_id="drift")
    assert result.outcome.missing_columns == ["planned_minutes"]
    assert result.total("landed") == 0 and result.total("quarantined") == 1
    _assert_balanced(engine, entity.table)
    engine.dispose()


def test_late_rows_land_on_a_later_run(sqlite_url):
    scenario = load_scenario()
    engine = _engine(sqlite_url)
    entity = ENTITIES_BY_TABLE["qms_defects"]
    window = [w for w in hourly_windows(scenario.start, scenario.end)
              if w.partition_key == "2026-11-02-09:00"]
    with SimulatorServer(scenario, port=0, token=TOKEN) as server:
        clock = (window[0].end + timedelta(minutes=30)).isoformat()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        requests.post(f"{server.url}/_admin/clock", json={"now": clock}, headers=headers,
                      timeout=5).raise_for_status()
        early = ingest(engine, _client(server, "qms"), entity, window, run_id="early")
        requests.post(f"{server.url}/_admin/clock", json={"now": None}, headers=headers,
                      timeout=5).raise_for_status()
        later = ingest(engine, _client(server, "qms"), entity, window, run_id="later")
    assert later.total("fetched") == early.total("fetched") + 5
    assert later.total("late") == 5
    _assert_balanced(engine, entity.table)
    engine.dispose()
