"""The WeChat channel: one delivery in, at most one reply out, within WeChat's five seconds.

A delivery starts (or joins) the *turn* of its dedup key. The turn runs as its own task: it
claims the key in the database first (a primary key, so only the first delivery anywhere is
processed), then hands the message to the core. Each delivery waits for the turn until its own
deadline (`passive_timeout_s` after it arrived, 4.5 s by default):

- the turn is done in time → the first waiting delivery takes the reply as its passive reply;
  every other delivery of the key answers `success`;
- nobody is waiting any more when the turn is done → the reply goes out through the
  customer-service API (客服消息), within the window and quota WeChat allows.

So three deliveries of one MsgId cause one processing and one reply, also when a retry arrives
while the first is still in flight, and a slow bot costs a `success` and a push, never a second
answer. Messages pushed outside a turn (agents, notices, ratings) take the same push path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

from channels.core.chat import NO_REPLY_TEXT, ChatService
from channels.core.handoff import SenderLocks
from channels.core.schemas import ChatRequest
from channels.errors import YishiError
from channels.wechat.api import QUOTA_USED, WINDOW_CLOSED, WechatApi, WechatApiError
from channels.wechat.asr import NoSpeechRecognizer, SpeechRecognizer
from channels.wechat.config import WechatSettings
from channels.wechat.crypto import MessageCrypto, check_signature
from channels.wechat.halls import Halls
from channels.wechat.menu import Menu, load_menu
from channels.wechat.messages import Inbound, Rendered, pick_button, render, split_text
from channels.wechat.store import WechatStore
from retrieval.config import get_retrieval_settings

logger = logging.getLogger(__name__)

IMAGE_TEXT = (
    "收到您的图片。我暂时还看不懂图片，请用文字说说您要办的事或遇到的问题，"
    "例如“身份证丢了怎么补办”。需要人工帮忙请回复“转人工”。"
)
VOICE_TEXT = "抱歉，这条语音我没能听清。请用文字再说一遍您的问题，例如“社保卡怎么办理”。"
UNSUPPORTED_TEXT = "暂时只能看懂文字、语音和位置消息，请用文字描述您的问题。"
PRUNE_EVERY_S = 3600.0


@dataclass
class _Turn:
    key: str
    openid: str
    task: asyncio.Task[list[str] | None] | None = None
    waiters: int = 0
    retries: int = 0
    taken: bool = False  # the reply has gone (or is going) out, passively or by push


@dataclass
class Stats:
    """This process's counters (the database keeps the per-key ones)."""

    processed: int = 0
    deduplicated: int = 0
    passive: int = 0
    pushed_turns: int = 0
    latencies: list[float] = field(default_factory=list)


class WechatChannel:
    def __init__(
        self,
        settings: WechatSettings,
        store: WechatStore,
        api: WechatApi,
        chat: ChatService,
        halls: Halls,
        menu: Menu,
        asr: SpeechRecognizer | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.api = api
        self.chat = chat
        self.halls = halls
        self.menu = menu
        self.asr: SpeechRecognizer = asr or NoSpeechRecognizer()
        self.crypto = MessageCrypto(
            settings.token.get_secret_value(),
            settings.encoding_aes_key.get_secret_value(),
            settings.app_id,
        )
        self.stats = Stats()
        self._http = http
        self._turns: dict[str, _Turn] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._push_locks = SenderLocks()
        self._last_prune = 0.0

    @classmethod
    def create(cls, settings: WechatSettings, engine: Engine, chat: ChatService) -> WechatChannel:
        http = httpx.AsyncClient(
            timeout=settings.api_timeout_s,
            limits=httpx.Limits(max_connections=50),
            trust_env=False,
        )
        api = WechatApi(
            http,
            settings.api_base,
            settings.app_id,
            settings.app_secret.get_secret_value(),
            refresh_margin_s=settings.token_refresh_margin_s,
            attempts=settings.push_attempts,
            backoff_s=settings.push_backoff_s,
        )
        return cls(
            settings,
            WechatStore(sessionmaker(engine, expire_on_commit=False)),
            api,
            chat,
            Halls.load(get_retrieval_settings().knowledge_dir / "halls.yaml"),
            load_menu(),
            http=http,
        )

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Let pushes and turns in flight finish (a little while), then stop."""
        pending = {t for t in self._tasks if not t.done()}
        pending |= {
            t.task for t in self._turns.values() if t.task is not None and not t.task.done()
        }
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()

    # ------------------------------------------------------------------ verify

    def signature_ok(self, signature: str, timestamp: str, nonce: str) -> bool:
        """The request's signature is right and its timestamp recent."""
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            return False
        if skew > self.settings.max_clock_skew_s:
            return False
        return check_signature(self.settings.token.get_secret_value(), signature, timestamp, nonce)

    # ------------------------------------------------------------------ one delivery

    async def respond(self, inbound: Inbound, received: float | None = None) -> str | None:
        """The passive reply to one delivery of a message, or None (answer `success`)."""
        loop = asyncio.get_running_loop()
        deadline = (received if received is not None else loop.time()) + (
            self.settings.passive_timeout_s
        )
        turn = self._turns.get(inbound.dedup_key)
        if turn is None:
            turn = _Turn(inbound.dedup_key, inbound.openid)
            self._turns[turn.key] = turn
            turn.task = asyncio.create_task(self._process(inbound))
            turn.task.add_done_callback(partial(self._turn_done, turn))
        else:  # a retry while the first delivery is in flight here
            turn.retries += 1
            self.stats.deduplicated += 1
            logger.info("wechat retry of %s joins the turn in flight", turn.key)
        assert turn.task is not None
        turn.waiters += 1
        try:
            await asyncio.wait_for(asyncio.shield(turn.task), max(0.0, deadline - loop.time()))
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            turn.waiters -= 1
            self._settle(turn)  # the request went away: do not leave a finished reply behind
            raise
        except Exception:  # noqa: S110 - the turn's failure is logged by _turn_done
            pass
        turn.waiters -= 1
        reply = self._take(turn)
        self.stats.latencies.append(loop.time() - (deadline - self.settings.passive_timeout_s))
        del self.stats.latencies[:-1000]
        return reply

    def _take(self, turn: _Turn) -> str | None:
        """The passive reply, for the first delivery that finds the turn done."""
        chunks = self._result(turn)
        if turn.taken or chunks is None:
            return None
        turn.taken = True
        if not chunks:
            self._spawn(self._finish(turn, "no_reply"))
            return None
        self.stats.passive += 1
        self._spawn(self._after_passive(turn, chunks[1:]))
        return chunks[0]

    def _turn_done(self, turn: _Turn, _: object = None) -> None:
        self._turns.pop(turn.key, None)
        assert turn.task is not None
        if turn.task.cancelled():
            return
        error = turn.task.exception()
        if error is not None:
            logger.error("wechat turn %s failed", turn.key, exc_info=error)
            self._spawn(self._finish(turn, "failed"))
            return
        if turn.waiters == 0:  # else a waiting delivery takes it as its passive reply
            self._settle(turn)

    def _settle(self, turn: _Turn) -> None:
        """Nobody waits for a finished turn: its reply goes out by push."""
        chunks = self._result(turn)
        if turn.waiters or turn.taken or chunks is None:
            return
        turn.taken = True
        if chunks:
            self.stats.pushed_turns += 1
            logger.info("wechat turn %s slower than the passive window: pushing", turn.key)
        self._spawn(self._push_turn(turn, chunks))

    @staticmethod
    def _result(turn: _Turn) -> list[str] | None:
        task = turn.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    async def _after_passive(self, turn: _Turn, rest: list[str]) -> None:
        await self._finish(turn, "replied")
        if rest:  # a reply longer than one message: the rest by push
            async with self._push_locks(turn.openid):
                await self._send_chunks(turn.openid, rest, kind="reply")

    async def _push_turn(self, turn: _Turn, chunks: list[str]) -> None:
        if not chunks:
            await self._finish(turn, "no_reply")
            return
        async with self._push_locks(turn.openid):
            sent = await self._send_chunks(turn.openid, chunks, kind="reply")
        await self._finish(turn, "pushed" if sent else "push_failed")

    async def _finish(self, turn: _Turn, status: str) -> None:
        await run_in_threadpool(self.store.finish, turn.key, status)
        for _ in range(turn.retries):
            await run_in_threadpool(self.store.note_retry, turn.key)

    # ------------------------------------------------------------------ the turn

    async def _process(self, inbound: Inbound) -> list[str] | None:
        """Claim the key, then work out the reply: its messages, or None for a duplicate."""
        now = dt.datetime.now(dt.UTC)
        key = inbound.dedup_key
        if not await run_in_threadpool(
            self.store.claim, key, inbound.openid, inbound.msg_type, now
        ):
            self.stats.deduplicated += 1
            await run_in_threadpool(self.store.note_retry, key)
            logger.info("wechat retry of %s turned away (already processed)", key)
            return None
        self.stats.processed += 1
        self._maybe_prune(now)
        await self._note_action(inbound, now)
        try:
            rendered = await self._dispatch(inbound)
        except Exception:
            logger.exception("wechat %s: %s could not be handled", inbound.sender, key)
            rendered = Rendered(NO_REPLY_TEXT)
        if rendered is None or not rendered.text.strip():
            return []
        await run_in_threadpool(self.store.set_buttons, inbound.openid, rendered.buttons)
        return split_text(rendered.text, self.settings.max_message_bytes)

    async def _note_action(self, inbound: Inbound, now: dt.datetime) -> None:
        """What the citizen did opens (or closes) the customer-service window."""
        s = self.settings
        if inbound.msg_type != "event":
            window = (s.message_window_s, s.message_quota)
        elif inbound.event in ("subscribe", "click", "scan", "scancode_push", "scancode_waitmsg"):
            window = (s.event_window_s, s.event_quota)
        elif inbound.event == "unsubscribe":
            await run_in_threadpool(self.store.close_window, inbound.openid, now)
            return
        else:
            return
        await run_in_threadpool(self.store.open_window, inbound.openid, *window, now)

    async def _dispatch(self, inbound: Inbound) -> Rendered | None:
        kind = inbound.msg_type
        if kind == "text":
            return await self._chat(inbound, inbound.get("Content"))
        if kind == "voice":
            words = inbound.get("Recognition").strip() or await self._recognise(inbound)
            if not words:
                return Rendered(VOICE_TEXT)
            rendered = await self._chat(inbound, words)
            if rendered is not None:
                rendered.text = f"您说的是：“{words}”\n\n{rendered.text}"
            return rendered
        if kind == "image":
            return Rendered(IMAGE_TEXT)
        if kind == "location":
            where = inbound.location
            if where is None:
                return Rendered(UNSUPPORTED_TEXT)
            return Rendered(self.halls.describe_nearest(*where, inbound.get("Label").strip()))
        if kind == "event":
            return await self._event(inbound)
        return Rendered(UNSUPPORTED_TEXT)

    async def _event(self, inbound: Inbound) -> Rendered | None:
        event = inbound.event
        if event == "subscribe":
            logger.info("wechat %s followed", inbound.sender)
            return Rendered(self.menu.welcome)
        if event == "unsubscribe":
            logger.info("wechat %s unfollowed", inbound.sender)
            await run_in_threadpool(self.store.set_buttons, inbound.openid, [])
            return None
        if event == "click":
            action = self.menu.actions.get(inbound.event_key)
            if action is None:
                logger.warning("wechat menu key %r has no action", inbound.event_key[:64])
                return Rendered(self.menu.welcome)
            if action.say is not None:
                return await self._chat(inbound, action.say, pick=False)
            buttons = [{"title": b, "payload": b} for b in action.buttons]
            return render([(action.reply or "", buttons)])
        return None  # VIEW, LOCATION reports, template receipts: nothing to say

    async def _recognise(self, inbound: Inbound) -> str:
        media_id = inbound.get("MediaId").strip()
        if not self.asr.available or not media_id:
            return ""
        try:
            audio, content_type = await self.api.download_media(media_id)
            words = await self.asr.transcribe(audio, content_type, inbound.get("Format").strip())
        except WechatApiError as exc:
            logger.warning("wechat voice of %s not downloaded: %s", inbound.sender, exc)
            return ""
        return (words or "").strip()

    async def _chat(self, inbound: Inbound, text: str, pick: bool = True) -> Rendered | None:
        if pick:
            buttons = await run_in_threadpool(self.store.buttons, inbound.openid)
            text = pick_button(text, buttons) or text
        try:
            response = await self.chat.handle(ChatRequest(sender=inbound.sender, text=text))
        except YishiError as exc:  # empty or too long, the bot down: say so
            return Rendered(exc.detail)
        if not response.replies:
            return None  # a person serves: the bot stays silent
        return render([(r.text, r.buttons) for r in response.replies])

    # ------------------------------------------------------------------ pushes

    def deliverers(self) -> dict[str, Any]:
        """What the handoff service calls for `wechat:` conversations."""
        return {"wechat": self.deliver} if self.settings.enabled else {}

    async def deliver(self, sender: str, message: dict[str, Any]) -> None:
        """The handoff service's deliverer: a message outside a turn (agent, notice, rating).

        Called while the conversation is locked, so it only queues the push."""
        openid = sender.split(":", 1)[1]
        self._spawn(self._deliver(openid, message))

    async def _deliver(self, openid: str, message: dict[str, Any]) -> None:
        async with self._push_locks(openid):  # taken before any await: pushes keep their order
            text = str(message.get("text") or "")
            author = str(message.get("author") or "system")
            if author == "agent":
                staff = None
                if message.get("agent"):
                    staff = await run_in_threadpool(
                        self.chat.handoff.accounts.get, str(message["agent"])
                    )
                text = f"【人工客服{' ' + staff.label if staff else ''}】\n{text}"
            rendered = render([(text, message.get("buttons") or [])])
            await run_in_threadpool(self.store.set_buttons, openid, rendered.buttons)
            chunks = split_text(rendered.text, self.settings.max_message_bytes)
            sent = await self._send_chunks(
                openid, chunks, kind=author, message_id=message.get("id")
            )
        if sent and isinstance(message.get("id"), int):
            await run_in_threadpool(self.chat.handoff.transcript.mark_delivered, [message["id"]])

    async def _send_chunks(
        self, openid: str, chunks: list[str], *, kind: str, message_id: int | None = None
    ) -> bool:
        for chunk in chunks:
            if not await self._send(openid, chunk, kind, message_id):
                return False
        return True

    async def _send(self, openid: str, text: str, kind: str, message_id: int | None) -> bool:
        """One customer-service message: logged, counted against the window, retried."""
        sender = f"wechat:{openid}"
        now = dt.datetime.now(dt.UTC)
        push_id = await run_in_threadpool(self.store.log_push, openid, kind, text, message_id)
        refusal = await run_in_threadpool(self.store.reserve, openid, now)
        if refusal is not None:
            await run_in_threadpool(
                partial(self.store.push_done, push_id, "skipped", detail=refusal)
            )
            logger.warning("wechat push %d to %s not sent: %s", push_id, sender, refusal)
            return False
        try:
            attempts = await self.api.send_text(openid, text)
        except WechatApiError as exc:
            failure = exc
        else:
            await run_in_threadpool(
                partial(self.store.push_done, push_id, "sent", attempts=attempts)
            )
            logger.info(
                "wechat push %d to %s sent (%s, %d attempts)", push_id, sender, kind, attempts
            )
            return True
        if failure.errcode in WINDOW_CLOSED or failure.errcode in QUOTA_USED:
            await run_in_threadpool(self.store.close_window, openid, now)
        else:
            await run_in_threadpool(self.store.refund, openid)
        await run_in_threadpool(
            partial(
                self.store.push_done,
                push_id,
                "failed",
                attempts=failure.attempts,
                errcode=failure.errcode,
                detail=failure.errmsg,
            )
        )
        logger.error(
            "wechat push %d to %s failed after %d attempts: %s",
            push_id,
            sender,
            failure.attempts,
            failure,
        )
        return False

    # ------------------------------------------------------------------ housekeeping

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("wechat background task failed", exc_info=task.exception())

    def _maybe_prune(self, now: dt.datetime) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = time.monotonic()
        cutoff = now - dt.timedelta(seconds=self.settings.dedup_ttl_s)
        self._spawn(run_in_threadpool(self.store.prune, cutoff))
        # a nonce outlives the window in which its timestamp is accepted
        nonces = now - dt.timedelta(seconds=2 * self.settings.max_clock_skew_s + 60)
        self._spawn(run_in_threadpool(self.store.prune_nonces, nonces))
