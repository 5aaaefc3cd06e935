"""The chat API every channel and test uses, and the health probe."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from channels.core.schemas import ChatRequest, ChatResponse, ErrorBody
from channels.deps import ChatServiceDep, HealthDep

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (413, 422, 503)}


@router.post("/api/chat", response_model=ChatResponse, responses=_ERRORS, tags=["chat"])
async def chat(request: ChatRequest, service: ChatServiceDep) -> ChatResponse:
    """Send one citizen message; get the bot's replies, the conversation state and a trace."""
    return await service.handle(request)


@router.get("/healthz", tags=["ops"])
async def healthz(health: HealthDep) -> JSONResponse:
    """200 when Rasa has a model loaded and the action server answers; 503 otherwise."""
    report = await health.check()
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
