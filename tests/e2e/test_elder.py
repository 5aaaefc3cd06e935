"""Elder mode (长辈版) through the real bot: short answers, the rest on request, values repeated
back in forms, and a person or 12345 offered when unsure."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def _say(gateway: httpx.Client, sender: str, text: str, mode: str = "elder") -> dict[str, Any]:
    response = gateway.post("/api/chat", json={"sender": sender, "text": text, "mode": mode})
    assert response.status_code == 200, response.text
    return response.json()


def _text(body: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def test_elder_answers_are_short_and_offer_more(gateway: httpx.Client) -> None:
    sender = f"elder:{uuid.uuid4().hex}"
    body = _say(gateway, sender, "身份证丢了补办要带什么")
    assert body["trace"]["kb"]["band"] == "answer"
    text = _text(body)
    assert len(re.findall(r"^\d+\. ", text, re.M)) <= 3
    assert "还想知道更多吗" in text and "（" not in text.split("（依据")[0]
    # the short answer still names the guide and its version
    assert re.search(r"（依据《居民身份证遗失补领》办事指南，\d{4}\.\d+版）", text), text
    more = next(b for r in body["replies"] for b in r["buttons"] if b["title"] == "想知道更多")
    full = _say(gateway, sender, more["payload"])
    assert len(_text(full)) > len(text) and "来源：" in _text(full)

    standard = _say(gateway, f"web:{uuid.uuid4().hex}", "身份证丢了补办要带什么", "standard")
    assert "还想知道更多吗" not in _text(standard) and "来源：" in _text(standard)


def test_elder_forms_repeat_values_back(gateway: httpx.Client) -> None:
    sender = f"elder:{uuid.uuid4().hex}"
    _say(gateway, sender, "我要预约补办身份证")
    body = _say(gateway, sender, "张三")
    assert _text(body).endswith("您说的是张三，对吗？")
    body = _say(gateway, sender, "对")
    assert "身份证号" in _text(body)
    body = _say(gateway, sender, "11010519491231002X")
    assert "您说的是110" in _text(body) and "002X" in _text(body)
    assert "11010519491231002X" not in _text(body)
    body = _say(gateway, sender, "不对")
    assert "再说一遍" in _text(body)
    assert body["trace"]["form"] == "id_card_lost_appointment"
