"""Request body limits: 413 JSON in the project's error shape, declared or streamed, on JSON,
WeChat XML and staff routes; recordings on /api/voice get their own, larger limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from ops.stack import free_port


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    closed = free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        max_body_bytes=4096,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert body == {"error": "body_too_large", "detail": "请求内容过大（上限 4 KB）。"}


@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/kb/search", "/api/progress", "/api/agent/login", "/wechat"]
)
def test_declared_oversized_bodies_are_refused_before_reading(
    client: TestClient, path: str
) -> None:
    _too_large(client.post(path, content=b"x" * 5000, headers={"Content-Type": "text/xml"}))


def test_streamed_oversized_body_without_length_is_413_not_400(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b'{"sender": "web:a", "text": "' + b"a" * 1500

    _too_large(
        client.post("/api/chat", content=chunks(), headers={"Content-Type": "application/json"})
    )


def test_a_body_under_the_limit_passes(client: TestClient) -> None:
    response = client.post(
        "/api/progress", json={"receipt": "YS-20260101-000001", "mobile_last4": "1234"}
    )
    assert response.status_code == 200 and response.json()["found"] is False


def test_voice_recordings_have_their_own_larger_limit(client: TestClient) -> None:
    # past the JSON limit, well under the recording limit: reaches the route (no sender → 422)
    response = client.post("/api/voice", files={"audio": ("a.wav", b"\0" * 20_000, "audio/wav")})
    assert response.status_code == 422 and response.json()["error"] == "bad_sender"
    huge = client.post(
        "/api/voice",
        content=b"\0" * 10,
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(50 << 20),
        },
    )
    assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"


def test_a_malformed_content_length_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/chat",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "2x"},
    )
    assert response.status_code in (400, 413)
