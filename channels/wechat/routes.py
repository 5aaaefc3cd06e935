"""The webhook WeChat calls: `GET /wechat` (server verification) and `POST /wechat` (messages).

Configure it in 公众平台 → 基本配置 → 服务器配置 as `https://<host>/wechat` with the same Token,
EncodingAESKey and message mode (明文 / 兼容 / 安全) as the YISHI_WECHAT_* settings.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from channels.errors import YishiError
from channels.ratelimit import WECHAT_REPLY, RateLimiter
from channels.wechat.crypto import CryptoError
from channels.wechat.messages import (
    BadMessage,
    encrypted_reply_xml,
    parse_inbound,
    parse_xml,
    text_reply_xml,
)
from channels.wechat.service import WechatChannel
from yishi.logging import log_context

logger = logging.getLogger(__name__)
router = APIRouter(tags=["wechat"])
Param = Annotated[str, Query(max_length=256)]


def channel_of(request: Request) -> WechatChannel:
    channel: WechatChannel | None = getattr(request.app.state, "wechat", None)
    if channel is None or not channel.settings.enabled:
        raise YishiError("not_found", "请求的地址不存在。", 404)
    return channel


def _verify(channel: WechatChannel, signature: str, timestamp: str, nonce: str) -> None:
    if not channel.signature_ok(signature, timestamp, nonce):
        logger.warning("wechat request refused: bad signature or stale timestamp")
        raise YishiError("bad_signature", "签名校验失败或请求已过期。", 403)


@router.get("/wechat", response_class=PlainTextResponse, summary="WeChat server verification")
async def verify(
    request: Request,
    signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
    echostr: Param = "",
) -> PlainTextResponse:
    """WeChat checks the URL: `signature` = SHA-1 over the sorted token, timestamp and nonce;
    the answer is `echostr` as it came."""
    _verify(channel_of(request), signature, timestamp, nonce)
    return PlainTextResponse(echostr)


@router.post("/wechat", summary="WeChat messages and events (XML)")
async def receive(
    request: Request,
    signature: Param = "",
    timestamp: Param = "",
    nonce: Param = "",
    openid: Param = "",
    encrypt_type: Param = "",
    msg_signature: Param = "",
) -> Response:
    """One message or event; the answer is a passive reply (XML) or `success`."""
    received = asyncio.get_running_loop().time()
    channel = channel_of(request)
    _verify(channel, signature, timestamp, nonce)
    body = await request.body()
    digest = hashlib.sha256(body).hexdigest()
    if not await run_in_threadpool(channel.store.bind_nonce, timestamp, nonce, digest):
        logger.warning("wechat request refused: timestamp and nonce reused with another body")
        raise YishiError("replayed_request", "请求签名已被使用。", 403)
    mode = channel.settings.mode
    encrypted = encrypt_type.lower() == "aes"
    try:
        envelope = parse_xml(body)
        if encrypted and mode != "plaintext":
            sealed = envelope.get("Encrypt", "").strip()
            if not sealed:
                raise BadMessage("no <Encrypt> in an encrypted message")
            if not channel.crypto.check_msg_signature(msg_signature, timestamp, nonce, sealed):
                raise YishiError("bad_signature", "消息签名校验失败。", 403)
            fields = parse_xml(channel.crypto.decrypt(sealed))
        elif mode == "safe" or encrypted:
            raise BadMessage(
                f"{'an encrypted' if encrypted else 'a plaintext'} message in {mode} mode"
            )
        else:
            fields = envelope
        inbound = parse_inbound(fields)
    except CryptoError as exc:
        logger.warning("wechat message refused: %s", exc)
        raise YishiError("bad_message", "消息无法解密。", 403) from exc
    except BadMessage as exc:
        logger.warning("wechat message refused: %s", exc)
        raise YishiError("bad_message", "无法识别的微信消息。", 400) from exc
    if openid and openid != inbound.openid:
        raise YishiError("bad_message", "openid 与消息不一致。", 400)

    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    with log_context(inbound.sender):
        if (
            limiter is not None
            and inbound.event != "unsubscribe"  # nothing to say, and it closes the window
            and await limiter.retry_after("sender", inbound.sender)
        ):
            logger.info("wechat %s over its rate limit: polite reply", inbound.sender)
            reply: str | None = WECHAT_REPLY
        else:
            reply = await channel.respond(inbound, received)
    if reply is None:
        return PlainTextResponse("success")
    xml = text_reply_xml(inbound.openid, inbound.to_user, reply, int(time.time()))
    if encrypted:
        stamp, once = str(int(time.time())), secrets.token_hex(8)
        sealed = channel.crypto.encrypt(xml)
        xml = encrypted_reply_xml(
            sealed, channel.crypto.msg_signature(stamp, once, sealed), stamp, once
        )
    return Response(xml, media_type="application/xml")
