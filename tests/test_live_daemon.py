"""Live: `dagster-daemon` runs for real with the sensors on; breaches are added to the
simulator as records stamped now; the actions reach the webhook and the mail server, each
once, and the episode records how long that took from the source's own timestamp."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from perf_orchestration.alerting.rules.config import BUNDLED_RULES
from perf_orchestration.cli.live import start_live
from perf_orchestration.tables import action_log, alert_episodes, tasks
from perf_orchestration.warehouse import make_engine

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[1]


def _inspection(i: int, team: str, at: datetime, result: str) -> dict:
    return {"inspection_id": f"LIVE-FAI-{team}-{i:03d}", "station_id": f"{team}-S01",
            "team_id": team, "inspected_at": at.isoformat(), "product": "P-100",
            "result": result, "defect_code": "D03-RUN" if result == "fail" else None,
            "inspector_id": "E0001"}


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


@pytest.fixture(params=["embedded", "postgresql"])
def instance_config(request, monkeypatch):
    """The embedded instance, and deploy/dagster.yaml on an empty PostgreSQL database
    (the daemon inherits the PERFFLOW_DAGSTER_PG_* variables)."""
    if request.param == "embedded":
        return None
    for key, value in request.getfixturevalue("fresh_pg_instance_env").items():
        monkeypatch.setenv(key, value)
    return str(ROOT / "deploy" / "dagster.yaml")


def test_a_breach_at_the_source_reaches_people_once_with_the_daemon(tmp_path, instance_config):
    config = tmp_path / "config"
    config.mkdir()
    # the bundled rules, reading six hours back on the first tick
    (config / "rules.yaml").write_text(BUNDLED_RULES.read_text() + "\nwatch: {lookback_hours: 6}\n")
    with start_live(tmp_path / "live", config_dir=str(config),
                    instance_config=instance_config) as stack:
        assert stack.wait_until_watching(120), (stack.out_dir / "daemon.log").read_text()[-3000:]
        sim = stack.simulator
        tz = sim.scenario.tz
        hour = datetime.now(tz).replace(minute=0, second=0, microsecond=0)
        # two whole hours of painting below 92.5%, then a record that closes the second
        records = [_inspection(i, "T3", hour - timedelta(hours=3, minutes=-5 * i),
                               "fail" if i % 2 else "pass") for i in range(10)]
        records += [_inspection(10 + i, "T3", hour - timedelta(hours=2, minutes=-5 * i),
                                "fail" if i % 3 else "pass") for i in range(10)]
        records.append(_inspection(99, "T3", hour - timedelta(minutes=50), "pass"))
        failures = [{"event_id": f"LIVE-EV-{i}", "device_id": "T4-D01", "device_type": "robot",
                     "station_id": "T4-S01", "team_id": "T4",
                     "occurred_at": datetime.now(tz).isoformat(), "event_type": "failure",
                     "state": "down", "failure_code": "F04-WIRE-FEED"} for i in range(3)]
        added_at = datetime.now(UTC)
        sim.add_records("mes", "first_article_inspections", records)
        sim.add_records("mes", "equipment_events", failures)

        # team leader by webhook; planner and maintenance lead by mail; QA engineer a task
        assert _wait(lambda: len(stack.webhook.unique()) >= 1
                     and len(stack.smtp.count_by_key()) >= 2, 120), \
            (stack.out_dir / "daemon.log").read_text()[-3000:]
        first_delivery = min(item["received_at"] for item in stack.webhook.unique())
        assert (first_delivery - added_at).total_seconds() < 60
        time.sleep(12)  # more ticks: nothing is sent again
        assert stack.webhook.duplicates == 0 and len(stack.webhook.unique()) == 1
        assert all(n == 1 for n in stack.smtp.count_by_key().values())

        engine = make_engine(stack.env["PERFFLOW_WAREHOUSE_URL"])
        with engine.connect() as conn:
            episodes = {e["rule_id"]: e for e in conn.execute(
                sa.select(alert_episodes)).mappings()}
            delivered = conn.execute(sa.select(action_log.c.action_id, action_log.c.status)
                                     ).all()
            owners = conn.execute(sa.select(tasks.c.owner_role)).scalars().all()
        engine.dispose()
    fai = episodes["fai-below-92-5"]
    assert fai["subject"] == "T3" and fai["value"] < 0.925
    for episode in (fai, episodes["device-failures-3-per-day"]):
        signal, done = episode["signal_at"], episode["delivered_at"]
        assert signal is not None and done is not None
        assert 0 <= (done - signal).total_seconds() < 60
    assert sorted(delivered) == sorted([
        ("team-leader-alert", "delivered"), ("qa-root-cause-checklist", "delivered"),
        ("planner-parameter-review", "delivered"), ("maintenance-lead-alert", "delivered")])
    assert owners == ["qa_engineer"]
    if instance_config:  # the daemon's runs are in the PostgreSQL instance database
        env = {k: v for k, v in os.environ.items()
               if k.startswith("PERFFLOW_DAGSTER_PG_")}
        db = sa.create_engine(sa.URL.create(
            "postgresql+psycopg2", username=env["PERFFLOW_DAGSTER_PG_USER"],
            password=env["PERFFLOW_DAGSTER_PG_PASSWORD"] or None,
            host=env["PERFFLOW_DAGSTER_PG_HOST"], port=int(env["PERFFLOW_DAGSTER_PG_PORT"]),
            database=env["PERFFLOW_DAGSTER_PG_DB"]))
        with db.connect() as conn:
            runs = conn.execute(sa.text("select pipeline_name, status from runs")).all()
        db.dispose()
        assert ("alert_actions_job", "SUCCESS") in runs and ("roster_job", "SUCCESS") in runs
