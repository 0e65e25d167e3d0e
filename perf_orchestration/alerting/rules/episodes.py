"""Alert episodes: the state machine a metric rule runs per subject, counted in windows.

Like Prometheus's `for` / `keep_firing_for`, but counted in whole windows (hours for a
team-hour metric) instead of wall-clock time, because the data arrive per window: a dip
that covers 1h55m breaches one full hour of two and must fire nothing, a dip of exactly two
hours fires exactly once. The machine is pure (no clock, no I/O): a sensor keeps each
subject's `SubjectState` in its cursor, feeds the new windows, and records the transitions;
a backtest replays history through the same code.

States between windows: inactive, pending, firing. `resolved` ends an episode (the subject
is inactive again) and `error` is a marker recorded for a failed observation; neither is a
state a subject stays in. Event rules (count N events per subject and plant day) have no
hysteresis and live in `evaluate_events`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from perf_orchestration.alerting.rules.config import Rule

INACTIVE = "inactive"
PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
NO_DATA = "no_data"
ERROR = "error"
SUBJECT_STATES = (INACTIVE, PENDING, FIRING)


def episode_id_for(rule_id: str, subject: str, episode_start: datetime) -> str:
    """Deterministic, so a replayed window or a re-run sensor names the same episode."""
    return f"{rule_id}|{subject}|{episode_start.isoformat()}"


@dataclass(frozen=True)
class Observation:
    """One window of a subject's metric. `value` None is no data (NULL or absent);
    `signal_at` is when the source record completing the window reached its system."""

    window_start: datetime
    window_end: datetime
    value: float | None
    signal_at: datetime | None = None
    error: bool = False
    line_id: str | None = None


@dataclass(frozen=True)
class SubjectState:
    """What the machine remembers about one subject between calls (a sensor's cursor).

    `last_window_end` lets the next call detect gaps and skip windows it has already seen,
    so feeding the same windows twice changes nothing.
    """

    state: str = INACTIVE
    episode_start: datetime | None = None
    pending_count: int = 0
    ok_count: int = 0
    episode_id: str | None = None
    last_window_end: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (datetimes as ISO strings)."""
        out = asdict(self)
        for key in ("episode_start", "last_window_end"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubjectState:
        """The inverse of to_dict; a corrupt cursor raises ValueError instead of misleading."""
        if not isinstance(data, Mapping):
            raise ValueError(f"subject state must be a mapping, got {type(data).__name__}")
        state = data.get("state", INACTIVE)
        if state not in SUBJECT_STATES:
            raise ValueError(f"subject state {state!r} is not one of {', '.join(SUBJECT_STATES)}")
        counts = {k: data.get(k, 0) for k in ("pending_count", "ok_count")}
        for k, v in counts.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"subject state {k} must be a count, got {v!r}")
        times = {}
        for k in ("episode_start", "last_window_end"):
            v = data.get(k)
            try:
                times[k] = datetime.fromisoformat(v) if isinstance(v, str) else None
            except ValueError:
                raise ValueError(f"subject state {k} is not an ISO time: {v!r}") from None
        episode_id = data.get("episode_id")
        if episode_id is not None and not isinstance(episode_id, str):
            raise ValueError(f"subject state episode_id must be text, got {episode_id!r}")
        if state != INACTIVE and (times["episode_start"] is None or episode_id is None):
            raise ValueError(f"a {state} subject state needs episode_start and episode_id")
        return cls(state, times["episode_start"], counts["pending_count"], counts["ok_count"],
                   episode_id, times["last_window_end"])


@dataclass(frozen=True)
class Transition:
    """One state change of one subject, at the end of the window that caused it."""

    rule_id: str
    subject: str
    episode_id: str | None
    from_state: str
    to_state: str
    window_start: datetime
    at: datetime
    signal_at: datetime | None
    value: float | None
    threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Evaluation(NamedTuple):
    state: SubjectState
    transitions: list[Transition]


_INACTIVE = SubjectState()


def _step(rule: Rule, subject: str, st: SubjectState, start: datetime, end: datetime,
          value: float | None, signal_at: datetime | None, line_id: str | None,
          is_error: bool) -> tuple[SubjectState, list[Transition]]:
    """Advance one window; the caller has checked that it follows the last one."""
    threshold = rule.threshold_for(line_id)

    def move(to: str, episode_id: str | None, frm: str | None = None) -> Transition:
        return Transition(rule.id, subject, episode_id, frm or st.state, to, start, end,
                          signal_at, value, threshold)

    done = replace(st, last_window_end=end)
    if is_error:
        # The episode is untouched either way: a failed read says nothing about the metric.
        return done, [move(ERROR, st.episode_id)] if rule.on_error == "error" else []
    if value is None or math.isnan(value):
        if rule.no_data == "keep":
            return done, []
        holds = rule.no_data == "alerting"
    else:
        holds = rule.breached(value, line_id)

    if holds:
        if st.state == FIRING:
            return replace(done, ok_count=0), []
        out = []
        if st.state == INACTIVE:
            eid = episode_id_for(rule.id, subject, start)
            out.append(move(PENDING, eid))
            done = replace(done, state=PENDING, episode_start=start, pending_count=1,
                           ok_count=0, episode_id=eid)
        else:
            done = replace(done, pending_count=st.pending_count + 1)
        if done.pending_count >= rule.for_:
            out.append(move(FIRING, done.episode_id, frm=PENDING))
            done = replace(done, state=FIRING, ok_count=0)
        return done, out

    if st.state == PENDING:
        return replace(_INACTIVE, last_window_end=end), [move(INACTIVE, st.episode_id)]
    if st.state == FIRING:
        if st.ok_count + 1 >= rule.keep_firing_for:
            return replace(_INACTIVE, last_window_end=end), [move(RESOLVED, st.episode_id)]
        return replace(done, ok_count=st.ok_count + 1), []
    return done, []


def _settled(rule: Rule, st: SubjectState) -> bool:
    """Whether more no-data windows can no longer change anything (ends long gaps early)."""
    if rule.no_data == "ok":
        return st.state == INACTIVE
    if rule.no_data == "alerting":
        return st.state == FIRING and st.ok_count == 0
    return True


def evaluate(rule: Rule, subject: str, previous: SubjectState | None,
             observations: Iterable[Observation]) -> Evaluation:
    """Run a subject's new windows through the machine, from its previous state.

    Windows already covered by `previous` are skipped (a replayed sensor tick sends
    nothing twice); each window missing between two observations counts as no data;
    overlapping, misaligned windows raise ValueError.
    """
    if rule.metric is None:
        raise ValueError(f"rule {rule.id} is an event rule: use evaluate_events")
    st = previous or _INACTIVE
    out: list[Transition] = []
    for obs in sorted(observations, key=lambda o: o.window_start):
        width = obs.window_end - obs.window_start
        if width <= timedelta(0):
            raise ValueError(f"rule {rule.id}, {subject}: window {obs.window_start} ends at "
                             f"{obs.window_end}, not after it starts")
        last = st.last_window_end
        if last is not None:
            if obs.window_end <= last:
                continue
            if obs.window_start < last:
                raise ValueError(f"rule {rule.id}, {subject}: window {obs.window_start} - "
                                 f"{obs.window_end} overlaps the window ending {last}")
            missing = (obs.window_start - last) // width
            gap_start = last
            for _ in range(missing):
                if _settled(rule, st):
                    break
                st, moved = _step(rule, subject, st, gap_start, gap_start + width, None, None,
                                  obs.line_id, False)
                out += moved
                gap_start += width
        st, moved = _step(rule, subject, st, obs.window_start, obs.window_end, obs.value,
                          obs.signal_at, obs.line_id, obs.error)
        out += moved
    return Evaluation(st, out)


def evaluate_subjects(rule: Rule, states: Mapping[str, SubjectState],
                      observations_by_subject: Mapping[str, Sequence[Observation]]
                      ) -> tuple[dict[str, SubjectState], list[Transition]]:
    """`evaluate` for every subject of a rule: the new states (all subjects seen before or
    now) and the transitions, in subject order."""
    new_states = dict(states)
    out: list[Transition] = []
    for subject in sorted(observations_by_subject):
        st, moved = evaluate(rule, subject, states.get(subject),
                             observations_by_subject[subject])
        new_states[subject] = st
        out += moved
    return new_states, out


def observations_from(values: Sequence[float | None], start: datetime,
                      width: timedelta = timedelta(hours=1), line_id: str | None = None
                      ) -> list[Observation]:
    """Consecutive windows holding `values` (None = no data), signal at each window's end."""
    return [Observation(start + i * width, start + (i + 1) * width, v,
                        start + (i + 1) * width, line_id=line_id)
            for i, v in enumerate(values)]


def fires_when(rule: Rule, values: Sequence[float | None],
               start: datetime = datetime(2026, 1, 1)) -> list[int]:
    """Indices of the windows at whose end the rule fires, from an inactive subject."""
    width = timedelta(hours=1)
    _, moved = evaluate(rule, "subject", None, observations_from(values, start, width))
    return [(t.window_start - start) // width for t in moved if t.to_state == FIRING]


# --- event rules ----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One source event attributed to a subject (e.g. a device's failure)."""

    subject: str
    at: datetime  # aware: when the event happened
    local_date: str  # the plant day it belongs to (plant_calendar), e.g. 2026-11-02
    record_id: str


@dataclass(frozen=True)
class Firing:
    """An event rule reaching its count for a subject and plant day (or one event)."""

    rule_id: str
    subject: str
    episode_id: str
    local_date: str
    signal_at: datetime
    record_ids: tuple[str, ...] = field(default=())


def evaluate_events(rule: Rule, events: Iterable[Event],
                    previous_fired: Collection[str] = frozenset()) -> list[Firing]:
    """New firings of an event rule: once per subject and plant day when the day's count
    reaches `count_at_least` (signal at the event that reached it), or once per event for
    `per: event`. Episode ids in `previous_fired` are not fired again, and an event seen
    twice (same record id) counts once, so re-evaluating the same events fires nothing new.
    """
    if rule.event is None or rule.condition.count_at_least is None:
        raise ValueError(f"rule {rule.id} is a metric rule: use evaluate")
    need = rule.condition.count_at_least
    per_event = rule.condition.per == "event"
    groups: dict[tuple[str, str], dict[str, Event]] = {}
    for ev in events:
        if ev.at.tzinfo is None or ev.at.utcoffset() is None:
            raise ValueError(f"rule {rule.id}: event {ev.record_id} has a naive time {ev.at}; "
                             "event times must carry their offset")
        key = (ev.subject, ev.record_id if per_event else ev.local_date)
        seen = groups.setdefault(key, {})
        if ev.record_id not in seen or ev.at < seen[ev.record_id].at:
            seen[ev.record_id] = ev
    out = []
    for (subject, period), by_id in groups.items():
        if len(by_id) < need:
            continue
        ordered = sorted(by_id.values(), key=lambda e: (e.at, e.record_id))[:need]
        episode_id = f"{rule.id}|{subject}|{period}"
        if episode_id in previous_fired:
            continue
        out.append(Firing(rule.id, subject, episode_id, ordered[-1].local_date,
                          ordered[-1].at, tuple(e.record_id for e in ordered)))
    return sorted(out, key=lambda f: (f.signal_at, f.subject, f.episode_id))
