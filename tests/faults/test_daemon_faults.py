"""The Dagster daemon killed with SIGKILL, as a machine or container failure does: in the
middle of a sensor tick, and in the middle of an action job. The daemon runs for real
(`perfflow live`'s stack against a temporary DAGSTER_HOME); its whole process tree (the
daemon, its code server and the run workers below them) is killed at once.

After each kill the same invariants hold (tests/faults/_invariants.py): no action
delivered twice, none lost, alert episodes consistent.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from _invariants import check_actions, check_episodes
from _scenarios import kill_tree, routing_without_wait, wait_for
from test_live_daemon import _inspection

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.alerting.rules.config import BUNDLED_RULES
from perf_orchestration.cli.live import start_live
from perf_orchestration.config.files import plant_routing
from perf_orchestration.delivery import EmailChannel, WebhookChannel
from perf_orchestration.scenarios.config import SourceFault
from perf_orchestration.warehouse import make_engine

pytestmark = pytest.mark.timeout(300)


def _breach(team: str, hour: datetime) -> list[dict]:
    """Two whole hours of `team` below 92.5% first-article pass rate (the two hours before
    the hour before `hour`), and a record that closes the second one. The source watch
    judges each closed hour once, so each phase breaches hours not judged before."""
    records = [_inspection(i, team, hour - timedelta(hours=3, minutes=-5 * i),
                           "fail" if i % 2 else "pass") for i in range(10)]
    records += [_inspection(10 + i, team, hour - timedelta(hours=2, minutes=-5 * i),
                            "fail" if i % 3 else "pass") for i in range(10)]
    records.append(_inspection(99, team, hour - timedelta(minutes=50), "pass"))
    return records


def _stall_next_read(sim, seconds: float) -> str:
    """The simulator holds the next read of first-article inspections for `seconds`."""
    stall = SourceFault(kind="source_fault", id="watch-stall", system="mes",
                        entity="first_article_inspections", fault="timeout",
                        hour=datetime.now(UTC), count=1, delay_seconds=seconds)
    with sim.state.lock:
        sim.state.http_faults.append(stall)
        sim.state.remaining[stall.id] = 1
        sim.state.faults_served[stall.id] = 0
    return stall.id


def _restart_daemon(stack) -> None:
    """A new dagster-daemon on the same instance, as a supervisor restarts it."""
    first = stack.processes[0]
    with open(stack.out_dir / "daemon.log", "ab") as log:
        stack.processes.append(subprocess.Popen(
            first.args, env={**os.environ, **stack.env}, stdout=log,
            stderr=subprocess.STDOUT, cwd=stack.out_dir))


def _action_runs(home) -> int:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return len(instance.get_run_records(dg.RunsFilter(job_name="alert_actions_job")))


def test_daemon_killed_mid_tick_and_mid_action_job_sends_each_action_once(invariant, tmp_path):
    config = routing_without_wait(tmp_path / "config")  # the action job sends at once
    (config / "rules.yaml").write_text(BUNDLED_RULES.read_text()
                                       + "\nwatch: {lookback_hours: 6}\n")
    log = tmp_path / "live" / "daemon.log"
    with start_live(tmp_path / "live", config_dir=str(config)) as stack:
        assert stack.wait_until_watching(120), log.read_text()[-3000:]
        sim, webhook, smtp = stack.simulator, stack.webhook, stack.smtp
        engine = make_engine(stack.env["PERFFLOW_WAREHOUSE_URL"])
        hour = datetime.now(sim.scenario.tz).replace(minute=0, second=0, microsecond=0)

        # 1. killed in the middle of a source watch tick (its read of the MES held)
        name = "daemon SIGKILLed in the middle of a sensor tick"
        stall = _stall_next_read(sim, 10)
        sim.add_records("mes", "first_article_inspections",
                        _breach("T3", hour - timedelta(hours=2)))
        assert wait_for(lambda: sim.state.faults_served[stall] > 0, 60, 0.02)
        killed = kill_tree(stack.processes[0].pid)
        stack.processes[0].wait(timeout=10)
        runs_at_kill = _action_runs(stack.home)
        invariant(name, "the killed tick launched nothing", holds=runs_at_kill == 0,
                  processes_killed=len(killed), action_runs=runs_at_kill)
        _restart_daemon(stack)
        assert wait_for(lambda: len(webhook.unique()) >= 1 and len(smtp.count_by_key()) >= 1,
                        150, 0.5), log.read_text()[-3000:]
        assert wait_for(lambda: _action_runs(stack.home) >= 1, 30)
        counts = check_actions(invariant, name, engine, webhook=webhook, smtp=smtp)
        assert counts["statuses"] == {"delivered": 3}
        check_episodes(invariant, name, engine)

        # 2. killed in the middle of an action job (its webhook call held by the receiver)
        name = "daemon SIGKILLed in the middle of an action job"
        seen = set(webhook.count_by_key())
        requests = webhook.requests
        webhook.delay_seconds = 4
        sim.add_records("mes", "first_article_inspections", _breach("T5", hour))
        assert wait_for(lambda: webhook.requests > requests, 120, 0.05), log.read_text()[-3000:]
        killed = kill_tree(stack.processes[-1].pid)
        stack.processes[-1].wait(timeout=10)
        webhook.delay_seconds = 0
        assert wait_for(lambda: len(webhook.count_by_key()) > len(seen), 10)
        in_flight = frozenset(set(webhook.count_by_key()) - seen)
        # the next dispatch round (the notification dispatch job, a minute on) sends what
        # the killed run had claimed, with the same key, and what it never reached
        secret = stack.env["PERFFLOW_WEBHOOK_SECRET"]
        channels = {"webhook": WebhookChannel(webhook.url, secret, backoff_seconds=0.01),
                    "email": EmailChannel("127.0.0.1", smtp.port, "perfflow@plant1.example.com",
                                          backoff_seconds=0.01)}
        dispatch_due(engine, plant_routing(config), channels,
                     now=utcnow() + timedelta(minutes=2))
        counts = check_actions(invariant, name, engine, webhook=webhook, smtp=smtp,
                               in_flight=in_flight)
        assert set(counts["statuses"]) == {"delivered"} and counts["actions"] > 3
        invariant(name, "the key in flight at the kill was the one sent again",
                  holds=len(in_flight) == 1, processes_killed=len(killed),
                  in_flight=len(in_flight),
                  arrivals_of_it=sum(webhook.count_by_key()[k] for k in in_flight))
        check_episodes(invariant, name, engine)
        engine.dispose()
