"""Sources as configuration: the same plant records served through shapes unlike the
simulator's (an HTTP API with other field names, offset paging, epoch-millisecond times and
basic auth; a MES database with tables of its own shape on PostgreSQL and on SQLite) give
the same marts, team by team, as the simulator read through its bundled description."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from _plant_flow import TOKEN, foreign_names, run_flow, unbalanced_windows

from perf_orchestration.ingestion.client import SourceClient
from perf_orchestration.ingestion.entities import SYSTEMS
from perf_orchestration.ingestion.sources import load_sources, reader_for
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.testing.plant_sources import (
    PASSWORD,
    USER,
    PlantApi,
    api_sources,
    db_sources,
    load_plant_database,
    write_sources,
)
from perf_orchestration.warehouse import embedded_url, make_engine

# columns that say when or by which run a row was written, not what it says
VOLATILE = ("run_id", "ingested_at", "built_at", "computed_at", "materialized_at",
            "refreshed_at", "loaded_at")


def _scenario() -> Scenario:
    base = load_scenario().model_dump()
    base.update({"hours": 3, "incidents": []})
    return Scenario.model_validate(base)


def mart_rows(url: str) -> dict[str, list[tuple]]:
    """Every marts table's rows, sorted, without the columns saying when they were built."""
    engine = make_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            for table in sorted(inspector.get_table_names(schema="marts")):
                columns = [c["name"] for c in inspector.get_columns(table, schema="marts")
                           if not c["name"].endswith(VOLATILE)]
                select = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(sa.text(f'select {select} from marts."{table}"')).all()
                out[table] = sorted((tuple(_plain(v) for v in r) for r in rows), key=repr)
    finally:
        engine.dispose()
    return out


def _plain(value):
    return round(value, 9) if isinstance(value, float) else value


@pytest.fixture(scope="module")
def simulator_marts(tmp_path_factory):
    url = embedded_url(tmp_path_factory.mktemp("simulator") / "warehouse")
    result = run_flow(_scenario(), url)
    assert unbalanced_windows(result) == []
    marts = mart_rows(url)
    assert sum(len(rows) for rows in marts.values()) > 100  # the comparison compares something
    return marts


def _same_marts(url: str, expected: dict[str, list[tuple]]) -> None:
    got = mart_rows(url)
    assert sorted(got) == sorted(expected)
    differing = [t for t in expected if got[t] != expected[t]]
    assert differing == [], f"marts differing from the simulator's: {differing}"
    teams = {r[0] for r in expected["team_hourly_quality"]}
    assert len(teams) > 1  # team by team: every team's hours are there, as the simulator's


def _readers_from(directory):
    """The database systems as the folder's sources.yaml says, the others the simulator."""
    @contextmanager
    def readers(server):
        systems = load_sources(directory)
        out = {}
        for system in SYSTEMS:
            if systems[system].kind == "sql":
                out[system] = reader_for(system, systems[system])
            else:
                out[system] = SourceClient(system, server.url, TOKEN, backoff_seconds=0.01)
        yield out
        for reader in out.values():
            getattr(reader, "close", lambda: None)()
    return readers


def test_an_http_api_of_another_shape_gives_the_simulators_marts(tmp_path, monkeypatch,
                                                                 simulator_marts):
    write_sources(tmp_path, api_sources())
    monkeypatch.setenv("PLANT_API_USER", USER)
    monkeypatch.setenv("PLANT_API_PASSWORD", PASSWORD)
    seen: list[PlantApi] = []

    @contextmanager
    def through_api(server):
        with PlantApi(server) as api:
            seen.append(api)
            for system in SYSTEMS:
                monkeypatch.setenv(f"PLANT_{system.upper()}_API", api.url)
            systems = load_sources(tmp_path)
            yield {s: reader_for(s, systems[s]) for s in SYSTEMS}

    url = embedded_url(tmp_path / "warehouse")
    result = run_flow(_scenario(), url, readers=through_api)
    assert unbalanced_windows(result) == []
    assert foreign_names(url, _scenario()) == []
    requests = seen[0].requests
    assert any("offset=40" in r for r in requests)  # more than one page was read
    assert any(r.startswith("/api/v2/mes/first-article-inspections?") for r in requests)
    _same_marts(url, simulator_marts)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_mes_database_gives_the_simulators_marts(database, tmp_path, monkeypatch,
                                                   simulator_marts, request):
    schema = None
    if database == "sqlite":
        source_url = f"sqlite:///{tmp_path / 'mes.db'}"
    else:
        source_url = request.getfixturevalue("pg_database")
        schema = "plant_mes"
    write_sources(tmp_path, db_sources(schema))
    monkeypatch.setenv("PLANT_MES_DB", source_url)

    @contextmanager
    def through_database(server):
        load_plant_database(source_url, server, schema)
        with _readers_from(tmp_path)(server) as readers:
            yield readers

    url = embedded_url(tmp_path / "warehouse")
    result = run_flow(_scenario(), url, readers=through_database)
    assert unbalanced_windows(result) == []
    assert result.ingested["mes_production"].total("landed") > 0
    _same_marts(url, simulator_marts)
