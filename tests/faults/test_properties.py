"""Property-based fault tests: random inputs against what the flow promises.

- the rule engine (beyond tests/test_rules.py's reference): no-data policies equal their
  substitutions, no firing before `for` breaching windows and no resolution before
  `keep_firing_for` good ones, replayed and re-batched windows change nothing;
- rollups: every team metric of every rollup mart, computed by the real SQL on SQLite from
  random team-hours, equals sum(numerator) / sum(denominator) computed here in Python;
- goal trees: random valid trees validate, random breakages give exactly their error;
- config parsing: random mutations of every bundled config file, random text and bytes,
  never raise anything but ConfigError, whose every line names the file.

Each test runs its property with hypothesis and then states the invariant once, with the
number of examples tried, for the reliability report.
"""

from __future__ import annotations

import copy
import operator
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perf_orchestration
from perf_orchestration.alerting.rules import FIRING, RESOLVED, Observation, Rule, evaluate
from perf_orchestration.alerting.rules.config import BUNDLED_RULES
from perf_orchestration.config.files import NAMED_FILES, bundled_config_dir
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.goals.tree import load_goals
from perf_orchestration.metrics.library import METRICS, TEAM_HOURLY, TEAM_ROLLUPS
from perf_orchestration.scenarios.config import bundled_scenario_path, load_scenario
from perf_orchestration.sqlmodels import load_project, run_model
from perf_orchestration.warehouse import embedded_url, make_engine

# database=None: no example store shared between engineers' runs; a failure prints its
# falsifying example. function_scoped_fixture: the only fixture used inside is the
# invariant recorder, which is meant to outlive the examples.
PROPERTY = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
T0 = datetime(2026, 11, 2, 1, 0)
H = timedelta(hours=1)
SQL_ROOT = Path(perf_orchestration.__file__).resolve().parents[1] / "dbt_like_sql"


def holds_for(invariant, scenario: str, name: str, prop, **counts) -> None:
    """Run hypothesis property `prop` (which returns nothing and counts its examples in
    `tried`), then record the invariant once; a failure re-raises hypothesis's own error
    with the falsifying example. Counts the property fills in go in as dicts, read when
    the invariant is recorded."""
    tried = {"examples": 0}
    failure: BaseException | None = None
    try:
        prop(tried)
    except Exception as exc:  # noqa: BLE001 - reported below, then re-raised
        failure = exc
    try:
        invariant(scenario, name, holds=failure is None, tried=tried["examples"], **counts)
    except AssertionError:
        if failure is not None:
            raise failure from None
        raise
    assert tried["examples"] > 0, "the property ran no example"


# --- rule engine -----------------------------------------------------------------------


def bundled_rule(**changes) -> Rule:
    data = yaml.safe_load(BUNDLED_RULES.read_text(encoding="utf-8"))["rules"][0]
    data.update(changes)
    return Rule.model_validate(data)


def windows(values, start: datetime = T0, line_id: str | None = None) -> list[Observation]:
    """Consecutive hourly observations; "gap" leaves a window out."""
    return [Observation(start + i * H, start + (i + 1) * H, v, start + (i + 1) * H,
                        line_id=line_id)
            for i, v in enumerate(values) if v != "gap"]


def moves(transitions, start: datetime = T0) -> list[tuple[int, str, str]]:
    return [((t.window_start - start) // H, t.from_state, t.to_state) for t in transitions]


BAD, GOOD = 0.80, 0.97  # against the bundled 0.925 threshold, op "<"
TFN = st.lists(st.sampled_from([BAD, GOOD, None]), max_size=30)


def test_no_data_policies_equal_their_substitutions(invariant):
    """`no_data: ok` is a good window, `alerting` a breaching one, `keep` as if the window
    were not there at all (the windows after it close up)."""

    @PROPERTY
    @given(values=TFN, n=st.integers(1, 4), k=st.integers(1, 3))
    def prop(tried, values, n, k):
        tried["examples"] += 1
        for policy, stand_in in (("ok", GOOD), ("alerting", BAD)):
            rule = bundled_rule(**{"for": n, "keep_firing_for": k, "no_data": policy})
            got = moves(evaluate(rule, "T3", None, windows(values)).transitions)
            subst = [stand_in if v is None else v for v in values]
            want = moves(evaluate(rule, "T3", None, windows(subst)).transitions)
            assert got == want, policy
        rule = bundled_rule(**{"for": n, "keep_firing_for": k, "no_data": "keep"})
        got = evaluate(rule, "T3", None, windows(values)).transitions
        kept = [i for i, v in enumerate(values) if v is not None]
        closed = evaluate(rule, "T3", None, windows([values[i] for i in kept])).transitions
        assert [(kept[i], a, b) for i, a, b in moves(closed)] == moves(got)

    holds_for(invariant, "rule engine: no data in random metric sequences",
              "keep/ok/alerting equal skipping / a good / a breaching window", prop)


OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def test_no_firing_before_for_and_no_resolution_before_keep_firing_for(invariant):
    """Judged from the values alone: a firing closes `for` consecutive breaching windows, a
    resolution `keep_firing_for` consecutive good ones; values exactly at the threshold
    follow the operator; a flapping metric fires at most once per breaching run."""

    @PROPERTY
    @given(values=st.lists(st.sampled_from([0.5, 0.9, 0.925, 0.95, 1.0]), max_size=30),
           op=st.sampled_from(sorted(OPS)), n=st.integers(1, 4), k=st.integers(1, 4))
    def prop(tried, values, op, n, k):
        tried["examples"] += 1
        rule = bundled_rule(**{"for": n, "keep_firing_for": k,
                               "condition": {"op": op, "threshold": 0.925}})
        state, moved = evaluate(rule, "T3", None, windows(values))
        breach = [OPS[op](v, 0.925) for v in values]
        fired = [i for i, _, to in moves(moved) if to == FIRING]
        resolved = [i for i, _, to in moves(moved) if to == RESOLVED]
        for i in fired:
            assert i + 1 >= n and all(breach[i - n + 1:i + 1]), (i, breach)
        for i in resolved:
            assert i + 1 >= k and not any(breach[i - k + 1:i + 1]), (i, breach)
        # firings and resolutions alternate, starting with a firing
        events = sorted([(i, 0) for i in fired] + [(i, 1) for i in resolved])
        assert [kind for _, kind in events] == [j % 2 for j in range(len(events))]
        # at most one firing per maximal run of breaching windows of length >= n
        runs = "".join("T" if b else "F" for b in breach).split("F")
        assert len(fired) <= sum(len(r) >= n for r in runs)
        assert (state.state == FIRING) == (len(fired) > len(resolved))

    holds_for(invariant, "rule engine: flapping values around the threshold",
              "fires only after `for` breaching windows, resolves only after "
              "`keep_firing_for` good ones", prop)


def test_replays_shifts_and_batches_change_nothing(invariant):
    """A sensor feeding windows in batches, re-sending windows it already sent, at any
    time of day, sees the transitions of one call over all windows, shifted by the time."""

    @PROPERTY
    @given(values=st.lists(st.sampled_from([BAD, GOOD, None, "gap"]), max_size=30),
           n=st.integers(1, 3), k=st.integers(1, 3),
           no_data=st.sampled_from(["keep", "ok", "alerting"]),
           cuts=st.lists(st.integers(0, 30), max_size=4), replay=st.integers(0, 3),
           shift=st.integers(-500, 500))
    def prop(tried, values, n, k, no_data, cuts, replay, shift):
        tried["examples"] += 1
        rule = bundled_rule(**{"for": n, "keep_firing_for": k, "no_data": no_data})
        obs = windows(values)
        whole_state, whole = evaluate(rule, "T3", None, obs)
        state, batched = None, []
        bounds = sorted({min(c, len(obs)) for c in cuts} | {0, len(obs)})
        for a, b in zip(bounds, bounds[1:], strict=False):
            batch = obs[max(0, a - replay):b]  # re-send the last `replay` windows
            state, moved = evaluate(rule, "T3", state, batch)
            batched += moved
        assert batched == whole
        if obs:
            assert state == whole_state
        start = T0 + shift * H
        _, shifted = evaluate(rule, "T3", None, windows(values, start))
        assert moves(shifted, start) == moves(whole)

    holds_for(invariant, "rule engine: a sensor re-sending and re-batching windows",
              "same transitions as one call, nothing twice", prop)


def test_a_line_threshold_is_the_rule_threshold_for_that_line(invariant):
    @PROPERTY
    @given(values=st.lists(st.floats(0, 1), max_size=20),
           line_threshold=st.floats(0, 1), n=st.integers(1, 3))
    def prop(tried, values, line_threshold, n):
        tried["examples"] += 1
        per_line = bundled_rule(**{"for": n, "thresholds_by_line": {"PNT": line_threshold}})
        plain = bundled_rule(**{"for": n, "condition": {"op": "<",
                                                        "threshold": line_threshold}})
        on_line = evaluate(per_line, "T3", None, windows(values, line_id="PNT")).transitions
        same = evaluate(plain, "T3", None, windows(values)).transitions
        assert moves(on_line) == moves(same)
        elsewhere = evaluate(per_line, "T1", None, windows(values, line_id="WLD")).transitions
        default = evaluate(bundled_rule(**{"for": n}), "T1", None, windows(values)).transitions
        assert moves(elsewhere) == moves(default)

    holds_for(invariant, "rule engine: per-line thresholds",
              "a subject on the line is judged by the line's threshold, others by the "
              "rule's", prop)


# --- rollups ----------------------------------------------------------------------------

TEAM_METRICS = [m for m in METRICS if m.mart == TEAM_HOURLY]
QUANTITIES = sorted({m.numerator for m in TEAM_METRICS} | {m.denominator for m in TEAM_METRICS}
                    | {"changeover_count", "downtime_minutes", "planned_minutes"})
TEAMS = {"T1": "WLD", "T2": "WLD", "T3": "PNT"}
# grain columns of each rollup mart, as the mart names them
GRAINS = {
    "team_daily_quality": ("team_id", "local_date"),
    "team_shift_quality": ("team_id", "shift_date", "shift"),
    "team_weekly_quality": ("team_id", "iso_week"),
    "line_daily_quality": ("line_id", "local_date"),
    "plant_daily_quality": ("local_date",),
}
MONDAY = datetime(2026, 11, 2)


def calendar(hour: datetime) -> dict:
    """The plant-calendar columns of an hour (local time = UTC here): day 08-20, night
    20-08 belonging to the date it started, ISO week from Monday."""
    day = hour.replace(hour=0)
    if hour.hour >= 20:
        shift, shift_start = "night", day + timedelta(hours=20)
    elif hour.hour >= 8:
        shift, shift_start = "day", day + timedelta(hours=8)
    else:
        shift, shift_start = "night", day - timedelta(hours=4)
    year, week, _ = hour.date().isocalendar()
    week_start = day - timedelta(days=hour.weekday())
    return {"hour_start": hour, "local_date": hour.date().isoformat(), "day_start": day,
            "shift_date": shift_start.date().isoformat(), "shift": shift,
            "shift_start": shift_start, "iso_week": f"{year}-W{week:02d}",
            "week_start": week_start}


@cache
def rollup_warehouse() -> tuple[sa.Engine, sa.Table, object]:
    """An embedded warehouse (one per test process) holding a marts.team_hourly_quality
    table of the quantity columns, and the SQL-model project."""
    folder = Path(tempfile.mkdtemp(prefix="perfflow-rollups-"))
    engine = make_engine(embedded_url(folder / "warehouse"))
    columns = [sa.Column("team_id", sa.String), sa.Column("line_id", sa.String),
               sa.Column("hour_start", sa.DateTime), sa.Column("local_date", sa.String),
               sa.Column("day_start", sa.DateTime), sa.Column("shift_date", sa.String),
               sa.Column("shift", sa.String), sa.Column("shift_start", sa.DateTime),
               sa.Column("iso_week", sa.String), sa.Column("week_start", sa.DateTime)]
    columns += [sa.Column(q, sa.Float if q.endswith(("minutes", "hours_on_shift"))
                          else sa.Integer) for q in QUANTITIES]
    table = sa.Table(TEAM_HOURLY, sa.MetaData(schema="marts"), *columns)
    table.create(engine)
    return engine, table, load_project(SQL_ROOT)


QUANTITY = st.one_of(st.just(0), st.integers(0, 500))
TEAM_HOUR = st.tuples(st.sampled_from(sorted(TEAMS)), st.integers(0, 24 * 9 - 1),
                      st.fixed_dictionaries({q: QUANTITY for q in QUANTITIES}))


def expected_rollup(rows: list[dict], grain: tuple[str, ...]) -> dict:
    sums: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        group = sums[tuple(r[c] for c in grain)]
        group["team_hour_count"] += 1
        for q in QUANTITIES:
            group[q] += r[q]
    return sums


def test_rollups_divide_summed_quantities(invariant):
    """Every team metric in every rollup mart, computed by the real SQL models on SQLite
    from random team-hours (zeros included), is sum(numerator) / sum(denominator) of its
    group as the metric library names them; NULL when the denominator sums to 0."""
    compared = {"cells": 0}

    @settings(PROPERTY, max_examples=25)
    @given(team_hours=st.lists(TEAM_HOUR, min_size=1, max_size=40,
                               unique_by=lambda t: (t[0], t[1])))
    def prop(tried, team_hours):
        tried["examples"] += 1
        engine, table, project = rollup_warehouse()
        rows = [{"team_id": team, "line_id": TEAMS[team],
                 **calendar(MONDAY + hour * H), **quantities}
                for team, hour, quantities in team_hours]
        with engine.begin() as conn:
            conn.execute(table.delete())
            conn.execute(table.insert(), rows)
        for mart in TEAM_ROLLUPS:
            run_model(engine, project, mart)  # no window: the whole mart rebuilt
            grain = GRAINS[mart]
            want = expected_rollup(rows, grain)
            with engine.connect() as conn:
                got = conn.execute(sa.text(f"select * from marts.{mart}")).mappings().all()
            assert sorted(tuple(r[c] for c in grain) for r in got) == sorted(want), mart
            for r in got:
                sums = want[tuple(r[c] for c in grain)]
                assert r["team_hour_count"] == sums["team_hour_count"]
                for q in QUANTITIES:
                    assert r[q] == pytest.approx(sums[q]), (mart, q)
                for m in TEAM_METRICS:
                    num, den = sums[m.numerator], sums[m.denominator]
                    nulled = any(sums[c] == 0 for c in m.null_when_zero)
                    expected = None if den == 0 or nulled else num / den
                    assert r[m.column] == pytest.approx(expected), (mart, m.name, r)
                    compared["cells"] += 1

    holds_for(invariant, "rollups: random team-hours through the real SQL on SQLite",
              "team/shift/week/line/plant ratios = sum(numerator) / sum(denominator)",
              prop, compared=compared)
    assert compared["cells"] > 0


# --- goal trees -------------------------------------------------------------------------

SOURCE = {"metric": "first_pass_yield", "target": 0.95, "direction": "higher", "period": "day"}
LEVELS = ("company", "department", "team", "person")


def partition_100(draw, parts: int) -> list[int]:
    """`parts` positive whole weights adding up to 100."""
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=parts - 1, max_size=parts - 1,
                                unique=True)))
    bounds = [0, *cuts, 100]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def goal_trees(draw) -> list[dict]:
    """1-2 company roots, each goal's parent drawn among the shallower goals, weights of
    every parent's children adding up to 100."""
    goals = [{"id": f"root-{i}", "level": "company"} for i in range(draw(st.integers(1, 2)))]
    for i in range(draw(st.integers(0, 12))):
        parents = [g for g in goals if g["level"] != "person"]
        parent = draw(st.sampled_from(parents))
        goals.append({"id": f"g{i:02d}", "level": LEVELS[LEVELS.index(parent["level"]) + 1],
                      "parent": parent["id"]})
    for parent in goals:
        kids = [g for g in goals if g.get("parent") == parent["id"]]
        if kids and len(kids) <= 99:
            for kid, weight in zip(kids, partition_100(draw, len(kids)), strict=True):
                kid["weight"] = weight
    for g in goals:
        g["name"] = f"Goal {g['id']}"
        g["source"] = dict(SOURCE)
        if "parent" in g:
            g["contribution"] = {"outcome": "plant first-pass yield", "scenario": "tests"}
    return goals


def goals_file(goals: list[dict]) -> dict:
    return {"version": "V-test", "templates": [{"id": "t", "name": "Test tree",
                                                 "goals": goals}]}


def load_tree(goals: list[dict]) -> tuple[object, list[str], str]:
    """(tree or None, problems, path) of a goals.yaml holding `goals`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "goals.yaml"
        path.write_text(yaml.safe_dump(goals_file(goals), sort_keys=False), encoding="utf-8")
        try:
            return load_goals(path), [], str(path)
        except ConfigError as err:
            return None, err.problems, str(path)


def test_random_valid_goal_trees_validate(invariant):
    @PROPERTY
    @given(goals=goal_trees())
    def prop(tried, goals):
        tried["examples"] += 1
        tree, problems, _ = load_tree(goals)
        assert problems == []
        assert {g.id for g in tree.goals} == {g["id"] for g in goals}
        for g in goals:  # every path reaches a company root
            assert tree.path_to_root(g["id"])[-1].level == "company"

    holds_for(invariant, "goal trees: random valid trees", "validate without a problem", prop)


BREAKAGES = ("unknown parent", "weights not 100", "unknown metric", "cycle")


@st.composite
def broken_trees(draw) -> tuple[str, list[dict], dict]:
    goals = draw(goal_trees().filter(lambda gs: len(gs) >= 3 and any("parent" in g
                                                                      for g in gs)))
    goals = copy.deepcopy(goals)
    kind = draw(st.sampled_from(BREAKAGES))
    children = [g for g in goals if "parent" in g]
    if kind == "unknown parent":
        leaves = [g for g in children if not any(k.get("parent") == g["id"] for k in goals)]
        g = draw(st.sampled_from(leaves))
        old_parent, g["parent"] = g["parent"], draw(st.from_regex(r"nope-[a-z]{1,8}",
                                                                  fullmatch=True))
        return kind, goals, {"goal": g, "old_parent": old_parent}
    if kind == "weights not 100":
        g = draw(st.sampled_from(children))
        g["weight"] = draw(st.integers(1, 100).filter(lambda w: w != g["weight"]))
        return kind, goals, {"goal": g}
    if kind == "unknown metric":
        i = draw(st.integers(0, len(goals) - 1))
        name = draw(st.from_regex(r"[a-z][a-z_]{2,20}", fullmatch=True).filter(
            lambda n: n not in {m.name for m in METRICS}))
        goals[i]["source"]["metric"] = name
        return kind, goals, {"index": i, "metric": name}
    g = draw(st.sampled_from(children))
    g["parent"] = g["id"]
    return kind, goals, {"goal": g}


def weight_lines(goals: list[dict]) -> set[str]:
    """Parents whose children's weights no longer add up to 100, found here independently."""
    ids = {g["id"] for g in goals}
    sums: dict[str, float] = defaultdict(float)
    for g in goals:
        if g.get("parent") in ids and "weight" in g:
            sums[g["parent"]] += g["weight"]
    return {p for p, total in sums.items() if abs(total - 100) > 0.01}


def test_each_goal_tree_breakage_gives_exactly_its_error(invariant):
    seen = {kind: 0 for kind in BREAKAGES}

    @settings(PROPERTY, max_examples=80)
    @given(case=broken_trees())
    def prop(tried, case):
        tried["examples"] += 1
        kind, goals, what = case
        seen[kind] += 1
        _, problems, path = load_tree(goals)
        assert problems, kind
        assert all(line.startswith(f"{path}: ") and "\n" not in line for line in problems)
        weights_off = weight_lines(goals)
        weight_problems = {p for p in problems if "weights of its children add up to" in p}
        assert {p.split(": goal ")[1].split(":")[0] for p in weight_problems} == weights_off
        rest = [p for p in problems if p not in weight_problems]
        if kind == "unknown parent":
            g = what["goal"]
            assert rest == [f"{path}: goal {g['id']}: parent: unknown goal {g['parent']!r}"]
        elif kind == "weights not 100":
            assert rest == [] and weights_off == {what["goal"]["parent"]}
        elif kind == "unknown metric":
            gid = goals[what["index"]]["id"]
            assert len(rest) == 1 and weights_off == set()
            assert rest[0].startswith(
                f"{path}: templates[0].goals[{what['index']}].source (id {gid}): "
                f"unknown metric {what['metric']!r}")
        else:
            g = what["goal"]
            assert rest == [f"{path}: goal {g['id']}: cycle: {g['id']} -> {g['id']}; the "
                            "path never reaches a root"]

    holds_for(invariant, "goal trees: random breakages (cycle, unknown parent, weights, "
              "unknown metric)", "exactly the breakage's error, never an exception", prop,
              by_kind=seen)
    assert all(seen.values()), seen


# --- config parsing ---------------------------------------------------------------------

CONFIG_FILES = {**{name: loader for name, loader in NAMED_FILES.items()},
                "scenarios/default.yaml": load_scenario}


def bundled_text(name: str) -> str:
    path = bundled_scenario_path() if name.startswith("scenarios/") \
        else bundled_config_dir() / name
    return path.read_text(encoding="utf-8")


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**9),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["x'; drop table raw.mes_production; --", "T1", "PNT",
                                     "first_pass_yield", "2026-11-02T01:00:00", "day", "<",
                                     "team_leader", "", "100", "-1"]))
YAMLISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
        ["id", "version", "metric", "parent", "weight", "kinds", "rules", "templates",
         "goals", "columns", "teams", "routes", "source"])), inner, max_size=4)),
    max_leaves=8)


def _nodes(data, path=()):
    """Every (path, node) of a parsed YAML document, containers and leaves."""
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _nodes(v, (*path, i))


@st.composite
def mutated(draw, name: str) -> object:
    """The bundled file with 1-3 nodes replaced, removed, or given an extra key."""
    data = yaml.safe_load(bundled_text(name))
    for _ in range(draw(st.integers(1, 3))):
        nodes = list(_nodes(data))
        path, _ = draw(st.sampled_from(nodes))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                data = draw(YAMLISH)
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(YAMLISH)
        else:
            parent[path[-1]] = draw(YAMLISH)
    return data


def check_refusal(name: str, loader, content: bytes) -> str:
    """Load `content` as config file `name`: 'valid', or 'refused' with every line naming
    the file; anything else raised fails the test."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        try:
            loader(path)
        except ConfigError as err:
            assert err.problems, name
            for line in err.problems:
                assert line.startswith(f"{path}: ") and "\n" not in line, line
            return "refused"
    return "valid"


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_mutated_config_files_are_refused_cleanly(invariant, name):
    loader = CONFIG_FILES[name]
    outcomes = {"valid": 0, "refused": 0}

    @settings(PROPERTY, max_examples=30)
    @given(data=mutated(name))
    def prop(tried, data):
        tried["examples"] += 1
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        outcomes[check_refusal(name, loader, text.encode("utf-8"))] += 1

    holds_for(invariant, f"config parsing: random mutations of {name}",
              "valid, or ConfigError lines naming the file; nothing else raised", prop,
              outcomes=outcomes)
    assert outcomes["refused"] > 0


RAW_DOCUMENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.lists(st.sampled_from(["key:", " - ", "[", "]", "{", "}", "&a", "*a", "!!binary",
                              "!!python/object:os.system", ": ", "\n", "  ", "'", '"', "#",
                              "---", "...", "version: 1", "\t", "\xff", "|"]), max_size=30)
    .map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape")),
    st.integers(1, 3000).map(lambda depth: ("[" * depth + "]" * depth).encode()),
)


def test_random_documents_are_refused_cleanly(invariant):
    outcomes = {"valid": 0, "refused": 0}

    @settings(PROPERTY, max_examples=120)
    @given(name=st.sampled_from(sorted(CONFIG_FILES)), content=RAW_DOCUMENTS)
    def prop(tried, name, content):
        tried["examples"] += 1
        outcomes[check_refusal(name, CONFIG_FILES[name], content)] += 1

    holds_for(invariant, "config parsing: random text, bytes and YAML syntax in every "
              "config file", "ConfigError lines naming the file; nothing else raised", prop,
              outcomes=outcomes)


def test_bundled_config_files_are_valid():
    """The mutations start from valid files, so a refusal is the mutation's doing."""
    for name, loader in CONFIG_FILES.items():
        assert check_refusal(name, loader, bundled_text(name).encode("utf-8")) == "valid", name
