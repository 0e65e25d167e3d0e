"""`perfflow ack`: acknowledge an alert, which stops its escalation."""

from __future__ import annotations

import os
import sys

from perf_orchestration.alerting.notifications.escalation import (
    AckError,
    acknowledge,
    verify_ack_link,
)
from perf_orchestration.alerting.notifications.notify import ACK_SECRET_ENV
from perf_orchestration.alerting.response import refresh_response_times
from perf_orchestration.cli.query import default_warehouse_url
from perf_orchestration.warehouse import make_engine


def run_ack(episode_id: str | None, by: str | None, link: str | None,
            warehouse: str | None) -> int:
    try:
        if link:
            secret = os.environ.get(ACK_SECRET_ENV)
            if not secret:
                raise AckError(f"{ACK_SECRET_ENV} is not set: the link cannot be verified")
            episode_id, by = verify_ack_link(secret, link)
        if not episode_id or not by:
            raise AckError("give the episode id and --by PERSON, or --link URL")
        engine = make_engine(warehouse or default_warehouse_url())
        try:
            first = acknowledge(engine, episode_id, by)
            refresh_response_times(engine)
        finally:
            engine.dispose()
    except AckError as err:
        print(f"perfflow ack: {err}", file=sys.stderr)
        return 1
    print(f"{episode_id} {'acknowledged by ' + by if first else 'was already acknowledged'}")
    return 0
