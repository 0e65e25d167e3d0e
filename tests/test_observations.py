"""Metric rules on lines and devices: a line's hour is its teams' summed quantities (not
an average of their ratios), a device's window is its plant day, and both fire through
the same episode machine as team rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from perf_orchestration.alerting.evaluate import evaluate_metric_rules
from perf_orchestration.alerting.observations import subject_observations
from perf_orchestration.alerting.rules.config import RuleSet
from perf_orchestration.tables import RAW_TABLES, metadata
from perf_orchestration.warehouse import ensure_schemas, make_engine

H1 = datetime(2026, 11, 2, 1)
DAY = datetime(2026, 11, 1, 16)  # 2026-11-02 00:00 plant time, in UTC

marts = sa.MetaData()
team_hours = sa.Table(
    "team_hourly_quality", marts, sa.Column("team_id", sa.Text), sa.Column("line_id", sa.Text),
    sa.Column("partition_key", sa.Text), sa.Column("hour_start", sa.DateTime),
    sa.Column("hour_end", sa.DateTime), sa.Column("fai_passed", sa.Integer),
    sa.Column("fai_total", sa.Integer), sa.Column("first_article_pass_rate", sa.Float),
    schema="marts")
device_days = sa.Table(
    "device_daily_reliability", marts, sa.Column("device_id", sa.Text),
    sa.Column("line_id", sa.Text), sa.Column("day_start", sa.DateTime),
    sa.Column("mtbf_minutes", sa.Float), schema="marts")


def _raw(values: dict, key: str) -> dict:
    return {**values, "updated_at": H1, "source_system": "t", "source_record_id": key,
            "ingestion_run_id": "t", "ingested_at": H1, "partition_key": "snapshot"}


@pytest.fixture
def engine(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    with engine.begin() as conn:
        marts.create_all(conn)
        conn.execute(RAW_TABLES["hr_teams"].insert(), [
            _raw({"team_id": t, "name": t, "line_id": line, "line_type": "painting",
                  "workshop": "W1"}, t) for t, line in (("T3", "PNT"), ("T7", "PNT"),
                                                         ("T1", "ASM"))])
        rows = []
        for hour, counts in ((H1, {"T3": (9, 10), "T7": (1, 2), "T1": (5, 5)}),
                             (H1 + timedelta(hours=1), {"T3": (10, 10), "T7": (2, 2),
                                                        "T1": (5, 5)})):
            for team, (passed, total) in counts.items():
                rows.append({"team_id": team, "line_id": "ASM" if team == "T1" else "PNT",
                             "partition_key": f"k{hour:%H}", "hour_start": hour,
                             "hour_end": hour + timedelta(hours=1), "fai_passed": passed,
                             "fai_total": total, "first_article_pass_rate": passed / total})
        conn.execute(team_hours.insert(), rows)
        conn.execute(device_days.insert(), [
            {"device_id": "T2-D03", "line_id": "WLD", "day_start": DAY, "mtbf_minutes": 200.0},
            {"device_id": "T2-D03", "line_id": "WLD", "day_start": DAY + timedelta(days=1),
             "mtbf_minutes": 900.0}])
    yield engine
    engine.dispose()


def _rules(subject: str, metric: str, op: str, threshold: float) -> RuleSet:
    return RuleSet.model_validate({"version": "t", "rules": [{
        "id": f"{subject}-rule", "description": "d", "metric": metric, "subject": subject,
        "condition": {"op": op, "threshold": threshold}, "for": 1}]})


def test_a_line_hour_sums_its_teams_quantities(engine):
    obs = subject_observations(engine, "first_article_pass_rate", "line", H1,
                               H1 + timedelta(hours=2))
    pnt = obs["PNT"]
    # (9 + 1) / (10 + 2), not the mean of 0.9 and 0.5
    assert pnt[0].value == pytest.approx(10 / 12) and pnt[0].line_id == "PNT"
    assert pnt[1].value == pytest.approx(1.0)
    assert obs["ASM"][0].value == pytest.approx(1.0)


def test_line_and_device_rules_fire_and_resolve(engine):
    line = evaluate_metric_rules(engine, _rules("line", "first_article_pass_rate", "<", 0.9),
                                 H1, H1 + timedelta(hours=2))
    assert [e.split("|")[1] for e in line.fired] == ["PNT"]
    assert [e.split("|")[1] for e in line.resolved] == ["PNT"]
    device = evaluate_metric_rules(engine, _rules("device", "mtbf_minutes", "<", 480.0),
                                   DAY, DAY + timedelta(days=2))
    assert device.fired == [f"device-rule|T2-D03|{DAY.isoformat()}"]
    assert len(device.resolved) == 1
