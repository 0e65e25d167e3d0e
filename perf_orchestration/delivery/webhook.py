"""Signed webhook delivery: HMAC-SHA256 over timestamp and body, retries with backoff.

Every request carries `Idempotency-Key`, `X-Perfflow-Timestamp` (unix seconds) and
`X-Perfflow-Signature: sha256=<hex>` over `f"{timestamp}.".encode() + body`, so a
receiver can check that the alert comes from this system, is unaltered and is recent.
An unsigned request is never sent. Delivery problems (refused connections, timeouts,
429, 5xx, platform error codes) end in a failed `DeliveryResult`, never an exception,
so the caller records them; only configuration problems raise `DeliveryError`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from perf_orchestration.delivery.base import (
    DeliveryError,
    DeliveryResult,
    Message,
    one_line,
    utcnow,
)
from perf_orchestration.delivery.bot_signing import platform_signed
from perf_orchestration.delivery.chat import build_payload, check_flavor, reply_error

log = logging.getLogger(__name__)

SECRET_ENV = "PERFFLOW_WEBHOOK_SECRET"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMESTAMP_HEADER = "X-Perfflow-Timestamp"
SIGNATURE_HEADER = "X-Perfflow-Signature"
SIGNATURE_PREFIX = "sha256="
RETRY_STATUSES = frozenset({429, *range(500, 600)})
MAX_RETRY_AFTER_SECONDS = 30.0

Flavor = Literal["generic", "wecom", "dingtalk", "feishu", "slack"]


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """`sha256=<hex>` HMAC of `f"{timestamp}."` + body: binding the time stops replays."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + raw,
                      hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(secret: str, timestamp: int | str | None, body: bytes | str,
           signature: str | None, max_age_seconds: float = 300,
           now: float | datetime | None = None) -> bool:
    """True only for a correct signature on a timestamp within `max_age_seconds` of now.

    The comparison is constant-time so the signature cannot be guessed byte by byte, and
    timestamps too far in the past (a replay) or in the future (a forged clock) fail.
    """
    if not secret or not signature or timestamp is None:
        return False
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    current = now.timestamp() if isinstance(now, datetime) else (
        time.time() if now is None else float(now))
    if abs(current - ts) > max_age_seconds:
        return False
    expected = sign(secret, ts, body)
    return hmac.compare_digest(expected.encode("ascii"),
                               signature.strip().encode("utf-8", "replace"))


def _json_default(value: Any) -> Any:
    """Encode the values that alert data commonly holds (times, decimals, sets)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def encode_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed are the bytes that are sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      default=_json_default).encode("utf-8")


class _CappedRetry(Retry):
    """urllib3 Retry whose honoured Retry-After never stalls an action job for long."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER_SECONDS)


def redact_url(url: str) -> str:
    """Scheme and host only: bot URLs carry their credential in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") or parts.query \
        else f"{parts.scheme}://{parts.netloc}"


class WebhookChannel:
    """POSTs each message, signed, to one webhook URL in one platform's payload format.

    A missing secret is reported when sending (not when building the channel), so a
    plant that only sends e-mail can still build its channels from the same resource.
    """

    def __init__(self, url: str, secret: str | None, *, flavor: Flavor | str = "generic",
                 timeout: float = 5.0, max_retries: int = 3, backoff_seconds: float = 0.5,
                 secret_env: str = SECRET_ENV):
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DeliveryError(f"webhook URL {redact_url(url or '')!r} is not an http(s) URL")
        if max_retries < 0:
            raise DeliveryError(f"webhook max_retries must be >= 0, got {max_retries}")
        self.url = url
        self.flavor = check_flavor(flavor)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.secret_env = secret_env
        self._secret = secret
        # POST is not idempotent in general, so urllib3 does not retry it by default. Here a
        # retry is safe: every attempt carries the same Idempotency-Key, and receivers
        # (our relay, the test receiver, the action log) drop a key they have already seen.
        retry = _CappedRetry(
            total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
            other=max_retries, redirect=0, backoff_factor=backoff_seconds,
            status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"POST"}),
            respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = "perfflow-delivery/1"

    def __repr__(self) -> str:
        return f"WebhookChannel({redact_url(self.url)!r}, flavor={self.flavor!r})"

    def close(self) -> None:
        self.session.close()

    def check(self) -> None:
        """Raise DeliveryError now if this channel could not sign a message later."""
        self._require_secret()

    def _require_secret(self) -> str:
        if not self._secret or not self._secret.strip():
            raise DeliveryError(
                f"webhook secret is not set: set the environment variable {self.secret_env} "
                "(outgoing webhooks are always signed)")
        return self._secret

    def send(self, message: Message) -> DeliveryResult:
        """Deliver `message` once (with retries); the outcome is returned, never raised."""
        secret = self._require_secret()
        now = time.time()
        url, payload = platform_signed(self.flavor, secret, self.url,
                                       build_payload(self.flavor, message), now)
        body = encode_body(payload)
        timestamp = str(int(now))
        # One timestamp for all attempts: a receiver's max age must cover the retry span
        # (at most (max_retries + 1) * timeout plus the backoff, seconds with the defaults).
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: message.wire_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        where = redact_url(self.url)
        try:
            resp = self.session.post(url, data=body, headers=headers,
                                     timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            attempts = self.max_retries + 1 if _retried(exc) else 1
            return self._failed(message, attempts,
                                f"POST {where} failed after {attempts} attempt(s): "
                                f"{self._reason(exc)}")
        history = getattr(getattr(resp.raw, "retries", None), "history", None) or ()
        attempts = len(history) + 1
        status = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
        if 200 <= resp.status_code < 300:
            platform_error = reply_error(self.flavor, resp.text)
            if platform_error:
                return self._failed(message, attempts, f"{status} with {platform_error}")
            return DeliveryResult("delivered", attempts, status, utcnow())
        text = one_line(resp.text, 120)
        return self._failed(message, attempts,
                            f"{status} from {where} after {attempts} attempt(s)"
                            + (f": {text}" if text else ""))

    def _failed(self, message: Message, attempts: int, detail: str) -> DeliveryResult:
        detail = one_line(detail)
        log.warning("webhook delivery failed for key %s: %s", message.idempotency_key, detail)
        return DeliveryResult("failed", attempts, detail, None)

    def _reason(self, exc: requests.RequestException) -> str:
        """The root cause, without the URL's path or query (which may hold a bot token)."""
        cause: BaseException = exc
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, MaxRetryError) and inner.reason is not None:
            cause = inner.reason
        text = str(cause)
        parts = urlsplit(self.url)
        for secret_part in (parts.query, parts.path):
            if secret_part and secret_part != "/":
                text = text.replace(secret_part, "…")
        low = text.lower()
        if "read timed out" in low:
            return f"read timed out (timeout {self.timeout:g} s)"
        if "connection refused" in low:
            return "connection refused"
        if "timed out" in low:
            return f"connect timed out (timeout {self.timeout:g} s)"
        return f"{type(cause).__name__}: {text}"


def _retried(exc: requests.RequestException) -> bool:
    """Whether urllib3 gave up after its retries (versus an error raised before sending)."""
    return bool(exc.args) and isinstance(exc.args[0], MaxRetryError)
