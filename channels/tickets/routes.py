"""12345 tickets for staff: list (with overdue flags), read, and move along the lifecycle.

受理 → 派单 → 办理 → 答复 → 办结 → 回访. When a ticket is answered the citizen is told on
their own channel; when it is done they are asked to rate it. The contact mobile is shown
masked; `POST /api/tickets/{number}/unmask` (a reason, audited) shows it in full.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.agent_console.auth import StaffDep, client_of
from channels.core.handoff import HandoffService
from channels.errors import YishiError
from channels.tickets.store import NotFoundError, TicketStore, TransitionError

router = APIRouter(tags=["tickets"])


class UnmaskBody(BaseModel):
    reason: str = Field("", max_length=200)


def masked(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket as staff lists show it: the contact mobile masked."""
    return {**ticket, "contact_mobile": ticket.get("contact_mobile_masked")}


class TicketTransition(BaseModel):
    status: str = Field(min_length=2, max_length=8)
    note: str = Field("", max_length=1000)
    answer: str | None = Field(None, max_length=2000)
    department: str | None = Field(None, max_length=64)


def _tickets(request: Request) -> TicketStore:
    store: TicketStore = request.app.state.tickets
    return store


@router.get("/api/tickets")
async def list_tickets(
    request: Request,
    staff: StaffDep,
    status: str | None = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items = await run_in_threadpool(
        lambda: _tickets(request).list(status=status, overdue=overdue, limit=limit)
    )
    return {"items": [masked(t) for t in items]}


@router.get("/api/tickets/{number}")
async def get_ticket(number: str, request: Request, staff: StaffDep) -> dict[str, Any]:
    ticket = await run_in_threadpool(_tickets(request).get, number)
    if ticket is None:
        raise YishiError("ticket_not_found", "没有这个工单编号。", 404)
    return masked(ticket)


@router.post("/api/tickets/{number}/transition")
async def transition(
    number: str, body: TicketTransition, request: Request, staff: StaffDep
) -> dict[str, Any]:
    try:
        ticket = await run_in_threadpool(
            lambda: _tickets(request).transition(
                number,
                body.status,
                staff.username,
                note=body.note,
                answer=body.answer,
                department=body.department,
            )
        )
    except NotFoundError as exc:
        raise YishiError("ticket_not_found", "没有这个工单编号。", 404) from exc
    except TransitionError as exc:
        raise YishiError("invalid_transition", str(exc), 409) from exc
    await run_in_threadpool(
        lambda: request.app.state.accounts.audit(
            staff,
            "ticket_status",
            number,
            detail={"status": body.status, "department": body.department},
            client=client_of(request),
        )
    )
    handoff: HandoffService = request.app.state.handoff
    if ticket["status"] == "答复":
        await handoff.ticket_answered(ticket)
    elif ticket["status"] == "办结":
        await handoff.ticket_closed(ticket)
    return masked(ticket)


@router.post("/api/tickets/{number}/unmask")
async def unmask_ticket(
    number: str, body: UnmaskBody, request: Request, staff: StaffDep
) -> dict[str, Any]:
    """The contact mobile in full, for the callback. Needs a reason; written to the audit log."""
    reason = body.reason.strip()
    if len(reason) < 2:
        raise YishiError("reason_required", "查看完整信息需要填写查看原因。", 422)
    ticket = await run_in_threadpool(_tickets(request).get, number)
    if ticket is None:
        raise YishiError("ticket_not_found", "没有这个工单编号。", 404)
    await run_in_threadpool(
        lambda: request.app.state.accounts.audit(
            staff,
            "unmask",
            number,
            reason=reason,
            detail={"fields": ["contact_mobile"]},
            client=client_of(request),
        )
    )
    return {"number": number, "contact_mobile": ticket["contact_mobile"]}
