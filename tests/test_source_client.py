"""The source client against a real HTTP server on loopback: retries, pages, errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from perf_orchestration.ingestion.client import SourceCallError, SourceClient


class _Script:
    """Answers to serve in order; the last one repeats."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen: list[str] = []

    def next(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server():
    script = _Script([(200, {"items": []})])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            script.seen.append(self.path)
            status, body = script.next()
            if status == "sleep":
                time.sleep(body)
                status, body = 200, {"items": [{"id": 1}]}
            payload = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except BrokenPipeError:  # the client timed out first, as the test intends
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, script
    httpd.shutdown()
    httpd.server_close()


def _client(httpd, **kw):
    return SourceClient("mes", f"http://127.0.0.1:{httpd.server_port}", "tok",
                        backoff_seconds=0.01, **kw)


def test_pages_are_followed_and_counted(server):
    httpd, script = server
    script.answers = [
        (200, {"items": [{"id": 1}, {"id": 2}], "next_page_token": "2", "cursor": "c1"}),
        (200, {"items": [{"id": 3}], "next_page_token": None, "cursor": "c2"}),
    ]
    result = _client(httpd).fetch("production")
    assert [i["id"] for i in result.items] == [1, 2, 3]
    assert result.pages == 2 and result.cursor == "c2"
    assert "page_token=2" in script.seen[1]
    assert result.stats.requests == 2 and result.stats.retries == 0


def test_5xx_then_success_is_retried(server):
    httpd, script = server
    script.answers = [(503, {"error": "busy"}), (502, {"error": "gw"}),
                      (200, {"items": [{"id": 9}]})]
    result = _client(httpd).fetch("production")
    assert result.items == [{"id": 9}]
    assert result.stats.retries == 2
    assert len(script.seen) == 3


def test_429_with_retry_after_is_retried(server):
    httpd, script = server
    script.answers = [(429, {"error": "slow down"}), (200, {"items": [{"id": 1}]})]
    assert _client(httpd).fetch("production").stats.retries == 1


def test_exhausted_retries_name_system_and_endpoint(server):
    httpd, script = server
    script.answers = [(500, {"error": "down"})]
    with pytest.raises(SourceCallError) as err:
        _client(httpd, max_retries=2).fetch("production", since="2026-11-02T00:00:00+08:00")
    message = str(err.value)
    assert "MES endpoint /mes/production?" in message and "HTTP 500" in message
    assert len(script.seen) == 3  # first try + 2 retries


def test_read_timeout_is_retried_then_fails_clearly(server):
    httpd, script = server
    script.answers = [("sleep", 0.5)]
    client = _client(httpd, max_retries=1, read_timeout=0.1)
    with pytest.raises(SourceCallError) as err:
        client.fetch("production")
    assert "timed out" in str(err.value).lower()
    script.answers = [("sleep", 0.5), (200, {"items": [{"id": 2}]})]
    script.seen.clear()
    assert client.fetch("production").items == [{"id": 2}]


def test_non_json_answer_is_a_clear_error(server):
    httpd, script = server
    script.answers = [(200, b"<html>oops</html>")]
    with pytest.raises(SourceCallError, match="not JSON"):
        _client(httpd).fetch("production")
