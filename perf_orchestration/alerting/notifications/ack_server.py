"""The acknowledgement endpoint: the signed link of a notification, served over HTTP.

A team leader clicks the link in an e-mail or chat message. GET answers a confirmation
page with one button and writes nothing: mail scanners and chat previews fetch links
before a person sees them, and a GET that acknowledged would stop the escalation of an
alert nobody read. The button POSTs the same signed fields; only the POST verifies them
again (`verify_ack_link`: signature, expiry, episode, person) and records the
acknowledgement (`acknowledge`), which stops the escalation. Pages are small and
self-contained (no script, no external reference) so they read on a phone.

The server binds to 127.0.0.1: a plant puts it behind its reverse proxy (TLS, the
public address that PERFFLOW_ACK_URL names). The link itself is the credential, so the
server keeps no session and no cookie.
"""

from __future__ import annotations

import html
import logging
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from perf_orchestration.alerting.notifications.escalation import (
    AckError,
    acknowledge,
    verify_ack_link,
)
from perf_orchestration.alerting.rules import RuleSet
from perf_orchestration.plant_calendar import plant_tz
from perf_orchestration.tables import RAW_TABLES, alert_episodes

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PATH = "/ack"
MAX_FORM_BYTES = 4096  # the four signed fields; anything longer is not a click
MAX_CONNECTIONS = 64  # connections served at once; more get a quick 503
CLIENT_TIMEOUT_SECONDS = 10.0  # a client silent this long mid-request is cut off
FIELDS = ("episode", "by", "exp", "sig")
ALLOWED = "GET, HEAD, POST"
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # no script, nothing fetched; the form may only post back here; never framed
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STYLE = ("body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1.2em;color:#1b1b1b;"
         "background:#f6f6f4}main{max-width:32em;margin:auto;background:#fff;padding:1.2em;"
         "border-radius:8px;border:1px solid #ddd}h1{font-size:1.25em;margin:0 0 .6em}"
         "p{margin:.5em 0}code{background:#eee;padding:.1em .3em;border-radius:3px;"
         "word-break:break-all}button{font-size:1.1em;padding:.7em 1.4em;border:0;"
         "border-radius:6px;background:#1f6f3f;color:#fff;width:100%;margin-top:.8em}"
         ".muted{color:#666;font-size:.9em}")


def plant_time(value: datetime | str | None) -> str:
    """A warehouse time (UTC, naive) as the plant reads it."""
    if value is None:
        return "an unknown time"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return f"{aware.astimezone(plant_tz()):%Y-%m-%d %H:%M} plant time"


def fallback(episode: str | None, person: str | None) -> str:
    """The command that acknowledges without a link."""
    return f"perfflow ack {episode or 'EPISODE'} --by {person or 'PERSON'}"


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    html_body: str  # already escaped


def _page(status: int, title: str, *paragraphs: str) -> Page:
    return Page(status, title, "".join(f"<p>{p}</p>" for p in paragraphs))


def _render(page: Page) -> bytes:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(page.title)}</title><style>{STYLE}</style></head>"
            f"<body><main><h1>{html.escape(page.title)}</h1>{page.html_body}</main>"
            "</body></html>").encode()


class AckService:
    """What the endpoint does, apart from HTTP: read, confirm, record."""

    def __init__(self, engine: Engine, secret: str, rules: RuleSet | None = None):
        if not secret:
            raise ValueError("the acknowledgement endpoint needs the secret links are signed with")
        self.engine = engine
        self.secret = secret
        self.rules = rules

    # lookups ---------------------------------------------------------------------------
    def _episode(self, episode_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(alert_episodes).where(
                alert_episodes.c.episode_id == episode_id)).mappings().first()
        return dict(row) if row else None

    def _person(self, person_id: str | None) -> str:
        if not person_id:
            return "someone"
        employees = RAW_TABLES["hr_employees"]
        try:
            with self.engine.connect() as conn:
                name = conn.execute(sa.select(employees.c.name).where(
                    employees.c.employee_id == person_id).limit(1)).scalar()
        except sa.exc.SQLAlchemyError:  # no roster yet: the id alone still says who
            name = None
        return f"{name} ({person_id})" if name else person_id

    def _alert(self, row: dict) -> str:
        description = row["rule_id"]
        if self.rules is not None:
            try:
                description = self.rules.rule(row["rule_id"]).description
            except KeyError:
                pass
        return f"{description}, {row['subject']}"

    # the two steps -----------------------------------------------------------------------
    def _verified(self, fields: dict[str, str]) -> tuple[str, str, dict] | Page:
        """The episode, person and episode row of a valid link, or the page refusing it."""
        link = "?" + urlencode({k: fields[k] for k in FIELDS if k in fields})
        try:
            episode_id, person = verify_ack_link(self.secret, link)
        except AckError as err:
            reason = str(err).split("; acknowledge with", 1)[0]
            return _page(403, "This link cannot acknowledge the alert",
                         html.escape(f"Refused: {reason}."),
                         "Acknowledge from a terminal instead: <code>"
                         f"{html.escape(fallback(fields.get('episode'), fields.get('by')))}"
                         "</code>")
        row = self._episode(episode_id)
        if row is None:
            return _page(404, "Unknown alert",
                         html.escape(f"No alert episode {episode_id!r} in this plant's "
                                     "warehouse (ops.alert_episodes)."))
        return episode_id, person, row

    def _already(self, row: dict) -> Page:
        return _page(200, "Already acknowledged",
                     html.escape(f"{self._alert(row)}: already acknowledged by "
                                 f"{self._person(row['acknowledged_by'])} at "
                                 f"{plant_time(row['acknowledged_at'])}."),
                     "Its escalation is stopped; nothing more to do.")

    def confirm(self, fields: dict[str, str]) -> Page:
        """GET: the confirmation page (one button), or why not. Writes nothing."""
        verified = self._verified(fields)
        if isinstance(verified, Page):
            return verified
        _, person, row = verified
        if row["acknowledged_at"] is not None:
            return self._already(row)
        hidden = "".join(f"<input type=\"hidden\" name=\"{k}\" "
                         f"value=\"{html.escape(fields[k], quote=True)}\">" for k in FIELDS)
        when = f"Fired at {plant_time(row['fired_at'])}"
        if row["resolved_at"] is not None:
            when += f", resolved at {plant_time(row['resolved_at'])}"
        return Page(200, "Acknowledge this alert?",
                    f"<p>{html.escape(self._alert(row))}</p>"
                    f"<p class=\"muted\">{html.escape(when)}.</p>"
                    f"<p>You acknowledge as {html.escape(self._person(person))}: the alert "
                    "is not escalated further.</p>"
                    f"<form method=\"post\">{hidden}"
                    "<button type=\"submit\">Acknowledge</button></form>")

    def record(self, fields: dict[str, str]) -> Page:
        """POST: verify the link again and record the acknowledgement once."""
        verified = self._verified(fields)
        if isinstance(verified, Page):
            return verified
        episode_id, person, _ = verified
        try:
            first = acknowledge(self.engine, episode_id, person)
        except AckError as err:  # the episode vanished between the two reads
            return _page(404, "Unknown alert", html.escape(str(err)))
        row = self._episode(episode_id)
        if row is None:
            return _page(404, "Unknown alert", html.escape(f"No alert episode {episode_id!r}."))
        if not first:
            return self._already(row)
        log.info("acknowledged %s by %s", episode_id, person)
        self._refresh_response_times()
        return _page(200, "Acknowledged",
                     html.escape(f"{self._alert(row)}: acknowledged by "
                                 f"{self._person(person)} at "
                                 f"{plant_time(row['acknowledged_at'])}."),
                     "Its escalation is stopped. Thank you.")

    def _refresh_response_times(self) -> None:
        """Acknowledged episodes count in marts.response_times, as with `perfflow ack`; a
        failure here leaves the acknowledgement recorded and the next action run refreshes."""
        from perf_orchestration.alerting.response import refresh_response_times

        try:
            refresh_response_times(self.engine)
        except sa.exc.SQLAlchemyError as err:
            log.warning("marts.response_times not refreshed: %s", str(err).splitlines()[0])


BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n")


class _Server(ThreadingHTTPServer):
    """One thread per connection, but never more than `max_connections` at once: a burst
    or a crowd of slow clients gets a quick 503 beyond that, so memory stays bounded."""

    daemon_threads = True
    request_queue_size = 128  # a burst waits in the kernel's queue, not refused outright
    service: AckService
    path: str
    slots: threading.BoundedSemaphore

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """A client that hung up mid-answer is no reason for a traceback."""


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "perfflow-ack"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """No access log: the query is the signed token; acknowledgements are logged."""

    def _send(self, page: Page, head: bool = False, extra: dict[str, str] | None = None
              ) -> None:
        body = _render(page)
        try:
            self.send_response(page.status)
            for name, value in {**HEADERS, **(extra or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _serve(self, head: bool, fields: dict[str, str] | None, step) -> None:
        if urlsplit(self.path).path != self.server.path:
            self._send(_page(404, "Not found", "This address serves acknowledgement links "
                             "only."), head)
            return
        if fields is None:
            self._send(_page(400, "Bad request", "The form could not be read."), head)
            return
        try:
            page = step(fields)
        except sa.exc.SQLAlchemyError as err:
            log.warning("warehouse error: %s", str(err).splitlines()[0])
            page = _page(503, "Try again in a minute",
                         "The plant's warehouse did not answer. Open the link again in a "
                         "minute: a second click never records twice.",
                         "Or acknowledge from a terminal: <code>"
                         f"{html.escape(fallback(fields.get('episode'), fields.get('by')))}"
                         "</code>")
        self._send(page, head)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(False, _fields(urlsplit(self.path).query), self.server.service.confirm)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(True, _fields(urlsplit(self.path).query), self.server.service.confirm)

    def do_POST(self) -> None:  # noqa: N802
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_FORM_BYTES:
            self.close_connection = True
            self._send(_page(400, "Bad request", "The form could not be read."))
            return
        raw = self.rfile.read(length)
        try:
            fields = _fields(raw.decode("ascii"))
        except UnicodeDecodeError:
            fields = None
        self._serve(False, fields, self.server.service.record)

    def __getattr__(self, name: str):
        """Every other method (PUT, DELETE, OPTIONS, anything) is 405, not http.server's
        501: the endpoint exists, it serves GET, HEAD and POST only."""
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(_page(405, "Method not allowed", f"This address serves {ALLOWED} only."),
                   extra={"Allow": ALLOWED})


def _fields(query: str) -> dict[str, str]:
    """The first value of each field of a query string or urlencoded form."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


class AckServer:
    """The endpoint on a port of `host` (127.0.0.1 unless told; port 0 picks a free one).

    `warehouse` is an engine or a URL (then the server makes the engine and disposes of
    it on stop). Bound on construction so `url` is right before serving; use as a context
    manager or call start()/stop(); `serve_forever()` blocks (the CLI).
    """

    def __init__(self, warehouse: Engine | str, secret: str, host: str = DEFAULT_HOST,
                 port: int = 0, path: str = DEFAULT_PATH, rules: RuleSet | None = None, *,
                 max_connections: int = MAX_CONNECTIONS,
                 client_timeout_seconds: float = CLIENT_TIMEOUT_SECONDS):
        from perf_orchestration.warehouse import make_engine

        if not path.startswith("/"):
            raise ValueError(f"the path {path!r} must start with '/'")
        self._owns_engine = isinstance(warehouse, str)
        engine = make_engine(warehouse) if isinstance(warehouse, str) else warehouse
        self.service = AckService(engine, secret, rules)
        self.host, self.path = host, path
        handler = type("Handler", (_Handler,), {"timeout": client_timeout_seconds})
        self._httpd = (_Server6 if ":" in host else _Server)((host, port), handler)
        self._httpd.service, self._httpd.path = self.service, path
        self._httpd.slots = threading.BoundedSemaphore(max_connections)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def bound_host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def url(self) -> str:
        """The link base to put in PERFFLOW_ACK_URL when nothing stands in front."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> AckServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name=f"ack-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        self._httpd.server_close()
        if self._owns_engine:
            self.service.engine.dispose()

    def __enter__(self) -> AckServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
