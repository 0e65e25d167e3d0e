"""Actions are recorded once per idempotency key; failed deliveries stay visible and are
retried with the same key."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from perf_orchestration.alerting.actions import (
    ActionSpec,
    EpisodeFacts,
    claim,
    deliver,
    plan_actions,
)
from perf_orchestration.delivery import WebhookChannel
from perf_orchestration.tables import action_log, metadata, tasks
from perf_orchestration.testing.rows import land_people
from perf_orchestration.testing.webhook import WebhookReceiver
from perf_orchestration.warehouse import ensure_schemas, make_engine

FACTS = EpisodeFacts("fai|T3|2026-11-02T01:00:00", "fai", "First-article pass rate low",
                     "team", "T3", "first_article_pass_rate", 0.85, 0.925,
                     datetime(2026, 11, 2, 1), datetime(2026, 11, 2, 3))
SPECS = [ActionSpec("lead-alert", "team_leader", "webhook", "breach_alert"),
         ActionSpec("qa-checklist", "qa_engineer", "task", "root_cause_checklist", 4)]


def _engine(url):
    engine = make_engine(url)
    ensure_schemas(engine, metadata)
    people = [("E1", "Li Na", "T3", "team_leader"), ("E2", "Wang Wei", "T3", "qa_engineer"),
              ("E3", "Zhao Lei", "T1", "team_leader")]
    land_people(engine, people)
    return engine


def test_actions_route_by_role_and_are_sent_once(warehouse_url):
    engine = _engine(warehouse_url)
    planned = plan_actions(engine, FACTS, SPECS)
    assert [(a.action_id, a.person.employee_id) for a in planned] == [
        ("lead-alert", "E1"), ("qa-checklist", "E2")]
    with WebhookReceiver("s3cret") as hook:
        channels = {"webhook": WebhookChannel(hook.url, "s3cret", backoff_seconds=0.01)}
        results = deliver(engine, claim(engine, planned, "run-1"), channels)
        assert [r.status for _, r in results] == ["delivered", "delivered"]
        # a repeated tick or retried job plans the same keys and finds them delivered
        again = claim(engine, plan_actions(engine, FACTS, SPECS), "run-2")
        assert again == []
        assert sum(hook.count_by_key().values()) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(action_log)).scalar() == 2
        task = conn.execute(sa.select(tasks)).mappings().one()
    assert task["owner_id"] == "E2" and task["status"] == "open"
    assert (task["due_at"] - task["created_at"]).total_seconds() > 0
    engine.dispose()


def test_a_failed_delivery_is_visible_and_retried_with_the_same_key(sqlite_url):
    engine = _engine(sqlite_url)
    planned = [a for a in plan_actions(engine, FACTS, SPECS) if a.channel == "webhook"]
    with WebhookReceiver("s3cret", fail_first=10) as hook:
        channel = WebhookChannel(hook.url, "s3cret", max_retries=1, backoff_seconds=0.01)
        [(_, result)] = deliver(engine, claim(engine, planned, "run-1"), {"webhook": channel})
        assert result.status == "failed"
    with engine.connect() as conn:
        row = conn.execute(sa.select(action_log)).mappings().one()
    assert row["status"] == "failed" and row["attempts"] == 2 and "500" in row["detail"]
    with WebhookReceiver("s3cret") as hook:
        channel = WebhookChannel(hook.url, "s3cret", backoff_seconds=0.01)
        retry = claim(engine, plan_actions(engine, FACTS, SPECS[:1]), "run-2")
        assert [a.key for a in retry] == [planned[0].key]
        [(_, result)] = deliver(engine, retry, {"webhook": channel})
        assert result.status == "delivered"
        assert list(hook.count_by_key()) == [planned[0].key]
    engine.dispose()


def test_action_job_without_webhook_secret_fails_naming_the_variable(sqlite_url, monkeypatch):
    import dagster as dg

    from jobs.actions import alert_actions_job
    from perf_orchestration.tables import alert_episodes
    from resources.delivery import DeliveryResource
    from resources.warehouse import WarehouseResource

    engine = _engine(sqlite_url)
    episode = "fai-below-92-5|T3|2026-11-02T01:00:00"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode, rule_id="fai-below-92-5", rule_version="test", subject="T3",
            state="firing", episode_start=datetime(2026, 11, 2, 1),
            fired_at=datetime(2026, 11, 2, 3), detected_at=datetime(2026, 11, 2, 3),
            value=0.85, threshold=0.925))
    monkeypatch.delenv("PERFFLOW_CONFIG_DIR", raising=False)  # the bundled rules
    with WebhookReceiver("s3cret") as hook:
        result = alert_actions_job.execute_in_process(
            run_config={"ops": {"deliver_episode_actions": {"config": {"episode_id": episode}}}},
            resources={"warehouse": WarehouseResource(url=sqlite_url),
                       "delivery": DeliveryResource(webhook_url=hook.url, webhook_secret=None,
                                                    smtp_port=1, max_retries=0)},
            raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
        assert hook.received == []  # nothing unsigned went out
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "PERFFLOW_WEBHOOK_SECRET" in str(failure.event_specific_data.error)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.select(action_log.c.action_id, action_log.c.status)).all())
    assert statuses.get("team-leader-alert") in ("planned", "failed")  # visible, not lost
    engine.dispose()


def test_a_failed_notification_fails_the_run_once_and_waits_for_its_next_round(
        sqlite_url, monkeypatch, tmp_path):
    import dagster as dg

    from jobs.actions import alert_actions_job
    from perf_orchestration.config.files import bundled_config_dir
    from perf_orchestration.tables import alert_episodes, notification_log
    from perf_orchestration.testing.smtp import SmtpReceiver
    from resources.delivery import DeliveryResource
    from resources.warehouse import WarehouseResource

    engine = _engine(sqlite_url)
    episode = "fai-below-92-5|T3|2026-11-02T01:00:00"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode, rule_id="fai-below-92-5", rule_version="test", subject="T3",
            state="firing", episode_start=datetime(2026, 11, 2, 1),
            fired_at=datetime(2026, 11, 2, 3), detected_at=datetime(2026, 11, 2, 3),
            value=0.85, threshold=0.925))
    config = tmp_path / "config"  # group_wait 0: the action job itself sends
    config.mkdir()
    (config / "routing.yaml").write_text((bundled_config_dir() / "routing.yaml").read_text()
                                         .replace("group_wait_seconds: 10",
                                                  "group_wait_seconds: 0"))
    monkeypatch.setenv("PERFFLOW_CONFIG_DIR", str(config))
    with WebhookReceiver("s3cret", fail_first=10**9) as hook, SmtpReceiver() as smtp:
        result = alert_actions_job.execute_in_process(
            run_config={"ops": {"deliver_episode_actions": {"config": {"episode_id": episode}}}},
            resources={"warehouse": WarehouseResource(url=sqlite_url),
                       "delivery": DeliveryResource(webhook_url=hook.url, webhook_secret="s3cret",
                                                    smtp_port=smtp.port, max_retries=0)},
            raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
        requests = hook.requests
    assert not result.success
    types = [e.event_type for e in result.all_events]
    # no op retry seconds later: the webhook was tried in one dispatch round, and the next
    # round is the dispatch sensor's, when it is due
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types and requests == 1
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "next round at" in str(failure.event_specific_data.error)
    with engine.connect() as conn:
        row = conn.execute(sa.select(notification_log).where(
            notification_log.c.channel == "webhook")).mappings().one()
    assert (row["status"], row["dispatches"]) == ("failed", 1) and row["retry_at"] is not None
    engine.dispose()
