"""好差评 results and 整改 follow-ups for admins, plus the audit log and staff list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.agent_console.auth import AdminDep, client_of
from channels.errors import YishiError
from channels.feedback.store import FeedbackStore, NotFoundError, TransitionError

router = APIRouter(tags=["admin"])


class FollowupTransition(BaseModel):
    status: str = Field(min_length=2, max_length=8)
    note: str = Field("", max_length=1000)
    assignee: str | None = Field(None, max_length=64)


def _feedback(request: Request) -> FeedbackStore:
    store: FeedbackStore = request.app.state.feedback
    return store


@router.get("/api/admin/followups")
async def followups(request: Request, staff: AdminDep, status: str | None = None) -> dict[str, Any]:
    items = await run_in_threadpool(lambda: _feedback(request).list_followups(status=status))
    return {"items": items}


@router.post("/api/admin/followups/{followup_id}/transition")
async def followup_transition(
    followup_id: int, body: FollowupTransition, request: Request, staff: AdminDep
) -> dict[str, Any]:
    try:
        result = await run_in_threadpool(
            lambda: _feedback(request).transition_followup(
                followup_id, body.status, staff.username, note=body.note, assignee=body.assignee
            )
        )
    except NotFoundError as exc:
        raise YishiError("followup_not_found", "没有这条整改跟进。", 404) from exc
    except TransitionError as exc:
        raise YishiError("invalid_transition", str(exc), 409) from exc
    await run_in_threadpool(
        lambda: request.app.state.accounts.audit(
            staff,
            "followup_status",
            str(followup_id),
            detail={"status": body.status},
            client=client_of(request),
        )
    )
    return result


@router.get("/api/admin/ratings")
async def ratings(request: Request, staff: AdminDep) -> dict[str, Any]:
    """How many ratings of each score (1 非常不满意 … 5 非常满意)."""
    return {"distribution": await run_in_threadpool(_feedback(request).distribution)}


@router.get("/api/admin/audit")
async def audit_log(
    request: Request,
    staff: AdminDep,
    action: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    items = await run_in_threadpool(
        lambda: request.app.state.accounts.audit_log(action=action, actor=actor, limit=limit)
    )
    return {"items": items}


@router.get("/api/admin/staff")
async def staff_accounts(request: Request, staff: AdminDep) -> dict[str, Any]:
    return {"items": await run_in_threadpool(request.app.state.accounts.all)}
