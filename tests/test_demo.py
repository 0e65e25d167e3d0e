"""`perfflow demo` end to end on the embedded default, and the CLI's other commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.config.bundled import package_path
from perf_orchestration.sqlmodels import load_project

ROOT = Path(__file__).resolve().parents[1]
PERFFLOW = str(Path(sys.executable).with_name("perfflow"))


def _run(*args, timeout=300, env=None):
    return subprocess.run([PERFFLOW, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_demo_summary_has_the_promised_keys_and_balanced_rows(demo_dir):
    summary = json.loads((demo_dir / "summary.json").read_text())
    for key in ("warehouse", "partitions", "assets_materialized", "checks", "rows", "alerts",
                "response_seconds", "auto_triggered_ratio"):
        assert key in summary
    assert summary["partitions"]["count"] == 24
    rows = summary["rows"]
    assert rows["fetched"] == rows["landed"] + rows["quarantined"] > 5000
    assert summary["rows_balanced"] is True
    assert rows["duplicates"] == 4 and rows["late"] >= 5
    assert summary["source_calls"]["retried"] >= 3  # 2 x 503 + 1 timeout
    reasons = summary["quarantine_reasons"]
    assert reasons["mes_production"]["duplicate_row"] == 4
    assert sum(reasons["mes_first_article_inspections"].values()) == 3
    assert summary["checks"]["failed"] == 0
    # one column-tests check per SQL model with tests, each evaluated once
    project = load_project(package_path("dbt_like_sql"))
    tested = [n for n in project.models if any(c.tests for c in project.model(n).columns)]
    assert summary["checks"]["by_name"]["column_tests"] == len(tested) > 30
    assert summary["checks"]["passed"] > len(tested) + 40  # and the source and goal checks
    assert "raw/mes_production" in summary["assets_materialized"]
    assert "marts/team_daily_quality" in summary["assets_materialized"]


def test_demo_consolidates_the_dropped_workbooks(demo_dir):
    wb = json.loads((demo_dir / "summary.json").read_text())["workbooks"]
    assert (wb["files"], wb["sheets"], wb["rows_landed"], wb["rows_quarantined"]) == \
        (5, 11, 155, 5)
    assert wb["total_checks"] == {"ok": 2, "mismatch": 1, "absent": 0, "not_run": 2}
    assert wb["by_status"] == {"corrupt": 1, "encrypted": 1, "landed": 2, "total_mismatch": 1}
    mismatch = next(f for f in wb["by_file"] if f["status"] == "total_mismatch")
    assert "sheet '汇总'" in mismatch["reason"] and "output_qty" in mismatch["reason"]
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    out = _run("query", "--warehouse", url, "select count(*) as n, count(distinct sheet_name) "
               "as sheets from raw.excel_production_daily").stdout
    assert out.splitlines()[1] == "109,4"


def test_demo_reports_the_day_s_team_metrics_with_the_painting_dip(demo_dir):
    teams = {r["team_id"]: r for r in json.loads(
        (demo_dir / "summary.json").read_text())["team_daily_metrics"]}
    assert sorted(teams) == ["T1", "T2", "T3", "T4", "T5", "T6", "T7"]
    fai = {t: r["first_article_pass_rate"] for t, r in teams.items()}
    assert fai["T3"] == min(fai.values()) and fai["T3"] < 0.975
    assert all(0 < r["oee"] < 1 for r in teams.values())


def test_the_same_numbers_come_out_on_postgresql(demo_dir, pg_url, pg_instance_env, tmp_path):
    """The production deployment end to end: PostgreSQL instance storage (deploy/dagster.yaml)
    and a PostgreSQL warehouse, with the same numbers as the embedded default."""
    proc = _run("demo", "--out", str(tmp_path / "pg"), "--warehouse", pg_url, "--quiet",
                "--instance-config", str(ROOT / "deploy" / "dagster.yaml"), env=pg_instance_env)
    assert proc.returncode == 0, proc.stderr
    instance_db = sa.make_url(pg_url).set(database=pg_instance_env["PERFFLOW_DAGSTER_PG_DB"])
    engine = sa.create_engine(instance_db)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select pipeline_name, status from runs")).all()
        events = conn.execute(sa.text("select count(*) from event_logs")).scalar()
    engine.dispose()
    assert {"roster_job", "perf_flow_job", "alert_actions_job"} <= {name for name, _ in runs}
    assert {status for _, status in runs} == {"SUCCESS"}
    assert events > 1000
    pg = json.loads((tmp_path / "pg" / "summary.json").read_text())
    lite = json.loads((demo_dir / "summary.json").read_text())
    assert pg["warehouse"].startswith("postgresql")
    assert pg["rows"] == lite["rows"]
    assert pg["team_daily_metrics"] == lite["team_daily_metrics"]
    assert pg["goal_health"]["cells"] == lite["goal_health"]["cells"]
    assert pg["goal_health"]["red"] == lite["goal_health"]["red"]
    assert {k: v for k, v in pg["workbooks"].items() if k != "by_file"} == \
        {k: v for k, v in lite["workbooks"].items() if k != "by_file"}
    query = "select team_id, partition_key, oee from marts.team_hourly_quality order by 1, 2"
    a = _run("query", "--warehouse", pg_url, query).stdout
    b = _run("query", "--warehouse", f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}",
             query).stdout
    assert a.count("\n") == 7 * 24 + 1
    rows_a = [line.split(",") for line in a.splitlines()[1:]]
    rows_b = [line.split(",") for line in b.splitlines()[1:]]
    for x, y in zip(rows_a, rows_b, strict=True):
        assert x[:2] == y[:2] and abs(float(x[2] or 0) - float(y[2] or 0)) < 1e-9
    assert (demo_dir / "report.md").read_text().startswith("# Demo report")


def test_demo_links_a_goal_health_heatmap_and_traces_every_red_cell(demo_dir, capsys):
    from perf_orchestration.cli import main

    summary = json.loads((demo_dir / "summary.json").read_text())
    health = summary["goal_health"]
    assert (demo_dir / health["heatmap"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({health['heatmap']})" in (demo_dir / "report.md").read_text()
    teams = {s.split("/")[0] for s in health["subjects"]}
    assert teams >= {f"T{i}" for i in range(1, 8)} | {f"TC{i}" for i in range(1, 5)}
    assert {s for s in health["subjects"] if s.startswith("plant/")} == {
        "plant/direct", "plant/distributor", "plant/online"}  # the sales channels
    centres = {c["centre"]: c for c in health["technical_centres"]}
    assert set(centres) == {"TC1", "TC2", "TC3", "TC4"}
    for c in centres.values():  # |own goals - supported yield| / supported yield
        assert c["deviation"] == pytest.approx(
            abs(c["own_goals_attainment"] - c["supported_yield_attainment"])
            / c["supported_yield_attainment"], abs=2e-4)
    assert health["cells"]["red"] == len(health["red"]) > 0
    assert "t3-first-article" in {r["goal_id"] for r in health["red"]}
    assert {"marts/goal_scores", "marts/goal_alignment", "marts/goal_health",
            "ops/weight_changes"} <= set(summary["assets_materialized"])
    main_run = next(r["run_id"] for r in summary["runs"] if r["job"] == "perf_flow_job")
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    for cell in health["red"]:  # in process: one trace is a few queries
        assert main(["trace", "marts.goal_health", cell["goal_id"], "--warehouse", url]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"marts.goal_health {cell['goal_id']} @ ") and "RED" in out
        assert "path to the root:" in out and "(root)" in out and main_run in out
        records = [line for line in out.splitlines() if line.startswith("source: ")]
        assert records and " 0 record(s)" not in records[0], out
    proc = _run("trace", "marts.goal_health", "no-such-goal", "--warehouse", url)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no row of marts.goal_health for goal 'no-such-goal'" in proc.stderr


def test_query_reads_the_embedded_warehouse_as_csv(demo_dir):
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    proc = _run("query", "--warehouse", url,
                "select count(*) as n from raw.hr_employees")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["n", "1200"]


def test_the_painting_dip_fires_once_and_reaches_three_people(demo_dir):
    summary = json.loads((demo_dir / "summary.json").read_text())
    fai = [a for a in summary["alerts"]
           if a["rule_id"] == "fai-below-92-5" and a["evaluated_by"] == "rules_asset"]
    assert len(fai) == 1 and fai[0]["subject"] == "T3" and fai[0]["state"] == "resolved"
    fired = {(a["role"], a["channel"], a["status"]) for a in fai[0]["actions"]
             if a["kind"] == "fire"}
    assert fired == {("team_leader", "webhook", "delivered"),
                     ("qa_engineer", "task", "delivered"),
                     ("production_planner", "email", "delivered")}
    devices = {a["subject"]: a["evaluated_by"] for a in summary["alerts"]
               if a["rule_id"] == "device-failures-3-per-day"}
    # T6-D02 failed twice: no questionnaire; the storm's three devices failed live
    assert devices == {"T2-D03": "rules_asset", "T5-D01": "source_watch",
                       "T4-D02": "source_watch", "T5-D02": "source_watch"}
    live = summary["live_response_seconds"]
    assert live["episodes"] == 5 and 0 <= live["max"] < 60
    assert summary["receivers"]["webhook"]["duplicates"] == 0
    assert summary["receivers"]["webhook_rejected_signatures"] == 0
    assert summary["response_seconds"]["p95"] is not None and summary["auto_triggered_ratio"] == 1
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    task = _run("query", "--warehouse", url, "select body from ops.tasks "
                "where owner_role = 'qa_engineer' and episode_id like '%|T3|%'").stdout
    assert "Top defect codes: D07-THIN-FILM" in task or "Top defect codes: D05-RUN" in task
    marts = _run("query", "--warehouse", url, "select rule_id, team_id, delivered_episodes, "
                 "auto_triggered_ratio from marts.response_times order by rule_id, team_id")
    assert marts.stdout.splitlines()[1:] == [
        "device-failures-3-per-day,T2,1,1.0", "device-failures-3-per-day,T4,1,1.0",
        "device-failures-3-per-day,T5,2,1.0", "fai-below-92-5,T3,1,1.0",
        "fai-below-92-5,T4,1,1.0", "fai-below-92-5,T5,1,1.0", "interface-gap,wms→tms,1,1.0"]


def test_the_storm_on_the_assembly_line_is_grouped_and_inhibited(demo_dir):
    """Five episodes on one line at once: the quality ones are inhibited by the failing
    devices (recorded with the reason), the device ones grouped per maintenance lead."""
    notes = json.loads((demo_dir / "summary.json").read_text())["notifications"]
    storm = [m for m in notes["messages"] if "line=ASM" in m["group"]]
    assert sorted(m["alerts"] for m in storm) == [1, 2]  # 3 alerts, 2 messages
    assert all(m["status"] == "delivered" and m["channel"] == "email" for m in storm)
    muted = [n for n in notes["not_sent"] if n["status"] == "inhibited"]
    assert len(muted) == 4 and all("failing-device-mutes-line-quality" in n["reason"]
                                   for n in muted)
    # 8 for the line's episodes, 10 for the wms→tms gap: one e-mail to each manager
    assert notes["by_status"] == {"inhibited": 4, "sent": 18}


def test_the_people_loop_asks_reminds_and_awards_with_traceable_evidence(demo_dir):
    people = json.loads((demo_dir / "summary.json").read_text())["people"]
    by_trigger = {r["trigger_id"]: r for r in people["requests"]}
    assert sorted(by_trigger) == ["device-skill-gap", "renewal-success-story"]
    skill_gap = by_trigger["device-skill-gap"]
    assert skill_gap["subject"] == "T2-D03" and len(skill_gap["evidence"]) == 3
    assert skill_gap["form_version"] == "V2.3.7-line" and len(skill_gap["questions"]) == 3
    assert all(e.startswith("EV-T2-D03-") for e in skill_gap["evidence"])
    story = by_trigger["renewal-success-story"]
    assert story["evidence"][0].startswith("REN-20261102-")
    assert {r["status"] for r in people["requests"]} == {"delivered"}
    assert people["answers"] == 2 and len(people["answers_quarantined"]) == 2
    (reminder,) = people["reminders"]
    assert len(reminder["days_below"]) == 2 and len(reminder["suggestions"]) == 3
    assert reminder["status"] == "delivered" and reminder["evidence"]
    assert any(b["badge_id"] == "mes-fault-code-reader" and b["evidence"]
               for b in people["badges"])
    shown = people["capability_graph"]["shown"]
    assert any(":answer:" in e for e in shown[skill_gap["recipient"]])
    assert any(":incident:" in e for e in shown[skill_gap["recipient"]])
    assert any(e.startswith("crm-proposals:metric:") for e in shown[reminder["employee_id"]])


def test_new_hires_are_tracked_on_three_metrics_with_their_records(demo_dir):
    onboarding = json.loads((demo_dir / "summary.json").read_text())["people"]["onboarding"]
    assert onboarding["as_of_date"] == "2026-11-02"
    hires = {h["employee_id"]: h for h in onboarding["new_hires"]}
    assert onboarding["by_status"] == {"on_track": 3, "at_risk": 1, "late": 0}
    assert all(0 <= h["days_since_hire"] <= 90 for h in hires.values())
    alone = hires["E0120"]  # the operator who first runs a station alone on the demo day
    assert (alone["training_share"], alone["feedback_per_week"], alone["days_to_first_job"]) \
        == (1.0, 1.1667, 44)
    assert len(alone["training_ids"]) == 2 and len(alone["feedback_ids"]) == 7
    assert alone["first_job_id"] == "T1-S01-2026110210" and alone["status"] == "on_track"
    deal = hires["E1192"]
    assert (deal["days_to_first_job"], deal["first_job_id"]) == (29, "OPP-20261102-E1192:won")
    (risk,) = [h for h in hires.values() if h["status"] == "at_risk"]
    assert risk["feedback_by_week"].count(0) >= 2 and len(risk["reasons"]) == 2
    assert onboarding["feedback_quarantined"] == [
        "mentor feedback MF-E9999-W01-1 names mentee E9999, who is not on the HR roster"]


def test_demo_rerun_replaces_instead_of_doubling(demo_dir):
    before = json.loads((demo_dir / "summary.json").read_text())
    proc = _run("demo", "--out", str(demo_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    after = json.loads((demo_dir / "summary.json").read_text())
    assert after["rows"] == before["rows"]
    assert after["workbooks"] == before["workbooks"]  # same files: no second intake
    # nothing is sent twice: no new episode, no new delivery
    assert after["receivers"]["webhook"]["arrivals"] == 0
    assert after["receivers"]["email"]["arrivals"] == 0
    assert [a["episode_id"] for a in after["alerts"]] == [a["episode_id"]
                                                          for a in before["alerts"]]
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    out = _run("query", "--warehouse", url, "select count(*) from raw.mes_production")
    assert int(out.stdout.splitlines()[1]) == after["rows_by_entity"]["mes_production"]["landed"]


def test_bad_scenario_gives_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: 2026-11-02T00:00:00\nhours: 0\nincidents:\n"
                   "  - {kind: metric_dip, id: d1, team: T99, metric: oee, value: 2,"
                   " start: 2026-11-02T01:00:00, hours: 1}\n")
    proc = _run("demo", "--out", str(tmp_path / "o"), "--scenario", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith(str(bad)) for line in lines), lines
    assert any("hours" in line for line in lines)
    assert any("incidents[0]" in line and "d1" in line for line in lines)


def test_validate_accepts_the_bundled_config_and_names_broken_files(tmp_path):
    assert _run("validate").returncode == 0
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "broken.yaml").write_text("start: [\n")
    proc = _run("validate", "--config", str(tmp_path))
    assert proc.returncode == 1 and "broken.yaml: line" in proc.stderr
    bundled = ROOT / "perf_orchestration" / "line_metrics.yaml"
    (tmp_path / "line_metrics.yaml").write_text(
        bundled.read_text().replace("first_article_pass_rate", "first_article_passrate", 1))
    proc = _run("validate", "--config", str(tmp_path))
    assert "line_metrics.yaml" in proc.stderr and "unknown metric 'first_article_passrate'" \
        in proc.stderr


def test_bad_warehouse_url_is_one_line(tmp_path):
    proc = _run("query", "--warehouse", "mysql://nobody@nowhere/x", "select 1")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "unsupported database" in proc.stderr


def test_backtest_replays_rules_without_sending(demo_dir, tmp_path):
    url = f"sqlite:///{demo_dir / 'warehouse' / 'warehouse.db'}"
    count = "select count(*) from ops.action_log"
    before = _run("query", "--warehouse", url, count).stdout
    proc = _run("backtest", "--warehouse", url, "--from", "2026-11-02T00:00",
                "--to", "2026-11-03T00:00")
    assert proc.returncode == 0, proc.stderr
    assert "fai-below-92-5: 1 episode(s) would have fired" in proc.stdout
    assert "T2-D03 on 2026-11-02" in proc.stdout and "T6-D02" not in proc.stdout
    rules = (ROOT / "perf_orchestration" / "rules.yaml").read_text()
    stricter = tmp_path / "rules.yaml"
    stricter.write_text(rules.replace("threshold: 0.925", "threshold: 0.99", 1)
                        .replace("for: 2", "for: 1", 1))
    proc = _run("backtest", "--rules", str(stricter), "--warehouse", url,
                "--from", "2026-11-02T00:00", "--to", "2026-11-03T00:00")
    fired = int(proc.stdout.split("fai-below-92-5: ")[1].split(" ")[0])
    assert fired > 1
    assert _run("query", "--warehouse", url, count).stdout == before


def test_the_live_formula_agrees_with_the_mart(demo_dir):
    """The source watch computes first-article pass rate from the records as they come;
    over the default day it gives the mart's value for every team-hour (hours holding a
    quarantined inspection aside: the live path cannot know a row will be refused)."""
    from datetime import datetime, timedelta

    import sqlalchemy as sa

    from perf_orchestration.alerting.source_watch import (
        LIVE_METRICS,
        EntityCursor,
        TickOutcome,
        WatchCursor,
        _judge_windows,
    )
    from perf_orchestration.ingestion.client import SourceClient
    from perf_orchestration.scenarios.config import load_scenario
    from perf_orchestration.simulator import SimulatorServer
    from perf_orchestration.warehouse import embedded_url, make_engine

    with SimulatorServer(load_scenario(), port=0) as server:
        records = SourceClient("mes", server.url).fetch("first_article_inspections").items
    closed = _judge_windows(LIVE_METRICS["first_article_pass_rate"], EntityCursor(), records,
                            timedelta(0), TickOutcome(WatchCursor()))
    live = {(team, o.window_start): o.value for team, obs in closed.items() for o in obs}
    engine = make_engine(embedded_url(demo_dir / "warehouse"))
    with engine.connect() as conn:
        refused = set(conn.execute(sa.text(
            "select partition_key from ops.quarantine "
            "where entity = 'mes_first_article_inspections'")).scalars())
        mart = {(team, datetime.fromisoformat(str(hour))): value
                for team, hour, value in conn.execute(sa.text(
                    "select team_id, hour_start, first_article_pass_rate "
                    "from marts.team_hourly_quality where fai_total > 0 "
                    "and partition_key not in :refused").bindparams(
                        sa.bindparam("refused", expanding=True)), {"refused": list(refused)})}
    engine.dispose()
    assert refused and len(mart) > 50
    last_hour = max(h for _, h in mart)  # no later record closes the day's last hour
    for key, value in mart.items():
        if key[1] < last_hour:
            assert live.get(key) == pytest.approx(value), key


def test_marking_the_checklist_done_records_when_a_person_acted(demo_dir, tmp_path):
    import shutil

    shutil.copytree(demo_dir / "warehouse", tmp_path / "warehouse")
    from perf_orchestration.warehouse import embedded_url

    url = embedded_url(tmp_path / "warehouse")
    listed = _run("task", "list", "--warehouse", url)
    assert listed.returncode == 0 and "3 open task(s)" in listed.stdout, listed.stdout
    t3 = next(line for line in listed.stdout.splitlines() if "checklist: T3" in line)
    task_id = t3.split()[0]
    assert "qa_engineer" in t3
    done = _run("task", "done", task_id, "--warehouse", url)
    assert done.returncode == 0 and " done (" in done.stdout, done.stdout + done.stderr
    again = _run("task", "done", task_id, "--warehouse", url)
    assert "was already done" in again.stdout
    assert "2 open task(s)" in _run("task", "list", "--warehouse", url).stdout
    marts = _run("query", "--warehouse", url, "select rule_id, acted_episodes, "
                 "signal_to_acted_p50_s from marts.response_times where acted_episodes > 0")
    rows = marts.stdout.strip().splitlines()[1:]
    # counted as acted; not timed from its signal, which is on the replayed scenario's clock
    assert rows == ["fai-below-92-5,1,"], rows
    unknown = _run("task", "done", "nosuchtask", "--warehouse", url)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "no task 'nosuchtask'" in unknown.stderr


def test_the_replay_runs_on_the_scenario_s_clock_end_to_end(demo_dir):
    """A replayed episode is detected when the window that fired it closes and told
    seconds later on the same clock: its response is what the plant would have seen."""
    summary = json.loads((demo_dir / "summary.json").read_text())
    replayed = {a["subject"]: a for a in summary["alerts"] if a["clock"] == "replay"}
    fai = replayed["T3"]
    assert fai["detected_at"] == fai["fired_at"] == "2026-11-02T03:00:00"  # 11:00 local
    device = replayed["T2-D03"]  # third failure 19:25 local, its hour closes at 20:00
    assert device["signal_at"] == "2026-11-02T11:25:00"
    assert device["detected_at"] == "2026-11-02T12:00:00"
    for a in replayed.values():  # told within the plant day (its UTC bounds)
        assert "2026-11-01T16:00:00" <= a["delivered_at"] < "2026-11-02T16:00:00", a
        assert 0 < a["response_seconds"] < 3600
    assert summary["response_seconds"]["max"] == pytest.approx(
        max(a["response_seconds"] for a in replayed.values()), abs=1e-3)
    live = [a for a in summary["alerts"] if a["clock"] == "wall"]
    assert live and all(a["evaluated_by"] == "source_watch" for a in live)
    assert summary["live_response_seconds"]["episodes"] == len(live)
    # the report says the same, per alert
    report = (demo_dir / "report.md").read_text()
    assert f"response {device['response_seconds']:.0f} s (replay clock)" in report
