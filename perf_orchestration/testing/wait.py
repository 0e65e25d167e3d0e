"""Waiting for a receiver to have seen enough, without sleeping longer than needed."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
