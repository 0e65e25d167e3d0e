"""The war-room page and the HR scorecard workbooks: content, HR formatting, and the page
as a browser shows it (Debian's Chromium, headless, on a phone-sized screen)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from perf_orchestration.text.keywords import complaint_keywords
from perf_orchestration.warehouse import make_engine

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-02"


def _summary(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "summary.json").read_text())


def _demo_engine(demo_dir: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}")


def test_complaint_keywords_count_each_ticket_once_and_skip_filler_words():
    tickets = [{"ticket_id": "A", "subject": "late delivery of order, late again"},
               {"ticket_id": "B", "subject": "Late delivery: wrong quantity"},
               {"ticket_id": "C", "subject": "drawing revision query"},
               {"ticket_id": "D", "subject": "焊缝 porosity at incoming inspection"}]
    words = {k["keyword"]: k for k in complaint_keywords(tickets)}
    assert words["late"]["tickets"] == 2 and words["late"]["ticket_ids"] == ["A", "B"]
    assert words["delivery"]["tickets"] == 2
    assert "焊缝" in words and words["porosity"]["ticket_ids"] == ["D"]
    assert not {"of", "query", "at"} & set(words)
    assert list(words)[:2] == ["delivery", "late"]  # most tickets first, then by word


def test_reports_backfill_writes_each_day_and_says_what_is_missing(sqlite_url, tmp_path):
    from assets.reports import hr_scorecards, war_room_page
    from resources.folders import ReportsFolderResource
    from resources.warehouse import WarehouseResource

    result = dg.materialize(  # two days in one run, as a backfill runs them
        [war_room_page, hr_scorecards],
        tags={"dagster/asset_partition_range_start": "2026-11-01",
              "dagster/asset_partition_range_end": DAY},
        resources={"warehouse": WarehouseResource(url=sqlite_url),
                   "reports_folder": ReportsFolderResource(directory=str(tmp_path))})
    assert result.success
    assert sorted(p.name for p in (tmp_path / "war_room").iterdir()) == [
        "war_room_2026-11-01.html", f"war_room_{DAY}.html"]
    page = (tmp_path / "war_room" / f"war_room_{DAY}.html").read_text()
    assert "No goal scores for this day." in page and "No alert episodes." in page
    meta = {e.asset_key.path[-1]: e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert meta["war_room"]["pages"].value == 2 and meta["war_room"]["red_items"].value == 0
    assert meta["hr_scorecards"]["workbooks"].value == 0  # no roster, no department


def test_hr_workbooks_have_a_sheet_per_team_with_the_formatting_hr_expects(demo_dir):
    reports = _summary(demo_dir)["reports"][DAY]
    engine = _demo_engine(demo_dir)
    with engine.connect() as conn:
        teams = conn.execute(sa.text("select workshop, team_id from raw.hr_teams")).all()
        red = conn.execute(sa.text(
            "select count(*) from marts.goal_health where status = 'red'")).scalar()
    engine.dispose()
    by_department: dict[str, set[str]] = {}
    for workshop, team in teams:
        by_department.setdefault(workshop, set()).add(team)
    assert {w["department"] for w in reports["hr_workbooks"]} == set(by_department)
    assert sum(w["red"] for w in reports["hr_workbooks"]) == red > 0

    paint = next(w for w in reports["hr_workbooks"] if w["department"] == "Paint Shop")
    wb = load_workbook(demo_dir / paint["file"])
    for w in reports["hr_workbooks"]:
        sheets = load_workbook(demo_dir / w["file"], read_only=True).sheetnames
        assert sheets[-1] == "Breakpoints 3x3"  # the plant's chains, in every workbook
        assert {s.split()[0] for s in sheets[:-1]} == by_department[w["department"]]
    chains = [r for r in wb["Breakpoints 3x3"].iter_rows(min_row=4, values_only=True) if r[0]]
    assert chains[0][:2] == (1, 0) and any("wms→tms" in (r[2] or "") for r in chains)
    ws = wb["T3 Painting"]
    assert ws.freeze_panes == "A4"
    header = [c.value for c in ws[3]]
    assert header[:3] == ["Subject", "Name", "Goal"] and "Health" in header
    rows = {r[2].value: r for r in ws.iter_rows(min_row=4, max_row=6)}
    fai = rows["t3-first-article"]
    assert fai[header.index("Health")].value == "red"
    assert fai[header.index("Attainment")].number_format == "0.0%"
    assert 0.9 < fai[header.index("Attainment")].value < 1.0
    rules = {str(cf.sqref): {r.formula[0]: r.dxf.fill.fgColor.rgb[-6:] for r in cf.rules}
             for cf in ws.conditional_formatting}
    health = header.index("Health")
    assert rules[f"{'ABCDEFGHIJKLM'[health]}4:{'ABCDEFGHIJKLM'[health]}6"] == {
        '"red"': "F4B6B4", '"yellow"': "FBE7A1", '"green"': "B7E1C1"}
    assert ws.auto_filter.ref.startswith("A3:")
    people = [r for r in ws.iter_rows(min_row=9, values_only=True) if r[0]]
    assert people[0][:3] == ("Employee", "Name", "Role")
    assert any(r[3] and "MES fault-code reader" in r[3] for r in people[1:])
    # a new hire's 90 days: the demo's at-risk operator on the Assembly B sheet
    assembly = load_workbook(demo_dir / next(
        w["file"] for w in reports["hr_workbooks"] if w["department"] == "Assembly Hall"))
    ws = assembly["T5 Assembly B"]
    hire = next(r for r in ws.iter_rows() if r[0].value == "E0599")
    head = [c.value for c in next(r for r in ws.iter_rows() if r[0].value == "Employee")]
    reported = [r for r in ws.iter_rows(values_only=True) if r[0] == "production_daily"]
    assert reported and all("!Assembly B!R" in str(r[-1] or r) for r in reported)
    assert {r[1] for r in reported} == {"Assembly B"}
    assert hire[head.index("Onboarding")].value == "at_risk"
    assert hire[head.index("New hire: day")].value == 46
    assert hire[head.index("Training share")].number_format == "0%"
    column = hire[head.index("Onboarding")].column_letter
    assert any(str(cf.sqref).startswith(column) and {r.formula[0] for r in cf.rules} ==
               {'"late"', '"at_risk"', '"on_track"'} for cf in ws.conditional_formatting)


def test_war_room_page_fetches_nothing_and_shows_the_day(demo_dir):
    reports = _summary(demo_dir)["reports"][DAY]
    page = (demo_dir / reports["war_room"]).read_text()
    assert not re.search(r"<(script|link|iframe)\b", page, re.IGNORECASE)
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert not re.search(r"url\(", page)
    assert 'src="data:image/png;base64,' in page
    assert page.count('class="red-item"') == reports["war_room_sections"]["red_items"] > 0
    for shown in ("T3", "fai-below-92-5", "T2-D03", "F04-WIRE-FEED x3", "delivery",
                  "total_mismatch", "Assembly A"):
        assert shown in page, shown


def test_war_room_renders_in_chromium_on_a_phone_with_no_errors(demo_dir, chromium):
    reports = _summary(demo_dir)["reports"][DAY]
    page_file = demo_dir / reports["war_room"]
    page = chromium.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri(), wait_until="load")

    heatmap = page.locator("#heatmap")
    assert heatmap.evaluate("img => img.complete && img.naturalWidth > 0")
    box = heatmap.bounding_box()
    assert box and 0 < box["width"] <= 390
    # the complaint words, Chinese and English, drawn as a word cloud
    cloud = page.locator("#wordcloud")
    assert cloud.evaluate("img => img.complete && img.naturalWidth > 0")
    words = page.locator("#complaints td:first-child").all_inner_texts()
    assert any(re.fullmatch(r"[\u4e00-\u9fff]{2,}", w) for w in words), words
    red = page.locator("details.red-item")
    assert red.count() == reports["war_room_sections"]["red_items"]
    assert page.locator("#count-red b").inner_text() == str(red.count())
    first = red.first
    first.locator("summary").click()
    assert "source:" in first.locator("pre").inner_text()
    # a phone reads it without scrolling sideways: only tables scroll, inside their box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    artifacts = Path(os.environ.get("PERFFLOW_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / f"war_room_{DAY}_phone.png"), full_page=True)
    page.close()
    assert problems == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


def _page_times(page) -> tuple[list[float], list[str], str]:
    seconds = [float(s) for s in page.locator(".response").evaluate_all(
        "cells => cells.map(c => c.dataset.seconds).filter(s => s !== '')")]
    since = page.locator("#episodes tr td:nth-child(4)").all_inner_texts()
    return seconds, since, page.locator("h1").inner_text()


def test_each_war_room_page_tells_one_day_on_one_clock_in_chromium(demo_dir, chromium):
    """The scenario day's page lists the replay, timed on the scenario's clock; the live
    part's page the live storm, on the wall clock. No response time on either is above an
    hour, and each lists only episodes of its day."""
    summary = _summary(demo_dir)
    page = chromium.new_page()
    page.goto((demo_dir / summary["reports"][DAY]["war_room"]).as_uri(), wait_until="load")
    seconds, since, title = _page_times(page)
    assert title.endswith(f"plant day {DAY}") and since
    assert seconds and max(seconds) < 3600, seconds
    assert all(s.startswith(DAY[5:]) for s in since), since  # MM-DD of the page's day
    assert set(page.locator("#response-times td:nth-child(5)").all_inner_texts()) == {
        "signal -> delivered (the scenario's clock)"}
    # the figures on the page are those summary.json gives, on the same basis
    assert max(seconds) == pytest.approx(summary["response_seconds"]["max"], abs=1)

    live = demo_dir / summary["live_page"]
    page.goto(live.as_uri(), wait_until="load")
    seconds, since, title = _page_times(page)
    live_day = live.stem.rsplit("_", 1)[1]
    assert title.endswith(f"live part, {live_day} (wall clock)")
    assert since and all(s.startswith(live_day[5:]) for s in since), since
    assert seconds and max(seconds) < 3600, seconds
    assert set(page.locator("#response-times td:nth-child(5)").all_inner_texts()) == {
        "signal -> delivered (wall clock)"}
    assert max(seconds) == pytest.approx(summary["live_response_seconds"]["max"], abs=1)
    page.close()
