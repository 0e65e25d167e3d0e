"""Delivery faults between a fired alert and the people: the team chat webhook or the mail
server down and then back, and an action run that failed and is re-executed from its
failure. Each ends with the same invariants (tests/faults/_invariants.py): no action
delivered twice, none lost, alert episodes consistent.

The channels talk to real receivers on loopback (perf_orchestration.testing.webhook and .smtp);
a receiver that is down is a port nothing listens on, brought up later on that port.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from _invariants import check_actions, check_episodes
from _scenarios import (
    engine,
    fault_actions_job,
    fire_fai_episode,
    free_port,
    load_roster,
    routing_without_wait,
)

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.alerting.rules.config import load_rules
from perf_orchestration.config.files import plant_routing
from perf_orchestration.delivery import EmailChannel, WebhookChannel
from perf_orchestration.tables import action_log
from perf_orchestration.testing.smtp import SmtpReceiver
from perf_orchestration.testing.webhook import WebhookReceiver

SECRET = "fault-secret"
SENDER = "perfflow@plant1.example.com"
# the delivery resource's own retry count; a short backoff keeps the test quick
CHANNEL = {"max_retries": 3, "backoff_seconds": 0.01}


def _channels(webhook_port: int, smtp_port: int) -> dict:
    return {"webhook": WebhookChannel(f"http://127.0.0.1:{webhook_port}/hook", SECRET,
                                      **CHANNEL),
            "email": EmailChannel("127.0.0.1", smtp_port, SENDER, timeout=2, **CHANNEL)}


def _statuses(eng) -> dict[str, str]:
    with eng.connect() as conn:
        return dict(conn.execute(sa.select(action_log.c.channel, action_log.c.status)).all())


@pytest.mark.parametrize("down", ["webhook", "email"])
def test_a_receiver_down_then_back_gets_each_alert_once(invariant, sqlite_url, down):
    name = {"webhook": "team chat webhook down, then back",
            "email": "SMTP server down, then back"}[down]
    eng = engine(sqlite_url)
    load_roster(eng)
    episode = fire_fai_episode(eng)
    rules, routing = load_rules(), plant_routing()
    later = utcnow() + timedelta(minutes=1)  # past the route's group_wait
    port = free_port()
    up = WebhookReceiver(SECRET).start() if down == "email" else SmtpReceiver().start()
    try:
        webhook_port, smtp_port = (port, up.port) if down == "webhook" else (up.port, port)
        channels = _channels(webhook_port, smtp_port)
        run_episode_actions(eng, rules, episode, channels, "fire", "action-run", routing)
        first = dispatch_due(eng, routing, channels, now=later)
        failed = [n for n, outcome in first if outcome.status == "failed"]
        assert len(failed) == 1 and _statuses(eng)[down] == "failed"
        invariant(name, "a failed delivery is visible, not lost",
                  holds=_statuses(eng)[down] == "failed", statuses=_statuses(eng))

        back = (WebhookReceiver(SECRET, port=port) if down == "webhook"
                else SmtpReceiver(port=port)).start()
        try:
            second = dispatch_due(eng, routing, channels, now=later + timedelta(minutes=1))
            third = dispatch_due(eng, routing, channels, now=later + timedelta(minutes=2))
            webhook, smtp = (back, up) if down == "webhook" else (up, back)
            counts = check_actions(invariant, name, eng, webhook=webhook, smtp=smtp)
        finally:
            back.stop()
    finally:
        up.stop()
    assert [o.status for _, o in second] == ["delivered"] and third == []
    assert [n.notification_id for n, _ in second] == [failed[0].notification_id]  # same key
    assert counts["statuses"] == {"delivered": 3}
    check_episodes(invariant, name, eng)
    eng.dispose()


def test_an_action_run_re_executed_from_failure_delivers_once(invariant, sqlite_url, tmp_path,
                                                              monkeypatch):
    name = "action run failed on a dead webhook, re-executed from failure"
    eng = engine(sqlite_url)
    load_roster(eng)
    episode = fire_fai_episode(eng)
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = dg.DagsterInstance.from_config(str(home))
    job = dg.reconstructable(fault_actions_job)
    config = {"ops": {"deliver_episode_actions": {"config": {"episode_id": episode}}}}
    with SmtpReceiver() as smtp:
        for key, value in {"PERFFLOW_WAREHOUSE_URL": sqlite_url,
                           "PERFFLOW_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                           "PERFFLOW_WEBHOOK_SECRET": SECRET,
                           "PERFFLOW_SMTP_PORT": str(smtp.port),
                           "PERFFLOW_CONFIG_DIR": str(routing_without_wait(tmp_path / "cfg"))
                           }.items():
            monkeypatch.setenv(key, value)
        with dg.execute_job(job, instance=instance, run_config=config,
                            raise_on_error=False) as failed:
            assert not failed.success
            failed_id = failed.run_id
        invariant(name, "the failed run left its actions visible",
                  holds=_statuses(eng)["webhook"] == "failed", statuses=_statuses(eng))
        with WebhookReceiver(SECRET, port=port) as webhook:
            options = dg.ReexecutionOptions.from_failure(failed_id, instance)
            with dg.execute_job(job, instance=instance, reexecution_options=options,
                                raise_on_error=False) as again:
                assert again.success
                assert again.dagster_run.parent_run_id == failed_id
            counts = check_actions(invariant, name, eng, webhook=webhook, smtp=smtp)
    assert counts["statuses"] == {"delivered": 3}
    check_episodes(invariant, name, eng)
    instance.dispose()
    eng.dispose()
