"""Who is calling: staff sessions for agent and admin routes, tokens for citizens.

Staff authenticate with the session cookie the login sets (HttpOnly, SameSite=Strict) or an
`Authorization: Bearer <token>` header. A cookie-authenticated request that changes anything
must also carry `X-Yishi-CSRF: 1`, a header other sites cannot make a browser send. Admin
routes also accept the ops token (`X-Yishi-Admin-Token`) for scripts.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request, WebSocket
from starlette.concurrency import run_in_threadpool

from channels.agent_console.accounts import AccountStore, Staff
from channels.config import Settings
from channels.errors import YishiError

COOKIE = "yishi_staff"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
OPS = Staff(username="ops-token", display_name="运维令牌", employee_no="-", role="admin")


def accounts_of(request: Request | WebSocket) -> AccountStore:
    store: AccountStore = request.app.state.accounts
    return store


def client_of(request: Request | WebSocket) -> str:
    return request.client.host if request.client else "unknown"


def _token(request: Request | WebSocket) -> tuple[str | None, bool]:
    """The session token and whether it came from the cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


async def current_staff(request: Request) -> Staff:
    token, from_cookie = _token(request)
    if not token:
        raise YishiError("not_authenticated", "请先登录坐席工作台。", 401)
    found = await run_in_threadpool(accounts_of(request).session, token)
    if found is None:
        raise YishiError("session_expired", "登录已过期，请重新登录。", 401)
    if from_cookie and request.method not in _SAFE_METHODS:
        if request.headers.get("x-yishi-csrf") != "1":
            raise YishiError("csrf", "请求缺少防伪标记，请刷新页面后重试。", 403)
    request.state.staff = found[0]
    request.state.session_expires = found[1]
    return found[0]


StaffDep = Annotated[Staff, Depends(current_staff)]


async def current_admin(
    request: Request, x_yishi_admin_token: Annotated[str | None, Header()] = None
) -> Staff:
    if x_yishi_admin_token is not None:
        settings: Settings = request.app.state.settings
        expected = settings.admin_token.get_secret_value()
        # bytes: compare_digest refuses str with non-ASCII characters
        if hmac.compare_digest(x_yishi_admin_token.encode(), expected.encode()):
            return OPS
        raise YishiError("forbidden", "管理令牌无效。", 403)
    staff = await current_staff(request)
    if staff.role != "admin":
        raise YishiError("forbidden", "需要管理员权限。", 403)
    return staff


AdminDep = Annotated[Staff, Depends(current_admin)]


async def websocket_staff(websocket: WebSocket) -> Staff | None:
    """The staff member behind a WebSocket handshake, or None. Cookie sessions must come from
    a page of this site (Origin check): WebSockets are not covered by the same-origin policy."""
    token, from_cookie = _token(websocket)
    if not token:
        return None
    if from_cookie:
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host")
        if origin is None or host is None or origin.split("://", 1)[-1] != host:
            return None
    found = await run_in_threadpool(accounts_of(websocket).session, token)
    return found[0] if found else None
