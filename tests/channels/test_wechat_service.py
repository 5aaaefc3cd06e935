"""The channel's turn logic on a stub bot and a stub WeChat API, with the real store (SQLite):
passive replies within the deadline, retries joining the turn in flight, slow turns pushed,
the customer-service window and quota, numbered buttons, and the API client's token and
retry handling (httpx MockTransport, fake clock)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from channels.core.chat import ChatService
from channels.core.schemas import Button, ChatRequest, ChatResponse, Reply, Trace
from channels.core.store import make_engine
from channels.errors import BotUnavailableError
from channels.wechat.api import WechatApi, WechatApiError
from channels.wechat.config import WechatSettings
from channels.wechat.halls import Halls
from channels.wechat.menu import load_menu
from channels.wechat.messages import Inbound
from channels.wechat.service import IMAGE_TEXT, VOICE_TEXT, WechatChannel
from channels.wechat.store import WechatStore
from retrieval.config import get_retrieval_settings


class StubChat:
    """Answers "答：<text>" after `delay` seconds; `buttons` go on the reply."""

    def __init__(self, delay: float = 0.0, buttons: list[Button] | None = None) -> None:
        self.delay = delay
        self.buttons = buttons or []
        self.calls: list[str] = []
        self.fail: Exception | None = None
        self.delivered: list[int] = []
        staff = SimpleNamespace(label="张敏（工号1001）")
        self.handoff = SimpleNamespace(
            accounts=SimpleNamespace(get=lambda username: staff if username == "a1" else None),
            transcript=SimpleNamespace(mark_delivered=self.delivered.extend),
        )

    async def handle(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request.text)
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        reply = Reply(text=f"答：{request.text}", buttons=self.buttons)
        return ChatResponse(sender=request.sender, replies=[reply], trace=Trace())


class StubApi:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.error: WechatApiError | None = None
        self.media: list[str] = []

    async def send_text(self, openid: str, content: str) -> int:
        if self.error is not None:
            raise self.error
        self.sent.append((openid, content))
        return 1

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        self.media.append(media_id)
        return b"#!AMR\n...", "audio/amr"


class Setup(SimpleNamespace):
    channel: WechatChannel
    chat: StubChat
    api: StubApi
    store: WechatStore


def make(tmp_path: Path, delay: float = 0.0, **settings: Any) -> Setup:
    options: dict[str, Any] = {"env": "test", "passive_timeout_s": 1.0, **settings}
    config = WechatSettings(_env_file=None, **options)
    engine = make_engine(f"sqlite:///{tmp_path / 'wechat.db'}")
    store = WechatStore(sessionmaker(engine, expire_on_commit=False))
    chat, api = StubChat(delay), StubApi()
    halls = Halls.load(get_retrieval_settings().knowledge_dir / "halls.yaml")
    channel = WechatChannel(
        config, store, cast(WechatApi, api), cast(ChatService, chat), halls, load_menu()
    )
    return Setup(channel=channel, chat=chat, api=api, store=store)


def text(content: str, msg_id: str = "1001", openid: str = "oUser1") -> Inbound:
    return Inbound("gh_test", openid, 1700000000, "text", {"Content": content, "MsgId": msg_id})


def event(name: str, key: str = "", openid: str = "oUser1", at: int = 1700000100) -> Inbound:
    return Inbound("gh_test", openid, at, "event", {"Event": name, "EventKey": key})


def run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(coro())


async def settle(channel: WechatChannel) -> None:
    """Let background work (status updates, pushes) finish."""
    for _ in range(200):
        pending = [t for t in channel._tasks if not t.done()]
        if not pending and not channel._turns:
            return
        await asyncio.sleep(0.01)


def test_a_fast_turn_is_the_passive_reply(tmp_path: Path) -> None:
    s = make(tmp_path)

    async def go() -> None:
        assert await s.channel.respond(text("身份证丢了怎么补办")) == "答：身份证丢了怎么补办"
        await settle(s.channel)
        assert s.store.inbound("m:1001") == {"key": "m:1001", "status": "replied", "retries": 0}
        assert s.api.sent == []
        # a later retry of the same MsgId: nothing more is said, nothing is processed again
        assert await s.channel.respond(text("身份证丢了怎么补办")) is None
        await settle(s.channel)
        assert s.chat.calls == ["身份证丢了怎么补办"]
        assert s.store.inbound("m:1001")["retries"] == 1  # type: ignore[index]

    run(go)


def test_a_retry_storm_is_processed_and_answered_once(tmp_path: Path) -> None:
    s = make(tmp_path, delay=0.3)

    async def go() -> None:
        replies = await asyncio.gather(*(s.channel.respond(text("社保卡怎么办")) for _ in range(3)))
        await settle(s.channel)
        assert s.chat.calls == ["社保卡怎么办"]
        assert [r for r in replies if r is not None] == ["答：社保卡怎么办"]
        assert replies.count(None) == 2
        assert s.api.sent == []
        row = s.store.inbound("m:1001")
        assert row == {"key": "m:1001", "status": "replied", "retries": 2}
        assert s.channel.stats.deduplicated == 2

    run(go)


def test_a_slow_turn_answers_success_then_pushes(tmp_path: Path) -> None:
    s = make(tmp_path, delay=0.3, passive_timeout_s=0.05)

    async def go() -> None:
        assert await s.channel.respond(text("公积金怎么提取")) is None
        assert s.api.sent == []
        await asyncio.sleep(0.35)
        await settle(s.channel)
        assert s.api.sent == [("oUser1", "答：公积金怎么提取")]
        assert s.store.inbound("m:1001")["status"] == "pushed"  # type: ignore[index]
        [push] = s.store.pushes("oUser1")
        assert push["status"] == "sent" and push["kind"] == "reply"
        # WeChat retries after our `success`? (it should not) - still nothing twice
        assert await s.channel.respond(text("公积金怎么提取")) is None
        await settle(s.channel)
        assert len(s.api.sent) == 1 and s.chat.calls == ["公积金怎么提取"]

    run(go)


def test_a_retry_in_flight_can_still_carry_the_reply(tmp_path: Path) -> None:
    """First delivery gives up at 0.2 s; the retry at 0.15 s waits until 0.35 s; the bot is
    done at 0.3 s: the retry's answer is the reply and nothing is pushed."""
    s = make(tmp_path, delay=0.3, passive_timeout_s=0.2)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        first = asyncio.create_task(s.channel.respond(text("补办户口本"), loop.time()))
        await asyncio.sleep(0.15)
        second = await s.channel.respond(text("补办户口本"), loop.time())
        assert await first is None and second == "答：补办户口本"
        await settle(s.channel)
        assert s.api.sent == [] and s.chat.calls == ["补办户口本"]

    run(go)


def test_two_replicas_share_the_dedup_key(tmp_path: Path) -> None:
    one = make(tmp_path, delay=0.2)
    two = make(tmp_path, delay=0.2)  # the same database file

    async def go() -> None:
        a, b = await asyncio.gather(
            one.channel.respond(text("护照怎么办")), two.channel.respond(text("护照怎么办"))
        )
        await settle(one.channel)
        await settle(two.channel)
        assert [r for r in (a, b) if r is not None] == ["答：护照怎么办"]
        assert len(one.chat.calls) + len(two.chat.calls) == 1

    run(go)


def test_numbered_buttons_pick_the_payload(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.chat.buttons = [
        Button(title="补领身份证", payload='/ask_service{"kb_doc":"id_card_lost#materials"}'),
        Button(title="转人工客服", payload="转人工"),
    ]

    async def go() -> None:
        reply = await s.channel.respond(text("身份证", "1"))
        assert reply is not None and "1. 补领身份证\n2. 转人工客服" in reply
        await s.channel.respond(text("2", "2"))
        await s.channel.respond(text("5", "3"))  # no fifth button: sent as typed
        assert s.chat.calls == ["身份证", "转人工", "5"]

    run(go)


def test_bot_failure_is_said_politely(tmp_path: Path) -> None:
    s = make(tmp_path)
    s.chat.fail = BotUnavailableError("down")

    async def go() -> None:
        reply = await s.channel.respond(text("你好"))
        assert reply is not None and "12345" in reply

    run(go)


def test_image_voice_location_follow_and_menu(tmp_path: Path) -> None:
    s = make(tmp_path)

    async def go() -> None:
        image = Inbound("gh", "oU", 1, "image", {"MediaId": "m", "PicUrl": "x", "MsgId": "11"})
        assert await s.channel.respond(image) == IMAGE_TEXT
        heard = Inbound("gh", "oU", 1, "voice", {"Recognition": "社保卡怎么办。", "MsgId": "12"})
        assert await s.channel.respond(heard) == "您说的是：“社保卡怎么办。”\n\n答：社保卡怎么办。"
        unheard = Inbound("gh", "oU", 1, "voice", {"MediaId": "v1", "MsgId": "13"})
        assert await s.channel.respond(unheard) == VOICE_TEXT
        assert s.api.media == []  # without a speech model the audio is not even fetched
        here = Inbound(
            "gh", "oU", 1, "location",
            {"Location_X": "30.289", "Location_Y": "120.212", "Label": "湖滨路", "MsgId": "14"},
        )  # fmt: skip
        assert "东湖区政务服务中心" in (await s.channel.respond(here) or "")
        assert (await s.channel.respond(event("subscribe"))) == s.channel.menu.welcome
        assert await s.channel.respond(event("CLICK", "HUMAN", at=1700000200)) == "答：转人工"
        hot = await s.channel.respond(event("CLICK", "HOT_SERVICES", at=1700000300))
        assert hot is not None and "1. 身份证丢了怎么补办" in hot
        await s.channel.respond(text("1", "15", openid="oUser1"))
        assert s.chat.calls[-1] == "身份证丢了怎么补办"
        assert await s.channel.respond(event("unsubscribe", at=1700000400)) is None
        await settle(s.channel)

    run(go)


def test_speech_recognizer_hook(tmp_path: Path) -> None:
    s = make(tmp_path)

    class Recognizer:
        available = True

        async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
            assert audio.startswith(b"#!AMR") and fmt == "amr"
            return "居住证怎么办"

    s.channel.asr = Recognizer()

    async def go() -> None:
        voice = Inbound("gh", "oU", 1, "voice", {"MediaId": "v9", "Format": "amr", "MsgId": "21"})
        reply = await s.channel.respond(voice)
        assert s.api.media == ["v9"] and reply is not None and reply.endswith("答：居住证怎么办")

    run(go)


def test_window_and_quota_are_respected(tmp_path: Path) -> None:
    s = make(tmp_path, message_quota=2)

    async def go() -> None:
        # no interaction yet: an agent's message cannot be pushed
        await s.channel.deliver("wechat:oQuiet", {"id": 1, "author": "agent", "text": "您好"})
        await settle(s.channel)
        assert s.api.sent == []
        assert s.store.pushes("oQuiet")[0]["status"] == "skipped"
        # a message opens the window with 2 pushes; the third is refused by us, not by WeChat
        await s.channel.respond(text("在吗", "31", openid="oQuiet"))
        for i in range(3):
            await s.channel.deliver(
                "wechat:oQuiet",
                {"id": 10 + i, "author": "agent", "agent": "a1", "text": f"第{i}条"},
            )
        await settle(s.channel)
        assert [t for _, t in s.api.sent] == [
            "【人工客服 张敏（工号1001）】\n第0条",
            "【人工客服 张敏（工号1001）】\n第1条",
        ]
        assert [p["status"] for p in s.store.pushes("oQuiet")][-3:] == ["sent", "sent", "skipped"]
        assert s.chat.delivered == [10, 11]
        # WeChat says the window is closed (45015): we stop trying until the citizen writes
        s.api.error = WechatApiError(45015, "response out of time limit", 1)
        await s.channel.respond(text("还有问题", "32", openid="oQuiet"))
        await s.channel.deliver("wechat:oQuiet", {"id": 20, "author": "system", "text": "通知"})
        await settle(s.channel)
        assert s.store.window("oQuiet")["remaining"] == 0  # type: ignore[index]

    run(go)


def test_event_window_is_short(tmp_path: Path) -> None:
    s = make(tmp_path)
    now = dt.datetime.now(dt.UTC)
    s.store.open_window("oE", 60, 3, now)
    assert s.store.reserve("oE", now + dt.timedelta(seconds=30)) is None
    assert s.store.reserve("oE", now + dt.timedelta(seconds=61)) == "window_closed"
    # a message later opens the 48-hour window; the longer expiry and larger quota win
    s.store.open_window("oE", 48 * 3600, 5, now)
    s.store.open_window("oE", 60, 3, now)
    window = s.store.window("oE")
    assert window is not None and window["remaining"] == 5
    assert window["expires_at"] > now + dt.timedelta(hours=47)


def test_pushes_keep_their_order(tmp_path: Path) -> None:
    s = make(tmp_path)

    async def go() -> None:
        await s.channel.respond(text("你好", "41"))
        for i in range(4):
            await s.channel.deliver("wechat:oUser1", {"id": i, "author": "system", "text": f"m{i}"})
        await settle(s.channel)
        assert [t for _, t in s.api.sent] == ["m0", "m1", "m2", "m3"][: len(s.api.sent)]
        assert len(s.api.sent) == 4

    run(go)


# ------------------------------------------------------------------ the API client


class FakeWechat:
    """httpx MockTransport handler: tokens, errors on demand, a call log."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tokens = 0
        self.script: list[Any] = []  # what message/custom/send answers, in order

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        self.calls.append((path, {**dict(request.url.params), **body}))
        if path == "/cgi-bin/stable_token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"T{self.tokens}", "expires_in": 7200})
        step = self.script.pop(0) if self.script else {"errcode": 0, "errmsg": "ok"}
        if isinstance(step, int):
            return httpx.Response(step, text="busy")
        if isinstance(step, Exception):
            raise step
        return httpx.Response(200, json=step)


def client(fake: FakeWechat, clock: list[float], sleeps: list[float]) -> WechatApi:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return WechatApi(
        http, "https://api.example", "wxid", "secret", attempts=4, backoff_s=0.5,
        clock=lambda: clock[0], sleep=sleep,
    )  # fmt: skip


def test_token_is_cached_and_refreshed_before_expiry() -> None:
    fake, clock, sleeps = FakeWechat(), [1000.0], list[float]()
    api = client(fake, clock, sleeps)

    async def go() -> None:
        await api.send_text("o1", "a")
        await api.send_text("o1", "b")
        assert fake.tokens == 1
        assert fake.calls[0][1] == {
            "grant_type": "client_credential", "appid": "wxid", "secret": "secret",
            "force_refresh": False,
        }  # fmt: skip
        assert fake.calls[1][1]["access_token"] == "T1"
        assert fake.calls[1][1]["text"] == {"content": "a"}
        clock[0] += 7200 - 300 + 1  # inside the refresh margin
        await api.send_text("o1", "c")
        assert fake.tokens == 2 and fake.calls[-1][1]["access_token"] == "T2"
        # WeChat calls the token invalid: one new token, then the call goes through
        fake.script = [{"errcode": 40001, "errmsg": "invalid credential"}]
        assert await api.send_text("o1", "d") == 1
        assert fake.tokens == 3 and sleeps == []

    run(go)


def test_passing_failures_are_retried_with_backoff() -> None:
    fake, clock, sleeps = FakeWechat(), [0.0], list[float]()
    api = client(fake, clock, sleeps)

    async def go() -> None:
        fake.script = [502, {"errcode": -1, "errmsg": "system busy"}, httpx.ConnectError("x")]
        assert await api.send_text("o1", "hi") == 4
        assert sleeps == [0.5, 1.0, 2.0]
        fake.script = [503, 503, 503, 503]
        with pytest.raises(WechatApiError) as failed:
            await api.send_text("o1", "hi")
        assert failed.value.attempts == 4
        sleeps.clear()
        fake.script = [{"errcode": 45015, "errmsg": "response out of time limit"}]
        with pytest.raises(WechatApiError) as closed:
            await api.send_text("o1", "hi")
        assert closed.value.errcode == 45015 and sleeps == []  # not worth retrying

    run(go)
