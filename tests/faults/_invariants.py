"""The invariants every fault scenario ends with, read from the warehouse and the receivers.

Each function states its invariants through the `invariant` fixture of conftest.py (so
they are asserted and, for the reliability report, recorded with their counts) and
returns the counts for the scenario's own assertions.

- ingestion: per partition fetched = landed + quarantined, counted in raw.* and
  ops.quarantine themselves (not only in the log); no row both landed and quarantined;
  each natural key landed once; each landed row in the partition of its own event time;
- actions: no action delivered twice (the receivers count arrivals per idempotency key)
  and none lost (every action in ops.action_log ends delivered, visibly failed, or held
  by the routing with a reason, and every delivered one reached a receiver);
- episodes: no firing without a pending before it, no resolved without a firing, and the
  episode rows agree with their transitions.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa

from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.landing import latest_partition_counts
from perf_orchestration.plant_calendar import partition_key
from perf_orchestration.tables import (
    RAW_TABLES,
    action_log,
    alert_episodes,
    alert_notifications,
    alert_transitions,
    notification_log,
    quarantine,
)

DUPLICATE = "duplicate_row"  # an exact copy of a landed row: the copy is quarantined
SETTLED = ("delivered", "failed", "inhibited", "silenced", "dropped")  # visible outcomes


def partition_balance(engine: sa.Engine, table: str) -> dict[str, tuple[int, int, int]]:
    """Per partition logged last: (fetched by that run, rows in raw, rows in quarantine)."""
    raw = RAW_TABLES[table]
    out = {}
    with engine.connect() as conn:
        landed = dict(conn.execute(sa.select(raw.c.partition_key, sa.func.count())
                                   .group_by(raw.c.partition_key)).all())
        held = dict(conn.execute(sa.select(quarantine.c.partition_key, sa.func.count())
                                 .where(quarantine.c.entity == table)
                                 .group_by(quarantine.c.partition_key)).all())
    for row in latest_partition_counts(engine, table):
        key = row["partition_key"]
        out[key] = (row["fetched"], landed.get(key, 0), held.get(key, 0))
    return out


def check_ingestion(invariant, scenario: str, engine: sa.Engine, table: str) -> dict:
    """Nothing lost, nothing in two places, for every partition of `table` logged so far."""
    balance = partition_balance(engine, table)
    unbalanced = {k: v for k, v in balance.items() if v[0] != v[1] + v[2]}
    fetched = sum(v[0] for v in balance.values())
    landed = sum(v[1] for v in balance.values())
    quarantined = sum(v[2] for v in balance.values())
    invariant(scenario, "fetched = landed + quarantined", holds=bool(balance) and not unbalanced,
              table=table, partitions=len(balance), fetched=fetched, landed=landed,
              quarantined=quarantined, unbalanced=unbalanced)

    raw = RAW_TABLES[table]
    q = quarantine.c
    with engine.connect() as conn:
        both = conn.execute(sa.select(sa.func.count(sa.distinct(q.source_record_id))).where(
            q.entity == table, q.failed_expectation != DUPLICATE,
            q.source_record_id.in_(sa.select(raw.c.source_record_id)))).scalar()
        rows, keys = conn.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(raw.c.source_record_id)))).one()
        copies = conn.execute(sa.select(sa.func.count()).where(
            q.entity == table, q.failed_expectation == DUPLICATE,
            q.source_record_id.not_in(sa.select(raw.c.source_record_id)))).scalar()
    invariant(scenario, "no row both landed and quarantined", holds=both == 0, table=table,
              rows_in_both=both)
    invariant(scenario, "each natural key landed once", holds=rows == keys, table=table,
              landed_rows=rows, distinct_keys=keys)
    invariant(scenario, "a quarantined duplicate is a copy of a landed row", holds=copies == 0,
              table=table, orphan_copies=copies)
    return {"partitions": len(balance), "fetched": fetched, "landed": landed,
            "quarantined": quarantined, "balance": balance}


def _partition_of(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return partition_key(value)


def check_own_partition(invariant, scenario: str, engine: sa.Engine, table: str) -> int:
    """Every landed row sits in the hourly partition of its own event time."""
    entity = ENTITIES_BY_TABLE[table]
    raw = RAW_TABLES[table]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(raw.c.source_record_id, raw.c.partition_key,
                                      raw.c[entity.event_time])).all()
    misplaced = [(rid, key, str(at)) for rid, key, at in rows if _partition_of(at) != key]
    invariant(scenario, "each row in the partition of its own time", holds=not misplaced,
              table=table, rows=len(rows), misplaced=misplaced[:5])
    return len(rows)


def check_actions(invariant, scenario: str, engine: sa.Engine, webhook=None, smtp=None,
                  in_flight: frozenset[str] = frozenset()) -> dict:
    """No action delivered twice, none lost.

    `in_flight` names idempotency keys that were on the wire when a process was killed:
    the flow sends them again with the same key (at least once), so a receiver that
    de-duplicates by key acts once; they may arrive twice, never more.
    """
    arrivals: Counter[str] = Counter()
    for receiver in (webhook, smtp):
        if receiver is not None:
            arrivals.update(receiver.count_by_key())
    twice = {k: n for k, n in arrivals.items()
             if n > (2 if k in in_flight else 1)}
    with engine.connect() as conn:
        actions = conn.execute(sa.select(action_log.c.idempotency_key, action_log.c.channel,
                                         action_log.c.status)).all()
        sent_in = dict(conn.execute(sa.select(alert_notifications.c.action_key,
                                              alert_notifications.c.notification_id)).all())
        notices = conn.execute(sa.select(notification_log.c.members, notification_log.c.reason)
                               .where(notification_log.c.status == "delivered")).all()
    in_notices = Counter(k for members, reason in notices if reason != "repeat"
                         for k in json.loads(members))
    twice_by_log = {k: n for k, n in in_notices.items() if n > 1}
    invariant(scenario, "no action delivered twice",
              holds=not twice and not twice_by_log, arrivals=sum(arrivals.values()),
              distinct_keys=len(arrivals), repeated_keys=twice,
              repeated_in_notifications=twice_by_log, in_flight_at_kill=len(in_flight))

    statuses = Counter(status for _, _, status in actions)
    unsettled = [k for k, _, status in actions if status not in SETTLED]
    not_received = []
    if webhook is not None or smtp is not None:
        for key, channel, status in actions:
            if status != "delivered" or channel == "task":
                continue
            wire_key = sent_in.get(key) or key
            if arrivals.get(wire_key, 0) == 0:
                not_received.append(key)
    invariant(scenario, "no action lost", holds=bool(actions) and not unsettled
              and not not_received, actions=len(actions), statuses=dict(statuses),
              unsettled=unsettled[:5], delivered_not_received=not_received[:5])
    return {"actions": len(actions), "statuses": dict(statuses),
            "arrivals": sum(arrivals.values())}


def check_episodes(invariant, scenario: str, engine: sa.Engine) -> dict:
    """Every episode's history follows inactive -> pending -> firing -> resolved (event
    rules: inactive -> fired), and the episode rows agree with it."""
    t = alert_transitions.c
    with engine.connect() as conn:
        moves = conn.execute(sa.select(t.episode_id, t.from_state, t.to_state)
                             .where(t.episode_id.is_not(None))
                             .order_by(t.episode_id, t.at, t.transition_id)).all()
        episodes = conn.execute(sa.select(alert_episodes.c.episode_id, alert_episodes.c.state,
                                          alert_episodes.c.fired_at,
                                          alert_episodes.c.resolved_at)).all()
    history: dict[str, list[str]] = {}
    for eid, _frm, to in moves:
        if to != "error":  # a failed read leaves the episode as it was
            history.setdefault(eid, []).append(to)
    allowed = (["pending"], ["pending", "inactive"], ["pending", "firing"],
               ["pending", "firing", "resolved"], ["fired"])
    broken = {eid: states for eid, states in history.items() if states not in allowed}
    disagree = []
    for eid, state, fired_at, resolved_at in episodes:
        seen = history.get(eid, [])
        ok = {"pending": seen == ["pending"], "cancelled": seen == ["pending", "inactive"],
              "firing": seen == ["pending", "firing"] and fired_at is not None,
              "resolved": seen == ["pending", "firing", "resolved"] and resolved_at is not None,
              "fired": seen == ["fired"] and fired_at is not None}.get(state, False)
        if not ok:
            disagree.append((eid, state, seen))
    firing = sum(1 for states in history.values() if "firing" in states or "fired" in states)
    invariant(scenario, "no firing without pending, no resolved without firing",
              holds=not broken, episodes=len(history), fired=firing, broken=broken)
    invariant(scenario, "episode rows agree with their transitions", holds=not disagree,
              episodes=len(episodes), disagree=disagree[:5])
    return {"episodes": len(episodes), "fired": firing}
