"""HTTP APIs over the application store.

- `/internal/applications…` — for the action server only (header `X-Yishi-Token`): submit a
  filled form (idempotent) and look an application up by receipt + last 4 mobile digits.
- `/api/progress` — the same lookup for citizens' pages; a wrong pair and an unknown receipt get
  the same neutral answer, so receipts cannot be enumerated.
- `/api/admin/applications…` — for staff (header `X-Yishi-Admin-Token` until the agent console's
  accounts land): list applications (personal data masked), move them through their
  lifecycle, and unmask one application's fields with a reason (audited).
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.agent_console.auth import AdminDep, client_of
from channels.applications.store import (
    ACCEPTED,
    COMPLETED,
    FORM_IDS,
    RETURNED,
    ApplicationStore,
    NotFoundError,
    SlotFullError,
    TransitionError,
)
from channels.config import Settings
from channels.errors import YishiError
from channels.tickets.routing import TICKET_CATEGORIES
from yishi.privacy import mask_pii

router = APIRouter()
RECEIPT = r"^YS-\d{8}-\d{6}$"
NOT_FOUND_DETAIL = "没有查到对应的办件，请核对受理编号和手机号后四位。"


def get_store(request: Request) -> ApplicationStore:
    store: ApplicationStore = request.app.state.applications
    return store


StoreDep = Annotated[ApplicationStore, Depends(get_store)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def require_internal(
    request: Request, x_yishi_token: Annotated[str | None, Header()] = None
) -> None:
    expected = _settings(request).internal_token.get_secret_value()
    # bytes: compare_digest refuses str with non-ASCII characters (a forged header may have them)
    if not x_yishi_token or not hmac.compare_digest(x_yishi_token.encode(), expected.encode()):
        raise YishiError("unauthorized", "缺少或错误的内部访问令牌。", 401)


class SubmitRequest(BaseModel):
    form_id: str = Field(pattern="|".join(f"^{f}$" for f in FORM_IDS))
    sender: str = Field(min_length=3, max_length=160)
    idempotency_key: str = Field(min_length=8, max_length=200)
    mobile: str = Field(pattern=r"^1\d{10}$")
    fields: dict[str, Any]


class SubmitResponse(BaseModel):
    receipt: str
    status: str
    created: bool


class LookupRequest(BaseModel):
    receipt: str = Field(max_length=32)
    mobile_last4: str = Field(pattern=r"^\d{4}$")


class UnmaskBody(BaseModel):
    reason: str = Field("", max_length=200)


class StatusChange(BaseModel):
    status: str = Field(pattern=f"^({ACCEPTED}|{COMPLETED}|{RETURNED})$")
    note: str = Field("", max_length=500)
    actor: str = Field("admin", max_length=64)


def _normal_receipt(text: str) -> str:
    compact = re.sub(r"[\s-]", "", text.upper())
    return f"{compact[:2]}-{compact[2:10]}-{compact[10:]}" if len(compact) == 16 else text.upper()


@router.post(
    "/internal/applications",
    response_model=SubmitResponse,
    dependencies=[Depends(require_internal)],
    include_in_schema=False,
)
async def submit(body: SubmitRequest, store: StoreDep, request: Request) -> SubmitResponse:
    complaint = body.form_id == "complaint_12345_ticket"
    if complaint:  # refused before anything is stored: a ticket needs a category and content
        category = str(body.fields.get("category") or "")
        if (
            category not in TICKET_CATEGORIES
            or not str(body.fields.get("description") or "").strip()
        ):
            raise YishiError("invalid_fields", "投诉表单缺少诉求类别或诉求内容。", 422)
    try:
        result = await run_in_threadpool(
            lambda: store.submit(
                form_id=body.form_id,
                sender=body.sender,
                idempotency_key=body.idempotency_key,
                fields=body.fields,
                mobile=body.mobile,
            )
        )
    except SlotFullError as exc:
        request.app.state.metrics.form_submissions.labels(body.form_id, "slot_full").inc()
        raise YishiError("slot_full", "该时段已约满，请换一个时段。", 409) from exc
    outcome = "created" if result.created else "duplicate"
    request.app.state.metrics.form_submissions.labels(body.form_id, outcome).inc()
    if complaint:
        # a complaint filed in chat is a 12345 ticket: routed, timed, answered on the channel
        tickets = request.app.state.tickets
        await run_in_threadpool(tickets.create_from_form, result.receipt, body.sender, body.fields)
    return SubmitResponse(receipt=result.receipt, status=result.status, created=result.created)


@router.get(
    "/internal/appointments", dependencies=[Depends(require_internal)], include_in_schema=False
)
async def appointments(hall: str, day: str, store: StoreDep) -> dict[str, int]:
    """Places left per time slot of a hall on a day (YYYY-MM-DD)."""
    return await run_in_threadpool(store.availability, hall, day)


async def _lookup(body: LookupRequest, store: ApplicationStore) -> dict[str, Any]:
    receipt = _normal_receipt(body.receipt)
    found = None
    if re.fullmatch(RECEIPT, receipt):
        found = await run_in_threadpool(store.lookup, receipt, body.mobile_last4)
    return {"found": True, **found} if found else {"found": False, "detail": NOT_FOUND_DETAIL}


@router.post(
    "/internal/applications/lookup",
    dependencies=[Depends(require_internal)],
    include_in_schema=False,
)
async def internal_lookup(body: LookupRequest, store: StoreDep) -> dict[str, Any]:
    return await _lookup(body, store)


@router.get("/internal/history", dependencies=[Depends(require_internal)], include_in_schema=False)
async def history(
    request: Request, store: StoreDep, sender: str = Query(min_length=3, max_length=160)
) -> dict[str, Any]:
    """A citizen's recent applications and 12345 tickets on their own channel (the sender id is
    the identity: the bot asks only for the conversation it is in)."""
    applications = await run_in_threadpool(lambda: store.list(limit=10, sender=sender))
    tickets = await run_in_threadpool(
        lambda: request.app.state.tickets.list(sender=sender, limit=10)
    )
    return {
        "applications": [
            {
                "receipt": a.receipt,
                "form_id": a.form_id,
                "status": a.status,
                "created_at": a.created_at.isoformat(timespec="seconds"),
            }
            for a in applications
        ],
        "tickets": [
            {
                k: t.get(k)
                for k in (
                    "number",
                    "receipt",
                    "category",
                    "status",
                    "department",
                    "due_at",
                    "overdue",
                    "answer",
                )
            }
            for t in tickets
        ],  # fmt: skip
    }


@router.post("/api/progress", tags=["applications"])
async def progress(body: LookupRequest, store: StoreDep) -> dict[str, Any]:
    """办件进度：受理编号 + 手机号后四位 → 状态与历史（查不到时回答相同，防止枚举）。"""
    return await _lookup(body, store)


@router.get("/api/admin/applications", tags=["admin"])
async def list_applications(
    store: StoreDep,
    staff: AdminDep,
    status: str | None = None,
    form_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    rows = await run_in_threadpool(store.list, status, form_id, min(max(limit, 1), 500))
    return [
        {
            "receipt": a.receipt,
            "form_id": a.form_id,
            "status": a.status,
            "sender": a.sender,
            "created_at": a.created_at.isoformat(timespec="seconds"),
            # staff lists show personal data masked; the record itself keeps the raw values
            "fields": {k: mask_pii(str(v)) for k, v in a.fields.items()},
        }
        for a in rows
    ]


@router.post("/api/admin/applications/{receipt}/status", tags=["admin"])
async def change_status(
    receipt: str, body: StatusChange, store: StoreDep, staff: AdminDep, request: Request
) -> dict[str, Any]:
    actor = body.actor if staff.username == "ops-token" else staff.username
    try:
        result = await run_in_threadpool(
            store.set_status, _normal_receipt(receipt), body.status, body.note, actor
        )
        await run_in_threadpool(
            lambda: request.app.state.accounts.audit(
                staff,
                "application_status",
                _normal_receipt(receipt),
                detail={"status": body.status},
                client=client_of(request),
            )
        )
        return result
    except NotFoundError as exc:
        raise YishiError("application_not_found", "没有这个受理编号。", 404) from exc
    except TransitionError as exc:
        raise YishiError("invalid_transition", f"状态不能这样变更：{exc}", 409) from exc


@router.post("/api/admin/applications/{receipt}/unmask", tags=["admin"])
async def unmask_application(
    receipt: str, body: UnmaskBody, store: StoreDep, staff: AdminDep, request: Request
) -> dict[str, Any]:
    """The application's fields in full. Needs a reason; written to the audit log."""
    reason = body.reason.strip()
    if len(reason) < 2:
        raise YishiError("reason_required", "查看完整信息需要填写查看原因。", 422)
    receipt = _normal_receipt(receipt)
    try:
        fields = await run_in_threadpool(store.personal_fields, receipt)
    except NotFoundError as exc:
        raise YishiError("application_not_found", "没有这个受理编号。", 404) from exc
    await run_in_threadpool(
        lambda: request.app.state.accounts.audit(
            staff,
            "unmask",
            receipt,
            reason=reason,
            detail={"fields": sorted(fields)},
            client=client_of(request),
        )
    )
    return {"receipt": receipt, "fields": fields}
