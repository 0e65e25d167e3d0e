"""`perfflow sources check`, the sources check job and the ingestion assets against sources
set up wrong: each common mistake is one line naming the system, the entity and the
setting; records with a time in another format are quarantined with the reason; nothing is
lost and nothing half-written."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import sqlalchemy as sa
from _hours import hours_run
from test_ingestion_assets import materialization

from assets.ingestion import ingestion_assets
from jobs.sources import sources_check_job
from perf_orchestration.cli import main
from perf_orchestration.config.files import CONFIG_DIR_ENV
from perf_orchestration.ingestion.entities import ENTITIES, SYSTEMS, entity
from perf_orchestration.ingestion.landing import hourly_windows, ingest
from perf_orchestration.ingestion.sources import load_sources, reader_for
from perf_orchestration.scenarios.config import Scenario, load_scenario
from perf_orchestration.simulator import SimulatorServer
from perf_orchestration.tables import metadata
from perf_orchestration.testing.plant_sources import (
    PASSWORD,
    USER,
    PlantApi,
    api_sources,
    db_sources,
    load_plant_database,
    write_sources,
)
from perf_orchestration.warehouse import ensure_schemas, make_engine
from resources.sources import source_resources
from resources.warehouse import WarehouseResource

AT = "2026-11-02T02:00:00+08:00"
PARTITION = hours_run("2026-11-02T01:00")
BAD_TIME = "02.11.2026 01:30"


def _scenario(**changes) -> Scenario:
    base = load_scenario().model_dump()
    base.update({"hours": 3, "incidents": []})
    base.update(changes)
    return Scenario.model_validate(base)


@pytest.fixture
def api(monkeypatch):
    """The plant's HTTP API over a small plant, with its variables set."""
    record = {"inspection_id": "FAI-HAND-1", "station_id": "T1-S01", "team_id": "T1",
              "inspected_at": "2026-11-02T01:20:00+08:00", "product": "P-100",
              "result": "pass", "defect_code": None, "inspector_id": "E0001",
              "updated_at": BAD_TIME}
    with SimulatorServer(_scenario(records={"mes/first_article_inspections": [record]}),
                         port=0) as simulator, PlantApi(simulator) as plant:
        monkeypatch.setenv("PLANT_API_USER", USER)
        monkeypatch.setenv("PLANT_API_PASSWORD", PASSWORD)
        for system in SYSTEMS:
            monkeypatch.setenv(f"PLANT_{system.upper()}_API", plant.url)
        yield plant


def _config(tmp_path, document: dict, edit=None):
    if edit:
        edit(document["systems"])
    write_sources(tmp_path, document)
    return str(tmp_path)


def _check(capsys, config: str, *extra: str) -> tuple[int, list[str], str]:
    code = main(["sources", "check", "--config", config, "--at", AT, *extra])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def test_the_bundled_description_checks_every_entity_against_the_simulator(capsys):
    code = main(["sources", "check", "--simulate"])
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert code == 0, out
    assert len(lines) == len(ENTITIES) and all(" ok " in line for line in lines)
    production = next(line for line in lines if line.startswith("mes  production "))
    assert "42 record(s), 42 valid" in production  # 42 stations, one hour
    assert f"{len(ENTITIES)} of {len(ENTITIES)} entities readable" in out.err


def test_the_plant_api_checks_and_a_time_in_another_format_is_named(api, tmp_path, capsys):
    config = _config(tmp_path, api_sources())
    code, lines, err = _check(capsys, config, "--system", "mes")
    fai = next(line for line in lines if "first_article_inspections" in line)
    assert code == 1, (lines, err)  # the hour's only inspection cannot be read
    assert "FAIL 1 record(s), 0 valid: 1 rejected, first: MES first_article_inspections: " \
        f"updated_at: {BAD_TIME!r} is not epoch millis" in fai
    assert "(setting sources.yaml: systems.mes.entities.first_article_inspections.fields." \
        "updated_at: epoch_millis)" in fai
    mes = [e for e in ENTITIES if e.system == "mes"]
    assert len(lines) == len(mes) and f"{len(mes) - 1} of {len(mes)} entities readable; " \
        "1 failed" in err
    assert all(" ok " in line for line in lines if line is not fai)


@pytest.mark.parametrize(("mistake", "edit", "expected"), [
    ("wrong URL", lambda s: s["mes"].update(base_url_env="PLANT_MES_WRONG",  # refused fast
                                            retries={"max": 1, "backoff_seconds": 0.01}),
     "Connection refused"),
    ("refused login", lambda s: s["mes"]["auth"].update(password_env="PLANT_WRONG_PASSWORD"),
     "HTTP 401 Unauthorized"),
    ("selector", lambda s: s["mes"]["defaults"].update(records="$.data.items"),
     "sources.yaml: systems.mes.entities.production.records: '$.data.items' matches "
     "nothing in the answer (its top-level fields: data, meta)"),
    ("mapping", lambda s: s["mes"]["entities"]["production"]["fields"].update(
        team_id="crewId"),
     "sources.yaml: systems.mes.entities.production.fields.team_id: source field 'crewId' "
     "is in none of the"),
    ("path", lambda s: s["mes"]["entities"]["production"].update(path="/api/v1/output"),
     "HTTP 404"),
])
def test_each_common_mistake_is_one_line_naming_system_entity_and_setting(
        mistake, edit, expected, api, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLANT_MES_WRONG", "http://127.0.0.1:9")
    monkeypatch.setenv("PLANT_WRONG_PASSWORD", "not-it")
    config = _config(tmp_path, api_sources(), edit)
    code, lines, err = _check(capsys, config, "--system", "mes")
    production = next(line for line in lines if line.startswith("mes  production "))
    assert code == 1 and "FAIL" in production and expected in production, production
    setting = {"wrong URL": "systems.mes.base_url_env (PLANT_MES_WRONG)",
               "refused login": "check sources.yaml: systems.mes.auth",
               "path": "check sources.yaml: systems.mes.entities.production.path"}.get(mistake)
    if setting:
        assert setting in production
    assert "\n" not in production and "Traceback" not in err


def test_a_missing_variable_and_an_unknown_column_are_named(api, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PLANT_API_PASSWORD")
    code, lines, _ = _check(capsys, _config(tmp_path, api_sources()), "--system", "mes")
    assert code == 1
    assert all("sources.yaml: systems.mes.auth.password_env: environment variable "
               "PLANT_API_PASSWORD is not set" in line for line in lines)
    config = _config(tmp_path, api_sources(), lambda s: s["mes"]["entities"]["production"][
        "fields"].update(crew="crewId"))
    assert main(["validate", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "systems.mes.entities.production.fields: crew: not a column of mes production" in err


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_view_missing_a_column_is_named_and_nothing_is_written(database, tmp_path,
                                                                 monkeypatch, request):
    schema = None if database == "sqlite" else "plant_mes_check"
    source = f"sqlite:///{tmp_path / 'mes.db'}" if database == "sqlite" else \
        request.getfixturevalue("pg_database")
    monkeypatch.setenv("PLANT_MES_DB", source)
    with SimulatorServer(_scenario(), port=0) as simulator:
        load_plant_database(source, simulator, schema)
    engine = sa.create_engine(source)
    table = f'"{schema}"."MesEquipmentEvents"' if schema else '"MesEquipmentEvents"'
    with engine.begin() as conn:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN "FailureCode"'))
    engine.dispose()
    config = _config(tmp_path, db_sources(schema))
    reader = reader_for("mes", load_sources(config)["mes"])
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    wh = make_engine(warehouse)
    ensure_schemas(wh, metadata)
    events = entity("mes", "equipment_events")
    windows = hourly_windows(*_window())
    from perf_orchestration.ingestion.sources import SourceSettingError

    with pytest.raises(SourceSettingError) as raised:
        ingest(wh, reader, events, windows, "run-1")
    name = f"{schema}.MesEquipmentEvents" if schema else "MesEquipmentEvents"
    assert str(raised.value).startswith(
        "sources.yaml: systems.mes.entities.equipment_events.fields.failure_code: column "
        f"'FailureCode' is not in table {name} (its columns: EventId, DeviceId")
    with wh.connect() as conn:
        assert conn.execute(sa.text("select count(*) from raw.mes_equipment_events")).scalar() \
            == 0
    wh.dispose()


def _window():
    from datetime import datetime

    start = datetime.fromisoformat("2026-11-02T00:00:00+08:00")
    return start, start.replace(hour=3)


def test_the_asset_fails_in_one_line_and_quarantines_the_unreadable_time(api, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv(CONFIG_DIR_ENV, _config(tmp_path, api_sources()))
    key = dg.AssetKey(["raw", "mes_first_article_inspections"])
    asset = next(a for a in ingestion_assets if key in a.keys)
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    resources = {"warehouse": WarehouseResource(url=warehouse), **source_resources()}
    result = dg.materialize([asset], selection=[key], **PARTITION, resources=resources,
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    meta = materialization(result, "mes_first_article_inspections").metadata
    assert meta["fetched"].value == meta["landed"].value + meta["quarantined"].value == 1
    assert meta["quarantined"].value == 1
    assert meta["quarantine_reasons"].value == {"source_mapping": 1}
    engine = make_engine(warehouse)
    with engine.connect() as conn:
        row = conn.execute(sa.text("select source_record_id, failed_expectation, reason, "
                                   "payload from ops.quarantine")).one()
    engine.dispose()
    assert row[0] == "FAI-HAND-1" and row[1] == "source_mapping" and BAD_TIME in row[2]
    assert json.loads(row[3])["updatedAt"] == BAD_TIME  # kept as the source sent it

    write_sources(tmp_path, api_sources())
    broken = api_sources()
    broken["systems"]["mes"]["defaults"]["records"] = "$.rows"
    write_sources(tmp_path, broken)
    failed = dg.materialize([asset], selection=[key], **PARTITION, resources=resources,
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events
                   if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert "MES first_article_inspections: sources.yaml: systems.mes.entities." \
        "first_article_inspections.records: '$.rows' matches nothing" in message
    assert "Traceback" not in message and message.count("\n") <= 1


def test_the_sources_check_job_shows_the_same_verdicts(api, tmp_path, monkeypatch):
    broken = api_sources()
    broken["systems"]["qms"]["auth"]["username_env"] = "PLANT_NOBODY"
    monkeypatch.setenv("PLANT_NOBODY", "nobody")
    monkeypatch.setenv(CONFIG_DIR_ENV, _config(tmp_path, broken))
    result = sources_check_job.execute_in_process(
        run_config={"ops": {"check_source_entities": {"config": {"at": AT}}}},
        resources=source_resources(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events
                   if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.event_specific_data.error.message
    assert f"2 of {len(ENTITIES)} entities cannot be read: mes first_article_inspections: " \
        "1 rejected" in message  # the hour's one inspection with a time in another format
    assert "; qms defects: QMS endpoint /api/v2/qms/defects?" in message and "401" in message
