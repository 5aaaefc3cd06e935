"""The WeChat channel end to end: WeChat's side played by the test (signed XML to /wechat, as
WeChat's servers send it) and by the fake WeChat API (tests/fixtures/fake_wechat.py) that the
gateway pushes to; the real Rasa and action server behind.

The stack's gateway runs in compatible mode (plaintext and encrypted messages both accepted);
the slow-bot test starts a second gateway on the same Rasa and database in safe mode with a
passive window of 10 ms, so every reply there must travel by customer-service message.
"""

from __future__ import annotations

import json
import math
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from websockets.sync.client import ClientConnection, connect

from channels.agent_console.accounts import AccountStore
from channels.core.store import ChatMessage, make_engine
from channels.voice import synth
from channels.wechat.crypto import MessageCrypto, sha1_signature
from channels.wechat.messages import parse_xml
from channels.wechat.service import IMAGE_TEXT, VOICE_TEXT
from channels.wechat.store import WechatInbound, WechatPush, WechatStore
from ops.stack import Stack, StackConfig, free_port
from tests.fixtures.fake_wechat import APP_ID, ENCODING_AES_KEY, TOKEN, FakeWechat

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "gh_e2e_yishi"
PASSWORD = "wechat-e2e-pass"
CRYPTO = MessageCrypto(TOKEN, ENCODING_AES_KEY, APP_ID)


def report(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        sys.stdout.write(f"\n[wechat e2e] {line}\n")


def _msg_id() -> str:
    return str(time.time_ns() // 1000) + str(secrets.randbelow(1000)).zfill(3)


class WechatCitizen:
    """A follower of the Official Account; WeChat's servers deliver what they do."""

    def __init__(self, client: httpx.Client, openid: str | None = None) -> None:
        self.client = client
        self.openid = openid or "oE2E" + secrets.token_urlsafe(18).replace("-", "_")
        self.last: httpx.Response | None = None

    def body(self, msg_type: str, **fields: str) -> str:
        parts = [
            f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>",
            f"<CreateTime>{int(time.time())}</CreateTime>",
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        ]
        parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
        return "<xml>" + "".join(parts) + "</xml>"

    def deliver(self, body: str, *, encrypt: str | None = None) -> httpx.Response:
        """POST one delivery; `encrypt`: "compatible" (plaintext + Encrypt) or "safe"."""
        stamp, nonce = str(int(time.time())), secrets.token_hex(5)
        query = {
            "signature": sha1_signature(TOKEN, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": self.openid,
        }
        if encrypt:
            sealed = CRYPTO.encrypt(body)
            query["encrypt_type"] = "aes"
            query["msg_signature"] = CRYPTO.msg_signature(stamp, nonce, sealed)
            inner = f"<Encrypt><![CDATA[{sealed}]]></Encrypt>"
            if encrypt == "compatible":
                body = body.replace("</xml>", inner + "</xml>")
            else:
                body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{inner}</xml>"
        response = self.client.post(
            "/wechat", params=query, content=body.encode(), headers={"Content-Type": "text/xml"}
        )
        self.last = response
        return response

    def send(self, msg_type: str, *, encrypt: str | None = None, **fields: str) -> str | None:
        """The passive reply's text, or None when the gateway answered `success`."""
        response = self.deliver(self.body(msg_type, **fields), encrypt=encrypt)
        assert response.status_code == 200, response.text
        return reply_text(response.text, encrypted=bool(encrypt))

    def say(self, text: str, **kwargs: Any) -> str | None:
        return self.send("text", Content=text, MsgId=_msg_id(), **kwargs)


def reply_text(body: str, encrypted: bool = False) -> str | None:
    if body == "success":
        return None
    fields = parse_xml(body)
    if encrypted:
        assert CRYPTO.check_msg_signature(
            fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"], fields["Encrypt"]
        )
        fields = parse_xml(CRYPTO.decrypt(fields["Encrypt"]))
    assert fields["MsgType"] == "text" and fields["FromUserName"] == ACCOUNT
    return fields["Content"]


@pytest.fixture(scope="module")
def wechat(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def db(stack: Stack) -> sessionmaker[Session]:
    return sessionmaker(make_engine(stack.config.database_url), expire_on_commit=False)


def inbound_count(db: sessionmaker[Session], sender: str) -> int:
    with db() as session:
        rows = session.scalars(
            select(ChatMessage).where(ChatMessage.sender == sender, ChatMessage.direction == "in")
        ).all()
        return len(rows)


# ------------------------------------------------------------------ verification and messages


def test_server_verification(wechat: httpx.Client) -> None:
    stamp, nonce = str(int(time.time())), "e2enonce"
    good = {"signature": sha1_signature(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    response = wechat.get("/wechat", params={**good, "echostr": "7451289093"})
    assert response.status_code == 200 and response.text == "7451289093"
    forged = wechat.get("/wechat", params={**good, "signature": "a" * 40, "echostr": "x"})
    assert forged.status_code == 403
    old = str(int(time.time()) - 600)
    stale = {"signature": sha1_signature(TOKEN, old, nonce), "timestamp": old, "nonce": nonce}
    assert wechat.get("/wechat", params={**stale, "echostr": "x"}).status_code == 403


def _questions(count: int) -> list[str]:
    data = yaml.safe_load((ROOT / "knowledge/eval/questions.yaml").read_text(encoding="utf-8"))
    asked = [q["q"] for q in data["questions"] if q.get("service_id") and q["split"] == "test"]
    step = max(1, len(asked) // count)
    return asked[::step][:count]


def test_text_questions_are_answered_passively(
    wechat: httpx.Client,
    db: sessionmaker[Session],
    fake_wechat: FakeWechat,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = WechatCitizen(wechat)
    answer = first.say("身份证丢了怎么补办")
    assert answer and "身份证" in answer and "补" in answer

    timings: list[float] = []
    for question in _questions(30):
        citizen = WechatCitizen(wechat)
        started = time.perf_counter()
        reply = citizen.say(question)
        timings.append(time.perf_counter() - started)
        assert reply, f"{question!r} got `success` instead of a passive reply"
        assert fake_wechat.sent(citizen.openid) == []  # nothing by push: one reply, passive
    timings.sort()
    p95 = timings[math.ceil(0.95 * len(timings)) - 1]
    report(
        f"passive reply over {len(timings)} text questions: p50 {statistics.median(timings):.2f} s, "
        f"p95 {p95:.2f} s, max {timings[-1]:.2f} s",
        capsys,
    )
    assert p95 < 4.5
    assert inbound_count(db, f"wechat:{first.openid}") == 1


def test_voice_with_and_without_recognition(wechat: httpx.Client, fake_wechat: FakeWechat) -> None:
    citizen = WechatCitizen(wechat)
    heard = citizen.send(
        "voice", MediaId="media-v1", Format="amr", Recognition="社保卡丢了怎么办", MsgId=_msg_id()
    )
    assert heard and heard.startswith("您说的是：“社保卡丢了怎么办”") and "社保卡" in heard[20:]

    # no <Recognition>: the gateway fetches the AMR and runs our own speech model on it
    audio, _ = synth.spoken_question("社保卡丢了", "amr")
    fake_wechat.media["media-v2"] = (audio, "audio/amr")
    ours = citizen.send("voice", MediaId="media-v2", Format="amr", Recognition="", MsgId=_msg_id())
    if ours is None:  # the speech model's first load took longer than WeChat waits: pushed
        assert fake_wechat.wait_for(lambda: bool(fake_wechat.sent(citizen.openid)))
        ours = fake_wechat.sent(citizen.openid)[-1]
    assert len(fake_wechat.calls_to("/cgi-bin/media/get")) == 1
    # misheard words ("是泡卡丢的") still reach the right service: an answer about the card,
    # or choices among its sections (社会保障卡申领与补换·…)
    assert ours.startswith("您说的是：“"), ours
    assert "社保卡" in ours or "社会保障卡申领与补换" in ours, ours

    # audio that holds no speech: asked politely to type
    fake_wechat.media["media-v3"] = (b"#!AMR\n" + bytes(64), "audio/amr")
    unheard = citizen.send(
        "voice", MediaId="media-v3", Format="amr", Recognition="", MsgId=_msg_id()
    )
    assert unheard == VOICE_TEXT


def test_image_and_location(wechat: httpx.Client) -> None:
    citizen = WechatCitizen(wechat)
    image = citizen.send(
        "image", PicUrl="http://mmbiz.example/1.jpg", MediaId="img1", MsgId=_msg_id()
    )
    assert image == IMAGE_TEXT
    where = citizen.send(
        "location", Location_X="30.2885", Location_Y="120.2130", Scale="15",
        Label="示例市东湖区湖滨路", MsgId=_msg_id(),
    )  # fmt: skip
    assert where and "东湖区政务服务中心" in where and "湖滨路28号" in where


def test_subscribe_menu_click_and_numbered_choice(
    wechat: httpx.Client, db: sessionmaker[Session]
) -> None:
    citizen = WechatCitizen(wechat)
    welcome = citizen.send("event", Event="subscribe", EventKey="")
    assert welcome and "欢迎关注" in welcome
    hot = citizen.send("event", Event="CLICK", EventKey="HOT_SERVICES")
    assert hot and "1. 身份证丢了怎么补办" in hot and "回复数字" in hot
    picked = citizen.say("1")
    assert picked and "身份证" in picked
    with db() as session:
        asked = session.scalars(
            select(ChatMessage.text).where(
                ChatMessage.sender == f"wechat:{citizen.openid}", ChatMessage.direction == "in"
            )
        ).all()
    assert asked == ["身份证丢了怎么补办"]  # the number stood for the button's question
    help_text = citizen.send("event", Event="CLICK", EventKey="HELP")
    assert help_text and "转人工" in help_text
    assert citizen.send("event", Event="unsubscribe", EventKey="") is None


def test_safe_mode_both_ways(wechat: httpx.Client) -> None:
    """Compatible mode: an encrypted delivery gets an encrypted, signed passive reply."""
    citizen = WechatCitizen(wechat)
    answer = citizen.say("社保卡怎么办理", encrypt="compatible")
    assert answer and ("社保卡" in answer or "社会保障卡" in answer)
    assert "<Encrypt>" in (citizen.last.text if citizen.last else "")
    # a message sealed with a forged signature is refused
    body = citizen.body("text", Content="你好", MsgId=_msg_id())
    stamp, nonce = str(int(time.time())), "n1"
    sealed = CRYPTO.encrypt(body)
    forged = wechat.post(
        "/wechat",
        params={
            "signature": sha1_signature(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce,
            "encrypt_type": "aes", "msg_signature": "0" * 40,
        },
        content=f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>".encode(),
    )  # fmt: skip
    assert forged.status_code == 403


def test_retry_storm_is_processed_and_answered_once(
    wechat: httpx.Client,
    db: sessionmaker[Session],
    fake_wechat: FakeWechat,
    capsys: pytest.CaptureFixture[str],
) -> None:
    citizen = WechatCitizen(wechat)
    msg_id = _msg_id()
    body = citizen.body("text", Content="公积金租房提取要什么材料", MsgId=msg_id)
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: citizen.deliver(body), range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    passive = [r.text for r in responses if r.text != "success"]
    time.sleep(1.0)  # a reply that had to be pushed would be on its way by now
    pushed = fake_wechat.sent(citizen.openid)
    assert len(passive) + len(pushed) == 1, (passive, pushed)
    assert inbound_count(db, f"wechat:{citizen.openid}") == 1  # one processing
    store = WechatStore(db)
    assert fake_wechat.wait_for(
        lambda: (store.inbound(f"m:{msg_id}") or {}).get("retries") == 2, 10
    )
    # a fourth delivery later (WeChat's last retry): turned away as well
    assert citizen.deliver(body).text == "success"
    deduplicated = (store.inbound(f"m:{msg_id}") or {})["retries"]
    assert deduplicated == 3
    report(
        f"retry storm: 3 concurrent deliveries + 1 late retry of MsgId {msg_id} → 1 processing, "
        f"1 reply ({'passive' if passive else 'push'}), {deduplicated} retries deduplicated",
        capsys,
    )


# ------------------------------------------------------------------ a slow bot, safe mode


@pytest.fixture(scope="module")
def slow_gateway(
    stack: Stack, fake_wechat: FakeWechat, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """A second gateway replica on the same Rasa and database: safe mode, and a passive window
    of 10 ms that no real turn fits in."""
    c = stack.config
    config = StackConfig(
        host=c.host,
        gateway_port=free_port(),
        rasa_port=c.rasa_port,
        action_port=c.action_port,
        rasa_token=c.rasa_token,
        internal_token=c.internal_token,
        var_dir=c.var_dir,
        log_dir=tmp_path_factory.mktemp("slow-gateway-logs"),
        model=c.model,
        extra_env={
            **c.extra_env,
            **fake_wechat.gateway_env(mode="safe"),
            "YISHI_WECHAT_PASSIVE_TIMEOUT_S": "0.01",
        },
    )
    replica = Stack(config)
    replica.start("gateway")
    try:
        replica.wait_ready("gateway", timeout=120)
        with httpx.Client(base_url=config.gateway_url, timeout=30, trust_env=False) as client:
            yield client
    finally:
        replica.stop("gateway")


def test_slow_bot_answers_success_then_pushes(
    slow_gateway: httpx.Client,
    db: sessionmaker[Session],
    fake_wechat: FakeWechat,
    capsys: pytest.CaptureFixture[str],
) -> None:
    citizen = WechatCitizen(slow_gateway)
    # safe mode: plaintext deliveries are refused
    plain = citizen.deliver(citizen.body("text", Content="你好", MsgId=_msg_id()))
    assert plain.status_code == 400

    fake_wechat.fail_next = [502]  # the first push attempt fails: retried with backoff
    started = time.perf_counter()
    assert citizen.say("身份证丢了怎么补办", encrypt="safe") is None  # `success`
    answered = time.perf_counter() - started
    assert fake_wechat.wait_for(lambda: len(fake_wechat.sent(citizen.openid)) == 1)
    pushed_after = time.perf_counter() - started
    [text] = fake_wechat.sent(citizen.openid)
    assert "身份证" in text

    def recorded() -> tuple[list[WechatPush], list[str]]:
        with db() as session:
            pushes = list(
                session.scalars(select(WechatPush).where(WechatPush.openid == citizen.openid))
            )
            statuses = list(
                session.scalars(
                    select(WechatInbound.status).where(WechatInbound.openid == citizen.openid)
                )
            )
            return pushes, statuses

    # the gateway records the outcome just after WeChat accepted the push
    assert fake_wechat.wait_for(
        lambda: "pushed" in recorded()[1] and all(p.status == "sent" for p in recorded()[0])
    ), recorded()
    [push], statuses = recorded()
    assert push.status == "sent" and push.attempts == 2 and push.kind == "reply"
    assert "pushed" in statuses
    attempts = [
        c for c in fake_wechat.calls_to("/cgi-bin/message/custom/send")
        if c.body.get("touser") == citizen.openid
    ]  # fmt: skip
    assert len(attempts) == 2
    report(
        f"slow bot: `success` after {answered * 1000:.0f} ms, reply pushed after "
        f"{pushed_after:.2f} s (one 502 retried)",
        capsys,
    )


# ------------------------------------------------------------------ a person takes over


class ConsoleAgent:
    def __init__(self, stack: Stack, client: httpx.Client, username: str) -> None:
        self.stack, self.client, self.username = stack, client, username
        login = client.post("/api/agent/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.headers = {"Authorization": f"Bearer {login.json()['token']}"}
        url = stack.config.gateway_url.replace("http://", "ws://") + "/api/agent/ws"
        self.socket: ClientConnection = connect(
            url, additional_headers=self.headers, open_timeout=10
        )
        assert self.event("hello")["agent"]["username"] == username

    def event(self, kind: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        while True:
            event = json.loads(self.socket.recv(timeout=timeout))
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def citizen_message(self, sender: str) -> str:
        """The next message the citizen wrote (the agent's own replies come by too)."""
        while True:
            message = self.event("message", sender=sender)["message"]
            if message["author"] == "citizen":
                return str(message["text"])

    def act(self, sender: str, action: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.post(
            f"/api/agent/conversations/{sender}/{action}", json=body or {}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()


def test_agent_replies_reach_wechat(
    stack: Stack, wechat: httpx.Client, db: sessionmaker[Session], fake_wechat: FakeWechat
) -> None:
    accounts = AccountStore(db)
    if accounts.get("wx-e2e-agent") is None:
        accounts.create("wx-e2e-agent", "陈静", "1203", "agent", PASSWORD)
    agent = ConsoleAgent(stack, wechat, "wx-e2e-agent")
    try:
        citizen = WechatCitizen(wechat)
        sender = f"wechat:{citizen.openid}"
        queued = citizen.say("转人工")
        assert queued and "前面还有" in queued and "1. 不等了" in queued

        agent.act(sender, "accept")
        assert fake_wechat.wait_for(lambda: len(fake_wechat.sent(citizen.openid)) == 1)
        assert (
            "陈静" in fake_wechat.sent(citizen.openid)[0]
            and "已接入" in fake_wechat.sent(citizen.openid)[0]
        )

        agent.act(sender, "reply", {"text": "您好，请问您要办理什么业务？"})
        assert fake_wechat.wait_for(lambda: len(fake_wechat.sent(citizen.openid)) == 2)
        assert (
            fake_wechat.sent(citizen.openid)[1]
            == "【人工客服 陈静（工号1203）】\n您好，请问您要办理什么业务？"
        )

        # while a person serves, the citizen's messages go to the agent and the bot is silent
        assert citizen.say("我想补办社保卡") is None
        assert "补办社保卡" in agent.citizen_message(sender)
        # a "1" is not taken for an old button once the agent has written
        assert citizen.say("1") is None
        assert agent.citizen_message(sender) == "1"

        agent.act(sender, "handback")
        assert fake_wechat.wait_for(lambda: len(fake_wechat.sent(citizen.openid)) == 3)
        assert "智能助手" in fake_wechat.sent(citizen.openid)[2]

        def push_statuses() -> set[str]:
            with db() as session:
                return set(
                    session.scalars(
                        select(ChatMessage.status).where(
                            ChatMessage.sender == sender, ChatMessage.push.is_(True)
                        )
                    )
                )

        # marked delivered just after WeChat accepted each push
        assert fake_wechat.wait_for(lambda: push_statuses() == {"delivered"}), push_statuses()
    finally:
        agent.socket.close()
