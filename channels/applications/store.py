"""Applications filed through guided filing: receipts, idempotent submission, status history.

Receipt numbers are `YS-<yyyymmdd>-<6-digit daily sequence>`. A submission carries an
idempotency key (conversation + form + form session), so a repeated 确认 or a retried request
returns the first record instead of making a second one. Status changes follow the lifecycle
已提交 → 已受理 → 已办结 / 已退回 and each one is kept in the history shown by progress lookup.

Personal data: the form's fields are stored twice — `fields_enc`, the whole form encrypted with
the data keys (channels/privacy/crypto.py), is the only copy of the raw values; `fields` is a
masked copy (身份证号, 手机号, 银行卡号 masked) that staff lists show. `personal_fields` decrypts
for an audited unmask.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, sessionmaker

from channels.core.store import Base, _now
from channels.privacy.crypto import DataCipher
from yishi.appointments import TIME_SLOTS
from yishi.privacy import mask_pii

SUBMITTED, ACCEPTED, COMPLETED, RETURNED = "已提交", "已受理", "已办结", "已退回"
TRANSITIONS: dict[str, set[str]] = {
    SUBMITTED: {ACCEPTED, RETURNED},
    ACCEPTED: {COMPLETED, RETURNED},
    COMPLETED: set(),
    RETURNED: set(),
}
FORM_IDS = (
    "id_card_lost_appointment",
    "fund_withdraw_rent_application",
    "medical_remote_filing_application",
    "complaint_12345_ticket",
)


# How many citizens each appointment time slot takes is a setting (appointment_slot_capacity).


class SlotFullError(ValueError):
    """The appointment time slot has no capacity left."""


class AppointmentSlot(Base):
    __tablename__ = "appointment_slots"

    hall: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    slot: Mapped[str] = mapped_column(String(16), primary_key=True)
    booked: Mapped[int] = mapped_column(Integer, default=0)


class ReceiptCounter(Base):
    __tablename__ = "receipt_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt: Mapped[str] = mapped_column(String(24), unique=True, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    form_id: Mapped[str] = mapped_column(String(64), index=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    status: Mapped[str] = mapped_column(String(8), default=SUBMITTED)
    mobile_last4: Mapped[str] = mapped_column(String(4))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)  # masked copy
    # the form as filed, encrypted (Fernet token); NULL once anonymised by the purge
    fields_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id", cascade="all, delete-orphan"
    )


class ApplicationEvent(Base):
    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    application: Mapped[Application] = relationship(back_populates="events")


class TransitionError(ValueError):
    pass


class NotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class Submitted:
    receipt: str
    status: str
    created: bool


def masked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's fields with personal numbers masked (text values only)."""
    return {k: mask_pii(v) if isinstance(v, str) else v for k, v in fields.items()}


def _history(app: Application) -> list[dict[str, str]]:
    return [
        {"status": e.status, "note": e.note, "at": e.created_at.isoformat(timespec="seconds")}
        for e in app.events
    ]


class ApplicationStore:
    def __init__(
        self, sessions: sessionmaker[Session], slot_capacity: int = 3, *, cipher: DataCipher
    ) -> None:
        self._sessions = sessions
        self.slot_capacity = slot_capacity
        self._cipher = cipher

    def availability(self, hall: str, day: str) -> dict[str, int]:
        """Places left in each time slot of a hall on a day."""
        with self._sessions() as db:
            booked = {
                row.slot: row.booked
                for row in db.scalars(
                    select(AppointmentSlot).where(
                        AppointmentSlot.hall == hall, AppointmentSlot.day == day
                    )
                )
            }
        return {slot: max(0, self.slot_capacity - booked.get(slot, 0)) for slot in TIME_SLOTS}

    def _book(self, db: Session, fields: dict[str, Any]) -> None:
        hall, day, slot = fields.get("hall"), fields.get("appt_date"), fields.get("time_slot")
        if not (hall and day and slot):
            return
        row = db.get(AppointmentSlot, (hall, day, slot), with_for_update=True)
        if row is None:
            row = AppointmentSlot(hall=hall, day=day, slot=slot, booked=0)
            db.add(row)
        if row.booked >= self.slot_capacity:
            raise SlotFullError(f"{hall} {day} {slot}")
        row.booked += 1

    def _next_receipt(self, db: Session, today: dt.date) -> str:
        day = today.strftime("%Y%m%d")
        counter = db.get(ReceiptCounter, day, with_for_update=True)
        if counter is None:
            counter = ReceiptCounter(day=day, last=0)
            db.add(counter)
        counter.last += 1
        db.flush()
        return f"YS-{day}-{counter.last:06d}"

    def submit(
        self,
        *,
        form_id: str,
        sender: str,
        idempotency_key: str,
        fields: dict[str, Any],
        mobile: str,
        today: dt.date | None = None,
    ) -> Submitted:
        for attempt in range(3):
            try:
                with self._sessions.begin() as db:
                    existing = db.scalar(
                        select(Application).where(Application.idempotency_key == idempotency_key)
                    )
                    if existing is not None:
                        return Submitted(existing.receipt, existing.status, created=False)
                    if form_id == "id_card_lost_appointment":
                        self._book(db, fields)
                    receipt = self._next_receipt(db, today or dt.date.today())
                    app = Application(
                        receipt=receipt,
                        idempotency_key=idempotency_key,
                        form_id=form_id,
                        sender=sender,
                        status=SUBMITTED,
                        mobile_last4=mobile[-4:],
                        fields=masked_fields(fields),
                        fields_enc=self._cipher.encrypt_json(fields),
                    )
                    app.events.append(ApplicationEvent(status=SUBMITTED, note="网上提交"))
                    db.add(app)
                return Submitted(receipt, SUBMITTED, created=True)
            except (IntegrityError, OperationalError):
                # a concurrent submission with the same key won, or the database was busy:
                # try again, which reads the winner back
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def lookup(self, receipt: str, mobile_last4: str) -> dict[str, Any] | None:
        """The application if both match; None otherwise, whichever part was wrong."""
        with self._sessions() as db:
            app = db.scalar(select(Application).where(Application.receipt == receipt))
            if app is None or app.mobile_last4 != mobile_last4:
                return None
            return {
                "receipt": app.receipt,
                "form_id": app.form_id,
                "status": app.status,
                "submitted_at": app.created_at.isoformat(timespec="seconds"),
                "history": _history(app),
            }

    def personal_fields(self, receipt: str) -> dict[str, Any]:
        """The form as filed, decrypted (for an audited unmask); {} once anonymised."""
        with self._sessions() as db:
            app = db.scalar(select(Application).where(Application.receipt == receipt))
            if app is None:
                raise NotFoundError(receipt)
            if app.fields_enc is None:
                return dict(app.fields)  # anonymised, or filed before encryption (rotate-keys)
            found: dict[str, Any] = self._cipher.decrypt_json(app.fields_enc)
            return found

    def set_status(self, receipt: str, status: str, note: str, actor: str) -> dict[str, Any]:
        with self._sessions.begin() as db:
            app = db.scalar(select(Application).where(Application.receipt == receipt))
            if app is None:
                raise NotFoundError(receipt)
            if status not in TRANSITIONS.get(app.status, set()):
                raise TransitionError(f"{app.status} → {status}")
            app.status = status
            app.updated_at = _now()
            app.events.append(ApplicationEvent(status=status, note=note, actor=actor))
            db.flush()
            return {"receipt": app.receipt, "status": app.status, "history": _history(app)}

    def list(
        self,
        status: str | None = None,
        form_id: str | None = None,
        limit: int = 100,
        sender: str | None = None,
    ) -> list[Application]:
        with self._sessions() as db:
            query = select(Application).order_by(Application.id.desc()).limit(limit)
            if sender:
                query = query.where(Application.sender == sender)
            if status:
                query = query.where(Application.status == status)
            if form_id:
                query = query.where(Application.form_id == form_id)
            return list(db.scalars(query).all())
