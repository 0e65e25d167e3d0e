"""goals.yaml is a template: expanded over each plant's own teams, lines, technical centres,
people and channels, with relative weights scaled to 100, explicit goals overriding the
generated ones and templates the plant cannot use skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perf_orchestration.config.loading import ConfigError
from perf_orchestration.goals import load_goals
from perf_orchestration.goals.subjects import KnownRoster, roster_from_scenario
from perf_orchestration.goals.tree import BUNDLED_GOALS

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def roster(teams: dict[str, tuple[str, str]], people: dict[str, str] | None = None):
    return KnownRoster(teams, people or {}, "the test roster",
                       {t: (f"{t} crew", f"Hall {line}") for t, (line, _) in teams.items()})


def test_the_default_plant_gets_the_tree_it_had_by_hand():
    tree = load_goals()
    weights = {g.id: g.weight for g in tree.goals}
    # four line types 30/20/25/25; two teams on a line share it, one team has it alone
    assert [weights[f"{x}-line-quality"] for x in ("wld", "pnt", "asm", "mch")] == \
        [30, 20, 25, 25]
    assert [weights[f"t1-{m}"] for m in ("first-pass-yield", "first-article", "availability")] \
        == [20, 15, 15]
    assert [weights[f"t3-{m}"] for m in ("first-pass-yield", "first-article", "availability")] \
        == [40, 30, 30]
    assert tree.goal("t4-first-article").parent == "asm-line-quality"
    assert tree.goal("asm-line-quality").contribution.scenario == "output of Assembly Hall"
    assert tree.skipped == ()


@pytest.mark.parametrize("plant", ["one_welding_team", "berlin_40_teams", "cjk_names"])
def test_every_plant_gets_a_complete_valid_tree_naming_only_itself(plant):
    known = roster_from_scenario(SCENARIOS / f"{plant}.yaml")
    tree = load_goals(None, known)
    production = {t for t, (_, kind) in known.teams.items()
                  if kind in ("welding", "painting", "assembly", "machining")}
    subjects = {g.source.team for g in tree.goals if g.source.team}
    assert subjects == production  # every production team has its goals, nobody else
    lines = {g.source.line for g in tree.goals if g.source.line}
    assert lines == {known.teams[t][0] for t in production}
    for g in tree.goals:
        assert g.source.owner is None or known.teams[g.source.owner][1] == "technical_centre"
    for parent in {g.parent for g in tree.goals if g.parent}:
        assert sum(k.weight for k in tree.children(parent)) == pytest.approx(100)


def test_a_plant_without_sales_or_centres_skips_those_templates_with_the_reason():
    tree = load_goals(None, roster({"W1": ("WELD-1", "welding")}, {"E1": "operator"}))
    assert [t.id for t in tree.file.templates] == ["manufacturing"]
    assert tree.skipped == (
        "goals template technical_centres: the plant has no technical_centre team",
        "goals template sales: the plant has no account_manager or sales_rep")
    assert [g.id for g in tree.goals] == [
        "plant-first-pass-yield", "weld-1-line-quality", "w1-first-pass-yield",
        "w1-first-article", "w1-availability"]
    assert tree.goal("w1-first-pass-yield").weight == pytest.approx(40)


def _plant_file(tmp_path: Path, extra: str) -> Path:
    text = BUNDLED_GOALS.read_text().replace("templates:\n", extra + "templates:\n", 1)
    path = tmp_path / "goals.yaml"
    path.write_text(text)
    return path


def test_an_explicit_goal_overrides_the_generated_one_and_centres_serve_their_lines(tmp_path):
    path = _plant_file(tmp_path, "serves: {TC1: [PNT]}\n")
    data = yaml.safe_load(path.read_text())
    data["templates"][0]["goals"].append({
        "id": "t3-first-article", "name": "T3 first-article pass rate at 97% (new paint)",
        "level": "team", "parent": "pnt-line-quality", "weight": 30,
        "contribution": {"outcome": "painting line first-pass yield", "scenario": "new paint"},
        "source": {"metric": "first_article_pass_rate", "team": "T3", "target": 0.97,
                   "direction": "higher", "period": "day"}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    tree = load_goals(path)
    assert [g.source.target for g in tree.goals if g.id == "t3-first-article"] == [0.97]
    assert tree.goal("tc1-supported-yield").source.lines == ("PNT",)
    assert tree.goal("tc2-supported-yield").source.lines == ("WLD", "PNT", "ASM", "MCH")
    assert tree.serves["TC1"] == ("PNT",)


def test_a_goal_per_person_of_some_roles(tmp_path):
    path = _plant_file(tmp_path, "")
    data = yaml.safe_load(path.read_text())
    sales = next(t for t in data["templates"] if t["id"] == "sales")
    sales["goals"].append({
        "for_each": "person", "roles": ["account_manager"], "id": "{person}-follow-up",
        "name": "{person} follows up within 2 hours", "level": "person",
        "parent": "online-follow-up", "weight": 1,
        "contribution": {"outcome": "online follow-up", "scenario": "own opportunities"},
        "source": {"metric": "sales_follow_up_compliance", "person": "{person}",
                   "channel": "online", "target": 0.9, "direction": "higher", "period": "day"}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    people = roster({"S1": ("OFFICE", "office")},
                    {"E1": "account_manager", "E2": "sales_rep", "E3": "account_manager"})
    tree = load_goals(path, people)
    kids = tree.children("online-follow-up")
    assert [(k.id, k.source.person, k.weight) for k in kids] == [
        ("e1-follow-up", "E1", 50), ("e3-follow-up", "E3", 50)]


@pytest.mark.parametrize(("entry", "expected"), [
    ({"for_each": "shift"}, "for_each: Input should be 'line', 'team', 'technical_centre'"),
    ({"for_each": "person"}, "roles: a goal for each person names the roles"),
    ({"for_each": "team", "id": "{crew}-x"}, "unknown placeholder 'crew' for a goal for each team"),
    ({"for_each": "line", "weight_by": {"welding": -1}},
     "weight_by.welding: Input should be greater than 0"),
    ({"for_each": "line", "line_types": "welding"}, "line_types: Input should be a valid list"),
])
def test_a_broken_generator_is_one_line_naming_the_file_and_entry(tmp_path, entry, expected):
    path = _plant_file(tmp_path, "")
    data = yaml.safe_load(path.read_text())
    data["templates"][0]["goals"].append(entry)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_goals(path)
    assert any(p.startswith(f"{path}: templates[0].goals[") and expected in p
               for p in err.value.problems), err.value.problems


def test_a_broken_requirement_is_one_line_naming_the_template(tmp_path):
    path = _plant_file(tmp_path, "")
    data = yaml.safe_load(path.read_text())
    data["templates"][1]["requires"] = [{"line_types": "technical_centre", "teams": 2}]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_goals(path)
    assert all(p.startswith(f"{path}: templates[1]: requires") for p in err.value.problems)
    assert len(err.value.problems) >= 2, err.value.problems


def test_serves_must_name_a_centre_and_its_production_lines(tmp_path):
    path = _plant_file(tmp_path, "serves: {T1: [WLD], TC1: [XYZ]}\n")
    with pytest.raises(ConfigError) as err:
        load_goals(path)
    assert err.value.problems == [
        f"{path}: serves.T1: not a technical centre of the HR roster of scenario 'default'",
        f"{path}: serves.TC1: 'XYZ' is not a production line of the HR roster of scenario "
        "'default' (known: ASM, MCH, PNT, WLD)"]
