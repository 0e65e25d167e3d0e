"""Where the records and the next page are: JSONPath selectors and the paging styles.

Each paging style of sources.yaml is a small object that gives the first request's
parameters and, from a page's answer, the next request (or None at the end). Selectors are
JSONPath (jsonpath-ng), compiled once; `$.data.rows` selects the list of records itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonpath_ng import parse as _jsonpath
from jsonpath_ng.exceptions import JsonPathParserError

from perf_orchestration.ingestion.sources.config import (
    CursorPaging,
    LinkHeaderPaging,
    NextUrlPaging,
    NoPaging,
    OffsetPaging,
    PageNumberPaging,
)
from perf_orchestration.ingestion.sources.mapping import SourceSettingError

_NOTHING = object()


@cache
def _compiled(path: str):
    text = path if path.startswith("$") else f"$.{path}"
    try:
        return _jsonpath(text)
    except (JsonPathParserError, Exception) as exc:  # the parser raises plain Exceptions too
        raise SourceSettingError(f"selector {path!r} is not JSONPath: {exc}") from None


def select_one(body: Any, path: str | None) -> Any:
    """The first value `path` matches in the body, or None."""
    if path is None:
        return None
    found = _compiled(path).find(body)
    return found[0].value if found else None


def select_records(body: Any, path: str, setting: str) -> list:
    """The records of a page; a selector that matches nothing is a setting error (an empty
    list of records is not: that is a quiet window)."""
    stripped = path[:-3] if path.endswith("[*]") else path
    found = _compiled(stripped).find(body)
    if not found:
        keys = ", ".join(sorted(body)) if isinstance(body, dict) else type(body).__name__
        raise SourceSettingError(f"{setting}: {path!r} matches nothing in the answer "
                                 f"(its top-level fields: {keys})")
    if len(found) == 1 and isinstance(found[0].value, list):
        return found[0].value
    return [m.value for m in found]


@dataclass
class Request:
    url: str
    params: dict | None


class Pager:
    """The next request after a page, per paging style."""

    def __init__(self, spec, page_size: int | None = None):
        self.spec = spec
        size = getattr(spec, "page_size", None) or getattr(spec, "limit", None)
        self.size = page_size or size

    def first(self, url: str, params: dict) -> Request:
        s, params = self.spec, dict(params)
        if isinstance(s, PageNumberPaging):
            params[s.page_param] = s.first_page
            if s.size_param:
                params[s.size_param] = self.size
        elif isinstance(s, OffsetPaging):
            params[s.offset_param] = 0
            params[s.limit_param] = self.size
        elif isinstance(s, CursorPaging | LinkHeaderPaging) and s.size_param:
            params[s.size_param] = self.size
        return Request(url, params)

    def next(self, request: Request, body: Any, links: dict, count: int) -> Request | None:
        s = self.spec
        if isinstance(s, NoPaging):
            return None
        if isinstance(s, PageNumberPaging):
            page = request.params[s.page_param]
            total = select_one(body, s.total_pages_path)
            last = (page - s.first_page + 1 >= int(total)) if total is not None \
                else count < self.size
            return None if last or count == 0 else Request(
                request.url, dict(request.params, **{s.page_param: page + 1}))
        if isinstance(s, OffsetPaging):
            offset = request.params[s.offset_param] + count
            total = select_one(body, s.total_path)
            done = offset >= int(total) if total is not None else count < self.size
            return None if done or count == 0 else Request(
                request.url, dict(request.params, **{s.offset_param: offset}))
        if isinstance(s, CursorPaging):
            token = select_one(body, s.cursor_path)
            return Request(request.url, dict(request.params, **{s.cursor_param: token})) \
                if token not in (None, "") else None
        if isinstance(s, NextUrlPaging):
            url = select_one(body, s.next_url_path)
            return Request(str(url), None) if url else None
        if isinstance(s, LinkHeaderPaging):
            url = (links.get("next") or {}).get("url")
            return Request(url, None) if url else None
        raise AssertionError(f"unknown paging {s!r}")
