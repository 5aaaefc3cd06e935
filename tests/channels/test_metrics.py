"""GET /metrics in the real app (fake Rasa): latency per channel, answers by band, handoffs,
form submissions, errors; bounded labels; the optional token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from channels.config import Settings
from channels.main import create_app
from channels.metrics import channel_of_path, channel_of_sender
from ops.stack import free_port
from tests.fixtures.fake_rasa import FakeRasa

INTERNAL = {"X-Yishi-Token": "metrics-internal-token"}


def _client(tmp_path: Path, **overrides: Any) -> TestClient:
    closed = free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        internal_token="metrics-internal-token",
        max_body_bytes=4096,
        **overrides,
    )
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path) as test_client:
        test_client.app.state.chat._rasa = FakeRasa()  # type: ignore[attr-defined]
        yield test_client


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_after_chat_turns(client: TestClient) -> None:
    assert (
        client.post("/api/chat", json={"sender": "web:m1", "text": "身份证丢了"}).status_code == 200
    )
    client.app.state.chat._rasa.band = "clarify"  # type: ignore[attr-defined]
    assert client.post("/api/chat", json={"sender": "elder:m2", "text": "证件"}).status_code == 200
    client.app.state.chat._rasa.band = "none"  # type: ignore[attr-defined]
    for _ in range(2):  # two unanswered turns in a row call a person
        client.post("/api/chat", json={"sender": "web:m3", "text": "火星签证"})
    client.post("/api/chat", json={"sender": "web:m1", "text": ""})  # 422

    found = samples(client)
    for name in (
        "yishi_http_request_duration_seconds_bucket",
        "yishi_http_requests_total",
        "yishi_chat_answers_total",
        "yishi_handoffs_total",
        "yishi_errors_total",
        "process_resident_memory_bytes",
    ):
        assert any(n == name for n, _ in found), name
    assert (
        value(found, "yishi_http_request_duration_seconds_count", channel="web", route="/api/chat")
        == 4
    )
    assert value(found, "yishi_http_request_duration_seconds_count", channel="elder") == 1
    assert value(found, "yishi_chat_answers_total", channel="web", band="answer") == 1
    assert value(found, "yishi_chat_answers_total", channel="elder", band="clarify") == 1
    assert value(found, "yishi_chat_answers_total", band="none") == 2
    assert value(found, "yishi_handoffs_total", channel="web", reason="kb_unanswered") == 1
    assert value(found, "yishi_errors_total", error="text_empty", status="422") == 1
    assert value(found, "yishi_http_requests_total", route="/api/chat", status="200") == 4


def test_form_submissions_are_counted_by_outcome(client: TestClient) -> None:
    body = {
        "form_id": "complaint_12345_ticket",
        "sender": "web:m4",
        "idempotency_key": "metrics-key-1",
        "mobile": "13912345678",
        "fields": {"category": "咨询", "description": "路灯坏了", "mobile": "13912345678"},
    }
    first = client.post("/internal/applications", json=body, headers=INTERNAL)
    assert first.status_code == 200, first.text
    assert client.post("/internal/applications", json=body, headers=INTERNAL).status_code == 200
    found = samples(client)
    form = "complaint_12345_ticket"
    assert value(found, "yishi_form_submissions_total", form=form, outcome="created") == 1
    assert value(found, "yishi_form_submissions_total", form=form, outcome="duplicate") == 1
    assert value(found, "yishi_http_requests_total", channel="internal", status="200") == 2


def test_labels_stay_bounded(client: TestClient) -> None:
    client.post("/api/chat", json={"sender": "zzz:abc", "text": "你好"})
    for n in range(3):
        client.get(f"/no/such/page/{n}")
    client.post("/api/chat", content=b"x" * 10_000, headers={"Content-Type": "application/json"})
    found = samples(client)
    assert value(found, "yishi_chat_answers_total", channel="other") == 1
    assert value(found, "yishi_http_requests_total", route="unmatched", status="404") == 3
    assert not any("/no/such" in dict(ls).get("route", "") for _, ls in found)
    assert value(found, "yishi_errors_total", error="body_too_large", status="413") == 1


def test_channels_of_paths_and_senders() -> None:
    assert channel_of_sender("wechat:oAbc") == "wechat"
    assert channel_of_sender("evil<script>:x") == "other"
    assert channel_of_path("/api/voice") == "voice"
    assert channel_of_path("/wechat") == "wechat"
    assert channel_of_path("/wechat-sim/api/config") == "wechat"
    assert channel_of_path("/api/agent/queue") == "agent"
    assert channel_of_path("/agent-static/app.js") == "agent"
    assert channel_of_path("/api/admin/audit") == "admin"
    assert channel_of_path("/elder") == "elder"
    assert channel_of_path("/") == "web"


def test_metrics_token_and_switch(tmp_path: Path) -> None:
    with _client(tmp_path, metrics_token="scrape-me") as guarded:
        refused = guarded.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        ok = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert ok.status_code == 200 and "yishi_http_requests_total" in ok.text
    with _client(tmp_path, metrics_enabled=False) as off:
        assert off.get("/metrics").status_code == 404


def test_a_complaint_without_content_is_refused_before_it_is_stored(client: TestClient) -> None:
    body = {
        "form_id": "complaint_12345_ticket",
        "sender": "web:m5",
        "idempotency_key": "metrics-key-2",
        "mobile": "13912345678",
        "fields": {"category": "咨询"},
    }
    refused = client.post("/internal/applications", json=body, headers=INTERNAL)
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_fields"
    listed = client.get(
        "/api/admin/applications", headers={"X-Yishi-Admin-Token": "yishi-dev-admin-token"}
    )
    assert listed.status_code == 200 and listed.json() == []
