"""Personal data at rest through the gateway's APIs: applications and tickets encrypted, staff
views masked, unmask with a reason and an audit entry, the form-value vault. Real app, real
SQLite; the whole database file is searched for the raw values."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from ops.stack import free_port
from yishi.privacy import mask_pii

INTERNAL = {"X-Yishi-Token": "internal-secret"}
ADMIN = {"X-Yishi-Admin-Token": "admin-secret"}
ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
CARD = "6222020200112233442"
RAW = (ID_NUMBER, MOBILE, CARD, "320100123456")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    closed = free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{db_path}",
        internal_token="internal-secret",
        admin_token="admin-secret",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _dump(db_path: Path) -> str:
    with sqlite3.connect(db_path) as db:
        return "\n".join(db.iterdump())


def _staff(client: TestClient, role: str = "agent") -> dict[str, str]:
    client.app.state.accounts.create(f"t-{role}", "张敏", "1001", role, "privacy-test-pass")  # type: ignore[attr-defined]
    token = client.post(
        "/api/agent/login", json={"username": f"t-{role}", "password": "privacy-test-pass"}
    ).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def _submit(client: TestClient, form_id: str, fields: dict[str, Any], key: str) -> str:
    response = client.post(
        "/internal/applications",
        headers=INTERNAL,
        json={
            "form_id": form_id,
            "sender": "web:privacy",
            "idempotency_key": key,
            "mobile": MOBILE,
            "fields": fields,
        },
    )
    assert response.status_code == 200, response.text
    receipt: str = response.json()["receipt"]
    return receipt


def test_applications_are_encrypted_at_rest_and_unmasked_with_an_audit(
    client: TestClient, db_path: Path
) -> None:
    fields = {
        "name": "李四",
        "id_number": ID_NUMBER,
        "fund_account": "320100123456",
        "bank_card": CARD,
        "mobile": MOBILE,
        "rent_registered": False,
    }
    receipt = _submit(client, "fund_withdraw_rent_application", fields, "web:privacy/fund/s1")
    dump = _dump(db_path)
    assert not [raw for raw in RAW if raw in dump]

    listed = client.get("/api/admin/applications", headers=ADMIN).json()
    assert listed[0]["fields"]["id_number"] == mask_pii(ID_NUMBER)
    assert listed[0]["fields"]["bank_card"] == mask_pii(CARD)

    url = f"/api/admin/applications/{receipt}/unmask"
    assert client.post(url, headers=ADMIN, json={"reason": ""}).status_code == 422
    assert client.post(url, json={"reason": "核对身份"}).status_code == 401
    assert client.post(url, headers=_staff(client), json={"reason": "核对"}).status_code == 403
    full = client.post(url, headers=ADMIN, json={"reason": "核对身份"}).json()
    assert full["fields"] == fields
    audit = client.get("/api/admin/audit", headers=ADMIN, params={"action": "unmask"}).json()
    entry = audit["items"][0]
    assert entry["target"] == receipt and entry["reason"] == "核对身份"
    assert "bank_card" in entry["detail"]["fields"]
    missing = client.post(
        "/api/admin/applications/YS-20000101-000001/unmask", headers=ADMIN, json={"reason": "核对"}
    )
    assert missing.status_code == 404
    client.post(
        f"/api/admin/applications/{receipt}/status", headers=ADMIN, json={"status": "已受理"}
    )
    changed = client.get(
        "/api/admin/audit", headers=ADMIN, params={"action": "application_status"}
    ).json()["items"]
    assert changed[0]["target"] == receipt and changed[0]["detail"] == {"status": "已受理"}


def test_ticket_contacts_are_encrypted_and_masked_for_staff(
    client: TestClient, db_path: Path
) -> None:
    complaint = {
        "category": "投诉",
        "district": "东湖区",
        "address": "东湖区湖滨路28号",
        "description": f"小区门口路灯坏了一个多月，联系电话{MOBILE}",
        "anonymous": False,
        "contact_name": "王先生",
        "mobile": MOBILE,
        "callback": True,
    }
    _submit(client, "complaint_12345_ticket", complaint, "web:privacy/complaint/s1")
    assert MOBILE not in _dump(db_path)

    staff = _staff(client)
    items = client.get("/api/tickets", headers=staff).json()["items"]
    assert items[0]["contact_mobile"] == "139****5678" and MOBILE not in str(items)
    number = items[0]["number"]
    assert client.get(f"/api/tickets/{number}", headers=staff).json()["contact_mobile"] == (
        "139****5678"
    )
    url = f"/api/tickets/{number}/unmask"
    assert client.post(url, headers=staff, json={"reason": " "}).status_code == 422
    assert client.post(url, headers=staff, json={"reason": "回电"}).json()["contact_mobile"] == (
        MOBILE
    )
    moved = client.post(
        f"/api/tickets/{number}/transition", headers=staff, json={"status": "办理"}
    ).json()
    assert moved["contact_mobile"] == "139****5678"
    actions = [e["action"] for e in client.get("/api/admin/audit", headers=ADMIN).json()["items"]]
    assert {"unmask", "ticket_status", "login"} <= set(actions)


def test_the_vault_keeps_values_encrypted_and_per_conversation(
    client: TestClient, db_path: Path
) -> None:
    sealed = client.post(
        "/internal/pii", headers=INTERNAL, json={"sender": "web:a", "values": [ID_NUMBER, CARD]}
    )
    assert sealed.status_code == 200
    tokens = sealed.json()["tokens"]
    assert len(tokens) == 2 and all(t.startswith("pii:v") and mask_pii(t) == t for t in tokens)
    assert not [raw for raw in RAW if raw in _dump(db_path)]

    def reveal(sender: str, wanted: list[str]) -> dict[str, str]:
        response = client.post(
            "/internal/pii/reveal", headers=INTERNAL, json={"sender": sender, "tokens": wanted}
        )
        assert response.status_code == 200
        values: dict[str, str] = response.json()["values"]
        return values

    assert reveal("web:a", [*tokens, "pii:vffffffffffffffffffffffff", "other"]) == {
        tokens[0]: ID_NUMBER,
        tokens[1]: CARD,
    }
    assert reveal("web:b", tokens) == {}  # another conversation's tokens do not open
    assert client.post("/internal/pii", json={"sender": "web:a", "values": []}).status_code == 401
    forgot = client.post("/internal/pii/forget", headers=INTERNAL, json={"sender": "web:a"})
    assert forgot.json() == {"deleted": 2} and reveal("web:a", tokens) == {}
