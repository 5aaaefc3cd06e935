"""The admin dashboard's numbers against a hand-written conversation log on real SQLite.

The log covers 2025-03-01..03 (Beijing time) with rows just outside the period on both sides;
every number the dashboard shows is asserted exactly. Clusters use a fake embedding that maps
"dog" questions and "social security card" questions to two fixed directions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from channels.admin import analytics
from channels.admin import routes as admin_routes
from channels.admin.analytics import Period, PeriodError, parse_period
from channels.applications.store import Application
from channels.config import DEV_ADMIN_TOKEN, Settings
from channels.core.conversations import Handoff
from channels.core.store import ChatMessage, make_engine
from channels.errors import install_error_handlers
from channels.feedback.store import LABELS, Followup, Rating
from channels.tickets.store import Ticket
from yishi.calendar import SHANGHAI

PERIOD = Period(date(2025, 3, 1), date(2025, 3, 3))
NOW = datetime(2025, 3, 5, 10, 0, tzinfo=SHANGHAI)


def at(day: str, clock: str) -> datetime:
    """`"03-01", "10:05:30"` in Beijing time, as the UTC time the gateway stores."""
    parts = [int(p) for p in clock.split(":")]
    month, dom = (int(p) for p in day.split("-"))
    local = datetime(2025, month, dom, parts[0], parts[1], parts[2] if len(parts) > 2 else 0,
                     tzinfo=SHANGHAI)  # fmt: skip
    return local.astimezone(UTC)


def trace(
    *,
    band: str | None = None,
    service: str | None = None,
    form: str | None = None,
    slot: str | None = None,
    intent: str = "ask_service",
    handoff: bool = False,
    state: str = "bot",
) -> dict[str, Any]:
    kb = None
    if band is not None:
        doc = f"{service}#fee" if service else None
        kb = {"service_id": service, "aspect": "fee" if service else None, "doc_id": doc,
              "score": 0.8, "band": band}  # fmt: skip
    return {
        "intent": {"name": intent, "confidence": 0.9},
        "kb": kb,
        "form": form,
        "handoff": handoff,
        "emergency": False,
        "state": state,
        "requested_slot": slot,
    }


class Seeder:
    def __init__(self, db: Session) -> None:
        self.db = db

    def says(self, sender: str, when: datetime, text: str) -> None:
        self.db.add(ChatMessage(sender=sender, direction="in", text=text, status="answered",
                                mode="standard", author="citizen", created_at=when))  # fmt: skip
        self.db.flush()

    def bot(self, sender: str, when: datetime, flags: dict[str, Any], rows: int = 1) -> None:
        for i in range(rows):
            self.db.add(ChatMessage(sender=sender, direction="out", text=f"答复{i}", status="sent",
                                    mode="standard", author="bot", trace=flags,
                                    created_at=when))  # fmt: skip
        self.db.flush()

    def push(self, sender: str, when: datetime, author: str, text: str) -> None:
        self.db.add(ChatMessage(sender=sender, direction="out", text=text, status="delivered",
                                mode="standard", author=author, push=True,
                                agent="agent1001" if author == "agent" else None,
                                created_at=when))  # fmt: skip
        self.db.flush()

    def turn(self, sender: str, day: str, clock: str, text: str, **flags: Any) -> None:
        """A citizen message and, a few seconds later, the bot's reply rows."""
        rows = flags.pop("rows", 1)
        when = at(day, clock)
        self.says(sender, when, text)
        self.bot(sender, when + timedelta(seconds=2), trace(**flags), rows)


def seed(db: Session) -> None:
    s = Seeder(db)
    # ---- before the period (2025-02-28 local): none of it counts
    s.turn("web:g", "02-28", "23:30", "驾驶证换证", band="answer", service="driving_license_renew")
    db.add(Handoff(sender="web:g", reason="citizen_request", queued_at=at("02-28", "23:31")))
    # a form started before the period and continued in it: not a start in the period
    s.turn("web:h", "02-28", "23:58", "我要异地就医备案", form="medical_remote_filing_application",
           slot="name", intent="request_medical_remote_filing")  # fmt: skip
    # a question just before midnight answered just after: the turn is in the period
    s.says("web:i", at("02-28", "23:59:50"), "出生登记怎么办")

    # ---- 03-01
    s.bot("web:i", at("03-01", "00:00:05"), trace(band="answer", service="birth_registration"))
    s.turn("web:h", "03-01", "00:01", "赵六", form="medical_remote_filing_application",
           slot="id_number", intent="inform")  # fmt: skip
    s.turn("web:h", "03-01", "00:02", "取消", intent="deny")
    s.turn("web:a", "03-01", "00:10", "办护照要多少钱", band="answer", service="passport", rows=2)
    s.turn("web:a", "03-01", "00:12", "护照在哪里办？", band="answer", service="passport")
    s.turn("web:b", "03-01", "10:00", "身份证丢了怎么补办", band="answer", service="id_card_lost")
    s.turn("web:b", "03-01", "10:01", "我要预约补办身份证", form="id_card_lost_appointment",
           slot="name", intent="request_id_card_appointment")  # fmt: skip
    s.turn("web:b", "03-01", "10:02", "张三", form="id_card_lost_appointment", slot="id_number")
    s.turn("web:b", "03-01", "10:03", "110105194912310025", form="id_card_lost_appointment",
           slot="mobile")  # fmt: skip
    s.turn("web:b", "03-01", "10:04", "13800138000", form="id_card_lost_appointment",
           slot="confirm")  # fmt: skip
    s.says("web:b", at("03-01", "10:05"), "确认")
    db.add(Application(receipt="YS-20250301-000001", idempotency_key="web:b/id/1",
                       form_id="id_card_lost_appointment", sender="web:b", mobile_last4="8000",
                       fields={}, created_at=at("03-01", "10:05:01")))  # fmt: skip
    s.bot("web:b", at("03-01", "10:05:03"), trace(intent="affirm"), rows=2)

    # ---- 03-02
    s.turn(
        "wechat:c", "03-02", "09:00", "公积金租房提取", band="answer", service="fund_withdraw_rent"
    )
    s.turn("wechat:c", "03-02", "09:01", "我要申请租房提取", form="fund_withdraw_rent_application",
           slot="name", intent="request_fund_withdraw")  # fmt: skip
    s.turn("wechat:c", "03-02", "09:02", "李四", form="fund_withdraw_rent_application",
           slot="fund_account")  # fmt: skip
    s.turn("wechat:c", "03-02", "09:03", "算了不办了", intent="deny")
    s.turn("wechat:c", "03-02", "09:10", "狗狗疫苗在哪打", band="none")
    s.turn("wechat:c", "03-02", "09:11", "宠物狗打疫苗去哪里", band="none", handoff=True,
           state="queued")  # fmt: skip
    db.add(Handoff(sender="wechat:c", reason="kb_unanswered", queued_at=at("03-02", "09:11:02"),
                   accepted_at=at("03-02", "09:12:02"), ended_at=at("03-02", "09:20"),
                   outcome="closed", agent="agent1001"))  # fmt: skip
    s.push("wechat:c", at("03-02", "09:12:03"), "system", "人工客服张敏已接入")
    s.push("wechat:c", at("03-02", "09:13"), "agent", "您好，我是人工客服")
    s.says("wechat:c", at("03-02", "09:14"), "好的谢谢")  # to the agent: no bot reply
    s.turn("web:d", "03-02", "14:00", "社保卡", band="clarify", service="social_security_card")
    s.turn("web:d", "03-02", "14:01", "转人工", intent="request_human", handoff=True,
           state="queued")  # fmt: skip
    db.add(Handoff(sender="web:d", reason="citizen_request", queued_at=at("03-02", "14:01:02"),
                   ended_at=at("03-02", "14:03"), outcome="abandoned"))  # fmt: skip
    s.says("web:d", at("03-02", "14:03"), "不等了")
    s.bot("web:d", at("03-02", "14:03:01"), {"intent": {"name": None, "confidence": 0.0},
                                              "kb": None, "form": None, "handoff": False,
                                              "emergency": False, "state": "bot",
                                              "requested_slot": None})  # fmt: skip
    db.add(Application(receipt="YS-20250302-000001", idempotency_key="web:z/complaint/1",
                       form_id="complaint_12345_ticket", sender="web:z", mobile_last4="1234",
                       fields={}, created_at=at("03-02", "16:00")))  # fmt: skip

    # ---- 03-03
    s.turn("web:e", "03-03", "11:00", "我要预约补办身份证", form="id_card_lost_appointment",
           slot="name", intent="request_id_card_appointment")  # fmt: skip
    s.turn("web:e", "03-03", "11:01", "王五", form="id_card_lost_appointment", slot="id_number")
    s.turn(
        "web:f", "03-03", "15:00", "社保卡怎么补", band="clarify", service="social_security_card"
    )
    s.turn("web:f", "03-03", "15:01", "给狗打疫苗", band="none")
    s.turn("web:f", "03-03", "15:02", "你好", intent="greet")
    s.turn("web:e", "03-03", "23:50", "办护照要多少钱！", band="answer", service="passport")
    s.turn("web:e", "03-03", "23:52", "你们这什么破服务", intent="upset", handoff=True,
           state="queued")  # fmt: skip
    db.add(Handoff(sender="web:e", reason="anger", queued_at=at("03-03", "23:52:02"),
                   accepted_at=at("03-03", "23:54:32"), ended_at=at("03-03", "23:59"),
                   outcome="served_back", agent="agent1001"))  # fmt: skip

    # ---- after the period (03-04 00:05 local is still 03-03 in UTC)
    s.turn("web:g", "03-04", "00:05", "结婚登记要什么材料", band="answer",
           service="marriage_registration")  # fmt: skip
    # an application of c's form before c's session: it does not complete the session
    db.add(Application(receipt="YS-20250227-000001", idempotency_key="wechat:c/fund/0",
                       form_id="fund_withdraw_rent_application", sender="wechat:c",
                       mobile_last4="0000", fields={}, created_at=at("02-27", "12:00")))  # fmt: skip

    # ---- ratings and follow-ups
    def rating(sender: str, subject: str, score: int, when: datetime, kind: str = "conversation"
               ) -> Rating:  # fmt: skip
        row = Rating(sender=sender, subject_kind=kind, subject_id=subject, score=score,
                     label=LABELS[score], created_at=when, updated_at=when)  # fmt: skip
        db.add(row)
        db.flush()
        return row

    def followup(row: Rating, status: str, when: datetime) -> None:
        db.add(Followup(rating=row, status=status, created_at=when, updated_at=when))

    followup(
        rating("wechat:c", "wechat:c#1", 1, at("03-02", "09:21")), "待处理", at("03-02", "09:21")
    )
    rating("web:d", "web:d#1", 4, at("03-02", "15:00"))
    rating("web:f", "web:f#1", 5, at("03-03", "15:05"))
    followup(rating("web:f", "12345-20250303-0001", 2, at("03-03", "16:00"), "ticket"), "已整改",
             at("03-03", "16:00"))  # fmt: skip
    rating("web:g", "web:g#2", 3, at("03-04", "00:05"))  # after the period
    followup(
        rating("web:old", "web:old#1", 2, at("02-20", "10:00")), "整改中", at("02-20", "10:00")
    )

    # ---- tickets (overdue is judged at NOW = 03-05 10:00)
    def ticket(number: str, status: str, due: datetime) -> None:
        db.add(Ticket(number=number, source="handoff", sender="web:x", category="投诉",
                      department="市市场监管局", status=status, time_limit_days=5, due_at=due,
                      summary=f"诉求{number}", service_id="complaint_12345",
                      created_at=due - timedelta(days=7), updated_at=due - timedelta(days=7)))  # fmt: skip

    ticket("12345-20250224-0001", "办理", at("03-02", "23:59:59"))
    ticket("12345-20250213-0001", "受理", at("02-20", "23:59:59"))
    ticket("12345-20250218-0001", "答复", at("02-25", "23:59:59"))
    ticket("12345-20250303-0002", "派单", at("03-10", "23:59:59"))


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    def vector(text: str) -> list[float]:
        if "狗" in text:
            return [1.0, 0.0, 0.0]
        if "社保卡" in text:
            return [0.0, 1.0, 0.0]
        return [0.0, 0.0, 1.0]

    return np.array([vector(t) for t in texts], dtype=np.float32)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as db:
        seed(db)
    return factory


@pytest.fixture
def data(sessions: sessionmaker[Session]) -> dict[str, Any]:
    return analytics.dashboard(sessions, PERIOD, fake_embed, threshold=0.9, now=NOW)


# --------------------------------------------------------------------------- the period


def test_period_is_local_days_in_utc() -> None:
    assert PERIOD.utc_start.isoformat() == "2025-02-28T16:00:00+00:00"
    assert PERIOD.utc_end.isoformat() == "2025-03-03T16:00:00+00:00"
    assert parse_period(None, None, today=date(2025, 3, 7)) == Period(
        date(2025, 3, 1), date(2025, 3, 7)
    )
    assert parse_period("2025-03-01", "2025-03-01") == Period(date(2025, 3, 1), date(2025, 3, 1))


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ("2025/03/01", "2025-03-03", "格式不正确"),
        ("2025-02-30", "2025-03-03", "不是有效的日期"),
        ("2025-03-04", "2025-03-03", "不能晚于"),
        ("2023-01-01", "2025-03-03", "最长366天"),
    ],
)
def test_bad_periods_are_explained_in_chinese(start: str, end: str, words: str) -> None:
    with pytest.raises(PeriodError, match=words):
        parse_period(start, end)


# --------------------------------------------------------------------------- the numbers


def test_questions_per_day(data: dict[str, Any]) -> None:
    assert data["questions_per_day"] == [
        {"date": "2025-03-01", "messages": 10, "conversations": 3, "bot_turns": 11,
         "kb_questions": 4, "answered": 4, "clarify": 0, "unanswered": 0},
        {"date": "2025-03-02", "messages": 10, "conversations": 2, "bot_turns": 9,
         "kb_questions": 4, "answered": 1, "clarify": 1, "unanswered": 2},
        {"date": "2025-03-03", "messages": 7, "conversations": 2, "bot_turns": 7,
         "kb_questions": 3, "answered": 1, "clarify": 1, "unanswered": 1},
    ]  # fmt: skip


def test_totals_and_rates(data: dict[str, Any]) -> None:
    assert data["totals"] == {
        "messages": 27,
        "conversations": 7,
        "bot_turns": 27,
        "kb_turns": 11,
        "answered": 6,
        "clarify": 2,
        "unanswered": 3,
        "answer_rate": round(6 / 11, 4),
        "clarify_rate": round(2 / 11, 4),
        "unanswered_rate": round(3 / 11, 4),
        "handoffs": 3,
        "handed_off_conversations": 3,
        "handoff_rate": round(3 / 7, 4),
    }


def test_top_services_have_names(data: dict[str, Any]) -> None:
    assert data["top_services"] == [
        {"service_id": "passport", "service_name": "普通护照申领", "count": 3, "share": 0.5},
        {"service_id": "birth_registration", "service_name": "新生儿出生登记（入户）",
         "count": 1, "share": 0.1667},
        {"service_id": "fund_withdraw_rent", "service_name": "住房公积金租房提取",
         "count": 1, "share": 0.1667},
        {"service_id": "id_card_lost", "service_name": "居民身份证遗失补领",
         "count": 1, "share": 0.1667},
    ]  # fmt: skip


def test_top_questions_group_after_normalising(data: dict[str, Any]) -> None:
    questions = data["top_questions"]
    assert questions[0] == {
        "question": "办护照要多少钱",
        "count": 2,
        "answered": 2,
        "service_id": "passport",
        "service_name": "普通护照申领",
    }
    assert len(questions) == 10
    assert {q["question"]: q["count"] for q in questions[1:]} == dict.fromkeys(
        ["出生登记怎么办", "护照在哪里办？", "身份证丢了怎么补办", "公积金租房提取",
         "狗狗疫苗在哪打", "宠物狗打疫苗去哪里", "社保卡", "社保卡怎么补", "给狗打疫苗"],
        1,
    )  # fmt: skip
    assert sum(q["answered"] for q in questions) == 6
    unanswered = next(q for q in questions if q["question"] == "给狗打疫苗")
    assert unanswered["answered"] == 0 and unanswered["service_id"] is None


def test_unanswered_questions_are_clustered(data: dict[str, Any]) -> None:
    assert data["unanswered"] == [
        {
            "representative": "狗狗疫苗在哪打",
            "size": 3,
            "distinct": 3,
            "none": 3,
            "clarify": 0,
            "conversations": 2,
            "examples": ["狗狗疫苗在哪打", "宠物狗打疫苗去哪里", "给狗打疫苗"],
            "service_id": None,
            "service_name": None,
        },
        {
            "representative": "社保卡",
            "size": 2,
            "distinct": 2,
            "none": 0,
            "clarify": 2,
            "conversations": 2,
            "examples": ["社保卡", "社保卡怎么补"],
            "service_id": "social_security_card",
            "service_name": "社会保障卡申领与补换",
        },
    ]


def test_cluster_threshold(sessions: sessionmaker[Session]) -> None:
    vectors = {
        "狗狗疫苗在哪打": [0.8, 0.6, 0.0, 0.0, 0.0],
        "宠物狗打疫苗去哪里": [0.8, 0.0, 0.6, 0.0, 0.0],
        "给狗打疫苗": [0.8, 0.0, 0.0, 0.6, 0.0],
        "社保卡": [0.0, 0.0, 0.0, 0.0, 1.0],
        "社保卡怎么补": [0.0, 0.0, 0.0, 0.0, 1.0],
    }

    def spread(texts: Sequence[str]) -> np.ndarray:
        # the dog questions are 0.64 apart, below a 0.9 threshold and above a 0.5 one
        return np.array([vectors[t] for t in texts], dtype=np.float32)

    clusters = analytics.unanswered_clusters(sessions, PERIOD, spread, threshold=0.9)
    assert [(c["representative"], c["size"]) for c in clusters] == [
        ("社保卡", 2), ("狗狗疫苗在哪打", 1), ("宠物狗打疫苗去哪里", 1), ("给狗打疫苗", 1)
    ]  # fmt: skip
    together = analytics.unanswered_clusters(sessions, PERIOD, spread, threshold=lambda: 0.5)
    assert [c["size"] for c in together] == [3, 2]
    # the character fallback embeds deterministically and needs no model
    texts = ["社保卡", "社保卡怎么补", "给狗打疫苗"]
    first = analytics.char_ngram_embed(texts)
    assert first.shape[0] == 3
    assert np.array_equal(first, analytics.char_ngram_embed(texts))


def test_form_funnels(data: dict[str, Any]) -> None:
    funnels = {f["form_id"]: f for f in data["funnels"]}
    assert list(funnels) == list(analytics.FORM_NAMES)
    assert funnels["id_card_lost_appointment"] == {
        "form_id": "id_card_lost_appointment",
        "form_name": "预约补领居民身份证",
        "started": 2,
        "conversations": 2,
        "completed": 1,
        "abandoned": 1,
        "completion_rate": 0.5,
        "submitted": 1,
        "drop_off": [{"slot": "id_number", "label": "身份证号", "count": 1}],
    }
    fund = funnels["fund_withdraw_rent_application"]
    assert (fund["started"], fund["completed"], fund["abandoned"], fund["submitted"]) == (
        1,
        0,
        1,
        0,
    )
    assert fund["drop_off"] == [{"slot": "fund_account", "label": "公积金账号", "count": 1}]
    medical = funnels["medical_remote_filing_application"]  # continued from before the period
    assert (medical["started"], medical["submitted"], medical["completion_rate"]) == (0, 0, None)
    complaint = funnels["complaint_12345_ticket"]  # filed without a session in the period
    assert (complaint["started"], complaint["submitted"]) == (0, 1)
    assert funnels["service_progress_query"]["started"] == 0


def test_ratings_and_followups(data: dict[str, Any]) -> None:
    ratings = data["ratings"]
    assert ratings["distribution"] == [
        {"score": 1, "label": "非常不满意", "count": 1},
        {"score": 2, "label": "不满意", "count": 1},
        {"score": 3, "label": "一般", "count": 0},
        {"score": 4, "label": "满意", "count": 1},
        {"score": 5, "label": "非常满意", "count": 1},
    ]
    assert (ratings["total"], ratings["average"], ratings["bad"]) == (4, 3.0, 2)
    assert ratings["open_followups"] == 2
    assert [(f["status"], f["score"]) for f in ratings["followups"]] == [
        ("整改中", 2),
        ("待处理", 1),
    ]


def test_overdue_tickets(data: dict[str, Any]) -> None:
    overdue = data["overdue_tickets"]
    assert overdue["count"] == 2
    assert [(t["number"], t["status"], t["overdue_days"]) for t in overdue["items"]] == [
        ("12345-20250213-0001", "受理", 12),
        ("12345-20250224-0001", "办理", 2),
    ]
    assert overdue["items"][1]["due_at"] == "2025-03-02T23:59:59+08:00"


def test_handoffs_by_reason(data: dict[str, Any]) -> None:
    assert data["handoffs"] == [
        {"reason": "citizen_request", "label": "市民要求转人工", "count": 1, "accepted": 0,
         "abandoned": 1, "avg_wait_s": None},
        {"reason": "kb_unanswered", "label": "连续两次未能回答", "count": 1, "accepted": 1,
         "abandoned": 0, "avg_wait_s": 60},
        {"reason": "form_failures", "label": "表单多次填写未通过", "count": 0, "accepted": 0,
         "abandoned": 0, "avg_wait_s": None},
        {"reason": "anger", "label": "市民情绪不满/投诉工作人员", "count": 1, "accepted": 1,
         "abandoned": 0, "avg_wait_s": 150},
    ]  # fmt: skip


def test_one_day_period(sessions: sessionmaker[Session]) -> None:
    day = Period(date(2025, 3, 3), date(2025, 3, 3))
    totals = analytics.rates(sessions, day)
    assert (totals["messages"], totals["conversations"], totals["kb_turns"]) == (7, 2, 3)
    assert (totals["handoffs"], totals["handoff_rate"]) == (1, 0.5)
    # the form e started on 03-03 is a start of that day; b's on 03-01 is not
    funnels = {f["form_id"]: f for f in analytics.form_funnels(sessions, day)}
    assert funnels["id_card_lost_appointment"]["started"] == 1
    assert funnels["id_card_lost_appointment"]["submitted"] == 0


def test_csv_rows_quote_formulas(data: dict[str, Any]) -> None:
    header, rows = analytics.csv_rows("top_services", data["top_services"])
    assert header == ["排名", "事项编号", "事项名称", "回答次数", "占比"]
    assert rows[0] == [1, "passport", "普通护照申领", 3, "50.0%"]
    assert analytics.csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert analytics.csv_cell(-3) == "-3"
    for section in analytics.SECTIONS:
        header, _ = analytics.csv_rows(section, data[section])
        assert header


# --------------------------------------------------------------------------- the routes


class FakeEncoder:
    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return fake_embed(texts)


class FakeHandle:
    cluster_encoder = FakeEncoder()


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.settings = Settings()
    app.state.sessions = sessions
    app.state.kb = FakeHandle()
    install_error_handlers(app)
    app.include_router(admin_routes.router)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


ADMIN = {"X-Yishi-Admin-Token": DEV_ADMIN_TOKEN}


def test_dashboard_route(client: TestClient) -> None:
    assert client.get("/api/admin/dashboard").status_code == 401
    response = client.get("/api/admin/dashboard?from=2025-03-01&to=2025-03-03", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["period"] == {"from": "2025-03-01", "to": "2025-03-03"}
    assert body["totals"]["messages"] == 27
    assert body["similarity"] == {"method": "e5", "threshold": analytics.E5_THRESHOLD}
    assert [c["size"] for c in body["unanswered"]] == [3, 2]


def test_bad_dates_answer_422_in_chinese(client: TestClient) -> None:
    response = client.get("/api/admin/dashboard?from=2025-3-1&to=2025-03-03", headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"] == "bad_date"
    assert "YYYY-MM-DD" in response.json()["detail"]
    response = client.get(
        "/api/admin/dashboard/export.csv?section=nope&from=2025-03-01", headers=ADMIN
    )
    assert response.status_code == 422
    assert response.json()["error"] == "bad_section"


def test_csv_export_has_a_bom_and_chinese_header(client: TestClient) -> None:
    response = client.get(
        "/api/admin/dashboard/export.csv?section=questions_per_day&from=2025-03-01&to=2025-03-03",
        headers=ADMIN,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert (
        "yishi-questions_per_day-2025-03-01-2025-03-03.csv"
        in response.headers["content-disposition"]
    )
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["日期", "市民消息数", "会话数"]
    assert rows[1] == ["2025-03-01", "10", "3", "11", "4", "4", "0", "0"]
    assert len(rows) == 4


def test_page_is_served(client: TestClient) -> None:
    response = client.get("/admin")
    assert response.status_code == 200
    assert "运营看板" in response.text


@pytest.mark.slow
def test_the_gateway_groups_with_the_untuned_model_its_threshold_fits() -> None:
    """The served model is tuned, on another similarity scale; the dashboard groups with the
    untuned model its threshold was measured on: rewordings of one question join, different
    matters stay apart."""
    from retrieval.searcher import SearcherHandle

    handle = SearcherHandle()
    encoder = handle.cluster_encoder
    assert encoder.path == handle.settings.cluster_model_dir.resolve()
    assert encoder.model_id != handle.encoder.model_id
    vectors = encoder.encode_queries(
        ["社保卡丢了怎么补办", "社保卡丢了咋补办", "社保卡丢了怎么补", "护照过期了怎么换"]
    )
    sims = vectors @ vectors.T
    assert min(sims[0, 1], sims[0, 2]) >= analytics.E5_THRESHOLD
    assert max(sims[:3, 3]) < analytics.E5_THRESHOLD
