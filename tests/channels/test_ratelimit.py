"""Rate limits in the real app (fake Rasa): per conversation, per address, per recording
sender and per WeChat openid; the Chinese answer, Retry-After, and recovery after the window."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from channels.wechat.config import get_wechat_settings
from channels.wechat.crypto import sha1_signature
from channels.wechat.messages import parse_xml
from ops.stack import free_port
from tests.fixtures.fake_rasa import FakeRasa

WECHAT_TOKEN = "rate-limit-test-token"


@pytest.fixture
def make_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TestClient]]:
    monkeypatch.setenv("YISHI_WECHAT_TOKEN", WECHAT_TOKEN)
    monkeypatch.setenv("YISHI_WECHAT_MODE", "plaintext")
    get_wechat_settings.cache_clear()
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        closed = free_port()
        settings = Settings(
            rasa_url=f"http://127.0.0.1:{closed}",
            action_url=f"http://127.0.0.1:{closed}",
            database_url=f"sqlite:///{tmp_path / f'gateway{len(clients)}.db'}",
            **overrides,
        )
        app = create_app(settings)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        app.state.chat._rasa = FakeRasa()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    get_wechat_settings.cache_clear()


def _chat(client: TestClient, sender: str = "web:rl1", text: str = "身份证丢了") -> Any:
    return client.post("/api/chat", json={"sender": sender, "text": text})


def _limited(response: Any) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == "rate_limited"
    assert "请稍等" in body["detail"] and "110" in body["detail"]  # emergencies still pointed
    return body


def test_sender_limit_answers_chinese_429_and_recovers_after_the_window(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_sender="3/second")
    assert [_chat(client).status_code for _ in range(3)] == [200, 200, 200]
    body = _limited(_chat(client))
    assert "发送消息太频繁" in body["detail"]
    assert _chat(client, sender="web:rl2").status_code == 200  # another conversation is fine
    time.sleep(1.1)
    assert _chat(client).status_code == 200


def test_address_limit_covers_every_citizen_endpoint(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_ip="3/minute")
    assert _chat(client, "web:a").status_code == 200
    assert client.post("/api/chat/session").status_code == 200
    assert _chat(client, "web:b").status_code == 200
    body = _limited(client.post("/api/kb/search", json={"query": "护照"}))
    assert "访问次数太多" in body["detail"]
    _limited(_chat(client, "web:c"))
    assert client.get("/healthz").status_code in (200, 503)  # not a citizen endpoint


def test_progress_lookups_have_their_own_tighter_limit(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_progress="2/minute")
    lookup = {"receipt": "YS-20260101-000001", "mobile_last4": "1234"}
    assert [client.post("/api/progress", json=lookup).status_code for _ in range(2)] == [200] * 2
    _limited(client.post("/api/progress", json=lookup))
    assert _chat(client).status_code == 200


def test_voice_limit_refuses_before_any_recognition(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_voice="1/minute")
    first = client.post("/api/voice", data={"sender": "web:v1"})
    assert first.status_code == 422 and first.json()["error"] == "audio_missing"
    _limited(client.post("/api/voice", data={"sender": "web:v1"}))


def _wechat_text(client: TestClient, openid: str, content: str, msg_id: int) -> str:
    stamp, nonce = str(int(time.time())), f"n{msg_id}"
    xml = (
        f"<xml><ToUserName><![CDATA[gh_rl]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{stamp}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )
    params = {
        "signature": sha1_signature(WECHAT_TOKEN, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
    }
    response = client.post("/wechat", params=params, content=xml.encode())
    assert response.status_code == 200, response.text
    return parse_xml(response.text)["Content"]


def test_wechat_openid_over_its_limit_gets_a_polite_reply(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(rate_limit_sender="2/minute")
    assert "户口簿" in _wechat_text(client, "oRate1", "身份证丢了", 1)
    assert "户口簿" in _wechat_text(client, "oRate1", "身份证丢了", 2)
    polite = _wechat_text(client, "oRate1", "身份证丢了", 3)
    assert "太快" in polite and "110" in polite
    assert "户口簿" in _wechat_text(client, "oRate2", "身份证丢了", 4)


def test_limits_can_be_switched_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_sender="1/minute", rate_limit_enabled=False)
    assert {_chat(client).status_code for _ in range(3)} == {200}


def test_a_malformed_limit_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(rate_limit_sender="many")


def test_two_replicas_share_counters_in_redis(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    from tests.fixtures.servers import redis_server

    with redis_server(tmp_path) as url:
        one = make_client(rate_limit_sender="3/minute", rate_limit_storage=url)
        two = make_client(rate_limit_sender="3/minute", rate_limit_storage=url)
        assert [_chat(one, "web:shared").status_code for _ in range(2)] == [200, 200]
        assert _chat(two, "web:shared").status_code == 200
        _limited(_chat(two, "web:shared"))  # the fourth message, counted across both gateways
        _limited(_chat(one, "web:shared"))
        assert _chat(one, "web:other").status_code == 200
