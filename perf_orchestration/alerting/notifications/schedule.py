"""Mute windows from the plant's own schedule: planned changeovers and maintenance.

A station in a planned changeover fails its first articles and stops on purpose; a line
under planned maintenance reports its devices down. routing.yaml's `schedule_mutes` say
which alerts (label matchers) the MES's planned stops (`raw.mes_planned_stops`) hold, and
for how long after the planned end (a grace period). A held notification waits as
`silenced` with the stop named in its reason, exactly as a hand-written mute window
holds it, and is released when the stop and its grace are over if it still matters; the
episode's history (`ops.alert_transitions`) gets a `muted` entry.

Which alerts a stop covers: a stop of one station holds the alerts of that station and of
its devices, never those of its whole team (a team changes over one station or another
most of the day; its first-article rate is judged on all of them); a stop of a team holds
the team's alerts and its devices'; a stop of a whole line holds every alert of that line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from perf_orchestration.tables import RAW_TABLES, alert_transitions

STOP_KINDS = ("changeover", "maintenance")
PLANNED = "planned "  # how a hold by a planned stop reads


class ScheduleMute(BaseModel):
    """Alerts matching `match` are held while a planned stop of one of `kinds` covers them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kinds: tuple[str, ...] = Field(default=STOP_KINDS, min_length=1,
                                   description="changeover, maintenance")
    match: dict[str, str] = Field(default_factory=dict, description="alert label matchers")
    grace_minutes: float = Field(default=30, ge=0, le=24 * 60,
                                 description="how long after the planned end the hold lasts")
    reason: str = Field(min_length=1)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(kinds) - set(STOP_KINDS))
        if unknown:
            raise ValueError(f"unknown stop kind {', '.join(map(repr, unknown))} (known: "
                             f"{', '.join(STOP_KINDS)})")
        return kinds


def _station_of(conn: sa.Connection, device: str) -> str | None:
    events = RAW_TABLES["mes_equipment_events"]
    return conn.execute(sa.select(events.c.station_id).where(events.c.device_id == device)
                        .order_by(events.c.occurred_at.desc()).limit(1)).scalar()


def _covers(stop, labels: dict[str, str], station: str | None) -> bool:
    if stop.station_id:
        return station == stop.station_id
    if stop.team_id:
        return labels.get("team") == stop.team_id
    return labels.get("line") == stop.line_id


def planned_stop_hold(conn: sa.Connection, mutes: tuple[ScheduleMute, ...],
                      labels: dict[str, str], now: datetime) -> tuple[str, datetime] | None:
    """The planned stop holding an alert with `labels` at `now` (UTC naive), as (reason,
    end of the hold), or None."""
    from perf_orchestration.alerting.notifications.matching import matches

    wanted = [m for m in mutes if matches(m.match, labels)]
    if not wanted:
        return None
    stops = RAW_TABLES["mes_planned_stops"]
    longest = timedelta(minutes=max(m.grace_minutes for m in wanted))
    candidates = conn.execute(sa.select(stops).where(
        stops.c.kind.in_(sorted({k for m in wanted for k in m.kinds})),
        stops.c.planned_start <= now, stops.c.planned_end > now - longest,
        sa.or_(stops.c.line_id == labels.get("line"), stops.c.team_id == labels.get("team")))
        .order_by(stops.c.planned_end.desc())).all()
    if not candidates:
        return None
    station = labels.get("station") or (_station_of(conn, labels["device"])
                                        if "device" in labels else None)
    for stop in candidates:
        for mute in wanted:
            end = stop.planned_end + timedelta(minutes=mute.grace_minutes)
            if stop.kind in mute.kinds and now < end and _covers(stop, labels, station):
                where = stop.station_id or stop.team_id or stop.line_id
                return (f"{PLANNED}{stop.kind} {stop.stop_id} of {where} ({mute.id}: "
                        f"{mute.reason})", end)
    return None


def record_muted(conn: sa.Connection, episode: dict, now: datetime) -> None:
    """A `muted` entry in the episode's history, once per episode."""
    t = alert_transitions.c
    done = conn.execute(sa.select(t.transition_id).where(
        t.episode_id == episode["episode_id"], t.to_state == "muted")).first()
    if done:
        return
    conn.execute(alert_transitions.insert().values(
        episode_id=episode["episode_id"], rule_id=episode["rule_id"],
        subject=episode["subject"], from_state=episode["state"], to_state="muted",
        window_start=episode["episode_start"], at=now, value=episode["value"],
        threshold=episode["threshold"], recorded_at=now, recorded_by="routing"))
