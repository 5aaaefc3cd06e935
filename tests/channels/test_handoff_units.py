"""Units of the handoff machinery: service hours, upset detection, the conversation store,
staff accounts (hashing, throttling, expiry) and the append-only audit log — on real SQLite."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import sessionmaker

from channels.agent_console.accounts import AccountError, AccountStore, ThrottledError
from channels.core.conversations import AGENT, BOT, QUEUED, ConflictError, ConversationStore
from channels.core.handoff import ServiceHours
from channels.core.sentiment import is_upset
from channels.core.store import make_engine


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker:
    return sessionmaker(make_engine(f"sqlite:///{tmp_path / 'app.db'}"), expire_on_commit=False)


def test_service_hours_in_the_city_time_zone() -> None:
    hours = ServiceHours.parse("08:30-21:00", "12345", "Asia/Shanghai")
    monday_9_local = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 09:00 in Beijing
    assert hours.is_open(monday_9_local)
    assert not hours.is_open(monday_9_local - dt.timedelta(hours=1))  # 08:00
    assert not hours.is_open(dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC))  # Sunday noon
    assert hours.describe() == "周一至周五08:30-21:00"
    always = ServiceHours.parse("00:00-24:00", "1234567", "Asia/Shanghai")
    assert always.is_open(dt.datetime(2026, 11, 22, 15, 59, 59, tzinfo=dt.UTC))
    assert always.describe() == "每天00:00-24:00"


@pytest.mark.parametrize(
    ("text", "upset"),
    [
        ("气死我了，到底能不能办", True),
        ("你们窗口工作人员态度太差了", True),
        ("我要投诉窗口工作人员", True),
        ("什么破系统，问了半天没用", True),
        ("跑了三趟都没办成", True),
        ("垃圾分类有什么规定", False),
        ("小区门口路灯坏了我要投诉", False),  # a city matter: the complaint form, not a person
        ("社保卡多久能拿到", False),
        ("接到骗子诈骗电话怎么办", False),
    ],
)
def test_upset_detection(text: str, upset: bool) -> None:
    assert is_upset(text) is upset


def test_queue_accept_is_first_come_and_exclusive(sessions: sessionmaker) -> None:
    store = ConversationStore(sessions)
    for sender in ("web:a", "web:b"):
        store.ensure(sender, "standard")
        store.enqueue(sender, "citizen_request", "身份证丢了怎么办 / 转人工")
    queue = store.queue()
    assert [(i["sender"], i["position"]) for i in queue] == [("web:a", 1), ("web:b", 2)]
    assert queue[0]["reason_text"] == "市民要求转人工"
    assert store.position("web:b") == 2

    assert store.accept("web:a", "agent1").state == AGENT
    with pytest.raises(ConflictError) as taken:
        store.accept("web:a", "agent2")
    assert taken.value.code == "already_taken"
    assert store.position("web:b") == 1

    with pytest.raises(ConflictError):
        store.require_served_by("web:a", "agent2")
    store.transfer("web:a", "agent1", "agent2")
    assert store.require_served_by("web:a", "agent2").agent == "agent2"

    ended = store.end("web:a", state=BOT, outcome="handed_back")
    assert ended is not None and ended["outcome"] == "handed_back" and ended["agent"] == "agent2"
    assert store.get("web:a").state == BOT  # type: ignore[union-attr]
    # queueing twice while waiting keeps one place
    first = store.get("web:b").handoff_id  # type: ignore[union-attr]
    assert store.enqueue("web:b", "anger", "again") == first
    assert store.get("web:b").state == QUEUED  # type: ignore[union-attr]


def test_summary_is_masked(sessions: sessionmaker) -> None:
    store = ConversationStore(sessions)
    store.ensure("web:c", "standard")
    store.enqueue("web:c", "citizen_request", "我的手机13812345678，身份证110101199003071234")
    summary = store.queue()[0]["summary"]
    assert "13812345678" not in summary and "110101199003071234" not in summary
    assert "138****5678" in summary


def test_accounts_hash_throttle_and_sessions(sessions: sessionmaker) -> None:
    accounts = AccountStore(sessions, max_failures=3, idle_timeout_s=60, session_ttl_s=3600)
    staff = accounts.create("agent1", "张敏", "1001", "agent", "correct-horse-1")
    assert staff.label == "张敏（工号1001）"
    with pytest.raises(AccountError):
        accounts.create("agent1", "重复", "1002", "agent", "another-pass-1")
    with pytest.raises(AccountError):
        accounts.create("short", "短", "1003", "agent", "short")
    with sessions() as db:
        stored = db.execute(text("SELECT password_hash FROM staff_accounts")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct-horse-1" not in stored

    who, token, expires = accounts.login("agent1", "correct-horse-1", "10.0.0.1")
    assert who.username == "agent1" and expires > dt.datetime.now(dt.UTC)
    assert accounts.session(token)[0].role == "agent"  # type: ignore[index]
    assert accounts.session(token + "x") is None
    for _ in range(3):
        with pytest.raises(AccountError):
            accounts.login("agent1", "wrong-password", "10.0.0.2")
    with pytest.raises(ThrottledError):  # even the right password, once throttled
        accounts.login("agent1", "correct-horse-1", "10.0.0.3")

    accounts.logout(token)
    assert accounts.session(token) is None


def test_idle_sessions_expire(sessions: sessionmaker) -> None:
    accounts = AccountStore(sessions, idle_timeout_s=1)
    accounts.create("agent2", "王强", "1002", "agent", "correct-horse-2")
    _, token, _ = accounts.login("agent2", "correct-horse-2", "10.0.0.1")
    time.sleep(1.2)
    assert accounts.session(token) is None


def test_disabling_an_account_ends_its_sessions(sessions: sessionmaker) -> None:
    accounts = AccountStore(sessions)
    accounts.create("agent3", "赵丽", "1003", "agent", "correct-horse-3")
    _, token, _ = accounts.login("agent3", "correct-horse-3", "10.0.0.1")
    accounts.set_active("agent3", False)
    assert accounts.session(token) is None
    with pytest.raises(AccountError):
        accounts.login("agent3", "correct-horse-3", "10.0.0.1")


def test_audit_log_is_append_only(sessions: sessionmaker) -> None:
    accounts = AccountStore(sessions)
    accounts.audit("agent1", "unmask", "web:x", reason="核实身份")
    entry = accounts.audit_log(action="unmask")[0]
    assert (entry["actor"], entry["target"], entry["reason"]) == ("agent1", "web:x", "核实身份")
    with sessions.begin() as db, pytest.raises(DatabaseError, match="append-only"):
        db.execute(text("UPDATE audit_log SET reason = 'x'"))
    with sessions.begin() as db, pytest.raises(DatabaseError, match="append-only"):
        db.execute(text("DELETE FROM audit_log"))
