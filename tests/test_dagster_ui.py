"""The Dagster UI as a data engineer opens it: the webserver over the demo's instance,
pages read in headless Chromium. What the plant's state looks like without leaving the
UI: the goal-health heatmap, a mart's row count and preview, the day's war-room page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the UI's first-visit invitation would cover the page; a returning user has dismissed it
DISMISSED = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui_url(demo_dir, tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(demo_dir / "dagster_home"),
           "PERFFLOW_WAREHOUSE_URL": f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}",
           "PERFFLOW_REPORTS_DIR": str(demo_dir / "reports")}
    log = tmp_path_factory.mktemp("ui") / "webserver.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-webserver")), "-m",
             "perf_orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dagster-webserver did not start: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_ui_shows_the_heatmap_row_counts_and_the_war_room(ui_url, chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(DISMISSED)
    page = context.new_page()
    page.set_default_timeout(60_000)

    page.goto(f"{ui_url}/assets/marts/goal_health", wait_until="networkidle")
    page.locator("tr", has_text="heatmap").get_by_text("Show Markdown").click()
    heatmap = page.locator("img[src^='data:image/png']").first
    heatmap.wait_for()
    assert heatmap.evaluate("img => img.complete && img.naturalWidth > 300")
    artifacts = Path(os.environ.get("PERFFLOW_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "dagster_ui_goal_health.png"))

    page.goto(f"{ui_url}/assets/marts/team_daily_quality", wait_until="networkidle")
    body = page.locator("body")
    body.get_by_text("Row count").first.wait_for()
    assert "preview" in body.inner_text()

    page.goto(f"{ui_url}/assets/reports/war_room", wait_until="networkidle")
    body.get_by_text("red_items").first.wait_for()
    assert "2026-11-02" in body.inner_text()
    context.close()
