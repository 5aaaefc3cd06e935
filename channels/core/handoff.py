"""Routing between the bot and people: the queue, agents taking over, callbacks and ratings.

The gateway owns this, not Rasa: Rasa says *that* a turn hands over (`trace.handoff`), the
gateway decides *where to* — an agent's queue when one is online within service hours, else a
12345 callback ticket or the hotline number — and while a person serves, the bot stays silent.
Questions the gateway itself asks (a callback number, a 1–5 rating, a comment) are kept in
`Conversation.pending`, so they survive a restart like the rest of the state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool

from channels.agent_console.accounts import AccountStore, Staff
from channels.core.conversations import (
    AGENT,
    BOT,
    CLOSED,
    QUEUED,
    ConflictError,
    ConversationStore,
    ConversationView,
)
from channels.core.hub import AgentHub
from channels.core.schemas import AgentInfo, Button, QueueInfo, Reply
from channels.core.store import TranscriptStore
from channels.feedback.store import FeedbackStore, parse_rating
from channels.tickets.store import TicketStore
from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)

DISTRICTS = ("中心区", "东湖区", "西山区", "南港区", "北城区", "高新区")
RATING_BUTTONS = [
    Button(title=t, payload=t) for t in ("非常满意", "满意", "一般", "不满意", "非常不满意")
]
STOP_WAITING = re.compile(
    r"^(?:不等了|不想等了|不用等了|算了不等了|取消(?:排队|等待|转人工)|退出排队)[。！!]?$"
)
YES = re.compile(r"^(?:登记回电|登记|好|好的|好啊|可以|行|是|是的|要|需要|嗯|对)[。！!]?$")
NO = re.compile(r"^(?:不用了?|不要|不需要|算了|不了|没事了?|跳过)[。！!]?$")
MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)")
HOTLINE_TAIL = "也可以直接拨打12345政务服务便民热线（24小时）。"


@dataclass(frozen=True)
class ServiceHours:
    """When agents serve: "08:30-21:00" on ISO weekdays "12345", in the city's time zone."""

    start: dt.time
    end: dt.time
    weekdays: frozenset[int]
    zone: ZoneInfo

    @classmethod
    def parse(cls, hours: str, weekdays: str, zone: str) -> ServiceHours:
        begin, _, finish = hours.partition("-")
        end = dt.time(23, 59, 59) if finish.strip() == "24:00" else dt.time.fromisoformat(finish)
        days = frozenset(int(d) for d in weekdays if d in "1234567")
        return cls(dt.time.fromisoformat(begin.strip()), end, days, ZoneInfo(zone))

    def is_open(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.isoweekday() in self.weekdays and self.start <= local.time() <= self.end

    def describe(self) -> str:
        names = "一二三四五六日"
        days = sorted(self.weekdays)
        if len(days) == 7:
            span = "每天"
        elif days == list(range(days[0], days[-1] + 1)):
            span = f"周{names[days[0] - 1]}至周{names[days[-1] - 1]}"
        else:
            span = "周" + "、".join(names[d - 1] for d in days)
        end = "24:00" if self.end == dt.time(23, 59, 59) else self.end.strftime("%H:%M")
        return f"{span}{self.start.strftime('%H:%M')}-{end}"


@dataclass
class Outcome:
    """What the gateway answers instead of (or after) the bot."""

    replies: list[Reply]
    state: str
    handoff: bool = False
    emergency: bool = False


class SenderLocks:
    """One turn or agent action at a time per conversation."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, sender: str) -> asyncio.Lock:
        lock = self._locks.get(sender)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sender] = lock
        return lock


Deliverer = Callable[[str, dict[str, Any]], Awaitable[None]]


class HandoffService:
    def __init__(
        self,
        conversations: ConversationStore,
        transcript: TranscriptStore,
        hub: AgentHub,
        accounts: AccountStore,
        tickets: TicketStore,
        feedback: FeedbackStore,
        hours: ServiceHours,
        default_handle_s: float,
        locks: SenderLocks,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.conversations = conversations
        self.transcript = transcript
        self.hub = hub
        self.accounts = accounts
        self.tickets = tickets
        self.feedback = feedback
        self.hours = hours
        self.default_handle_s = default_handle_s
        self.locks = locks
        self._now = now
        # channel → how a pushed message reaches the citizen beyond the stored transcript
        # (the web chat polls the transcript; WeChat registers its customer-service API here)
        self.deliverers: dict[str, Deliverer] = {}

    # ------------------------------------------------------------------ citizen side

    def agents_online(self) -> list[str]:
        return sorted(self.hub.online())

    async def escalate(self, conv: ConversationView, reason: str) -> Outcome:
        """Hand the conversation to a person: the queue, or a callback offer when nobody serves."""
        if not self.hours.is_open(self._now()):
            lead = f"现在不在人工客服服务时间（{self.hours.describe()}）。"
            return await self._offer_callback(conv, lead, reason)
        if not self.agents_online():
            lead = "抱歉，现在人工客服都不在线。"
            return await self._offer_callback(conv, lead, reason)
        summary = await self._summary(conv)
        await run_in_threadpool(self.conversations.enqueue, conv.sender, reason, summary)
        queue = await self.queue_info(conv.sender)
        ahead = (queue.position - 1) if queue else 0
        wait = queue.wait_minutes if queue else 1
        text = (
            f"已为您转接人工客服，您前面还有{ahead}位，预计等待约{wait}分钟。"
            "等待期间可以继续留言，客服接入后会看到全部对话记录，您不用重复描述。"
        )
        await self.publish_queue()
        logger.info("handoff queued sender=%s reason=%s", conv.sender, reason)
        return Outcome(
            [Reply(text=text, buttons=[Button(title="不等了", payload="不等了")])],
            QUEUED,
            handoff=True,
        )

    async def _offer_callback(self, conv: ConversationView, lead: str, reason: str) -> Outcome:
        await run_in_threadpool(
            self.conversations.set,
            conv.sender,
            pending={
                "kind": "callback_offer",
                "reason": reason,
                "summary": await self._summary(conv),
            },
            kb_misses=0,
        )
        text = (
            f"{lead}我可以帮您登记一张12345回电工单，把刚才的问题转给热线坐席，"
            f"由坐席在工作时间电话联系您；{HOTLINE_TAIL}"
        )
        buttons = [
            Button(title="登记回电", payload="登记回电"),
            Button(title="不用了", payload="不用了"),
        ]
        return Outcome([Reply(text=text, buttons=buttons)], BOT, handoff=True)

    async def while_queued(self, conv: ConversationView, text: str, message_id: int) -> Outcome:
        if STOP_WAITING.match(text):
            await run_in_threadpool(
                self.conversations.end, conv.sender, state=BOT, outcome="abandoned"
            )
            await self.publish_queue()
            return Outcome([Reply(text=f"好的，已取消排队。您可以继续问我，{HOTLINE_TAIL}")], BOT)
        queue = await self.queue_info(conv.sender)
        ahead = (queue.position - 1) if queue else 0
        wait = queue.wait_minutes if queue else 1
        await self.publish_queue()  # the summary line on agents' screens shows the new message
        return Outcome(
            [
                Reply(
                    text=f"已收到您的留言，客服接入后会一并看到。您前面还有{ahead}位，预计等待约{wait}分钟。",
                    buttons=[Button(title="不等了", payload="不等了")],
                )
            ],
            QUEUED,
        )

    async def while_served(self, conv: ConversationView, message: dict[str, Any]) -> Outcome:
        """An agent serves: the message goes to that agent only, and the bot says nothing."""
        if conv.agent:
            await self.hub.send(
                conv.agent, {"type": "message", "sender": conv.sender, "message": message}
            )
        return Outcome([], AGENT)

    async def answer_pending(self, conv: ConversationView, text: str) -> Outcome | None:
        """Answer the question the gateway asked last turn; None when the text isn't an answer."""
        pending = conv.pending or {}
        kind = pending.get("kind")
        if kind == "callback_offer":
            if YES.match(text):
                await run_in_threadpool(
                    self.conversations.set,
                    conv.sender,
                    pending={**pending, "kind": "callback_mobile", "tries": 0},
                )
                return Outcome(
                    [Reply(text="请留下方便接听回电的手机号（11位），回复“不用了”可取消：")], BOT
                )
            await self._clear(conv)
            if NO.match(text):
                return Outcome([Reply(text=f"好的。{HOTLINE_TAIL}")], BOT)
            return None
        if kind == "callback_mobile":
            if NO.match(text):
                await self._clear(conv)
                return Outcome([Reply(text=f"好的，已取消登记。{HOTLINE_TAIL}")], BOT)
            found = MOBILE.search(text)
            if found is None:
                tries = int(pending.get("tries", 0)) + 1
                if tries >= 3:
                    await self._clear(conv)
                    return Outcome([Reply(text=f"手机号还是不对，先不登记了。{HOTLINE_TAIL}")], BOT)
                await run_in_threadpool(
                    self.conversations.set, conv.sender, pending={**pending, "tries": tries}
                )
                return Outcome(
                    [
                        Reply(
                            text="手机号格式不对，请输入11位手机号（例如13812345678），或回复“不用了”。"
                        )
                    ],
                    BOT,
                )
            await self._clear(conv)
            mobile = "".join(found.groups())
            return await self._callback_ticket(
                conv, mobile, str(pending.get("reason", "")), str(pending.get("summary") or "")
            )
        if kind == "rating":
            score = parse_rating(text)
            if score is None:
                await self._clear(conv)
                return None
            result = await run_in_threadpool(
                self.feedback.rate,
                conv.sender,
                str(pending["subject_kind"]),
                str(pending["subject_id"]),
                score,
            )
            if pending["subject_kind"] == "ticket":
                await self._ticket_rated(str(pending["subject_id"]), score)
            if score <= 2:
                rating_id = result["rating"]["id"]
                await run_in_threadpool(
                    self.conversations.set,
                    conv.sender,
                    pending={"kind": "comment", "rating_id": rating_id},
                )
                return Outcome(
                    [
                        Reply(
                            text="很抱歉没能让您满意。请告诉我们哪里做得不好（直接输入即可），我们会安排专人核查整改；回复“跳过”结束。",
                            buttons=[Button(title="跳过", payload="跳过")],
                        )
                    ],
                    BOT,
                )
            await self._clear(conv)
            return Outcome([Reply(text="感谢您的评价！还有其他问题可以随时问我。")], BOT)
        if kind == "comment":
            await self._clear(conv)
            if NO.match(text):
                return Outcome([Reply(text="好的，感谢您的反馈。")], BOT)
            await run_in_threadpool(self.feedback.add_comment, int(pending["rating_id"]), text)
            return Outcome(
                [Reply(text="已记录您的意见，我们会尽快核查整改，并把结果告诉您。")], BOT
            )
        return None

    async def _clear(self, conv: ConversationView) -> None:
        await run_in_threadpool(self.conversations.set, conv.sender, pending=None)

    async def _callback_ticket(
        self, conv: ConversationView, mobile: str, reason: str, summary: str
    ) -> Outcome:
        summary = summary or await self._summary(conv)
        district = await self._district(conv)
        ticket = await run_in_threadpool(
            lambda: self.tickets.create(
                source="callback",
                sender=conv.sender,
                category="投诉" if reason == "anger" else "咨询",
                summary=summary,
                district=district,
                service_id=conv.last_service,
                contact_mobile=mobile,
            )
        )
        due = _local_day(ticket.get("due_at"), self.hours.zone)
        text = (
            f"已登记12345回电工单，编号{ticket['number']}，承办部门：{ticket['department']}。"
            f"热线坐席将在{due}前回电到{mobile[:3]}****{mobile[-4:]}，请保持电话畅通。"
        )
        logger.info("callback ticket %s for %s", ticket["number"], conv.sender)
        return Outcome([Reply(text=text)], BOT)

    async def _ticket_rated(self, number: str, score: int) -> None:
        try:
            await run_in_threadpool(
                lambda: self.tickets.transition(
                    number, "回访", "citizen", note=f"市民评价{score}分", rating=score
                )
            )
        except Exception as exc:  # already visited, or moved on by staff
            logger.info("ticket %s not moved to 回访: %s", number, exc)

    async def queue_info(self, sender: str) -> QueueInfo | None:
        position = await run_in_threadpool(self.conversations.position, sender)
        if position is None:
            return None
        handle_s = await run_in_threadpool(
            self.conversations.average_handle_s, self.default_handle_s
        )
        agents = max(len(self.agents_online()), 1)
        wait = max(1, math.ceil(position * handle_s / agents / 60))
        return QueueInfo(position=position, wait_minutes=wait)

    async def agent_info(self, conv: ConversationView) -> AgentInfo | None:
        if conv.state != AGENT or not conv.agent:
            return None
        staff = await run_in_threadpool(self.accounts.get, conv.agent)
        if staff is None:
            return None
        return AgentInfo(display_name=staff.display_name, employee_no=staff.employee_no)

    async def _summary(self, conv: ConversationView) -> str:
        texts = await run_in_threadpool(self.transcript.citizen_texts, conv.sender, 3)
        return " / ".join(t.replace("\n", " ") for t in texts)[:300]

    async def _district(self, conv: ConversationView) -> str | None:
        texts = await run_in_threadpool(self.transcript.citizen_texts, conv.sender, 20)
        joined = "".join(texts)
        return next((d for d in DISTRICTS if d in joined), None)

    # ------------------------------------------------------------------ agent side

    async def publish_queue(self) -> None:
        items = await run_in_threadpool(self.conversations.queue)
        await self.hub.broadcast({"type": "queue", "items": items})

    async def push(
        self,
        sender: str,
        text: str,
        *,
        author: str,
        agent: str | None = None,
        buttons: list[Button] | None = None,
    ) -> dict[str, Any]:
        """A message to the citizen outside a turn: stored, then delivered by its channel."""
        message = await run_in_threadpool(
            lambda: self.transcript.push(
                sender,
                text,
                author=author,
                agent=agent,
                buttons=[b.model_dump() for b in buttons or []],
            )
        )
        deliver = self.deliverers.get(sender.split(":", 1)[0])
        if deliver is not None:
            try:
                await deliver(sender, message)
            except Exception:
                logger.exception("delivery of message %s to %s failed", message["id"], sender)
        return message

    async def accept(self, sender: str, staff: Staff) -> None:
        async with self.locks(sender):
            await run_in_threadpool(self.conversations.accept, sender, staff.username)
            await self.push(
                sender,
                f"人工客服 {staff.label} 已接入，正在查看您之前的对话，请稍候。",
                author="system",
            )
        await self.publish_queue()
        logger.info("agent %s accepted %s", staff.username, sender)

    async def reply(self, sender: str, staff: Staff, text: str) -> dict[str, Any]:
        async with self.locks(sender):
            await run_in_threadpool(self.conversations.require_served_by, sender, staff.username)
            message = await self.push(sender, text, author="agent", agent=staff.username)
        message["agent_name"] = staff.label
        await self.hub.send(
            staff.username, {"type": "message", "sender": sender, "message": message}
        )
        return message

    async def transfer(self, sender: str, staff: Staff, to: str) -> Staff:
        target = await run_in_threadpool(self.accounts.get, to)
        if target is None or to == staff.username:
            raise ConflictError("bad_target", "请选择另一位在线坐席。")
        if not self.hub.is_online(to):
            raise ConflictError("target_offline", f"{target.label}当前不在线，无法转接。")
        async with self.locks(sender):
            await run_in_threadpool(self.conversations.transfer, sender, staff.username, to)
            await self.push(sender, f"已为您转接至人工客服 {target.label}。", author="system")
        await self.hub.send(to, {"type": "assigned", "sender": sender, "by": staff.public()})
        await self.hub.send(
            staff.username, {"type": "conversation", "sender": sender, "state": "transferred"}
        )
        return target

    async def handback(self, sender: str, staff: Staff) -> None:
        async with self.locks(sender):
            await run_in_threadpool(self.conversations.require_served_by, sender, staff.username)
            await run_in_threadpool(
                lambda: self.conversations.end(sender, state=BOT, outcome="handed_back")
            )
            await self.push(
                sender,
                "人工客服已结束接待，接下来由智能助手继续为您服务，有问题可以直接问我。",
                author="system",
            )
        await self.hub.send(
            staff.username, {"type": "conversation", "sender": sender, "state": BOT}
        )

    async def close(
        self, sender: str, staff: Staff, category: str, summary: str, make_ticket: bool
    ) -> dict[str, Any] | None:
        """End the service: optional 12345 ticket from the conversation, then ask for a rating."""
        async with self.locks(sender):
            conv = await run_in_threadpool(
                self.conversations.require_served_by, sender, staff.username
            )
            ticket = None
            if make_ticket:
                district = await self._district(conv)
                ticket = await run_in_threadpool(
                    lambda: self.tickets.create(
                        source="handoff",
                        sender=sender,
                        category="投诉" if "投诉" in category else "求助",
                        summary=summary or "",
                        district=district,
                        service_id=conv.last_service,
                        actor=staff.username,
                    )
                )
            handoff = await run_in_threadpool(
                lambda: self.conversations.end(
                    sender,
                    state=CLOSED,
                    outcome="closed",
                    category=category,
                    summary=summary,
                    ticket=ticket["number"] if ticket else None,
                    pending={
                        "kind": "rating",
                        "subject_kind": "conversation",
                        "subject_id": str(conv.handoff_id),
                    },
                )
            )
            text = "本次人工服务已结束，感谢您的耐心。"
            if ticket:
                due = _local_day(ticket.get("due_at"), self.hours.zone)
                text += (
                    f"已为您登记12345工单，编号{ticket['number']}，由{ticket['department']}办理，"
                    f"将在{due}前答复。"
                )
            await self.push(sender, text, author="system")
            await self.push(
                sender,
                "请为本次服务打分（1-5分）：",
                author="system",
                buttons=RATING_BUTTONS,
            )
        await self.hub.send(
            staff.username, {"type": "conversation", "sender": sender, "state": CLOSED}
        )
        logger.info(
            "agent %s closed %s category=%s ticket=%s",
            staff.username,
            sender,
            category,
            ticket["number"] if ticket else None,
        )
        return {"handoff": handoff, "ticket": ticket}

    async def ticket_answered(self, ticket: dict[str, Any]) -> None:
        """Tell the citizen on their own channel that their ticket has an answer."""
        sender = ticket.get("sender")
        if not sender:
            return
        answer = mask_pii(str(ticket.get("answer") or ""))
        await self.push(
            sender,
            f"您的12345工单（编号{ticket['number']}）已有答复：{answer}",
            author="system",
        )

    async def ticket_closed(self, ticket: dict[str, Any]) -> None:
        """A ticket is done (办结): ask the citizen to rate how it was handled."""
        sender = ticket.get("sender")
        if not sender:
            return
        async with self.locks(sender):
            conv = await run_in_threadpool(self.conversations.ensure, sender, "standard")
            if conv.state in (QUEUED, AGENT):
                return  # not while a person serves; the ticket can still be rated by phone
            await run_in_threadpool(
                self.conversations.set,
                sender,
                pending={
                    "kind": "rating",
                    "subject_kind": "ticket",
                    "subject_id": ticket["number"],
                },
            )
            await self.push(
                sender,
                f"您的12345工单（编号{ticket['number']}）已办结。请为办理结果打分（1-5分）：",
                author="system",
                buttons=RATING_BUTTONS,
            )


def _local_day(value: Any, zone: ZoneInfo) -> str:
    if not value:
        return "规定时限"
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone(zone)
    return f"{local.month}月{local.day}日"
