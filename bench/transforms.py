"""Benchmark: SQL model transforms on SQLite and PostgreSQL, as history grows.

Lands the default scenario's day through the real ingestion path, copies it to make
1, 10 and 30 days of history, and times (a) one hourly partition through every model,
at each history length (it should stay flat), and (b) a 30-day backfill in one run.
The floor, measured in the same run, is a plain SQL aggregate over the same raw rows.

    .venv/bin/python bench/transforms.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES
from perf_orchestration.ingestion.landing import hourly_windows, ingest
from perf_orchestration.plant_calendar import PARTITION_KEY_FORMAT, calendar_rows
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import RAW_TABLES, metadata, upsert_calendar
from perf_orchestration.warehouse import embedded_url, ensure_schemas, make_engine

ROOT = Path(__file__).resolve().parents[1]


def land_base_day(engine) -> None:
    scenario = load_scenario()
    with SimulatorServer(scenario, port=0) as server:
        for entity in ENTITIES:
            windows = hourly_windows(scenario.start, scenario.end) if entity.partitioned else None
            client = SourceClient(entity.system, server.url, read_timeout=10)
            ingest(engine, client, entity, windows, run_id="bench")


def copy_days(engine, first_day: int, last_day: int) -> None:
    """Copy the base day to days first_day..last_day later (ids and partitions shifted)."""
    with engine.begin() as conn:
        for entity in ENTITIES:
            if not entity.partitioned:
                continue
            table = RAW_TABLES[entity.table]
            base = [dict(r._mapping) for r in conn.execute(
                sa.select(table).where(table.c.ingestion_run_id == "bench"))]
            dt_cols = [c.name for c in entity.columns if c.type == "datetime"]
            rows = []
            for d in range(first_day, last_day + 1):
                shift = timedelta(days=d)
                for r in base:
                    row = dict(r, ingestion_run_id=f"copy{d}")
                    for c in dt_cols:
                        if row[c] is not None:
                            row[c] = row[c] + shift
                    key = datetime.strptime(row["partition_key"], PARTITION_KEY_FORMAT) + shift
                    row["partition_key"] = key.strftime(PARTITION_KEY_FORMAT)
                    row[entity.id_column] = f"{row[entity.id_column]}~{d}"
                    row["source_record_id"] = row[entity.id_column]
                    rows.append(row)
            if rows:
                conn.execute(table.insert(), rows)


def run_window(engine, project, start, end) -> tuple[float, int]:
    t = time.perf_counter()
    rows = 0
    for name in project.order():
        model = project.model(name)
        window = None
        if model.materialized == "incremental" and model.config.partition_by:
            window = model_window(model.config.partition_by, start, end)
        rows += run_model(engine, project, name, window).rows
    return time.perf_counter() - t, rows


def floor(engine, start, end) -> float:
    keys = [w.partition_key for w in hourly_windows(start, end)]
    t = time.perf_counter()
    with engine.connect() as conn:
        for i in range(0, len(keys), 500):
            conn.execute(sa.text(
                "select team_id, partition_key, sum(good_count), sum(total_count), "
                "sum(run_minutes), sum(planned_minutes) from raw.mes_production "
                "where partition_key in :keys group by team_id, partition_key"
            ).bindparams(sa.bindparam("keys", expanding=True)), {"keys": keys[i:i + 500]}).all()
            conn.execute(sa.text(
                "select team_id, partition_key, count(*), sum(case when result = 'pass' "
                "then 1 else 0 end) from raw.mes_first_article_inspections "
                "where partition_key in :keys group by team_id, partition_key"
            ).bindparams(sa.bindparam("keys", expanding=True)), {"keys": keys[i:i + 500]}).all()
    return time.perf_counter() - t


def bench(label: str, url: str, history: tuple[int, ...] = (1, 10, 30)) -> dict:
    """Per-hour and backfill figures on one warehouse, printed and returned."""
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    project = load_project(ROOT / "dbt_like_sql")
    scenario = load_scenario()
    land_base_day(engine)
    start = scenario.start
    out: dict = {"warehouse": label, "per_hour": []}
    print(f"\n{label}")
    print(f"{'history':>8} {'1 hour, all models':>20} {'floor (raw aggregate)':>22}")
    have = 1
    for days in history:
        if days > have:
            copy_days(engine, have, days - 1)
            have = days
        with engine.begin() as conn:
            upsert_calendar(conn, calendar_rows(start - timedelta(days=8),
                                                start + timedelta(days=days)))
        hour = start + timedelta(days=days - 1, hours=10)
        run_window(engine, project, start, start + timedelta(days=days))  # history in marts
        seconds, _ = run_window(engine, project, hour, hour + timedelta(hours=1))
        base = floor(engine, hour, hour + timedelta(hours=1))
        out["per_hour"].append({"history_days": days, "seconds": round(seconds, 4),
                                "floor_seconds": round(base, 4)})
        print(f"{days:>6} d {seconds:>18.2f} s {base:>20.3f} s")
    end = start + timedelta(days=have)
    with engine.connect() as conn:
        raw_rows = sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                       for t in RAW_TABLES.values())
    seconds, rows = run_window(engine, project, start, end)
    base = floor(engine, start, end)
    out["backfill"] = {"days": have, "seconds": round(seconds, 3), "model_rows": rows,
                       "raw_rows": raw_rows, "raw_rows_per_s": round(raw_rows / seconds),
                       "floor_seconds": round(base, 4)}
    print(f"{have}-day backfill, one run: {seconds:.1f} s, {rows:,} model rows written, "
          f"{raw_rows / seconds:,.0f} raw rows/s; floor {base:.2f} s")
    engine.dispose()
    return out


def scratch_pg_database(admin_url: str):
    """A context manager yielding the URL of a new PostgreSQL database, dropped after."""
    from contextlib import contextmanager

    @contextmanager
    def _scratch():
        name = f"perfflow_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(make_engine(admin_url).url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
        try:
            yield make_engine(admin_url).url.set(database=name).render_as_string(
                hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
            admin.dispose()

    return _scratch()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", help="PostgreSQL admin URL; a scratch database is made and dropped")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench("SQLite (embedded)", embedded_url(tmp))
    if args.pg:
        with scratch_pg_database(args.pg) as url:
            bench("PostgreSQL", url)


if __name__ == "__main__":
    main()
