"""The audit log is append-only on PostgreSQL too: plpgsql triggers refuse UPDATE, DELETE and
TRUNCATE, and the retention purge still removes old entries and leaves the triggers in place.

Runs against the PostgreSQL of `make test-scale` (YISHI_DATABASE_URL), in a schema of its own;
without a PostgreSQL URL it is skipped (the SQLite triggers are tested in tests/channels)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from channels.agent_console.accounts import AccountStore, AuditEntry
from channels.config import Settings
from channels.core.store import make_engine
from channels.privacy.retention import purge

URL = os.environ.get("YISHI_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not URL.startswith("postgresql"), reason="needs PostgreSQL (make test-scale)"
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    schema = f"audit_{uuid.uuid4().hex[:10]}"
    admin = create_engine(URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in URL else "?"
    engine = make_engine(f"{URL}{separator}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _refused(engine: Engine, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(statement))


def test_updates_deletes_and_truncates_are_refused(engine: Engine) -> None:
    from sqlalchemy.orm import sessionmaker

    accounts = AccountStore(sessionmaker(engine, expire_on_commit=False))
    accounts.audit("agent1", "unmask", "web:x", reason="核实身份")
    for statement in (
        "UPDATE audit_log SET reason = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        _refused(engine, statement)
    entry = accounts.audit_log(action="unmask")[0]
    assert (entry["actor"], entry["reason"]) == ("agent1", "核实身份")


def test_the_purge_removes_old_entries_and_keeps_the_triggers(
    engine: Engine, tmp_path: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for days, actor in ((2000, "old"), (10, "recent")):
            conn.execute(
                insert(AuditEntry).values(
                    at=now - dt.timedelta(days=days), actor=actor, role="admin", action="login"
                )
            )
    settings = Settings(
        _env_file=None,
        database_url=URL,
        tracker_db=tmp_path / "no-trackers.db",
        retention_audit_days=1095,
    )
    counts = purge(engine, settings)
    assert counts["audit"]["audit_log"] == 1
    with engine.connect() as conn:
        actors = conn.execute(select(AuditEntry.actor)).scalars().all()
        enabled = conn.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
                "AND tgname LIKE 'audit_log_no_%' AND tgenabled = 'O'"
            )
        ).scalar_one()
    # the purge's own audit entry, if it writes one, is recent too
    assert "old" not in actors and "recent" in actors
    assert enabled == 3
    _refused(engine, "DELETE FROM audit_log")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() >= 1
