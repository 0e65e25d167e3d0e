"""The simulator's HTTP server: MES, QMS, ERP, CRM and HR endpoints on loopback.

A real server (not a mock) so the ingestion's timeouts, retries, pagination and
incremental cursors are exercised over real sockets, with the scenario's HTTP
faults, a settable clock for late-arriving rows and admin endpoints for tests.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from perf_orchestration.ingestion.entities import ENTITIES_BY_TABLE
from perf_orchestration.scenarios.config import Scenario, SourceFault
from perf_orchestration.simulator.dataset import Dataset
from perf_orchestration.simulator.generate import generate_dataset
from perf_orchestration.simulator.state import (
    HTTP_FAULTS,
    BadParameter,
    SimulatorState,
    param_time,
    parse_query,
)


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
        q = parse_query(query, state.scenario)
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
            now = None if body["now"] is None else param_time(body["now"], "now", state.scenario)
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
            self.state.set_clock(None if now is None else param_time(now, "now", self.scenario))

    def add_records(self, system: str, entity: str, records: list[dict[str, Any]]) -> int:
        """Append records live, as POST /_admin/records/{system}/{entity} does."""
        return self.state.add_records(ENTITIES_BY_TABLE[f"{system}_{entity}"], records)

    def add_fault(self, system: str, entity: str, fault: str, count: int = 1,
                  **settings: Any) -> str:
        """Make the next `count` calls of an endpoint fail as `fault` (http_5xx, timeout or
        rate_limited), whatever window they ask for; returns the fault's id."""
        if fault not in HTTP_FAULTS:
            raise ValueError(f"{fault!r} is not an HTTP fault ({', '.join(HTTP_FAULTS)})")
        fault_id = f"live-{fault}-{len(self.state.http_faults) + 1}"
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        inc = SourceFault(kind="source_fault", id=fault_id, system=system, entity=entity,
                          fault=fault, hour=hour, count=count, **settings)
        self.state.add_fault(inc)
        return fault_id

    def outage(self, seconds: float) -> threading.Thread:
        """Stop answering for `seconds` (connections refused), then serve again on the same
        port: a source system going down and coming back."""
        self._requested_port = self.port

        def down_and_up() -> None:
            self.stop()
            time.sleep(seconds)
            self.start()

        worker = threading.Thread(target=down_and_up, name="simulator-outage", daemon=True)
        worker.start()
        return worker

    def stats(self) -> dict[str, Any]:
        """Requests per path and status, and faults served, as GET /_admin/stats returns."""
        return self.state.stats()
