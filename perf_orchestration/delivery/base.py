"""Types shared by every delivery channel: the message, the outcome and the config error.

A channel never raises for a delivery that did not go through: it returns a failed
`DeliveryResult`, so the caller records the failure in the action log instead of losing
it. Only a configuration problem (a missing secret, a bad URL) raises `DeliveryError`,
because retrying cannot fix it and an operator must.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from perf_orchestration.clock import now as clock_now
from perf_orchestration.group.plant import plant_scoped

DETAIL_MAX_CHARS = 300


@dataclass(frozen=True)
class Message:
    """One action for one person; the idempotency key lets every receiver drop repeats."""

    idempotency_key: str
    recipient: str
    recipient_name: str
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def wire_key(self) -> str:
        """The key receivers see: with the plant id in front when the plant is one of a
        group, so two plants' messages never collide (perf_orchestration/plant.py)."""
        return plant_scoped(self.idempotency_key)


@dataclass
class DeliveryResult:
    """What happened to one message: the caller stores it next to the idempotency key."""

    status: Literal["delivered", "failed"]
    attempts: int
    detail: str
    delivered_at: datetime | None  # UTC aware, set only when delivered

    @property
    def ok(self) -> bool:
        return self.status == "delivered"


class DeliveryError(Exception):
    """A configuration problem that no retry can fix; the message names the setting."""


def utcnow() -> datetime:
    """An aware UTC timestamp, so stored delivery times never depend on the host's zone;
    on the replay's clock inside a replay (perf_orchestration.clock)."""
    return clock_now().replace(tzinfo=UTC)


def one_line(text: object, limit: int = DETAIL_MAX_CHARS) -> str:
    """Collapse whitespace and clip, so a detail fits one log line and one table cell."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def backoff_delay(retry_number: int, backoff_seconds: float, maximum: float = 120.0) -> float:
    """Seconds to wait before retry `retry_number` (1-based): 0, 2b, 4b, 8b... up to `maximum`.

    This is urllib3 Retry's schedule, so the e-mail channel backs off like the webhook one.
    """
    if retry_number <= 1 or backoff_seconds <= 0:
        return 0.0
    return min(maximum, backoff_seconds * 2 ** (retry_number - 1))
