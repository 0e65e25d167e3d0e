"""People close the tasks the flow gave them; the first one closed marks the episode acted.

`perfflow task list` shows the open tasks; `perfflow task done ID` (a unique prefix of
the id is enough) closes one, stamps `ops.alert_episodes.acted_at` if no task of the
episode was closed before, and refreshes `marts.response_times`, whose signal -> acted
columns then say how long it took from the source's record to a person acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.response import refresh_response_times
from perf_orchestration.tables import alert_episodes, tasks


class TaskError(Exception):
    """A task id that matches no task, or more than one."""


@dataclass(frozen=True)
class ClosedTask:
    task_id: str
    episode_id: str
    owner_id: str
    title: str
    done_at: datetime
    already_done: bool
    episode_acted_at: datetime | None


def open_tasks(engine: Engine) -> list[dict]:
    """Open tasks, the ones due first first."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(tasks.c.task_id, tasks.c.owner_id, tasks.c.owner_role, tasks.c.title,
                      tasks.c.due_at, tasks.c.episode_id)
            .where(tasks.c.status == "open").order_by(tasks.c.due_at, tasks.c.task_id)
        ).mappings()]


def complete_task(engine: Engine, task_id: str, at: datetime | None = None) -> ClosedTask:
    """Close the task whose id is or starts with `task_id`; closing it again changes
    nothing (the first time stands)."""
    if len(task_id) < 6:
        raise TaskError(f"task id {task_id!r}: give at least 6 characters")
    at = at or utcnow()
    with engine.begin() as conn:
        rows = conn.execute(sa.select(tasks).where(tasks.c.task_id.startswith(task_id))
                            .limit(2)).mappings().all()
        if not rows:
            raise TaskError(f"no task {task_id!r} in ops.tasks (see `perfflow task list`)")
        if len(rows) > 1:
            raise TaskError(f"task id {task_id!r} matches more than one task; give more of it")
        task = rows[0]
        already = task["status"] == "done"
        if not already:
            conn.execute(tasks.update().where(tasks.c.task_id == task["task_id"])
                         .values(status="done", done_at=at))
            conn.execute(alert_episodes.update().where(
                alert_episodes.c.episode_id == task["episode_id"],
                alert_episodes.c.acted_at.is_(None)).values(acted_at=at))
        acted = conn.execute(sa.select(alert_episodes.c.acted_at).where(
            alert_episodes.c.episode_id == task["episode_id"])).scalar()
    refresh_response_times(engine)
    return ClosedTask(task["task_id"], task["episode_id"], task["owner_id"], task["title"],
                      task["done_at"] if already else at, already, acted)
