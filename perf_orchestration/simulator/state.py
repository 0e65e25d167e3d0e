"""The simulator's data behind its HTTP endpoints: the generated rows of every entity,
what a query sees of them (window, since cursor, page, the settable clock, late rows),
the scenario's HTTP faults with their budgets, and the request counts."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from perf_orchestration.ingestion.entities import Entity
from perf_orchestration.scenarios.config import Scenario, SourceFault
from perf_orchestration.simulator.common import HOUR, parse_time, utc
from perf_orchestration.simulator.dataset import Dataset, RowMeta
from perf_orchestration.simulator.generate import literal_rows, row_meta

HTTP_FAULTS = ("http_5xx", "timeout", "rate_limited", "truncated_json", "malformed_json")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
QUERY_PARAMETERS = ("start", "end", "since", "limit", "page_token")

class BadParameter(Exception):
    """A request parameter that cannot be used; answered with 400 naming it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass
class _Row:
    meta: RowMeta
    record: Any

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.meta.updated_at, self.meta.row_id)


def _event_order(row: _Row) -> tuple[datetime, datetime, str]:
    return (row.meta.event_at, *row.order)


@dataclass
class Query:
    start: datetime | None = None
    end: datetime | None = None
    since: datetime | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class SimulatorState:
    """Everything the endpoints share: rows, clock, fault budgets and request statistics."""

    def __init__(self, scenario: Scenario, dataset: Dataset, token: str | None):
        self.scenario = scenario
        self.token = token
        self.lock = threading.Lock()
        self.clock: datetime | None = None
        self.tables: dict[str, list[_Row]] = {
            table: [_Row(m, r) for r, m in zip(records, dataset.meta[table], strict=True)]
            for table, records in dataset.tables.items()}
        # the same rows by event time, so a window query reads its day, not the whole year
        self.by_event: dict[str, list[_Row]] = {
            table: sorted((r for r in rows if r.meta.event_at is not None), key=_event_order)
            for table, rows in self.tables.items()}
        self.timeless: dict[str, list[_Row]] = {
            table: [r for r in rows if r.meta.event_at is None]
            for table, rows in self.tables.items()}
        self.http_faults = [i for i in scenario.incidents
                            if isinstance(i, SourceFault) and i.fault in HTTP_FAULTS]
        self.remaining = {i.id: i.count for i in self.http_faults}
        self.faults_served: dict[str, int] = {
            i.id: 0 for i in scenario.incidents if isinstance(i, SourceFault)}
        self.requests: dict[str, dict[str, int]] = {}

    def add_fault(self, fault: SourceFault) -> None:
        """An HTTP fault from now on (a soak or a test cycling faults live)."""
        with self.lock:
            self.http_faults.append(fault)
            self.remaining[fault.id] = fault.count
            self.faults_served.setdefault(fault.id, 0)

    def count(self, path: str, status: int) -> None:
        with self.lock:
            by_status = self.requests.setdefault(path, {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    def take_fault(self, table: str, query: Query) -> SourceFault | None:
        """The HTTP fault this request suffers, if one still has budget and covers its window."""
        with self.lock:
            for inc in self.http_faults:
                if f"{inc.system}_{inc.entity}" != table or self.remaining[inc.id] <= 0:
                    continue
                hour0 = utc(inc.hour)
                if ((query.start is None or query.start < hour0 + HOUR)
                        and (query.end is None or query.end > hour0)):
                    self.remaining[inc.id] -= 1
                    self.faults_served[inc.id] += 1
                    return inc
        return None

    def query(self, ent: Entity, q: Query) -> dict[str, Any]:
        """One page of visible rows in (updated_at, id) order, with the resume cursor."""
        tz = self.scenario.tz
        with self.lock:
            rows = [r for r in self._candidates(ent, q) if self._visible(ent, r, q)]
            page = rows[q.offset: q.offset + q.limit]
            for r in page:
                if r.meta.incident in self.faults_served:
                    self.faults_served[r.meta.incident] += 1
        more = q.offset + q.limit < len(rows)
        cursor = rows[-1].meta.updated_at.astimezone(tz).isoformat() if rows else None
        return {"items": [r.record for r in page],
                "next_page_token": str(q.offset + q.limit) if more else None, "cursor": cursor}

    def _candidates(self, ent: Entity, q: Query) -> list[_Row]:
        """The rows a query may see, in (updated_at, id) order: a window without a cursor
        reads the window's slice of the event-time index (and the rows without an event
        time); otherwise the rows changed after the cursor."""
        table = self.tables[ent.table]  # kept in (updated_at, id) order
        if q.since is None and ent.event_time is not None and (q.start or q.end):
            index = self.by_event[ent.table]
            lo = 0 if q.start is None else bisect.bisect_left(
                index, q.start, key=lambda r: r.meta.event_at)
            hi = len(index) if q.end is None else bisect.bisect_left(
                index, q.end, key=lambda r: r.meta.event_at)
            return sorted(index[lo:hi] + self.timeless[ent.table], key=lambda r: r.order)
        first = 0 if q.since is None else bisect.bisect_right(
            table, q.since, key=lambda r: r.meta.updated_at)
        return table[first:]

    def _visible(self, ent: Entity, row: _Row, q: Query) -> bool:
        m = row.meta
        if self.clock is not None and m.updated_at > self.clock:
            return False
        if q.since is not None and m.updated_at <= q.since:
            return False
        if ent.event_time is not None and m.event_at is not None:
            if q.start is not None and m.event_at < q.start:
                return False
            if q.end is not None and m.event_at >= q.end:
                return False
        return True

    def add_records(self, ent: Entity, records: list[Any]) -> int:
        """Append records live; a missing updated_at is stamped with the wall clock."""
        tz = self.scenario.tz
        now = datetime.now(tz)
        rows = []
        for record in literal_rows(records, tz):
            if isinstance(record, dict) and record.get("updated_at") is None:
                record["updated_at"] = now.isoformat()
            rows.append(_Row(row_meta(ent, record, self.scenario, default_updated=utc(now)),
                             record))
        with self.lock:
            table = self.tables[ent.table]
            for row in rows:
                bisect.insort_right(table, row, key=lambda r: r.order)
                if row.meta.event_at is None:
                    self.timeless[ent.table].append(row)
                else:
                    bisect.insort_right(self.by_event[ent.table], row, key=_event_order)
        return len(rows)

    def set_clock(self, now: datetime | None) -> None:
        with self.lock:
            self.clock = now

    def clock_json(self) -> dict[str, Any]:
        clock = self.clock
        return {"now": clock.astimezone(self.scenario.tz).isoformat() if clock else None}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "scenario": self.scenario.name,
                "clock": self.clock_json()["now"],
                "requests": {p: dict(s) for p, s in sorted(self.requests.items())},
                "faults": {
                    i.id: {"system": i.system, "entity": i.entity, "fault": i.fault,
                           "served": self.faults_served[i.id]}
                    for i in self.scenario.incidents if isinstance(i, SourceFault)},
                "rows": {t: len(rows) for t, rows in self.tables.items()},
            }


def param_time(value: Any, parameter: str, scenario: Scenario) -> datetime:
    """An ISO time parameter; a '+' turned into a space by form decoding is put back."""
    if isinstance(value, str):
        parsed = parse_time(value, scenario.tz) or parse_time(value.replace(" ", "+"), scenario.tz)
        if parsed is not None:
            return parsed
    raise BadParameter(parameter, f"{parameter} must be an ISO 8601 time, got {value!r}")


def parse_query(query: str, scenario: Scenario) -> Query:
    """Validate the query string; unknown or repeated parameters are errors, not ignored."""
    params = parse_qs(query, keep_blank_values=True)
    q = Query()
    for name, values in params.items():
        if name not in QUERY_PARAMETERS:
            raise BadParameter(name, f"unknown parameter {name!r} (known: "
                                     f"{', '.join(QUERY_PARAMETERS)})")
        if len(values) > 1:
            raise BadParameter(name, f"parameter {name!r} given more than once")
        value = values[0].strip()
        if not value:
            continue
        if name in ("start", "end", "since"):
            setattr(q, name, param_time(value, name, scenario))
        elif name == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                raise BadParameter(name, f"limit must be an integer 1..{MAX_LIMIT}")
            q.limit = int(value)
        elif not value.isdigit():
            raise BadParameter(name, "page_token is not one this server issued")
        else:
            q.offset = int(value)
    if q.start is not None and q.end is not None and q.start >= q.end:
        raise BadParameter("end", "end must be later than start")
    return q
