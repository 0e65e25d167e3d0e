"""`perfflow trace` read as an auditor reads it: every record id listed under a label is
what the label says, on the raw table itself."""

from __future__ import annotations

import re

from test_goals_scores import default_day, run_goals  # noqa: F401 - default_day is a fixture
from test_metrics import ROOT, land, query

from perf_orchestration.goals.pipeline import load_goal_config
from perf_orchestration.goals.trace import trace_lines
from perf_orchestration.sqlmodels import load_project, run_project
from perf_orchestration.warehouse import make_engine

STATION = re.compile(r"^  (?P<station>\S+): (?P<n>\d+) record\(s\); failed \((?P<nf>\d+)\)"
                     r"(?:: (?P<failed>[^;]*))?; passed \((?P<np>\d+)\)(?:: (?P<passed>.*))?$")


def _ids(text: str | None) -> list[str]:
    return [] if not text else [i for i in text.removesuffix(" ...").split(", ") if i]


def test_trace_lists_failed_and_passed_records_apart(sqlite_url, default_day):
    engine = make_engine(sqlite_url)
    land(engine, *default_day)
    run_project(engine, load_project(ROOT))
    config = load_goal_config()
    run_goals(engine, config)
    failing = [g.id for g in config.tree.goals
               if g.source and g.source.metric == "first_article_pass_rate"]
    results = {r["source_record_id"]: r["result"] for r in query(
        engine, "select source_record_id, result from raw.mes_first_article_inspections")}
    stations_read = failed_read = passed_read = 0
    for goal_id in failing:
        lines = trace_lines(engine, config.tree, "marts.goal_health", goal_id)
        for line in lines:
            if not line.startswith("  ") or "record(s)" not in line:
                continue
            match = STATION.match(line)
            assert match, f"a station line an auditor cannot read apart: {line!r}"
            failed, passed = _ids(match["failed"]), _ids(match["passed"])
            assert len(failed) == min(int(match["nf"]), 8) and \
                len(passed) == min(int(match["np"]), 8), line
            assert int(match["nf"]) + int(match["np"]) == int(match["n"]), line
            assert all(results[i] == "fail" for i in failed), line
            assert all(results[i] != "fail" for i in passed), line
            stations_read += 1
            failed_read += len(failed)
            passed_read += len(passed)
    # the painting team's dip: failed records are there to be read, and passed ones apart
    assert stations_read and failed_read and passed_read
    t3 = trace_lines(engine, config.tree, "marts.goal_health", "t3-first-article")
    summary = next(line for line in t3 if line.startswith("  failed ("))
    n_failed = int(summary.split("(")[1].split(")")[0])
    assert n_failed == sum(1 for r in query(
        engine, "select 1 from raw.mes_first_article_inspections "
                "where team_id = 'T3' and result = 'fail'"))
    engine.dispose()
