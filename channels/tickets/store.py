"""12345 tickets (工单): numbering, routing, the handling lifecycle and its time limit.

Numbers are `12345-<yyyymmdd>-<4-digit daily sequence>` (Beijing date; a day with more than
9999 tickets gets 5-digit sequences). A ticket made from a complaint form keeps the form's
receipt (`YS-...`) in `receipt`, and creating it again with the same receipt returns the first
ticket, so a retried hand-over never makes two.

Lifecycle, each change kept as an event (status, note, actor, at):

    受理 → 派单 → 办理 → 答复 → 办结 → 回访
                   ↘ 派单 (改派: another department)

`create` records 受理 (by its actor) and, at once, 派单 to the routed department (actor
"system"), so a new ticket is in 派单. 答复 needs the answer text, 改派 a different department,
回访 a satisfaction rating 1-5. Anything else raises TransitionError with a Chinese message.

Time limit: `time_limit_days` working days from the routing rules (knowledge/tickets.yaml), due
at 23:59:59 Beijing time on the last of them (yishi.calendar.add_working_days), counted from
the day the ticket was received; 改派 does not restart it, since the citizen has been waiting
all along. A ticket is `overdue` while it is not yet answered (受理, 派单, 办理) and the clock is
past `due_at`; once answered it no longer is, even if the answer came late (the history says
when it came).

Personal data: `summary` and `address` are stored masked (yishi.privacy.mask_pii). The contact
mobile, which the callback needs, is stored encrypted with the data keys (`contact_mobile_enc`,
channels/privacy/crypto.py) next to a masked copy; the store's dicts carry it decrypted and the
staff API masks it (unmask: a reason, audited). An anonymous ticket keeps no contact. Every time is stored in UTC and returned as ISO 8601 in Beijing time (+08:00).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, sessionmaker

from channels.core.store import Base
from channels.privacy.crypto import DataCipher
from channels.tickets.routing import TICKET_CATEGORIES, Router, get_router
from yishi.calendar import SHANGHAI, add_working_days
from yishi.privacy import mask_pii

ACCEPTED, DISPATCHED, HANDLING, ANSWERED, CLOSED, REVISITED = (
    "受理",
    "派单",
    "办理",
    "答复",
    "办结",
    "回访",
)
STATUSES = (ACCEPTED, DISPATCHED, HANDLING, ANSWERED, CLOSED, REVISITED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ACCEPTED: (DISPATCHED,),
    DISPATCHED: (HANDLING,),
    HANDLING: (ANSWERED, DISPATCHED),
    ANSWERED: (CLOSED,),
    CLOSED: (REVISITED,),
    REVISITED: (),
}
# not yet answered: only these can be overdue
OPEN_STATUSES = (ACCEPTED, DISPATCHED, HANDLING)
SOURCES = {"form": "网上登记", "handoff": "人工坐席转办", "callback": "回拨登记"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    """A naive datetime is taken as Beijing time."""
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


def iso_local(value: datetime) -> str:
    return _aware(value).astimezone(SHANGHAI).isoformat(timespec="seconds")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored in UTC; always read back timezone-aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _aware(value).astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class TicketCounter(Base):
    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    receipt: Mapped[str | None] = mapped_column(String(24), unique=True, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(160), index=True)
    category: Mapped[str] = mapped_column(String(8))
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    district: Mapped[str | None] = mapped_column(String(16), nullable=True)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)  # masked
    summary: Mapped[str] = mapped_column(Text)  # masked
    contact_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_mobile: Mapped[str | None] = mapped_column(String(20), nullable=True)  # masked
    contact_mobile_enc: Mapped[str | None] = mapped_column(Text, nullable=True)  # Fernet token
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[str] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(8), index=True)
    time_limit_days: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TransitionError(ValueError):
    """The status change is not allowed, or lacks what it needs; the message is Chinese."""


class NotFoundError(LookupError):
    """No ticket with that number."""


def _basis_note(basis: str) -> str:
    kind, _, name = basis.partition(":")
    if kind == "guide":
        return "按办事指南"
    if kind == "rule":
        return f"按关键词规则“{name}”"
    return "按诉求类别"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "是", "匿名", "要匿名", "需要匿名"}
    return bool(value)


def _text_or_none(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


class TicketStore:
    """12345 tickets in the gateway's database. ``now`` is the clock (timezone-aware; a naive
    value is taken as Beijing time); ``router`` defaults to the rules of
    knowledge/tickets.yaml."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        now: Callable[[], datetime] = utc_now,
        router: Router | None = None,
        *,
        cipher: DataCipher,
    ) -> None:
        self._sessions = sessions
        self._now = now
        self._router = router
        self._cipher = cipher

    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = get_router()
        return self._router

    def now(self) -> datetime:
        return _aware(self._now())

    # ------------------------------------------------------------------ reading

    def _contact_mobile(self, ticket: Ticket) -> str | None:
        if ticket.contact_mobile_enc:
            return self._cipher.decrypt(ticket.contact_mobile_enc)
        return ticket.contact_mobile  # filed before encryption (rotate-keys encrypts it)

    def _as_dict(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        contact_mobile = self._contact_mobile(ticket)
        return {
            "number": ticket.number,
            "receipt": ticket.receipt,
            "source": ticket.source,
            "sender": ticket.sender,
            "category": ticket.category,
            "service_id": ticket.service_id,
            "district": ticket.district,
            "address": ticket.address,
            "summary": ticket.summary,
            "contact_name": ticket.contact_name,
            "contact_mobile": contact_mobile,
            "contact_mobile_masked": mask_pii(contact_mobile or "") or None,
            "anonymous": ticket.anonymous,
            "department": ticket.department,
            "status": ticket.status,
            "next_statuses": list(TRANSITIONS[ticket.status]),
            "time_limit_days": ticket.time_limit_days,
            "due_at": iso_local(ticket.due_at),
            "overdue": ticket.status in OPEN_STATUSES and now > ticket.due_at,
            "answer": ticket.answer,
            "rating": ticket.rating,
            "created_at": iso_local(ticket.created_at),
            "updated_at": iso_local(ticket.updated_at),
            "history": [
                {"status": e.status, "note": e.note, "actor": e.actor, "at": iso_local(e.at)}
                for e in ticket.events
            ],
        }

    def get(self, number: str) -> dict[str, Any] | None:
        with self._sessions() as db:
            ticket = db.scalar(select(Ticket).where(Ticket.number == number))
            return None if ticket is None else self._as_dict(ticket, self.now())

    def get_by_receipt(self, receipt: str) -> dict[str, Any] | None:
        """The ticket made from the form submission with this receipt (`YS-...`)."""
        with self._sessions() as db:
            ticket = db.scalar(select(Ticket).where(Ticket.receipt == receipt))
            return None if ticket is None else self._as_dict(ticket, self.now())

    def list(
        self,
        status: str | None = None,
        overdue: bool | None = None,
        sender: str | None = None,
        limit: int = 100,
    ) -> builtins.list[dict[str, Any]]:
        """Newest first. ``overdue=True``: open and past due; ``False``: all others."""
        now = self.now()
        query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
        if status:
            query = query.where(Ticket.status == status)
        if sender:
            query = query.where(Ticket.sender == sender)
        if overdue is True:
            query = query.where(Ticket.status.in_(OPEN_STATUSES), Ticket.due_at < now)
        elif overdue is False:
            query = query.where(or_(Ticket.status.not_in(OPEN_STATUSES), Ticket.due_at >= now))
        with self._sessions() as db:
            return [self._as_dict(t, now) for t in db.scalars(query).all()]

    def for_sender(self, sender: str, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The tickets of one conversation (`"<channel>:<id>"`), newest first."""
        return self.list(sender=sender, limit=limit)

    # ------------------------------------------------------------------ writing

    def _next_number(self, db: Session, now: datetime) -> str:
        day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
        counter = db.get(TicketCounter, day, with_for_update=True)
        if counter is None:
            counter = TicketCounter(day=day, last=0)
            db.add(counter)
        counter.last += 1
        db.flush()
        return f"12345-{day}-{counter.last:04d}"

    def create(
        self,
        source: str,
        sender: str,
        category: str,
        summary: str,
        district: str | None = None,
        address: str | None = None,
        service_id: str | None = None,
        contact_name: str | None = None,
        contact_mobile: str | None = None,
        anonymous: bool = False,
        receipt: str | None = None,
        actor: str = "system",
    ) -> dict[str, Any]:
        """Register a ticket and dispatch it; the dict has ``created`` False when a ticket
        with this ``receipt`` already existed (that one is returned unchanged)."""
        if source not in SOURCES:
            raise ValueError(f"工单来源“{source}”不存在，只能是{'、'.join(SOURCES)}之一。")
        if category not in TICKET_CATEGORIES:
            raise ValueError(
                f"诉求类别“{category}”不存在，只能是{'、'.join(TICKET_CATEGORIES)}之一。"
            )
        text = (summary or "").strip()
        if not text:
            raise ValueError("诉求内容不能为空。")
        routing = self.router.route(category, text, service_id, district)
        if anonymous:
            contact_name = contact_mobile = None
        mobile = _text_or_none(contact_mobile)
        for attempt in range(3):
            try:
                with self._sessions.begin() as db:
                    now = self.now()
                    if receipt:
                        existing = db.scalar(select(Ticket).where(Ticket.receipt == receipt))
                        if existing is not None:
                            return {**self._as_dict(existing, now), "created": False}
                    ticket = Ticket(
                        number=self._next_number(db, now),
                        receipt=receipt or None,
                        source=source,
                        sender=sender,
                        category=category,
                        service_id=service_id or None,
                        district=district or None,
                        address=mask_pii(address.strip()) if address else None,
                        summary=mask_pii(text),
                        contact_name=_text_or_none(contact_name),
                        contact_mobile=mask_pii(mobile) if mobile else None,
                        contact_mobile_enc=self._cipher.encrypt(mobile) if mobile else None,
                        anonymous=anonymous,
                        department=routing.department,
                        status=DISPATCHED,
                        time_limit_days=routing.time_limit_days,
                        due_at=add_working_days(now, routing.time_limit_days),
                        created_at=now,
                        updated_at=now,
                    )
                    ticket.events.append(
                        TicketEvent(status=ACCEPTED, note=SOURCES[source], actor=actor, at=now)
                    )
                    ticket.events.append(
                        TicketEvent(
                            status=DISPATCHED,
                            note=f"{_basis_note(routing.basis)}派至{routing.department}",
                            actor="system",
                            at=now,
                        )
                    )
                    db.add(ticket)
                    db.flush()
                    return {**self._as_dict(ticket, now), "created": True}
            except (IntegrityError, OperationalError):
                # the same receipt was registered concurrently, or the database was busy:
                # try again, which reads the winner back
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def create_from_form(self, receipt: str, sender: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A ticket from a submitted complaint form (complaint_12345_ticket): its fields
        category, district, address, description, anonymous, contact_name, mobile."""
        return self.create(
            source="form",
            sender=sender,
            category=str(fields.get("category") or ""),
            summary=str(fields.get("description") or ""),
            district=_text_or_none(fields.get("district")),
            address=_text_or_none(fields.get("address")),
            service_id=_text_or_none(fields.get("service_id")),
            contact_name=_text_or_none(fields.get("contact_name") or fields.get("name")),
            contact_mobile=_text_or_none(fields.get("mobile")),
            anonymous=_truthy(fields.get("anonymous")),
            receipt=receipt,
            actor="citizen",
        )

    def transition(
        self,
        number: str,
        status: str,
        actor: str,
        note: str = "",
        answer: str | None = None,
        department: str | None = None,
        rating: int | None = None,
    ) -> dict[str, Any]:
        """Move a ticket on. ``answer`` is needed for 答复, ``department`` for 改派 (办理 →
        派单), ``rating`` (1-5) for 回访; each is ignored for the other statuses."""
        note = (note or "").strip()
        with self._sessions.begin() as db:
            ticket = db.scalar(select(Ticket).where(Ticket.number == number))
            if ticket is None:
                raise NotFoundError(f"没有编号为{number}的工单。")
            if status not in STATUSES:
                raise TransitionError(f"没有“{status}”这个工单状态，只能是{'、'.join(STATUSES)}。")
            allowed = TRANSITIONS[ticket.status]
            if status not in allowed:
                hint = f"下一步只能是{'或'.join(f'“{s}”' for s in allowed)}。" if allowed else ""
                raise TransitionError(
                    f"工单{number}当前是“{ticket.status}”，不能改为“{status}”。{hint}"
                )
            if status == ANSWERED:
                text = (answer or "").strip()
                if not text:
                    raise TransitionError("答复时必须填写答复内容。")
                ticket.answer = text
            elif status == DISPATCHED:
                new = (department or "").strip()
                if not new:
                    raise TransitionError("改派时必须指定新的承办部门。")
                if new == ticket.department:
                    raise TransitionError(f"工单已由{new}承办，改派请指定另一个部门。")
                moved = f"由{ticket.department}改派至{new}"
                note = f"{moved}：{note}" if note else moved
                ticket.department = new
            elif status == REVISITED:
                if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
                    raise TransitionError("回访时必须记录满意度评分（1到5分）。")
                ticket.rating = rating
                note = f"满意度{rating}分：{note}" if note else f"满意度{rating}分"
            now = self.now()
            ticket.status = status
            ticket.updated_at = now
            ticket.events.append(TicketEvent(status=status, note=note, actor=actor, at=now))
            db.flush()
            return self._as_dict(ticket, now)
