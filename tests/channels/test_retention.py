"""The retention purge: seeded old and new rows of every data class; exactly the old ones go
(deleted, or anonymised where statistics keep the row), counts per class, an audit entry, and
the audit log stays append-only afterwards."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from channels.admin.__main__ import main as admin
from channels.agent_console.accounts import AccountStore, AuditEntry, LoginAttempt
from channels.applications.store import Application, ApplicationStore
from channels.config import Settings
from channels.core.conversations import Conversation, Handoff
from channels.core.store import ChatMessage, make_engine
from channels.feedback.store import Followup, Rating
from channels.privacy.crypto import cipher_from_settings
from channels.privacy.retention import ANONYMISED_SUMMARY, purge
from channels.privacy.vault import PiiVault, VaultEntry
from channels.tickets.store import Ticket, TicketStore
from channels.wechat.store import WechatButtons, WechatInbound, WechatPush, WechatWindow

NOW = dt.datetime.now(dt.UTC)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = {
        "YISHI_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "YISHI_TRACKER_DB": str(tmp_path / "rasa_tracker.db"),
        "YISHI_RETENTION_TRANSCRIPTS_DAYS": "10",
        "YISHI_RETENTION_HANDOFFS_DAYS": "20",
        "YISHI_RETENTION_APPLICATIONS_DAYS": "30",
        "YISHI_RETENTION_TICKETS_DAYS": "40",
        "YISHI_RETENTION_AUDIT_DAYS": "200",
        "YISHI_RETENTION_TRACKERS_DAYS": "5",
        "YISHI_RETENTION_FORM_DRAFTS_DAYS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def _tracker_db(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
            "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"
        )
        for sender, days in (("old", 6), ("new", 4)):
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, 'user', ?, '{}')",
                (sender, ago(days).timestamp()),
            )


def _seed(settings: Settings) -> sessionmaker[Session]:
    """Rows of every class: `old-*` just past their retention, `new-*` just inside it, and
    `keep-*` old ones the purge must leave (still in use)."""
    sessions = sessionmaker(make_engine(settings.database_url), expire_on_commit=False)
    cipher = cipher_from_settings(settings)
    applications = ApplicationStore(sessions, cipher=cipher)
    for key in ("old", "new"):
        applications.submit(
            form_id="medical_remote_filing_application",
            sender=f"web:{key}",
            idempotency_key=f"web:{key}/medical/s1",
            mobile="13912345678",
            fields={"name": "王五", "id_number": "11010519491231002X"},
        )
    tickets = TicketStore(sessions, cipher=cipher)
    for key, status in (("old", "办结"), ("keep", "派单"), ("new", "办结")):
        number = tickets.create(
            source="callback",
            sender=f"web:{key}",
            category="咨询",
            summary="公积金怎么提取",
            contact_mobile="13912345678",
        )["number"]
        for step in ("办理", "答复", "办结") if status == "办结" else ():
            tickets.transition(number, step, "agent", answer="已答复")
        with sessions.begin() as db:
            days = 41 if key != "new" else 39
            db.execute(update(Ticket).where(Ticket.number == number).values(updated_at=ago(days)))
    vault = PiiVault(sessions, cipher)
    vault.seal("web:old", ["11010519491231002X"])
    vault.seal("web:new", ["13912345678"])
    with sessions.begin() as db:
        db.execute(
            update(Application).where(Application.sender == "web:old").values(updated_at=ago(31))
        )
        db.execute(
            update(Application).where(Application.sender == "web:new").values(updated_at=ago(29))
        )
        db.execute(
            update(VaultEntry).where(VaultEntry.sender == "web:old").values(created_at=ago(1.5))
        )
        for key, days in (("old", 11), ("new", 9)):
            db.add(
                ChatMessage(
                    sender=f"web:{key}",
                    direction="in",
                    text="你好",
                    status="answered",
                    created_at=ago(days),
                )
            )
            db.add(WechatPush(openid=key, kind="bot", text="你好", created_at=ago(days)))
            db.add(
                WechatInbound(key=f"msg-{key}", openid=key, msg_type="text", received_at=ago(days))
            )
            db.add(WechatButtons(openid=key, buttons=[], updated_at=ago(days)))
            db.add(
                WechatWindow(openid=key, expires_at=ago(days), remaining=5, updated_at=ago(days))
            )
        for key, days, ended in (("old", 21, True), ("keep", 21, False), ("new", 19, True)):
            db.add(
                Handoff(
                    sender=f"web:{key}",
                    reason="citizen_request",
                    queued_at=ago(days),
                    ended_at=ago(days) if ended else None,
                )
            )
        for key, days, state in (("old", 21, "closed"), ("keep", 21, "agent"), ("new", 19, "bot")):
            db.add(
                Conversation(sender=f"web:{key}", channel="web", state=state, updated_at=ago(days))
            )
        for key, days, open_followup in (
            ("old", 21, False),
            ("keep", 21, True),
            ("new", 19, False),
        ):
            rating = Rating(
                sender=f"web:{key}",
                subject_kind="conversation",
                subject_id=key,
                score=1,
                label="非常不满意",
                comment="等太久",
                created_at=ago(days),
                updated_at=ago(days),
            )
            db.add(rating)
            db.flush()
            if open_followup:
                db.add(
                    Followup(
                        rating_id=rating.id,
                        status="待处理",
                        created_at=ago(days),
                        updated_at=ago(days),
                    )
                )
        for key, days in (("old", 201), ("new", 199)):
            db.add(AuditEntry(actor=f"{key}-agent", role="agent", action="login", at=ago(days)))
            db.add(LoginAttempt(username=f"{key}-agent", client="127.0.0.1", ok=True, at=ago(days)))
    _tracker_db(settings.tracker_db)
    return sessions


def _left(sessions: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    with sessions() as db:
        apps = {a.idempotency_key: a for a in db.scalars(select(Application))}
        return {
            "chat": sorted(db.scalars(select(ChatMessage.sender))),
            "pushes": sorted(db.scalars(select(WechatPush.openid))),
            "inbound": sorted(db.scalars(select(WechatInbound.openid))),
            "buttons": sorted(db.scalars(select(WechatButtons.openid))),
            "windows": sorted(db.scalars(select(WechatWindow.openid))),
            "handoffs": sorted(db.scalars(select(Handoff.sender))),
            "conversations": sorted(db.scalars(select(Conversation.sender))),
            "comments": sorted(
                db.scalars(select(Rating.subject_id).where(Rating.comment.is_not(None)))
            ),
            "ratings": len(db.scalars(select(Rating.id)).all()),
            "apps": apps,
            "tickets": {t.summary: t for t in db.scalars(select(Ticket))},
            "ticket_senders": sorted(db.scalars(select(Ticket.sender))),
            "audit": sorted(
                db.scalars(select(AuditEntry.actor).where(AuditEntry.action == "login"))
            ),
            "attempts": sorted(db.scalars(select(LoginAttempt.username))),
            "vault": sorted(db.scalars(select(VaultEntry.sender))),
            "events": sorted(
                r[0]
                for r in sqlite3.connect(settings.tracker_db).execute(
                    "SELECT sender_id FROM events"
                )
            ),
        }


def test_exactly_the_rows_past_their_retention_go(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = _seed(settings)
    before = _left(sessions, settings)
    engine = sessions.kw["bind"]

    dry = purge(engine, settings, dry_run=True)
    assert _left(sessions, settings)["chat"] == before["chat"]  # a dry run changes nothing
    assert admin(["purge"]) == 0
    printed = capsys.readouterr().out
    assert "transcripts" in printed and "form_drafts" in printed
    left = _left(sessions, settings)

    assert left["chat"] == ["web:new"]
    assert left["pushes"] == left["inbound"] == left["buttons"] == left["windows"] == ["new"]
    assert left["handoffs"] == ["web:keep", "web:new"]
    assert left["conversations"] == ["web:keep", "web:new"]
    assert left["comments"] == ["keep", "new"] and left["ratings"] == 3
    old_app = left["apps"]["purged:" + _receipt(before, "web:old")]
    new_app = left["apps"]["web:new/medical/s1"]
    assert old_app.fields == {} and old_app.fields_enc is None and old_app.sender == ""
    assert old_app.mobile_last4 == "" and old_app.status == "已提交"
    assert new_app.fields_enc and new_app.sender == "web:new"
    assert left["ticket_senders"] == ["", "web:keep", "web:new"]
    gone = left["tickets"][ANONYMISED_SUMMARY]
    assert gone.contact_mobile is None and gone.contact_mobile_enc is None and gone.answer is None
    assert gone.status == "办结" and gone.department
    assert left["audit"] == ["new-agent"] and left["attempts"] == ["new-agent"]
    assert left["vault"] == ["web:new"]
    assert left["events"] == ["new"]

    counts = {
        "transcripts": 5,
        "handoffs": 3,
        "applications": 1,
        "tickets": 1,
        "audit": 2,
        "trackers": 1,
        "form_drafts": 1,
    }
    assert {name: sum(tables.values()) for name, tables in dry.items()} == counts
    entry = AccountStore(sessions).audit_log(action="purge")[0]
    assert entry["actor"].startswith("cli") and entry["detail"]["retention_days"]["audit"] == 200
    assert {n: sum(t.values()) for n, t in entry["detail"]["counts"].items()} == counts

    # run again: nothing left to do
    again = purge(engine, settings)
    assert sum(sum(t.values()) for t in again.values()) == 0


def _receipt(rows: dict[str, Any], sender: str) -> str:
    return next(a.receipt for a in rows["apps"].values() if a.sender == sender)


def test_the_audit_log_stays_append_only_after_a_purge(settings: Settings) -> None:
    sessions = _seed(settings)
    purge(sessions.kw["bind"], settings)
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)


def test_audit_retention_cannot_go_below_six_months() -> None:
    with pytest.raises(ValueError):
        Settings(_env_file=None, retention_audit_days=30)
