"""The /wechat webhook and the simulator's routes in the real app (real SQLite, Rasa down):
verification, plaintext / compatible / safe mode both ways, refusals, dev-only routes."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from channels.config import Settings
from channels.main import create_app
from channels.wechat.config import DEV_APP_ID, WechatSettings, get_wechat_settings
from channels.wechat.crypto import MessageCrypto, sha1_signature
from channels.wechat.messages import parse_xml
from channels.wechat.service import IMAGE_TEXT
from ops.stack import free_port

TOKEN = "unit-test-token"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@pytest.fixture
def make_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**env: str) -> TestClient:
        base = {"YISHI_WECHAT_TOKEN": TOKEN, "YISHI_WECHAT_ENCODING_AES_KEY": AES_KEY}
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        get_wechat_settings.cache_clear()
        closed = free_port()
        settings = Settings(
            rasa_url=f"http://127.0.0.1:{closed}",
            action_url=f"http://127.0.0.1:{closed}",
            database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        )
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    get_wechat_settings.cache_clear()


def signed(timestamp: int | None = None, /, **extra: str) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(5)
    return {
        "timestamp": stamp,
        "nonce": nonce,
        "signature": sha1_signature(TOKEN, stamp, nonce),
        **extra,
    }


def xml(openid: str = "oUnit1", msg_type: str = "text", **fields: str) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[gh_unit]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"{body}</xml>"
    )


def content(response_text: str) -> str:
    fields = parse_xml(response_text)
    assert fields["MsgType"] == "text" and fields["FromUserName"] == "gh_unit"
    return fields["Content"]


def test_url_verification(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    ok = client.get("/wechat", params=signed(echostr="echo-123"))
    assert ok.status_code == 200 and ok.text == "echo-123"
    bad = client.get("/wechat", params={**signed(echostr="x"), "signature": "0" * 40})
    assert bad.status_code == 403 and bad.json()["error"] == "bad_signature"
    for skew in (-301, 301):  # more than five minutes old, or from the future
        stale = client.get("/wechat", params=signed(int(time.time()) + skew, echostr="x"))
        assert stale.status_code == 403
    assert client.get("/wechat", params={"echostr": "x"}).status_code == 403


def test_plaintext_messages(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    post = lambda body, **q: client.post("/wechat", params=signed(**q), content=body.encode())  # noqa: E731

    # the bot is down in this test: the citizen is told so, politely, as a passive reply
    first = post(xml(Content="身份证丢了怎么补办", MsgId="5001"), openid="oUnit1")
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/xml")
    assert parse_xml(first.text)["ToUserName"] == "oUnit1"
    assert "12345" in content(first.text)
    # the same MsgId again: already answered
    again = post(xml(Content="身份证丢了怎么补办", MsgId="5001"))
    assert again.status_code == 200 and again.text == "success"

    assert (
        content(
            post(xml(msg_type="image", PicUrl="http://x/1.jpg", MediaId="m", MsgId="5002")).text
        )
        == IMAGE_TEXT
    )
    where = post(xml(msg_type="location", Location_X="30.26", Location_Y="120.085", Scale="15",
                     Label="西山区", MsgId="5003"))  # fmt: skip
    assert "西山区政务服务中心" in content(where.text)
    follow = post(xml(msg_type="event", Event="subscribe", EventKey=""))
    assert "欢迎关注" in content(follow.text)
    helped = post(xml(openid="oUnit2", msg_type="event", Event="CLICK", EventKey="HELP"))
    assert "回复数字即可选择" in content(helped.text)
    elder = post(xml(openid="oUnit4", msg_type="event", Event="CLICK", EventKey="ELDER"))
    assert content(elder.text).startswith("长辈版") and "按住" in content(elder.text)
    assert post(xml(openid="oUnit3", msg_type="event", Event="unsubscribe")).text == "success"


@pytest.mark.parametrize(
    ("body", "query", "status"),
    [
        (
            '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
            {},
            400,
        ),
        (xml(openid="bad id!", Content="x", MsgId="1"), {}, 400),
        (xml(Content="x", MsgId="1"), {"openid": "oSomeoneElse"}, 400),
        ("<xml><Encrypt>abc</Encrypt></xml>", {"encrypt_type": "aes", "msg_signature": "x"}, 400),
        ("not xml", {}, 400),
    ],
)
def test_refusals(
    make_client: Callable[..., TestClient], body: str, query: dict[str, str], status: int
) -> None:
    client = make_client()
    response = client.post("/wechat", params=signed(**query), content=body.encode())
    assert response.status_code == status and "error" in response.json()
    unsigned = client.post(
        "/wechat", params={**signed(), "signature": "f" * 40}, content=body.encode()
    )
    assert unsigned.status_code == 403


def test_a_signature_carries_only_the_body_it_came_with(
    make_client: Callable[..., TestClient],
) -> None:
    """Plaintext mode signs the timestamp and nonce, not the body: a captured query string
    replayed with another message is refused, WeChat's retry of the same body is not."""
    client = make_client()
    query = signed(openid="oUnit7")
    first = xml("oUnit7", Content="护照怎么办", MsgId="7001")
    assert client.post("/wechat", params=query, content=first.encode()).status_code == 200
    retry = client.post("/wechat", params=query, content=first.encode())
    assert retry.status_code == 200  # the same delivery again: deduplicated, answered
    forged = xml("oUnit7", Content="把我的预约取消", MsgId="7002")
    replayed = client.post("/wechat", params=query, content=forged.encode())
    assert replayed.status_code == 403 and replayed.json()["error"] == "replayed_request"
    # a fresh signature for that message is fine
    fresh = client.post("/wechat", params=signed(openid="oUnit7"), content=forged.encode())
    assert fresh.status_code == 200


def _sealed_request(crypto: MessageCrypto, plain_xml: str) -> tuple[dict[str, str], str]:
    sealed = crypto.encrypt(plain_xml)
    query = signed(encrypt_type="aes")
    query["msg_signature"] = crypto.msg_signature(query["timestamp"], query["nonce"], sealed)
    return (
        query,
        f"<xml><ToUserName><![CDATA[gh_unit]]></ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>",
    )


def test_safe_mode_both_ways(make_client: Callable[..., TestClient]) -> None:
    client = make_client(YISHI_WECHAT_MODE="safe")
    crypto = MessageCrypto(TOKEN, AES_KEY, DEV_APP_ID)
    query, body = _sealed_request(
        crypto, xml(msg_type="event", Event="CLICK", EventKey="NEARBY_HALL")
    )
    response = client.post("/wechat", params=query, content=body.encode())
    assert response.status_code == 200
    envelope = parse_xml(response.text)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert crypto.check_msg_signature(
        envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    assert "位置" in content(crypto.decrypt(envelope["Encrypt"]))

    # a wrong msg_signature, a message sealed for another AppId, a plaintext message: refused
    query, body = _sealed_request(crypto, xml(Content="x", MsgId="6001"))
    assert (
        client.post(
            "/wechat", params={**query, "msg_signature": "0" * 40}, content=body.encode()
        ).status_code
        == 403
    )
    other = MessageCrypto(TOKEN, AES_KEY, "wx1111111111111111")
    query, body = _sealed_request(other, xml(Content="x", MsgId="6002"))
    assert client.post("/wechat", params=query, content=body.encode()).status_code == 403
    plain = client.post("/wechat", params=signed(), content=xml(Content="x", MsgId="6003").encode())
    assert plain.status_code == 400


def test_compatible_mode_answers_in_kind(make_client: Callable[..., TestClient]) -> None:
    client = make_client(YISHI_WECHAT_MODE="compatible")
    crypto = MessageCrypto(TOKEN, AES_KEY, DEV_APP_ID)
    plain = client.post(
        "/wechat", params=signed(), content=xml(msg_type="image", MsgId="7001").encode()
    )
    assert content(plain.text) == IMAGE_TEXT
    query, body = _sealed_request(crypto, xml(msg_type="image", MsgId="7002"))
    sealed = parse_xml(client.post("/wechat", params=query, content=body.encode()).text)
    assert content(crypto.decrypt(sealed["Encrypt"])) == IMAGE_TEXT


def test_disabled_channel_and_production(make_client: Callable[..., TestClient]) -> None:
    off = make_client(YISHI_WECHAT_ENABLED="false")
    assert off.get("/wechat", params=signed(echostr="x")).status_code == 404
    assert off.get("/wechat-sim").status_code == 404


def test_production_refuses_demo_secrets_and_serves_no_simulator(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YISHI_ENV", "production")
    with pytest.raises(ValueError, match="YISHI_WECHAT_APP_ID"):
        WechatSettings(_env_file=None, token="real-token", encoding_aes_key=AES_KEY)
    client = make_client(
        YISHI_ENV="production",
        YISHI_WECHAT_APP_ID="wxrealrealrealreal",
        YISHI_WECHAT_APP_SECRET="real-secret",
        YISHI_RASA_TOKEN="r",
        YISHI_INTERNAL_TOKEN="i",
        YISHI_ADMIN_TOKEN="a",
        YISHI_CITIZEN_SECRET="c",
        YISHI_DATA_KEYS="uDl1eU2A1vHOx0rB9cAvyYqIJwg6TnECU7Y5GsyOJzQ=",
    )
    assert client.get("/wechat", params=signed(echostr="ok")).text == "ok"
    for path in ("/wechat-sim", "/wechat-sim/static/sim.js", "/wechat-sim/api/config"):
        assert client.get(path).status_code == 404
    assert client.post("/wechat-sim/api/sign").status_code == 404


def test_simulator_routes(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    page = client.get("/wechat-sim")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text) and "style=" not in page.text
    assert (
        client.get("/wechat-sim/static/sim.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert client.get("/wechat-sim/static/../config.py").status_code == 404
    config = client.get("/wechat-sim/api/config").json()
    assert config["mode"] == "plaintext" and len(config["menu"]) <= 3
    sig = client.post("/wechat-sim/api/sign").json()
    assert sig["signature"] == sha1_signature(TOKEN, sig["timestamp"], sig["nonce"])
    assert client.get("/wechat-sim/api/pushes", params={"openid": "oNobody"}).json() == {
        "pushes": []
    }
    assert client.get("/wechat-sim/api/pushes", params={"openid": "bad id"}).status_code == 422
    # the stand-in WeChat API issues a token and accepts customer-service messages with it
    token = client.post(
        "/wechat-sim/fake-api/cgi-bin/stable_token",
        json={
            "grant_type": "client_credential",
            "appid": DEV_APP_ID,
            "secret": "yishi-dev-wechat-app-secret",
        },
    ).json()["access_token"]
    sent = client.post(
        "/wechat-sim/fake-api/cgi-bin/message/custom/send", params={"access_token": token}, json={}
    )
    assert sent.json()["errcode"] == 0
    refused = client.post(
        "/wechat-sim/fake-api/cgi-bin/message/custom/send", params={"access_token": "x"}, json={}
    )
    assert refused.json()["errcode"] == 40001
