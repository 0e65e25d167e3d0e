"""A system's ingestion spread over worker processes lands exactly what one process lands:
the same rows, the same quarantine, the same counts per hour; a re-run replaces them; one
entity that fails does not stop the others."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta
from functools import partial

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import ENTITIES
from perf_orchestration.ingestion.landing import hourly_windows, latest_partition_counts
from perf_orchestration.ingestion.runs import choose_workers, plan_units, run_system
from perf_orchestration.ingestion.sources import open_source
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.tables import metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine

MES = [e for e in ENTITIES if e.system == "mes" and e.partitioned]
PROVENANCE = {"quarantine_id", "ingestion_run_id", "ingested_at", "run_id", "quarantined_at",
              "logged_at"}
# a reason quotes positions in the batch fetched, which depend on how the run was cut
POSITIONS = re.compile(r"position(\(s\))?:? \d+(, \d+)*")


def _scenario(*extra: dict) -> Scenario:
    base = load_scenario().model_dump()
    base["hours"] = 72
    base["incidents"] = [i for i in base["incidents"] if i["kind"] == "source_fault" and i[
        "fault"] in ("malformed_rows", "duplicate_rows", "late_rows")] + list(extra)
    return Scenario.model_validate(base)


def _tables(engine) -> dict[str, list[tuple]]:
    """Every row the MES landing wrote, without the columns naming the run."""
    out = {}
    with engine.connect() as conn:
        for name in [f"raw.{e.table}" for e in MES] + ["ops.quarantine"]:
            table = metadata.tables[name]
            columns = [c for c in table.c if c.name not in PROVENANCE]
            out[name] = sorted(tuple(POSITIONS.sub("position N", str(v)) for v in row)
                               for row in conn.execute(sa.select(*columns)))
    out["counts per hour"] = [{k: v for k, v in row.items() if k not in PROVENANCE}
                              for row in latest_partition_counts(engine)]
    return out


@contextmanager
def _mes(pg_url: str, scenario: Scenario):
    """The warehouse, the scenario's three days and a reader of its MES, served."""
    windows = hourly_windows(scenario.start, scenario.start + timedelta(hours=72))
    engine = make_engine(pg_url)
    ensure_schemas(engine, metadata)
    try:
        with SimulatorServer(scenario, port=0, token="t") as server:
            yield engine, windows, partial(open_source, "mes", base_url=server.url, token="t",
                                           max_retries=1, backoff_seconds=0.01)
    finally:
        engine.dispose()


def test_workers_land_what_one_process_lands_and_a_rerun_replaces_it(pg_url):
    with _mes(pg_url, _scenario()) as (engine, windows, reader):
        one = run_system(engine, reader, MES, windows, "run-one", warehouse="wh", workers=1)
        alone = _tables(engine)
        two = run_system(engine, reader, MES, windows, "run-two", warehouse="wh", workers=2,
                         days_per_unit=1)
        assert _tables(engine) == alone  # replaced, not added to
        with engine.connect() as conn:
            runs = conn.execute(sa.text("select distinct ingestion_run_id "
                                        "from raw.mes_production"))
            assert [r[0] for r in runs] == ["run-two"]
    assert two.workers == 2 and two.units == 3 * len(MES)
    assert alone["raw.mes_production"] and alone["ops.quarantine"]
    for a, b in zip(one.entities, two.entities, strict=True):
        assert a.entity == b.entity and (a.error is None) == (b.error is None)
        if a.result is None:
            continue
        for name in ("fetched", "landed", "quarantined", "duplicates", "late"):
            assert a.result.total(name) == b.result.total(name), (a.entity.table, name)
        assert a.result.quarantine_reasons() == b.result.quarantine_reasons()
        assert [(x["expectation"], x["column"], x["success"], x["unexpected"])
                for x in a.result.outcome.expectations] == \
            [(x["expectation"], x["column"], x["success"], x["unexpected"])
             for x in b.result.outcome.expectations]
    assert not one.failed and not two.failed


def test_an_entity_that_fails_is_named_and_the_others_land(pg_url):
    down = {"kind": "source_fault", "id": "changeovers-down", "system": "mes",
            "entity": "changeovers", "fault": "http_5xx", "hour": "2026-11-03T10:00:00+08:00",
            "count": 50}
    with _mes(pg_url, _scenario(down)) as (engine, windows, reader):
        done = run_system(engine, reader, MES, windows, "run", warehouse="wh", workers=2)
        with engine.connect() as conn:
            landed = conn.execute(sa.text("select count(*) from raw.mes_changeovers")).scalar()
            production = conn.execute(sa.text("select count(*) from raw.mes_production")).scalar()
    assert [r.entity.name for r in done.failed] == ["changeovers"]
    assert "MES endpoint /mes/changeovers" in done.failed[0].error
    assert all(r.result is not None for r in done.entities if r.entity.name != "changeovers")
    assert landed == 0 and production > 0  # the failing unit kept nothing


def test_units_are_whole_plant_days_and_small_runs_stay_in_process(sqlite_url, pg_url):
    scenario = load_scenario()
    windows = hourly_windows(scenario.start, scenario.start + timedelta(days=30))
    units = plan_units(MES[:2], windows, days_per_unit=14)
    assert [len(u.windows) // 24 for u in units] == [14, 14, 2, 14, 14, 2]
    assert plan_units(MES[:2], None) and all(u.windows is None for u in plan_units(MES, None))
    pg, lite = make_engine(pg_url), make_engine(sqlite_url)
    assert choose_workers(pg, windows) >= 1
    assert choose_workers(pg, windows[:24]) == 1  # one day: in process
    assert choose_workers(lite, windows) == 1  # the embedded warehouse: one writer
    assert choose_workers(lite, windows, asked=3) == 3
    pg.dispose()
    lite.dispose()
