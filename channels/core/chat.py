"""One chat turn: citizen text in → Rasa → replies and a trace out.

Rasa decides what to say; the gateway renders it. A bot message may carry a custom payload
`{"yishi": {"trace": {...}, "source": {...}}}` (from domain responses or the action server):
its trace flags go into the turn's trace and its source cites the guide of the reply before it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
import weakref
from typing import Any

from starlette.concurrency import run_in_threadpool

from channels.core.rasa_client import RasaClient
from channels.core.schemas import (
    Button,
    ChatRequest,
    ChatResponse,
    IntentTrace,
    KbTrace,
    Reply,
    Source,
    Trace,
)
from channels.core.store import TranscriptStore
from channels.errors import BotUnavailableError, YishiError

logger = logging.getLogger(__name__)

NO_REPLY_TEXT = "抱歉，系统暂时没能处理您的问题，请稍后再试，或拨打12345政务服务便民热线。"
_SPACES = re.compile(r"[ \t\u3000]+")


def normalise_text(text: str, max_chars: int) -> str:
    """Drop control and format characters (keeping line breaks), trim, and check the length."""
    cleaned = "".join(
        ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )
    cleaned = _SPACES.sub(" ", cleaned).strip()
    if not cleaned:
        raise YishiError("text_empty", "消息内容不能为空，请输入您的问题。", 422)
    if len(cleaned) > max_chars:
        raise YishiError("text_too_long", f"消息太长了，请把问题控制在{max_chars}字以内。", 422)
    return cleaned


def render_turn(
    messages: list[dict[str, Any]], tracker: dict[str, Any]
) -> tuple[list[Reply], Trace]:
    """Turn Rasa's messages and tracker into the chat API's replies and trace."""
    replies: list[Reply] = []
    trace = Trace()
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("yishi"), dict):
            _apply_custom(custom["yishi"], replies, trace)
            continue
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        buttons = [
            Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
            for b in message.get("buttons") or []
            if isinstance(b, dict) and b.get("title")
        ]
        replies.append(Reply(text=text, buttons=buttons))

    latest = tracker.get("latest_message") or {}
    intent = latest.get("intent") or {}
    if intent.get("name"):
        trace.intent = IntentTrace(
            name=intent["name"], confidence=float(intent.get("confidence") or 0.0)
        )
    loop = (tracker.get("active_loop") or {}).get("name")
    trace.form = loop.removesuffix("_form") if loop else None
    return replies, trace


def _apply_custom(payload: dict[str, Any], replies: list[Reply], trace: Trace) -> None:
    flags = payload.get("trace") or {}
    if flags.get("handoff"):
        trace.handoff = True
    if flags.get("emergency"):
        trace.emergency = True
    if isinstance(flags.get("kb"), dict):
        trace.kb = KbTrace.model_validate(flags["kb"])
    source = payload.get("source")
    if isinstance(source, dict) and replies:
        replies[-1].source = Source.model_validate(source)


class ChatService:
    def __init__(self, rasa: RasaClient, store: TranscriptStore, max_text_chars: int) -> None:
        self._rasa = rasa
        self._store = store
        self._max_text_chars = max_text_chars
        # One turn at a time per conversation, so a trace always belongs to its own turn.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock_for(self, sender: str) -> asyncio.Lock:
        lock = self._locks.get(sender)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sender] = lock
        return lock

    async def handle(self, request: ChatRequest) -> ChatResponse:
        text = normalise_text(request.text, self._max_text_chars)
        channel = request.sender.split(":", 1)[0]
        async with self._lock_for(request.sender):
            message_id = await run_in_threadpool(
                self._store.record_inbound, request.sender, text, request.mode
            )
            try:
                messages = await self._rasa.send(
                    request.sender, text, metadata={"mode": request.mode, "channel": channel}
                )
            except BotUnavailableError:
                await run_in_threadpool(self._store.mark, message_id, "failed")
                raise
            try:
                tracker = await self._rasa.tracker(request.sender)
            except BotUnavailableError:
                logger.warning("tracker of %s unavailable; trace without intent", request.sender)
                tracker = {}
            replies, trace = render_turn(messages, tracker)
            if not replies:
                logger.warning(
                    "Rasa gave no reply to %s; answering with the fallback", request.sender
                )
                replies = [Reply(text=NO_REPLY_TEXT)]
            await run_in_threadpool(self._store.mark, message_id, "answered")
            await run_in_threadpool(
                self._store.record_replies,
                request.sender,
                [r.text for r in replies],
                request.mode,
                trace.model_dump(),
            )
        logger.info(
            "turn sender=%s intent=%s replies=%d", request.sender, trace.intent.name, len(replies)
        )
        return ChatResponse(sender=request.sender, state="bot", replies=replies, trace=trace)
