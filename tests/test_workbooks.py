"""Workbook intake on real warehouses: messy sheets in, typed rows with provenance out."""

from __future__ import annotations

import json
import pathlib
from datetime import datetime

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.warehouse import make_engine
from perf_orchestration.workbooks import consolidate, load_workbook_config, workbook_files
from perf_orchestration.workbooks.generate import encrypted_file

CONFIG = load_workbook_config()


def messy_production(path: pathlib.Path, grand_output: int = 1470, bad: bool = True) -> None:
    """A team's month the way a workshop keeps it: title block, header on rows 4-5 with
    merged groups, text numbers, four date formats, blank rows, 小计, 合计, a summary sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "焊接一班"
    ws.append(["焊接车间 2026年11月 生产质量月报"])
    ws.merge_cells("A1:G1")
    ws.append(["制表日期", "2026-12-01"])
    ws.append([])
    ws.append(["日期", "班次", "产量(件)", "质量", None, "首件检验", None])
    ws.append([None, None, None, "不良数", "返工数", "次数", "合格"])
    for col in "ABC":
        ws.merge_cells(f"{col}4:{col}5")
    ws.merge_cells("D4:E4")
    ws.merge_cells("F4:G4")
    ws.append([datetime(2026, 11, 2), "白班", "1,000", 10, 1, "3", 3])      # row 6
    ws.append([None, "夜班", 490, "５", None, 2, 2])                         # row 7: merged date
    ws.merge_cells("A6:A7")
    ws.append([])                                                             # row 8 blank
    extra = 0 if bad else 100
    ws.append(["2026/11/03", "白班", "n/a" if bad else 100, 4, 0, 2, 1])     # row 9
    ws.append(["小计（第1周）", None, 1490 + extra, 19, 1, 7, 6])            # row 10
    ws.append(["2026年11月4日", "白班", 480, 3, 0, 2, 2])                    # row 11
    ws.append([46331, "夜班", 500, 2, 0, 1, 1])                              # row 12: serial
    ws.append(["合计", None, 2470 + extra, 24, 1, 10, 9])                    # row 13
    ws.append([])
    ws.append(["制表: Wang Wei  审核: Li Na"])
    summary = wb.create_sheet("汇总")
    summary.append(["名称", "产量", "不良数", "首检次数", "首检合格"])
    summary.append(["焊接一班", grand_output, 24, 10, 9])
    summary.append(["总计", grand_output, 24, 10, 9])
    wb.save(path)


def _rows(engine, sql):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql))]


def test_a_messy_workbook_lands_typed_rows_with_provenance(warehouse_url, tmp_path):
    path = tmp_path / "drop" / "生产质量月报_焊接.xlsx"
    path.parent.mkdir()
    messy_production(path)
    engine = make_engine(warehouse_url)
    (result,) = consolidate(engine, [path], CONFIG, "run-1")
    assert (result.kind, result.sheets_read, result.rows_landed, result.rows_quarantined) == \
        ("production_daily", 2, 4, 1)
    # the quarantined row's defects (4) are in the sheet's 合计 but not in the landed rows,
    # and the summary's grand total output (1,470) is a typo for 2,470: both are reported
    assert result.status == "total_mismatch" and result.total_check == "mismatch"
    assert ("sheet '焊接一班', row 13 (total), field defect_qty: the workbook states 24 but the "
            "landed rows sum to 20") in result.total_detail
    landed = _rows(engine, "select report_date, team, shift, output_qty, defect_qty, rework_qty, "
                   "fai_passed, sheet_name, row_number, file_hash from "
                   "raw.excel_production_daily order by row_number")
    assert [(str(r["report_date"]), r["shift"], r["output_qty"], r["defect_qty"],
             r["row_number"]) for r in landed] == [
        ("2026-11-02", "白班", 1000, 10, 6), ("2026-11-02", "夜班", 490, 5, 7),
        ("2026-11-04", "白班", 480, 3, 11), ("2026-11-05", "夜班", 500, 2, 12)]
    assert {r["team"] for r in landed} == {"焊接一班"} and landed[1]["rework_qty"] is None
    assert {r["file_hash"] for r in landed} == {result.file_hash}
    bad = _rows(engine, "select entity, failed_expectation, reason, source_record_id from "
                "ops.quarantine order by failed_expectation")
    assert bad[0]["entity"] == "excel_production_daily"
    assert bad[0]["reason"] == ("生产质量月报_焊接.xlsx, sheet '焊接一班', row 9: output_qty: "
                                "'n/a' is not an integer")
    assert bad[0]["source_record_id"] == "生产质量月报_焊接.xlsx!焊接一班!R9"
    totals = [r["reason"] for r in bad if r["failed_expectation"] == "workbook_total_matches"]
    assert ("生产质量月报_焊接.xlsx, sheet '汇总', row 3 (grand total), field output_qty: the "
            "workbook states 1470 but the landed rows sum to 2470") in totals
    (intake,) = _rows(engine, "select * from ops.file_intake")
    assert intake["status"] == "total_mismatch" and intake["rows_landed"] == 4
    assert intake["rows_excluded"] == 7  # 2 blank, 1 subtotal, 1 total, 1 note, 2 summary


def test_rerun_lands_nothing_twice_and_a_corrected_file_replaces(warehouse_url, tmp_path):
    path = tmp_path / "production_quality.xlsx"
    messy_production(path, grand_output=2570, bad=False)
    engine = make_engine(warehouse_url)
    (first,) = consolidate(engine, [path], CONFIG, "run-1")
    assert (first.status, first.rows_landed, first.total_check) == ("landed", 5, "ok")
    consolidate(engine, [path], CONFIG, "run-2")
    count = "select count(*) as n from raw.excel_production_daily"
    assert _rows(engine, count) == [{"n": 5}]
    messy_production(path, grand_output=1470)  # saved again with a typo and a bad row
    (second,) = consolidate(engine, [path], CONFIG, "run-3")
    assert second.file_hash != first.file_hash
    assert _rows(engine, count) == [{"n": 4}]
    statuses = _rows(engine, "select status from ops.file_intake order by status")
    assert [s["status"] for s in statuses] == ["superseded", "total_mismatch"]


def test_bad_files_are_recorded_and_the_others_go_on(sqlite_url, tmp_path, monkeypatch):
    drop = tmp_path / "drop"
    drop.mkdir()
    messy_production(drop / "good.xlsx", grand_output=2570, bad=False)
    messy_production(drop / "open_in_excel.xlsx")
    (drop / "~$open_in_excel.xlsx").write_bytes(b"\x05user")
    (drop / "corrupt.xlsx").write_bytes(b"PK\x03\x04 truncated")
    (drop / "not_a_zip.xlsx").write_text("hello")
    encrypted_file(drop / "password.xlsx")
    messy_production(drop / "unreadable.xlsx")
    wb = Workbook()
    wb.active.append(["Visitor log", "Badge"])
    wb.active.append(["Zhang San", 12])
    wb.save(drop / "visitors.xlsx")
    real_read = pathlib.Path.read_bytes

    def read_bytes(self):
        if self.name == "unreadable.xlsx":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)
    files = workbook_files(drop)
    assert "~$open_in_excel.xlsx" not in {f.name for f in files}
    engine = make_engine(sqlite_url)
    results = {pathlib.Path(r.path).name: r for r in consolidate(engine, files, CONFIG, "r")}
    status = {name: r.status for name, r in results.items()}
    assert status == {"good.xlsx": "landed", "open_in_excel.xlsx": "locked",
                      "corrupt.xlsx": "corrupt", "not_a_zip.xlsx": "corrupt",
                      "password.xlsx": "encrypted", "unreadable.xlsx": "unreadable",
                      "visitors.xlsx": "unknown_layout"}
    assert "password-protected" in results["password.xlsx"].reason
    assert "owner file ~$open_in_excel.xlsx" in results["open_in_excel.xlsx"].reason
    assert "Permission denied" in results["unreadable.xlsx"].reason
    assert results["good.xlsx"].rows_landed == 5
    reasons = {r["failed_expectation"]: r["reason"] for r in _rows(
        engine, "select failed_expectation, reason from ops.quarantine "
        "where entity = 'excel_intake'")}
    assert reasons["unknown_layout"].startswith("visitors.xlsx, sheet 'Sheet': unknown layout")
    assert set(reasons) == {"locked", "corrupt", "encrypted", "unreadable", "unknown_layout"}
    line = results["password.xlsx"].line()
    assert line.startswith("password.xlsx: encrypted, sheets read 0") and "\n" not in line


def test_sales_sheet_with_bilingual_header_on_row_3(sqlite_url, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "华东 East"
    ws.append(["销售周报"])
    ws.append([])
    ws.append(["周开始\nWeek start", "销售代表\nSales rep", "电话数\nCalls", "拜访数\nVisits",
               "成交数\nDeals", "成交金额（元）\nRevenue (CNY)"])
    ws.append(["02/11/2026", "Wang Wei", 40, "6", 1, "¥120,000.50"])  # day first
    ws.append(["2026.11.09", "Wang Wei", 35, 5, 0, 0])
    ws.append([None, "Total", 75, 11, 1, 120000.5])
    path = tmp_path / "sales_weekly.xlsx"
    wb.save(path)
    engine = make_engine(sqlite_url)
    (result,) = consolidate(engine, [path], CONFIG, "r")
    assert (result.kind, result.status, result.rows_landed, result.total_check) == \
        ("sales_weekly", "landed", 2, "ok")
    rows = _rows(engine, "select week_start, region, visits, revenue from raw.excel_sales_weekly "
                 "order by row_number")
    assert [(str(r["week_start"]), r["region"], r["visits"], r["revenue"]) for r in rows] == [
        ("2026-11-02", "华东 East", 6, 120000.5), ("2026-11-09", "华东 East", 5, 0.0)]


def test_workbooks_yaml_errors_name_the_file_and_the_kind(tmp_path):
    bad = tmp_path / "workbooks.yaml"
    bad.write_text(json.dumps({"kinds": [{
        "id": "scrap_log", "description": "x", "key": ["lot"],
        "columns": [{"name": "qty", "type": "int", "aliases": ["数量"]},
                    {"name": "note", "type": "str", "aliases": ["数量"]}],
        "total_columns": ["note"]}]}))
    with pytest.raises(ConfigError) as err:
        load_workbook_config(bad)
    text = "\n".join(err.value.problems)
    assert str(bad) in text and "(id scrap_log)" in text
    assert "unknown column 'lot'" in text and "'数量' names both qty and note" in text
    assert "'note' is not a number column" in text
