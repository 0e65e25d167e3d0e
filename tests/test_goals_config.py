"""goals.yaml and calibration.yaml: the bundled templates load, and every broken tree is
refused with one line naming the file and the goal."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from perf_orchestration.cli import main
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.goals import load_calibration, load_goals
from perf_orchestration.goals.expand import expand
from perf_orchestration.goals.subjects import bundled_roster
from perf_orchestration.goals.tree import BUNDLED_GOALS

# The bundled template expanded over the bundled plant, written out goal by goal (what a
# plant that lists its goals explicitly writes), plus one person goal.
BUNDLED = expand("goals.yaml", yaml.safe_load(BUNDLED_GOALS.read_text()),
                 bundled_roster()).data
next(t for t in BUNDLED["templates"] if t["id"] == "sales")["goals"].append({
    "id": "e1081-direct-follow-up", "name": "E1081 follows up direct opportunities",
    "level": "person", "parent": "direct-follow-up", "weight": 100,
    "contribution": {"outcome": "direct channel follow-up", "scenario": "own opportunities"},
    "source": {"metric": "sales_follow_up_compliance", "person": "E1081", "channel": "direct",
               "target": 0.9, "direction": "higher", "period": "day"}})


def write(tmp_path: Path, data: dict, name: str = "goals.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def goal(data: dict, goal_id: str) -> dict:
    return next(g for t in data["templates"] for g in t["goals"] if g["id"] == goal_id)


def test_bundled_templates_load_with_a_version():
    tree = load_goals()
    assert [t.id for t in tree.file.templates] == ["manufacturing", "technical_centres", "sales"]
    assert tree.version.startswith("V3.0.0-template@") and len(tree.content_hash) == 12
    assert {g.level for g in tree.goals} == {"company", "department", "team"}
    teams = {g.source.team for g in tree.goals if g.source.team}
    assert teams == {"T1", "T2", "T3", "T4", "T5", "T6", "T7"}
    assert {g.source.owner for g in tree.goals if g.source.owner} == {"TC1", "TC2", "TC3",
                                                                       "TC4"}
    assert [g.id for g in tree.path_to_root("t3-first-article")] == [
        "t3-first-article", "pnt-line-quality", "plant-first-pass-yield"]
    assert [g.id for g in tree.path_to_root("online-follow-up")] == [
        "online-follow-up", "sales-follow-up", "repeat-customers"]
    assert load_calibration().rules[0].goal == "online-follow-up"
    raw = BUNDLED_GOALS.read_text()
    for name in ("T1", "T7", "OFF", "WLD", "MCH", "E10", "TC1", "Body Shop"):
        assert name not in raw  # a template: no team, line, person or workshop of a plant


def _set(goal_id: str, **changes):
    def change(data):
        goal(data, goal_id).update(changes)
    return change


def _drop(goal_id: str, field: str):
    def change(data):
        del goal(data, goal_id)[field]
    return change


def _source(goal_id: str, **changes):
    def change(data):
        source = goal(data, goal_id)["source"]
        source.update(changes)
        for k in [k for k, v in changes.items() if v is None]:
            del source[k]
    return change


def _cycle(data):
    goal(data, "wld-line-quality")["parent"] = "t1-first-pass-yield"
    goal(data, "wld-line-quality")["level"] = "team"
    goal(data, "t1-first-pass-yield")["level"] = "department"


CASES = {
    "no data source": (_drop("t3-first-article", "source"), "t3-first-article",
                       "no data source"),
    "unknown metric": (_source("t3-first-article", metric="first_pass_rate"),
                       "t3-first-article", "unknown metric 'first_pass_rate'"),
    "metric not kept per person": (
        _source("e1081-direct-follow-up", metric="first_pass_yield", target=0.9),
        "e1081-direct-follow-up", "first_pass_yield has no data per person"),
    "metric not measured on the line type": (
        _source("t1-first-article", metric="voc_over_limit_share", direction="lower",
                target=0.05), "t1-first-article", "measured on painting lines, not welding"),
    "team without data in the mart": (
        _source("t3-first-article", team="TC2"), "t3-first-article",
        "first_article_pass_rate has no data for TC2: marts.team_daily_quality holds welding"),
    "person who owns no opportunities": (
        _source("e1081-direct-follow-up", person="E0001"), "e1081-direct-follow-up",
        "has no data for E0001: marts.sales_process_daily holds account_manager, sales_rep "
        "people, E0001 is a team_leader"),
    "period differs from the parent's": (
        _source("t3-first-article", period="week"), "t3-first-article",
        "period: week, but its parent pnt-line-quality is scored per day"),
    "unknown parent": (_set("t3-first-article", parent="pnt-quality"), "t3-first-article",
                       "parent: unknown goal 'pnt-quality'"),
    "cycle": (_cycle, "t1-first-pass-yield",
              "cycle: t1-first-pass-yield -> wld-line-quality -> t1-first-pass-yield"),
    "path not reaching a root": (_drop("pnt-line-quality", "parent"), "pnt-line-quality",
                                 "path does not reach a root"),
    "sibling weights": (_set("t3-first-article", weight=20), "pnt-line-quality",
                        "weights of its children add up to 90%, not 100%"),
    "unknown team": (_source("t3-first-article", team="T9"), "t3-first-article",
                     "team 'T9' is unknown to the HR roster"),
    "unknown person": (_source("e1081-direct-follow-up", person="E9999"),
                       "e1081-direct-follow-up", "person 'E9999' is unknown to the HR roster"),
    "unknown line": (_source("wld-line-quality", line="XYZ"), "wld-line-quality",
                     "line 'XYZ' is unknown"),
    "no contribution path": (_drop("t3-first-article", "contribution"), "t3-first-article",
                             "no contribution"),
    "wrong direction": (_source("t3-first-article", direction="lower"), "t3-first-article",
                        "first_article_pass_rate is better higher, not lower"),
    "level order": (_set("t3-first-article", level="department"), "t3-first-article",
                    "a department goal cannot sit under the department goal"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_broken_tree_is_one_line_naming_file_and_goal(tmp_path, case):
    change, goal_id, expected = CASES[case]
    data = copy.deepcopy(BUNDLED)
    change(data)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_goals(path)
    lines = [p for p in err.value.problems if goal_id in p]
    assert any(expected in line for line in lines), err.value.problems
    assert all(line.startswith(f"{path}: ") for line in err.value.problems)
    assert all("\n" not in line for line in err.value.problems)


def test_a_descendant_of_an_orphan_says_where_its_path_ends(tmp_path):
    data = copy.deepcopy(BUNDLED)
    del goal(data, "pnt-line-quality")["parent"]
    with pytest.raises(ConfigError) as err:
        load_goals(write(tmp_path, data))
    assert any("goal t3-first-article: path does not reach a root: it ends at "
               "pnt-line-quality" in p for p in err.value.problems), err.value.problems


CAL = {"version": "C1", "rules": [{"id": "r1", "description": "d",
                                   "when": {"new_crm_channel": "online"},
                                   "goal": "online-follow-up", "weight": 25}]}


@pytest.mark.parametrize(("change", "expected"), [
    ({"goal": "nope"}, "unknown goal 'nope'"),
    ({"goal": "repeat-customers"}, "repeat-customers has no siblings"),
    ({"weight": 100}, "less than 100"),
    ({"when": {"new_channel": "online"}}, "new_channel"),
])
def test_calibration_refusals_name_the_file_and_rule(tmp_path, change, expected):
    data = copy.deepcopy(CAL)
    data["rules"][0].update(change)
    path = write(tmp_path, data, "calibration.yaml")
    with pytest.raises(ConfigError) as err:
        load_calibration(path)
    assert all(p.startswith(f"{path}: rules[0]") and "(id r1)" in p
               for p in err.value.problems)
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_perfflow_validate_names_the_goal_without_a_data_source(tmp_path, capsys):
    data = copy.deepcopy(BUNDLED)
    del goal(data, "t5-availability")["source"]
    path = write(tmp_path, data)
    write(tmp_path, CAL, "calibration.yaml")
    assert main(["validate", "--config", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith(f"{path}: ") and "(id t5-availability)" in line
               and "no data source" in line for line in err), err
    assert not any("Traceback" in line for line in err)


def test_perfflow_validate_passes_the_bundled_config(capsys):
    assert main(["validate"]) == 0
    assert "file(s) valid" in capsys.readouterr().out


def test_goal_and_tree_problems_are_reported_together(tmp_path):
    data = copy.deepcopy(BUNDLED)
    del goal(data, "t3-first-article")["source"]
    goal(data, "t3-availability")["weight"] = 20
    goal(data, "t1-availability")["parent"] = "nowhere"
    with pytest.raises(ConfigError) as err:
        load_goals(write(tmp_path, data))
    problems = err.value.problems
    assert len(problems) == 4, problems
    assert "(id t3-first-article): no data source" in problems[0]
    assert any("goal pnt-line-quality: weights of its children add up to 90%" in p
               for p in problems)
    assert any("goal t1-availability: parent: unknown goal 'nowhere'" in p for p in problems)
    assert any("goal wld-line-quality: weights of its children add up to 85%" in p
               for p in problems)


@pytest.mark.parametrize("template", ["manufacturing", "sales"])
def test_each_template_is_a_valid_goals_file_on_its_own(tmp_path, template):
    data = copy.deepcopy(BUNDLED)
    data["templates"] = [t for t in data["templates"] if t["id"] == template]
    tree = load_goals(write(tmp_path, data))
    assert [t.id for t in tree.file.templates] == [template]
    assert sum(g.parent is None for g in tree.goals) == 1


def test_trace_refuses_a_table_it_cannot_trace(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'wh' / 'warehouse.db'}"
    assert main(["trace", "marts.team_daily_quality", "T3", "--warehouse", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "table 'marts.team_daily_quality' is not traceable" in err
    assert not (tmp_path / "wh").exists()


def test_trace_on_a_warehouse_without_goal_tables_is_one_line(sqlite_url, capsys):
    assert main(["trace", "marts.goal_health", "t3-first-article", "--warehouse",
                 sqlite_url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no marts.goal_health" in err
