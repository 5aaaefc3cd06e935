"""End-to-end: real Rasa (trained on the real data), real action server, real gateway, real HTTP."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import httpx
import pytest

from ops.stack import Stack

pytestmark = pytest.mark.slow


def _sender() -> str:
    return f"web:{uuid.uuid4().hex}"


def _chat(gateway: httpx.Client, sender: str, text: str) -> dict[str, Any]:
    response = gateway.post("/api/chat", json={"sender": sender, "text": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sender"] == sender
    assert set(body["trace"]) == {"intent", "kb", "form", "handoff", "emergency"}
    assert body["replies"], body
    return body


def _texts(body: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def test_health_is_ok_with_a_model_loaded(gateway: httpx.Client) -> None:
    body = gateway.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["rasa"]["ready"] and body["rasa"]["model"].endswith("yishi.tar.gz")
    assert body["actions"]["ready"]


@pytest.mark.parametrize("greeting", ["你好", "您好，在吗", "早上好"])
def test_greeting_gets_a_chinese_greeting(gateway: httpx.Client, greeting: str) -> None:
    body = _chat(gateway, _sender(), greeting)
    assert body["state"] == "bot"
    assert body["trace"]["intent"]["name"] == "greet"
    assert body["trace"]["intent"]["confidence"] > 0.5
    assert "您好" in _texts(body)
    assert body["replies"][0]["buttons"], "the greeting offers common questions as buttons"
    assert body["trace"]["kb"] is None and body["trace"]["emergency"] is False


@pytest.mark.parametrize("question", ["明天天气怎么样", "帮我推荐一部电影", "股票明天会涨吗"])
def test_out_of_scope_is_declined_politely(gateway: httpx.Client, question: str) -> None:
    body = _chat(gateway, _sender(), question)
    assert body["trace"]["intent"]["name"] in {"out_of_scope", "nlu_fallback"}
    text = _texts(body)
    assert "抱歉" in text
    assert "12345" in text or "办事" in text
    assert body["trace"]["handoff"] is False and body["trace"]["emergency"] is False


@pytest.mark.parametrize(
    ("message", "first_number"),
    [("着火了", "119"), ("有人晕倒了", "120"), ("煤气泄漏了怎么办", "119"), ("我被抢劫了", "110")],
)
def test_emergency_directs_to_110_119_120_at_once(
    gateway: httpx.Client, message: str, first_number: str
) -> None:
    body = _chat(gateway, _sender(), message)
    assert body["trace"]["emergency"] is True
    assert body["trace"]["intent"]["name"] == "emergency"
    text = _texts(body)
    assert "【紧急】" in text and first_number in text
    # the number that fits comes before any other
    positions = {n: text.find(n) for n in ("110", "119", "120") if n in text}
    assert min(positions, key=positions.__getitem__) == first_number


def test_service_question_gets_an_honest_answer_until_the_knowledge_base_lands(
    gateway: httpx.Client,
) -> None:
    body = _chat(gateway, _sender(), "身份证丢了怎么补办")
    assert body["trace"]["intent"]["name"] == "ask_service"
    assert "12345" in _texts(body)
    assert body["trace"]["kb"] is None


def test_request_human_is_a_handoff_to_the_hotline(gateway: httpx.Client) -> None:
    body = _chat(gateway, _sender(), "转人工")
    assert body["trace"]["intent"]["name"] == "request_human"
    assert body["trace"]["handoff"] is True
    assert "12345" in _texts(body)


def test_transcript_is_stored_masked(gateway: httpx.Client, stack: Stack) -> None:
    sender = _sender()
    _chat(gateway, sender, "我要补办身份证，电话13912345678")
    with sqlite3.connect(stack.config.var_dir / "yishi.db") as db:
        rows = db.execute(
            "select direction, text, status from chat_messages where sender = ? order by id",
            (sender,),
        ).fetchall()
    assert rows[0] == ("in", "我要补办身份证，电话139****5678", "answered")
    assert rows[1][0] == "out" and rows[1][1]
    assert "13912345678" not in str(rows)


def test_rasa_restart_keeps_the_conversation(gateway: httpx.Client, stack: Stack) -> None:
    sender = _sender()
    _chat(gateway, sender, "你好")
    _chat(gateway, sender, "护照怎么办理")

    stack.stop("rasa")
    down = gateway.post("/api/chat", json={"sender": sender, "text": "还在吗"})
    assert down.status_code == 503
    assert down.json()["error"] == "bot_unavailable" and "抱歉" in down.json()["detail"]

    stack.start("rasa")
    stack.wait_ready("rasa")
    after = _chat(gateway, sender, "谢谢")
    assert after["trace"]["intent"]["name"] == "thank"

    tracker = httpx.get(
        f"{stack.config.rasa_url}/conversations/{sender}/tracker",
        params={"token": stack.config.rasa_token},
        timeout=30,
        trust_env=False,
    ).json()
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert said == ["你好", "护照怎么办理", "谢谢"]
    uttered = [e.get("name") for e in tracker["events"] if e["event"] == "action"]
    assert "utter_greet" in uttered and "action_answer_service" in uttered
