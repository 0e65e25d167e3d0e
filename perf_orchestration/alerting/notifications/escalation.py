"""Acknowledgement and escalation: a fired alert nobody acknowledges in time goes up.

A recipient acknowledges with `perfflow ack EPISODE --by PERSON`, or through the signed
link in the notification (`ack_link`; the endpoint of `ack_server.py` verifies it with
`verify_ack_link` and calls `acknowledge`). A link carries its expiry inside the signed payload
(`ACK_LINK_TTL` after it was made), so a link forwarded, logged or leaked stops working,
and its expiry cannot be pushed back without the secret. An episode whose rule has an
`escalation` and that nobody acknowledged `after_minutes` after it fired (and whose
firing reached someone: an inhibited or silenced alert does not escalate) is told once
to the escalation role of its subject (team leader -> workshop director). Both are rows
in the episode's history (`ops.alert_transitions`: `acknowledged`, `escalated`) and times
on the episode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import ActionSpec, claim, deliver, plan_actions, utcnow
from perf_orchestration.alerting.rules import RuleSet
from perf_orchestration.clock import current as current_clock
from perf_orchestration.tables import action_log, alert_episodes, alert_transitions

E = alert_episodes.c
ESCALATION_ACTION = "escalation"


class AckError(ValueError):
    """An acknowledgement that cannot be taken: unknown episode, bad or forged link."""


# How long an acknowledgement link works: long enough for a weekend alert to be answered
# on Monday; after that `perfflow ack EPISODE --by PERSON` still works.
ACK_LINK_TTL = timedelta(hours=72)


def _epoch(at: datetime) -> int:
    """Whole seconds since 1970 of `at` (naive times are UTC, as in the warehouse)."""
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())


def ack_token(secret: str, episode_id: str, person_id: str, expires: int) -> str:
    """HMAC-SHA256 of the episode, the person and the expiry (seconds since 1970), encoded
    as a JSON list so no field can bleed into another (episode ids contain '|')."""
    message = json.dumps([episode_id, person_id, expires], separators=(",", ":")).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def ack_link(base_url: str, secret: str, episode_id: str, person_id: str,
             expires_at: datetime | None = None) -> str:
    """A signed link acknowledging `episode_id` as `person_id`, valid until `expires_at`
    (default: ACK_LINK_TTL from now, wall-clock time, as people click in it)."""
    expires = _epoch(expires_at or utcnow() + ACK_LINK_TTL)
    query = urlencode({"episode": episode_id, "by": person_id, "exp": expires,
                       "sig": ack_token(secret, episode_id, person_id, expires)})
    return f"{base_url}?{query}"


def verify_ack_link(secret: str, url: str, now: datetime | None = None) -> tuple[str, str]:
    """The episode and person of a signed, unexpired acknowledgement link, or AckError."""
    query = parse_qs(urlsplit(url).query)
    try:
        episode, person, exp, sig = (query[k][0] for k in ("episode", "by", "exp", "sig"))
    except KeyError:
        raise AckError("the link lacks episode, by, exp or sig (links sent before links "
                       "carried an expiry are no longer accepted)") from None
    if not exp.isdigit() or len(exp) > 12:
        raise AckError(f"the link's expiry {exp!r} is not a time")
    if not hmac.compare_digest(sig.encode("utf-8", "replace"),
                               ack_token(secret, episode, person, int(exp)).encode()):
        raise AckError("the link's signature does not match (forged, altered or for another "
                       "secret)")
    if _epoch(now or utcnow()) > int(exp):
        expired = datetime.fromtimestamp(int(exp), UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise AckError(f"the link expired at {expired}; acknowledge with `perfflow ack "
                       f"{episode} --by {person}`")
    return episode, person


def _transition(conn, row, to_state: str, at: datetime) -> None:
    conn.execute(alert_transitions.insert().values(
        episode_id=row["episode_id"], rule_id=row["rule_id"], subject=row["subject"],
        from_state=row["state"], to_state=to_state, window_start=row["episode_start"],
        at=at, value=row["value"], threshold=row["threshold"], recorded_at=at,
        recorded_by="people"))


def acknowledge(engine: Engine, episode_id: str, by: str, now: datetime | None = None
                ) -> bool:
    """Record the first acknowledgement of an episode; False if it was acknowledged.

    The update only takes an unacknowledged episode, so two clicks arriving together
    (a double tap, two recipients) record one acknowledgement: the second waits for the
    first's row lock and then finds nothing to update."""
    now = now or utcnow()
    with engine.begin() as conn:
        row = conn.execute(sa.select(alert_episodes).where(E.episode_id == episode_id)
                           ).mappings().first()
        if row is None:
            raise AckError(f"no episode {episode_id!r} in ops.alert_episodes")
        if row["acknowledged_at"] is not None:
            return False
        taken = conn.execute(alert_episodes.update().where(
            E.episode_id == episode_id, E.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by=by)).rowcount
        if taken != 1:
            return False
        _transition(conn, row, "acknowledged", now)
    return True


def _told(conn, episode_id: str) -> bool:
    return conn.execute(sa.select(action_log.c.idempotency_key).where(
        action_log.c.episode_id == episode_id, action_log.c.kind == "fire",
        action_log.c.channel != "task", action_log.c.status == "delivered").limit(1)
    ).first() is not None


def _waiting(conn, rules: RuleSet):
    rows = conn.execute(sa.select(alert_episodes).where(
        E.state.in_(("firing", "fired")), E.acknowledged_at.is_(None),
        E.escalated_at.is_(None), E.fired_at.is_not(None),
        E.clock == current_clock())).mappings().all()  # the dispatcher's own clock
    out = []
    for row in rows:
        try:
            rule = rules.rule(row["rule_id"])
        except KeyError:
            continue
        if rule.escalation is not None:
            out.append((row, rule, row["fired_at"] + timedelta(
                minutes=rule.escalation.after_minutes)))
    return out


def next_escalation(engine: Engine, rules: RuleSet) -> datetime | None:
    with engine.connect() as conn:
        due = [d for row, _, d in _waiting(conn, rules) if _told(conn, row["episode_id"])]
    return min(due, default=None)


def escalate_due(engine: Engine, rules: RuleSet, channels: Mapping,
                 now: datetime | None = None) -> list:
    """Tell the escalation role of every episode nobody acknowledged in time, once."""
    from perf_orchestration.alerting.evaluate import episode_facts

    now = now or utcnow()
    with engine.connect() as conn:
        due = [(row, rule) for row, rule, at in _waiting(conn, rules)
               if at <= now and _told(conn, row["episode_id"])]
    results = []
    for row, rule in due:
        esc = rule.escalation
        _, facts = episode_facts(engine, rules, row["episode_id"])
        # the episode is escalated only if still nobody acknowledged it and no other
        # dispatcher escalated it since it was read: an acknowledgement arriving meanwhile
        # stops the escalation instead of following it
        with engine.begin() as conn:
            taken = conn.execute(alert_episodes.update().where(
                E.episode_id == row["episode_id"], E.escalated_at.is_(None),
                E.acknowledged_at.is_(None)).values(escalated_at=now)).rowcount
            if taken:
                _transition(conn, row, "escalated", now)
        if not taken:
            continue
        spec = ActionSpec(ESCALATION_ACTION, esc.role, esc.channel, "escalation_notice")
        planned = plan_actions(engine, facts, [spec], "escalate", now)
        results += deliver(engine, claim(engine, planned, None, now), channels)
    return results
