"""The flow for any plant, in process and without Dagster: simulate, ingest every entity over
the scenario's hourly partitions, the calendar, then every SQL model with the windows the
assets use. And the checks every plant must pass: rows conserved per entity and window,
and no output naming a team, device, station or workshop outside the scenario's plant."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import ENTITIES, SYSTEMS
from perf_orchestration.ingestion.landing import IngestionResult, hourly_windows, ingest
from perf_orchestration.plant_calendar import calendar_rows
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.simulator.common import production_teams, stations_of
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.sqlmodels.windows import model_window
from perf_orchestration.tables import metadata, upsert_calendar
from perf_orchestration.warehouse import ensure_schemas, make_engine

TOKEN = "plant-token"
SQL_ROOT = Path(__file__).resolve().parents[1] / "dbt_like_sql"
NAMED_COLUMNS = {"team_id": "teams", "device_id": "devices", "station_id": "stations",
                 "workshop": "workshops"}


@dataclass
class FlowResult:
    scenario: Scenario
    ingested: dict[str, IngestionResult] = field(default_factory=dict)
    model_rows: dict[str, int] = field(default_factory=dict)


def plant_names(scenario: Scenario) -> dict[str, set[str]]:
    """Every team, device, station and workshop name the scenario's plant has."""
    teams = scenario.plant.teams
    stations = [s for t in production_teams(scenario) for s in stations_of(t)]
    return {"teams": {t.id for t in teams}, "workshops": {t.workshop for t in teams},
            "devices": {s.device_id for s in stations},
            "stations": {s.station_id for s in stations}}


@contextmanager
def simulator_readers(server: SimulatorServer):
    """The simulator read as it serves itself, every system through its bundled profile."""
    yield {s: SourceClient(s, server.url, TOKEN, backoff_seconds=0.01, read_timeout=5.0)
           for s in SYSTEMS}


def run_flow(scenario: Scenario, url: str, readers=simulator_readers) -> FlowResult:
    """Simulate `scenario`, land every entity and build every SQL model over its hours.
    `readers(server)` is a context manager giving the reader of each system (default: the
    simulator itself; a test gives the same records through another source's shape)."""
    tz = scenario.timezone
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    result = FlowResult(scenario)
    server = SimulatorServer(scenario, port=0, token=TOKEN).start()
    try:
        windows = hourly_windows(scenario.start, scenario.end, tz)
        with readers(server) as by_system:
            for entity in ENTITIES:
                result.ingested[entity.table] = ingest(
                    engine, by_system[entity.system], entity,
                    windows if entity.partitioned else None, "run-1")
    finally:
        server.stop()
    with engine.begin() as conn:
        upsert_calendar(conn, calendar_rows(scenario.start, scenario.end, tz))
    project = load_project(SQL_ROOT)
    for name in project.order():
        model = project.model(name)
        window = None
        if model.materialized == "incremental" and model.config.partition_by:
            window = model_window(model.config.partition_by, scenario.start, scenario.end, tz)
        result.model_rows[name] = run_model(engine, project, name, window).rows
    engine.dispose()
    return result


def unbalanced_windows(result: FlowResult) -> list[str]:
    """Entity and window where fetched != landed + quarantined (empty when rows are kept)."""
    return [f"{table} {p.partition_key}: {p.fetched} != {p.landed} + {p.quarantined}"
            for table, res in result.ingested.items() for p in res.partitions
            if p.fetched != p.landed + p.quarantined]


def foreign_names(url: str, scenario: Scenario,
                  schemas: tuple[str, ...] = ("raw", "staging", "marts")) -> list[str]:
    """Values of team_id, device_id, station_id or workshop columns in the warehouse that the
    scenario's plant does not have, as 'schema.table.column=value'."""
    names = plant_names(scenario)
    engine = make_engine(url)
    out = []
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for schema in schemas:
                for table in inspector.get_table_names(schema=schema):
                    columns = {c["name"] for c in inspector.get_columns(table, schema=schema)}
                    for column in sorted(columns & set(NAMED_COLUMNS)):
                        known = names[NAMED_COLUMNS[column]]
                        values = conn.execute(sa.text(
                            f'select distinct "{column}" from {schema}."{table}" '
                            f'where "{column}" is not null')).scalars()
                        out += [f"{schema}.{table}.{column}={v}" for v in values
                                if v not in known]
    finally:
        engine.dispose()
    return out
