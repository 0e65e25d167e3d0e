"""An SMTP server on loopback (aiosmtpd) that keeps every message it accepts: plain, with
STARTTLS, or over implicit TLS, optionally requiring a login, failing on purpose to
exercise the e-mail retries."""

from __future__ import annotations

import hmac
import logging
import ssl
import threading
import warnings
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from perf_orchestration.testing.wait import wait_until


class SmtpReceiver:
    """An SMTP server (aiosmtpd) on loopback that keeps every message it accepts.

    `fail_first` messages are answered with `fail_code` (451 by default, a transient
    refusal; 550 a permanent one) before any is accepted, to test the e-mail retries.
    With `credentials` (user, password) the server requires SMTP AUTH (PLAIN or LOGIN)
    before it takes mail, like a plant's authenticated relay. With `tls` (a server
    SSLContext) it requires STARTTLS before mail, or with `implicit_tls` speaks TLS from
    the first byte (port 465 style).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fail_first: int = 0,
                 fail_code: int = 451, credentials: tuple[str, str] | None = None,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False):
        self.host = host
        self.port = port
        self.fail_first = fail_first
        self.fail_code = fail_code
        self.credentials = credentials
        self.tls = tls
        self.implicit_tls = implicit_tls
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[dict[str, Any]] = []
        self._attempts = 0
        self._logins: Counter[str] = Counter()
        self._controller: Any = None

    def start(self) -> SmtpReceiver:
        if self._controller is not None:
            return self
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise RuntimeError("SmtpReceiver needs the aiosmtpd package, a dependency of "
                               "perf_orchestration: reinstall the project") from exc

        mail_log = logging.getLogger("mail.log")
        if mail_log.level == logging.NOTSET:
            mail_log.setLevel(logging.WARNING)  # aiosmtpd logs every session at INFO

        class _BoundPortController(Controller):
            """aiosmtpd 1.4 cannot use port 0: it connects to `self.port` to warm up the
            server. Learning the bound port right after binding, before that connection,
            lets the operating system pick a free port with no race."""

            def _create_server(self):
                return self._bind()

            async def _bind(self):
                server = await super()._create_server()
                self.port = server.sockets[0].getsockname()[1]
                return server

        auth: dict[str, Any] = {}
        if self.credentials is not None:
            auth = {"authenticator": self._authenticate, "auth_required": True,
                    "auth_require_tls": False}
            # aiosmtpd warns that AUTH without TLS is unsafe: true, and meant, on loopback
            logging.getLogger("mail.log").setLevel(logging.ERROR)
            warnings.filterwarnings("ignore", category=UserWarning,
                                    message="Requiring AUTH while not requiring TLS")
        if self.tls is not None:
            auth |= ({"ssl_context": self.tls} if self.implicit_tls
                     else {"tls_context": self.tls, "require_starttls": True})
            auth["auth_require_tls"] = not self.implicit_tls
        controller = _BoundPortController(_SmtpHandler(self), hostname=self.host,
                                          port=self.port, **auth)
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> SmtpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """SMTP envelope of each accepted message: mail_from, rcpt_tos, received_at."""
        with self._lock:
            return list(self._envelopes)

    @property
    def attempts(self) -> int:
        """Every DATA command, refused ones included."""
        with self._lock:
            return self._attempts

    def count_by_key(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m.get("Idempotency-Key", "")) for m in self._messages)

    @property
    def logins(self) -> Counter[str]:
        """AUTH attempts by outcome: `accepted`, `refused`."""
        with self._lock:
            return Counter(self._logins)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        return wait_until(lambda: len(self.messages) >= count, timeout)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = False
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            user, password = self.credentials
            ok = (hmac.compare_digest(auth_data.login, user.encode("utf-8"))
                  and hmac.compare_digest(auth_data.password, password.encode("utf-8")))
        with self._lock:
            self._logins["accepted" if ok else "refused"] += 1
        return AuthResult(success=ok, handled=False)

    def _accept(self, envelope: Any) -> str:
        with self._lock:
            self._attempts += 1
            if self._attempts <= self.fail_first:
                return f"{self.fail_code} injected failure {self._attempts}/{self.fail_first}"
            raw = envelope.original_content or envelope.content
            if isinstance(raw, str):
                raw = raw.encode("utf-8")
            mail = BytesParser(policy=policy.default).parsebytes(raw)
            self._messages.append(mail)  # type: ignore[arg-type]
            self._envelopes.append({"mail_from": envelope.mail_from,
                                    "rcpt_tos": list(envelope.rcpt_tos),
                                    "received_at": datetime.now(UTC)})
            return f"250 OK queued as {len(self._messages)}"


class _SmtpHandler:
    """aiosmtpd handler: hands each message to the receiver, which answers the DATA."""

    def __init__(self, receiver: SmtpReceiver):
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return self.receiver._accept(envelope)
