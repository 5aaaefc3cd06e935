"""The chat API every channel and test uses, the citizen's own updates, and the health probe."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from channels.core.chat import check_citizen_token, citizen_token
from channels.core.schemas import (
    SENDER_PATTERN,
    ChatRequest,
    ChatResponse,
    ErrorBody,
    SessionResponse,
    UpdatesResponse,
)
from channels.deps import ChatServiceDep, HealthDep, LimiterDep, SettingsDep
from channels.errors import YishiError
from channels.metrics import STATE_CHANNEL, channel_of_sender

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (403, 413, 422, 429, 503)
}
CitizenToken = Annotated[str | None, Header(alias="X-Yishi-Citizen-Token")]


@router.post("/api/chat", response_model=ChatResponse, responses=_ERRORS, tags=["chat"])
async def chat(
    request: ChatRequest,
    service: ChatServiceDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    http: Request,
    token: CitizenToken = None,
) -> ChatResponse:
    """Send one citizen message; get the bot's replies, the conversation state and a trace.

    While a person serves the conversation the bot stays silent (`replies` may be empty) and
    the agent's answers arrive through `GET /api/chat/updates`. Too many messages from one
    conversation or one address answer 429 with `Retry-After`.
    """
    setattr(http.state, STATE_CHANNEL, channel_of_sender(request.sender))
    await limiter.check("sender", request.sender)
    if token is not None and not check_citizen_token(
        settings.citizen_secret.get_secret_value(), request.sender, token
    ):
        raise YishiError("forbidden", "会话凭证无效，请刷新页面后重试。", 403)
    return await service.handle(request)


@router.post("/api/chat/session", response_model=SessionResponse, tags=["chat"])
async def new_session(
    settings: SettingsDep, channel: Annotated[Literal["web", "elder"], Query()] = "web"
) -> SessionResponse:
    """A new web conversation (`web`, or `elder` for the 长辈版 page): a random sender id and
    the token that reads its updates."""
    sender = f"{channel}:{secrets.token_hex(16)}"
    return SessionResponse(
        sender=sender, token=citizen_token(settings.citizen_secret.get_secret_value(), sender)
    )


@router.get(
    "/api/chat/updates",
    response_model=UpdatesResponse,
    responses={403: {"model": ErrorBody}},
    tags=["chat"],
)
async def updates(
    service: ChatServiceDep,
    settings: SettingsDep,
    sender: Annotated[str, Query(max_length=160)],
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # SQLite's INTEGER range
    token: CitizenToken = None,
) -> UpdatesResponse:
    """Messages that reached the conversation outside the citizen's turns (an agent's replies,
    notices, a ticket's answer), newer than message id `after`. Only the conversation's own
    token may read them."""
    if not re.fullmatch(SENDER_PATTERN, sender):
        raise YishiError("bad_sender", "会话编号格式不正确。", 422)
    if not check_citizen_token(settings.citizen_secret.get_secret_value(), sender, token):
        raise YishiError("forbidden", "只能查看自己的会话。", 403)
    return await service.updates(sender, after)


@router.get("/healthz", tags=["ops"])
async def healthz(health: HealthDep) -> JSONResponse:
    """200 when Rasa has a model loaded and the action server answers; 503 otherwise."""
    report = await health.check()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
