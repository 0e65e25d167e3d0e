"""Delivery channels against real receivers on loopback: signatures, retries, duplicates.

No mocks: the webhook channel talks HTTP to `WebhookReceiver` and the e-mail channel SMTP
to `SmtpReceiver` (aiosmtpd), so retries, timeouts and de-duplication are the real thing.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime

import pytest
import requests

from perf_orchestration.delivery import (
    FLAVORS,
    DeliveryError,
    EmailChannel,
    Message,
    WebhookChannel,
    build_payload,
    message_id,
    sign,
    verify,
)
from perf_orchestration.delivery.chat import WECOM_MARKDOWN_MAX_BYTES
from perf_orchestration.testing.smtp import SmtpReceiver
from perf_orchestration.testing.webhook import WebhookReceiver

SECRET = "test-secret-4f1c"
FAST = {"backoff_seconds": 0.01}


def _message(key: str = "key-0001", **kw) -> Message:
    fields = {
        "idempotency_key": key,
        "recipient": "E1042",
        "recipient_name": "Li Wei",
        "subject": "[Team W3] First-article pass rate below 92.5%",
        "body": "Li Wei, first-article pass rate below 92.5% since 2026-03-02 08:00.\n"
                "first_article_pass_rate: 88.0% against a threshold of 92.5%.",
        "data": {"rule_id": "fa_pass_rate_low", "subject": "W3", "value": 0.88,
                 "since": datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
                 "links": [{"title": "Heatmap", "url": "http://perf.local/heatmap?team=W3"}]},
    }
    fields.update(kw)
    return Message(**fields)


def _free_port() -> int:
    """A port nothing listens on (bound, read, released), to stand for a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as rx:
        yield rx


# --- signing -----------------------------------------------------------------------------

def test_signed_webhook_is_delivered_and_verifies(receiver):
    channel = WebhookChannel(receiver.url, SECRET, **FAST)
    result = channel.send(_message())

    assert result.status == "delivered", result.detail
    assert result.attempts == 1
    assert result.detail.startswith("HTTP 200")
    assert result.delivered_at is not None and result.delivered_at.tzinfo is not None
    (item,) = receiver.received
    headers = item["headers"]
    assert item["key"] == headers["Idempotency-Key"] == "key-0001"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Perfflow-Signature"].startswith("sha256=")
    assert verify(SECRET, headers["X-Perfflow-Timestamp"], item["body"],
                  headers["X-Perfflow-Signature"])
    assert item["json"]["subject"] == _message().subject
    assert item["json"]["data"]["since"] == "2026-03-02T00:00:00+00:00"
    assert receiver.rejected == 0


def test_tampered_or_unsigned_body_is_rejected(receiver):
    body = json.dumps({"subject": "FPY low"}).encode()
    ts = str(int(time.time()))
    signature = sign(SECRET, ts, body)
    tampered = body.replace(b"low", b"fine")

    assert verify(SECRET, ts, body, signature)
    assert not verify(SECRET, ts, tampered, signature)
    assert not verify("another-secret", ts, body, signature)
    assert not verify(SECRET, ts, body, None)

    headers = {"Content-Type": "application/json", "Idempotency-Key": "k",
               "X-Perfflow-Timestamp": ts, "X-Perfflow-Signature": signature}
    assert requests.post(receiver.url, data=tampered, headers=headers, timeout=5).status_code \
        == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-Perfflow-Signature"}
    assert requests.post(receiver.url, data=body, headers=unsigned, timeout=5).status_code == 401
    assert requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 200
    assert receiver.rejected == 2
    assert len(receiver.received) == 1


def test_old_or_future_timestamp_is_rejected(receiver):
    body = b'{"a":1}'
    ts = 1_800_000_000
    signature = sign(SECRET, ts, body)
    assert verify(SECRET, ts, body, signature, now=ts + 299)
    assert not verify(SECRET, ts, body, signature, now=ts + 301)
    assert not verify(SECRET, ts, body, signature, now=ts - 301)
    assert not verify(SECRET, ts, body, signature, max_age_seconds=60, now=ts + 61)
    assert verify(SECRET, ts, body, signature, now=datetime.fromtimestamp(ts + 10, UTC))
    assert not verify(SECRET, "not-a-number", body, signature, now=ts)

    old = str(int(time.time()) - 600)  # correctly signed, but ten minutes old: a replay
    headers = {"Idempotency-Key": "k", "X-Perfflow-Timestamp": old,
               "X-Perfflow-Signature": sign(SECRET, old, body)}
    assert requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code == 401
    assert receiver.rejected == 1 and receiver.received == []


@pytest.mark.parametrize("secret", [None, ""])
def test_missing_secret_raises_naming_the_variable_and_sends_nothing(receiver, secret):
    channel = WebhookChannel(receiver.url, secret, secret_env="PLANT1_WEBHOOK_SECRET")
    with pytest.raises(DeliveryError, match="PLANT1_WEBHOOK_SECRET"):
        channel.send(_message())
    assert receiver.requests == 0


def test_configuration_errors_raise():
    with pytest.raises(DeliveryError, match="flavor"):
        WebhookChannel("http://127.0.0.1:9/hook", SECRET, flavor="teams")
    with pytest.raises(DeliveryError, match="http"):
        WebhookChannel("ftp://example.invalid/hook", SECRET)


# --- retries -----------------------------------------------------------------------------

def test_retries_until_the_receiver_recovers():
    with WebhookReceiver(SECRET, fail_first=2) as rx:
        result = WebhookChannel(rx.url, SECRET, max_retries=3, **FAST).send(_message())
        assert result.status == "delivered", result.detail
        assert result.attempts == 3
        assert rx.requests == 3
        assert rx.count_by_key() == {"key-0001": 1}


@pytest.mark.parametrize("status", [500, 503, 429])
def test_always_failing_receiver_gives_a_failed_result(status):
    with WebhookReceiver(SECRET, fail_first=1000, fail_status=status) as rx:
        result = WebhookChannel(rx.url, SECRET, max_retries=2, **FAST).send(_message())
        assert result.status == "failed"
        assert result.attempts == 3
        assert f"HTTP {status}" in result.detail
        assert result.delivered_at is None
        assert rx.requests == 3


def test_client_error_fails_at_once():
    with WebhookReceiver(SECRET, fail_first=1000, fail_status=400) as rx:
        result = WebhookChannel(rx.url, SECRET, max_retries=3, **FAST).send(_message())
        assert (result.status, result.attempts) == ("failed", 1)
        assert "HTTP 400" in result.detail
        assert rx.requests == 1


def test_slow_receiver_times_out_after_retries():
    with WebhookReceiver(SECRET, delay_seconds=0.5) as rx:
        started = time.monotonic()
        result = WebhookChannel(rx.url, SECRET, timeout=0.2, max_retries=1, **FAST).send(
            _message())
        elapsed = time.monotonic() - started
        assert result.status == "failed"
        assert result.attempts == 2
        assert "timed out" in result.detail
        assert elapsed < 1.5
        # Each timed-out attempt still reached the server: the key makes them one alert.
        assert rx.wait_for(2, timeout=3)
        assert rx.count_by_key() == {"key-0001": 2}
        assert rx.duplicates == 1


def test_unreachable_receiver_fails_without_leaking_the_url_token():
    url = f"http://127.0.0.1:{_free_port()}/cgi-bin/webhook/send?key=bot-token-123"
    result = WebhookChannel(url, SECRET, max_retries=2, **FAST).send(_message())
    assert (result.status, result.attempts) == ("failed", 3)
    assert "connection refused" in result.detail
    assert "bot-token-123" not in result.detail and "webhook/send" not in result.detail


def test_same_key_twice_arrives_twice_and_counts_once(receiver):
    channel = WebhookChannel(receiver.url, SECRET, **FAST)
    first, second = channel.send(_message()), channel.send(_message())
    other = channel.send(_message("key-0002"))
    assert first.status == second.status == other.status == "delivered"
    assert receiver.count_by_key() == {"key-0001": 2, "key-0002": 1}
    assert receiver.duplicates == 1
    assert [item["key"] for item in receiver.unique()] == ["key-0001", "key-0002"]


# --- chat payloads -----------------------------------------------------------------------

def _sent(flavor: str, message: Message | None = None) -> dict:
    with WebhookReceiver(SECRET) as rx:
        result = WebhookChannel(rx.url, SECRET, flavor=flavor, **FAST).send(
            message or _message())
        assert result.status == "delivered", result.detail
        (item,) = rx.received
        assert item["key"] == "key-0001"
        return item["json"]


def test_generic_payload():
    doc = _sent("generic")
    assert {"idempotency_key", "recipient", "subject", "body", "data"} <= set(doc)
    assert doc["recipient"] == "E1042" and doc["data"]["rule_id"] == "fa_pass_rate_low"


def test_wecom_payload():
    doc = _sent("wecom")
    assert doc["msgtype"] == "markdown"
    assert set(doc["markdown"]) == {"content"}
    content = doc["markdown"]["content"]
    assert content.startswith("**[Team W3] First-article pass rate below 92.5%**\n")
    assert "88.0% against" in content
    assert "[Heatmap](http://perf.local/heatmap?team=W3)" in content


def test_wecom_payload_is_cut_to_its_byte_limit():
    long = _message(body="质量" * 3000, recipient_name="张伟")
    content = build_payload("wecom", long)["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MARKDOWN_MAX_BYTES
    assert content.endswith("…")


def test_dingtalk_payload():
    doc = _sent("dingtalk")
    assert doc["msgtype"] == "markdown"
    assert doc["markdown"]["title"] == _message().subject
    assert doc["markdown"]["text"].startswith("### [Team W3]")
    assert "\n\nfirst_article_pass_rate: 88.0%" in doc["markdown"]["text"]


def test_feishu_payload():
    doc = _sent("feishu")
    assert doc["msg_type"] == "post"
    post = doc["content"]["post"]["zh_cn"]
    assert post["title"] == _message().subject
    assert all(isinstance(line, list) for line in post["content"])
    assert post["content"][0] == [{"tag": "text", "text": _message().body.splitlines()[0]}]
    assert [{"tag": "a", "text": "Heatmap", "href": "http://perf.local/heatmap?team=W3"}] \
        in post["content"]


def test_slack_payload():
    doc = _sent("slack", _message(body="Li Wei, rework <5% & falling", data={}))
    assert doc["text"].startswith("[Team W3]")
    header, section = doc["blocks"]
    assert header == {"type": "header",
                      "text": {"type": "plain_text", "text": _message().subject}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == "Li Wei, rework &lt;5% &amp; falling"


def test_every_flavor_names_the_recipient_when_the_body_does_not():
    anonymous = _message(body="Output per head fell 12%.", data={})
    for flavor in FLAVORS:
        assert "Li Wei" in json.dumps(build_payload(flavor, anonymous), ensure_ascii=False)


def test_platform_error_code_in_a_200_reply_is_a_failure():
    reply = {"errcode": 310000, "errmsg": "keywords not in content"}
    with WebhookReceiver(SECRET, reply=reply) as rx:
        result = WebhookChannel(rx.url, SECRET, flavor="wecom", **FAST).send(_message())
    assert result.status == "failed"
    assert "310000" in result.detail and "keywords not in content" in result.detail


# --- e-mail ------------------------------------------------------------------------------

def _mail(key: str = "key-0001") -> Message:
    return _message(key, recipient="li.wei@plant1.example.com", recipient_name="李伟")


def test_email_is_delivered_with_subject_body_and_key():
    with SmtpReceiver() as smtp:
        channel = EmailChannel("127.0.0.1", smtp.port, "perfflow@plant1.example.com", **FAST)
        result = channel.send(_mail())
        assert result.status == "delivered", result.detail
        assert result.attempts == 1 and result.detail.startswith("250")
        assert result.delivered_at is not None and result.delivered_at.tzinfo is not None
        (mail,) = smtp.messages
        assert mail["Subject"] == _message().subject
        assert mail["Idempotency-Key"] == "key-0001"
        assert mail["Message-ID"] == message_id("key-0001", "plant1.example.com")
        assert mail["To"].addresses[0].addr_spec == "li.wei@plant1.example.com"
        assert mail["To"].addresses[0].display_name == "李伟"
        assert mail["Auto-Submitted"] == "auto-generated"
        text = mail.get_content()
        assert "88.0% against a threshold of 92.5%" in text
        assert "Heatmap: http://perf.local/heatmap?team=W3" in text
        assert smtp.envelopes[0]["rcpt_tos"] == ["li.wei@plant1.example.com"]
        assert smtp.count_by_key() == {"key-0001": 1}


def test_email_message_id_is_the_same_for_every_attempt():
    channel = EmailChannel("127.0.0.1", 25, "perfflow@plant1.example.com")
    a, b = channel.build(_mail()), channel.build(_mail())
    assert a["Message-ID"] == b["Message-ID"] != channel.build(_mail("key-0002"))["Message-ID"]


def test_email_retries_transient_refusals():
    with SmtpReceiver(fail_first=2, fail_code=451) as smtp:
        channel = EmailChannel("127.0.0.1", smtp.port, "perfflow@plant1.example.com",
                               max_retries=3, **FAST)
        result = channel.send(_mail())
        assert (result.status, result.attempts) == ("delivered", 3)
        assert smtp.attempts == 3 and len(smtp.messages) == 1


def test_email_permanent_refusal_fails_at_once():
    with SmtpReceiver(fail_first=5, fail_code=550) as smtp:
        channel = EmailChannel("127.0.0.1", smtp.port, "perfflow@plant1.example.com",
                               max_retries=3, **FAST)
        result = channel.send(_mail())
        assert (result.status, result.attempts) == ("failed", 1)
        assert "550" in result.detail
        assert smtp.attempts == 1


def test_email_server_down_fails_after_retries():
    port = _free_port()
    channel = EmailChannel("127.0.0.1", port, "perfflow@plant1.example.com", max_retries=2,
                           timeout=1, **FAST)
    result = channel.send(_mail())
    assert (result.status, result.attempts) == ("failed", 3)
    assert "connection refused" in result.detail and str(port) in result.detail
    assert result.delivered_at is None


def test_email_to_a_non_address_fails_without_sending():
    with SmtpReceiver() as smtp:
        channel = EmailChannel("127.0.0.1", smtp.port, "perfflow@plant1.example.com", **FAST)
        result = channel.send(_message())  # recipient is a person id, not an address
        assert (result.status, result.attempts) == ("failed", 0)
        assert "E1042" in result.detail
        assert smtp.attempts == 0


def test_email_login_without_password_names_the_variable():
    channel = EmailChannel("127.0.0.1", 25, "perfflow@plant1.example.com", username="perfflow")
    with pytest.raises(DeliveryError, match="PERFFLOW_SMTP_PASSWORD"):
        channel.send(_mail())


# --- authenticated SMTP, configured as a plant does: environment variables -------------

SMTP_USER, SMTP_PASSWORD = "perfflow-alerts", "smtp-pw-7Qz!x"


def _plant_email(monkeypatch, port: int, **env: str):
    """The e-mail channel the delivery resource builds from the environment."""
    from resources.delivery import DeliveryResource

    for name in ("PERFFLOW_SMTP_USER", "PERFFLOW_SMTP_PASSWORD", "PERFFLOW_SMTP_STARTTLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"PERFFLOW_SMTP_{name.upper()}", value)
    resource = DeliveryResource(webhook_url="http://127.0.0.1:1/hook", smtp_port=port,
                                max_retries=2, backoff_seconds=0.01)
    return resource.channels()["email"]


def test_email_logs_in_to_an_authenticated_server(monkeypatch):
    with SmtpReceiver(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        channel = _plant_email(monkeypatch, smtp.port, user=SMTP_USER, password=SMTP_PASSWORD)
        result = channel.send(_mail())
        assert (result.status, result.attempts) == ("delivered", 1), result.detail
        assert smtp.logins == {"accepted": 1} and smtp.count_by_key() == {"key-0001": 1}
        assert SMTP_PASSWORD not in repr(channel)


def test_email_with_a_wrong_password_is_a_visible_failure_without_the_password(monkeypatch,
                                                                               caplog):
    with SmtpReceiver(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        channel = _plant_email(monkeypatch, smtp.port, user=SMTP_USER, password="wrong-pw-31")
        result = channel.send(_mail())
        # refused for good (535): not retried, nothing delivered
        assert (result.status, result.attempts) == ("failed", 1)
        assert result.detail.startswith(f"SMTP 127.0.0.1:{smtp.port} refused after 1 attempt")
        assert f"authentication failed for user '{SMTP_USER}': 535" in result.detail
        assert smtp.messages == [] and smtp.logins["refused"] >= 1
        # a server that requires AUTH, and no user set: refused the same visible way
        anonymous = _plant_email(monkeypatch, smtp.port).send(_mail())
        assert anonymous.status == "failed" and "530" in anonymous.detail
    logged = caplog.text + result.detail + anonymous.detail
    assert "wrong-pw-31" not in logged and SMTP_PASSWORD not in logged
    assert "authentication failed" in caplog.text


def test_email_without_login_settings_works_as_before(monkeypatch):
    with SmtpReceiver() as smtp:
        channel = _plant_email(monkeypatch, smtp.port)
        assert (channel.username, channel.starttls) == (None, False)
        assert channel.send(_mail()).status == "delivered"
        assert smtp.logins == {} and len(smtp.messages) == 1


def test_email_login_settings_are_checked_naming_the_variable(monkeypatch):
    assert _plant_email(monkeypatch, 25, starttls="TRUE").starttls is True
    assert _plant_email(monkeypatch, 25, starttls="false").starttls is False
    with pytest.raises(DeliveryError, match=r"^PERFFLOW_SMTP_STARTTLS: expected true or false, "
                                            r"got 'maybe'$"):
        _plant_email(monkeypatch, 25, starttls="maybe")
    with pytest.raises(DeliveryError, match="set the environment variable PERFFLOW_SMTP_USER"):
        _plant_email(monkeypatch, 25, password=SMTP_PASSWORD).check()
    with pytest.raises(DeliveryError, match="set the environment variable PERFFLOW_SMTP_PASSW"):
        _plant_email(monkeypatch, 25, user=SMTP_USER).check()


def test_email_starttls_against_a_server_without_it_fails_visibly(monkeypatch):
    with SmtpReceiver() as smtp:
        channel = _plant_email(monkeypatch, smtp.port, starttls="true")
        result = channel.send(_mail())
        assert (result.status, result.attempts) == ("failed", 1)
        assert "STARTTLS extension not supported" in result.detail and smtp.messages == []
