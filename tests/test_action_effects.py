"""Expected effects: every action with an effect is judged effective, not_effective or
no_data once its horizon has passed on the warehouse's data clock, pending before; a
replayed episode on its data's clock; re-running changes nothing; response times and
validation follow.

The plant is not the default: teams WX1 (line WX) and PZ2, KQ3 (line PZ) in Chicago, a
device SCHW-07 of WX1, and the marts built by the SQL models from landed raw rows."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from perf_orchestration.alerting.effects import check_action_effects, effects_summary, judge
from perf_orchestration.alerting.response import refresh_response_times
from perf_orchestration.alerting.rules import BUNDLED_RULES, Observation, load_rules
from perf_orchestration.cli import main
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.plant_calendar import TIMEZONE_ENV, calendar_row, calendar_rows
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.tables import (
    action_log,
    alert_episodes,
    metadata,
    response_times,
    upsert_calendar,
)
from perf_orchestration.tables.ops import action_effects
from perf_orchestration.testing.rows import land_rows
from perf_orchestration.warehouse import ensure_schemas, make_engine

TZ = "America/Chicago"  # UTC-6 in January
LOCAL = ZoneInfo(TZ)
SQL_ROOT = Path(__file__).resolve().parents[1] / "dbt_like_sql"
MODELS = ("stg_hr__teams", "stg_hr__employees", "stg_mes__production",
          "stg_mes__first_article_inspections", "stg_mes__equipment_checks",
          "stg_mes__changeovers", "stg_mes__equipment_events", "team_hourly_quality",
          "device_daily_reliability")
DAY1 = datetime(2026, 1, 12)  # local midnight; the calendar covers two plant days
DEVICE = "SCHW-07"
FAI, DEV = "fai-below-92-5", "device-failures-3-per-day"


def utc(local: datetime) -> datetime:
    """Naive UTC of a naive plant-local time."""
    return local.replace(tzinfo=LOCAL).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def pass_rate(team: str, hour: int) -> float | None:
    """First-article pass rate of a team in local hour `hour` (0..47 from DAY1)."""
    if team == "WX1":  # bad until 12:00 of day 1, then good
        return 0.80 if hour < 12 else 0.95
    if team == "PZ2":  # bad throughout
        return 0.85
    return None  # KQ3 inspects nothing


def _plant(url: str) -> sa.Engine:
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    land_rows(engine, "hr_teams", [
        {"team_id": t, "name": n, "line_id": line, "line_type": kind, "workshop": "Werk 2",
         "updated_at": datetime(2026, 1, 1)}
        for t, n, line, kind in (("WX1", "Schweißen", "WX", "welding"),
                                 ("PZ2", "Lack A", "PZ", "painting"),
                                 ("KQ3", "Lack B", "PZ", "painting"))], "team_id")
    start, end = DAY1.replace(tzinfo=LOCAL), (DAY1 + timedelta(days=2)).replace(tzinfo=LOCAL)
    with engine.begin() as conn:
        upsert_calendar(conn, calendar_rows(start, end, TZ))
    inspections = []
    for team in ("WX1", "PZ2", "KQ3"):
        for hour in range(48):
            rate = pass_rate(team, hour)
            if rate is None:
                continue
            at = (DAY1 + timedelta(hours=hour, minutes=30)).replace(tzinfo=LOCAL)
            key = calendar_row(at, TZ)["partition_key"]
            passed = round(rate * 20)
            inspections += [{
                "inspection_id": f"FAI-{team}-{hour}-{i}", "station_id": f"{team}-S1",
                "team_id": team, "inspected_at": utc(DAY1 + timedelta(hours=hour, minutes=30)),
                "product": "P1", "result": "pass" if i < passed else "fail",
                "defect_code": None, "inspector_id": "Q1",
                "updated_at": utc(DAY1 + timedelta(hours=hour, minutes=31)),
                "partition_key": key} for i in range(20)]
    land_rows(engine, "mes_first_article_inspections", inspections, "inspection_id")
    # the device fails three times on day 1 (repaired each time) and runs day 2 without
    events = []
    for i, hour in enumerate((7, 12, 19)):
        for kind, minutes in (("failure", 0), ("repair", 30)):
            at = DAY1 + timedelta(hours=hour, minutes=minutes)
            events.append({
                "event_id": f"EV-{i}-{kind}", "device_id": DEVICE, "device_type": "welder",
                "station_id": "WX1-S1", "team_id": "WX1", "occurred_at": utc(at),
                "event_type": kind, "state": "down" if kind == "failure" else "run",
                "failure_code": "F1" if kind == "failure" else None, "updated_at": utc(at),
                "partition_key": calendar_row(at.replace(tzinfo=LOCAL), TZ)["partition_key"]})
    land_rows(engine, "mes_equipment_events", events, "event_id")
    production = []
    for hour in range(6, 30):  # the station is planned on both days
        at = DAY1 + timedelta(hours=hour)
        production.append({
            "production_id": f"PR-{hour}", "station_id": "WX1-S1", "team_id": "WX1",
            "hour_start": utc(at), "planned_minutes": 60, "run_minutes": 55,
            "total_count": 100, "good_count": 97, "rework_count": 2, "scrap_count": 1,
            "ideal_cycle_seconds": 30.0, "operator_id": "O1", "mentor_id": None,
            "updated_at": utc(at + timedelta(hours=1)),
            "partition_key": calendar_row(at.replace(tzinfo=LOCAL), TZ)["partition_key"]})
    land_rows(engine, "mes_production", production, "production_id")
    project = load_project(SQL_ROOT)
    for name in MODELS:
        run_model(engine, project, name)
    return engine


# (key, rule, subject, action, clock, delivered local)
ACTIONS = (
    ("a-wx1", FAI, "WX1", "team-leader-alert", "wall", DAY1 + timedelta(hours=10, minutes=20)),
    ("a-pz2", FAI, "PZ2", "team-leader-alert", "wall", DAY1 + timedelta(hours=10, minutes=20)),
    ("a-kq3", FAI, "KQ3", "team-leader-alert", "wall", DAY1 + timedelta(hours=10, minutes=20)),
    ("a-dev", DEV, DEVICE, "maintenance-lead-alert", "wall", DAY1 + timedelta(hours=20)),
    ("a-replay", FAI, "PZ2", "qa-root-cause-checklist", "replay",
     DAY1 + timedelta(hours=10, minutes=20)),
    ("a-resolved", FAI, "WX1", "team-leader-alert", "wall", DAY1 + timedelta(hours=13)),
)


def _episodes_and_actions(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for key, rule, subject, action, clock, delivered in ACTIONS:
            episode = f"{rule}|{subject}|{clock}"
            signal = utc(delivered - timedelta(minutes=25))
            if not conn.execute(sa.select(alert_episodes.c.episode_id).where(
                    alert_episodes.c.episode_id == episode)).first():
                conn.execute(alert_episodes.insert().values(
                    episode_id=episode, rule_id=rule, rule_version="test", subject=subject,
                    state="firing", episode_start=signal - timedelta(hours=2),
                    signal_at=signal, detected_at=signal, fired_at=signal,
                    delivered_at=utc(delivered), value=0.8, threshold=0.925, clock=clock))
            conn.execute(action_log.insert().values(
                idempotency_key=key, episode_id=episode, rule_id=rule, action_id=action,
                kind="resolved" if key == "a-resolved" else "fire", channel="email",
                recipient_id="E1", recipient_role="team_leader", status="delivered",
                attempts=1, subject_line="x", planned_at=utc(delivered) - timedelta(seconds=5),
                delivered_at=utc(delivered)))


def _rows(engine: sa.Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["idempotency_key"]: dict(r) for r in conn.execute(
            sa.select(action_effects)).mappings()}


@pytest.fixture
def plant(warehouse_url, monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, TZ)
    engine = _plant(warehouse_url)
    _episodes_and_actions(engine)
    yield engine
    engine.dispose()


def test_effects_are_judged_on_the_data_clock_and_rerunning_changes_nothing(plant):
    rules = load_rules()
    early = utc(DAY1 + timedelta(hours=14, minutes=20))  # 4 h after the actions
    check_action_effects(plant, rules, now=early)
    rows = _rows(plant)
    assert "a-resolved" not in rows  # only fire actions aim at an effect
    status = {k: r["status"] for k, r in rows.items()}
    assert status == {"a-wx1": "effective", "a-pz2": "pending", "a-kq3": "pending",
                      "a-dev": "pending", "a-replay": "not_effective"}
    wx1 = rows["a-wx1"]
    # delivered 10:20: the 11:00 hour is the first whole one after it, still bad; the
    # 12:00 hour is good, so the effect is seen at its end, 13:00 plant time
    assert wx1["effect_seen_at"] == utc(DAY1 + timedelta(hours=13))
    assert json.loads(wx1["values_seen"]) == {
        utc(DAY1 + timedelta(hours=11)).isoformat(): 0.8,
        utc(DAY1 + timedelta(hours=12)).isoformat(): 0.95}
    assert (wx1["metric"], wx1["target_op"], wx1["target_value"], wx1["horizon_hours"]) == (
        "first_article_pass_rate", ">=", 0.925, 8.0)
    assert wx1["rules_version"] == rules.stamp and wx1["subject_kind"] == "team"
    # a wall episode is judged as of its now: 4 h of an 8 h horizon are not enough
    assert json.loads(rows["a-pz2"]["values_seen"]) == {
        utc(DAY1 + timedelta(hours=h)).isoformat(): 0.85 for h in (11, 12, 13)}
    # a replayed episode is judged on its data's clock, whatever the wall says: its 24 h
    # (the QA checklist's horizon) are all in the marts and none met the target
    replay = rows["a-replay"]
    assert replay["horizon_hours"] == 24 and replay["clock"] == "replay"
    assert list(json.loads(replay["values_seen"]).values()) == [0.85] * 23

    later = utc(DAY1 + timedelta(days=2, hours=6))
    written = check_action_effects(plant, rules, now=later)
    assert {r["idempotency_key"] for r in written} == {"a-pz2", "a-kq3", "a-dev"}
    rows2 = _rows(plant)
    assert rows2["a-wx1"] == wx1 and rows2["a-replay"] == replay  # judged: never rewritten
    assert rows2["a-pz2"]["status"] == "not_effective"
    assert rows2["a-pz2"]["effect_seen_at"] is None
    # the 8 h after 10:20: the hours 11:00 .. 17:00 end inside it
    assert len(json.loads(rows2["a-pz2"]["values_seen"])) == 7
    assert rows2["a-kq3"]["status"] == "no_data"
    assert set(json.loads(rows2["a-kq3"]["values_seen"]).values()) == {None}
    # the device's effect is a whole plant day without a failure: day 2, seen at its end
    dev = rows2["a-dev"]
    assert (dev["status"], dev["metric"], dev["subject"]) == (
        "effective", "device_failures", DEVICE)
    assert dev["effect_seen_at"] == utc(DAY1 + timedelta(days=2))
    assert json.loads(dev["values_seen"]) == {utc(DAY1 + timedelta(days=1)).isoformat(): 0.0}

    assert check_action_effects(plant, rules, now=later + timedelta(days=3)) == []
    assert _rows(plant) == rows2

    summary = effects_summary(plant)
    assert {k: summary[k] for k in ("actions_with_effect", "effective", "not_effective",
                                    "no_data", "pending", "seen_share")} == {
        "actions_with_effect": 5, "effective": 2, "not_effective": 2, "no_data": 1,
        "pending": 0, "seen_share": 0.4}
    first = next(a for a in summary["actions"] if a["action_id"] == "team-leader-alert"
                 and a["subject"] == "WX1")
    assert first["target"] == ">= 0.925" and first["horizon_hours"] == 8
    assert first["effect_seen_at"] == utc(DAY1 + timedelta(hours=13)).isoformat()


def test_response_times_gain_signal_to_effect_seen(plant):
    check_action_effects(plant, load_rules(), now=utc(DAY1 + timedelta(days=3)))
    refresh_response_times(plant)
    with plant.connect() as conn:
        rows = {(r["rule_id"], r["team_id"]): r for r in conn.execute(
            sa.select(response_times)).mappings()}
    wx1 = rows[(FAI, "WX1")]
    # signal 09:55, effect seen 13:00
    assert (wx1["effects_checked"], wx1["effects_seen"]) == (1, 1)
    assert wx1["signal_to_effect_seen_p50_s"] == wx1["signal_to_effect_seen_p95_s"] == \
        (3 * 60 + 5) * 60
    pz2 = rows[(FAI, "PZ2")]  # the wall and the replayed episode, neither seen
    assert (pz2["effects_checked"], pz2["effects_seen"]) == (2, 0)
    assert pz2["signal_to_effect_seen_p50_s"] is None
    assert (rows[(FAI, "KQ3")]["effects_checked"], rows[(FAI, "KQ3")]["effects_seen"]) == (1, 0)
    device = rows[(DEV, "WX1")]  # the device's team, from its MES records
    assert (device["effects_checked"], device["effects_seen"]) == (1, 1)


def test_judge_waits_for_the_horizon_and_a_window_inside_it():
    effect = load_rules().rule(FAI).effect_of("team-leader-alert")
    t0 = datetime(2027, 1, 12, 16, 20)
    hours = [Observation(datetime(2027, 1, 12, 16 + h), datetime(2027, 1, 12, 17 + h), v)
             for h, v in enumerate([0.99, 0.5, 0.6, 0.93])]
    # the 16:00 hour began before the action: its good value is not the action's effect
    assert judge(effect, hours, t0, t0 + timedelta(hours=8), datetime(2027, 1, 12, 19)
                 ).status == "pending"
    seen = judge(effect, hours, t0, t0 + timedelta(hours=8), datetime(2027, 1, 12, 20))
    assert (seen.status, seen.effect_seen_at) == ("effective", datetime(2027, 1, 12, 20))
    # a window ending after the horizon does not count
    late = judge(effect, hours, t0, t0 + timedelta(hours=3), datetime(2027, 1, 13))
    assert late.status == "not_effective" and len(late.values) == 2
    assert judge(effect, [], t0, t0 + timedelta(hours=3), None).status == "pending"


def _bundled() -> dict:
    return yaml.safe_load(BUNDLED_RULES.read_text(encoding="utf-8"))


def _set(path: tuple, value):
    def change(data):
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return change


BAD_EFFECTS = {
    "unknown metric": (_set(("rules", 0, "effect", "metric"), "first_article_rate"), FAI,
                       "rules[0].effect.metric", "unknown metric 'first_article_rate'"),
    "horizon 0": (_set(("rules", 0, "actions", 1, "effect", "horizon_hours"), 0), FAI,
                  "rules[0].actions[1].effect.horizon_hours", "greater than 0"),
    "a metric the team cannot have": (
        _set(("rules", 0, "effect", "metric"), "mttr_minutes"), FAI, "rules[0].effect",
        "metric: mttr_minutes is kept in device_daily_reliability, which cannot be read "
        "per team"),
    "an action's metric the team cannot have": (
        _set(("rules", 0, "actions", 2, "effect"),
             {"metric": "renewal_amount", "target": {"op": ">", "value": 0},
              "horizon_hours": 8}), FAI, "rules[0].actions",
        "action planner-parameter-review: effect.metric: renewal_amount"),
    "an event rule's effect without a metric": (
        _set(("rules", 1, "effect"), {"target": {"op": "<=", "value": 0},
                                      "horizon_hours": 48}), DEV, "rules[1].effect",
        "an event rule's effect must name the metric"),
    "a ratio target in percent": (
        _set(("rules", 0, "effect", "target"), {"op": ">=", "value": 98.2}), FAI,
        "rules[0].effect", "target.value: first_article_pass_rate is a ratio"),
    "a subject the device has not": (
        _set(("rules", 0, "effect", "subject"), "device"), FAI, "rules[0].effect",
        "subject: a team episode has no device"),
}


@pytest.mark.parametrize("case", list(BAD_EFFECTS))
def test_a_bad_effect_is_one_line_naming_file_rule_and_field(tmp_path, case, capsys):
    change, rule_id, field, message = BAD_EFFECTS[case]
    data = copy.deepcopy(_bundled())
    change(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert line.startswith(f"{path}: {field}") and rule_id in line and message in line, line
    assert main(["validate", "--config", str(tmp_path)]) == 1
    out = capsys.readouterr().err
    assert line in out.splitlines() and "Traceback" not in out


def test_a_changed_effect_is_a_new_rules_version(tmp_path):
    data = _bundled()
    data["rules"][0]["effect"]["horizon_hours"] = 12
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    changed = load_rules(path)
    assert changed.stamp != load_rules().stamp
    assert changed.rule(FAI).effect_of("team-leader-alert").horizon_hours == 12
    assert changed.rule(FAI).effect_of("qa-root-cause-checklist").horizon_hours == 24


def test_the_asset_checks_effects_and_says_so_in_its_metadata(sqlite_url, monkeypatch):
    import dagster as dg

    from assets.alerts import action_effects_asset
    from resources.warehouse import WarehouseResource

    monkeypatch.setenv(TIMEZONE_ENV, TZ)
    monkeypatch.delenv("PERFFLOW_CONFIG_DIR", raising=False)  # the bundled rules
    engine = _plant(sqlite_url)
    _episodes_and_actions(engine)
    result = dg.materialize([action_effects_asset],
                            resources={"warehouse": WarehouseResource(url=sqlite_url)})
    [mat] = result.asset_materializations_for_node(action_effects_asset.op.name)
    meta = {k: v.value for k, v in mat.metadata.items()}
    # the wall's now is long past these actions: every horizon has passed on the data
    assert {k: meta[k] for k in ("checked", "effective", "not_effective", "no_data",
                                 "pending", "seen_share")} == {
        "checked": 5, "effective": 2, "not_effective": 2, "no_data": 1, "pending": 0,
        "seen_share": 0.4}
    assert "| fai-below-92-5 | WX1 | team-leader-alert |" in meta["latest_judged"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.sum(response_times.c.effects_seen))).scalar() == 2
    engine.dispose()


def test_the_war_room_shows_the_share_seen_and_each_action(plant):
    from perf_orchestration.config.files import config_dir
    from perf_orchestration.goals.pipeline import load_goal_config
    from perf_orchestration.reports.day_facts import day_facts
    from perf_orchestration.reports.war_room import render_page

    check_action_effects(plant, load_rules(), now=utc(DAY1 + timedelta(days=3)))
    facts = day_facts(plant, load_goal_config(config_dir(), plant).tree, DAY1.date())
    assert facts.counts()["effects_judged"] == 5 and facts.counts()["effects_seen"] == 2
    page = render_page(facts, "test", "test", utc(DAY1 + timedelta(days=3)))
    assert "<b>40%</b>\n      effects seen (2 of 5 judged)" in page
    section = page.split('<section id="effects">')[1].split("</section>")[0]
    assert section.count('class="effect"') == 5
    assert section.count('data-status="effective"') == 2
    # plant time: WX1's rate was seen back at 13:00 after the 11:00 hour's 0.800
    assert "seen 01-12 13:00" in section and "01-12 11:00: 0.800" in section


def test_an_effect_no_longer_declared_drops_pending_rows_and_keeps_judged_ones(plant, tmp_path):
    check_action_effects(plant, load_rules(), now=utc(DAY1 + timedelta(hours=14, minutes=20)))
    data = _bundled()
    for rule in data["rules"]:
        rule.pop("effect", None)
        for action in rule["actions"]:
            action.pop("effect", None)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert check_action_effects(plant, load_rules(path), now=utc(DAY1 + timedelta(days=3))) == []
    # the judged rows keep the effect and the rules version they were judged by
    assert {k: r["status"] for k, r in _rows(plant).items()} == {
        "a-wx1": "effective", "a-replay": "not_effective"}
