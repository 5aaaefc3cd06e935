"""What citizens asked next, learned from a seeded transcript on real SQLite."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import sessionmaker

from channels.core.store import ChatMessage, make_engine
from channels.kb.insights import AskedNext


def _answer(sender: str, service: str, band: str = "answer") -> ChatMessage:
    trace = {"kb": {"service_id": service, "aspect": "process", "band": band}}
    return ChatMessage(
        sender=sender, direction="out", author="bot", text="…", status="sent", trace=trace
    )


def test_pairs_count_conversations_not_messages(tmp_path: Path) -> None:
    sessions = sessionmaker(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    with sessions.begin() as db:
        for i in range(3):  # three citizens: birth → medical insurance
            db.add_all([_answer(f"web:{i}", "birth_registration"),
                        _answer(f"web:{i}", "birth_registration"),  # same turn, two rows
                        _answer(f"web:{i}", "medical_insurance_enroll")])  # fmt: skip
        # one asks about the ID card next; a clarify turn does not count as asked-and-answered
        db.add_all([_answer("web:9", "birth_registration"), _answer("web:9", "id_card_first"),
                    _answer("web:8", "birth_registration"),
                    _answer("web:8", "passport", band="clarify")])  # fmt: skip
    insights = AskedNext(sessions, min_count=1)
    items = insights.next_for("birth_registration")
    assert items[0] == {
        "service_id": "medical_insurance_enroll",
        "title": "城乡居民基本医疗保险参保缴费",
        "count": 3,
    }
    assert [i["service_id"] for i in items] == ["medical_insurance_enroll", "id_card_first"]
    assert AskedNext(sessions, min_count=3).next_for("birth_registration")[1:] == []
