"""The agent console: login, the queue, taking over a conversation, and its live events.

Every route here needs a staff session (role agent or admin); see docs/agent-console.md for
the list of routes and their roles.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.agent_console.accounts import AccountError, Staff, ThrottledError
from channels.agent_console.auth import (
    COOKIE,
    StaffDep,
    accounts_of,
    client_of,
    websocket_staff,
)
from channels.config import Settings
from channels.core.conversations import AGENT, ConflictError
from channels.core.handoff import HandoffService
from channels.core.rasa_client import RasaClient
from channels.core.schemas import SENDER_PATTERN
from channels.core.store import iso
from channels.errors import BotUnavailableError, YishiError
from channels.privacy.vault import PiiVault, is_token
from retrieval.schema import ASPECT_NAMES
from retrieval.searcher import SearcherHandle
from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
CLOSE_CATEGORIES = ["咨询已解答", "已办理/已转办", "转12345工单", "投诉建议", "无效会话"]
# slots the agent sees; the rest (form bookkeeping) stays out of the way
_HIDDEN_SLOTS = {"form_state", "requested_slot", "kb_service", "kb_doc", "emergency_type"}

# what citizens say to reach or leave a person is not a question to suggest answers for
_CONTROL = re.compile(
    r"^(?:人工|真人|不等了|登记回电|你好|您好|在吗|还在吗)[。！!？?]*$|转人工|找真人|人工客服|我要人工"
)

router = APIRouter(tags=["agent console"])


def _handoff(request: Request) -> HandoffService:
    service: HandoffService = request.app.state.handoff
    return service


HandoffDep = Annotated[HandoffService, Depends(_handoff)]


def _sender(sender: str) -> str:
    if not re.fullmatch(SENDER_PATTERN, sender):
        raise YishiError("bad_sender", "会话编号格式不正确。", 422)
    return sender


def _conflict(exc: ConflictError) -> YishiError:
    status = 404 if exc.code == "not_found" else 409
    return YishiError(exc.code, exc.detail, status)


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class ReplyBody(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class TransferBody(BaseModel):
    to: str = Field(min_length=1, max_length=64)


class CloseBody(BaseModel):
    category: str = Field(min_length=1, max_length=32)
    summary: str = Field("", max_length=1000)
    ticket: bool = False


class UnmaskBody(BaseModel):
    reason: str = Field("", max_length=200)


# ---------------------------------------------------------------------- page


@router.get("/agent", include_in_schema=False)
async def agent_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "agent.html", headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------- session


@router.post("/api/agent/login")
async def login(body: LoginBody, request: Request) -> JSONResponse:
    """Log in with username and password; sets the session cookie. Throttled per user and IP."""
    accounts = accounts_of(request)
    settings: Settings = request.app.state.settings
    client = client_of(request)
    try:
        staff, token, expires = await run_in_threadpool(
            accounts.login, body.username, body.password, client
        )
    except ThrottledError as exc:
        raise YishiError(
            "too_many_attempts", "登录失败次数过多，请15分钟后再试或联系管理员。", 429
        ) from exc
    except AccountError as exc:
        await run_in_threadpool(
            lambda: accounts.audit(body.username[:64], "login_failed", client=client)
        )
        raise YishiError("bad_credentials", "用户名或密码不正确。", 401) from exc
    await run_in_threadpool(lambda: accounts.audit(staff, "login", client=client))
    response = JSONResponse({"agent": staff.public(), "expires_at": iso(expires), "token": token})
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.staff_session_ttl_s,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/api/agent/logout")
async def logout(request: Request, staff: StaffDep) -> JSONResponse:
    token = request.cookies.get(COOKIE) or request.headers.get("authorization", "")[7:]
    accounts = accounts_of(request)
    await run_in_threadpool(accounts.logout, token)
    await run_in_threadpool(lambda: accounts.audit(staff, "logout", client=client_of(request)))
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/api/agent/me")
async def me(request: Request, staff: StaffDep) -> dict[str, Any]:
    return {"agent": staff.public(), "expires_at": iso(request.state.session_expires)}


# ---------------------------------------------------------------------- queue and lists


@router.get("/api/agent/queue")
async def queue(staff: StaffDep, handoff: HandoffDep) -> dict[str, Any]:
    """Citizens waiting for a person, first come first served, with their wait so far."""
    return {"items": await run_in_threadpool(handoff.conversations.queue)}


@router.get("/api/agent/conversations")
async def my_conversations(staff: StaffDep, handoff: HandoffDep) -> dict[str, Any]:
    items = await run_in_threadpool(handoff.conversations.served_by, staff.username)
    for item in items:
        history = await run_in_threadpool(handoff.transcript.history, item["sender"], 1)
        item["last_message"] = history[-1]["text"] if history else ""
    return {"items": items}


@router.get("/api/agent/agents")
async def agents(request: Request, staff: StaffDep, handoff: HandoffDep) -> dict[str, Any]:
    online = handoff.hub.online()
    items = await run_in_threadpool(accounts_of(request).all)
    return {
        "items": [
            {**{k: a[k] for k in ("username", "display_name", "employee_no", "role")},
             "online": a["username"] in online}
            for a in items
            if a["active"]
        ]
    }  # fmt: skip


@router.get("/api/agent/quick-replies")
async def quick_replies(staff: StaffDep) -> dict[str, Any]:
    items = yaml.safe_load((HERE / "quick_replies.yaml").read_text(encoding="utf-8")) or []
    return {"items": items}


@router.get("/api/agent/close-categories")
async def close_categories(staff: StaffDep) -> dict[str, Any]:
    return {"items": CLOSE_CATEGORIES}


# ---------------------------------------------------------------------- one conversation


async def _detail(request: Request, handoff: HandoffService, sender: str) -> dict[str, Any]:
    conv = await run_in_threadpool(handoff.conversations.get, sender)
    if conv is None:
        raise YishiError("not_found", "会话不存在。", 404)
    info = await run_in_threadpool(handoff.conversations.handoff, conv.handoff_id) or {}
    messages = await run_in_threadpool(handoff.transcript.history, sender, 300)
    names: dict[str, str] = {}
    for message in messages:
        name = message.get("agent")
        if name and name not in names:
            staff = await run_in_threadpool(accounts_of(request).get, name)
            names[name] = staff.label if staff else name
        message["agent_name"] = names.get(name or "")
    agent = await run_in_threadpool(accounts_of(request).get, conv.agent) if conv.agent else None
    latest_question = next(
        (
            m["text"]
            for m in reversed(messages)
            if m["author"] == "citizen" and not _CONTROL.search(m["text"])
        ),
        "",
    )
    slots = await _slots(request, sender, unmask=False)
    return {
        "sender": sender,
        "state": conv.state,
        "channel": conv.channel,
        "mode": conv.mode,
        "reason": info.get("reason"),
        "reason_text": info.get("reason_text"),
        "summary": info.get("summary"),
        "agent": agent.public() if agent else None,
        "queued_at": info.get("queued_at"),
        "accepted_at": info.get("accepted_at"),
        "messages": messages,
        "slots": slots,
        "suggestions": await _suggestions(request.app.state.kb, latest_question),
    }


async def _slots(request: Request, sender: str, unmask: bool) -> list[dict[str, str]]:
    """What the bot collected (form slots), masked unless an unmask was asked and audited.
    Personal values sit in the tracker as vault tokens (pii:…); they are opened here."""
    from actions.forms.specs import FORMS

    labels = {slot.name: slot.label for spec in FORMS.values() for slot in spec.slots}
    rasa: RasaClient = request.app.state.rasa
    vault: PiiVault = request.app.state.vault
    try:
        tracker = await rasa.tracker(sender)
    except BotUnavailableError:
        return []
    slots: dict[str, Any] = tracker.get("slots") or {}
    opened = await run_in_threadpool(
        vault.reveal, sender, [v for v in slots.values() if is_token(v)]
    )
    out = []
    for name, value in slots.items():
        if is_token(value):
            value = opened.get(value)
        if (
            value in (None, "", [])
            or name in _HIDDEN_SLOTS
            or not isinstance(value, str | int | float | bool)
        ):
            continue
        text = str(value)
        out.append(
            {
                "name": name,
                "label": labels.get(name, name),
                "value": text if unmask else mask_pii(text),
            }
        )
    return out  # fmt: skip


async def _suggestions(kb: SearcherHandle, question: str) -> list[dict[str, Any]]:
    """The knowledge base's top 3 for the citizen's latest question."""
    if not question.strip():
        return []
    try:
        searcher = await run_in_threadpool(kb.get)
        result = await run_in_threadpool(searcher.search, question[:200], 3)
    except Exception as exc:  # an unbuilt index must not break the console
        logger.warning("suggestions unavailable: %s", exc)
        return []
    return [
        {
            "doc_id": hit.doc_id,
            "service_id": hit.service_id,
            "aspect": hit.aspect,
            "aspect_name": ASPECT_NAMES.get(hit.aspect or "", ""),
            "title": hit.title,
            "text": hit.document.answer,
            "score": round(hit.score, 4),
            "guide_version": hit.document.source.get("guide_version"),
        }
        for hit in result.hits[:3]
    ]


@router.get("/api/agent/conversations/{sender}")
async def conversation(
    sender: str, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    """The whole transcript with the bot's trace, collected slots (masked) and suggestions."""
    return await _detail(request, handoff, _sender(sender))


@router.post("/api/agent/conversations/{sender}/accept")
async def accept(
    sender: str, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    try:
        await handoff.accept(_sender(sender), staff)
    except ConflictError as exc:
        raise _conflict(exc) from exc
    await run_in_threadpool(
        lambda: accounts_of(request).audit(staff, "accept", sender, client=client_of(request))
    )
    return await _detail(request, handoff, sender)


@router.post("/api/agent/conversations/{sender}/reply")
async def reply(
    sender: str, body: ReplyBody, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    text = body.text.strip()
    if not text:
        raise YishiError("text_empty", "回复内容不能为空。", 422)
    try:
        message = await handoff.reply(_sender(sender), staff, text)
    except ConflictError as exc:
        raise _conflict(exc) from exc
    return {"message": message}


@router.post("/api/agent/conversations/{sender}/transfer")
async def transfer(
    sender: str, body: TransferBody, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    try:
        target = await handoff.transfer(_sender(sender), staff, body.to)
    except ConflictError as exc:
        raise _conflict(exc) from exc
    await run_in_threadpool(
        lambda: accounts_of(request).audit(
            staff, "transfer", sender, detail={"to": body.to}, client=client_of(request)
        )
    )
    return {"ok": True, "agent": target.public()}


@router.post("/api/agent/conversations/{sender}/handback")
async def handback(
    sender: str, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    try:
        await handoff.handback(_sender(sender), staff)
    except ConflictError as exc:
        raise _conflict(exc) from exc
    await run_in_threadpool(
        lambda: accounts_of(request).audit(staff, "handback", sender, client=client_of(request))
    )
    return {"state": "bot"}


@router.post("/api/agent/conversations/{sender}/close")
async def close(
    sender: str, body: CloseBody, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    if body.category not in CLOSE_CATEGORIES:
        raise YishiError("bad_category", "请选择结束分类。", 422)
    try:
        result = await handoff.close(
            _sender(sender), staff, body.category, body.summary.strip(), body.ticket
        )
    except ConflictError as exc:
        raise _conflict(exc) from exc
    ticket = (result or {}).get("ticket")
    await run_in_threadpool(
        lambda: accounts_of(request).audit(
            staff,
            "close",
            sender,
            detail={"category": body.category, "ticket": ticket["number"] if ticket else None},
            client=client_of(request),
        )
    )
    return {
        "state": "closed",
        "ticket": (
            {k: ticket.get(k) for k in ("number", "department", "due_at", "status")}
            if ticket
            else None
        ),
    }


@router.post("/api/agent/conversations/{sender}/unmask")
async def unmask(
    sender: str, body: UnmaskBody, request: Request, staff: StaffDep, handoff: HandoffDep
) -> dict[str, Any]:
    """The collected values in full. Needs a reason; written to the audit log."""
    sender = _sender(sender)
    reason = body.reason.strip()
    if len(reason) < 2:
        raise YishiError("reason_required", "查看完整信息需要填写查看原因。", 422)
    conv = await run_in_threadpool(handoff.conversations.get, sender)
    if conv is None:
        raise YishiError("not_found", "会话不存在。", 404)
    if staff.role != "admin" and (conv.state != AGENT or conv.agent != staff.username):
        raise YishiError("not_yours", "只能查看自己正在接待的会话。", 403)
    slots = await _slots(request, sender, unmask=True)
    await run_in_threadpool(
        lambda: accounts_of(request).audit(
            staff,
            "unmask",
            sender,
            reason=reason,
            detail={"fields": [s["name"] for s in slots]},
            client=client_of(request),
        )
    )
    return {"slots": slots}


# ---------------------------------------------------------------------- live events


@router.websocket("/api/agent/ws")
async def agent_socket(websocket: WebSocket) -> None:
    """Queue changes, new citizen messages and transfers, pushed to the agent's screen."""
    staff = await websocket_staff(websocket)
    await websocket.accept()
    if staff is None:
        # accepted first so the page learns why (4401: log in again), not just "failed"
        await websocket.close(code=4401)
        return
    handoff: HandoffService = websocket.app.state.handoff
    handoff.hub.join(staff.username, staff.role, websocket)
    try:
        await websocket.send_json({"type": "hello", "agent": staff.public()})
        await websocket.send_json(
            {"type": "queue", "items": await run_in_threadpool(handoff.conversations.queue)}
        )
        await _presence_changed(handoff, staff)
        while True:
            data = await websocket.receive_json()
            if isinstance(data, dict) and data.get("type") == "ping":
                # an expired or revoked session ends the socket too
                if await run_in_threadpool(
                    accounts_of(websocket).session, websocket.cookies.get(COOKIE) or ""
                ) is None and not websocket.headers.get("authorization"):
                    await websocket.close(code=4401)
                    return
                await websocket.send_json({"type": "pong"})
    except (WebSocketDisconnect, ValueError, RuntimeError):
        pass
    finally:
        handoff.hub.leave(staff.username, websocket)
        await _presence_changed(handoff, staff)


async def _presence_changed(handoff: HandoffService, staff: Staff) -> None:
    await asyncio.sleep(0)
    await handoff.hub.broadcast({"type": "agents", "online": sorted(handoff.hub.online())})
