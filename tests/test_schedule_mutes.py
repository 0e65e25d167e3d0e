"""Mute windows from the plant's own schedule: a planned changeover or maintenance in the
MES holds the alerts it explains for its duration plus a grace period, releases what
still matters after it, and records the hold in the episode's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from test_alertmanager import (  # noqa: F401 - engine and receivers are fixtures
    ROUTING,
    RULES,
    T0,
    _device_episode,
    _fai_episode,
    _raw,
    _statuses,
    engine,
    receivers,
)

from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.config import BUNDLED_ROUTING, load_routing
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.config.loading import ConfigError
from perf_orchestration.tables import RAW_TABLES, alert_notifications, alert_transitions


def _stop(engine, stop_id: str, kind: str, start, minutes: float, *, line="ASM",
          team=None, station=None) -> None:
    with engine.begin() as conn:
        conn.execute(RAW_TABLES["mes_planned_stops"].insert().values(**_raw({
            "stop_id": stop_id, "line_id": line, "team_id": team, "station_id": station,
            "kind": kind, "planned_start": start,
            "planned_end": start + timedelta(minutes=minutes)}, stop_id)))


def _device(engine, device: str, station: str) -> None:
    with engine.begin() as conn:
        conn.execute(RAW_TABLES["mes_equipment_events"].insert().values(**_raw({
            "event_id": f"EV-{device}", "device_id": device, "device_type": "robot",
            "station_id": station, "team_id": device.split("-")[0], "occurred_at": T0,
            "event_type": "state_change", "state": "run", "failure_code": None},
            f"EV-{device}")))


def _reasons(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(sa.select(alert_notifications.c.reason)
                            .order_by(alert_notifications.c.reason)).scalars().all()


def _muted(engine, episode: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(
            alert_transitions.c.episode_id == episode,
            alert_transitions.c.to_state == "muted")).scalar()


def test_a_line_changeover_holds_quality_alerts_then_releases_what_still_matters(
        engine, receivers):
    hook, smtp, channels = receivers
    _stop(engine, "PLAN-1", "changeover", T0 - timedelta(minutes=20), 60)  # until T0+40
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    assert _statuses(engine) == {"silenced": 2}
    assert all(r.startswith("planned changeover PLAN-1 of ASM (planned-changeover-quality")
               for r in _reasons(engine))
    assert _muted(engine, episode) == 1
    # during the stop and its 30 minutes of grace nothing goes out
    assert dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=65)) == []
    # after it, the alert still fires: it is sent, once
    sent = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=71))
    sent += dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=90))
    assert [r.status for _, r in sent] == ["delivered", "delivered"]
    assert len(hook.unique()) == 1 and len(smtp.count_by_key()) == 1
    assert _muted(engine, episode) == 1


def test_what_resolves_during_the_stop_is_never_sent_as_a_firing(engine, receivers):
    hook, _, channels = receivers
    _stop(engine, "PLAN-2", "maintenance", T0 - timedelta(minutes=5), 30, team="T4")
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    from perf_orchestration.tables import alert_episodes

    with engine.begin() as conn:
        conn.execute(alert_episodes.update().where(alert_episodes.c.episode_id == episode)
                     .values(state="resolved", resolved_at=T0 + timedelta(minutes=20)))
    dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(minutes=60))
    assert _statuses(engine) == {"dropped": 2}
    assert hook.unique() == []


@pytest.mark.parametrize(("stop", "held"), [
    ({"station": "T4-S02", "team": "T4"}, True),    # the device's own station
    ({"station": "T4-S01", "team": "T4"}, False),   # another station of the team
    ({"team": "T5"}, False),                        # another team
    ({"line": "PNT"}, False),                       # another line
    ({}, True),                                     # its whole line
])
def test_maintenance_holds_the_devices_it_covers_only(engine, receivers, stop, held):
    _, _, channels = receivers
    _device(engine, "T4-D02", "T4-S02")
    _stop(engine, "PLAN-M", "maintenance", T0 - timedelta(minutes=10), 120, **stop)
    episode = _device_episode(engine, "T4-D02", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    statuses = _statuses(engine)
    assert (statuses.get("silenced", 0) > 0) is held, statuses
    assert _muted(engine, episode) == int(held)


def test_a_station_changeover_does_not_hold_its_teams_alerts(engine, receivers):
    _, _, channels = receivers
    _stop(engine, "PLAN-S", "changeover", T0 - timedelta(minutes=10), 40, team="T4",
          station="T4-S03")
    episode = _fai_episode(engine, "T4", T0)
    run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
    assert _statuses(engine) == {"queued": 2}


def test_a_stop_past_its_grace_or_of_another_kind_holds_nothing(engine, receivers):
    _, _, channels = receivers
    _stop(engine, "PLAN-OLD", "changeover", T0 - timedelta(hours=2), 60)  # grace over at -30m
    _device(engine, "T4-D01", "T4-S01")
    _stop(engine, "PLAN-CO", "changeover", T0 - timedelta(minutes=5), 60, station="T4-S01",
          team="T4")  # changeovers do not hold maintenance alerts
    run_episode_actions(engine, RULES, _fai_episode(engine, "T4", T0), channels,
                        routing=ROUTING, now=T0)
    run_episode_actions(engine, RULES, _device_episode(engine, "T4-D01", T0), channels,
                        routing=ROUTING, now=T0)
    assert set(_statuses(engine)) == {"queued"}


def test_schedule_mutes_are_checked(tmp_path):
    path = tmp_path / "routing.yaml"
    text = BUNDLED_ROUTING.read_text()
    path.write_text(text.replace("kinds: [maintenance]", "kinds: [lunch]"))
    with pytest.raises(ConfigError) as err:
        load_routing(path)
    assert "unknown stop kind 'lunch'" in err.value.problems[0]
    assert str(path) in err.value.problems[0]
