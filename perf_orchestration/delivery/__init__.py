"""Delivery channels: how an action reaches a person (signed webhook to a chat, or e-mail).

Plain Python without dagster, so the channels can be used and tested on their own; the
Dagster resource in `resources/delivery.py` builds them from environment variables.
"""

from perf_orchestration.delivery.base import DeliveryError, DeliveryResult, Message
from perf_orchestration.delivery.chat import FLAVORS, build_payload, reply_error
from perf_orchestration.delivery.email import EmailChannel, message_id
from perf_orchestration.delivery.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    sign,
    verify,
)

__all__ = [
    "FLAVORS",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryError",
    "DeliveryResult",
    "EmailChannel",
    "Message",
    "WebhookChannel",
    "build_payload",
    "message_id",
    "reply_error",
    "sign",
    "verify",
]
