"""The gateway's own behaviour with no bot behind it: real app, real SQLite, a closed port."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from channels.config import Settings
from channels.main import create_app
from ops.stack import free_port


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def client(db_path: Path) -> Iterator[TestClient]:
    closed = free_port()  # nothing listens here: Rasa and the action server are "down"
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{db_path}",
        max_body_bytes=4096,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    return body


def test_rasa_down_answers_503_with_a_chinese_apology_and_keeps_the_message(
    client: TestClient, db_path: Path
) -> None:
    response = client.post("/api/chat", json={"sender": "web:abc", "text": "我的电话13912345678"})
    assert response.status_code == 503
    body = _error(response)
    assert body["error"] == "bot_unavailable"
    assert "抱歉" in body["detail"] and "12345" in body["detail"]

    with create_engine(f"sqlite:///{db_path}").connect() as conn:
        rows = conn.execute(text("select sender, direction, text, status from chat_messages")).all()
    assert rows == [("web:abc", "in", "我的电话139****5678", "failed")]


def test_health_reports_both_processes_down(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["rasa"]["ready"] is False and body["actions"]["ready"] is False


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"sender": "web:abc", "text": ""}, "text_empty"),
        ({"sender": "web:abc", "text": "   \u200b"}, "text_empty"),
        ({"sender": "web:abc", "text": "长" * 501}, "text_too_long"),
        ({"sender": "web:abc"}, "validation_error"),
        ({"text": "你好"}, "validation_error"),
        ({"sender": "no-channel", "text": "你好"}, "validation_error"),
        ({"sender": "web:abc", "text": "你好", "mode": "loud"}, "validation_error"),
        ({"sender": "web:abc", "text": 12}, "validation_error"),
        (["web:abc", "你好"], "invalid_body"),
    ],
)
def test_bad_chat_requests_get_4xx_json(client: TestClient, payload: object, error: str) -> None:
    response = client.post("/api/chat", json=payload)
    assert response.status_code == 422
    assert _error(response)["error"] == error


def test_malformed_json_and_invalid_utf8(client: TestClient) -> None:
    for raw in (b'{"sender": "web:a", "text": ', b"\xff\xfe\xfa", b""):
        response = client.post(
            "/api/chat", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), raw
        assert _error(response)["error"] in {"invalid_json", "invalid_body", "validation_error"}


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post("/api/chat", json={"sender": "web:abc", "text": "长" * 5000})
    assert response.status_code == 413
    assert _error(response)["error"] == "body_too_large"


def test_unknown_path_and_method_are_json(client: TestClient) -> None:
    assert _error(client.get("/nope"))["error"] == "not_found"
    assert _error(client.get("/api/chat"))["error"] == "method_not_allowed"


def test_page_and_openapi_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "一事通" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    spec = client.get("/openapi.json").json()
    assert "/api/chat" in spec["paths"]
    assert client.get("/docs").status_code == 200
