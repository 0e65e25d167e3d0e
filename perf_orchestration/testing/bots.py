"""DingTalk and Feishu custom bots on loopback, verifying requests as the platforms do.

Each answers HTTP 200 with the platform's own JSON: success, or the error code the
platform gives for a bad signature or a timestamp more than an hour off, a message
without one of the bot's keywords, or a sender outside its IP allow-list. A sender that
reads those codes (delivery/chat.py `reply_error`) records such a message as not
delivered. The checks follow the platforms' public bot documentation.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from perf_orchestration.delivery.bot_signing import (
    MAX_CLOCK_SKEW_SECONDS,
    dingtalk_sign,
    feishu_sign,
)

MAX_BODY_BYTES = 1_000_000
OK = {"dingtalk": {"errcode": 0, "errmsg": "ok"},
      "feishu": {"code": 0, "msg": "success", "data": {}}}
ERRORS = {  # (platform, problem) -> the platform's answer
    ("dingtalk", "sign"): {"errcode": 310000, "errmsg": "sign not match"},
    ("dingtalk", "timestamp"): {"errcode": 310000,
                                "errmsg": "invalid timestamp: more than 1 hour from now"},
    ("dingtalk", "keywords"): {"errcode": 310000, "errmsg": "keywords not in content"},
    ("dingtalk", "ip"): {"errcode": 310000, "errmsg": "ip not in whitelist"},
    ("feishu", "sign"): {"code": 19021, "msg": "sign match fail or timestamp is not within one "
                                               "hour from current time"},
    ("feishu", "timestamp"): {"code": 19021, "msg": "sign match fail or timestamp is not "
                                                    "within one hour from current time"},
    ("feishu", "keywords"): {"code": 19024, "msg": "Key Words Not Found"},
    ("feishu", "ip"): {"code": 19022, "msg": "Ip Not Allowed"},
}


class BotReceiver:
    """One custom bot of `platform` ("dingtalk" or "feishu") with its security settings."""

    def __init__(self, platform: str, secret: str, *, keywords: list[str] | None = None,
                 allowed_ips: list[str] | None = None,
                 clock: Callable[[], float] = time.time):
        if platform not in OK:
            raise ValueError(f"platform must be dingtalk or feishu, got {platform!r}")
        self.platform, self.secret = platform, secret
        self.keywords, self.allowed_ips, self.clock = keywords, allowed_ips, clock
        self.delivered: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the bot first"
        host, port = self._server.server_address[:2]
        token = "access_token=t0ken" if self.platform == "dingtalk" else ""
        path = "/robot/send" if self.platform == "dingtalk" else "/open-apis/bot/v2/hook/t0ken"
        return f"http://{host}:{port}{path}" + (f"?{token}" if token else "")

    def start(self) -> BotReceiver:
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """The bot's lists are the record."""

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY_BYTES))
                answer = bot.judge(self.path, body, self.client_address[0])
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> BotReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def judge(self, path: str, body: bytes, client_ip: str) -> dict[str, Any]:
        """The platform's answer to one request, recording what it delivered or refused."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        problem = self._problem(path, payload if isinstance(payload, dict) else {}, client_ip)
        with self._lock:
            if problem:
                self.refused.append(problem)
            else:
                self.delivered.append(payload)
        return ERRORS[(self.platform, problem)] if problem else OK[self.platform]

    def _problem(self, path: str, payload: dict[str, Any], client_ip: str) -> str | None:
        if self.allowed_ips is not None and client_ip not in self.allowed_ips:
            return "ip"
        if self.platform == "dingtalk":
            query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
            ts_text, sign = query.get("timestamp", ""), query.get("sign")
            scale = 1000
        else:
            ts_text, sign = str(payload.get("timestamp", "")), payload.get("sign")
            scale = 1
        if not ts_text.isdigit() or not sign:
            return "sign"
        ts = int(ts_text)
        if abs(self.clock() - ts / scale) > MAX_CLOCK_SKEW_SECONDS:
            return "timestamp"
        # parse_qs decoded the query once; the platform compares the decoded value with
        # the base64 of the HMAC
        expected = (unquote_plus(dingtalk_sign(self.secret, ts)) if self.platform == "dingtalk"
                    else feishu_sign(self.secret, ts))
        if not hmac.compare_digest(expected, str(sign)):
            return "sign"
        if self.keywords and not any(k in json.dumps(payload, ensure_ascii=False)
                                     for k in self.keywords):
            return "keywords"
        return None
