"""Any valid plant runs the flow: random plants (team counts, line types, stations,
headcounts, CJK and Latin names, time zones with and without daylight saving, ranges
across a change of the clocks) are simulated, ingested and modelled, and

- every entity and hourly window keeps its rows: fetched = landed + quarantined;
- no table of raw, staging or marts names a team, device, station or workshop that the
  plant does not have;
- the bundled goal template expands over the roster that landed into a valid tree of the
  plant's own teams and lines."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from _plant_flow import foreign_names, run_flow, unbalanced_windows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perf_orchestration.goals import load_goals
from perf_orchestration.goals.subjects import roster_from_warehouse
from perf_orchestration.plant_calendar import TIMEZONE_ENV
from perf_orchestration.scenarios.config import Scenario
from perf_orchestration.simulator.common import production_teams
from perf_orchestration.warehouse import make_engine

PRODUCTION = ("welding", "painting", "assembly", "machining")
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe",
         "Asia/Shanghai")
STARTS = ("2026-10-25T00:00:00", "2026-03-29T01:00:00", "2026-11-01T00:30:00",
          "2026-07-15T19:00:00")
NAME_CHARS = "焊接涂装总装机加车间品質センター办公Ab Üß-"

names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=10).map(str.strip).filter(bool)


@st.composite
def plants(draw) -> Scenario:
    workshops = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    kinds = draw(st.lists(st.sampled_from(PRODUCTION + ("technical_centre", "office")),
                          min_size=1, max_size=5))
    kinds[0] = draw(st.sampled_from(PRODUCTION))  # a plant needs a team with stations
    teams = []
    for i, kind in enumerate(kinds):
        production = kind in PRODUCTION
        teams.append({
            "id": f"{'PQRSTUVWXY'[i]}{draw(st.integers(1, 99))}-{i}", "name": draw(names),
            "line_id": f"{kind[:3].upper()}-{draw(st.integers(1, 2))}", "line_type": kind,
            "workshop": draw(st.sampled_from(workshops)),
            "stations": draw(st.integers(1, 3)) if production else 0,
            "headcount": draw(st.integers(1, 40))})
    return Scenario.model_validate({
        "name": "random-plant", "seed": draw(st.integers(0, 10_000)),
        "start": draw(st.sampled_from(STARTS)), "timezone": draw(st.sampled_from(ZONES)),
        "hours": draw(st.integers(2, 3)),
        "plant": {"name": draw(names), "teams": teams}})


def _the_goal_template_fits(url: str, scenario: Scenario) -> None:
    """The bundled goals expand over the roster the plant's HR system delivered into a
    valid tree whose subjects are the plant's own, every team's goals scored from data."""
    engine = make_engine(url)
    try:
        tree = load_goals(None, roster_from_warehouse(engine))
    finally:
        engine.dispose()
    teams = {t.id: t for t in scenario.plant.teams}
    lines = {t.line_id for t in production_teams(scenario)}
    for goal in tree.goals:
        src = goal.source
        assert src.team is None or teams[src.team].line_type in PRODUCTION, goal.id
        assert {src.line, *(src.lines or ())} - {None} <= lines, goal.id
        assert src.owner is None or teams[src.owner].line_type == "technical_centre"
    assert {g.source.team for g in tree.goals if g.source.team} == \
        {t.id for t in production_teams(scenario)}


def _logged_unbalanced(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "select count(*) from ops.ingestion_log "
                "where fetched != landed + quarantined")).scalar()
    finally:
        engine.dispose()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plants())
def test_any_valid_plant_keeps_its_rows_and_names_only_itself(scenario):
    saved = os.environ.get(TIMEZONE_ENV)
    os.environ[TIMEZONE_ENV] = scenario.timezone
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'warehouse.db'}"
            result = run_flow(scenario, url)
            assert unbalanced_windows(result) == []
            assert _logged_unbalanced(url) == 0
            assert foreign_names(url, scenario) == []
            production = result.ingested["mes_production"]
            stations = sum(t.stations for t in production_teams(scenario))
            assert production.total("landed") == stations * scenario.hours
            assert result.model_rows["team_hourly_quality"] == \
                len(production_teams(scenario)) * scenario.hours
            _the_goal_template_fits(url, scenario)
    finally:
        if saved is None:
            os.environ.pop(TIMEZONE_ENV, None)
        else:
            os.environ[TIMEZONE_ENV] = saved
