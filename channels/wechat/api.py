"""WeChat's server API, as far as the channel needs it: the access token, customer-service
messages, media downloads and the custom menu.

The access token comes from `POST /cgi-bin/stable_token` (normal mode: every caller within its
validity gets the same token, so gateway replicas do not invalidate each other's), is cached
and fetched again `refresh_margin_s` before it expires, or at once when WeChat calls it
invalid. Calls that fail for a passing reason (network, HTTP 5xx, errcode -1 "system busy",
45011 minute quota) are retried with exponential backoff; the rest raise `WechatApiError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

logger = logging.getLogger(__name__)

TOKEN_INVALID = frozenset({40001, 40014, 42001})
TRANSIENT = frozenset({-1, 45011})
# the citizen cannot be reached now: outside the window, quota used, unfollowed
WINDOW_CLOSED = frozenset({45015, 43004})
QUOTA_USED = frozenset({45047})


class WechatApiError(Exception):
    def __init__(self, errcode: int, errmsg: str, attempts: int = 1) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.attempts = attempts


class _Transient(Exception):
    def __init__(self, errcode: int, reason: str) -> None:
        super().__init__(reason)
        self.errcode = errcode
        self.reason = reason


class WechatApi:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        app_id: str,
        app_secret: str,
        *,
        refresh_margin_s: float = 300.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._base = base.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._margin = refresh_margin_s
        self._attempts = attempts
        self._backoff = backoff_s
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._expires = 0.0
        self._token_lock = asyncio.Lock()

    # -- access token -----------------------------------------------------------------------
    async def access_token(self, stale: str | None = None) -> str:
        """The cached token; a fresh one when it is near expiry or equals `stale`."""
        async with self._token_lock:
            if self._token and self._token != stale and self._clock() < self._expires:
                return self._token
            try:
                response = await self._http.post(
                    f"{self._base}/cgi-bin/stable_token",
                    content=_json_bytes(
                        {
                            "grant_type": "client_credential",
                            "appid": self._app_id,
                            "secret": self._app_secret,
                            "force_refresh": False,
                        }
                    ),
                    headers={"Content-Type": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise _Transient(-2, f"token: {type(exc).__name__}") from exc
            if response.status_code >= 500:
                raise _Transient(-2, f"token: HTTP {response.status_code}")
            body = _json_of(response)
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                errcode = int(body.get("errcode") or -2)
                if errcode in TRANSIENT:
                    raise _Transient(errcode, f"token: {body.get('errmsg')}")
                raise WechatApiError(errcode, f"token: {body.get('errmsg', 'no access_token')}")
            expires_in = float(body.get("expires_in") or 7200)
            self._token = token
            self._expires = self._clock() + expires_in - min(self._margin, expires_in / 2)
            logger.info("wechat access token fetched, valid %.0f s", expires_in)
            return token

    # -- calls ------------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        binary: bool = False,
    ) -> Any:
        """One API call with the token; JSON back (or the response when `binary` and WeChat
        answered with a file). Retries passing failures with backoff."""
        result, _ = await self._call(method, path, body=body, params=params, binary=binary)
        return result

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        binary: bool = False,
    ) -> tuple[Any, int]:
        attempt = 0
        refreshed = False
        stale: str | None = None
        while True:
            attempt += 1
            try:
                token = await self.access_token(stale)
                stale = None
                response = await self._http.request(
                    method,
                    f"{self._base}{path}",
                    params={**(params or {}), "access_token": token},
                    content=_json_bytes(body) if body is not None else None,
                    headers={"Content-Type": "application/json"} if body is not None else None,
                )
                if response.status_code >= 500:
                    raise _Transient(-2, f"HTTP {response.status_code}")
                if binary and not _is_json(response):
                    if response.status_code != 200:
                        raise WechatApiError(-3, f"HTTP {response.status_code}", attempt)
                    return response, attempt
                data = _json_of(response)
                errcode = int(data.get("errcode") or 0)
                if errcode == 0:
                    return data, attempt
                if errcode in TOKEN_INVALID and not refreshed:
                    refreshed = True
                    stale = token
                    logger.warning(
                        "wechat %s: token rejected (%d); fetching a new one", path, errcode
                    )
                    attempt -= 1  # a token refresh is not a failed attempt
                    continue
                if errcode in TRANSIENT:
                    raise _Transient(errcode, str(data.get("errmsg", "")))
                raise WechatApiError(errcode, str(data.get("errmsg", "")), attempt)
            except httpx.HTTPError as exc:
                failure = _Transient(-2, type(exc).__name__)
            except _Transient as exc:
                failure = exc
            if attempt >= self._attempts:
                logger.error(
                    "wechat %s failed after %d attempts: %s", path, attempt, failure.reason
                )
                raise WechatApiError(failure.errcode, failure.reason, attempt)
            delay = self._backoff * 2 ** (attempt - 1)
            logger.warning(
                "wechat %s attempt %d failed (%s); retrying in %.1f s",
                path,
                attempt,
                failure.reason,
                delay,
            )
            await self._sleep(delay)

    async def send_text(self, openid: str, content: str) -> int:
        """A customer-service text message (客服消息); the attempts it took."""
        _, attempts = await self._call(
            "POST",
            "/cgi-bin/message/custom/send",
            body={"touser": openid, "msgtype": "text", "text": {"content": content}},
        )
        return attempts

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """A temporary media file (a voice message's audio): its bytes and content type."""
        response = await self.call(
            "GET", "/cgi-bin/media/get", params={"media_id": media_id}, binary=True
        )
        if not isinstance(response, httpx.Response):
            raise WechatApiError(-3, "media/get answered JSON without a file")
        return response.content, response.headers.get("content-type", "")

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self.call("POST", "/cgi-bin/menu/create", body=menu)


def _json_bytes(data: Any) -> bytes:
    # WeChat shows \uXXXX escapes literally in some places (menu names): send real UTF-8
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "")
    return "json" in kind or kind.startswith("text/plain")


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise _Transient(-2, f"HTTP {response.status_code}, not JSON") from exc
    if not isinstance(data, dict):
        raise _Transient(-2, "JSON is not an object")
    return data
