"""An episode a replay recorded is acted on by the replay's clock (perf_orchestration.clock).

Its action run starts the clock at the episode's firing (or resolution, for the resolved
notice) and lets it advance with the real time the work takes. Instead of sleeping
through a notification group's wait, the clock jumps to the moment the group is due and
the group is dispatched then, so every time the run stores is the time the plant would
have seen. Later turns (a still-firing reminder hours on) are not replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.notifications.config import RoutingConfig
from perf_orchestration.alerting.notifications.notify import dispatch_due, next_due
from perf_orchestration.clock import REPLAY, advance_to, now
from perf_orchestration.tables import alert_episodes

HORIZON = timedelta(minutes=15)  # group waits and intervals dispatched within the replay
MAX_TURNS = 20


def replay_start(engine: Engine, episode_id: str, kind: str) -> datetime | None:
    """When the replay's clock starts for this episode's action run; None off a replay."""
    e = alert_episodes.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(e.clock, e.fired_at, e.resolved_at)
                           .where(e.episode_id == episode_id)).first()
    if row is None or row.clock != REPLAY:
        return None
    at = row.resolved_at if kind == "resolved" and row.resolved_at else row.fired_at
    return datetime.fromisoformat(at) if isinstance(at, str) else at


def dispatch_replayed(engine: Engine, routing: RoutingConfig, channels: Mapping) -> list:
    """Dispatch, turn by turn on the replay's clock, what falls due within the horizon."""
    until = now() + HORIZON
    sent: list = []
    for _ in range(MAX_TURNS):
        due = next_due(engine, routing)
        if due is None or due > until:
            break
        advance_to(due)
        turn = dispatch_due(engine, routing, channels)
        if not turn:
            break
        sent += turn
    return sent
