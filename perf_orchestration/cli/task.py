"""`perfflow task list|done`: what people were asked to do, and marking it done."""

from __future__ import annotations

import sys

from perf_orchestration.alerting.task_board import TaskError, complete_task, open_tasks
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.warehouse import make_engine


def run_task(action: str, task_id: str | None, warehouse: str | None) -> int:
    engine = make_engine(warehouse or default_warehouse_url())
    try:
        if action == "list":
            rows = open_tasks(engine)
            for r in rows:
                print(f"{r['task_id'][:12]}  due {r['due_at']:%Y-%m-%d %H:%M} UTC  "
                      f"{r['owner_id']} ({r['owner_role']})  {r['title']}")
            print(f"{len(rows)} open task(s)")
            return 0
        if not task_id:
            print("perfflow task done: give the task id (see `perfflow task list`)",
                  file=sys.stderr)
            return 1
        try:
            closed = complete_task(engine, task_id)
        except TaskError as err:
            print(f"perfflow task done: {err}", file=sys.stderr)
            return 1
        state = "was already done" if closed.already_done else "done"
        print(f"{closed.task_id[:12]} {state} ({closed.owner_id}: {closed.title}); episode "
              f"{closed.episode_id} acted at {closed.episode_acted_at:%Y-%m-%d %H:%M:%S} UTC")
        return 0
    finally:
        engine.dispose()
