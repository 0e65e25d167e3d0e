"""Goal scores, elastic weights, alignment, health and trace against the real warehouse.

The default scenario's day runs through the SQL models and the goal pipeline on SQLite
and PostgreSQL; rollups and attainments are then recomputed by hand from the rows. A
two-day CRM case shows a recalibration applying from its effective time only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from test_metrics import ROOT, _value, land, local, norm, query

from perf_orchestration.goals.calibration import rescale
from perf_orchestration.goals.pipeline import (
    align,
    apply_calibration,
    load_goal_config,
    refresh_health,
    score_window,
)
from perf_orchestration.goals.scores import ATTAINMENT_CAP, ScoreRun, attainment, weighted_rollup
from perf_orchestration.goals.trace import trace_lines
from perf_orchestration.ingestion.entities import ENTITIES
from perf_orchestration.plant_calendar import calendar_rows
from perf_orchestration.scenarios.config import load_scenario
from perf_orchestration.simulator import generate_dataset
from perf_orchestration.sqlmodels import load_project, run_project
from perf_orchestration.warehouse import make_engine

NOW = datetime(2026, 11, 3, 12)


def test_attainment_and_rollup_by_hand():
    assert attainment(0.9, 0.9, "higher") == 1.0
    assert attainment(0.45, 0.9, "higher") == 0.5
    assert attainment(2.0, 1.0, "lower") == 0.5          # twice the allowed is half-way
    assert attainment(0.0, 1.0, "lower") == ATTAINMENT_CAP
    assert attainment(5.0, 1.0, "higher") == ATTAINMENT_CAP
    assert attainment(None, 1.0, "higher") is None
    # 45% x 0.8 + 40% x 1.0 + 15% x 0.6 = 0.85; a child without data drops out and the
    # others' weights are renormalised: (45 x 0.8 + 40 x 1.0) / 85
    assert weighted_rollup([(45, 0.8), (40, 1.0), (15, 0.6)]) == pytest.approx(0.85)
    assert weighted_rollup([(45, 0.8), (40, 1.0), (15, None)]) == pytest.approx(76 / 85)
    assert weighted_rollup([(50, None)]) is None


@pytest.mark.parametrize(("weights", "goal", "new"), [
    ({"direct": 45, "distributor": 40, "online": 15}, "online", 25),
    ({"a": 33.33, "b": 33.33, "c": 33.34}, "a", 50),
    ({"a": 10, "b": 90}, "b", 5),
    ({"a": 20, "b": 20, "c": 20, "d": 20, "e": 20}, "c", 37.5),
])
def test_recalibration_keeps_the_sum_at_100(weights, goal, new):
    out = rescale(weights, goal, new)
    assert out[goal] == new
    assert sum(out.values()) == pytest.approx(100, abs=1e-9)
    others = [g for g in weights if g != goal]
    ratios = {round(out[g] / weights[g], 2) for g in others}
    assert max(ratios) - min(ratios) <= 0.01  # siblings scale in proportion
    assert rescale(weights, goal, new) == out


@pytest.fixture(scope="module")
def default_day() -> tuple[dict, list]:
    scenario = load_scenario()
    data = generate_dataset(scenario)
    rows = {e.table: [{c.name: _value(c.type, r.get(c.name)) for c in e.columns}
                      for r in data.clean_records(e.table)] for e in ENTITIES}
    return rows, calendar_rows(scenario.start, scenario.end)


def run_goals(engine, config, run_id: str = "run-goals"):
    schedule, _ = apply_calibration(engine, config, run_id, NOW)
    rows = score_window(engine, config, schedule, local(2, 0), local(3, 0),
                        ScoreRun(config.tree.version, run_id, NOW, {"team_daily_quality": "m1"}))
    align(engine, config, ["2026-11-02"], run_id)
    return rows, refresh_health(engine, config, run_id)


def test_default_day_scores_rollups_alignment_health_and_trace(warehouse_url, default_day):
    engine = make_engine(warehouse_url)
    land(engine, *default_day)
    run_project(engine, load_project(ROOT))
    config = load_goal_config()
    rows, health = run_goals(engine, config)
    assert len(rows) == len(config.tree.goals)

    scores = {r["goal_id"]: r for r in query(engine, "select * from marts.goal_scores")}
    assert set(scores) == {g.id for g in config.tree.goals}
    assert all(r["config_version"] == config.tree.version for r in scores.values())
    # attainment by hand from the mart: T3's first-article pass rate against 99%
    t3 = query(engine, "select fai_passed, fai_total from marts.team_daily_quality "
                       "where team_id = 'T3'")[0]
    fai = scores["t3-first-article"]
    assert (fai["numerator"], fai["denominator"]) == (t3["fai_passed"], t3["fai_total"])
    assert fai["attainment"] == pytest.approx(t3["fai_passed"] / t3["fai_total"] / 0.99)
    # every parent's rollup by hand from its children's rows and weights
    for parent in {r["parent_id"] for r in scores.values() if r["parent_id"]}:
        kids = [r for r in scores.values() if r["parent_id"] == parent]
        by_hand = sum(k["weight"] * k["score"] for k in kids) / sum(k["weight"] for k in kids)
        assert scores[parent]["rollup_score"] == pytest.approx(by_hand), parent
        assert sum(k["weight"] for k in kids) == pytest.approx(100)
    # the online channel appears in the CRM data that day: its weight is 25%, not 15%
    assert scores["online-follow-up"]["weight"] == 25
    changes = query(engine, "select goal_id, old_weight, new_weight, trigger from "
                            "ops.weight_changes order by goal_id")
    assert [(c["goal_id"], c["old_weight"], c["new_weight"]) for c in changes] == [
        ("direct-follow-up", 45, 39.71), ("distributor-follow-up", 40, 35.29),
        ("online-follow-up", 15, 25)]
    assert "new CRM channel 'online'" in changes[0]["trigger"]

    aligned = {r["goal_id"]: r for r in query(engine, "select * from marts.goal_alignment")}
    rc = aligned["repeat-customers"]
    assert rc["divergence"] == pytest.approx(scores["repeat-customers"]["rollup_score"]
                                             - scores["repeat-customers"]["attainment"])
    assert rc["aligned"] == (abs(rc["divergence"]) <= config.tree.file.alignment_tolerance)

    cells = {r["goal_id"]: r for r in query(engine, "select * from marts.goal_health")}
    assert {c["subject"].split("/")[0] for c in cells.values()} >= {f"T{i}" for i in
                                                                     range(1, 8)}
    red = cells["t3-first-article"]
    assert red["status"] == "red" and red["progress_ratio"] == pytest.approx(fai["attainment"])

    lines = trace_lines(engine, config.tree, "marts.goal_health", "t3-first-article")
    text = "\n".join(lines)
    assert "RED" in lines[0] and "run-goals" in text and "plant-first-pass-yield" in text
    assert "fai_passed / fai_total" in text and "mart written by run m1" in text
    failed = query(engine, "select source_record_id from raw.mes_first_article_inspections "
                           "where team_id = 'T3' and result = 'fail'")
    assert failed and all(f["source_record_id"] in text for f in failed[:5])
    assert "landed by run(s) test" in text
    engine.dispose()


def _opportunity(opp: str, owner: str, channel: str, day: int, hours: list[float]):
    stages = ("lead", "qualified", "proposal", "negotiation")
    return [{"change_id": f"{opp}:{s}", "opportunity_id": opp, "account_id": "ACC-1",
             "owner_id": owner, "stage": s, "amount": 1000.0, "channel": channel,
             "changed_at": local(day, 9) + timedelta(hours=h),
             "updated_at": None} for s, h in zip(stages, hours, strict=False)]


def two_sales_days(tmp_path, url: str, period: str = "day"):
    """The sales template over 2 and 3 November; online opportunities start on the 3rd."""
    sales = yaml.safe_load((ROOT.parent / "perf_orchestration" / "goals.yaml").read_text())
    sales["templates"] = [t for t in sales["templates"] if t["id"] == "sales"]
    for g in sales["templates"][0]["goals"]:
        g["source"]["period"] = period
    (tmp_path / "goals.yaml").write_text(yaml.safe_dump(sales))
    calibration = (ROOT.parent / "perf_orchestration" / "calibration.yaml").read_text()
    (tmp_path / "calibration.yaml").write_text(calibration)
    config = load_goal_config(tmp_path)

    # day 2: direct (1 of 2 on time) and distributor (2 of 2); online only appears on day 3
    opps = (_opportunity("OPP-1", "E1067", "direct", 2, [0, 1, 3.5])
            + _opportunity("OPP-2", "E1077", "distributor", 2, [0, 1, 2])
            + _opportunity("OPP-3", "E1067", "direct", 3, [0, 1])
            + _opportunity("OPP-4", "E1093", "online", 3, [0, 3]))
    staff = [{"employee_id": e, "name": e, "team_id": "OFF", "role": "sales_rep",
              "shift": "office", "email": f"{e}@x", "hired_at": datetime(2020, 1, 1)}
             for e in ("E1067", "E1077", "E1093")]
    engine = make_engine(url)
    land(engine, {"crm_opportunities": opps, "hr_employees": staff},
         calendar_rows(local(2, 0).replace(tzinfo=UTC), local(4, 0).replace(tzinfo=UTC)))
    run_project(engine, load_project(ROOT),
                window=(local(2, 0), local(4, 0)),
                select=["stg_crm__opportunities", "stg_hr__employees", "sales_process_daily"])
    return engine, config


def test_recalibration_applies_from_its_effective_time_only(tmp_path, warehouse_url):
    engine, config = two_sales_days(tmp_path, warehouse_url)
    schedule, recorded = apply_calibration(engine, config, "run-cal", NOW)
    assert recorded == 3 and schedule.changes[0].effective_from == local(3, 9)
    score_window(engine, config, schedule, local(2, 0), local(4, 0),
                 ScoreRun(config.tree.version, "run-s", NOW))
    got = {(r["goal_id"], r["period"]): r for r in query(
        engine, "select * from marts.goal_scores")}
    weights = {p: {c: got[(f"{c}-follow-up", p)]["weight"]
                   for c in ("direct", "distributor", "online")}
               for p in ("2026-11-02", "2026-11-03")}
    assert weights["2026-11-02"] == {"direct": 45, "distributor": 40, "online": 15}
    assert weights["2026-11-03"] == {"direct": 39.71, "distributor": 35.29, "online": 25}
    assert sum(weights["2026-11-03"].values()) == pytest.approx(100)
    # day 2 by hand: direct 1/2 on time -> 0.5 / 0.9; distributor 2/2 -> 1 / 0.9; online
    # has no data and drops out of the rollup
    day2 = got[("sales-follow-up", "2026-11-02")]
    assert got[("online-follow-up", "2026-11-02")]["null_reason"] == "no data"
    assert day2["rollup_score"] == pytest.approx((45 * 0.5 / 0.9 + 40 * 1 / 0.9) / 85)
    day3 = got[("sales-follow-up", "2026-11-03")]
    assert day3["weight_version"] == "V3.0.0-template+online-channel-weight"
    assert got[("sales-follow-up", "2026-11-02")]["weight_version"] == "V3.0.0-template"
    # a second run records nothing new and keeps the first run as the one that applied it
    assert apply_calibration(engine, config, "run-again", NOW)[1] == 0
    assert {norm(r["run_id"]) for r in query(engine, "select run_id from ops.weight_changes")} \
        == {"run-cal"}
    engine.dispose()


def test_a_week_sums_its_days_and_uses_the_weights_at_its_end(tmp_path, warehouse_url):
    engine, config = two_sales_days(tmp_path, warehouse_url, period="week")
    schedule, _ = apply_calibration(engine, config, "run-cal", NOW)
    score_window(engine, config, schedule, local(2, 0), local(4, 0),
                 ScoreRun(config.tree.version, "run-s", NOW))
    got = {r["goal_id"]: r for r in query(engine, "select * from marts.goal_scores")}
    assert {r["period"] for r in got.values()} == {"2026-W45"}
    # direct: 1 of 2 advances on time on the 2nd, 1 of 1 on the 3rd -> 2 / 3
    direct = got["direct-follow-up"]  # all direct opportunities are E1067's
    assert (direct["numerator"], direct["denominator"]) == (2, 3)
    assert got["online-follow-up"]["attainment"] == 0  # E1093, 3 h: late
    by_hand = (39.71 * (2 / 3) / 0.9 + 35.29 * 1 / 0.9 + 25 * 0) / 100
    assert got["sales-follow-up"]["rollup_score"] == pytest.approx(by_hand)
    engine.dispose()
