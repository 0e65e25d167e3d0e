"""A group of plants: the group file, the roll-up as ratios of sums, the plant roles on
PostgreSQL, and the plant id on what leaves a plant. The group demo over three plants
(three zones, one with daylight saving, one with its own goal tree) is in
test_plant_demos.py, where it builds the three plants those tests read."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.group.config import GroupError, load_group
from perf_orchestration.group.rollup import GROUP_ROW, ROOT, roll_up
from perf_orchestration.tables import create_tables, goal_scores
from perf_orchestration.tables.group import group_goal_health, group_goal_scores
from perf_orchestration.tables.group import plant_goal_scores as plant_scores
from perf_orchestration.warehouse import embedded_url, insert_rows, make_engine

ROOT_DIR = Path(__file__).resolve().parents[1]
BUNDLED_GROUP = ROOT_DIR / "perf_orchestration" / "scenarios" / "group.yaml"
PERFFLOW = str(Path(sys.executable).with_name("perfflow"))

GROUP_YAML = """\
name: Test group
plants:
  - {id: AAA, name: Plant A}
  - {id: BBB, name: Plant B}
  - {id: CCC, name: Plant C}
goals:
  - {id: g-fpy, goal: plant-fpy, target: 0.96, weight: 3}
  - {id: g-renewals, goal: renewals, target: 1000, plants: [AAA, BBB]}
"""


def _score(goal_id, period, num, den, target=0.96, metric="first_pass_yield"):
    actual = None if num is None else (num / den if den else num)
    return {"goal_id": goal_id, "period": period, "template": "t", "parent_id": None,
            "level": "company", "period_kind": "day", "period_start": datetime(2026, 11, 2),
            "period_end": datetime(2026, 11, 3), "subject": "plant", "metric": metric,
            "mart": "marts.plant_daily_quality", "numerator": num, "denominator": den,
            "actual": actual, "target": target, "direction": "higher", "attainment": None,
            "rollup_score": None, "score": None, "weight": None, "weight_version": "w",
            "null_reason": None if num is not None else "no rows", "data_until": None,
            "config_version": "v", "mart_run_id": None, "run_id": "run-" + goal_id,
            "computed_at": datetime(2026, 11, 2, 12)}


def _plant(tmp_path: Path, name: str, rows: list[dict]) -> str:
    url = embedded_url(tmp_path / name)
    engine = make_engine(url)
    create_tables(engine)
    with engine.begin() as conn:
        insert_rows(conn, goal_scores, rows)
    engine.dispose()
    return url


@pytest.fixture
def group_and_plants(tmp_path):
    path = tmp_path / "group.yaml"
    path.write_text(GROUP_YAML)
    # A: a big plant at 0.95; B: a small plant at 0.99; C: no data for the day
    urls = {
        "AAA": _plant(tmp_path, "a", [_score("plant-fpy", "2026-11-02", 9500, 10000),
                                      _score("plant-fpy", "2026-11-01", 900, 1000),
                                      _score("renewals", "2026-11-02", 600, None,
                                             target=500, metric="renewal_amount")]),
        "BBB": _plant(tmp_path, "b", [_score("plant-fpy", "2026-11-02", 990, 1000),
                                      _score("renewals", "2026-11-02", 700, None,
                                             target=500, metric="renewal_amount")]),
        "CCC": _plant(tmp_path, "c", [_score("plant-fpy", "2026-11-02", None, None)]),
    }
    return load_group(path), urls, embedded_url(tmp_path / "group")


def _read(url: str, table: sa.Table) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    engine.dispose()
    return rows


def test_the_group_rolls_plants_up_as_a_ratio_of_sums(group_and_plants):
    group, urls, group_url = group_and_plants
    result = roll_up(group, urls, group_url)
    rows = {(r["goal_id"], r["period"]): r for r in _read(group_url, group_goal_scores)}
    fpy = rows[("g-fpy", "2026-11-02")]
    # (9500 + 990) / (10000 + 1000), not the mean of 0.95 and 0.99 (0.97)
    assert fpy["numerator"] == 10490 and fpy["denominator"] == 11000
    assert fpy["actual"] == pytest.approx(10490 / 11000)
    assert fpy["attainment"] == pytest.approx(10490 / 11000 / 0.96)
    assert fpy["plants"] == "AAA,BBB"  # C has no data and drops out of the sum
    assert rows[("g-fpy", "2026-11-01")]["plants"] == "AAA"
    renewals = rows[("g-renewals", "2026-11-02")]  # an amount is summed
    assert renewals["actual"] == 1300 and renewals["denominator"] is None
    assert renewals["attainment"] == pytest.approx(1.3)
    root = rows[(ROOT, "2026-11-02")]
    assert root["score"] == pytest.approx((3 * fpy["score"] + 1 * renewals["score"]) / 4)
    # every plant row is kept with its plant id and the plant run that wrote it
    plant_rows = _read(group_url, plant_scores)
    assert {r["plant_id"] for r in plant_rows} == {"AAA", "BBB", "CCC"}
    assert len(plant_rows) == result.plant_rows == 6
    assert {r["plant_run_id"] for r in plant_rows if r["plant_id"] == "BBB"} == \
        {"run-plant-fpy", "run-renewals"}


def test_the_heatmap_puts_every_plant_against_the_group_target(group_and_plants):
    group, urls, group_url = group_and_plants
    roll_up(group, urls, group_url)
    cells = {(c["plant_id"], c["goal_id"]): c for c in _read(group_url, group_goal_health)}
    assert set(cells) == {("AAA", "g-fpy"), ("BBB", "g-fpy"), ("CCC", "g-fpy"),
                          (GROUP_ROW, "g-fpy"), ("AAA", "g-renewals"), ("BBB", "g-renewals"),
                          (GROUP_ROW, "g-renewals")}  # C is not in the renewals goal
    assert cells[("AAA", "g-fpy")]["period"] == "2026-11-02"
    assert cells[("AAA", "g-fpy")]["attainment"] == pytest.approx(0.95 / 0.96)
    assert cells[("AAA", "g-fpy")]["status"] == "yellow"   # 0.9896: below 0.995, above 0.98
    assert cells[("BBB", "g-fpy")]["status"] == "green"
    assert cells[("CCC", "g-fpy")]["status"] is None       # no data: no colour
    # a plant's cell uses the group's target, not its own (500): 600 / 1000
    assert cells[("AAA", "g-renewals")]["attainment"] == pytest.approx(0.6)


def test_a_second_roll_up_replaces_the_group_tables(group_and_plants):
    group, urls, group_url = group_and_plants
    first = roll_up(group, urls, group_url)
    again = roll_up(group, urls, group_url)
    assert len(_read(group_url, group_goal_scores)) == len(again.group_rows) == \
        len(first.group_rows)
    assert len(_read(group_url, plant_scores)) == 6


def test_a_plant_without_goal_scores_is_named(group_and_plants, tmp_path):
    group, urls, group_url = group_and_plants
    urls["CCC"] = embedded_url(tmp_path / "empty")
    with pytest.raises(GroupError, match=r"^plant CCC: its warehouse has no marts.goal_scores"):
        roll_up(group, urls, group_url)


@pytest.mark.parametrize("text, line", [
    (GROUP_YAML.replace("plants: [AAA, BBB]", "plants: [AAA, ZZZ]"),
     "goals[1].plants (id g-renewals): plant ZZZ is not configured (plants: AAA, BBB, CCC)"),
    (GROUP_YAML.replace("id: CCC", "id: AAA"), "plants: id AAA is given twice"),
    (GROUP_YAML.replace("id: CCC", "id: ccc"), "plants[2].id"),
    (GROUP_YAML.replace("{id: AAA, name: Plant A}", "{id: AAA, name: Plant A, scenario: x.yaml}"),
     "plants[0].scenario (id AAA): "),
])
def test_a_bad_group_file_is_refused_naming_file_and_field(tmp_path, text, line):
    path = tmp_path / "group.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_group(path)
    assert any(p.startswith(f"{path}: ") and line in p for p in err.value.problems), \
        err.value.problems


def test_the_bundled_group_and_its_plants_validate(tmp_path):
    """Three plants in three zones (one with daylight saving), one with its own goals."""
    from perf_orchestration.config.files import validate_config_dir
    from perf_orchestration.group.config import resolved
    from perf_orchestration.scenarios.config import load_scenario

    group = load_group(BUNDLED_GROUP)
    zones = {p.id: load_scenario(resolved(BUNDLED_GROUP, p.scenario)).timezone
             for p in group.plants}
    assert zones == {"SH1": "Asia/Shanghai", "BER": "Europe/Berlin", "CHI": "America/Chicago"}
    chicago = resolved(BUNDLED_GROUP, group.plant("CHI").config)
    problems, checked = validate_config_dir(
        chicago, [resolved(BUNDLED_GROUP, group.plant("CHI").scenario)])
    assert problems == [] and checked == 3
    proc = subprocess.run([PERFFLOW, "validate"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT_DIR)  # the bundled folder holds group.yaml among its scenarios
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_plant_id_not_in_the_group_is_refused_by_the_roll_up_command(group_and_plants,
                                                                        tmp_path):
    group, urls, group_url = group_and_plants
    path = tmp_path / "group.yaml"
    proc = subprocess.run(
        [PERFFLOW, "group", "rollup", "--group", str(path), "--warehouse", group_url,
         *(f"--plant={p}={u}" for p, u in urls.items()), f"--plant=ZZZ={urls['AAA']}"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"perfflow group: --plant ZZZ: plant ZZZ is not configured "
                                   f"in {path} (plants: AAA, BBB, CCC)")
    ok = subprocess.run(
        [PERFFLOW, "group", "rollup", "--group", str(path), "--warehouse", group_url,
         *(f"--plant={p}={u}" for p, u in urls.items())],
        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "6 plant goal rows from AAA, BBB, CCC" in ok.stdout


def test_each_plant_role_reads_only_its_own_rows_of_the_group_warehouse(group_and_plants,
                                                                        pg_database):
    from perf_orchestration.group.roles import apply_plant_roles

    group, urls, _ = group_and_plants
    name = f"{sa.make_url(pg_database).database}_group"
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    group_url = sa.make_url(pg_database).set(database=name).render_as_string(
        hide_password=False)
    prefix = f"{name}_plant_"
    engine = make_engine(group_url)
    try:
        roll_up(group, urls, group_url)
        roles = apply_plant_roles(engine, group, prefix)
        apply_plant_roles(engine, group, prefix)  # idempotent
        assert roles == [f"{prefix}aaa", f"{prefix}bbb", f"{prefix}ccc"]
        with engine.connect() as conn:
            conn.execute(sa.text(f'SET ROLE "{prefix}bbb"'))
            seen = conn.execute(sa.text(
                "select distinct plant_id from marts.group_plant_goal_scores")).scalars().all()
            cells = conn.execute(sa.text(
                "select distinct plant_id from marts.group_goal_health")).scalars().all()
            assert seen == ["BBB"] and cells == ["BBB"]
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("select * from marts.group_goal_scores"))
            conn.rollback()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in ("aaa", "bbb", "ccc"):
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{prefix}{role}"'))
        admin.dispose()


def test_two_plants_with_the_same_key_both_reach_one_receiver(monkeypatch):
    """Two plants of a group post the same action key (T1 exists in both) to one chat
    webhook: the receiver sees two keys, the plant id in front, and drops neither; outside
    a group the key goes out as it is."""
    from perf_orchestration.delivery.base import Message
    from perf_orchestration.delivery.webhook import WebhookChannel
    from perf_orchestration.testing.webhook import WebhookReceiver

    key = "fai-dip|T1|2026-11-02T09:00:00+08:00|notify|E0001|fire"
    message = Message(key, "E0001", "Wang", "T1 first-article pass rate", "below 92.5%")
    with WebhookReceiver("s3cret") as rx:
        channel = WebhookChannel(rx.url, "s3cret")
        for plant in ("SH1", "BER", "BER"):
            monkeypatch.setenv("PERFFLOW_PLANT_ID", plant)
            assert channel.send(message).ok
        monkeypatch.delenv("PERFFLOW_PLANT_ID")
        assert channel.send(message).ok
        counts = rx.count_by_key()
    assert counts == {f"SH1:{key}": 1, f"BER:{key}": 2, key: 1}
    monkeypatch.setenv("PERFFLOW_PLANT_ID", "not a plant")
    with pytest.raises(ValueError, match="PERFFLOW_PLANT_ID='not a plant' is not a plant id"):
        message.wire_key  # noqa: B018


def _group_env(monkeypatch, tmp_path, urls, group_url):
    monkeypatch.setenv("PERFFLOW_GROUP_FILE", str(tmp_path / "group.yaml"))
    monkeypatch.setenv("PERFFLOW_GROUP_WAREHOUSE_URL", group_url)
    for plant, url in urls.items():
        monkeypatch.setenv(f"PERFFLOW_{plant}_WAREHOUSE_URL", url)


def test_the_group_code_location_materializes_the_three_group_tables(group_and_plants,
                                                                     tmp_path, monkeypatch):
    import dagster as dg

    from perf_orchestration.group_definitions import defs

    _, urls, group_url = group_and_plants
    _group_env(monkeypatch, tmp_path, urls, group_url)
    job = defs.resolve_job_def("group_rollup_job")
    assert defs.resolve_schedule_def("group_rollup_schedule").cron_schedule == "40 * * * *"
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = {m.asset_key.to_user_string(): m.metadata
            for m in result.asset_materializations_for_node("group_rollup")}
    assert meta["marts/group_plant_goal_scores"]["dagster/row_count"].value == 6
    health = meta["marts/group_goal_health"]
    # yellow: A and the group on fpy; green: B on fpy, the group on renewals; red: A, B renewals
    assert [health[s].value for s in ("green", "yellow", "red")] == [2, 2, 2]
    assert health["heatmap"].value.startswith("![group health](data:image/png;base64,")
    assert len(_read(group_url, group_goal_scores)) == \
        meta["marts/group_goal_scores"]["dagster/row_count"].value == 5


def test_the_group_step_names_a_plant_warehouse_it_cannot_find(group_and_plants, tmp_path,
                                                               monkeypatch):
    import dagster as dg

    from perf_orchestration.group_definitions import defs

    _, urls, group_url = group_and_plants
    _group_env(monkeypatch, tmp_path, urls, group_url)
    monkeypatch.delenv("PERFFLOW_CCC_WAREHOUSE_URL")
    result = defs.resolve_job_def("group_rollup_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("group_rollup").error
    assert "no warehouse for plant CCC: pass --plant CCC=URL or set " \
        "PERFFLOW_CCC_WAREHOUSE_URL" in failure.message + "".join(
            c.message for c in [failure.cause] if c)
