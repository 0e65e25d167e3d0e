"""Alert storms: grouped, inhibited and silenced notifications, counted exactly; a restart
in the middle neither loses nor repeats one; routing.yaml refuses what cannot work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.config import load_routing
from perf_orchestration.alerting.notifications.notify import dispatch_due, next_due
from perf_orchestration.alerting.notifications.silences import (
    SilenceError,
    add_silence,
    expire_silence,
    list_silences,
)
from perf_orchestration.alerting.rules import Firing, load_rules
from perf_orchestration.alerting.rules.config import RuleSet
from perf_orchestration.alerting.store import RULES_ASSET, record_event_firings
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.delivery import EmailChannel, WebhookChannel
from perf_orchestration.tables import (
    RAW_TABLES,
    action_log,
    alert_episodes,
    alert_notifications,
    alert_transitions,
    metadata,
    notification_log,
    tasks,
)
from perf_orchestration.testing.smtp import SmtpReceiver
from perf_orchestration.testing.webhook import WebhookReceiver
from perf_orchestration.warehouse import ensure_schemas, make_engine

T0 = datetime(2026, 11, 2, 1, 0)  # 09:00 plant time, a Monday
RULES = load_rules()
ROUTING = load_routing()
PEOPLE = [("E41", "T4", "team_leader"), ("E42", "T4", "qa_engineer"),
          ("E43", "T4", "production_planner"), ("E44", "T4", "maintenance_lead"),
          ("E51", "T5", "team_leader"), ("E52", "T5", "qa_engineer"),
          ("E53", "T5", "production_planner"), ("E54", "T5", "maintenance_lead"),
          ("E45", "T4", "workshop_director"), ("E55", "T5", "workshop_director")]


def _raw(values: dict, key: str) -> dict:
    return {**values, "updated_at": T0, "source_system": "t", "source_record_id": key,
            "ingestion_run_id": "t", "ingested_at": T0, "partition_key": "snapshot"}


@pytest.fixture
def engine(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    with engine.begin() as conn:
        conn.execute(RAW_TABLES["hr_teams"].insert(), [
            _raw({"team_id": t, "name": t, "line_id": "ASM", "line_type": "assembly",
                  "workshop": "W2"}, t) for t in ("T4", "T5")])
        conn.execute(RAW_TABLES["hr_employees"].insert(), [
            _raw({"employee_id": e, "name": f"Person {e}", "team_id": t, "role": r,
                  "shift": "day", "email": f"{e.lower()}@plant1.example.com",
                  "hired_at": datetime(2020, 1, 1)}, e) for e, t, r in PEOPLE])
    yield engine
    engine.dispose()


@pytest.fixture
def receivers():
    with WebhookReceiver("s3cret") as hook, SmtpReceiver() as smtp:
        channels = {"webhook": WebhookChannel(hook.url, "s3cret", backoff_seconds=0.01),
                    "email": EmailChannel("127.0.0.1", smtp.port, "alerts@plant1.example.com",
                                              backoff_seconds=0.01)}
        yield hook, smtp, channels


def _device_episode(engine, device: str, at: datetime) -> str:
    rule = RULES.rule("device-failures-3-per-day")
    firing = Firing(rule.id, device, f"{rule.id}|{device}|2026-11-02", "2026-11-02",
                    at.replace(tzinfo=None), ("a", "b", "c"))
    with engine.begin() as conn:
        record_event_firings(conn, rule, RULES.stamp, [firing], recorded_by=RULES_ASSET,
                             stamp=at)
    return firing.episode_id


def _fai_episode(engine, team: str, at: datetime, state: str = "firing") -> str:
    episode_id = f"fai-below-92-5|{team}|{(at - timedelta(hours=2)).isoformat()}"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode_id, rule_id="fai-below-92-5", rule_version="t", subject=team,
            state=state, episode_start=at - timedelta(hours=2), signal_at=at, detected_at=at,
            fired_at=at, value=0.8, threshold=0.925))
    return episode_id


def _statuses(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(alert_notifications.c.status, sa.func.count())
                                 .group_by(alert_notifications.c.status)).all())


def test_a_storm_on_one_line_sends_a_handful_of_grouped_notifications(engine, receivers):
    hook, smtp, channels = receivers
    devices = [_device_episode(engine, d, T0) for d in ("T4-D01", "T4-D02", "T5-D01")]
    quality = [_fai_episode(engine, t, T0) for t in ("T4", "T5")]
    for episode in devices + quality:
        run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    # nothing goes out before group_wait (10 s)
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=5)) == []
    assert next_due(engine, ROUTING) == T0 + timedelta(seconds=10)
    sent = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))
    # 3 device alerts -> one e-mail per maintenance lead (T4's holds two alerts); the 2
    # quality episodes' 4 notifications are inhibited by the failing devices of the line
    assert sorted((n.reason, len(n.members)) for n, _ in sent) == [("first", 1), ("first", 2)]
    assert all(r.status == "delivered" for _, r in sent)
    assert _statuses(engine) == {"sent": 3, "inhibited": 4}
    assert sorted(smtp.count_by_key().values()) == [1, 1] and hook.requests == 0
    with engine.connect() as conn:
        reasons = conn.execute(sa.select(alert_notifications.c.reason).where(
            alert_notifications.c.status == "inhibited")).scalars().all()
        owners = conn.execute(sa.select(tasks.c.owner_id)).scalars().all()
        delivered = conn.execute(sa.select(alert_episodes.c.delivered_at).where(
            alert_episodes.c.episode_id.in_(devices))).scalars().all()
    assert all("inhibit rule failing-device-mutes-line-quality" in r for r in reasons)
    assert sorted(owners) == ["E42", "E52"]  # the QA checklists are tasks: never muted
    assert all(d is not None for d in delivered)
    # a restarted dispatcher finds nothing left to send
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=30)) == []
    assert sum(smtp.count_by_key().values()) == 2


def test_a_crash_between_claim_and_send_sends_once_with_the_same_key(engine, receivers):
    hook, _, channels = receivers
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, {}, routing=ROUTING, now=T0)

    class Crash(Exception):
        pass

    class Crashing:
        def send(self, message):
            raise Crash

    with pytest.raises(Crash):
        dispatch_due(engine, ROUTING, {**channels, "webhook": Crashing(), "email": Crashing()},
                     now=T0 + timedelta(seconds=11))
    # a restarted daemon a minute later sends the claimed turns, with the keys claimed
    with engine.connect() as conn:
        claimed = set(conn.execute(sa.select(notification_log.c.notification_id)).scalars())
    sent = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=80))
    assert {n.notification_id for n, _ in sent} == claimed and len(claimed) == 2
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=90)) == []
    assert hook.duplicates == 0 and len(hook.unique()) == 1


def test_still_firing_repeats_after_the_repeat_interval(engine, receivers):
    hook, _, channels = receivers
    episode = _fai_episode(engine, "T5", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(hours=3)) == []
    again = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(hours=4, seconds=12))
    assert sorted(n.reason for n, _ in again) == ["repeat", "repeat"]
    assert hook.received[-1]["json"]["subject"].startswith("Still firing:")


def test_a_failed_still_firing_repeat_leaves_the_delivered_actions_delivered(engine,
                                                                             receivers):
    _, _, channels = receivers
    episode = _fai_episode(engine, "T5", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))

    class Down:
        def send(self, message):
            from perf_orchestration.delivery import DeliveryResult

            return DeliveryResult("failed", 1, "connection refused", None)

    again = dispatch_due(engine, ROUTING, {"webhook": Down(), "email": Down()},
                         now=T0 + timedelta(hours=4, seconds=12))
    assert {n.reason for n, _ in again} == {"repeat"} and all(
        r.status == "failed" for _, r in again)
    with engine.connect() as conn:
        actions = dict(conn.execute(sa.select(action_log.c.action_id, action_log.c.status)
                                    .where(action_log.c.channel != "task")).all())
        repeats = conn.execute(sa.select(notification_log.c.status).where(
            notification_log.c.reason == "repeat")).scalars().all()
    # the people were told; only the reminder failed, and that shows where reminders live
    assert set(actions.values()) == {"delivered"}
    assert sorted(repeats) == ["failed", "failed"]


def test_a_silence_holds_and_the_resolution_follows_when_it_ends(engine, receivers):
    hook, _, channels = receivers
    sid = add_silence(engine, {"line": "ASM", "domain": "quality"}, T0,
                      T0 + timedelta(hours=1), "shift lead Wang", "line trial run", now=T0)
    assert [s["silence_id"] for s in list_silences(engine, now=T0)] == [sid]
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=5)) == []
    assert _statuses(engine) == {"silenced": 2}
    # the dip ends while silenced: the episode still closes
    with engine.begin() as conn:
        conn.execute(alert_episodes.update().where(alert_episodes.c.episode_id == episode)
                     .values(state="resolved", resolved_at=T0 + timedelta(minutes=30)))
    run_episode_actions(engine, RULES, episode, channels, "resolved", routing=ROUTING,
                        now=T0 + timedelta(minutes=30))
    expire_silence(engine, sid, now=T0 + timedelta(minutes=40))
    sent = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=41))
    # the firing notices are dropped (it resolved), the resolved notices go out
    assert _statuses(engine) == {"dropped": 2, "sent": 2}
    assert [r.status for _, r in sent] == ["delivered", "delivered"]
    assert "resolved" in hook.received[0]["json"]["subject"].lower()


def test_silence_input_is_checked(engine):
    with pytest.raises(SilenceError, match="not after start"):
        add_silence(engine, {"line": "ASM"}, T0, T0, "me", "why")
    with pytest.raises(SilenceError, match="unknown label colour"):
        add_silence(engine, {"colour": "red"}, T0, T0 + timedelta(hours=1), "me", "why")
    with pytest.raises(SilenceError, match="no active silence"):
        expire_silence(engine, "nope")


BASE = """version: t
route: {id: root, group_by: [line], group_wait_seconds: 0, group_interval_seconds: 60,
        repeat_interval_seconds: 3600%s}
"""


def test_a_route_s_receivers_are_told_too(engine, receivers, tmp_path):
    hook, _, channels = receivers
    path = tmp_path / "routing.yaml"
    path.write_text("""version: t
receivers:
  - {id: line-office, people: [E45], channel: webhook}
route: {id: root, group_by: [line], group_wait_seconds: 0, group_interval_seconds: 60,
        repeat_interval_seconds: 3600,
        routes: [{id: quality, match: {domain: quality}, receivers: [line-office]}]}
""")
    routing = load_routing(path)
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=routing, now=T0)
    sent = dispatch_due(engine, routing, channels, now=T0 + timedelta(seconds=1))
    assert sorted(n.group_key.split("|")[2] for n, _ in sent) == ["E41", "E43", "E45"]
    assert {item["json"]["recipient"] for item in hook.unique()} == {"E41", "E45"}


@pytest.mark.parametrize(("extra", "message"), [
    (", routes: [{id: a, match: {domain: quality}}, {id: b, match: {domain: quality}}]",
     "route 'b'|never reached"),
    (", match: {line: ASM}", "root route matches every alert"),
    (", routes: [{id: a, match: {colour: red}}]", "unknown label 'colour'"),
    ("}\ninhibit_rules: [{id: self, source: {domain: quality, line: ASM}, "
     "target: {domain: quality}}]\n#", "inhibit its own source"),
    ("}\nmute_windows: [{id: w, weekdays: [sun], start: '06:00', end: '02:00', "
     "reason: x}]\n#", "not after start"),
    (", receivers: [nobody]", "unknown receiver 'nobody'"),
])
def test_routing_refusals_name_the_file_and_entry(tmp_path, extra, message):
    path = tmp_path / "routing.yaml"
    path.write_text(BASE % extra)
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    text = "\n".join(err.value.problems)
    assert str(path) in text
    assert any(part in text for part in message.split("|")), text


def test_the_bundled_routing_loads_and_routes_by_domain():
    from perf_orchestration.alerting.notifications.matching import matched_routes

    assert [r.id for r in matched_routes(ROUTING, {"domain": "quality"})] == ["quality"]
    crit = matched_routes(ROUTING, {"severity": "critical", "domain": "quality"})
    assert crit[0].id == "critical" and crit[0].group_wait == timedelta(0)
    assert matched_routes(ROUTING, {})[0].id == "plant"
    RuleSet.model_validate({"version": "x"})  # an empty rule set is valid too


def test_acknowledgement_stops_escalation_and_silence_escalates_once(engine, receivers):
    from perf_orchestration.alerting.notifications.escalation import (
        AckError,
        ack_link,
        acknowledge,
        escalate_due,
        next_escalation,
        verify_ack_link,
    )

    _, smtp, channels = receivers
    acked, ignored = _fai_episode(engine, "T4", T0), _fai_episode(engine, "T5", T0)
    for episode in (acked, ignored):
        run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))
    assert next_escalation(engine, RULES) == T0 + timedelta(minutes=30)
    link = ack_link("https://plant1.example/ack", "k3y", acked, "E41")
    assert verify_ack_link("k3y", link) == (acked, "E41")
    with pytest.raises(AckError, match="signature"):
        verify_ack_link("k3y", link.replace("E41", "E51"))
    assert acknowledge(engine, acked, "E41", now=T0 + timedelta(minutes=10)) is True
    assert acknowledge(engine, acked, "E41", now=T0 + timedelta(minutes=11)) is False
    assert escalate_due(engine, RULES, channels, now=T0 + timedelta(minutes=29)) == []
    before = sum(smtp.count_by_key().values())
    escalated = escalate_due(engine, RULES, channels, now=T0 + timedelta(minutes=31))
    assert [(a.episode_id, a.person.employee_id, r.status) for a, r in escalated] == [
        (ignored, "E55", "delivered")]
    assert escalate_due(engine, RULES, channels, now=T0 + timedelta(minutes=60)) == []
    assert sum(smtp.count_by_key().values()) == before + 1
    with engine.connect() as conn:
        history = conn.execute(sa.select(alert_transitions.c.episode_id,
                                         alert_transitions.c.to_state)
                               .where(alert_transitions.c.to_state.in_(
                                   ("acknowledged", "escalated")))).all()
    assert sorted(history) == sorted([(acked, "acknowledged"), (ignored, "escalated")])


def test_an_acknowledgement_arriving_while_escalation_is_judged_stops_it(engine, receivers,
                                                                         monkeypatch):
    from perf_orchestration.alerting.notifications import escalation

    _, smtp, channels = receivers
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))
    before = sum(smtp.count_by_key().values())
    import perf_orchestration.alerting.evaluate as alerts

    facts = alerts.episode_facts

    def acknowledged_meanwhile(*args):  # the team leader clicks as the escalation starts
        escalation.acknowledge(engine, episode, "E41", now=T0 + timedelta(minutes=31))
        return facts(*args)

    monkeypatch.setattr(alerts, "episode_facts", acknowledged_meanwhile)
    assert escalation.escalate_due(engine, RULES, channels,
                                   now=T0 + timedelta(minutes=31)) == []
    assert sum(smtp.count_by_key().values()) == before
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_episodes.c.acknowledged_by,
                                     alert_episodes.c.escalated_at)
                           .where(alert_episodes.c.episode_id == episode)).one()
    assert row == ("E41", None)


# Backoff between dispatch rounds: a receiver down for minutes still gets its alert.
ROUND_1 = T0 + timedelta(seconds=11)  # the group's first round (group_wait 10 s)


def _chat_down(engine, receivers):
    """The team chat answers 500 to everything; T4's first-article alert goes out: the
    planner's e-mail is delivered, the team leader's webhook notification fails."""
    hook, _, channels = receivers
    hook.fail_first = 10**9
    channels = {**channels, "webhook": WebhookChannel(hook.url, "s3cret", max_retries=1,
                                                      backoff_seconds=0.01)}
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    first = dispatch_due(engine, ROUTING, channels, now=ROUND_1)
    assert sorted((n.reason, o.status) for n, o in first) == [("first", "delivered"),
                                                              ("first", "failed")]
    [(failed, outcome)] = [(n, o) for n, o in first if o.status == "failed"]
    return channels, failed.notification_id, outcome


def _log_row(engine, notification_id: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(notification_log).where(
            notification_log.c.notification_id == notification_id)).mappings().one())


def _webhook_action(engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(action_log).where(
            action_log.c.channel == "webhook")).mappings().one())


def test_a_failed_notification_waits_longer_before_each_later_round(engine, receivers):
    hook = receivers[0]
    channels, key, outcome = _chat_down(engine, receivers)
    assert outcome.retry_at == ROUND_1 + timedelta(seconds=30)
    assert next_due(engine, ROUTING) == ROUND_1 + timedelta(seconds=30)
    # rounds of the dispatch sensor, seconds apart, do not use up the retries
    for seconds in (2, 10, 29):
        assert dispatch_due(engine, ROUTING, channels,
                            now=ROUND_1 + timedelta(seconds=seconds)) == []
    assert hook.requests == 2 and _log_row(engine, key)["dispatches"] == 1
    at, schedule = ROUND_1, []
    for wait in (31, 61, 121, 241):  # just past 30 s, 1, 2 and 4 min after each failure
        at += timedelta(seconds=wait)
        assert dispatch_due(engine, ROUTING, channels, now=at - timedelta(seconds=2)) == []
        [(n, o)] = dispatch_due(engine, ROUTING, channels, now=at)
        assert n.notification_id == key and o.status == "failed"
        schedule.append(o.retry_at and (o.retry_at - at).total_seconds())
    assert schedule == [60, 120, 240, None]  # the fifth round was the last
    row = _log_row(engine, key)
    assert (row["status"], row["dispatches"], row["attempts"], row["retry_at"]) == (
        "failed", 5, 10, None)
    assert "500" in row["detail"] and hook.requests == 10
    action = _webhook_action(engine)
    assert action["status"] == "failed" and "500" in action["detail"]
    assert "dispatch round 5 of 5, no round left" in action["detail"]
    # nothing more is tried: the next thing due is the planner's e-mail repeat, 4 h on
    assert next_due(engine, ROUTING) == ROUND_1 + timedelta(hours=4)
    for later in (timedelta(minutes=10), timedelta(hours=1)):
        assert dispatch_due(engine, ROUTING, channels, now=at + later) == []
    assert hook.requests == 10 and hook.received == []


def test_a_receiver_back_after_three_minutes_gets_the_alert_exactly_once(engine, receivers):
    hook = receivers[0]
    channels, key, _ = _chat_down(engine, receivers)
    failed = [dispatch_due(engine, ROUTING, channels, now=ROUND_1 + timedelta(seconds=s))
              for s in (31, 91)]  # the second and third rounds, the chat still down
    assert [[o.status for _, o in r] for r in failed] == [["failed"], ["failed"]]
    action = _webhook_action(engine)
    assert action["status"] == "failed"
    assert action["detail"].endswith("dispatch round 3 of 5, next round at "
                                     f"{ROUND_1 + timedelta(seconds=211):%Y-%m-%d %H:%M:%S} UTC")
    hook.fail_first = 0  # the team chat is back 3 minutes after the first failure
    assert dispatch_due(engine, ROUTING, channels, now=ROUND_1 + timedelta(minutes=3)) == []
    assert next_due(engine, ROUTING) == ROUND_1 + timedelta(seconds=211)
    [(n, o)] = dispatch_due(engine, ROUTING, channels, now=ROUND_1 + timedelta(seconds=211))
    assert (n.notification_id, o.status, o.retry_at) == (key, "delivered", None)
    for seconds in (212, 300, 451, 3600):
        assert dispatch_due(engine, ROUTING, channels,
                            now=ROUND_1 + timedelta(seconds=seconds)) == []
    assert hook.count_by_key() == {key: 1} and hook.duplicates == 0
    row = _log_row(engine, key)
    assert (row["status"], row["dispatches"], row["retry_at"]) == ("delivered", 4, None)
    assert _webhook_action(engine)["status"] == "delivered"


def test_a_round_that_crashed_while_retrying_is_taken_again_after_a_minute(engine, receivers):
    hook = receivers[0]
    channels, key, _ = _chat_down(engine, receivers)
    hook.fail_first = 0

    class Crash(Exception):
        pass

    class Crashing:
        def send(self, message):
            raise Crash

    crash_at = ROUND_1 + timedelta(seconds=31)
    with pytest.raises(Crash):
        dispatch_due(engine, ROUTING, {**channels, "webhook": Crashing()}, now=crash_at)
    assert _log_row(engine, key)["status"] == "sending"
    # another round meanwhile leaves it to the one that took it (it may still be sending)
    assert dispatch_due(engine, ROUTING, channels, now=crash_at + timedelta(seconds=59)) == []
    assert next_due(engine, ROUTING) == crash_at + timedelta(minutes=1)
    [(n, o)] = dispatch_due(engine, ROUTING, channels, now=crash_at + timedelta(seconds=61))
    assert (n.notification_id, o.status) == (key, "delivered")
    assert hook.count_by_key() == {key: 1}


def test_a_deliberate_round_retries_at_once_but_not_past_the_last_round(engine, receivers):
    hook = receivers[0]
    channels, key, _ = _chat_down(engine, receivers)
    at = ROUND_1 + timedelta(seconds=1)
    for _ in range(4):  # an operator re-executing the failed run again and again
        [(n, o)] = dispatch_due(engine, ROUTING, channels, now=at, retry_failed_now=True)
        assert n.notification_id == key and o.status == "failed"
    assert _log_row(engine, key)["dispatches"] == 5
    hook.fail_first = 0
    assert dispatch_due(engine, ROUTING, channels, now=at, retry_failed_now=True) == []
    assert hook.received == []


def test_retry_times_are_added_to_a_notification_log_of_an_older_release(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    old = sa.MetaData()
    old_log = sa.Table("notification_log", old, *[c.copy() for c in notification_log.columns
                                                  if c.name != "retry_at"], schema="ops")
    with engine.begin() as conn:
        notification_log.drop(conn)
        old.create_all(conn)
        conn.execute(old_log.insert().values(
            notification_id="n1", group_key="plant|webhook|E41|fire|line=ASM", sequence=1,
            route_id="plant", channel="webhook", recipient_id="E41", reason="first",
            members="[]", alerts=0, status="failed", attempts=4, dispatches=1,
            created_at=T0))
    ensure_schemas(engine, metadata)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("notification_log",
                                                                 schema="ops")}
    assert "retry_at" in columns
    # failed before retry times were kept: due at once, then on the schedule
    assert next_due(engine, ROUTING) <= datetime.now(UTC).replace(tzinfo=None)
    [(n, o)] = dispatch_due(engine, ROUTING, {}, now=T0 + timedelta(hours=1))
    assert n.notification_id == "n1" and o.status == "failed"
    assert _log_row(engine, "n1")["retry_at"] == T0 + timedelta(hours=1, minutes=1)
    engine.dispose()


def test_an_episode_is_labelled_with_its_line_type_so_routes_serve_any_plant(engine):
    from perf_orchestration.alerting.notifications.matching import episode_labels, matches

    rules = load_rules()
    with engine.connect() as conn:
        device = episode_labels(conn, rules.rule("device-failures-3-per-day"), "T5-D01")
        team = episode_labels(conn, rules.rule("fai-below-92-5"), "T4")
    assert (device["team"], device["line"], device["line_type"]) == ("T5", "ASM", "assembly")
    assert (team["line"], team["line_type"]) == ("ASM", "assembly")
    window = next(w for w in ROUTING.mute_windows if w.id == "sunday-machining-maintenance")
    assert not matches(dict(window.match), device)
    assert matches(dict(window.match), {**device, "line_type": "machining"})


def test_a_device_of_the_plant_s_own_naming_belongs_to_the_team_its_mes_records_name(engine):
    from perf_orchestration.alerting.notifications.matching import episode_labels
    from perf_orchestration.alerting.recipients import subject_teams
    from perf_orchestration.alerting.response import refresh_response_times

    with engine.begin() as conn:
        conn.execute(RAW_TABLES["mes_equipment_events"].insert(), [_raw({
            "event_id": "EV-1", "device_id": "ROB-0042", "device_type": "welding_robot",
            "station_id": "ST-7", "team_id": "T5", "occurred_at": T0,
            "event_type": "failure", "state": "down"}, "EV-1")])
    _device_episode(engine, "ROB-0042", T0)
    with engine.connect() as conn:
        labels = episode_labels(conn, RULES.rule("device-failures-3-per-day"), "ROB-0042")
    assert (labels["team"], labels["line"], labels["line_type"]) == ("T5", "ASM", "assembly")
    assert subject_teams(engine, "device", "ROB-0042") == ["T5"]
    assert [r["team_id"] for r in refresh_response_times(engine)] == ["T5"]
