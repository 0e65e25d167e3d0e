"""The acknowledgement endpoint under abuse, on loopback: replayed, forged, expired and
oversized requests, slow clients and a burst of 1,000 requests. Each is refused with the
right status, the one legitimate acknowledgement in the middle of the burst is recorded
once, and the server's threads and memory stay bounded."""

from __future__ import annotations

import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from test_ack_server import (  # noqa: F401 - engine and http are fixtures
    RULES,
    SECRET,
    _ack,
    _episode,
    _query,
    engine,
    http,
)

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.notifications.ack_server import AckServer
from perf_orchestration.alerting.notifications.escalation import ack_link

MAX_CONNECTIONS = 16
TIMEOUT_S = 1.0


@pytest.fixture
def guarded(engine):
    with AckServer(engine, SECRET, rules=RULES, max_connections=MAX_CONNECTIONS,
                   client_timeout_seconds=TIMEOUT_S) as server:
        yield server


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _forged(link: str) -> str:
    sig = re.search(r"sig=(\w+)", link).group(1)
    return link.replace(f"sig={sig}", f"sig={'0' * len(sig)}")


def test_replayed_forged_expired_and_oversized_requests(engine, guarded, http, invariant):
    episode = _episode(engine, "T4")
    good = ack_link(guarded.url, SECRET, episode, "E41")
    first = http.post(good, data=_query(good))
    replay = http.post(good, data=_query(good))
    assert first.status_code == 200 and "Acknowledged" in first.text
    invariant("ack replayed", "a replayed click records nothing more",
              replay.status_code == 200 and _ack(engine, episode)[2] == 1,
              status=replay.status_code, transitions=_ack(engine, episode)[2])
    expired = ack_link(guarded.url, SECRET, episode, "E41",
                       expires_at=utcnow() - timedelta(minutes=1))
    statuses = {"forged": http.post(_forged(good), data=_query(_forged(good))).status_code,
                "expired": http.post(expired, data=_query(expired)).status_code,
                "oversized form": http.post(good, data="x" * 100_000).status_code,
                "oversized query": http.get(good + "&pad=" + "x" * 70_000).status_code}
    invariant("ack forged, expired, oversized", "each refused with its status",
              statuses == {"forged": 403, "expired": 403, "oversized form": 400,
                           "oversized query": 414}, **statuses)


def test_slow_clients_are_cut_off_and_cannot_crowd_out_a_click(engine, guarded, http,
                                                                invariant):
    episode = _episode(engine, "T4")
    link = ack_link(guarded.url, SECRET, episode, "E41")
    slow = []
    for _ in range(3 * MAX_CONNECTIONS):  # a slowloris crowd: a request line, then silence
        sock = socket.create_connection(("127.0.0.1", guarded.port), timeout=5)
        sock.sendall(b"GET /ack?episode=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.append(sock)
    started = time.monotonic()
    while True:  # the crowd is cut after the client timeout; then the click gets through
        answer = http.get(link, timeout=5)
        if answer.status_code == 200 or time.monotonic() - started > 10 * TIMEOUT_S:
            break
        assert answer.status_code == 503  # busy, said at once, never a hang
        time.sleep(0.1)
    waited = time.monotonic() - started
    time.sleep(max(0.0, 1.5 * TIMEOUT_S - waited))
    closed = 0
    for sock in slow:
        sock.settimeout(0.2)
        try:
            data = sock.recv(65536)  # b"": closed; else a 503 (busy) or 408 before closing
            closed += data == b"" or data.startswith(b"HTTP/1.")
        except TimeoutError:
            pass  # still held open by the server: not cut off
        except OSError:
            closed += 1  # reset by the server
        sock.close()
    invariant("ack slow clients", "cut off after the client timeout; the click answered",
              answer.status_code == 200 and closed == len(slow) and waited < 5 * TIMEOUT_S,
              waited_s=round(waited, 2), closed=closed)


def test_a_burst_of_1000_requests_keeps_one_acknowledgement_and_bounded_memory(
        engine, guarded, invariant):
    episode = _episode(engine, "T4")
    good = ack_link(guarded.url, SECRET, episode, "E41")
    bad = _forged(good)
    before_rss, before_threads = _rss_kb(), threading.active_count()
    peak_threads = [before_threads]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak_threads[0] = max(peak_threads[0], threading.active_count())
            time.sleep(0.005)

    def hit(i: int) -> int:
        with requests.Session() as session:
            session.trust_env = False
            for attempt in range(20):
                try:
                    if i == 500:  # the one legitimate click, in the middle
                        response = session.post(good, data=_query(good), timeout=10)
                    elif i % 3 == 0:
                        response = session.get(good, timeout=10)
                    else:
                        response = session.post(bad, data=_query(bad), timeout=10)
                except requests.ConnectionError:
                    time.sleep(0.05)
                    continue
                if response.status_code != 503 or i != 500:
                    return response.status_code
                time.sleep(0.05 * (attempt + 1))  # busy: the person clicks again
            return -1

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(hit, range(1000)))
    seconds = time.monotonic() - started
    stop.set()
    watcher.join()
    grown_mb = (_rss_kb() - before_rss) / 1024
    counts = {s: statuses.count(s) for s in set(statuses)}
    invariant("ack burst of 1,000", "the legitimate click recorded once",
              statuses[500] == 200 and _ack(engine, episode)[2] == 1, status=statuses[500])
    invariant("ack burst of 1,000", "every other request refused or confirmed, none lost",
              set(counts) <= {200, 403, 503} and -1 not in counts, **{str(k): v for k, v in
                                                                     counts.items()})
    server_threads = peak_threads[0] - before_threads - 32 - 1  # less the clients, watcher
    invariant("ack burst of 1,000", "threads and memory bounded",
              server_threads <= MAX_CONNECTIONS + 2 and grown_mb < 100,
              server_threads=server_threads, rss_growth_mb=round(grown_mb, 1),
              seconds=round(seconds, 1))
