"""Who holds each conversation: the bot, the queue, an agent — persisted, so a restart keeps it.

State machine (gateway-owned):  bot → queued → agent → bot (hand back) | closed;
queued → bot (the citizen stops waiting); closed → bot (the citizen writes again).
Every escalation is a `Handoff` row: when it queued, who accepted it, how it ended; queue
order, wait estimates and later analytics come from these rows. Accepting is one conditional
UPDATE, so two agents (or two gateway replicas) can never take the same citizen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from channels.core.store import Base, _now, as_utc, iso
from yishi.privacy import mask_pii

BOT, QUEUED, AGENT, CLOSED = "bot", "queued", "agent", "closed"

REASONS = {
    "citizen_request": "市民要求转人工",
    "kb_unanswered": "连续两次未能回答",
    "form_failures": "表单多次填写未通过",
    "anger": "市民情绪不满/投诉工作人员",
}


class Conversation(Base):
    __tablename__ = "conversations"

    sender: Mapped[str] = mapped_column(String(160), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16), default="standard")
    state: Mapped[str] = mapped_column(String(8), default=BOT, index=True)
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    handoff_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kb_misses: Mapped[int] = mapped_column(Integer, default=0)
    last_service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # a question the gateway itself asked and waits an answer to (rating, callback number…)
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Handoff(Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text, default="")  # masked
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # served_back (handed back) | closed | abandoned (citizen stopped waiting)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    close_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    ticket: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ConflictError(Exception):
    """The conversation is not in the state the action needs (e.g. another agent took it)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ConversationView:
    sender: str
    channel: str
    mode: str
    state: str
    agent: str | None
    handoff_id: int | None
    kb_misses: int
    last_service: str | None
    pending: dict[str, Any] | None


def _view(row: Conversation) -> ConversationView:
    return ConversationView(
        sender=row.sender,
        channel=row.channel,
        mode=row.mode,
        state=row.state,
        agent=row.agent,
        handoff_id=row.handoff_id,
        kb_misses=row.kb_misses,
        last_service=row.last_service,
        pending=row.pending,
    )


def handoff_json(row: Handoff) -> dict[str, Any]:
    return {
        "id": row.id,
        "sender": row.sender,
        "reason": row.reason,
        "reason_text": REASONS.get(row.reason, row.reason),
        "summary": row.summary,
        "queued_at": iso(row.queued_at),
        "accepted_at": iso(row.accepted_at),
        "ended_at": iso(row.ended_at),
        "agent": row.agent,
        "outcome": row.outcome,
        "category": row.category,
        "close_summary": row.close_summary,
        "ticket": row.ticket,
    }


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


class ConversationStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def ensure(self, sender: str, mode: str) -> ConversationView:
        with self._sessions.begin() as db:
            row = db.get(Conversation, sender)
            if row is None:
                row = Conversation(
                    sender=sender, channel=sender.split(":", 1)[0], mode=mode, state=BOT
                )
                db.add(row)
            elif row.mode != mode:
                row.mode = mode
            db.flush()
            return _view(row)

    def get(self, sender: str) -> ConversationView | None:
        with self._sessions() as db:
            row = db.get(Conversation, sender)
            return _view(row) if row else None

    def set(self, sender: str, **fields: Any) -> None:
        with self._sessions.begin() as db:
            db.execute(
                update(Conversation)
                .where(Conversation.sender == sender)
                .values(**fields, updated_at=_now())
            )

    def enqueue(self, sender: str, reason: str, summary: str) -> int:
        """Put the conversation in the queue; return the handoff id."""
        with self._sessions.begin() as db:
            row = db.get(Conversation, sender)
            if row is None:
                raise ConflictError("not_found", "会话不存在")
            if row.state in (QUEUED, AGENT) and row.handoff_id:
                return row.handoff_id
            handoff = Handoff(sender=sender, reason=reason, summary=mask_pii(summary)[:500])
            db.add(handoff)
            db.flush()
            row.state, row.agent, row.handoff_id = QUEUED, None, handoff.id
            row.kb_misses, row.pending, row.updated_at = 0, None, _now()
            return handoff.id

    def queue(self) -> list[dict[str, Any]]:
        """Queued conversations, first come first served, with their handoff details."""
        with self._sessions() as db:
            rows = db.execute(
                select(Conversation, Handoff)
                .join(Handoff, Handoff.id == Conversation.handoff_id)
                .where(Conversation.state == QUEUED)
                .order_by(Handoff.queued_at, Handoff.id)
            ).all()
            now = _now()
            items = []
            for position, (conv, handoff) in enumerate(rows, 1):
                item = handoff_json(handoff)
                item.update(
                    channel=conv.channel,
                    mode=conv.mode,
                    position=position,
                    waited_s=int((now - as_utc(handoff.queued_at)).total_seconds()),
                )
                items.append(item)
            return items

    def position(self, sender: str) -> int | None:
        for item in self.queue():
            if item["sender"] == sender:
                return int(item["position"])
        return None

    def handoff(self, handoff_id: int | None) -> dict[str, Any] | None:
        if handoff_id is None:
            return None
        with self._sessions() as db:
            row = db.get(Handoff, handoff_id)
            return handoff_json(row) if row else None

    def accept(self, sender: str, agent: str) -> ConversationView:
        with self._sessions.begin() as db:
            taken = _rowcount(
                db.execute(
                    update(Conversation)
                    .where(Conversation.sender == sender, Conversation.state == QUEUED)
                    .values(state=AGENT, agent=agent, updated_at=_now())
                )
            )
            row = db.get(Conversation, sender)
            if row is None:
                raise ConflictError("not_found", "会话不存在或已结束。")
            if not taken:
                if row.state == AGENT:
                    raise ConflictError("already_taken", "该会话已被其他坐席接入。")
                raise ConflictError("not_queued", "市民已不在排队中。")
            handoff = db.get(Handoff, row.handoff_id)
            if handoff is not None:
                handoff.accepted_at, handoff.agent = _now(), agent
            return _view(row)

    def require_served_by(self, sender: str, agent: str) -> ConversationView:
        view = self.get(sender)
        if view is None:
            raise ConflictError("not_found", "会话不存在。")
        if view.state != AGENT or view.agent != agent:
            raise ConflictError("not_yours", "该会话不在您的接待中。")
        return view

    def transfer(self, sender: str, from_agent: str, to_agent: str) -> None:
        with self._sessions.begin() as db:
            moved = _rowcount(
                db.execute(
                    update(Conversation)
                    .where(
                        Conversation.sender == sender,
                        Conversation.state == AGENT,
                        Conversation.agent == from_agent,
                    )
                    .values(agent=to_agent, updated_at=_now())
                )
            )
            if not moved:
                raise ConflictError("not_yours", "该会话不在您的接待中。")
            row = db.get(Conversation, sender)
            handoff = db.get(Handoff, row.handoff_id) if row else None
            if handoff is not None:
                handoff.agent = to_agent

    def end(
        self,
        sender: str,
        *,
        state: str,
        outcome: str,
        category: str | None = None,
        summary: str | None = None,
        ticket: str | None = None,
        pending: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Leave the queue or the agent: back to the bot, or closed. Returns the handoff."""
        with self._sessions.begin() as db:
            row = db.get(Conversation, sender)
            if row is None:
                return None
            handoff = db.get(Handoff, row.handoff_id) if row.handoff_id else None
            row.state, row.agent, row.pending, row.updated_at = state, None, pending, _now()
            row.kb_misses = 0
            if handoff is None:
                return None
            handoff.ended_at, handoff.outcome = _now(), outcome
            handoff.category = category
            handoff.close_summary = mask_pii(summary) if summary else None
            handoff.ticket = ticket
            return handoff_json(handoff)

    def served_by(self, agent: str) -> list[dict[str, Any]]:
        with self._sessions() as db:
            rows = db.execute(
                select(Conversation, Handoff)
                .join(Handoff, Handoff.id == Conversation.handoff_id)
                .where(Conversation.state == AGENT, Conversation.agent == agent)
                .order_by(Handoff.accepted_at)
            ).all()
            return [
                {**handoff_json(h), "channel": c.channel, "mode": c.mode, "state": c.state}
                for c, h in rows
            ]

    def average_handle_s(self, default: float, last: int = 20) -> float:
        """Mean time agents spent per conversation over the latest `last` served ones."""
        with self._sessions() as db:
            rows = db.execute(
                select(Handoff.accepted_at, Handoff.ended_at)
                .where(Handoff.accepted_at.is_not(None), Handoff.ended_at.is_not(None))
                .order_by(Handoff.id.desc())
                .limit(last)
            ).all()
        spans = [(as_utc(e) - as_utc(a)).total_seconds() for a, e in rows if a and e]
        return sum(spans) / len(spans) if len(spans) >= 3 else default
