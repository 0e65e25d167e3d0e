"""Watching the source systems live: new records since a cursor, judged as they arrive.

The source watch sensor calls `watch_tick` every few seconds. Each tick reads only what
changed at each watched source entity since the cursor (one `since` call per entity),
so a tick costs the same whatever the history. It then

- adds first-article inspections to their team-hour windows and judges every window
  that has closed: an hour is closed once a record at least `lateness_seconds` past its
  end has arrived; the signal time of the window is that record's `updated_at` (the
  moment the source could tell the hour was complete);
- counts equipment failures per device and plant day;

and runs the same episode machine and event rules as the rules asset, recording through
`alerting.store` (a window or firing either evaluator has judged is not judged again). The
action runs it asks for are those of its own transitions, read back past the cursor's
transition id, so a tick that fails after recording still launches them on the next one.

The cursor is JSON: per entity the source cursor, the newest event time seen, the open
windows (record ids and outcome) and the failures of recent days. It stays small: one
or two open hours per team and two plant days of failures.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.rules import Event, Observation, Rule, RuleSet, evaluate_events
from perf_orchestration.alerting.store import (
    SOURCE_WATCH,
    ActionRequest,
    EvaluationResult,
    action_requests_since,
    fired_episode_ids,
    record_event_firings,
    record_metric_evaluation,
)
from perf_orchestration.ingestion.client import SourceCallError
from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.ingestion.sources import SourceReader, SourceSettingError
from perf_orchestration.plant_calendar import calendar_row
from perf_orchestration.tables import RAW_TABLES

HOUR = timedelta(hours=1)
FAILURES = "mes_equipment_events"
CURSOR_VERSION = 1


@dataclass(frozen=True)
class LiveMetric:
    """A team-hour metric computed from one source entity's records as they arrive:
    records of the hour passing `passes` over all records of the hour. The same formula
    as the mart's (tests hold the two equal over the default day)."""

    metric: str
    entity: str
    id_field: str
    time_field: str
    passes: Callable[[dict], bool]


LIVE_METRICS: dict[str, LiveMetric] = {
    m.metric: m for m in (
        LiveMetric("first_article_pass_rate", "mes_first_article_inspections",
                   "inspection_id", "inspected_at", lambda r: r.get("result") == "pass"),
    )
}


def live_metric_rules(rules: RuleSet) -> tuple[Rule, ...]:
    """The metric rules the sensor can judge from the sources (team subjects of a live
    metric); every other metric rule is judged by the rules asset only."""
    return tuple(r for r in rules.metric_rules
                 if r.metric in LIVE_METRICS and r.subject == "team")


def live_event_rules(rules: RuleSet) -> tuple[Rule, ...]:
    return tuple(r for r in rules.event_rules if r.event == "equipment_failure")


def _aware(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO time, got {value!r}")
    t = datetime.fromisoformat(value)
    if t.tzinfo is None:
        raise ValueError(f"time {value!r} carries no offset")
    return t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


@dataclass
class EntityCursor:
    since: str | None = None  # the source's resume cursor
    watermark: str | None = None  # newest event time seen (ISO, UTC)
    windows: dict[str, dict[str, int]] = field(default_factory=dict)  # team|hour -> id -> pass
    days: dict[str, dict[str, str]] = field(default_factory=dict)  # device|date -> id -> at


@dataclass
class WatchCursor:
    entities: dict[str, EntityCursor] = field(default_factory=dict)
    transition_id: int = 0

    def to_json(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "transition_id": self.transition_id,
                           "entities": {k: vars(v) for k, v in self.entities.items()}},
                          separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> WatchCursor:
        """The cursor a previous tick stored; a missing or unreadable one starts afresh
        (ValueError for a cursor of another version, so it is not silently misread)."""
        if not text:
            return cls()
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError(f"source watch cursor has version {data.get('v')!r}, "
                             f"expected {CURSOR_VERSION}")
        return cls({k: EntityCursor(**v) for k, v in data.get("entities", {}).items()},
                   int(data.get("transition_id", 0)))


@dataclass
class TickOutcome:
    cursor: WatchCursor
    requests: list[ActionRequest] = field(default_factory=list)
    fetched: dict[str, int] = field(default_factory=dict)
    windows_judged: int = 0
    late_records: int = 0
    unreadable_records: int = 0
    evaluation: EvaluationResult = field(default_factory=EvaluationResult)
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        fetched = ", ".join(f"{k} {v}" for k, v in sorted(self.fetched.items())) or "nothing"
        parts = [f"fetched {fetched}", f"{self.windows_judged} window(s) judged",
                 f"fired {self.evaluation.fired or 'nothing'}"]
        if self.late_records:
            parts.append(f"{self.late_records} record(s) for hours already judged")
        if self.unreadable_records:
            parts.append(f"{self.unreadable_records} unreadable record(s) left to ingestion")
        parts += self.errors
        return "; ".join(parts)


def _fetch(client: SourceReader, entity: str, cur: EntityCursor, start: datetime
           ) -> list[dict]:
    name = ENTITIES_BY_TABLE[entity].name
    result = (client.fetch(name, since=cur.since) if cur.since
              else client.fetch(name, start=start))
    cur.since = result.cursor or cur.since
    return result.items


def _judge_windows(lm: LiveMetric, cur: EntityCursor, records: list[dict], lateness: timedelta,
                   outcome: TickOutcome) -> dict[str, list[Observation]]:
    """Add the records to their windows and return the closed ones, per team."""
    readable = []
    for r in records:
        try:
            readable.append((_aware(r.get("updated_at")), _aware(r.get(lm.time_field)),
                             str(r["team_id"]), str(r[lm.id_field]), lm.passes(r)))
        except (KeyError, TypeError, ValueError):
            outcome.unreadable_records += 1
    readable.sort(key=lambda x: x[0])
    watermark = _aware(cur.watermark) if cur.watermark else None
    raised_to: list[datetime] = []  # the watermark after each raise, and the record raising it
    raised_by: list[datetime] = []
    for updated, at, team, rid, passed in readable:
        start = at.replace(minute=0, second=0, microsecond=0)
        key = f"{team}|{start.isoformat()}"
        if watermark is not None and start + HOUR + lateness <= watermark \
                and key not in cur.windows:
            outcome.late_records += 1
            continue
        cur.windows.setdefault(key, {})[rid] = int(passed)
        if watermark is None or at > watermark:
            watermark = at
            raised_to.append(at)
            raised_by.append(updated)
    cur.watermark = _iso(watermark)
    closed: dict[str, list[Observation]] = {}
    if watermark is None:
        return closed
    for key in sorted(cur.windows):
        team, _, start_iso = key.partition("|")
        start = datetime.fromisoformat(start_iso)
        due = start + HOUR + lateness
        if due > watermark:
            continue
        outcomes = cur.windows.pop(key)
        i = bisect.bisect_left(raised_to, due)
        signal = raised_by[i] if i < len(raised_by) else None
        value = sum(outcomes.values()) / len(outcomes) if outcomes else None
        closed.setdefault(team, []).append(Observation(
            _naive(start), _naive(start + HOUR), value, signal and _naive(signal)))
        outcome.windows_judged += 1
    return closed


def _team_lines(engine: Engine) -> dict[str, str]:
    teams = RAW_TABLES["hr_teams"]
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(teams.c.team_id, teams.c.line_id)).all())


def _with_lines(closed: dict[str, list[Observation]], lines: Mapping[str, str]
                ) -> dict[str, list[Observation]]:
    return {team: [Observation(o.window_start, o.window_end, o.value, o.signal_at,
                               line_id=lines.get(team)) for o in obs]
            for team, obs in closed.items()}


def _count_failures(engine: Engine, rules: RuleSet, event_rules: tuple[Rule, ...],
                    cur: EntityCursor, records: list[dict], now: datetime,
                    outcome: TickOutcome) -> None:
    touched = set()
    for r in records:
        if r.get("event_type") != "failure":
            continue
        try:
            at = _aware(r.get("occurred_at"))
            key = f"{r['device_id']}|{calendar_row(at)['local_date']}"
            cur.days.setdefault(key, {})[str(r["event_id"])] = at.isoformat()
        except (KeyError, TypeError, ValueError):
            outcome.unreadable_records += 1
            continue
        touched.add(key)
        if cur.watermark is None or at > _aware(cur.watermark):
            cur.watermark = at.isoformat()
    if cur.watermark:  # two plant days are enough to finish counting any day
        oldest = str(calendar_row(_aware(cur.watermark) - timedelta(days=2))["local_date"])
        cur.days = {k: v for k, v in cur.days.items() if k.partition("|")[2] >= oldest}
    if not touched:
        return
    events = [Event(key.partition("|")[0], datetime.fromisoformat(at),
                    key.partition("|")[2], rid)
              for key in sorted(touched) for rid, at in cur.days.get(key, {}).items()]
    with engine.begin() as conn:
        for rule in event_rules:
            candidates = {f"{rule.id}|{k}" for k in touched} | {
                f"{rule.id}|{k.partition('|')[0]}|{rid}" for k in touched
                for rid in cur.days.get(k, {})}
            firings = evaluate_events(rule, events, fired_episode_ids(conn, rule.id, candidates))
            outcome.evaluation.add(record_event_firings(
                conn, rule, rules.stamp, firings, recorded_by=SOURCE_WATCH, stamp=now))


def watch_tick(engine: Engine, rules: RuleSet, clients: Mapping[str, SourceReader],
               cursor: WatchCursor, now: datetime | None = None) -> TickOutcome:
    """One tick: read what changed at the sources, judge it, and return the action runs
    to launch with the next cursor. A source that fails is named in `errors` and read
    again from the same place next tick; the others go on."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    outcome = TickOutcome(cursor)
    metric_rules, event_rules = live_metric_rules(rules), live_event_rules(rules)
    lateness = timedelta(seconds=rules.watch.lateness_seconds)
    first_start = now - timedelta(hours=rules.watch.lookback_hours)
    entities = {LIVE_METRICS[r.metric].entity for r in metric_rules}  # type: ignore[index]
    if event_rules:
        entities.add(FAILURES)
    for entity in sorted(entities):
        cur = cursor.entities.setdefault(entity, EntityCursor())
        system = ENTITIES_BY_TABLE[entity].system
        try:  # the cursor moves only once the whole read succeeded
            records = _fetch(clients[system], entity, cur, first_start)
        except (SourceCallError, SourceSettingError) as err:
            outcome.errors.append(f"{entity}: {err}")
            continue
        outcome.fetched[entity] = len(records)
        if entity == FAILURES:
            _count_failures(engine, rules, event_rules, cur, records, _naive(now), outcome)
            continue
        live = [r for r in metric_rules if LIVE_METRICS[r.metric].entity == entity]  # type: ignore[index]
        closed = _judge_windows(LIVE_METRICS[live[0].metric], cur, records,  # type: ignore[index]
                                lateness, outcome)
        if closed:
            observations = _with_lines(closed, _team_lines(engine))
            for rule in live:
                outcome.evaluation.add(record_metric_evaluation(
                    engine, rule, rules.stamp, observations, recorded_by=SOURCE_WATCH,
                    now=_naive(now)))
    outcome.requests = action_requests_since(engine, cursor.transition_id, SOURCE_WATCH)
    if outcome.requests:
        cursor.transition_id = outcome.requests[-1].transition_id
    return outcome
