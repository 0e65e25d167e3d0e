"""DingTalk and Feishu custom bots with their security setting on: signed as the platforms
document it, verified on loopback by bots that check exactly as the platforms do, and the
platforms' refusals (signature, stale timestamp, keyword, IP allow-list) not delivered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

import pytest

from perf_orchestration.delivery import Message, WebhookChannel
from perf_orchestration.delivery.bot_signing import dingtalk_sign, feishu_sign
from perf_orchestration.testing.bots import BotReceiver

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
FAST = {"backoff_seconds": 0.01, "max_retries": 0}
PLATFORMS = ("dingtalk", "feishu")


def _message(key: str = "key-1", body: str = "告警: first-article pass rate 88% on line W3") \
        -> Message:
    return Message(idempotency_key=key, recipient="E1", recipient_name="李伟",
                   subject="[W3] 首件合格率低于 92.5%", body=body, data={})


def test_the_signatures_follow_the_platforms_documented_recipe():
    """Recomputed here from the documented recipe, independently of the code under test."""
    ts_ms, ts_s = 1577262236757, 1599360473
    ding = base64.b64encode(hmac.new(SECRET.encode(), f"{ts_ms}\n{SECRET}".encode(),
                                     hashlib.sha256).digest()).decode()
    assert dingtalk_sign(SECRET, ts_ms) == quote_plus(ding)
    feishu = base64.b64encode(hmac.new(f"{ts_s}\n{SECRET}".encode(), b"",
                                       hashlib.sha256).digest()).decode()
    assert feishu_sign(SECRET, ts_s) == feishu


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_signed_message_is_delivered_once(platform):
    with BotReceiver(platform, SECRET, keywords=["告警"], allowed_ips=["127.0.0.1"]) as bot:
        result = WebhookChannel(bot.url, SECRET, flavor=platform, **FAST).send(_message())
    assert result.status == "delivered", result.detail
    assert len(bot.delivered) == 1 and bot.refused == []
    if platform == "feishu":
        assert bot.delivered[0]["msg_type"] == "post" and bot.delivered[0]["sign"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(("problem", "bot_kw", "words"), [
    ("sign", {}, "sign"),
    ("timestamp", {"clock": lambda: time.time() + 3700}, ("timestamp", "hour")),
    ("keywords", {"keywords": ["停机"]}, ("keyword", "Key Words")),
    ("ip", {"allowed_ips": ["10.1.2.3"]}, ("ip", "Ip")),
])
def test_a_refusal_of_the_platform_is_not_delivered(platform, problem, bot_kw, words):
    secret = "SECwrong" if problem == "sign" else SECRET
    with BotReceiver(platform, SECRET, **bot_kw) as bot:
        result = WebhookChannel(bot.url, secret, flavor=platform, **FAST).send(_message())
    assert result.status == "failed"
    assert bot.delivered == [] and bot.refused == [problem]
    words = (words,) if isinstance(words, str) else words
    assert any(w in result.detail for w in words), result.detail
    assert platform in result.detail  # "dingtalk errcode 310000: ..." / "feishu code 19021"


def test_a_request_an_hour_old_is_refused_by_both_and_a_fresh_one_accepted():
    for platform in PLATFORMS:
        with BotReceiver(platform, SECRET, clock=lambda: time.time() - 3590) as bot:
            ok = WebhookChannel(bot.url, SECRET, flavor=platform, **FAST).send(_message())
        assert ok.status == "delivered", (platform, ok.detail)


def test_the_bot_url_keeps_its_token_and_the_detail_never_shows_it():
    with BotReceiver("dingtalk", SECRET, keywords=["停机"]) as bot:
        result = WebhookChannel(bot.url, SECRET, flavor="dingtalk", **FAST).send(_message())
    assert "t0ken" not in result.detail and SECRET not in result.detail
