"""Backfills yield the processor to live work: a backfill's processes run at a lower CPU
priority (a higher nice value), so on a shared machine the sensors' ticks and the action
runs that reach people are not slowed by a year of history landing beside them."""

from __future__ import annotations

import os

#: The nice value a backfill's processes run at (live runs keep 0).
BACKFILL_NICENESS = 10


def is_backfill(tags: dict[str, str]) -> bool:
    """Dagster's own tag of the runs of a backfill launched from the UI or the daemon, or
    `perfflow backfill`'s."""
    return "dagster/backfill" in tags or tags.get("perfflow/kind") == "backfill"


def yield_to_live_work() -> int:
    """Lower this process's CPU priority to BACKFILL_NICENESS (never raises it back);
    the processes it starts afterwards inherit it. Returns the nice value now in force."""
    current = os.nice(0)
    if current < BACKFILL_NICENESS:
        current = os.nice(BACKFILL_NICENESS - current)
    return current
