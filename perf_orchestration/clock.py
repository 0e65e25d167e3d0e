"""Which clock an alert episode's times are on, and the replay's own clock.

A plant's own runs, hourly or live, are on the wall clock. A replay of a scenario (the
demo's main job, tagged `perfflow/clock: replay`) runs on the scenario's clock end to end:
an episode it records keeps `clock = replay`, is detected at the close of the window that
fired it, and its actions run with `now()` starting at its firing time and advancing with
the real time they take (and jumping ahead to a notification's group wait instead of
sleeping through it). So a replayed episode's response times are those the plant would
have seen; no figure subtracts times of two clocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

CLOCK_TAG = "perfflow/clock"
WALL, REPLAY = "wall", "replay"
CLOCKS = (WALL, REPLAY)
BASIS = {WALL: "signal -> delivered (wall clock)",
         REPLAY: "signal -> delivered (the scenario's clock)"}

_current: ContextVar[str] = ContextVar("perfflow_clock", default=WALL)
_shift: ContextVar[timedelta] = ContextVar("perfflow_clock_shift", default=timedelta(0))


def current() -> str:
    return _current.get()


def now() -> datetime:
    """Naive UTC now on the clock in force: the wall's, or the replay's."""
    return datetime.now(UTC).replace(tzinfo=None) + _shift.get()


def advance_to(at: datetime) -> None:
    """Inside `replay_from`: move the replay's clock forward to `at` (never back)."""
    if current() == REPLAY and at > now():
        _shift.set(_shift.get() + (at - now()))


@contextmanager
def replay_from(at: datetime) -> Iterator[None]:
    """Run the block on the replay's clock, starting at `at` (naive UTC)."""
    token = _current.set(REPLAY)
    shift = _shift.set(at - datetime.now(UTC).replace(tzinfo=None))
    try:
        yield
    finally:
        _shift.reset(shift)
        _current.reset(token)


@contextmanager
def on_clock(clock: str | None) -> Iterator[str]:
    """Record the episodes of the block on `clock` (a run's `perfflow/clock` tag)."""
    name = clock if clock in CLOCKS else WALL
    token = _current.set(name)
    try:
        yield name
    finally:
        _current.reset(token)


def response_seconds(episode: dict, end: str = "delivered_at") -> float | None:
    """Seconds from the episode's signal to `end`, both on the episode's own clock."""
    start, stop = episode.get("signal_at"), episode.get(end)
    if start is None or stop is None:
        return None
    return (_dt(stop) - _dt(start)).total_seconds()


def _dt(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value
