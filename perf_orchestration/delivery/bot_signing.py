"""The chat platforms' own request signing for their custom bots ("加签").

A DingTalk or Feishu bot with its security setting on refuses any request that does not
carry the platform's signature, whatever else the request holds; and both refuse a
timestamp more than about an hour from their clock. Each is built here as the platforms
document it, from the bot's secret (the one shown when the setting is turned on):

- DingTalk: HMAC-SHA256 keyed by the secret over `timestamp + "\\n" + secret`, the
  timestamp in milliseconds; base64, then URL-encoded; sent as the query parameters
  `timestamp` and `sign`.
- Feishu: HMAC-SHA256 keyed by `timestamp + "\\n" + secret` over an empty message, the
  timestamp in seconds; base64; sent as `timestamp` and `sign` in the JSON body.

The product's own `X-Perfflow-Signature` headers are sent beside them for relays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

MAX_CLOCK_SKEW_SECONDS = 3600  # both platforms refuse timestamps further off than an hour


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` parameter, URL-encoded as it goes into the query string."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's `sign` body field."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _with_query(url: str, extra: list[tuple[str, str]]) -> str:
    """`url` with `extra` set in its query; values are already encoded as the platform
    expects, so they are joined, not encoded again."""
    parts = urlsplit(url)
    names = {name for name, _ in extra}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in names]
    query = "&".join(filter(None, [urlencode(kept), "&".join(f"{k}={v}" for k, v in extra)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def platform_signed(flavor: str, secret: str, url: str, payload: dict[str, Any],
                    now: float) -> tuple[str, dict[str, Any]]:
    """The URL and payload to send for `flavor`, with that platform's signature if it has one."""
    if flavor == "dingtalk":
        ts = int(now * 1000)
        return _with_query(url, [("timestamp", str(ts)), ("sign", dingtalk_sign(secret, ts))]), \
            payload
    if flavor == "feishu":
        ts = int(now)
        return url, {**payload, "timestamp": str(ts), "sign": feishu_sign(secret, ts)}
    return url, payload
