"""The knowledge loop's records in the gateway's database: the history of every knowledge
edit (who, when, which field, before and after) and FAQ drafts made from agents' replies.

A draft's states: 草稿 `draft` → 已通过 `approved` → 已发布 `published`, or 已驳回 `rejected`.
An admin may edit a draft or an approved one (which sends it back to `draft`, to be approved
again); only an approved draft is published, and publishing writes it into knowledge/faq/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from channels.core.store import Base, _now, iso

DRAFT, APPROVED, REJECTED, PUBLISHED = "draft", "approved", "rejected", "published"
DRAFT_STATES = (DRAFT, APPROVED, REJECTED, PUBLISHED)
DRAFT_TRANSITIONS: dict[str, set[str]] = {
    DRAFT: {APPROVED, REJECTED},
    APPROVED: {PUBLISHED, REJECTED, DRAFT},
    REJECTED: set(),
    PUBLISHED: set(),
}
STATE_NAMES = {DRAFT: "待审核", APPROVED: "已通过", REJECTED: "已驳回", PUBLISHED: "已发布"}
DRAFT_FIELDS = ("question", "answer", "phrasings", "service_id", "aspect", "department")


class KbEdit(Base):
    __tablename__ = "kb_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # guide | faq
    target: Mapped[str] = mapped_column(String(100), index=True)  # service id | FAQ entry id
    action: Mapped[str] = mapped_column(String(16), default="edit")  # edit | publish
    file: Mapped[str] = mapped_column(String(200))
    version_before: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[str] = mapped_column(String(32))
    effective_date: Mapped[str] = mapped_column(String(10), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any]] = mapped_column(JSON)  # changed path → old value
    after: Mapped[dict[str, Any]] = mapped_column(JSON)  # changed path → new value
    sha_before: Mapped[str] = mapped_column(String(64), default="")
    sha_after: Mapped[str] = mapped_column(String(64), default="")


class FaqDraft(Base):
    __tablename__ = "faq_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default=DRAFT, index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    phrasings: Mapped[list[str]] = mapped_column(JSON, default=list)
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    aspect: Mapped[str | None] = mapped_column(String(16), nullable=True)
    department: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # where it came from: the conversation and the agent's message
    sender: Mapped[str] = mapped_column(String(160), default="")
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(Text, default="")
    faq_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # every step: {"at", "actor", "action", "state", "note"}
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class DraftError(ValueError):
    def __init__(self, code: str, detail: str, status_code: int = 409) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status_code = status_code


def edit_json(row: KbEdit) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "actor": row.actor,
        "kind": row.kind,
        "target": row.target,
        "action": row.action,
        "file": row.file,
        "version_before": row.version_before,
        "version": row.version,
        "effective_date": row.effective_date,
        "note": row.note,
        "before": row.before,
        "after": row.after,
    }


def draft_json(row: FaqDraft) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "state_name": STATE_NAMES.get(row.state, row.state),
        "question": row.question,
        "answer": row.answer,
        "phrasings": list(row.phrasings or []),
        "service_id": row.service_id,
        "aspect": row.aspect,
        "department": row.department,
        "sender": row.sender,
        "message_id": row.message_id,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "reviewed_by": row.reviewed_by,
        "reviewed_at": iso(row.reviewed_at),
        "review_note": row.review_note,
        "faq_id": row.faq_id,
        "published_at": iso(row.published_at),
        "history": list(row.history or []),
    }


def _step(actor: str, action: str, state: str, note: str = "") -> dict[str, Any]:
    return {"at": iso(_now()), "actor": actor, "action": action, "state": state, "note": note}


class KbStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- edit history ----------------------------------------------------------------------

    def record_edit(self, actor: str, note: str, action: str = "edit", **fields: Any) -> int:
        with self._sessions.begin() as db:
            row = KbEdit(actor=actor, note=note, action=action, **fields)
            db.add(row)
            db.flush()
            return row.id

    def edits(
        self, kind: str | None = None, target: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        with self._sessions() as db:
            query = select(KbEdit).order_by(KbEdit.id.desc()).limit(limit)
            if kind:
                query = query.where(KbEdit.kind == kind)
            if target:
                query = query.where(KbEdit.target == target)
            return [edit_json(r) for r in db.scalars(query)]

    # -- FAQ drafts ------------------------------------------------------------------------

    def create_draft(self, actor: str, **fields: Any) -> dict[str, Any]:
        with self._sessions.begin() as db:
            row = FaqDraft(
                created_by=actor,
                history=[_step(actor, "create", DRAFT)],
                **{k: v for k, v in fields.items() if k in (*DRAFT_FIELDS, "sender", "message_id")},
            )
            db.add(row)
            db.flush()
            return draft_json(row)

    def drafts(
        self, state: str | None = None, created_by: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        with self._sessions() as db:
            query = select(FaqDraft).order_by(FaqDraft.id.desc()).limit(limit)
            if state:
                query = query.where(FaqDraft.state == state)
            if created_by:
                query = query.where(FaqDraft.created_by == created_by)
            return [draft_json(r) for r in db.scalars(query)]

    def draft_for_message(self, sender: str, message_id: int) -> dict[str, Any] | None:
        """The open or published draft made from this message, if any (a rejected one may be
        made again)."""
        with self._sessions() as db:
            row = db.scalar(
                select(FaqDraft)
                .where(
                    FaqDraft.sender == sender,
                    FaqDraft.message_id == message_id,
                    FaqDraft.state != REJECTED,
                )
                .limit(1)
            )
            return draft_json(row) if row else None

    def draft(self, draft_id: int) -> dict[str, Any] | None:
        with self._sessions() as db:
            row = db.get(FaqDraft, draft_id)
            return draft_json(row) if row else None

    def update_draft(self, draft_id: int, actor: str, **fields: Any) -> dict[str, Any]:
        """Edit a draft's text; an approved draft goes back to `draft` (approve it again)."""
        with self._sessions.begin() as db:
            row = self._row(db, draft_id)
            if row.state not in (DRAFT, APPROVED):
                raise DraftError("draft_closed", f"该草稿{STATE_NAMES[row.state]}，不能再修改。")
            changed = [k for k in DRAFT_FIELDS if k in fields and getattr(row, k) != fields[k]]
            for key in changed:
                setattr(row, key, fields[key])
            if changed:
                row.state = DRAFT
                row.updated_at = _now()
                row.history = [
                    *(row.history or []),
                    _step(actor, "edit", DRAFT, "、".join(changed)),
                ]
            return draft_json(row)

    def transition(
        self, draft_id: int, actor: str, to: str, note: str = "", faq_id: str | None = None
    ) -> dict[str, Any]:
        with self._sessions.begin() as db:
            row = self._row(db, draft_id)
            check_transition(row.state, to)
            now = _now()
            row.state = to
            row.updated_at = now
            if to in (APPROVED, REJECTED):
                row.reviewed_by, row.reviewed_at, row.review_note = actor, now, note
            if to == PUBLISHED:
                row.faq_id, row.published_at = faq_id, now
            row.history = [*(row.history or []), _step(actor, to, to, note)]
            return draft_json(row)

    @staticmethod
    def _row(db: Session, draft_id: int) -> FaqDraft:
        row = db.get(FaqDraft, draft_id, with_for_update=True)
        if row is None:
            raise DraftError("draft_not_found", "没有这份草稿。", 404)
        return row


def check_transition(state: str, to: str) -> None:
    if to not in DRAFT_STATES:
        raise DraftError("bad_state", "目标状态只能是 approved、rejected 或 published。", 422)
    if to not in DRAFT_TRANSITIONS.get(state, set()):
        if to == PUBLISHED and state == DRAFT:
            raise DraftError("not_approved", "草稿需先审核通过才能发布。")
        raise DraftError(
            "bad_transition",
            f"草稿当前{STATE_NAMES.get(state, state)}，不能改为{STATE_NAMES[to]}。",
        )
