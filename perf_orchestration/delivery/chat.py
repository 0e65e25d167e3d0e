"""Payload adapters: one message shaped for each chat platform's incoming-bot webhook.

Each platform takes a small JSON document of its own (WeCom and DingTalk markdown,
Feishu "post" rich text, Slack blocks), caps its size, and reports some errors with
HTTP 200 and an error code in the body, so `reply_error` reads that code: a bot that
answered "keyword missing" or "too many messages" has not delivered anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from perf_orchestration.delivery.base import DeliveryError, Message

FLAVORS = ("generic", "wecom", "dingtalk", "feishu", "slack")

# Size caps from the platforms' bot documentation, kept a little under where unsure.
WECOM_MARKDOWN_MAX_BYTES = 4096
DINGTALK_TEXT_MAX_BYTES = 18000
FEISHU_TEXT_MAX_BYTES = 15000  # the whole request may be 20 KB
SLACK_HEADER_MAX_CHARS = 150
SLACK_SECTION_MAX_CHARS = 3000


def links(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The (title, url) pairs in `data["links"]`, which may be a mapping or a list."""
    raw = (data or {}).get("links")
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    elif isinstance(raw, list | tuple):
        for item in raw:
            if isinstance(item, str):
                pairs.append((item, item))
            elif isinstance(item, Mapping):
                url = item.get("url") or item.get("href")
                if url:
                    title = item.get("title") or item.get("text") or item.get("label") or url
                    pairs.append((str(title), str(url)))
    return pairs


def clip_bytes(text: str, max_bytes: int) -> str:
    """Cut UTF-8 text to a byte budget without splitting a character (CJK text is 3 bytes)."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - len("…".encode())].decode("utf-8", "ignore") + "…"


def clip_chars(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _addressee(message: Message) -> str | None:
    """A "To:" line for group chats, unless the body already greets the person by name."""
    name = message.recipient_name.strip()
    if not name or name in message.body:
        return None
    return f"To: {name}"


def generic(message: Message) -> dict[str, Any]:
    """Everything, unformatted: for a relay or integration of the plant's own."""
    return {"idempotency_key": message.wire_key, "recipient": message.recipient,
            "recipient_name": message.recipient_name, "subject": message.subject,
            "body": message.body, "data": message.data}


def _markdown_lines(message: Message) -> list[str]:
    lines = message.body.splitlines()
    lines += [f"[{title}]({url})" for title, url in links(message.data)]
    to = _addressee(message)
    if to:
        lines.append(to)
    return lines


def wecom(message: Message) -> dict[str, Any]:
    """WeCom group bot markdown: one `content` string of at most 4096 bytes, no title field."""
    text = "\n".join([f"**{message.subject}**", *_markdown_lines(message)])
    return {"msgtype": "markdown",
            "markdown": {"content": clip_bytes(text, WECOM_MARKDOWN_MAX_BYTES)}}


def dingtalk(message: Message) -> dict[str, Any]:
    """DingTalk robot markdown: `title` shows in the notification, `text` in the chat.

    DingTalk's markdown needs a blank line to break a line, so lines are joined by two
    newlines.
    """
    text = "\n\n".join([f"### {message.subject}", *_markdown_lines(message)])
    return {"msgtype": "markdown",
            "markdown": {"title": clip_chars(message.subject, 100),
                         "text": clip_bytes(text, DINGTALK_TEXT_MAX_BYTES)}}


def feishu(message: Message) -> dict[str, Any]:
    """Feishu custom bot rich text ("post"): a title and lines of text and link elements."""
    body = clip_bytes(message.body, FEISHU_TEXT_MAX_BYTES)
    content: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}]
                                           for line in body.splitlines()]
    content += [[{"tag": "a", "text": title, "href": url}] for title, url in links(message.data)]
    to = _addressee(message)
    if to:
        content.append([{"tag": "text", "text": to}])
    return {"msg_type": "post",
            "content": {"post": {"zh_cn": {"title": message.subject, "content": content}}}}


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(message: Message) -> dict[str, Any]:
    """Slack incoming webhook: `text` is the notification fallback, `blocks` the layout."""
    title = message.subject.strip() or "(no subject)"
    lines = [_slack_escape(line) for line in message.body.splitlines()]
    lines += [f"<{url}|{_slack_escape(t)}>" for t, url in links(message.data)]
    to = _addressee(message)
    if to:
        lines.append(_slack_escape(to))
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": clip_chars(title, SLACK_HEADER_MAX_CHARS)}}]
    section = "\n".join(lines).strip()
    if section:
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn",
                                "text": clip_chars(section, SLACK_SECTION_MAX_CHARS)}})
    fallback = clip_chars(f"{title}\n{message.body}".strip(), SLACK_SECTION_MAX_CHARS)
    return {"text": _slack_escape(fallback), "blocks": blocks}


_ADAPTERS = {"generic": generic, "wecom": wecom, "dingtalk": dingtalk, "feishu": feishu,
             "slack": slack}


def check_flavor(flavor: str) -> str:
    if flavor not in _ADAPTERS:
        raise DeliveryError(f"webhook flavor {flavor!r} is not one of {', '.join(FLAVORS)}")
    return flavor


def build_payload(flavor: str, message: Message) -> dict[str, Any]:
    """The JSON document to POST for `message` on a `flavor` webhook."""
    return _ADAPTERS[check_flavor(flavor)](message)


def reply_error(flavor: str, text: str) -> str | None:
    """The platform's error from a 2xx reply body, or None when it reports success.

    WeCom and DingTalk answer {"errcode": 0, ...}; Feishu {"code": 0, ...} (older bots
    {"StatusCode": 0, ...}). A body that is not JSON, or has no such code, counts as
    success: a plant's own relay may answer anything.
    """
    if flavor not in ("wecom", "dingtalk", "feishu"):
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for code_key, msg_key in (("errcode", "errmsg"), ("code", "msg"),
                              ("StatusCode", "StatusMessage")):
        code = body.get(code_key)
        if code not in (None, 0, "0"):
            return f"{flavor} {code_key} {code}: {body.get(msg_key, '')}".strip()
    return None
