"""Notices to the operations team about the flow itself: a failed run of any job.

The run-failure sensor builds one message per failed run (its idempotency key is the
run id, so a re-evaluated tick sends nothing twice) and sends it on the operations
channel: the team chat webhook, addressed to the `operations` recipient.
"""

from __future__ import annotations

from perf_orchestration.delivery.base import Message

OPERATIONS = "operations"


def run_failure_message(job: str, run_id: str, error: str, failed_steps: list[str],
                        ui_base: str | None = None) -> Message:
    steps = ", ".join(failed_steps) or "the run itself"
    link = f"\nRun: {ui_base.rstrip('/')}/runs/{run_id}" if ui_base else ""
    return Message(
        idempotency_key=f"run-failure|{run_id}", recipient=OPERATIONS,
        recipient_name="Operations", subject=f"[perfflow] {job} failed ({steps})",
        body=f"Job {job}, run {run_id}, failed in {steps}:\n{error[:1500]}{link}",
        data={"kind": "run_failure", "job": job, "run_id": run_id, "steps": failed_steps})
