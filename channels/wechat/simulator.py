"""/wechat-sim: a page that looks like a WeChat chat and talks to the real `/wechat` webhook.

Development and test only (404 in production, or with YISHI_WECHAT_SIMULATOR=false):

- `GET  /wechat-sim`                  the page (static files, no inline script or style)
- `GET  /wechat-sim/api/config`       the menu and the message mode, for the page
- `POST /wechat-sim/api/sign`         timestamp, nonce and signature for one request — the page
                                      builds the XML as WeChat does, but the token stays here
- `GET  /wechat-sim/api/pushes`       what the gateway pushed to this openid through the
                                      customer-service API (the push log, with each outcome)
- `/wechat-sim/fake-api/cgi-bin/*`    a stand-in for WeChat's API (token, customer-service
                                      messages, menu, media): point YISHI_WECHAT_API_BASE at
                                      `http://<gateway>/wechat-sim/fake-api` and pushes succeed
                                      in the demo; otherwise they fail honestly in the log
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from channels.errors import YishiError
from channels.wechat.crypto import sha1_signature
from channels.wechat.messages import OPENID
from channels.wechat.routes import channel_of
from channels.wechat.service import WechatChannel

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"sim.js": "text/javascript", "sim.css": "text/css"}


def simulator_channel(request: Request) -> WechatChannel:
    channel = channel_of(request)
    if not channel.settings.simulator_on:
        raise YishiError("not_found", "请求的地址不存在。", 404)
    return channel


Sim = Annotated[WechatChannel, Depends(simulator_channel)]
router = APIRouter(prefix="/wechat-sim", tags=["wechat simulator (development only)"])


@router.get("", include_in_schema=False)
async def page(_: Sim) -> FileResponse:
    return FileResponse(STATIC_DIR / "sim.html", headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str, _: Sim) -> FileResponse:
    if name not in STATIC_FILES:
        raise YishiError("not_found", "请求的地址不存在。", 404)
    return FileResponse(
        STATIC_DIR / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/api/config")
async def config(channel: Sim) -> dict[str, Any]:
    return {
        "mode": channel.settings.mode,
        "account": "gh_yishi_demo",
        "menu": channel.menu.wechat()["button"],
    }


@router.post("/api/sign")
async def sign(channel: Sim) -> dict[str, str]:
    """Query parameters for one request to /wechat, signed with the configured token."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    token = channel.settings.token.get_secret_value()
    return {
        "timestamp": timestamp,
        "nonce": nonce,
        "signature": sha1_signature(token, timestamp, nonce),
    }


@router.get("/api/pushes")
async def pushes(
    channel: Sim,
    openid: Annotated[str, Query(max_length=128)],
    after: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    if not OPENID.fullmatch(openid):
        raise YishiError("bad_openid", "openid 格式不正确。", 422)
    return {"pushes": await run_in_threadpool(channel.store.pushes, openid, after)}


# ------------------------------------------------------------------ the stand-in WeChat API


class _TokenRequest(BaseModel):
    grant_type: str = ""
    appid: str = ""
    secret: str = ""
    force_refresh: bool = False


@router.post("/fake-api/cgi-bin/stable_token", include_in_schema=False)
async def fake_token(body: _TokenRequest, request: Request, channel: Sim) -> dict[str, Any]:
    s = channel.settings
    if body.appid != s.app_id or body.secret != s.app_secret.get_secret_value():
        return {"errcode": 40125, "errmsg": "invalid appsecret"}
    state = request.app.state
    token = getattr(state, "wechat_sim_token", None)
    if token is None or body.force_refresh:
        token = state.wechat_sim_token = secrets.token_urlsafe(24)
    return {"access_token": token, "expires_in": 7200}


def _token_ok(request: Request, access_token: str) -> bool:
    issued = getattr(request.app.state, "wechat_sim_token", None)
    return isinstance(issued, str) and secrets.compare_digest(
        issued.encode(), access_token.encode()
    )


@router.post("/fake-api/cgi-bin/message/custom/send", include_in_schema=False)
@router.post("/fake-api/cgi-bin/menu/create", include_in_schema=False)
async def fake_ok(request: Request, _: Sim, access_token: str = "") -> JSONResponse:
    if not _token_ok(request, access_token):
        return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


@router.get("/fake-api/cgi-bin/media/get", include_in_schema=False)
async def fake_media(request: Request, _: Sim, access_token: str = "") -> JSONResponse:
    if not _token_ok(request, access_token):
        return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
    return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
