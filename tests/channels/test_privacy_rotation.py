"""Key rotation with the admin commands: new-key, then rotate-keys --retire-old. Everything
stays readable with the new key alone, and rows stored before encryption get encrypted."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from channels.admin.__main__ import main as admin
from channels.agent_console.accounts import AccountStore
from channels.applications.store import Application, ApplicationStore
from channels.config import Settings
from channels.core.store import make_engine
from channels.privacy.crypto import DataCipher, cipher_from_settings, generate_key, read_key_file
from channels.privacy.vault import PiiVault
from channels.tickets.store import Ticket, TicketStore

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("YISHI_DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.db'}")
    monkeypatch.delenv("YISHI_DATA_KEYS", raising=False)
    return Settings(_env_file=None)


def _seed(settings: Settings) -> tuple[sessionmaker[Session], str, str, str]:
    """An application, a ticket and a vault value encrypted with the first key, plus an
    application and a ticket stored before encryption existed."""
    sessions = sessionmaker(make_engine(settings.database_url), expire_on_commit=False)
    cipher = cipher_from_settings(settings)
    receipt = (
        ApplicationStore(sessions, cipher=cipher)
        .submit(
            form_id="id_card_lost_appointment",
            sender="web:a",
            idempotency_key="web:a/id/s1",
            mobile=MOBILE,
            fields={"name": "张三", "id_number": ID_NUMBER, "mobile": MOBILE},
        )
        .receipt
    )
    number = TicketStore(sessions, cipher=cipher).create(
        source="callback", sender="web:a", category="咨询", summary="问题", contact_mobile=MOBILE
    )["number"]
    token = PiiVault(sessions, cipher).seal("web:a", [ID_NUMBER])[0]
    with sessions.begin() as db:  # rows stored before encryption existed
        db.add(
            Application(
                receipt="YS-20250101-000001",
                idempotency_key="legacy",
                form_id="id_card_lost_appointment",
                sender="web:old",
                mobile_last4="5678",
                fields={"id_number": ID_NUMBER},
            )
        )
        db.add(
            Ticket(
                number="12345-20250101-0001",
                source="callback",
                sender="web:old",
                category="咨询",
                summary="问题",
                contact_mobile=MOBILE,
                department="市政务服务管理局",
                status="派单",
                time_limit_days=5,
                due_at=NOW,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return sessions, receipt, number, token


def test_new_key_then_rotate_and_retire(settings: Settings) -> None:
    sessions, receipt, number, token = _seed(settings)
    first = read_key_file(settings.data_key_path)
    assert admin(["new-key"]) == 0
    keys = read_key_file(settings.data_key_path)
    assert len(keys) == 2 and keys[1:] == first

    assert admin(["rotate-keys", "--retire-old"]) == 0
    assert read_key_file(settings.data_key_path) == keys[:1]
    only_new = DataCipher(keys[:1])
    assert (
        ApplicationStore(sessions, cipher=only_new).personal_fields(receipt)["id_number"]
        == ID_NUMBER
    )
    tickets = TicketStore(sessions, cipher=only_new)
    assert tickets.get(number)["contact_mobile"] == MOBILE  # type: ignore[index]
    assert tickets.get("12345-20250101-0001")["contact_mobile"] == MOBILE  # type: ignore[index]
    assert PiiVault(sessions, only_new).reveal("web:a", [token]) == {token: ID_NUMBER}
    with sessions() as db:
        legacy = db.scalar(select(Application).where(Application.idempotency_key == "legacy"))
        assert legacy is not None and legacy.fields_enc
        assert only_new.decrypt_json(legacy.fields_enc) == {"id_number": ID_NUMBER}
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as db:
        dump = "\n".join(db.iterdump())
    assert ID_NUMBER not in dump and MOBILE not in dump

    entry = AccountStore(sessions).audit_log(action="rotate_keys")[0]
    assert entry["detail"]["retired"] == 1
    assert entry["detail"]["counts"]["applications"] == {
        "rotated": 1,
        "encrypted": 1,
        "unreadable": 0,
    }
    assert entry["detail"]["counts"]["tickets"]["encrypted"] == 1


def test_values_no_key_opens_keep_the_old_keys(settings: Settings) -> None:
    sessions, *_ = _seed(settings)
    stranger = DataCipher([generate_key()])
    PiiVault(sessions, stranger).seal("web:b", [MOBILE])
    admin(["new-key"])
    keys = read_key_file(settings.data_key_path)
    assert admin(["rotate-keys", "--retire-old"]) == 1
    assert read_key_file(settings.data_key_path) == keys
