"""Prometheus metrics of the gateway, served at `GET /metrics`.

Each app has its own registry (`app.state.metrics`), so tests start from zero. Label values come
from small fixed sets only: a sender's channel prefix outside `CHANNELS` counts as `other`, a
path no route matches as `unmatched`, so no request can make up new series.

- `yishi_http_request_duration_seconds{channel,route,method}`: latency per channel (web, elder,
  wechat, voice, agent, admin, internal, ops)
- `yishi_http_requests_total{channel,route,method,status}`
- `yishi_chat_answers_total{channel,band}`: turns the knowledge base answered (answer, clarify,
  none; the band from the bot's trace)
- `yishi_handoffs_total{channel,reason}`: conversations escalated to a person
- `yishi_form_submissions_total{form,outcome}`: filed applications (created, duplicate, slot_full)
- `yishi_errors_total{error,status}`: every error answer, by its `error` code
- `yishi_rate_limited_total{rule}`: requests refused by a rate limit
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.config import Settings
from channels.errors import YishiError

CHANNELS = frozenset({"web", "elder", "wechat", "voice", "agent", "admin"})
BANDS = frozenset({"answer", "clarify", "none"})
# request.state keys the handlers set for the middleware
STATE_CHANNEL = "yishi_channel"
STATE_ERROR = "yishi_error"

_PATH_CHANNELS = (
    ("/api/voice", "voice"),
    ("/wechat", "wechat"),
    ("/api/agent", "agent"),
    ("/agent", "agent"),
    ("/api/tickets", "agent"),
    ("/api/admin", "admin"),
    ("/admin", "admin"),
    ("/internal", "internal"),
    ("/elder", "elder"),
    ("/healthz", "ops"),
    ("/metrics", "ops"),
    ("/docs", "ops"),
    ("/redoc", "ops"),
    ("/openapi.json", "ops"),
)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


def channel_of_sender(sender: str) -> str:
    prefix = sender.split(":", 1)[0]
    return prefix if prefix in CHANNELS else "other"


def channel_of_path(path: str) -> str:
    for prefix, channel in _PATH_CHANNELS:
        if path == prefix or path.startswith((prefix + "/", prefix + "-")):
            return channel
    return "web"


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "yishi_http_request_duration_seconds",
            "Time from request to the last byte of the answer, per channel and route",
            ["channel", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "yishi_http_requests",
            "Requests answered, per channel, route and status code",
            ["channel", "route", "method", "status"],
            registry=self.registry,
        )
        self.answers = Counter(
            "yishi_chat_answers",
            "Bot turns answered from the knowledge base, by confidence band",
            ["channel", "band"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "yishi_handoffs",
            "Conversations escalated to a person, by reason",
            ["channel", "reason"],
            registry=self.registry,
        )
        self.form_submissions = Counter(
            "yishi_form_submissions",
            "Applications filed by the action server's forms, by outcome",
            ["form", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "yishi_errors",
            "Error answers, by error code and status",
            ["error", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "yishi_rate_limited",
            "Requests refused by a rate limit, by rule",
            ["rule"],
            registry=self.registry,
        )

    def answered(self, sender: str, band: str) -> None:
        self.answers.labels(channel_of_sender(sender), band if band in BANDS else "none").inc()

    def handoff(self, sender: str, reason: str) -> None:
        self.handoffs.labels(channel_of_sender(sender), reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts it with its status; counts error answers by the
    code their handler noted in the request's state."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            channel = state.get(STATE_CHANNEL) or channel_of_path(scope.get("path", ""))
            method = scope.get("method", "GET")
            m = self.metrics
            m.request_seconds.labels(channel, route, method).observe(time.perf_counter() - started)
            m.requests.labels(channel, route, method, str(status)).inc()
            if status >= 400:
                default = "internal_error" if status >= 500 else f"http_{status}"
                m.errors.labels(state.get(STATE_ERROR) or default, str(status)).inc()


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Prometheus text format. With YISHI_METRICS_TOKEN set: `Authorization: Bearer <token>`."""
    settings: Settings = request.app.state.settings
    if not settings.metrics_enabled:
        raise YishiError("not_found", "请求的地址不存在。", 404)
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise YishiError("unauthorized", "需要监控令牌。", 401)
    gateway_metrics: GatewayMetrics = request.app.state.metrics
    return Response(gateway_metrics.render(), media_type=CONTENT_TYPE_LATEST)
