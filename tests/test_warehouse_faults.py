"""PostgreSQL going away in the middle of a run: the run fails cleanly, a re-run completes.

The landing of an ingestion partition is one transaction (delete the partition, insert
the new rows, quarantine, log). The test holds a lock that stops that transaction
half-way (after its delete), terminates the run's server connection as a restart would
(pg_terminate_backend), and checks that the run failed naming the warehouse, that the
rows of the earlier run are all still there, and that a re-run lands the partition once.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from test_ingestion_assets import PARTITION
from test_ingestion_assets import _materialize as materialize_ingestion
from test_ingestion_assets import _scenario as small_scenario

from perf_orchestration.simulator import SimulatorServer

TABLE = "mes_production"


def _counts(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows, distinct = conn.execute(sa.text(
            f"select count(*), count(distinct source_record_id) from raw.{TABLE} "
            "where partition_key = :p"), {"p": PARTITION}).one()
    engine.dispose()
    return rows, distinct


def _wait_for_blocked_backend(admin, database: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = admin.execute(sa.text(
            "select pid from pg_stat_activity where datname = :d and wait_event_type = 'Lock' "
            "and state = 'active' and pid <> pg_backend_pid()"), {"d": database}).scalar()
        if pid:
            return pid
        time.sleep(0.1)
    raise AssertionError("the run never reached the landing transaction")


def test_connection_lost_mid_landing_fails_the_run_and_a_rerun_lands_once(pg_url):
    database = sa.make_url(pg_url).database
    with SimulatorServer(small_scenario(), port=0, token="t") as server:
        first = materialize_ingestion(TABLE, server, pg_url)
        assert first.success
        before = _counts(pg_url)
        assert before[0] == before[1] > 0

        locker = sa.create_engine(pg_url).connect()
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect()
        locker.execute(sa.text("lock table ops.quarantine in access exclusive mode"))
        box = {}
        worker = threading.Thread(target=lambda: box.update(
            result=materialize_ingestion(TABLE, server, pg_url)))
        worker.start()
        try:
            pid = _wait_for_blocked_backend(admin, database)
            assert admin.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid}).scalar()
        finally:
            locker.rollback()
            locker.close()
            worker.join(timeout=120)
        failed = box["result"]
        assert not failed.success
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message
        assert "warehouse" in message and "re-run" in message, message
        # the half-done transaction rolled back: the earlier run's rows are all there
        assert _counts(pg_url) == before
        logged = admin.execute(sa.text("select count(*) from ops.ingestion_log "
                                       "where run_id = :r"), {"r": failed.run_id}).scalar()
        assert logged == 0
        admin.close()

        again = materialize_ingestion(TABLE, server, pg_url)
        assert again.success
        assert _counts(pg_url) == before
