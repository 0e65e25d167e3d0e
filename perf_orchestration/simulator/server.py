"""The simulator's HTTP server: MES, QMS, ERP, CRM and HR endpoints on loopback.

A real server (not a mock) so the ingestion's timeouts, retries, pagination and
incremental cursors are exercised over real sockets, with the scenario's HTTP
faults, a settable clock for late-arriving rows and admin endpoints for tests.
"""

from __future__ import annotations

import bisect
import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from perf_orchestration.entities import ENTITIES_BY_TABLE, Entity
from perf_orchestration.scenario import Scenario, SourceFault
from perf_orchestration.simulator.common import HOUR, parse_time, utc
from perf_orchestration.simulator.dataset import Dataset, RowMeta
from perf_orchestration.simulator.generate import generate_dataset, literal_rows, row_meta

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
QUERY_PARAMETERS = ("start", "end", "since", "limit", "page_token")
HTTP_FAULTS = ("http_5xx", "timeout", "rate_limited", "truncated_json", "malformed_json")


class BadParameter(Exception):
    """A request parameter that cannot be used; answered with 400 naming it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass
class _Answer:
    """An answer a fault shapes beyond status and JSON: extra headers, or a body that is
    not the JSON it should be. `declared_length` longer than `body` cuts the connection
    after the body, as a proxy or a network drop does."""

    body: bytes
    headers: dict[str, str]
    declared_length: int | None = None


def _broken_answer(fault: str, body: dict[str, Any]) -> _Answer:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    if fault == "truncated_json":  # half the body, then the connection closes
        return _Answer(data[: len(data) // 2], {}, declared_length=len(data))
    return _Answer(data.replace(b'":', b'"=', 1), {})  # a complete body, not JSON


@dataclass
class _Row:
    meta: RowMeta
    record: Any

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.meta.updated_at, self.meta.row_id)


@dataclass
class _Query:
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
        self.http_faults = [i for i in scenario.incidents
                            if isinstance(i, SourceFault) and i.fault in HTTP_FAULTS]
        self.remaining = {i.id: i.count for i in self.http_faults}
        self.faults_served: dict[str, int] = {
            i.id: 0 for i in scenario.incidents if isinstance(i, SourceFault)}
        self.requests: dict[str, dict[str, int]] = {}

    def count(self, path: str, status: int) -> None:
        with self.lock:
            by_status = self.requests.setdefault(path, {})
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    def take_fault(self, table: str, query: _Query) -> SourceFault | None:
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

    def query(self, ent: Entity, q: _Query) -> dict[str, Any]:
        """One page of visible rows in (updated_at, id) order, with the resume cursor."""
        tz = self.scenario.tz
        with self.lock:
            table = self.tables[ent.table]  # kept in (updated_at, id) order
            first = 0 if q.since is None else bisect.bisect_right(
                table, q.since, key=lambda r: r.meta.updated_at)
            rows = [r for r in table[first:] if self._visible(ent, r, q)]
            page = rows[q.offset: q.offset + q.limit]
            for r in page:
                if r.meta.incident in self.faults_served:
                    self.faults_served[r.meta.incident] += 1
        more = q.offset + q.limit < len(rows)
        cursor = rows[-1].meta.updated_at.astimezone(tz).isoformat() if rows else None
        return {"items": [r.record for r in page],
                "next_page_token": str(q.offset + q.limit) if more else None, "cursor": cursor}

    def _visible(self, ent: Entity, row: _Row, q: _Query) -> bool:
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


class _HTTPServer(ThreadingHTTPServer):
    """Daemon threads so a hung client never blocks shutdown; errors stay off stderr."""

    daemon_threads = True
    state: SimulatorState

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """Clients that hang up (timeouts) are expected here, so stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "PlantSimulator/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """No request logging: the simulator runs inside tests and the demo."""

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            status, body = self._route(state, method, path, url.query)
        except BadParameter as exc:
            status, body = 400, {"error": str(exc), "parameter": exc.parameter}
        state.count(path, status)
        self._send(status, body)

    def _route(self, state: SimulatorState, method: str, path: str,
               query: str) -> tuple[int, dict[str, Any] | _Answer]:
        if path == "/health":
            return 200, {"status": "ok", "scenario": state.scenario.name}
        if state.token is not None and not self._authorized(state.token):
            return 401, {"error": "missing or invalid bearer token"}
        parts = path.strip("/").split("/")
        if parts[0] == "_admin":
            return self._admin(state, method, parts[1:])
        if len(parts) != 2 or f"{parts[0]}_{parts[1]}" not in ENTITIES_BY_TABLE:
            return 404, {"error": f"no such endpoint: {path}"}
        if method != "GET":
            return 405, {"error": f"{method} not allowed on {path}"}
        ent = ENTITIES_BY_TABLE[f"{parts[0]}_{parts[1]}"]
        q = _parse_query(query, state.scenario)
        fault = state.take_fault(ent.table, q)
        if fault is not None and fault.fault == "http_5xx":
            return fault.status, {"error": f"simulated {ent.path} failure", "fault": fault.id}
        if fault is not None and fault.fault == "rate_limited":
            body = json.dumps({"error": "too many requests", "fault": fault.id}).encode()
            return 429, _Answer(body, {"Retry-After": str(fault.retry_after_seconds)})
        if fault is not None and fault.fault == "timeout":
            time.sleep(fault.delay_seconds)
        if fault is not None:  # truncated_json or malformed_json
            return 200, _broken_answer(fault.fault, state.query(ent, q))
        return 200, state.query(ent, q)

    def _admin(self, state: SimulatorState, method: str,
               parts: list[str]) -> tuple[int, dict[str, Any]]:
        if parts == ["stats"] and method == "GET":
            return 200, state.stats()
        if parts == ["clock"] and method == "GET":
            return 200, state.clock_json()
        if parts == ["clock"] and method == "POST":
            body = self._json_body()
            if not isinstance(body, dict) or "now" not in body:
                raise BadParameter("now", 'expected a JSON object {"now": ISO time or null}')
            now = None if body["now"] is None else _time(body["now"], "now", state.scenario)
            state.set_clock(now)
            return 200, state.clock_json()
        if len(parts) == 3 and parts[0] == "records" and method == "POST":
            table = f"{parts[1]}_{parts[2]}"
            if table not in ENTITIES_BY_TABLE:
                return 404, {"error": f"no such entity: /{parts[1]}/{parts[2]}"}
            body = self._json_body()
            if not isinstance(body, list) or not all(isinstance(r, dict) for r in body):
                raise BadParameter("body", "expected a JSON list of record objects")
            return 200, {"added": state.add_records(ENTITIES_BY_TABLE[table], body)}
        return 404, {"error": f"no such admin endpoint: /_admin/{'/'.join(parts)} ({method})"}

    def _authorized(self, token: str) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  token.encode())

    def _json_body(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadParameter("body", "Content-Length is not a number") from None
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadParameter("body", f"body is not JSON: {exc}") from None

    def _send(self, status: int, body: dict[str, Any] | _Answer) -> None:
        answer = body if isinstance(body, _Answer) else _Answer(
            json.dumps(body, ensure_ascii=False).encode("utf-8"), {})
        data = answer.body
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(answer.declared_length or len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="plant-simulator"')
            self.end_headers()
            self.wfile.write(data)
            if answer.declared_length and answer.declared_length > len(data):
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout fault did its job)


def _time(value: Any, parameter: str, scenario: Scenario) -> datetime:
    """An ISO time parameter; a '+' turned into a space by form decoding is put back."""
    if isinstance(value, str):
        parsed = parse_time(value, scenario.tz) or parse_time(value.replace(" ", "+"), scenario.tz)
        if parsed is not None:
            return parsed
    raise BadParameter(parameter, f"{parameter} must be an ISO 8601 time, got {value!r}")


def _parse_query(query: str, scenario: Scenario) -> _Query:
    """Validate the query string; unknown or repeated parameters are errors, not ignored."""
    params = parse_qs(query, keep_blank_values=True)
    q = _Query()
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
            setattr(q, name, _time(value, name, scenario))
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


class SimulatorServer:
    """The plant's source systems for one scenario, on a loopback port.

    The port is bound on construction (port 0 picks a free one); use as a context
    manager or call start()/stop(); `serve_forever()` blocks (the CLI).
    """

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, dataset: Dataset | None = None):
        self.scenario = scenario
        self.host = host
        self.dataset = dataset if dataset is not None else generate_dataset(scenario)
        self.state = SimulatorState(scenario, self.dataset, token)
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bind()  # bound now, like http.server, so .url is right before serving

    def _bind(self) -> _HTTPServer:
        if self._httpd is None:
            httpd = _HTTPServer((self.host, self._requested_port), _Handler)
            httpd.state = self.state
            self._httpd = httpd
        return self._httpd

    @property
    def port(self) -> int:
        """The bound port (the requested one once the server is stopped)."""
        return self._httpd.server_address[1] if self._httpd else self._requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        """Serve in a background daemon thread; returns self once the port is bound."""
        if self._thread is None:
            httpd = self._bind()
            self._thread = threading.Thread(target=httpd.serve_forever, name="plant-simulator",
                                            kwargs={"poll_interval": 0.1}, daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (used by `perfflow simulate`)."""
        httpd = self._bind()
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            httpd.server_close()
            self._httpd = None

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        if self._httpd is not None:
            self._httpd.server_close()
        self._httpd, self._thread = None, None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_clock(self, now: datetime | str | None) -> None:
        """Hide rows updated after `now` (None shows everything), as POST /_admin/clock does."""
        if isinstance(now, datetime) and now.tzinfo is not None:
            self.state.set_clock(now)
        else:
            self.state.set_clock(None if now is None else _time(now, "now", self.scenario))

    def add_records(self, system: str, entity: str, records: list[dict[str, Any]]) -> int:
        """Append records live, as POST /_admin/records/{system}/{entity} does."""
        return self.state.add_records(ENTITIES_BY_TABLE[f"{system}_{entity}"], records)

    def stats(self) -> dict[str, Any]:
        """Requests per path and status, and faults served, as GET /_admin/stats returns."""
        return self.state.stats()
