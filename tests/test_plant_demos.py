"""`perfflow demo` for plants that are not the bundled one: one welding team and nothing
else; 40 teams over 6 workshops in Europe/Berlin across the night the clocks go back; CJK
team and workshop names. They run as one group (`perfflow demo --scenario group.yaml`),
each a deployment of its own, rolled up to the group at the end. Each ends `demo ok`, and
its summary.json, report.md and war-room page name no team, device or workshop outside the
scenario's plant. The goal tree is a template expanded over the plant's own teams, so
every goal has data: the `every_goal_has_data` check passes, and the goal subjects are the
plant's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from _plant_flow import plant_names

from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator.common import production_teams, stations_of

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "tests" / "scenarios"
PERFFLOW = str(Path(sys.executable).with_name("perfflow"))
GOAL_CHECK = "marts/goal_scores:every_goal_has_data"
DATA_URI = re.compile(r"data:[^\"')]+")


def _bundled_names() -> set[str]:
    """The bundled plant's team ids, devices, stations and workshops: what a plant of its
    own must not be told about."""
    default = load_scenario()
    names = plant_names(default)
    return set().union(*names.values())


# the three plants run as one group (tests/scenarios/group.yaml), each a demo of its own
PLANTS = {"one_welding_team": "WELD1", "berlin_40_teams": "BER", "cjk_names": "CJK"}


@pytest.fixture(scope="module")
def group_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("group")
    env = {k: v for k, v in os.environ.items() if k != "PERFFLOW_CONFIG_DIR"}
    proc = subprocess.run([PERFFLOW, "demo", "--out", str(out), "--scenario",
                           str(SCENARIOS / "group.yaml")],
                          capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
    return out, proc


@pytest.fixture(scope="module", params=list(PLANTS))
def plant_demo(request, group_demo):
    """One plant of the group: its scenario, its output folder and its demo's exit code,
    stdout and stderr."""
    out, group_proc = group_demo
    assert (out / "summary.json").exists(), group_proc.stderr[-3000:]
    plant_id = PLANTS[request.param]
    plant_out = out / "plants" / plant_id
    run = json.loads((out / "summary.json").read_text())["plants"][plant_id]
    proc = SimpleNamespace(returncode=run["returncode"],
                           stdout=(plant_out / "demo.out").read_text(),
                           stderr=(plant_out / "demo.err").read_text())
    return load_scenario(SCENARIOS / f"{request.param}.yaml"), plant_out, proc


def _texts(out: Path) -> dict[str, str]:
    summary = json.loads((out / "summary.json").read_text())
    goal_subjects = summary.get("goal_health", {}).pop("subjects", [])
    pages = sorted((out / "reports" / "war_room").glob("*.html"))
    texts = {"summary.json": json.dumps(summary, ensure_ascii=False),
             "report.md": (out / "report.md").read_text()}
    texts |= {p.name: DATA_URI.sub("", p.read_text()) for p in pages}
    return texts | {"goal subjects": " ".join(goal_subjects)}


def test_the_demo_runs_for_the_plant(plant_demo):
    scenario, out, proc = plant_demo
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("demo ok")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success"] and summary["rows_balanced"]
    assert summary["rows"]["fetched"] == summary["rows"]["landed"] + summary["rows"]["quarantined"]
    assert summary["partitions"]["timezone"] == scenario.timezone
    assert summary["partitions"]["count"] == scenario.hours
    assert all(isinstance(e["feature"], str) and e["reason"] for e in summary["skipped"])
    for entry in summary["skipped"]:
        assert f"skipped {entry['feature']}: {entry['reason']}" in proc.stderr
        assert f"- Skipped {entry['feature']}: {entry['reason']}" in \
            (out / "report.md").read_text()
    # every goal of the plant's expanded tree has data; only the freshness of a source the
    # plant does not feed (no sales people: no CRM rows) may fail
    failed = summary["checks"]["failed_checks"]
    assert all(":" in c for c in failed)
    assert GOAL_CHECK not in failed
    assert not [c for c in failed if not c.endswith("_fresh")], failed


def test_the_outputs_name_only_the_plant_s_teams_devices_and_workshops(plant_demo):
    scenario, out, proc = plant_demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    own = set().union(*plant_names(scenario).values())
    foreign = sorted(_bundled_names() - own, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, foreign)) + r")(?![\w-])")
    for name, text in _texts(out).items():
        assert pattern.findall(text) == [], name
    summary = json.loads((out / "summary.json").read_text())
    teams = plant_names(scenario)["teams"]
    assert {r["team_id"] for r in summary["team_daily_metrics"]} == \
        {t.id for t in production_teams(scenario)}
    subjects = {a["subject"] for a in summary["alerts"]}
    links = {i["link"] for i in summary.get("interfaces", [])}
    assert subjects <= teams | plant_names(scenario)["devices"] | links
    for report in summary["reports"].values():
        departments = [w["department"] for w in report["hr_workbooks"]]
        assert set(departments) == plant_names(scenario)["workshops"]
        files = [w["file"] for w in report["hr_workbooks"]]  # one file per department
        assert len(set(files)) == len(departments) and all((out / f).exists() for f in files)


def test_the_live_storm_and_the_workbooks_come_from_the_plant(plant_demo):
    scenario, out, proc = plant_demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    devices = {s.device_id for t in production_teams(scenario) for s in stations_of(t)}
    live = {a["subject"] for a in summary["alerts"] if a["evaluated_by"] == "source_watch"}
    assert live and live <= devices | {t.id for t in production_teams(scenario)}
    assert "live storm at" in proc.stderr
    files = [f["file"] for f in summary["workbooks"]["by_file"]]
    workshops = {t.workshop for t in production_teams(scenario)}
    named = [f for f in files if f.startswith(("生产质量月报_", "质量月报_"))]
    assert named and all(any(re.sub(r"[^\w]+", "-", w) in f for w in workshops) for f in named)
    has_sales = any(t.line_type == "office" for t in scenario.plant.teams)
    assert any(f.startswith("销售周报_") for f in files) == has_sales
    skipped = {e["feature"] for e in summary["skipped"]}
    assert ("sales weekly workbooks" in skipped) == (not has_sales)
    assert ("crm opportunities" in skipped) == (not has_sales)


def test_the_berlin_plant_has_both_passes_through_the_repeated_hour(plant_demo):
    scenario, out, proc = plant_demo
    if scenario.timezone != "Europe/Berlin":
        pytest.skip("only the plant across the change of the clocks")
    assert proc.returncode == 0, proc.stderr[-3000:]
    url = f"sqlite:///{out / 'warehouse' / 'warehouse.db'}"
    query = subprocess.run(
        [PERFFLOW, "query", "--warehouse", url, "select partition_key, count(*) as teams "
         "from marts.team_hourly_quality group by partition_key order by partition_key"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert query.stdout.splitlines()[1:] == [
        f"2026-10-25-{h},40" for h in ("00:00", "01:00", "02:00", "02:00+0100", "03:00")]
    daily = subprocess.run(
        [PERFFLOW, "query", "--warehouse", url, "select count(*), sum(team_hour_count) "
         "from marts.team_daily_quality where local_date = '2026-10-25'"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert daily.stdout.splitlines()[1] == "40,200"


def test_the_bundled_plant_skips_nothing_and_its_storm_hits_the_assembly_line(tmp_path):
    from perf_orchestration.cli.demo import storm_plan
    from perf_orchestration.simulator.generate_business import skipped_features
    from perf_orchestration.simulator.names import build_roster
    from perf_orchestration.workbooks.generate import demo_folder

    default = load_scenario()
    assert skipped_features(default, build_roster(default)) == []
    skipped: list = []
    assert len(demo_folder(tmp_path, default, skipped)) == 5 and skipped == []
    storm = storm_plan(default)  # the only line with two teams and no incident
    assert (storm.line_id, [t.id for t in storm.teams]) == ("ASM", ["T4", "T5"])
    assert [s.device_id for s in storm.devices] == ["T4-D02", "T5-D02", "T5-D01"]


def test_a_one_station_plant_storms_its_only_device_and_skips_what_it_lacks(tmp_path):
    from perf_orchestration.cli.demo import storm_plan
    from perf_orchestration.simulator.generate import generate_dataset
    from perf_orchestration.simulator.generate_business import skipped_features
    from perf_orchestration.simulator.names import build_roster

    plant = load_scenario(SCENARIOS / "one_welding_team.yaml")
    storm = storm_plan(plant)
    assert [s.device_id for s in storm.devices] == ["W1-D01"]
    features = {e["feature"] for e in skipped_features(plant, build_roster(plant))}
    assert {"crm opportunities", "crm proposals"} <= features
    data = generate_dataset(plant)
    assert data.tables["crm_opportunities"] == [] and data.tables["crm_proposals"] == []
    owners = {r["team_id"] for r in data.tables["hr_employees"]}
    assert owners == {"W1"}
    renewing = type(plant).model_validate({**plant.model_dump(), "incidents": [
        {"kind": "crm_renewal", "id": "renews", "account": "ACC-1", "at": plant.start}]})
    assert generate_dataset(renewing).tables["crm_renewals"] == []
    assert {"feature": "crm renewal renews",
            "reason": "no owner given and the plant has no account manager"} in \
        skipped_features(renewing, build_roster(renewing))


def test_a_plant_whose_only_stations_are_in_a_technical_centre_drops_no_production_report(
        tmp_path):
    from perf_orchestration.scenarios.config import Scenario
    from perf_orchestration.workbooks.generate import demo_folder

    lab = Scenario.model_validate({"start": "2026-11-02T00:00:00", "hours": 2, "plant": {
        "teams": [{"id": "TC9", "name": "Lab", "line_id": "TC", "line_type": "technical_centre",
                   "workshop": "Labor", "stations": 2, "headcount": 5}]}})
    skipped: list = []
    assert [p.name for p in demo_folder(tmp_path, lab, skipped)] == ["质量月报_Labor_2026-11.xlsx"]
    assert [e["feature"] for e in skipped] == ["production workbooks", "sales weekly workbooks"]


def test_a_failure_of_a_technical_centre_device_is_refused_when_the_scenario_loads(tmp_path):
    bad = tmp_path / "lab.yaml"
    bad.write_text(
        "start: 2026-11-02T00:00:00\nhours: 2\nplant:\n  teams:\n"
        "    - {id: TC9, name: Lab, line_id: TC, line_type: technical_centre, stations: 2}\n"
        "incidents:\n  - {kind: equipment_failure, id: lab-down, device: TC9-D01,"
        " at: [2026-11-02T00:30:00]}\n")
    proc = subprocess.run([PERFFLOW, "validate", "--scenario", str(bad)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "lab-down: device 'TC9-D01' does not exist" in proc.stderr
    assert "of a production team with stations" in proc.stderr


def _goal_rows(url: str, sql: str) -> list[tuple]:
    from perf_orchestration.warehouse import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(sql))]
    engine.dispose()
    return rows


def test_the_group_rolls_its_three_plants_up_as_ratios_of_sums(group_demo):
    """Three plants in three zones, each its own deployment, rolled up to one group: the
    group's first-pass yield of a day is the plants' good units over their units."""
    out, proc = group_demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("group demo ok") and "Traceback" not in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {p: r["timezone"] for p, r in summary["plants"].items()} == \
        {"WELD1": "Asia/Shanghai", "BER": "Europe/Berlin", "CJK": "Asia/Tokyo"}
    group_url = f"sqlite:///{out / 'group' / 'warehouse.db'}"
    sums: dict[str, list[float]] = {}
    targets = {}
    for plant in PLANTS.values():
        url = f"sqlite:///{out / 'plants' / plant / 'warehouse' / 'warehouse.db'}"
        for period, num, den, target in _goal_rows(
                url, "select period, numerator, denominator, target from marts.goal_scores "
                "where goal_id = 'plant-first-pass-yield'"):
            totals = sums.setdefault(period, [0.0, 0.0])
            totals[0] += num
            totals[1] += den
            targets[plant] = target
    # the welding plant runs the Chicago goal tree of its config folder: its own target
    assert targets == {"WELD1": 0.97, "BER": 0.965, "CJK": 0.965}
    group = dict((period, (num, den, actual)) for period, num, den, actual in _goal_rows(
        group_url, "select period, numerator, denominator, actual from marts.group_goal_scores "
        "where goal_id = 'group-first-pass-yield'"))
    assert set(group) == set(sums) == {"2026-10-25", "2026-11-02"}  # Berlin's day, the others'
    for period, (num, den) in sums.items():
        assert group[period][:2] == pytest.approx((num, den))
        assert group[period][2] == pytest.approx(num / den)
    plants = _goal_rows(group_url, "select distinct plant_id from marts.group_plant_goal_scores")
    assert sorted(p for (p,) in plants) == ["BER", "CJK", "WELD1"]
    # each plant's cell shows its own latest day; the supported yield is CJK's alone
    cells = {(c["plant_id"], c["goal_id"]): c for c in summary["heatmap"]["cells"]}
    assert cells[("BER", "group-first-pass-yield")]["period"] == "2026-10-25"
    assert cells[("CJK", "group-first-pass-yield")]["period"] == "2026-11-02"
    assert {p for p, g in cells if g == "group-supported-yield"} == {"CJK", "GROUP"}
    assert all(c["status"] in {"green", "yellow", "red"} for c in cells.values())
    assert (out / "group_health.png").read_bytes()[:4] == b"\x89PNG"
