"""The gateway's own data (SQLAlchemy; SQLite by default, any URL by setting).

For now: the transcript of every message in and out, masked before it is written. A message
is written before it goes to Rasa, so a failed turn is still on record (status `failed`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from yishi.privacy import mask_pii


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    text: Mapped[str] = mapped_column(Text)  # masked
    status: Mapped[str] = mapped_column(String(16))  # received | answered | failed | sent
    mode: Mapped[str] = mapped_column(String(16), default="standard")
    trace: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


class TranscriptStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def record_inbound(self, sender: str, text: str, mode: str) -> int:
        with self._session.begin() as db:
            row = ChatMessage(
                sender=sender, direction="in", text=mask_pii(text), status="received", mode=mode
            )
            db.add(row)
            db.flush()
            return row.id

    def mark(self, message_id: int, status: str) -> None:
        with self._session.begin() as db:
            row = db.get(ChatMessage, message_id)
            if row is not None:
                row.status = status

    def record_replies(
        self, sender: str, texts: list[str], mode: str, trace: dict[str, Any] | None
    ) -> None:
        with self._session.begin() as db:
            for text in texts:
                db.add(
                    ChatMessage(
                        sender=sender,
                        direction="out",
                        text=mask_pii(text),
                        status="sent",
                        mode=mode,
                        trace=trace,
                    )
                )
