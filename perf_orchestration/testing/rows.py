"""Raw rows for tests and local trials, landed as ingestion lands them: each row with its
provenance columns, so everything downstream (marts, traces, quarantine) reads it as a
real source record."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.tables import RAW_TABLES

PROVENANCE = {"source_system": "test", "ingestion_run_id": "test",
              "ingested_at": datetime(2026, 1, 1), "partition_key": "snapshot"}


def land_rows(engine: sa.Engine, table: str, rows: Iterable[dict], id_col: str,
              **provenance) -> None:
    """Insert `rows` into raw.<table>, the record id from `id_col`; `provenance` overrides
    the defaults (e.g. ingested_at, partition_key)."""
    prov = {**PROVENANCE, **provenance}
    with engine.begin() as conn:
        conn.execute(RAW_TABLES[table].insert(),
                     [{**prov, "source_record_id": r[id_col], **r} for r in rows])


def land_people(engine: sa.Engine, people: Iterable[tuple[str, str, str, str]]) -> None:
    """Roster rows from (employee id, name, team, role), day shift, hired in 2020."""
    land_rows(engine, "hr_employees", [
        {"employee_id": e, "name": n, "team_id": t, "role": r, "shift": "day",
         "email": f"{e.lower()}@plant1.example.com", "hired_at": datetime(2020, 1, 1),
         "updated_at": datetime(2026, 1, 1)} for e, n, t, r in people], "employee_id")
