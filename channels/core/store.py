"""The gateway's own data (SQLAlchemy; SQLite by default, any URL by setting).

The transcript of every message in and out, masked before it is written. A message is written
before it goes to Rasa, so a failed turn is still on record (status `failed`). Messages that
reach the citizen outside a turn (an agent's reply, "客服已接入", a ticket's answer) are
`push` rows: each channel delivers them its own way (the web chat polls for them).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the gateway stores is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat(timespec="seconds") if value else None


AUTHORS = ("citizen", "bot", "agent", "system")


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    text: Mapped[str] = mapped_column(Text)  # masked
    status: Mapped[str] = mapped_column(String(16))  # received | answered | failed | sent | ...
    mode: Mapped[str] = mapped_column(String(16), default="standard")
    trace: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # citizen | bot | agent | system; who wrote it
    author: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # the staff account that wrote an agent message
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # delivered outside a turn (agent replies, notices); channels fetch these as updates
    push: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=False)
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)


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
    add_missing_columns(engine)
    return engine


def add_missing_columns(engine: Engine) -> None:
    """Bring an older database up to the models: add nullable columns a release introduced.

    Only additive changes are made this way (new tables come from create_all); anything else
    needs a real migration.
    """
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                logger.info("adding column %s.%s (%s)", table.name, column.name, kind)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def message_json(row: ChatMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "author": row.author or ("citizen" if row.direction == "in" else "bot"),
        "text": row.text,
        "buttons": row.buttons or [],
        "at": iso(row.created_at),
        "agent": row.agent,
        "status": row.status,
        "trace": row.trace,
    }


class TranscriptStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def record_inbound(self, sender: str, text: str, mode: str) -> int:
        with self._session.begin() as db:
            row = ChatMessage(
                sender=sender,
                direction="in",
                text=mask_pii(text),
                status="received",
                mode=mode,
                author="citizen",
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
            for reply in texts:
                db.add(
                    ChatMessage(
                        sender=sender,
                        direction="out",
                        text=mask_pii(reply),
                        status="sent",
                        mode=mode,
                        trace=trace,
                        author="bot",
                    )
                )

    def push(
        self,
        sender: str,
        text: str,
        *,
        author: str,
        agent: str | None = None,
        buttons: list[dict[str, str]] | None = None,
        mode: str = "standard",
    ) -> dict[str, Any]:
        """Store a message for the citizen that arrives outside a turn; return it."""
        with self._session.begin() as db:
            row = ChatMessage(
                sender=sender,
                direction="out",
                text=mask_pii(text),
                status="pending",
                mode=mode,
                author=author,
                agent=agent,
                push=True,
                buttons=buttons or None,
            )
            db.add(row)
            db.flush()
            return message_json(row)

    def updates(self, sender: str, after: int, limit: int = 100) -> list[dict[str, Any]]:
        """Pushed messages for `sender` newer than message id `after`."""
        with self._session() as db:
            rows = db.scalars(
                select(ChatMessage)
                .where(
                    ChatMessage.sender == sender,
                    ChatMessage.push.is_(True),
                    ChatMessage.id > after,
                )
                .order_by(ChatMessage.id)
                .limit(limit)
            ).all()
            return [message_json(r) for r in rows]

    def mark_delivered(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._session.begin() as db:
            for row in db.scalars(select(ChatMessage).where(ChatMessage.id.in_(ids))):
                if row.status == "pending":
                    row.status = "delivered"

    def history(self, sender: str, limit: int = 200) -> list[dict[str, Any]]:
        """The conversation's latest `limit` messages, oldest first."""
        with self._session() as db:
            rows = db.scalars(
                select(ChatMessage)
                .where(ChatMessage.sender == sender)
                .order_by(ChatMessage.id.desc())
                .limit(limit)
            ).all()
            return [message_json(r) for r in reversed(rows)]

    def citizen_texts(self, sender: str, limit: int = 5) -> list[str]:
        """The citizen's latest messages (masked), oldest first."""
        with self._session() as db:
            rows = db.scalars(
                select(ChatMessage.text)
                .where(ChatMessage.sender == sender, ChatMessage.direction == "in")
                .order_by(ChatMessage.id.desc())
                .limit(limit)
            ).all()
            return list(reversed(rows))
