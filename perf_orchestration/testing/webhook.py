"""A signed-webhook endpoint on loopback, standing in for a chat platform or a plant relay.

It checks signatures the way a plant relay would, can fail or stall on purpose to
exercise retries, and counts arrivals per Idempotency-Key so a repeated delivery shows
up as a duplicate rather than as a second alert.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from perf_orchestration.delivery.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from perf_orchestration.testing.wait import wait_until

MAX_BODY_BYTES = 1_000_000


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver

    def handle_error(self, request, client_address) -> None:
        """A client that timed out and hung up is expected here, not worth a traceback."""


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _QuietServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """No request logging: the receiver's counters are the record."""

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up first (a timeout test), as intended

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        receiver = self.server.receiver
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            receiver._count_rejected()
            self._answer(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY_BYTES:
            receiver._count_rejected()
            self._answer(413, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        status, payload = receiver._handle(dict(self.headers.items()), body)
        if status:
            self._answer(status, payload)


class WebhookReceiver:
    """A threaded HTTP endpoint that verifies signed webhooks and de-duplicates by key.

    `fail_first` requests are answered with `fail_status` before any is accepted (to test
    retries); `delay_seconds` stalls every answer (to test timeouts); `reply` replaces the
    JSON of a successful answer (e.g. a platform's error code, answered with HTTP 200).
    """

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0,
                 fail_first: int = 0, fail_status: int = 500, delay_seconds: float = 0.0, *,
                 max_age_seconds: float = 300, reply: dict[str, Any] | None = None):
        if not secret:
            raise ValueError("WebhookReceiver needs the secret the sender signs with")
        self.secret = secret
        self.host = host
        self.port = port
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.delay_seconds = delay_seconds
        self.max_age_seconds = max_age_seconds
        self.reply = reply
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._received: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._requests = 0
        self._rejected = 0
        self._duplicates = 0
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        if self._server is not None:
            return self
        server_cls = _QuietServer6 if ":" in self.host else _QuietServer
        server = server_cls((self.host, self.port), _WebhookHandler)
        server.receiver = self
        self.port = server.server_address[1]
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"webhook-receiver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay_seconds
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    # what arrived --------------------------------------------------------------------
    @property
    def received(self) -> list[dict[str, Any]]:
        """Accepted requests, repeats included: {key, headers, json, body, received_at}."""
        with self._lock:
            return list(self._received)

    @property
    def requests(self) -> int:
        """Every POST, whatever its answer."""
        with self._lock:
            return self._requests

    @property
    def rejected(self) -> int:
        """Requests refused for a bad or missing signature or a malformed body."""
        with self._lock:
            return self._rejected

    @property
    def duplicates(self) -> int:
        """Accepted requests whose Idempotency-Key had been seen before."""
        with self._lock:
            return self._duplicates

    def count_by_key(self) -> Counter[str]:
        with self._lock:
            return Counter(item["key"] for item in self._received)

    def unique(self) -> list[dict[str, Any]]:
        """The first arrival of each key: what a de-duplicating consumer acts on."""
        seen: set[str] = set()
        out = []
        for item in self.received:
            if item["key"] not in seen:
                seen.add(item["key"])
                out.append(item)
        return out

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until `count` requests were accepted (handlers run in their own threads)."""
        return wait_until(lambda: len(self.received) >= count, timeout)

    # request handling (called from the server's threads) ------------------------------
    def _count_rejected(self) -> None:
        with self._lock:
            self._requests += 1
            self._rejected += 1

    def _handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._requests += 1
            number = self._requests
        if self.delay_seconds > 0 and self._stopping.wait(self.delay_seconds):
            return 0, {}  # stopping: drop the request without an answer
        if number <= self.fail_first:
            return self.fail_status, {"error": f"injected failure {number}/{self.fail_first}"}
        lower = {k.lower(): v for k, v in headers.items()}
        if not verify(self.secret, lower.get(TIMESTAMP_HEADER.lower()), body,
                      lower.get(SIGNATURE_HEADER.lower()), self.max_age_seconds):
            with self._lock:
                self._rejected += 1
            return 401, {"error": "bad or missing signature"}
        key = lower.get(IDEMPOTENCY_HEADER.lower())
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not key or document is None:
            with self._lock:
                self._rejected += 1
            return 400, {"error": "Idempotency-Key header and a JSON body are required"}
        with self._lock:
            duplicate = key in self._keys
            self._keys.add(key)
            if duplicate:
                self._duplicates += 1
            self._received.append({"key": key, "headers": headers, "json": document,
                                   "body": body, "received_at": datetime.now(UTC)})
        if self.reply is not None:
            return 200, self.reply
        return 200, {"ok": True, "duplicate": duplicate}
