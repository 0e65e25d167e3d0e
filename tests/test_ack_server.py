"""The acknowledgement endpoint, served for real on loopback over a real warehouse: a click
shows a confirmation and writes nothing, the button acknowledges once and stops the
escalation; expired, altered, foreign and unknown links are refused with the fallback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa

from perf_orchestration.alerting.actions import utcnow
from perf_orchestration.alerting.evaluate import run_episode_actions
from perf_orchestration.alerting.notifications.ack_server import AckServer
from perf_orchestration.alerting.notifications.config import load_routing
from perf_orchestration.alerting.notifications.escalation import (
    ack_link,
    escalate_due,
    next_escalation,
)
from perf_orchestration.alerting.notifications.notify import dispatch_due
from perf_orchestration.alerting.rules import load_rules
from perf_orchestration.delivery import EmailChannel, WebhookChannel
from perf_orchestration.plant_calendar import plant_timezone
from perf_orchestration.tables import alert_episodes, alert_transitions, metadata
from perf_orchestration.testing.rows import land_people, land_rows
from perf_orchestration.testing.smtp import SmtpReceiver
from perf_orchestration.testing.webhook import WebhookReceiver
from perf_orchestration.warehouse import ensure_schemas, make_engine

T0 = datetime(2026, 11, 2, 1, 0)  # 09:00 plant time, a Monday
RULES = load_rules()
ROUTING = load_routing()
SECRET = "ack-endpoint-k3y"
PEOPLE = [("E41", "Li Na", "T4", "team_leader"), ("E42", "Zhou Jie", "T4", "qa_engineer"),
          ("E43", "Chen Yu", "T4", "production_planner"),
          ("E45", "Wang Fang", "T4", "workshop_director"),
          ("E51", "Zhao Lei", "T5", "team_leader"), ("E52", "Sun Li", "T5", "qa_engineer"),
          ("E53", "Ma Jun", "T5", "production_planner"),
          ("E55", "Hu Bin", "T5", "workshop_director")]


def _episode(engine, team: str) -> str:
    episode_id = f"fai-below-92-5|{team}|{(T0 - timedelta(hours=2)).isoformat()}"
    with engine.begin() as conn:
        conn.execute(alert_episodes.insert().values(
            episode_id=episode_id, rule_id="fai-below-92-5", rule_version="t", subject=team,
            state="firing", episode_start=T0 - timedelta(hours=2), signal_at=T0,
            detected_at=T0, fired_at=T0, value=0.8, threshold=0.925))
    return episode_id


@pytest.fixture
def engine(warehouse_url):
    engine = make_engine(warehouse_url)
    ensure_schemas(engine, metadata)
    land_rows(engine, "hr_teams", [
        {"team_id": t, "name": t, "line_id": "ASM", "line_type": "assembly", "workshop": "W2",
         "updated_at": T0} for t in ("T4", "T5")], "team_id")
    land_people(engine, PEOPLE)
    yield engine
    engine.dispose()


@pytest.fixture
def server(engine):
    with AckServer(engine, SECRET, rules=RULES) as server:
        yield server


@pytest.fixture
def plant(engine, server, monkeypatch):
    """Two first-article episodes fired at T0 and told to their people, with the links of
    the notifications pointing at the running endpoint."""
    monkeypatch.setenv("PERFFLOW_ACK_URL", server.url)
    monkeypatch.setenv("PERFFLOW_ACK_SECRET", SECRET)
    with WebhookReceiver("s3cret") as hook, SmtpReceiver() as smtp:
        channels = {"webhook": WebhookChannel(hook.url, "s3cret", backoff_seconds=0.01),
                    "email": EmailChannel("127.0.0.1", smtp.port, "alerts@plant1.example.com",
                                          backoff_seconds=0.01)}
        episodes = [_episode(engine, "T4"), _episode(engine, "T5")]
        for episode in episodes:
            run_episode_actions(engine, RULES, episode, channels, routing=ROUTING, now=T0)
        sent = dispatch_due(engine, ROUTING, channels, now=T0 + timedelta(seconds=11))
        assert sent and all(outcome.status == "delivered" for _, outcome in sent)
        yield {"episodes": episodes, "hook": hook, "smtp": smtp, "channels": channels}


@pytest.fixture
def http():
    with requests.Session() as session:
        session.trust_env = False  # loopback, never through a proxy of the environment
        yield session


class _Form(HTMLParser):
    """The fields and method of the page's form, as a browser would submit them."""

    def __init__(self, page: str):
        super().__init__()
        self.method, self.action, self.fields = None, None, {}
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.method, self.action = a.get("method"), a.get("action")
        if tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a["value"]


def _submit(http, url: str, page: str) -> requests.Response:
    form = _Form(page)
    assert form.method == "post" and form.action is None  # posts back to the page's URL
    return http.post(url, data=form.fields, allow_redirects=False)


def _ack(engine, episode: str) -> tuple:
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_episodes.c.acknowledged_at,
                                     alert_episodes.c.acknowledged_by)
                           .where(alert_episodes.c.episode_id == episode)).one()
        transitions = conn.execute(sa.select(sa.func.count()).where(
            alert_transitions.c.episode_id == episode,
            alert_transitions.c.to_state == "acknowledged")).scalar()
    return row.acknowledged_at, row.acknowledged_by, transitions


def _plant_time(at: datetime) -> str:
    return f"{at.replace(tzinfo=UTC).astimezone(ZoneInfo(plant_timezone())):%Y-%m-%d %H:%M}"


def _self_contained(page: str) -> None:
    assert page.startswith("<!doctype html>") and 'name="viewport"' in page
    for external in ("<script", "src=", "href=", "http://", "https://", "@import", "url("):
        assert external not in page


def test_a_click_confirms_and_only_the_button_acknowledges(engine, server, plant, http):
    t4, t5 = plant["episodes"]
    assert next_escalation(engine, RULES) == T0 + timedelta(minutes=30)
    link = ack_link(server.url, SECRET, t4, "E41")
    # a mail scanner prefetching, a chat preview, the person opening it: nothing written
    for _ in range(2):
        page = http.get(link)
        assert page.status_code == 200
        assert "Acknowledge this alert?" in page.text and "Li Na (E41)" in page.text
        assert "First-article pass rate" in page.text and "T4" in page.text
        assert "Fired at 2026-11-02 09:00 plant time" in page.text
        _self_contained(page.text)
    head = http.head(link)
    assert head.status_code == 200 and head.content == b""
    assert page.headers["Cache-Control"] == "no-store"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert _ack(engine, t4) == (None, None, 0)

    before = utcnow()
    done = _submit(http, link, page.text)
    assert done.status_code == 200 and "Acknowledged" in done.text
    _self_contained(done.text)
    at, by, transitions = _ack(engine, t4)
    assert by == "E41" and transitions == 1
    assert before - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1)
    assert f"acknowledged by Li Na (E41) at {_plant_time(at)} plant time" in done.text
    # escalation: only the episode nobody acknowledged goes up
    escalated = escalate_due(engine, RULES, plant["channels"], now=T0 + timedelta(minutes=31))
    assert [(a.episode_id, a.person.employee_id) for a, _ in escalated] == [(t5, "E55")]
    assert next_escalation(engine, RULES) is None


def test_a_second_click_says_who_acknowledged_and_records_nothing(engine, server, plant, http):
    t4 = plant["episodes"][0]
    link = ack_link(server.url, SECRET, t4, "E41")
    first = http.get(link)
    assert _submit(http, link, first.text).status_code == 200
    at, _, _ = _ack(engine, t4)
    already = f"already acknowledged by Li Na (E41) at {_plant_time(at)} plant time"
    again = http.get(link)
    assert again.status_code == 200 and already in again.text and "<form" not in again.text
    repost = _submit(http, link, first.text)  # the old confirmation page, submitted again
    assert repost.status_code == 200 and already in repost.text
    # the planner, told of the same alert, clicks their own link later
    planner = http.get(ack_link(server.url, SECRET, t4, "E43"))
    assert planner.status_code == 200 and already in planner.text
    assert _ack(engine, t4) == (at, "E41", 1)


def test_clicks_arriving_together_record_one_acknowledgement(engine, server, plant):
    t4 = plant["episodes"][0]
    link = ack_link(server.url, SECRET, t4, "E41")
    fields = _query(link)
    answers = []

    def click(person_fields):
        with requests.Session() as s:
            s.trust_env = False
            answers.append(s.post(link, data=person_fields).status_code)

    threads = [threading.Thread(target=click, args=(fields,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert answers == [200] * 6
    assert _ack(engine, t4)[1:] == ("E41", 1)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _refused(response, status: int, reason: str, fallback: str) -> None:
    assert response.status_code == status, response.text
    assert reason in response.text and fallback in response.text
    assert "Traceback" not in response.text and "<form" not in response.text


def test_expired_altered_and_foreign_links_are_refused_with_the_fallback(engine, server, plant,
                                                                         http):
    t4 = plant["episodes"][0]
    fallback = f"perfflow ack {t4} --by E41"
    good = ack_link(server.url, SECRET, t4, "E41")
    expired = ack_link(server.url, SECRET, t4, "E41", expires_at=utcnow() - timedelta(hours=1))
    sig = re.search(r"sig=(\w+)", good).group(1)
    tampered = good.replace(f"sig={sig}", f"sig={sig[:-1]}{'0' if sig[-1] != '0' else '1'}")
    another_person = good.replace("by=E41", "by=E43")
    another_secret = ack_link(server.url, "another-plant", t4, "E41")
    cases = [(expired, "expired at", fallback), (tampered, "signature", fallback),
             (another_person, "signature", f"perfflow ack {t4} --by E43"),
             (another_secret, "signature", fallback),
             (re.sub(r"&exp=\d+", "", good), "lacks", fallback)]
    for url, reason, line in cases:
        _refused(http.get(url), 403, reason, line)
        _refused(http.post(url, data=_query(url)), 403, reason, line)
    assert _ack(engine, t4) == (None, None, 0)


def test_an_unknown_episode_is_not_found(engine, server, plant, http):
    link = ack_link(server.url, SECRET, "fai-below-92-5|T9|2026-11-01T23:00:00", "E41")
    for response in (http.get(link), http.post(link, data=_query(link))):
        assert response.status_code == 404 and "Unknown alert" in response.text
    assert http.get(server.url.replace("/ack", "/admin")).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
def test_other_methods_are_not_allowed(engine, server, plant, http, method):
    link = ack_link(server.url, SECRET, plant["episodes"][0], "E41")
    response = http.request(method, link)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD, POST"
    assert _ack(engine, plant["episodes"][0]) == (None, None, 0)


def test_a_dispatched_notification_carries_a_link_the_endpoint_accepts(engine, server, plant,
                                                                       http):
    t4, t5 = plant["episodes"]
    found = re.compile(re.escape(server.url) + r"\?[^\s\"\\]+")
    chat = [found.findall(item["body"].decode()) for item in plant["hook"].received]
    mail = [found.findall(m.get_content()) for m in plant["smtp"].messages]
    links = [link for group in chat + mail for link in group]
    assert len(links) >= 4  # team leaders by chat, planners by e-mail, of both teams
    leader = next(link for link in links if "by=E41" in link)
    planner = next(link for link in links if "by=E53" in link)
    page = http.get(leader)
    assert page.status_code == 200 and "Li Na (E41)" in page.text
    assert _submit(http, leader, page.text).status_code == 200
    page = http.get(planner)
    assert _submit(http, planner, page.text).status_code == 200
    assert _ack(engine, t4)[1:] == ("E41", 1) and _ack(engine, t5)[1:] == ("E53", 1)


def test_the_endpoint_binds_to_loopback_by_default(engine):
    from perf_orchestration.cli import _parser

    with AckServer(engine, SECRET) as server:
        assert server.bound_host == "127.0.0.1"
        assert server.url == f"http://127.0.0.1:{server.port}/ack"
    assert _parser().parse_args(["ack-server", "--port", "8090"]).host == "127.0.0.1"


def test_perfflow_ack_server_needs_the_secret_and_serves_links(warehouse_url, engine, plant,
                                                               monkeypatch, capsys, http):
    from perf_orchestration.cli import main

    monkeypatch.delenv("PERFFLOW_ACK_SECRET")
    assert main(["ack-server", "--port", "0", "--warehouse", warehouse_url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PERFFLOW_ACK_SECRET is not set" in err[0]

    env = {**os.environ, "PERFFLOW_ACK_SECRET": SECRET}
    env.pop("PERFFLOW_ACK_URL", None)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("perfflow")), "ack-server",
                             "--port", "0", "--warehouse", warehouse_url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        base = re.search(r"served on (http://127\.0\.0\.1:\d+/ack);", line).group(1)
        link = ack_link(base, SECRET, plant["episodes"][0], "E41")
        page = http.get(link)
        assert page.status_code == 200 and "Acknowledge this alert?" in page.text
        assert _submit(http, link, page.text).status_code == 200
        assert _ack(engine, plant["episodes"][0])[1:] == ("E41", 1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_warehouse_without_the_tables_is_a_page_not_a_traceback(warehouse_url, http):
    engine = make_engine(warehouse_url)  # nothing created: ops.alert_episodes is missing
    try:
        with AckServer(engine, SECRET) as server:
            link = ack_link(server.url, SECRET, "fai-below-92-5|T4|2026-11-01T23:00:00", "E41")
            for response in (http.get(link), http.post(link, data=_query(link))):
                assert response.status_code == 503 and "Try again" in response.text
                assert "Traceback" not in response.text
                assert "perfflow ack fai-below-92-5|T4|2026-11-01T23:00:00 --by E41" in (
                    response.text)
    finally:
        engine.dispose()
