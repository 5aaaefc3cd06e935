"""End-to-end: real Rasa (trained on the real data), real action server, real gateway, real HTTP."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import httpx
import pytest

from ops.stack import Stack
from retrieval.knowledge import load_knowledge

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


def test_service_question_is_answered_from_the_guide_with_a_citation(
    gateway: httpx.Client,
) -> None:
    body = _chat(gateway, _sender(), "身份证丢了补办要带什么")
    assert body["trace"]["intent"]["name"] == "ask_service"
    kb = body["trace"]["kb"]
    assert kb["band"] == "answer"
    assert kb["doc_id"] == "id_card_lost#materials"
    assert (kb["service_id"], kb["aspect"]) == ("id_card_lost", "materials")
    reply = body["replies"][0]
    assert "居民户口簿" in reply["text"] and "1. " in reply["text"]  # a numbered list
    # the citation names the guide's current version, as the guide file states it
    version = load_knowledge().guides["id_card_lost"].version
    assert "来源：《居民身份证遗失补领》" in reply["text"] and f"版本{version}" in reply["text"]
    assert reply["source"] == {
        "service_id": "id_card_lost",
        "aspect": "materials",
        "guide_version": version,
        "title": "居民身份证遗失补领",
    }
    assert 1 <= len(reply["buttons"]) <= 3  # related questions


def test_follow_up_resolves_against_the_previous_service(gateway: httpx.Client) -> None:
    sender = _sender()
    first = _chat(gateway, sender, "护照怎么办理")
    assert first["trace"]["kb"]["service_id"] == "passport"
    follow = _chat(gateway, sender, "那要多少钱")
    assert follow["trace"]["kb"]["doc_id"] == "passport#fee"
    assert "120元" in _texts(follow)


def test_related_question_button_answers_that_document(gateway: httpx.Client) -> None:
    sender = _sender()
    first = _chat(gateway, sender, "补办身份证要多少钱")
    assert first["trace"]["kb"]["doc_id"] == "id_card_lost#fee"
    buttons = first["replies"][0]["buttons"]
    assert buttons[0]["payload"] == "/apply_id_card_appointment"  # the service can be filed online
    related = next(b for b in buttons if b["payload"].startswith("/ask_service"))
    doc_id = related["payload"].split('"kb_doc":"')[1].rstrip('"}')
    second = _chat(gateway, sender, related["payload"])
    assert second["trace"]["kb"]["doc_id"] == doc_id != "id_card_lost#fee"
    assert "居民身份证遗失补领" in _texts(second)


def test_unanswerable_question_is_declined_honestly(gateway: httpx.Client) -> None:
    body = _chat(gateway, _sender(), "我家的猫不吃饭怎么办")
    kb = body["trace"]["kb"]
    assert kb is None or kb["band"] == "none"
    assert "抱歉" in _texts(body)


def test_a_neighbouring_subject_no_guide_covers_is_named_and_declined(
    gateway: httpx.Client,
) -> None:
    # 二手车 is not 二手房: the bot must not answer with the property-transfer guide
    body = _chat(gateway, _sender(), "二手车过户要带啥")
    kb = body["trace"]["kb"]
    assert kb is None or kb["band"] == "none"
    assert "二手车交易过户" in _texts(body) and "12345" in _texts(body)
    assert any(b["payload"] == "转人工" for r in body["replies"] for b in r.get("buttons") or [])
    hit = gateway.post("/api/kb/search", json={"query": "二手车过户要带啥"}).json()
    assert (hit["band"], hit["outside"]) == ("none", "二手车交易过户")


def test_kb_search_api_for_hit_testing(gateway: httpx.Client) -> None:
    response = gateway.post("/api/kb/search", json={"query": "良民证去哪开", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["hits"][0]["service_id"] == "no_criminal_record"
    assert body["band"] in {"answer", "clarify", "none"} and body["kb_version"]
    assert len(body["hits"]) <= 3
    bad = gateway.post("/api/kb/search", json={"query": "", "top_k": 3})
    assert bad.status_code == 422 and bad.json()["error"]


def test_guide_page_is_readable(gateway: httpx.Client) -> None:
    page = gateway.get("/guides/passport")
    assert page.status_code == 200
    assert "普通护照申领" in page.text and "120元" in page.text and 'id="fee"' in page.text
    assert gateway.get("/guides/nope").status_code == 404
    assert gateway.get("/guides/..%2Fetc").status_code == 404


def test_request_human_is_a_handoff_to_the_hotline(gateway: httpx.Client) -> None:
    body = _chat(gateway, _sender(), "转人工")
    assert body["trace"]["intent"]["name"] == "request_human"
    assert body["trace"]["handoff"] is True
    assert "12345" in _texts(body)


@pytest.mark.sqlite_files
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
    if stack.config.endpoints.name == "endpoints.yml":
        # the conversation lives in the configured SQLite tracker store, not in memory
        assert (stack.config.var_dir / "rasa_tracker.db").stat().st_size > 0
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert said == ["你好", "护照怎么办理", "谢谢"]
    uttered = [e.get("name") for e in tracker["events"] if e["event"] == "action"]
    assert "utter_greet" in uttered and "action_answer_from_kb" in uttered
