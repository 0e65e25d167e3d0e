"""Ad-hoc silences: matchers over alert labels, a time range, who and why.

A silenced alert is held, not lost: its notification waits in `ops.alert_notifications`
until the silence ends, then goes out if it still matters (the episode still fires, or
it is the resolved notice); every hold and release is recorded with the silence id.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.config import LABELS
from perf_orchestration.tables import alert_notifications, silences

S = silences.c


class SilenceError(ValueError):
    """A silence that cannot be created or expired; the message says which field."""


def add_silence(engine: Engine, matchers: dict[str, str], starts_at: datetime,
                ends_at: datetime, created_by: str, comment: str,
                now: datetime | None = None) -> str:
    """Create a silence (UTC naive times) and return its id."""
    if not matchers:
        raise SilenceError("matchers: a silence needs at least one label=value")
    unknown = sorted(set(matchers) - set(LABELS))
    if unknown:
        raise SilenceError(f"matchers: unknown label {', '.join(unknown)} (known: "
                           f"{', '.join(LABELS)})")
    if ends_at <= starts_at:
        raise SilenceError(f"end {ends_at:%Y-%m-%d %H:%M} is not after start "
                           f"{starts_at:%Y-%m-%d %H:%M}")
    if not created_by.strip() or not comment.strip():
        raise SilenceError("author and comment: say who silences and why")
    silence_id = uuid.uuid4().hex[:12]
    with engine.begin() as conn:
        conn.execute(silences.insert().values(
            silence_id=silence_id, matchers=json.dumps(matchers, sort_keys=True),
            starts_at=starts_at, ends_at=ends_at, created_by=created_by, comment=comment,
            created_at=now or utcnow()))
    return silence_id


def expire_silence(engine: Engine, silence_id: str, now: datetime | None = None) -> None:
    """End a silence now; what it held is released at the next dispatch."""
    now = now or utcnow()
    with engine.begin() as conn:
        ends = conn.execute(sa.select(S.ends_at).where(S.silence_id == silence_id,
                                                       S.expired_at.is_(None))).scalar()
        if ends is None:
            raise SilenceError(f"no active silence {silence_id!r} (see `perfflow silence "
                               "list`)")
        ends = ends if isinstance(ends, datetime) else datetime.fromisoformat(ends)
        conn.execute(silences.update().where(S.silence_id == silence_id)
                     .values(expired_at=now, ends_at=min(ends, now)))
        # what it held is due at once (the dispatch sensor looks at hold_until)
        conn.execute(alert_notifications.update().where(
            alert_notifications.c.status == "silenced",
            alert_notifications.c.reason == f"silenced by {silence_id}").values(hold_until=now))


def list_silences(engine: Engine, now: datetime | None = None) -> list[dict]:
    """Silences not yet ended, with their state (pending or active)."""
    now = now or utcnow()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(silences).where(S.ends_at > now)
                            .order_by(S.starts_at)).mappings().all()
    return [{**r, "matchers": json.loads(r["matchers"]),
             "state": "active" if r["starts_at"] <= now else "pending"} for r in rows]


def active_silence(conn: sa.Connection, labels: dict[str, str], now: datetime
                   ) -> tuple[str, datetime] | None:
    """The silence holding an alert with these labels now, and its end (latest end wins)."""
    rows = conn.execute(sa.select(S.silence_id, S.matchers, S.ends_at).where(
        S.starts_at <= now, S.ends_at > now)).all()
    best = None
    for sid, matchers, ends in rows:
        if all(labels.get(k) == v for k, v in json.loads(matchers).items()):
            if best is None or ends > best[1]:
                best = (sid, ends if isinstance(ends, datetime)
                        else datetime.fromisoformat(ends))
    return best
