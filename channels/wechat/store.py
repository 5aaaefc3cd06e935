"""What the WeChat channel keeps in the gateway's database.

- `wechat_inbound`: one row per dedup key (MsgId, or FromUserName + CreateTime for events),
  inserted before anything else happens; the primary key makes the first delivery the only
  one processed, also across gateway replicas. `retries` counts the deliveries turned away.
- `wechat_buttons`: the buttons of the last message each citizen was shown, so that a reply
  with a number picks one.
- `wechat_windows`: the customer-service window each citizen's last action opened (until when,
  and how many messages are left), as WeChat counts it.
- `wechat_nonces`: each signed request's timestamp and nonce with the SHA-256 of the body first
  delivered under them, for twice the allowed clock skew. In plaintext mode the signature covers
  only the token, timestamp and nonce, not the body: a captured query string would otherwise carry
  any body for five minutes. WeChat's own retries repeat the body and still pass.
- `wechat_pushes`: every customer-service message, its outcome and WeChat's error code (masked
  text: the log is for operators and the simulator, not a second transcript).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from channels.core.store import Base, as_utc, iso
from yishi.privacy import mask_pii


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WechatInbound(Base):
    __tablename__ = "wechat_inbound"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    openid: Mapped[str] = mapped_column(String(128), index=True)
    msg_type: Mapped[str] = mapped_column(String(32))
    # processing → replied (passively) | pushed | push_failed | no_reply | failed
    status: Mapped[str] = mapped_column(String(16), default="processing")
    retries: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WechatNonce(Base):
    __tablename__ = "wechat_nonces"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<timestamp>:<nonce>"
    body_sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class WechatButtons(Base):
    __tablename__ = "wechat_buttons"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    buttons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WechatWindow(Base):
    __tablename__ = "wechat_windows"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    remaining: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WechatPush(Base):
    __tablename__ = "wechat_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # reply | agent | system | bot
    text: Mapped[str] = mapped_column(Text)  # masked
    # pending → sent | failed | skipped (window closed or quota used up)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    detail: Mapped[str | None] = mapped_column(String(120), nullable=True)
    errcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the transcript message it delivers, for pushes from the handoff service
    message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WechatStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._session = sessions

    # -- dedup ------------------------------------------------------------------------------
    def claim(self, key: str, openid: str, msg_type: str, now: dt.datetime | None = None) -> bool:
        """Record a delivery; True only for the first one of its key."""
        try:
            with self._session.begin() as db:
                db.add(
                    WechatInbound(
                        key=key,
                        openid=openid,
                        msg_type=msg_type,
                        status="processing",
                        retries=0,
                        received_at=now or _now(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def note_retry(self, key: str) -> None:
        with self._session.begin() as db:
            db.execute(
                update(WechatInbound)
                .where(WechatInbound.key == key)
                .values(retries=WechatInbound.retries + 1)
            )

    def finish(self, key: str, status: str) -> None:
        with self._session.begin() as db:
            db.execute(
                update(WechatInbound)
                .where(WechatInbound.key == key)
                .values(status=status, finished_at=_now())
            )

    def inbound(self, key: str) -> dict[str, Any] | None:
        with self._session() as db:
            row = db.get(WechatInbound, key)
            if row is None:
                return None
            return {"key": row.key, "status": row.status, "retries": row.retries}

    def prune(self, older_than: dt.datetime) -> int:
        with self._session.begin() as db:
            result = db.execute(delete(WechatInbound).where(WechatInbound.received_at < older_than))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- signed requests ---------------------------------------------------------------------
    def bind_nonce(
        self, timestamp: str, nonce: str, body_sha256: str, now: dt.datetime | None = None
    ) -> bool:
        """Record the body first delivered under this timestamp and nonce; False when they
        were used before with another body (a replayed signature)."""
        key = f"{timestamp}:{nonce}"[:200]
        try:
            with self._session.begin() as db:
                db.add(WechatNonce(key=key, body_sha256=body_sha256, seen_at=now or _now()))
        except IntegrityError:
            with self._session() as db:
                row = db.get(WechatNonce, key)
                return row is not None and row.body_sha256 == body_sha256
        return True

    def prune_nonces(self, older_than: dt.datetime) -> int:
        with self._session.begin() as db:
            result = db.execute(delete(WechatNonce).where(WechatNonce.seen_at < older_than))
            return int(getattr(result, "rowcount", 0) or 0)

    # -- numbered buttons -------------------------------------------------------------------
    def buttons(self, openid: str) -> list[dict[str, str]]:
        with self._session() as db:
            row = db.get(WechatButtons, openid)
            return list(row.buttons) if row is not None else []

    def set_buttons(self, openid: str, buttons: list[dict[str, str]]) -> None:
        with self._session.begin() as db:
            row = db.get(WechatButtons, openid)
            if row is None:
                db.add(WechatButtons(openid=openid, buttons=buttons, updated_at=_now()))
            else:
                row.buttons = buttons
                row.updated_at = _now()

    # -- customer-service window ------------------------------------------------------------
    def open_window(self, openid: str, seconds: int, quota: int, now: dt.datetime) -> None:
        """A citizen's action (re)opens the window: the longer expiry and the larger quota win
        (WeChat's allowances do not add up)."""
        until = now + dt.timedelta(seconds=seconds)
        for _ in range(2):  # a replica may insert the same row first: then update it
            try:
                with self._session.begin() as db:
                    row = db.get(WechatWindow, openid)
                    if row is None:
                        db.add(
                            WechatWindow(
                                openid=openid, expires_at=until, remaining=quota, updated_at=now
                            )
                        )
                        return
                    live = as_utc(row.expires_at) > now
                    row.expires_at = max(as_utc(row.expires_at), until) if live else until
                    row.remaining = max(row.remaining, quota) if live else quota
                    row.updated_at = now
                    return
            except IntegrityError:
                continue

    def close_window(self, openid: str, now: dt.datetime) -> None:
        with self._session.begin() as db:
            db.execute(
                update(WechatWindow)
                .where(WechatWindow.openid == openid)
                .values(remaining=0, expires_at=now, updated_at=now)
            )

    def reserve(self, openid: str, now: dt.datetime) -> str | None:
        """Take one message from the window; None when allowed, else why not."""
        with self._session.begin() as db:
            taken = db.execute(
                update(WechatWindow)
                .where(
                    WechatWindow.openid == openid,
                    WechatWindow.remaining > 0,
                    WechatWindow.expires_at > now,
                )
                .values(remaining=WechatWindow.remaining - 1, updated_at=now)
            )
            if getattr(taken, "rowcount", 0) == 1:
                return None
            row = db.get(WechatWindow, openid)
        if row is None or as_utc(row.expires_at) <= now:
            return "window_closed"
        return "quota_used"

    def refund(self, openid: str) -> None:
        """A message that did not go out does not count against the quota."""
        with self._session.begin() as db:
            db.execute(
                update(WechatWindow)
                .where(WechatWindow.openid == openid)
                .values(remaining=WechatWindow.remaining + 1)
            )

    def window(self, openid: str) -> dict[str, Any] | None:
        with self._session() as db:
            row = db.get(WechatWindow, openid)
            if row is None:
                return None
            return {"expires_at": as_utc(row.expires_at), "remaining": row.remaining}

    # -- push log ---------------------------------------------------------------------------
    def log_push(self, openid: str, kind: str, text: str, message_id: int | None = None) -> int:
        with self._session.begin() as db:
            row = WechatPush(
                openid=openid,
                kind=kind,
                text=mask_pii(text),
                status="pending",
                attempts=0,
                message_id=message_id,
                created_at=_now(),
            )
            db.add(row)
            db.flush()
            return row.id

    def push_done(
        self,
        push_id: int,
        status: str,
        *,
        attempts: int = 0,
        errcode: int | None = None,
        detail: str | None = None,
    ) -> None:
        with self._session.begin() as db:
            row = db.get(WechatPush, push_id)
            if row is not None:
                row.status = status
                row.attempts = attempts
                row.errcode = errcode
                row.detail = (detail or "")[:120] or None
                row.sent_at = _now() if status == "sent" else None

    def pushes(self, openid: str, after: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        with self._session() as db:
            rows = db.scalars(
                select(WechatPush)
                .where(WechatPush.openid == openid, WechatPush.id > after)
                .order_by(WechatPush.id)
                .limit(limit)
            ).all()
            return [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "text": r.text,
                    "status": r.status,
                    "detail": r.detail,
                    "errcode": r.errcode,
                    "attempts": r.attempts,
                    "at": iso(r.created_at),
                }
                for r in rows
            ]
