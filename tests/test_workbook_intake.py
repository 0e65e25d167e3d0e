"""The intake sensor, its job and `perfflow intake`: thin wrappers over the same core."""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa

from jobs.workbooks import workbook_intake_job
from perf_orchestration.cli import main
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.warehouse import make_engine
from perf_orchestration.workbooks import content_hash
from perf_orchestration.workbooks.generate import demo_folder, production_workbook
from resources.folders import IntakeFolderResource
from resources.warehouse import WarehouseResource
from sensors.workbooks import workbook_intake_sensor


def _tick(folder, cursor=None):
    resources = {"intake_folder": IntakeFolderResource(directory=str(folder))}
    with dg.build_sensor_context(cursor=cursor, resources=resources) as ctx:
        return workbook_intake_sensor(ctx)


def test_sensor_launches_once_per_content_and_waits_for_excel(tmp_path):
    scenario = load_scenario()
    first = production_workbook(tmp_path / "production_a.xlsx", scenario, sheets=1, days=3)
    copy = tmp_path / "sub" / "production_copy.xlsx"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    result = _tick(tmp_path)
    keys = sorted(r.run_key for r in result.run_requests)
    assert keys == [f"workbook:{content_hash(first.read_bytes())}"] * 2  # one run, by key
    again = _tick(tmp_path, result.cursor)
    assert not again.run_requests and "no new or changed workbook" in again.skip_reason.skip_message
    (tmp_path / "~$production_a.xlsx").write_bytes(b"owner")
    locked = _tick(tmp_path, again.cursor)
    assert [r.run_key.endswith(":locked") for r in locked.run_requests] == [True]
    (tmp_path / "~$production_a.xlsx").unlink()
    production_workbook(first, scenario, sheets=1, days=4)
    changed = _tick(tmp_path, locked.cursor)
    (request,) = changed.run_requests
    assert request.run_key == f"workbook:{content_hash(first.read_bytes())}"
    assert request.tags["intake_state"] == "changed"
    assert request.run_config["ops"]["consolidate_workbook"]["config"]["path"] == str(first)


def test_sensor_skips_a_missing_folder(tmp_path):
    result = _tick(tmp_path / "nowhere")
    assert not result.run_requests and "does not exist" in result.skip_reason.skip_message


def test_job_consolidates_the_file_and_records_it(sqlite_url, tmp_path):
    path = production_workbook(tmp_path / "production_b.xlsx", load_scenario(), sheets=2, days=5)
    result = workbook_intake_job.execute_in_process(
        resources={"warehouse": WarehouseResource(url=sqlite_url)},
        run_config={"ops": {"consolidate_workbook": {"config": {"path": str(path)}}}})
    assert result.success
    with make_engine(sqlite_url).connect() as conn:
        row = conn.execute(sa.text("select status, rows_landed, total_check, run_id "
                                   "from ops.file_intake")).one()
    assert tuple(row) == ("landed", 20, "ok", result.run_id)


def test_cli_intake_prints_one_line_per_file(sqlite_url, tmp_path, capsys):
    drop = tmp_path / "drop"
    demo_folder(drop, load_scenario())
    assert main(["intake", str(drop), "--warehouse", sqlite_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_file = {line.split(":")[0]: line for line in lines[:-1]}
    assert len(by_file) == 5
    assert "landed (production_daily), sheets read 3, rows landed 56, quarantined 0, " \
           "total check ok" in by_file["生产质量月报_Body-Shop_2026-11.xlsx"]
    assert by_file["生产质量月报_Assembly-Hall_2026-11.xlsx"].startswith(
        "生产质量月报_Assembly-Hall_2026-11.xlsx: total_mismatch")
    assert "encrypted" in by_file["销售周报_2026-W46_加密.xlsx"]
    assert lines[-1].startswith("5 file(s)")
    assert main(["intake", str(tmp_path / "missing")]) == 1
    summary = json.dumps(lines)
    assert "Traceback" not in summary
