"""Request-scoped access to what the lifespan built (never import-time globals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from channels.config import Settings
from channels.core.chat import ChatService
from channels.core.health import HealthChecker
from channels.ratelimit import RateLimiter


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_chat_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


def get_health_checker(request: Request) -> HealthChecker:
    checker: HealthChecker = request.app.state.health
    return checker


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
HealthDep = Annotated[HealthChecker, Depends(get_health_checker)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
