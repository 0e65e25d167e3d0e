"""E-mail delivery over SMTP, with retries on transient failures and a stable Message-ID.

The Message-ID and an `Idempotency-Key` header are derived from the action's idempotency
key, so if a retry delivers a message twice (a connection dropped after the server took
it), mail servers and clients can tell the copies apart from new mail. SMTP 4xx replies
and connection problems are retried with backoff; 5xx replies fail at once, because the
server has said the message will never be accepted as it is.

With a user name the channel logs in (SMTP AUTH, after STARTTLS when asked); a refused
login is a failed delivery naming the server and the user, never the password.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from perf_orchestration.delivery.base import (
    DeliveryError,
    DeliveryResult,
    Message,
    backoff_delay,
    one_line,
    utcnow,
)
from perf_orchestration.delivery.chat import links

log = logging.getLogger(__name__)

USER_ENV = "PERFFLOW_SMTP_USER"
PASSWORD_ENV = "PERFFLOW_SMTP_PASSWORD"
# Headers are not folded below SMTP's 998-character line limit, so a long Idempotency-Key
# or Message-ID stays one plain token a mail filter can match (78 is only a recommendation).
MAIL_POLICY = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class TlsSettings:
    """The names of the settings behind the TLS options, for messages that say what to fix."""

    mode: str = "PERFFLOW_SMTP_TLS"
    ca_file: str = "PERFFLOW_SMTP_CA_FILE"
    host: str = "PERFFLOW_SMTP_HOST"


def message_id(idempotency_key: str, domain: str) -> str:
    """A Message-ID that is the same for every attempt at the same action."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<perfflow.{digest}@{domain}>"


class _KeepsDataReply:
    """Keeps the server's reply to DATA, the proof of acceptance."""

    last_data_reply: tuple[int, bytes] | None = None

    def data(self, msg):  # type: ignore[override]
        code, text = super().data(msg)  # type: ignore[misc]
        self.last_data_reply = (code, text)
        return code, text


class _SMTP(_KeepsDataReply, smtplib.SMTP):
    """Plain SMTP, optionally switched to TLS by STARTTLS."""


class _SMTPS(_KeepsDataReply, smtplib.SMTP_SSL):
    """SMTP over implicit TLS (port 465): TLS from the first byte."""


class _Transient(Exception):
    """An attempt that may succeed when tried again (connection problem or SMTP 4xx)."""


class _Permanent(Exception):
    """An attempt the server refused for good (SMTP 5xx) or that no retry can fix."""


def _smtp_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class EmailChannel:
    """Sends each message as one plain-text e-mail to its recipient through one SMTP server."""

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10,
                 max_retries: int = 3, backoff_seconds: float = 0.5,
                 password_env: str = PASSWORD_ENV, user_env: str = USER_ENV,
                 helo_name: str | None = None, implicit_tls: bool = False,
                 ca_file: str | None = None, tls_settings: TlsSettings | None = None):
        if not host:
            raise DeliveryError("SMTP host is not set")
        if "@" not in (sender or ""):
            raise DeliveryError(f"SMTP sender {sender!r} is not an e-mail address")
        if max_retries < 0:
            raise DeliveryError(f"SMTP max_retries must be >= 0, got {max_retries}")
        if implicit_tls and starttls:
            raise DeliveryError("SMTP: implicit TLS and STARTTLS are exclusive; choose one")
        self.settings = tls_settings or TlsSettings()
        if ca_file and not os.path.isfile(ca_file):
            raise DeliveryError(f"{self.settings.ca_file}: no such file {ca_file!r}")
        self.implicit_tls = implicit_tls
        self.ca_file = ca_file
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.password_env = password_env
        self.user_env = user_env
        # smtplib's default HELO name comes from socket.getfqdn(), a reverse DNS lookup
        # that can hang for seconds on a plant network without DNS.
        self.helo_name = helo_name or socket.gethostname() or "localhost"
        self.domain = sender.rsplit("@", 1)[1].strip(">").strip() or "localhost"

    def __repr__(self) -> str:
        return f"EmailChannel({self.host!r}, {self.port}, {self.sender!r})"

    def build(self, message: Message) -> EmailMessage:
        """The e-mail for `message`; raises ValueError when the recipient is no address."""
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = self.sender
        try:
            mail["To"] = Address(display_name=message.recipient_name or "",
                                 addr_spec=message.recipient)
        except (ValueError, IndexError, HeaderParseError) as exc:
            raise ValueError(f"recipient {message.recipient!r} is not an e-mail address") \
                from exc
        if "@" not in message.recipient:
            raise ValueError(f"recipient {message.recipient!r} is not an e-mail address")
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(utcnow())
        mail["Message-ID"] = message_id(message.wire_key, self.domain)
        mail["Idempotency-Key"] = message.wire_key
        # RFC 3834: automatic mail; out-of-office responders should not answer it.
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-Auto-Response-Suppress"] = "All"
        body = message.body
        extra = [f"{title}: {url}" if title != url else url
                 for title, url in links(message.data)]
        if extra:
            body = body.rstrip("\n") + "\n\n" + "\n".join(extra)
        mail.set_content(body + ("" if body.endswith("\n") else "\n"))
        return mail

    def _require_password(self) -> str | None:
        if self.username and not self._password:
            raise DeliveryError(
                f"SMTP password for user {self.username!r} is not set: set the environment "
                f"variable {self.password_env}")
        if self._password and not self.username:
            raise DeliveryError(
                f"SMTP password is set ({self.password_env}) but no user to log in as: set "
                f"the environment variable {self.user_env}")
        return self._password

    def check(self) -> None:
        """Raise DeliveryError now for a login that cannot work, before anything is sent."""
        self._require_password()

    def send(self, message: Message) -> DeliveryResult:
        """Deliver `message` (with retries); the outcome is returned, never raised."""
        password = self._require_password()
        try:
            mail = self.build(message)
        except ValueError as exc:
            return self._failed(message, 0, str(exc))
        where = f"SMTP {self.host}:{self.port}"
        last = ""
        for attempt in range(1, self.max_retries + 2):
            if attempt > 1:
                time.sleep(backoff_delay(attempt - 1, self.backoff_seconds))
            try:
                reply = self._send_once(mail, message.recipient, password)
            except _Transient as exc:
                last = str(exc)
                continue
            except _Permanent as exc:
                return self._failed(message, attempt,
                                    f"{where} refused after {attempt} attempt(s): {exc}")
            return DeliveryResult("delivered", attempt, one_line(reply), utcnow())
        attempts = self.max_retries + 1
        return self._failed(message, attempts, f"{where} failed after {attempts} attempt(s): "
                                               f"{last}")

    def _send_once(self, mail: EmailMessage, recipient: str, password: str | None) -> str:
        """One SMTP session; the reply to DATA, or _Transient / _Permanent."""
        smtp: _SMTP | None = None
        try:
            if self.implicit_tls:
                smtp = _SMTPS(self.host, self.port, local_hostname=self.helo_name,
                              timeout=self.timeout, context=self._tls_context())
            else:
                smtp = _SMTP(self.host, self.port, local_hostname=self.helo_name,
                             timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, password or "")
            smtp.send_message(mail, from_addr=self.sender, to_addrs=[recipient])
            code, text = smtp.last_data_reply or (250, b"")
            return f"{code} {_smtp_text(text)}".strip()
        except smtplib.SMTPAuthenticationError as exc:
            # 535: the server refused the user and password; 454: try again later
            raise _classify(exc.smtp_code, f"authentication failed for user "
                            f"{self.username!r}: {exc.smtp_code} "
                            f"{_smtp_text(exc.smtp_error)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (-1, b""))
            raise _classify(code, f"recipient refused: {code} {_smtp_text(text)}") from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code,
                            f"{exc.smtp_code} {_smtp_text(exc.smtp_error)}") from None
        except smtplib.SMTPServerDisconnected as exc:
            raise _Transient(f"server disconnected: {exc}") from None
        except ssl.SSLCertVerificationError as exc:
            raise _Permanent(self._certificate_problem(exc)) from None
        except ssl.SSLError as exc:
            raise _Permanent(f"TLS handshake failed ({exc.reason or exc}): is "
                             f"{self.settings.mode} right for port {self.port}?") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise _Permanent(f"{exc} (check {self.settings.mode})") from None
        except smtplib.SMTPException as exc:
            raise _Permanent(f"{type(exc).__name__}: {exc}") from None
        except TimeoutError:
            raise _Transient(f"timed out (timeout {self.timeout:g} s)") from None
        except ConnectionRefusedError:
            raise _Transient("connection refused") from None
        except OSError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        finally:
            if smtp is not None:
                _close_quietly(smtp)

    def _tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checked, against `ca_file` or the system's CAs."""
        return ssl.create_default_context(cafile=self.ca_file)

    def _certificate_problem(self, exc: ssl.SSLCertVerificationError) -> str:
        reason = exc.verify_message or exc.reason or str(exc)
        if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
            return (f"TLS certificate does not match the host {self.host!r} ({reason}): set "
                    f"{self.settings.host} to a name the certificate holds")
        trust = (f"the CA file of {self.settings.ca_file} ({self.ca_file})" if self.ca_file
                 else f"the system's CAs (set {self.settings.ca_file} to the plant's CA file)")
        return f"TLS certificate of {self.host!r} not trusted by {trust}: {reason}"

    def _failed(self, message: Message, attempts: int, detail: str) -> DeliveryResult:
        if self._password:  # a server echoing what it was sent must not put it in a log
            detail = detail.replace(self._password, "[password]")
        detail = one_line(detail)
        log.warning("e-mail delivery failed for key %s: %s", message.idempotency_key, detail)
        return DeliveryResult("failed", attempts, detail, None)


def _classify(code: int, text: str) -> Exception:
    """SMTP 5xx is final; 4xx (and a missing code, from a broken session) may pass later."""
    return _Permanent(text) if 500 <= code < 600 else _Transient(text)


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """QUIT after the message was taken must not turn a delivery into a failure."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
