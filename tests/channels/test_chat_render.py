from typing import Any

import pytest

from channels.core.chat import normalise_text, render_turn
from channels.errors import YishiError


def test_render_folds_custom_payloads_into_trace_and_sources() -> None:
    messages: list[dict[str, Any]] = [
        {
            "recipient_id": "web:1",
            "text": "补领身份证需要户口簿。",
            "buttons": [{"title": "在线预约", "payload": "我要预约补办身份证"}],
        },
        {
            "recipient_id": "web:1",
            "custom": {
                "yishi": {
                    "trace": {
                        "kb": {
                            "service_id": "id_card_lost",
                            "aspect": "materials",
                            "doc_id": "id_card_lost#materials",
                            "score": 0.91,
                            "band": "answer",
                        }
                    },
                    "source": {
                        "service_id": "id_card_lost",
                        "aspect": "materials",
                        "guide_version": "2026.1",
                    },
                }
            },
        },
        {"recipient_id": "web:1", "custom": {"yishi": {"trace": {"handoff": True}}}},
    ]
    tracker = {
        "latest_message": {"intent": {"name": "ask_service", "confidence": 0.97}},
        "active_loop": {"name": "id_card_lost_appointment_form"},
    }
    replies, trace = render_turn(messages, tracker)
    assert [r.text for r in replies] == ["补领身份证需要户口簿。"]
    assert replies[0].buttons[0].payload == "我要预约补办身份证"
    assert replies[0].source is not None and replies[0].source.guide_version == "2026.1"
    assert trace.kb is not None and trace.kb.doc_id == "id_card_lost#materials"
    assert trace.kb.band == "answer"
    assert trace.intent.name == "ask_service" and trace.intent.confidence == pytest.approx(0.97)
    assert trace.form == "id_card_lost_appointment"
    assert trace.handoff is True and trace.emergency is False


def test_render_ignores_foreign_custom_payloads_and_empty_texts() -> None:
    messages: list[dict[str, Any]] = [
        {"custom": {"other": 1}},
        {"text": "  "},
        {"image": "x.png"},
        {"text": "您好"},
    ]
    replies, trace = render_turn(messages, {})
    assert [r.text for r in replies] == ["您好"]
    assert trace.kb is None and trace.form is None and trace.intent.name is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  你好\u3000\u3000呀 ", "你好 呀"),
        ("身份证\u200b补办\x00", "身份证补办"),
        ("第一行\n第二行", "第一行\n第二行"),
        ("😀 办护照", "😀 办护照"),
    ],
)
def test_normalise_text(raw: str, clean: str) -> None:
    assert normalise_text(raw, 500) == clean


@pytest.mark.parametrize(
    ("raw", "error"),
    [("", "text_empty"), (" \x00\u200b ", "text_empty"), ("问" * 501, "text_too_long")],
)
def test_normalise_text_rejects(raw: str, error: str) -> None:
    with pytest.raises(YishiError) as caught:
        normalise_text(raw, 500)
    assert caught.value.error == error and caught.value.status_code == 422
