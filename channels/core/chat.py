"""One chat turn: citizen text in → Rasa → replies and a trace out.

Rasa decides what to say; the gateway renders it. A bot message may carry a custom payload
`{"yishi": {"trace": {...}, "source": {...}}}` (from domain responses or the action server):
its trace flags go into the turn's trace and its source cites the guide of the reply before it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import unicodedata
from typing import Any

from starlette.concurrency import run_in_threadpool

from channels.core.conversations import AGENT, BOT, CLOSED, QUEUED, ConversationView
from channels.core.handoff import HandoffService, Outcome
from channels.core.rasa_client import RasaClient
from channels.core.schemas import (
    Button,
    ChatRequest,
    ChatResponse,
    IntentTrace,
    KbTrace,
    PushedMessage,
    Reply,
    Source,
    Trace,
    UpdatesResponse,
)
from channels.core.sentiment import is_upset
from channels.core.store import TranscriptStore
from channels.errors import BotUnavailableError, YishiError
from channels.metrics import GatewayMetrics
from yishi.logging import log_context
from yishi.privacy import mask_pii

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
    """One citizen turn: gateway-owned questions first, then the person or the bot who holds
    the conversation, then escalation when the bot's turn calls for a person."""

    def __init__(
        self,
        rasa: RasaClient,
        store: TranscriptStore,
        max_text_chars: int,
        handoff: HandoffService,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._rasa = rasa
        self._store = store
        self._max_text_chars = max_text_chars
        self.handoff = handoff
        self.metrics = metrics or GatewayMetrics()
        self._conversations = handoff.conversations
        self._lock_for = handoff.locks
        self._requested: dict[str, str | None] = {}

    async def handle(self, request: ChatRequest) -> ChatResponse:
        # every log line of the turn carries the (masked) conversation id
        with log_context(request.sender):
            return await self._handle(request)

    async def _handle(self, request: ChatRequest) -> ChatResponse:
        text = normalise_text(request.text, self._max_text_chars)
        sender = request.sender
        async with self._lock_for(sender):
            conv = await run_in_threadpool(self._conversations.ensure, sender, request.mode)
            message_id = await run_in_threadpool(
                self._store.record_inbound, sender, text, request.mode
            )
            if conv.state in (QUEUED, AGENT):
                outcome = await self._with_person(conv, text, message_id)
                if outcome is not None:
                    return await self._finish(request, conv, message_id, outcome, Trace())
            if conv.state == CLOSED:
                await run_in_threadpool(self._conversations.set, sender, state=BOT)
            if conv.pending:
                outcome = await self.handoff.answer_pending(conv, text)
                if outcome is not None:
                    return await self._finish(request, conv, message_id, outcome, Trace())
                conv = await run_in_threadpool(self._conversations.ensure, sender, request.mode)
            if is_upset(text) and not await self._is_emergency(text):
                outcome = await self.handoff.escalate(conv, "anger")
                self.metrics.handoff(sender, "anger")
                outcome.replies.insert(
                    0, Reply(text="非常抱歉给您带来了不好的体验，我马上请人工客服来帮您。")
                )
                trace = Trace(intent=IntentTrace(name="upset", confidence=1.0))
                return await self._finish(request, conv, message_id, outcome, trace)
            replies, trace = await self._bot_turn(request, text, message_id)
            outcome = Outcome(replies, BOT)
            reason = self._escalation_reason(conv, trace)
            if reason is not None:
                escalated = await self.handoff.escalate(conv, reason)
                self.metrics.handoff(sender, reason)
                outcome = Outcome(replies + escalated.replies, escalated.state, handoff=True)
            else:
                await self._note_kb(conv, trace)
            return await self._finish(request, conv, message_id, outcome, trace)

    async def _with_person(
        self, conv: ConversationView, text: str, message_id: int
    ) -> Outcome | None:
        """Queued or served by an agent. Emergencies still get the numbers at once."""
        if await self._is_emergency(text):
            messages = await self._rasa.send(
                conv.sender, text, metadata={"mode": conv.mode, "channel": conv.channel}
            )
            replies, _ = render_turn(messages, {})
            if conv.state == AGENT and conv.agent:
                await self.handoff.while_served(conv, self._citizen_message(message_id, text))
            return Outcome(replies, conv.state, emergency=True)
        if conv.state == QUEUED:
            return await self.handoff.while_queued(conv, text, message_id)
        return await self.handoff.while_served(conv, self._citizen_message(message_id, text))

    @staticmethod
    def _citizen_message(message_id: int, text: str) -> dict[str, Any]:
        return {
            "id": message_id,
            "author": "citizen",
            "text": mask_pii(text),
            "buttons": [],
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "agent": None,
            "trace": None,
        }

    async def _is_emergency(self, text: str) -> bool:
        try:
            parsed = await self._rasa.parse(text)
        except BotUnavailableError:
            return False
        intent = parsed.get("intent") or {}
        return intent.get("name") == "emergency" and float(intent.get("confidence") or 0) >= 0.5

    async def _bot_turn(
        self, request: ChatRequest, text: str, message_id: int
    ) -> tuple[list[Reply], Trace]:
        channel = request.sender.split(":", 1)[0]
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
        # for analytics (form drop-off): which question the form was waiting on after this turn
        self._requested[request.sender] = (tracker.get("slots") or {}).get("requested_slot")
        if not replies:
            logger.warning("Rasa gave no reply to %s; answering with the fallback", request.sender)
            replies = [Reply(text=NO_REPLY_TEXT)]
        return replies, trace

    @staticmethod
    def _escalation_reason(conv: ConversationView, trace: Trace) -> str | None:
        if trace.emergency:
            return None  # emergencies never queue: the numbers are the answer
        if trace.handoff:
            return "form_failures" if trace.intent.name != "request_human" else "citizen_request"
        if trace.kb is not None and trace.kb.band == "none" and conv.kb_misses + 1 >= 2:
            trace.handoff = True
            return "kb_unanswered"
        return None

    async def _note_kb(self, conv: ConversationView, trace: Trace) -> None:
        """Count consecutive turns the knowledge base could not answer; remember the service."""
        misses = conv.kb_misses
        service = conv.last_service
        if trace.kb is not None:
            misses = misses + 1 if trace.kb.band == "none" else 0
            service = trace.kb.service_id or service
        elif trace.intent.name not in (None, "nlu_fallback", "out_of_scope"):
            misses = 0
        if (misses, service) != (conv.kb_misses, conv.last_service):
            await run_in_threadpool(
                self._conversations.set, conv.sender, kb_misses=misses, last_service=service
            )

    async def _finish(
        self,
        request: ChatRequest,
        conv: ConversationView,
        message_id: int,
        outcome: Outcome,
        trace: Trace,
    ) -> ChatResponse:
        trace.handoff = trace.handoff or outcome.handoff
        trace.emergency = trace.emergency or outcome.emergency
        if trace.kb is not None:
            self.metrics.answered(request.sender, trace.kb.band)
        status = "to_agent" if outcome.state == AGENT and not outcome.replies else "answered"
        await run_in_threadpool(self._store.mark, message_id, status)
        current = await run_in_threadpool(self._conversations.ensure, request.sender, request.mode)
        requested = self._requested.pop(request.sender, None)
        if outcome.replies:
            await run_in_threadpool(
                self._store.record_replies,
                request.sender,
                [r.text for r in outcome.replies],
                request.mode,
                {
                    **trace.model_dump(),
                    "state": current.state,
                    "requested_slot": requested,
                },
            )
        queue = await self.handoff.queue_info(request.sender) if current.state == QUEUED else None
        agent = await self.handoff.agent_info(current)
        logger.info(
            "turn sender=%s state=%s intent=%s replies=%d handoff=%s",
            request.sender,
            current.state,
            trace.intent.name,
            len(outcome.replies),
            trace.handoff,
        )
        return ChatResponse(
            sender=request.sender,
            state=current.state,
            replies=outcome.replies,
            trace=trace,
            queue=queue,
            agent=agent,
        )

    async def updates(self, sender: str, after: int) -> UpdatesResponse:
        """What reached the citizen outside their turns since message `after`, and the state."""
        conv = await run_in_threadpool(self._conversations.get, sender)
        messages = await run_in_threadpool(self._store.updates, sender, after)
        await run_in_threadpool(self._store.mark_delivered, [m["id"] for m in messages])
        names: dict[str, str] = {}
        for message in messages:
            if message["agent"] and message["agent"] not in names:
                staff = await run_in_threadpool(self.handoff.accounts.get, message["agent"])
                names[message["agent"]] = f"人工客服 {staff.label}" if staff else "人工客服"
            message["agent_name"] = names.get(message["agent"] or "")
        state = conv.state if conv else BOT
        return UpdatesResponse(
            sender=sender,
            state=state,
            queue=await self.handoff.queue_info(sender) if state == QUEUED else None,
            agent=await self.handoff.agent_info(conv) if conv else None,
            messages=[PushedMessage.model_validate(m) for m in messages],
        )


def citizen_token(secret: str, sender: str) -> str:
    """The token that lets a browser read its own conversation (HMAC of the sender id)."""
    digest = hmac.new(secret.encode(), sender.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_citizen_token(secret: str, sender: str, token: str | None) -> bool:
    # bytes: compare_digest refuses str with non-ASCII characters (a forged header may have them)
    expected = citizen_token(secret, sender).encode()
    return bool(token) and hmac.compare_digest(expected, (token or "").encode())
