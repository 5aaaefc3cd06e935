"""The knowledge-improvement loop: hit testing, guide and FAQ edits, FAQ drafts from agents'
replies, and index rebuilds with progress (the page `GET /admin/kb`, admin role).

    GET   /admin/kb                                  the page (anyone; it asks to log in)
    GET   /api/admin/kb/guides                       every guide: id, name, version, date
    GET   /api/admin/kb/guides/{service_id}          one guide: YAML data, fields, sha, history
    PATCH /api/admin/kb/guides/{service_id}          {path, value | changes[], version,
                                                      effective_date, note, base_sha?}
    GET   /api/admin/kb/faq, /api/admin/kb/faq/{id}  FAQ entries under knowledge/faq/
    PATCH /api/admin/kb/faq/{id}                     as for guides
    GET   /api/admin/kb/history?kind&target          the edit history (who, when, before/after)
    GET   /api/admin/kb/drafts?state=…               FAQ drafts
    PATCH /api/admin/kb/drafts/{id}                  edit a draft's text
    POST  /api/admin/kb/drafts/{id}/transition       {to: approved | rejected | published, note}
    POST  /api/admin/kb/rebuild                      start `python -m retrieval.build` (202; 409)
    GET   /api/admin/kb/rebuild                      running/idle, progress, last result
    POST  /api/agent/faq-drafts                      an agent's own reply → FAQ draft (agent)
    GET   /api/agent/faq-drafts                      the drafts this agent made (agent)

Hit testing is `POST /api/kb/search` (channels/kb/routes.py). An edit or a published draft
reaches citizens after a rebuild; until then the running index keeps answering.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from channels.admin.routes import STATIC_DIR
from channels.agent_console.accounts import AccountStore, Staff
from channels.agent_console.auth import AdminDep, StaffDep, client_of
from channels.core.schemas import SENDER_PATTERN
from channels.errors import YishiError
from channels.kb.editor import Change, Edited, EditError, KnowledgeEditor
from channels.kb.rebuild import RebuildBusyError, RebuildRunner
from channels.kb.store import (
    DRAFT_STATES,
    PUBLISHED,
    REJECTED,
    DraftError,
    KbStore,
    check_transition,
)
from retrieval.config import RetrievalSettings
from retrieval.schema import ASPECTS
from yishi.calendar import SHANGHAI

logger = logging.getLogger(__name__)
router = APIRouter(tags=["knowledge admin"])

# what citizens say to reach or leave a person is not the question an answer belongs to
_CONTROL = re.compile(
    r"^(?:人工|真人|不等了|登记回电|你好|您好|在吗|还在吗|谢谢|好的)[。！!？?]*$|转人工|找真人|人工客服|我要人工"
)


@dataclass
class KnowledgeAdmin:
    """What the routes need: the files, the records and the rebuild runner."""

    editor: KnowledgeEditor
    store: KbStore
    runner: RebuildRunner

    @classmethod
    def create(
        cls,
        sessions: sessionmaker[Session],
        settings: RetrievalSettings,
        accounts: AccountStore | None = None,
        command: list[str] | None = None,
    ) -> KnowledgeAdmin:
        def finished(result: dict[str, Any]) -> None:
            if accounts is not None:
                accounts.audit(
                    "kb-rebuild",
                    "kb_rebuild_done" if result.get("ok") else "kb_rebuild_failed",
                    str(result.get("kb_version") or ""),
                    detail={k: result.get(k) for k in ("started_by", "seconds", "error")},
                )

        return cls(
            KnowledgeEditor(settings.knowledge_dir),
            KbStore(sessions),
            RebuildRunner(settings, on_finish=finished, command=command),
        )


def _kb_admin(request: Request) -> KnowledgeAdmin:
    admin: KnowledgeAdmin = request.app.state.kb_admin
    return admin


KbAdminDep = Annotated[KnowledgeAdmin, Depends(_kb_admin)]


def _refused(exc: EditError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code)


def _draft_error(exc: DraftError) -> YishiError:
    return YishiError(exc.code, exc.detail, exc.status_code)


def _audit(request: Request, staff: Staff, action: str, target: str, **kw: Any) -> Any:
    accounts: AccountStore = request.app.state.accounts
    return run_in_threadpool(
        lambda: accounts.audit(staff, action, target, client=client_of(request), **kw)
    )


def _no_rebuild_running(kb: KnowledgeAdmin) -> None:
    # an edit landing while the build reads knowledge/ would be half in the new index
    if kb.runner.running_anywhere():
        raise YishiError("rebuild_running", "正在重建索引，请等重建完成后再保存修改。", 409)


# ---------------------------------------------------------------------- page


@router.get("/admin/kb", include_in_schema=False)
async def kb_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "kb.html", headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------- guide and FAQ edits


class ChangeBody(BaseModel):
    path: str = Field(min_length=1, max_length=120, examples=["fee.amount"])
    value: Any = None
    value_yaml: str | None = Field(None, max_length=20_000)


class EditBody(BaseModel):
    """One field (`path` + `value`), a whole section (`path` "fee", `value` an object) or
    several fields at once (`changes`), always with a new version and its effective date."""

    path: str | None = Field(None, max_length=120, examples=["fee.amount"])
    value: Any = None
    value_yaml: str | None = Field(None, max_length=20_000)
    changes: list[ChangeBody] = Field(default_factory=list, max_length=40)
    version: str = Field(min_length=1, max_length=32, examples=["2026.2"])
    effective_date: str = Field(min_length=1, max_length=32, examples=["2026-12-01"])
    note: str = Field("", max_length=500)
    base_sha: str | None = Field(None, max_length=64)

    def all_changes(self) -> list[Change]:
        changes = [Change(c.path, c.value, c.value_yaml) for c in self.changes]
        if self.path:
            changes.insert(0, Change(self.path, self.value, self.value_yaml))
        return changes


async def _record(
    request: Request, kb: KnowledgeAdmin, staff: Staff, edited: Edited, note: str, action: str
) -> dict[str, Any]:
    fields = asdict(edited)
    edit_id = await run_in_threadpool(
        lambda: kb.store.record_edit(
            staff.username,
            note,
            action,
            kind=edited.kind,
            target=edited.target,
            file=edited.file,
            version_before=edited.version_before,
            version=edited.version,
            effective_date=edited.effective_date,
            before=edited.before,
            after=edited.after,
            sha_before=edited.sha_before,
            sha_after=edited.sha,
        )
    )
    await _audit(
        request, staff, f"kb_{action}_{edited.kind}", f"{edited.kind}:{edited.target}",
        reason=note,
        detail={"paths": sorted(edited.after), "version": edited.version,
                "version_before": edited.version_before, "edit_id": edit_id},
    )  # fmt: skip
    return {**fields, "edit_id": edit_id, "pending_rebuild": True}


@router.get("/api/admin/kb/guides")
async def list_guides(admin: AdminDep, kb: KbAdminDep) -> dict[str, Any]:
    return {"items": await run_in_threadpool(kb.editor.guides)}


@router.get("/api/admin/kb/guides/{service_id}")
async def get_guide(service_id: str, admin: AdminDep, kb: KbAdminDep) -> Any:
    try:
        guide = await run_in_threadpool(kb.editor.guide, service_id)
    except EditError as exc:
        return _refused(exc)
    guide["history"] = await run_in_threadpool(kb.store.edits, "guide", service_id, 20)
    return guide


@router.patch("/api/admin/kb/guides/{service_id}")
async def edit_guide(
    service_id: str, body: EditBody, request: Request, admin: AdminDep, kb: KbAdminDep
) -> Any:
    """Change a guide field or section with a new version and effective date. The whole new
    guide is validated before the file is replaced; a bad value answers 422 naming the field."""
    _no_rebuild_running(kb)
    try:
        edited = await run_in_threadpool(
            kb.editor.edit_guide, service_id, body.all_changes(), body.version,
            body.effective_date, body.base_sha,
        )  # fmt: skip
    except EditError as exc:
        return _refused(exc)
    return await _record(request, kb, admin, edited, body.note.strip(), "edit")


@router.get("/api/admin/kb/faq")
async def list_faq(admin: AdminDep, kb: KbAdminDep) -> dict[str, Any]:
    return {"items": await run_in_threadpool(kb.editor.faq_entries)}


@router.get("/api/admin/kb/faq/{entry_id}")
async def get_faq(entry_id: str, admin: AdminDep, kb: KbAdminDep) -> Any:
    try:
        entry = await run_in_threadpool(kb.editor.faq, entry_id)
    except EditError as exc:
        return _refused(exc)
    entry["history"] = await run_in_threadpool(kb.store.edits, "faq", entry_id, 20)
    return entry


@router.patch("/api/admin/kb/faq/{entry_id}")
async def edit_faq(
    entry_id: str, body: EditBody, request: Request, admin: AdminDep, kb: KbAdminDep
) -> Any:
    _no_rebuild_running(kb)
    try:
        edited = await run_in_threadpool(
            kb.editor.edit_faq, entry_id, body.all_changes(), body.version,
            body.effective_date, body.base_sha,
        )  # fmt: skip
    except EditError as exc:
        return _refused(exc)
    return await _record(request, kb, admin, edited, body.note.strip(), "edit")


@router.get("/api/admin/kb/history")
async def history(
    admin: AdminDep,
    kb: KbAdminDep,
    kind: Annotated[Literal["guide", "faq"] | None, Query()] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return {"items": await run_in_threadpool(kb.store.edits, kind, target, limit)}


# ---------------------------------------------------------------------- FAQ drafts


class DraftBody(BaseModel):
    sender: str = Field(pattern=SENDER_PATTERN)
    message_id: int = Field(ge=1)
    question: str | None = Field(None, max_length=500)
    answer: str | None = Field(None, max_length=4000)
    service_id: str | None = Field(None, max_length=64)


class DraftEditBody(BaseModel):
    question: str | None = Field(None, max_length=500)
    answer: str | None = Field(None, max_length=4000)
    phrasings: list[str] | None = Field(None, max_length=20)
    service_id: str | None = Field(None, max_length=64)
    aspect: str | None = Field(None, max_length=16)
    department: str | None = Field(None, max_length=100)


class TransitionBody(BaseModel):
    to: Literal["approved", "rejected", "published", "draft"]
    note: str = Field("", max_length=500)


def _text_field(name: str, value: str | None, label: str) -> str:
    text = (value or "").strip()
    if len(text) < 4:
        raise EditError(
            "invalid_value", f"字段 {name}（{label}）不合法：至少需要4个字。", field=name
        )
    return text


def _service_field(kb: KnowledgeAdmin, service_id: str | None) -> str | None:
    if not service_id:
        return None
    if service_id not in kb.editor.services():
        raise EditError(
            "invalid_value",
            f"字段 service_id（所属事项）不合法：没有编码为“{service_id}”的事项。",
            field="service_id",
        )
    return service_id


def _draft_source(
    messages: list[dict[str, Any]], message_id: int
) -> tuple[dict[str, Any], str, str | None]:
    """The agent's message, the citizen question before it and the service last answered."""
    index = next((i for i, m in enumerate(messages) if m.get("id") == message_id), None)
    if index is None:
        raise YishiError("message_not_found", "在该会话中没有找到这条消息。", 404)
    message = messages[index]
    earlier = messages[:index]
    question = next(
        (
            m["text"]
            for m in reversed(earlier)
            if m.get("author") == "citizen" and not _CONTROL.search(m.get("text") or "")
        ),
        "",
    )
    service = next(
        (
            ((m.get("trace") or {}).get("kb") or {}).get("service_id")
            for m in reversed(earlier)
            if ((m.get("trace") or {}).get("kb") or {}).get("service_id")
        ),
        None,
    )
    return message, question, service


@router.post("/api/agent/faq-drafts", status_code=201)
async def promote(body: DraftBody, request: Request, staff: StaffDep, kb: KbAdminDep) -> Any:
    """An agent's own reply in a conversation becomes an FAQ draft for admins to review; the
    question defaults to the citizen's question before it."""
    transcript = request.app.state.handoff.transcript
    messages = await run_in_threadpool(transcript.history, body.sender, 500)
    message, question, service = _draft_source(messages, body.message_id)
    if message.get("author") != "agent":
        raise YishiError("not_an_agent_reply", "只能把坐席发出的回复转为FAQ草稿。", 422)
    if staff.role != "admin" and message.get("agent") != staff.username:
        raise YishiError("not_your_reply", "只能把自己发出的回复转为FAQ草稿。", 403)
    existing = await run_in_threadpool(kb.store.draft_for_message, body.sender, body.message_id)
    if existing is not None:
        raise YishiError(
            "already_drafted", f"这条回复已经转为FAQ草稿（编号{existing['id']}）。", 409
        )
    try:
        fields: dict[str, Any] = {
            "question": _text_field("question", body.question or question, "问题"),
            "answer": _text_field("answer", body.answer or message.get("text"), "答案"),
            "service_id": _service_field(kb, body.service_id or service),
            "phrasings": [],
            "sender": body.sender,
            "message_id": body.message_id,
        }
    except EditError as exc:
        return _refused(exc)
    draft = await run_in_threadpool(lambda: kb.store.create_draft(staff.username, **fields))
    await _audit(request, staff, "faq_draft_create", f"draft:{draft['id']}",
                 detail={"sender": body.sender, "message_id": body.message_id})  # fmt: skip
    return draft


@router.get("/api/agent/faq-drafts")
async def my_drafts(staff: StaffDep, kb: KbAdminDep) -> dict[str, Any]:
    return {"items": await run_in_threadpool(kb.store.drafts, None, staff.username, 100)}


@router.get("/api/admin/kb/drafts")
async def list_drafts(
    admin: AdminDep,
    kb: KbAdminDep,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    if state and state not in DRAFT_STATES:
        raise YishiError("bad_state", "状态只能是 draft、approved、rejected 或 published。", 422)
    return {"items": await run_in_threadpool(kb.store.drafts, state or None, None, 200)}


@router.get("/api/admin/kb/drafts/{draft_id}")
async def get_draft(draft_id: int, admin: AdminDep, kb: KbAdminDep) -> dict[str, Any]:
    draft = await run_in_threadpool(kb.store.draft, draft_id)
    if draft is None:
        raise YishiError("draft_not_found", "没有这份草稿。", 404)
    return draft


@router.patch("/api/admin/kb/drafts/{draft_id}")
async def edit_draft(
    draft_id: int, body: DraftEditBody, request: Request, admin: AdminDep, kb: KbAdminDep
) -> Any:
    fields: dict[str, Any] = {}
    try:
        if body.question is not None:
            fields["question"] = _text_field("question", body.question, "问题")
        if body.answer is not None:
            fields["answer"] = _text_field("answer", body.answer, "答案")
        if body.phrasings is not None:
            fields["phrasings"] = [p.strip() for p in body.phrasings if p.strip()]
        if body.service_id is not None:
            fields["service_id"] = _service_field(kb, body.service_id.strip())
        if body.aspect is not None:
            aspect = body.aspect.strip() or None
            if aspect is not None and aspect not in ASPECTS:
                raise EditError("invalid_value", "字段 aspect（所属方面）不合法。", field="aspect")
            fields["aspect"] = aspect
        if body.department is not None:
            fields["department"] = body.department.strip() or None
    except EditError as exc:
        return _refused(exc)
    try:
        draft = await run_in_threadpool(
            lambda: kb.store.update_draft(draft_id, admin.username, **fields)
        )
    except DraftError as exc:
        raise _draft_error(exc) from exc
    await _audit(
        request, admin, "faq_draft_edit", f"draft:{draft_id}", detail={"fields": sorted(fields)}
    )
    return draft


def _entry(kb: KnowledgeAdmin, draft: dict[str, Any]) -> dict[str, Any]:
    today = dt.datetime.now(SHANGHAI).date()
    return {
        "id": kb.editor.free_faq_id(f"agent-{draft['id']}"),
        "question": draft["question"],
        "answer": draft["answer"],
        "phrasings": draft["phrasings"],
        "service_id": draft["service_id"],
        "aspect": draft["aspect"],
        "department": draft["department"],
        "source": "坐席回复",
        "version": "1",
        "effective_date": today,
    }


@router.post("/api/admin/kb/drafts/{draft_id}/transition")
async def transition_draft(
    draft_id: int, body: TransitionBody, request: Request, admin: AdminDep, kb: KbAdminDep
) -> Any:
    """approve / reject (a note says why) / publish: an approved draft is written into
    knowledge/faq/from-agents.yaml (validated) and is answered after the next rebuild."""
    draft = await run_in_threadpool(kb.store.draft, draft_id)
    if draft is None:
        raise YishiError("draft_not_found", "没有这份草稿。", 404)
    note = body.note.strip()
    try:
        check_transition(draft["state"], body.to)
    except DraftError as exc:
        raise _draft_error(exc) from exc
    if body.to == REJECTED and len(note) < 2:
        raise YishiError("reason_required", "驳回时请填写原因。", 422)
    faq_id = None
    if body.to == PUBLISHED:
        _no_rebuild_running(kb)
        try:
            edited = await run_in_threadpool(kb.editor.publish_faq, _entry(kb, draft))
        except EditError as exc:
            return _refused(exc)
        faq_id = edited.target
        await _record(request, kb, admin, edited, note or f"发布FAQ草稿 {draft_id}", "publish")
    try:
        updated = await run_in_threadpool(
            lambda: kb.store.transition(draft_id, admin.username, body.to, note, faq_id)
        )
    except DraftError as exc:
        raise _draft_error(exc) from exc
    await _audit(request, admin, f"faq_draft_{body.to}", f"draft:{draft_id}", reason=note,
                 detail={"faq_id": faq_id} if faq_id else None)  # fmt: skip
    return {**updated, "pending_rebuild": body.to == PUBLISHED}


# ---------------------------------------------------------------------- rebuild


@router.post("/api/admin/kb/rebuild", status_code=202)
async def start_rebuild(request: Request, admin: AdminDep, kb: KbAdminDep) -> dict[str, Any]:
    """Start `python -m retrieval.build` in a child process; 409 while one runs."""
    try:
        status = await run_in_threadpool(kb.runner.start, admin.username)
    except RebuildBusyError as exc:
        raise YishiError("rebuild_running", "已有索引重建正在进行，请稍候。", 409) from exc
    await _audit(request, admin, "kb_rebuild", status.get("kb_version") or "")
    return status


@router.get("/api/admin/kb/rebuild")
async def rebuild_status(admin: AdminDep, kb: KbAdminDep) -> dict[str, Any]:
    """state (running | idle), progress {stage, step, steps, done, total, percent}, the last
    result {ok, kb_version, seconds, error}, the current kb_version and whether knowledge/
    has changes the index does not have yet."""
    return await run_in_threadpool(kb.runner.status)
