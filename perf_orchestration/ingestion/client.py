"""HTTP client for the source systems: timeouts, retries with backoff, pages, cursors.

Retries use urllib3's Retry (429 and 5xx, honouring Retry-After, and read
timeouts); an answer whose body is cut short or is not JSON is asked for again with
the same backoff. When the retries are exhausted the error names the system, the
endpoint and the attempts made, so an operator knows which source to look at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


class SourceCallError(Exception):
    """A source endpoint that kept failing after every retry."""

    def __init__(self, system: str, endpoint: str, reason: str, attempts: int):
        self.system, self.endpoint, self.reason, self.attempts = system, endpoint, reason, attempts
        super().__init__(f"{system.upper()} endpoint {endpoint} failed after {attempts} "
                         f"attempts: {reason}")


@dataclass
class CallStats:
    """What the calls of one fetch cost: requests sent, retries among them, failures."""

    requests: int = 0
    retries: int = 0
    failed: int = 0

    def add(self, other: CallStats) -> None:
        self.requests += other.requests
        self.retries += other.retries
        self.failed += other.failed


@dataclass
class FetchResult:
    items: list[dict]
    cursor: str | None
    pages: int
    stats: CallStats = field(default_factory=CallStats)


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class SourceClient:
    """Reads one source system's entities page by page."""

    def __init__(self, system: str, base_url: str, token: str | None = None, *,
                 connect_timeout: float = 3.0, read_timeout: float = 10.0,
                 max_retries: int = 4, backoff_seconds: float = 0.2, page_size: int = 1000):
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        retry = Retry(
            total=max_retries, connect=max_retries, read=max_retries, status=max_retries,
            backoff_factor=backoff_seconds, status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}), respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def fetch(self, entity: str, *, start: datetime | None = None, end: datetime | None = None,
              since: datetime | str | None = None) -> FetchResult:
        """Every record of `entity` in [start, end) changed after `since`, across pages."""
        params = {k: v for k, v in (("start", _iso(start)), ("end", _iso(end)),
                                    ("since", _iso(since))) if v is not None}
        items: list[dict] = []
        stats = CallStats()
        cursor: str | None = None
        token: str | None = None
        pages = 0
        while True:
            page_params = dict(params, limit=self.page_size)
            if token:
                page_params["page_token"] = token
            body = self._get(f"/{self.system}/{entity}", page_params, stats)
            pages += 1
            items.extend(body.get("items") or [])
            cursor = body.get("cursor") or cursor
            token = body.get("next_page_token")
            if not token:
                return FetchResult(items, cursor, pages, stats)

    def _get(self, path: str, params: dict, stats: CallStats) -> dict:
        """One page; a body cut short or not JSON is asked for again like a 5xx answer."""
        endpoint = f"{path}?{urlencode(params)}"
        attempts = 0
        for retry in range(self.max_retries + 1):
            try:
                return self._get_once(path, endpoint, params, stats, attempts)
            except _BrokenBody as exc:
                attempts += exc.attempts
                if retry == self.max_retries:
                    stats.failed += 1
                    raise SourceCallError(self.system, endpoint, exc.reason, attempts) from None
                stats.retries += 1
                time.sleep(self.backoff_seconds * (2 ** retry))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _get_once(self, path: str, endpoint: str, params: dict, stats: CallStats,
                  attempts_before: int) -> dict:
        stats.requests += 1
        try:
            resp = self.session.get(self.base_url + path, params=params, timeout=self.timeout)
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise _BrokenBody(f"response body cut short: {_reason(exc)}", 1) from None
        except requests.RequestException as exc:
            stats.retries += self.max_retries
            stats.failed += 1
            raise SourceCallError(self.system, endpoint, _reason(exc),
                                  attempts_before + self.max_retries + 1) from None
        history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
        stats.retries += len(history)
        attempts = len(history) + 1
        if resp.status_code >= 400:
            stats.failed += 1
            raise SourceCallError(self.system, endpoint,
                                  f"HTTP {resp.status_code} {resp.reason}: {resp.text[:200]}",
                                  attempts_before + attempts)
        try:
            body = resp.json()
        except ValueError:
            raise _BrokenBody(f"response is not JSON: {resp.text[:120]!r}", attempts) from None
        if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
            raise _BrokenBody("response has no 'items' list", attempts)
        return body


class _BrokenBody(Exception):
    """An answer whose body cannot be used (cut short, not JSON): worth asking again."""

    def __init__(self, reason: str, attempts: int):
        super().__init__(reason)
        self.reason, self.attempts = reason, attempts


def _reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for marker in ("Read timed out", "Max retries exceeded", "Connection refused"):
        if marker in text:
            if marker == "Max retries exceeded" and "responses" in text:
                return "too many error responses (" + text.split("(Caused by ")[-1].rstrip(")")
            return marker.lower() if marker != "Max retries exceeded" else text.split(
                "(Caused by ")[-1].rstrip(")")
    return text[:200]
