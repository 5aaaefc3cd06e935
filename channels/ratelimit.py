"""Rate limits on the citizens' endpoints (the `limits` library, moving windows).

- per client address on every citizen endpoint (`ClientRateLimitMiddleware`; not /wechat,
  where WeChat's own servers call), with a tighter one on /api/progress;
- per conversation on /api/chat and per recording sender on /api/voice (`RateLimiter.check`
  in the route, which knows the sender), per openid on the WeChat webhook (a polite reply
  instead of the message's answer).

Staff logins have their own throttle in the database (channels/agent_console/accounts.py).
Counters live in `YISHI_RATE_LIMIT_STORAGE`: memory:// per process, or redis://… so gateway
replicas share them. When that storage fails the request passes (logged): a broken counter
store must not take the service down.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from channels.config import Settings
from channels.errors import YishiError
from channels.metrics import STATE_ERROR, GatewayMetrics

logger = logging.getLogger(__name__)

RATE_LIMITED = "rate_limited"
EMERGENCY_HINT = "遇到紧急情况请直接拨打110（报警）、119（火警）、120（急救）。"
SENDER_DETAIL = "您发送消息太频繁了，请稍等{wait}秒后再试。" + EMERGENCY_HINT
IP_DETAIL = "当前网络的访问次数太多了，请稍等{wait}秒后再试。" + EMERGENCY_HINT
WECHAT_REPLY = "您发消息太快了，请稍等一会儿再发，我会继续为您服务。" + EMERGENCY_HINT

# POST paths limited per client address, and the rules each counts against
CLIENT_RULES: dict[str, tuple[str, ...]] = {
    "/api/chat": ("ip",),
    "/api/chat/session": ("ip",),
    "/api/voice": ("ip",),
    "/api/kb/search": ("ip",),
    "/api/progress": ("ip", "progress"),
}


class RateLimitedError(YishiError):
    def __init__(self, rule: str, retry_after: int) -> None:
        template = IP_DETAIL if rule in ("ip", "progress") else SENDER_DETAIL
        super().__init__(
            RATE_LIMITED,
            template.format(wait=retry_after),
            429,
            headers={"Retry-After": str(retry_after)},
        )
        self.rule = rule
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, settings: Settings, metrics: GatewayMetrics | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        uri = settings.rate_limit_storage
        uri = uri if uri.startswith("async+") else f"async+{uri}"
        # Redis through redis-py (already a dependency), not limits' default coredis
        options = {"implementation": "redispy"} if uri.startswith("async+redis") else {}
        self._storage = storage_from_string(uri, **options)
        self._window = MovingWindowRateLimiter(self._storage)
        self._metrics = metrics
        self.rules: Mapping[str, list[RateLimitItem]] = {
            "sender": parse_many(settings.rate_limit_sender),
            "voice": parse_many(settings.rate_limit_voice),
            "ip": parse_many(settings.rate_limit_ip),
            "progress": parse_many(settings.rate_limit_progress),
        }

    async def retry_after(self, rule: str, key: str) -> int:
        """Count one request of `key` under `rule`: 0 when it may pass, else the whole
        seconds until it may."""
        if not self.enabled:
            return 0
        try:
            for item in self.rules[rule]:
                if not await self._window.hit(item, rule, key):
                    stats = await self._window.get_window_stats(item, rule, key)
                    if self._metrics is not None:
                        self._metrics.rate_limited.labels(rule).inc()
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:  # noqa: BLE001 - a counter store outage must not refuse citizens
            logger.warning("rate limit storage failed; letting the request through", exc_info=True)
        return 0

    async def check(self, rule: str, key: str) -> None:
        """Raise `RateLimitedError` (429, Chinese detail, Retry-After) when over the limit."""
        wait = await self.retry_after(rule, key)
        if wait:
            logger.info("rate limited rule=%s key=%s wait=%ds", rule, key, wait)
            raise RateLimitedError(rule, wait)

    async def reset(self) -> None:
        """Forget every counter (tests, and operators after an incident)."""
        await self._storage.reset()  # type: ignore[misc]  # limits types it loosely


class ClientRateLimitMiddleware:
    """429 JSON for a client address over its limit on a citizen endpoint (`CLIENT_RULES`).

    The limiter is the lifespan's (`app.state.limiter`); before it exists nothing is limited.
    The address is the connection's: behind a proxy run uvicorn with --proxy-headers (and
    --forwarded-allow-ips) so it is the citizen's, not the proxy's.
    """

    def __init__(self, app: ASGIApp, rules: Mapping[str, tuple[str, ...]] = CLIENT_RULES) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rules = self.rules.get(scope.get("path", "")) if scope["type"] == "http" else None
        limiter: RateLimiter | None = None
        if rules and scope.get("method") == "POST" and "app" in scope:
            limiter = getattr(scope["app"].state, "limiter", None)
        if limiter is not None and rules:
            client = (scope.get("client") or ("unknown", 0))[0]
            for rule in rules:
                wait = await limiter.retry_after(rule, client)
                if wait:
                    logger.info("rate limited rule=%s client=%s wait=%ds", rule, client, wait)
                    error = RateLimitedError(rule, wait)
                    scope.setdefault("state", {})[STATE_ERROR] = RATE_LIMITED
                    response = JSONResponse(
                        {"error": error.error, "detail": error.detail},
                        status_code=429,
                        headers=error.headers,
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
