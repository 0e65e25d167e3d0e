"""HTTP reader of a source system, driven by its sources.yaml description.

How an entity is asked for (path, window parameters and their time format, paging, where
the records sit in the body, auth) comes from the system's description (ingestion/sources/
config.py); the bundled description is the plant simulator's, so the default path reads
through the same code. Retries use urllib3's Retry (429 and 5xx, honouring Retry-After,
and read timeouts); an answer whose body is cut short or is not JSON is asked for again with
the same backoff. When the retries are exhausted the error names the system, the endpoint,
the attempts made and the setting to look at (base URL, auth, path).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from perf_orchestration.ingestion.entities import entity as canonical_entity
from perf_orchestration.ingestion.sources.config import (
    SOURCES_FILE,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpEntity,
    HttpSystem,
    bundled_system,
    entity_spec,
)
from perf_orchestration.ingestion.sources.mapping import Mapper, Rejected, SourceSettingError
from perf_orchestration.ingestion.sources.paging import Pager, Request, select_one, select_records
from perf_orchestration.ingestion.sources.times import BadTime, canonical_time, window_value

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_PAGES = 100_000


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
    """Canonical records of one fetch, the records that could not be mapped, the resume
    point for the next fetch and what the calls cost."""

    items: list[dict]
    cursor: str | None
    pages: int
    stats: CallStats = field(default_factory=CallStats)
    rejected: list[Rejected] = field(default_factory=list)


def env_value(name: str, setting: str) -> str:
    """An environment variable a sources.yaml setting names; unset is a setting error."""
    value = os.environ.get(name)
    if not value:
        raise SourceSettingError(f"{setting}: environment variable {name} is not set")
    return value


class SourceClient:
    """Reads one HTTP source system's entities page by page.

    `spec` is the system's sources.yaml description (default: the bundled simulator one);
    the other arguments override it: an explicit base URL and bearer token (tests, the
    demo), timeouts, retries and page size (the Dagster resource's settings).
    """

    def __init__(self, system: str, base_url: str | None = None, token: str | None = None, *,
                 spec: HttpSystem | None = None, connect_timeout: float | None = None,
                 read_timeout: float | None = None, max_retries: int | None = None,
                 backoff_seconds: float | None = None, page_size: int | None = None,
                 timezone: str | None = None):
        from perf_orchestration.plant_calendar import plant_tz

        self.system = system
        self.spec = spec = spec or bundled_system(system)
        self.where = f"{SOURCES_FILE}: systems.{system}"
        self.base_url = (base_url or self._base_url()).rstrip("/")
        self.tz = plant_tz(spec.timezone or timezone)
        self.timeout = (connect_timeout or spec.timeouts.connect_seconds,
                        read_timeout or spec.timeouts.read_seconds)
        self.page_size = page_size
        self.max_retries = spec.retries.max if max_retries is None else max_retries
        self.backoff_seconds = (spec.retries.backoff_seconds if backoff_seconds is None
                                else backoff_seconds)
        self.min_interval = spec.retries.min_interval_seconds
        self._last_request = 0.0
        self._mappers: dict[str, Mapper] = {}
        retry = Retry(
            total=self.max_retries, connect=self.max_retries, read=self.max_retries,
            status=self.max_retries, backoff_factor=self.backoff_seconds,
            status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True, raise_on_status=False,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.query_auth: dict[str, str] = {}
        if base_url is not None:  # explicit: only the token given, if any
            if token:
                self.session.headers["Authorization"] = f"Bearer {token}"
        else:
            self._authenticate(token)

    def _base_url(self) -> str:
        if self.spec.base_url:
            return self.spec.base_url
        url = env_value(self.spec.base_url_env, f"{self.where}.base_url_env")
        if not url.startswith(("http://", "https://")):
            raise SourceSettingError(f"{self.where}.base_url_env: {self.spec.base_url_env}="
                                     f"{url!r} is not an http(s) URL")
        return url

    def _authenticate(self, token: str | None) -> None:
        auth, setting = self.spec.auth, f"{self.where}.auth"
        if token or isinstance(auth, BearerAuth):
            token = token or env_value(auth.token_env, f"{setting}.token_env")
            self.session.headers["Authorization"] = f"Bearer {token}"
        elif isinstance(auth, BasicAuth):
            self.session.auth = (env_value(auth.username_env, f"{setting}.username_env"),
                                 env_value(auth.password_env, f"{setting}.password_env"))
        elif isinstance(auth, ApiKeyAuth):
            key = env_value(auth.key_env, f"{setting}.key_env")
            if auth.location == "header":
                self.session.headers[auth.name] = key
            else:
                self.query_auth[auth.name] = key

    def entity_setting(self, entity: str) -> tuple[HttpEntity, str]:
        try:
            return entity_spec({self.system: self.spec}, self.system, entity), \
                f"{self.where}.entities.{entity}"
        except Exception as exc:  # ConfigError: one line naming the entity
            raise SourceSettingError(str(exc)) from None

    def mapper(self, entity: str) -> Mapper:
        if entity not in self._mappers:
            spec, where = self.entity_setting(entity)
            self._mappers[entity] = Mapper(canonical_entity(self.system, entity), spec,
                                           self.spec.defaults.times, self.tz, where)
        return self._mappers[entity]

    def fetch(self, entity: str, *, start: datetime | None = None, end: datetime | None = None,
              since: datetime | str | None = None) -> FetchResult:
        """Every record of `entity` in [start, end) changed after `since`, across pages,
        mapped onto the canonical entity."""
        spec, where = self.entity_setting(entity)
        window = spec.window or self.spec.defaults.window
        params = self._window_params(window, start, end, since, where)
        pager = Pager(spec.paging or self.spec.defaults.paging, self.page_size)
        selector = spec.records or self.spec.defaults.records
        request = pager.first(self.base_url + spec.path, {**spec.params, **params})
        items: list = []
        stats = CallStats()
        cursor: str | None = None
        pages = 0
        while request is not None:
            body, links = self._get(request, stats, where)
            page = select_records(body, selector, f"{where}.records")
            items.extend(page)
            cursor = select_one(body, window.cursor_path) or cursor
            pages += 1
            following = pager.next(request, body, links, len(page))
            if following == request or pages >= MAX_PAGES:
                raise SourceSettingError(f"{where}.paging: the next page asked for is the "
                                         f"page just read ({request.url}); paging does not "
                                         "advance")
            request = following
        mapped, rejected = self.mapper(entity).map(items)
        if window.cursor_path is None and mapped:
            cursor = max((r.get("updated_at") for r in mapped if r.get("updated_at")),
                         default=None) or cursor
        return FetchResult(mapped, None if cursor is None else str(cursor), pages, stats,
                           rejected)

    def _window_params(self, window, start, end, since, where: str) -> dict:
        fmt, params = window.format, {}
        if start is not None and window.start_param:
            params[window.start_param] = window_value(start, fmt, self.tz)
        if end is not None and window.end_param:
            params[window.end_param] = window_value(end, fmt, self.tz)
        if since is None:
            return params
        if window.cursor_path is not None and isinstance(since, str):
            value = since  # the source's own resume token, sent back as it came
        else:
            try:
                moment = since if isinstance(since, datetime) else datetime.fromisoformat(
                    canonical_time(since, "iso8601", self.tz))
            except BadTime as exc:
                raise SourceSettingError(f"{where}.window: resume point {exc}") from None
            value = window_value(moment, fmt, self.tz)
        if window.since_param:
            params[window.since_param] = value
        elif window.start_param and start is None:
            params[window.start_param] = value  # no change feed: read from that moment on
        return params

    def _get(self, request: Request, stats: CallStats, where: str) -> tuple[object, dict]:
        """One page; a body cut short or not JSON is asked for again like a 5xx answer."""
        params = {**(request.params or {}), **self.query_auth}
        shown = {k: v for k, v in (request.params or {}).items()}
        path = request.url[len(self.base_url):] if request.url.startswith(self.base_url) \
            else request.url
        endpoint = f"{path}?{urlencode(shown)}" if shown else path
        attempts = 0
        for retry in range(self.max_retries + 1):
            try:
                return self._get_once(request.url, endpoint, params or None, stats, attempts,
                                      where)
            except _BrokenBody as exc:
                attempts += exc.attempts
                if retry == self.max_retries:
                    stats.failed += 1
                    raise SourceCallError(self.system, endpoint, exc.reason, attempts) from None
                stats.retries += 1
                time.sleep(self.backoff_seconds * (2 ** retry))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _get_once(self, url: str, endpoint: str, params: dict | None, stats: CallStats,
                  attempts_before: int, where: str) -> tuple[object, dict]:
        self._pace()
        stats.requests += 1
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise _BrokenBody(f"response body cut short: {_reason(exc)}", 1) from None
        except requests.RequestException as exc:
            stats.retries += self.max_retries
            stats.failed += 1
            reason = _reason(exc)
            if isinstance(exc, requests.exceptions.ConnectionError) and "timed out" not in reason:
                reason += f" (is {self.base_url} right? setting {self._url_setting()})"
            raise SourceCallError(self.system, endpoint, reason,
                                  attempts_before + self.max_retries + 1) from None
        history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
        stats.retries += len(history)
        attempts = len(history) + 1
        if resp.status_code >= 400:
            stats.failed += 1
            raise SourceCallError(self.system, endpoint,
                                  f"HTTP {resp.status_code} {resp.reason}: {resp.text[:200]}"
                                  + self._hint(resp.status_code, where),
                                  attempts_before + attempts)
        try:
            body = resp.json()
        except ValueError:
            raise _BrokenBody(f"response is not JSON: {resp.text[:120]!r}", attempts) from None
        if not isinstance(body, dict | list):
            raise _BrokenBody(f"response is not a JSON object or list: {resp.text[:120]!r}",
                              attempts)
        return body, resp.links

    def _pace(self) -> None:
        """The least time between two requests the system allows (its rate limit)."""
        if self.min_interval:
            wait = self._last_request + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _url_setting(self) -> str:
        return f"{self.where}.base_url" if self.spec.base_url else \
            f"{self.where}.base_url_env ({self.spec.base_url_env})"

    def _hint(self, status: int, where: str) -> str:
        if status in (401, 403):
            return f" (the login was refused: check {self.where}.auth and its variables)"
        if status == 404:
            return f" (no such endpoint: check {where}.path and {self._url_setting()})"
        return ""


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
