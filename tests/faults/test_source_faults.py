"""Source-system and warehouse faults met by the guarded ingestion, each ending with the
same invariants (tests/faults/_invariants.py): nothing lost, nothing in two places, each
row in the partition of its own time, and the hour's metrics recomputed when late rows
arrive.

The plant simulator serves the faults over real sockets; ingestion runs in process for
one to three hourly partitions, on the embedded warehouse and on PostgreSQL where it is
cheap.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from _invariants import check_ingestion, check_own_partition
from _scenarios import (
    FIRST_HOUR,
    TOKEN,
    TcpRelay,
    build_team_hourly,
    engine,
    fault,
    ingest_table,
    scenario,
    team_hour_value,
    windows,
)

from perf_orchestration.ingestion.client import SourceCallError
from perf_orchestration.ingestion.freshness import source_freshness
from perf_orchestration.ingestion.landing import latest_partition_counts
from perf_orchestration.simulator import SimulatorServer

SECOND_HOUR = "2026-11-02-01:00"


def _served_rows(server: SimulatorServer, table: str, keys: list[str]) -> int:
    """Rows the source files under the partitions `keys` (what a clean fetch returns)."""
    wins = windows(server.scenario, keys)
    return sum(1 for m in server.dataset.meta[table]
               if any(w.start <= m.event_at < w.end for w in wins))


HTTP_FAULTS = [
    pytest.param("503 burst on /mes/production", "mes_production",
                 fault("http_5xx", "mes_production", count=3, status=503), {}, id="503-burst"),
    pytest.param("429 with Retry-After on /qms/defects", "qms_defects",
                 fault("rate_limited", "qms_defects", count=1, retry_after_seconds=1), {},
                 id="429-retry-after"),
    pytest.param("read timeout on /mes/equipment_events", "mes_equipment_events",
                 fault("timeout", "mes_equipment_events", count=1, delay_seconds=1.0),
                 {"read_timeout": 0.3}, id="timeout"),
    pytest.param("truncated JSON on /mes/first_article_inspections",
                 "mes_first_article_inspections",
                 fault("truncated_json", "mes_first_article_inspections", count=2), {},
                 id="truncated-json"),
    pytest.param("malformed JSON on /mes/production", "mes_production",
                 fault("malformed_json", "mes_production", count=1), {}, id="malformed-json"),
]


@pytest.mark.parametrize(("name", "table", "incident", "client_kw"), HTTP_FAULTS)
def test_http_faults_are_retried_and_every_row_lands_once(invariant, warehouse_url, name, table,
                                                          incident, client_kw):
    sc = scenario(incidents=[incident])
    eng = engine(warehouse_url)
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        result = ingest_table(eng, server, table, [FIRST_HOUR], **client_kw)
        served = server.stats()["faults"][incident["id"]]["served"]
        expected = _served_rows(server, table, [FIRST_HOUR])
    assert served == incident["count"]  # the fault really happened
    assert result.stats.retries >= incident["count"]
    counts = check_ingestion(invariant, name, eng, table)
    invariant(name, "fetched = what the source holds for the hour",
              holds=counts["fetched"] == expected, fetched=counts["fetched"], served=expected,
              retries=result.stats.retries)
    eng.dispose()


def test_a_body_cut_short_every_time_fails_naming_the_attempts_and_a_later_run_fills(
        invariant, sqlite_url):
    name = "truncated JSON until retries run out on /qms/defects"
    sc = scenario(incidents=[fault("truncated_json", "qms_defects", count=3)])
    eng = engine(sqlite_url)
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        with pytest.raises(SourceCallError) as err:
            ingest_table(eng, server, "qms_defects", [FIRST_HOUR], max_retries=2)
        invariant(name, "a failed run writes nothing",
                  holds=latest_partition_counts(eng, "qms_defects") == [],
                  logged_partitions=len(latest_partition_counts(eng, "qms_defects")))
        later = ingest_table(eng, server, "qms_defects", [FIRST_HOUR], run_id="run-2")
        requests = server.stats()["requests"]["/qms/defects"]
    message = str(err.value)
    assert "QMS endpoint /qms/defects?" in message and "after 3 attempts" in message, message
    assert "cut short" in message
    assert requests == {"200": 4} and later.stats.retries == 0
    check_ingestion(invariant, name, eng, "qms_defects")
    eng.dispose()


def test_a_source_process_that_stops_fails_the_run_and_a_later_run_fills(invariant, sqlite_url):
    name = "source process stopped (connection refused) on /mes/production"
    sc = scenario()
    eng = engine(sqlite_url)
    server = SimulatorServer(sc, port=0, token=TOKEN).start()
    port = server.port
    first = ingest_table(eng, server, "mes_production", [FIRST_HOUR], run_id="before")
    server.stop()
    with pytest.raises(SourceCallError) as err:
        ingest_table(eng, server, "mes_production", [FIRST_HOUR], run_id="down", max_retries=1)
    assert "MES endpoint /mes/production?" in str(err.value)
    assert "refused" in str(err.value).lower()
    with eng.connect() as conn:
        runs = conn.execute(sa.text("select distinct ingestion_run_id from raw.mes_production")
                            ).scalars().all()
    invariant(name, "a failed run leaves the earlier landing whole", holds=runs == ["before"],
              runs=runs, landed_before=first.total("landed"))
    with SimulatorServer(sc, port=port, token=TOKEN) as back:
        again = ingest_table(eng, back, "mes_production", [FIRST_HOUR], run_id="after")
    assert again.total("landed") == first.total("landed") > 0
    check_ingestion(invariant, name, eng, "mes_production")
    eng.dispose()


def test_wrong_types_and_duplicate_rows_are_quarantined_never_landed(invariant, warehouse_url):
    name = "wrong types and duplicate rows on /mes/first_article_inspections"
    table = "mes_first_article_inspections"
    sc = scenario(incidents=[
        dict(fault("malformed_rows", table, count=5), id="wrong-types"),
        dict(fault("duplicate_rows", table, count=3), id="copies")])
    eng = engine(warehouse_url)
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        result = ingest_table(eng, server, table, [FIRST_HOUR])
        kinds = {f.kind for f in server.dataset.fault_log if f.incident_id == "wrong-types"}
    assert {"non_numeric", "bad_datetime", "not_allowed"} & kinds  # wrong types served
    reasons = result.quarantine_reasons()
    assert reasons.pop("duplicate_row") == 3 and sum(reasons.values()) == 5
    counts = check_ingestion(invariant, name, eng, table)
    invariant(name, "every faulty row quarantined", holds=counts["quarantined"] == 8,
              quarantined=counts["quarantined"], reasons=result.quarantine_reasons())
    check_own_partition(invariant, name, eng, table)
    eng.dispose()


def test_schema_drift_a_renamed_column_quarantines_every_row(invariant, sqlite_url):
    name = "schema drift: planned_minutes renamed to planned_min on /mes/production"
    rows = [{"production_id": f"T1-S0{i}-2026110200", "station_id": f"T1-S0{i}", "team_id": "T1",
             "hour_start": "2026-11-02T00:00:00+08:00", "planned_min": 60.0,
             "run_minutes": 50.0, "total_count": 60, "good_count": 58, "rework_count": 1,
             "scrap_count": 1, "ideal_cycle_seconds": 45.0,
             "updated_at": "2026-11-02T01:00:05+08:00"} for i in (1, 2)]
    sc = scenario(records={"mes/production": rows})
    eng = engine(sqlite_url)
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        result = ingest_table(eng, server, "mes_production", [FIRST_HOUR])
    assert result.outcome.missing_columns == ["planned_minutes"]
    assert result.outcome.unexpected_columns == ["planned_min"]
    counts = check_ingestion(invariant, name, eng, "mes_production")
    invariant(name, "a drifted batch lands nothing", holds=counts["landed"] == 0
              and counts["quarantined"] == 2, **{k: counts[k] for k in ("landed", "quarantined")})
    eng.dispose()


def test_late_rows_out_of_order_land_in_their_own_hour_and_the_hour_is_recomputed(
        invariant, warehouse_url):
    name = "first-article inspections arriving 3 h late, after the next hour's rows"
    table = "mes_first_article_inspections"
    dips = [{"kind": "metric_dip", "id": f"dip-{t}", "team": t, "metric":
             "first_article_pass_rate", "value": 0.5, "start": "2026-11-02T00:00:00",
             "hours": 1} for t in ("T1", "T2", "T3", "T4", "T5", "T6", "T7")]
    sc = scenario(hours=3, incidents=[*dips, fault("late_rows", table, count=4, late_hours=3)])
    eng = engine(warehouse_url)
    keys = [FIRST_HOUR, SECOND_HOUR]
    wins = windows(sc, keys)
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        late = {f.record_id for f in server.dataset.fault_log}
        teams = {r["inspection_id"]: r["team_id"] for r in server.dataset.tables[table]}
        team = max({teams[i] for i in late}, key=lambda t: sum(teams[i] == t for i in late))
        n_late = sum(teams[i] == team for i in late)
        ingest_table(eng, server, "hr_teams")
        server.set_clock(wins[-1].end + timedelta(minutes=10))  # the late rows are not out yet
        early = ingest_table(eng, server, table, keys, run_id="early")
        build_team_hourly(eng, wins[0].start, wins[-1].end)
        before = team_hour_value(eng, "first_article_pass_rate", team, FIRST_HOUR)
        server.set_clock(None)
        later = ingest_table(eng, server, table, keys, run_id="later")
        build_team_hourly(eng, wins[0].start, wins[-1].end)
        after = team_hour_value(eng, "first_article_pass_rate", team, FIRST_HOUR)
    first = {p.partition_key: p for p in later.partitions}[FIRST_HOUR]
    assert early.total("fetched") + len(late) == later.total("fetched")
    assert first.late == len(late)
    counts = check_ingestion(invariant, name, eng, table)
    check_own_partition(invariant, name, eng, table)
    with eng.connect() as conn:
        landed_late = conn.execute(sa.text(
            f"select partition_key, count(*) from raw.{table} where inspection_id in "
            "(" + ", ".join(f":i{n}" for n in range(len(late))) + ") group by partition_key"),
            {f"i{n}": i for n, i in enumerate(sorted(late))}).all()
    invariant(name, "late rows land in their own hour on the next run",
              holds=landed_late == [(FIRST_HOUR, len(late))], late_rows=len(late),
              landed=dict(landed_late), fetched=counts["fetched"])
    recomputed = (after["fai_total"] == before["fai_total"] + n_late
                  and after["value"] != before["value"]
                  and after["value"] == pytest.approx(after["fai_passed"] / after["fai_total"]))
    invariant(name, "the hour's metric is recomputed with the late rows", holds=recomputed,
              team=team, late_rows_of_team=n_late, total_before=before["fai_total"],
              total_after=after["fai_total"], rate_before=before["value"],
              rate_after=after["value"])
    eng.dispose()


def test_clock_skew_between_sources_moves_rows_across_the_hour_never_loses_them(
        invariant, warehouse_url):
    name = "QMS clock 20 min ahead of the MES"
    table = "qms_defects"
    sc = scenario(incidents=[fault("clock_skew", table, skew_seconds=1200)])
    eng = engine(warehouse_url)
    keys = [FIRST_HOUR, SECOND_HOUR]
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        skewed = [f for f in server.dataset.fault_log if f.fault == "clock_skew"]
        crossed = sum(1 for f in skewed if f.served >= "2026-11-02T01:00:00+08:00")
        expected = _served_rows(server, table, keys)
        ingest_table(eng, server, table, keys)
        ingest_table(eng, server, "mes_production", keys)
    assert skewed and crossed > 0
    counts = check_ingestion(invariant, name, eng, table)
    check_ingestion(invariant, name, eng, "mes_production")
    check_own_partition(invariant, name, eng, table)
    invariant(name, "every skewed row fetched once across the two hours",
              holds=counts["fetched"] == expected, fetched=counts["fetched"], served=expected,
              skewed=len(skewed), crossed_into_next_hour=crossed)
    eng.dispose()


def test_a_source_that_stops_reads_as_an_empty_stale_hour_then_fills(invariant, sqlite_url):
    name = "MES production stops publishing for two hours"
    table = "mes_production"
    sc = scenario(incidents=[fault("source_stops", table, stop_hours=2)])
    eng = engine(sqlite_url)
    wins = windows(sc, [FIRST_HOUR])
    with SimulatorServer(sc, port=0, token=TOKEN) as server:
        ingest_table(eng, server, "hr_teams")
        ingest_table(eng, server, "hr_employees")
        server.set_clock(wins[0].end + timedelta(minutes=30))  # still stopped
        ingest_table(eng, server, table, [FIRST_HOUR], run_id="stopped")
        stale = source_freshness(eng, table, "updated_at", 1.0, wins[0].start, wins[0].end)
        build_team_hourly(eng, wins[0].start, wins[0].end)
        empty = team_hour_value(eng, "oee", "T1", FIRST_HOUR)
        with eng.connect() as conn:
            reason = conn.execute(sa.text(
                "select null_reason from marts.team_hourly_quality where team_id = 'T1' "
                "and partition_key = :p"), {"p": FIRST_HOUR}).scalar()
        server.set_clock(None)
        resumed = ingest_table(eng, server, table, [FIRST_HOUR], run_id="resumed")
        build_team_hourly(eng, wins[0].start, wins[0].end)
        filled = team_hour_value(eng, "oee", "T1", FIRST_HOUR)
    [logged] = [r for r in latest_partition_counts(eng, table)]
    invariant(name, "the empty hour is logged, flagged stale, and reads null, not 0",
              holds=not stale.fresh and empty["value"] is None and bool(reason),
              fresh=stale.fresh, oee=empty["value"], null_reason=reason)
    counts = check_ingestion(invariant, name, eng, table)
    invariant(name, "the hour fills when the source resumes",
              holds=resumed.total("late") == counts["landed"] > 0
              and filled["value"] is not None,
              landed=counts["landed"], late=resumed.total("late"), oee=filled["value"],
              run=logged["run_id"])
    eng.dispose()


def test_warehouse_unreachable_at_the_start_of_a_write_keeps_the_partition_whole(
        invariant, pg_url):
    """The connection is cut after the source was read, before the landing transaction;
    tests/test_warehouse_faults.py covers a connection lost inside it."""
    from test_ingestion_assets import _materialize

    name = "PostgreSQL unreachable when the landing begins"
    table = "mes_production"
    url = sa.make_url(pg_url)
    relay = TcpRelay(url.host or "127.0.0.1", url.port or 5432)
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    eng = engine(pg_url)
    try:
        with SimulatorServer(scenario(), port=0, token="t") as server:
            first = _materialize(table, server, relayed)
            assert first.success
            before = check_ingestion(invariant, name, eng, table)
            relay.cut()
            failed = _materialize(table, server, relayed)
            relay.mend()
            again = _materialize(table, server, relayed)
    finally:
        relay.close()
    assert not failed.success
    failure = next(e for e in failed.all_events
                   if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.message
    assert "warehouse" in message and "re-run" in message, message
    with eng.connect() as conn:
        logged = conn.execute(sa.text("select run_id from ops.ingestion_log")).scalars().all()
    invariant(name, "the failed run wrote nothing", holds=failed.run_id not in logged,
              runs_logged=len(logged))
    assert again.success
    after = check_ingestion(invariant, name, eng, table)
    invariant(name, "the re-run lands the partition once",
              holds=after["landed"] == before["landed"] > 0,
              landed_before=before["landed"], landed_after=after["landed"])
    eng.dispose()
