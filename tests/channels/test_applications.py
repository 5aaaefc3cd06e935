"""The application store through its HTTP APIs: real app, real SQLite."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from ops.stack import free_port

INTERNAL = {"X-Yishi-Token": "internal-secret"}
ADMIN = {"X-Yishi-Admin-Token": "admin-secret"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    closed = free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        internal_token="internal-secret",
        admin_token="admin-secret",
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _submit(client: TestClient, key: str, mobile: str = "13912345678") -> dict[str, Any]:
    response = client.post(
        "/internal/applications",
        headers=INTERNAL,
        json={
            "form_id": "id_card_lost_appointment",
            "sender": "web:abc",
            "idempotency_key": key,
            "mobile": mobile,
            "fields": {"name": "张三", "id_number": "11010519491231002X", "mobile": mobile},
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_submission_is_idempotent_and_receipts_count_per_day(client: TestClient) -> None:
    today = dt.date.today().strftime("%Y%m%d")
    first = _submit(client, "web:abc/id_card_lost_appointment/s1")
    assert first == {"receipt": f"YS-{today}-000001", "status": "已提交", "created": True}
    again = _submit(client, "web:abc/id_card_lost_appointment/s1")
    assert again == {**first, "created": False}
    second = _submit(client, "web:abc/id_card_lost_appointment/s2")
    assert second["receipt"] == f"YS-{today}-000002"


def test_concurrent_double_confirm_makes_one_record(client: TestClient) -> None:
    receipts: list[str] = []
    barrier = threading.Barrier(8)

    def confirm() -> None:
        barrier.wait()
        receipts.append(_submit(client, "web:abc/complaint/same")["receipt"])

    threads = [threading.Thread(target=confirm) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receipts) == 8 and len(set(receipts)) == 1
    listed = client.get("/api/admin/applications", headers=ADMIN).json()
    assert len(listed) == 1


def test_lookup_needs_the_right_pair_and_answers_neutrally(client: TestClient) -> None:
    receipt = _submit(client, "k-lookup-1", mobile="13812345678")["receipt"]
    found = client.post("/api/progress", json={"receipt": receipt, "mobile_last4": "5678"}).json()
    assert found["found"] is True and found["status"] == "已提交"
    assert [h["status"] for h in found["history"]] == ["已提交"]
    compact = receipt.replace("-", "").lower()
    assert client.post("/api/progress", json={"receipt": compact, "mobile_last4": "5678"}).json()[
        "found"
    ]

    wrong_pair = client.post("/api/progress", json={"receipt": receipt, "mobile_last4": "0000"})
    unknown = client.post(
        "/api/progress", json={"receipt": "YS-20000101-000009", "mobile_last4": "5678"}
    )
    garbage = client.post("/api/progress", json={"receipt": "hello", "mobile_last4": "5678"})
    assert wrong_pair.json() == unknown.json() == garbage.json()
    assert wrong_pair.json()["found"] is False


def test_status_lifecycle_through_the_admin_api(client: TestClient) -> None:
    receipt = _submit(client, "k-life-1")["receipt"]
    url = f"/api/admin/applications/{receipt}/status"
    assert client.post(url, json={"status": "已受理"}).status_code == 401
    accepted = client.post(url, headers=ADMIN, json={"status": "已受理", "note": "材料齐全"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "已受理"
    done = client.post(url, headers=ADMIN, json={"status": "已办结", "note": "已制证"}).json()
    assert [h["status"] for h in done["history"]] == ["已提交", "已受理", "已办结"]
    back = client.post(url, headers=ADMIN, json={"status": "已受理"})
    assert back.status_code == 422 or back.status_code == 409
    assert back.json()["error"] in {"invalid_transition", "validation_error"}
    returned = client.post(url, headers=ADMIN, json={"status": "已退回"})
    assert returned.status_code == 409 and returned.json()["error"] == "invalid_transition"
    missing = client.post("/api/admin/applications/YS-20000101-000001/status", headers=ADMIN,
                          json={"status": "已受理"})  # fmt: skip
    assert missing.status_code == 404

    history = client.post("/api/progress", json={"receipt": receipt, "mobile_last4": "5678"}).json()
    assert history["status"] == "已办结" and len(history["history"]) == 3


def test_internal_api_needs_its_token_and_admin_lists_masked(client: TestClient) -> None:
    response = client.post("/internal/applications", json={})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    _submit(client, "k-mask-1")
    listed = client.get("/api/admin/applications", headers=ADMIN).json()
    assert listed[0]["fields"]["id_number"] == "1101**********002X"
    assert listed[0]["fields"]["mobile"] == "139****5678"


def test_appointment_slots_have_a_capacity(client: TestClient) -> None:
    def book(key: str) -> Any:
        return client.post(
            "/internal/applications",
            headers=INTERNAL,
            json={
                "form_id": "id_card_lost_appointment", "sender": "web:a", "idempotency_key": key,
                "mobile": "13912345678",
                "fields": {"hall": "city_service_center", "appt_date": "2026-12-01", "time_slot": "09:00-10:00"},
            },
        )  # fmt: skip

    assert [book(f"k-capacity-{i}").status_code for i in range(3)] == [200, 200, 200]
    full = book("k-capacity-3")
    assert full.status_code == 409 and full.json()["error"] == "slot_full"
    left = client.get(
        "/internal/appointments", headers=INTERNAL,
        params={"hall": "city_service_center", "day": "2026-12-01"},
    ).json()  # fmt: skip
    assert left["09:00-10:00"] == 0 and left["10:00-11:00"] == 3
