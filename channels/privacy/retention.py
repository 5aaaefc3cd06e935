"""Retention: each data class is kept for its own number of days, then deleted or anonymised.

`python -m channels.admin purge [--dry-run]` (and `make purge`) runs `purge`; the days come from
the settings (`YISHI_RETENTION_<CLASS>_DAYS`, docs/privacy.md). What happens to each class:

- transcripts: chat messages, WeChat pushes, WeChat dedup records, button menus and message
  windows older than the cutoff are deleted.
- handoffs: finished handoffs and idle conversation states are deleted; rating comments are
  cleared (the score stays for statistics) unless a 整改 follow-up is still open.
- applications: untouched for longer than the cutoff → anonymised: the encrypted form, the
  masked copy, the sender, the idempotency key and the mobile's last 4 digits go; receipt, form,
  status, dates and history stay for statistics.
- tickets: finished (办结, 回访) and untouched since the cutoff → anonymised: contact, address,
  summary, answer and sender go; number, category, department, dates and status stay.
- audit: audit entries and login attempts older than the cutoff are deleted (the append-only
  DELETE trigger is lifted and restored inside one transaction).
- trackers: Rasa's tracker events older than the cutoff are deleted.
- form_drafts: vault values (actions/forms/vault.py) older than the cutoff are deleted.

Voice recordings are never stored (speech is recognised in memory), so they have no class.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from channels.agent_console.accounts import AuditEntry, LoginAttempt, ensure_append_only
from channels.applications.store import Application
from channels.config import Settings
from channels.core.conversations import BOT, CLOSED, Conversation, Handoff
from channels.core.store import ChatMessage
from channels.feedback.store import OPEN_FOLLOWUP, Followup, Rating
from channels.privacy.vault import VaultEntry
from channels.tickets.store import CLOSED as TICKET_CLOSED
from channels.tickets.store import REVISITED, Ticket
from channels.wechat.store import WechatButtons, WechatInbound, WechatPush, WechatWindow

DATA_CLASSES = (
    "transcripts",
    "handoffs",
    "applications",
    "tickets",
    "audit",
    "trackers",
    "form_drafts",
)
ANONYMISED_SUMMARY = "（已超过保存期限，内容已清除）"

# Rasa's SQL tracker store table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent)
_tracker_events = Table("events", MetaData(), Column("timestamp", Float))


def retention_days(settings: Settings) -> dict[str, int]:
    return {name: int(getattr(settings, f"retention_{name}_days")) for name in DATA_CLASSES}


@dataclass(frozen=True)
class Step:
    """One table's share of a class: rows matching `where` are deleted, or updated to `values`."""

    name: str
    table: Any  # a mapped class or a Table
    where: ColumnElement[bool]
    values: dict[str, Any] | None = None


def _steps(name: str, cutoff: dt.datetime) -> list[Step]:
    if name == "transcripts":
        return [
            Step("chat_messages", ChatMessage, ChatMessage.created_at < cutoff),
            Step("wechat_pushes", WechatPush, WechatPush.created_at < cutoff),
            Step("wechat_inbound", WechatInbound, WechatInbound.received_at < cutoff),
            Step("wechat_buttons", WechatButtons, WechatButtons.updated_at < cutoff),
            Step("wechat_windows", WechatWindow, WechatWindow.updated_at < cutoff),
        ]
    if name == "handoffs":
        open_followup = exists().where(
            Followup.rating_id == Rating.id, Followup.status.in_(OPEN_FOLLOWUP)
        )
        return [
            Step(
                "handoffs", Handoff, and_(Handoff.ended_at.is_not(None), Handoff.ended_at < cutoff)
            ),
            Step(
                "conversations",
                Conversation,
                and_(Conversation.updated_at < cutoff, Conversation.state.in_((BOT, CLOSED))),
            ),
            Step(
                "rating_comments",
                Rating,
                and_(Rating.comment.is_not(None), Rating.created_at < cutoff, ~open_followup),
                {"comment": None},
            ),
        ]
    if name == "applications":
        return [
            Step(
                "applications",
                Application,
                and_(Application.updated_at < cutoff, Application.sender != ""),
                {
                    "fields": {},
                    "fields_enc": None,
                    "sender": "",
                    "mobile_last4": "",
                    # unique, so it cannot simply be emptied
                    "idempotency_key": literal("purged:", String) + Application.receipt,
                },
            )
        ]
    if name == "tickets":
        return [
            Step(
                "tickets",
                Ticket,
                and_(
                    Ticket.updated_at < cutoff,
                    Ticket.status.in_((TICKET_CLOSED, REVISITED)),
                    Ticket.sender != "",
                ),
                {
                    "sender": "",
                    "contact_name": None,
                    "contact_mobile": None,
                    "contact_mobile_enc": None,
                    "address": None,
                    "summary": ANONYMISED_SUMMARY,
                    "answer": None,
                },
            )
        ]
    if name == "audit":
        return [
            Step("audit_log", AuditEntry, AuditEntry.at < cutoff),
            Step("login_attempts", LoginAttempt, LoginAttempt.at < cutoff),
        ]
    if name == "form_drafts":
        return [Step("pii_vault", VaultEntry, VaultEntry.created_at < cutoff)]
    raise ValueError(name)


def _run(conn: Connection, step: Step, dry_run: bool) -> int:
    if dry_run:
        return int(conn.scalar(select(func.count()).select_from(step.table).where(step.where)) or 0)
    if step.values is None:
        statement: Any = delete(step.table).where(step.where)
    else:
        statement = update(step.table).where(step.where).values(**step.values)
    return int(conn.execute(statement).rowcount or 0)


def _purge_audit_log(engine: Engine, step: Step) -> int:
    """Delete old audit entries. The append-only DELETE trigger is lifted, the rows deleted and
    the trigger restored in one transaction, so no other writer ever sees the log without it.
    On PostgreSQL that takes the table's owner (ALTER TABLE … DISABLE TRIGGER)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete")
            count = _run(conn, step, dry_run=False)
            conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_delete")
            return count
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            return _run(conn, step, dry_run=False)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_delete")
            count = _run(conn, step, dry_run=False)
            ensure_append_only(conn)
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")
        return count


def _purge_trackers(url: str, cutoff: dt.datetime, dry_run: bool) -> dict[str, int]:
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return {"events": 0}  # Rasa has not run here yet
    engine = create_engine(url)
    try:
        step = Step("events", _tracker_events, _tracker_events.c.timestamp < cutoff.timestamp())
        with engine.begin() as conn:
            return {"events": _run(conn, step, dry_run)}
    finally:
        engine.dispose()


def purge(
    engine: Engine,
    settings: Settings,
    *,
    dry_run: bool = False,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, dict[str, int]]:
    """Delete or anonymise what is past its retention; {class: {table: rows}}. With `dry_run`
    nothing changes and the rows that would be touched are counted."""
    at = now()
    counts: dict[str, dict[str, int]] = {}
    for name, days in retention_days(settings).items():
        cutoff = at - dt.timedelta(days=days)
        if name == "trackers":
            counts[name] = _purge_trackers(settings.tracker_url, cutoff, dry_run)
            continue
        counts[name] = {}
        for step in _steps(name, cutoff):
            if step.table is AuditEntry and not dry_run:
                counts[name][step.name] = _purge_audit_log(engine, step)
                continue
            with engine.begin() as conn:
                counts[name][step.name] = _run(conn, step, dry_run)
    return counts
