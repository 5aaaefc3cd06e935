"""Staff accounts (agents and admins), login sessions, login throttling and the audit log.

Passwords are hashed with Argon2id (argon2-cffi). A session is a random token given to the
browser in an HttpOnly cookie; only its SHA-256 is stored. Sessions end after a fixed lifetime
or when idle too long. Failed logins are counted per username and per client address in the
database, so throttling holds across restarts and replicas. The audit log is append-only: the
store offers no update or delete, and on SQLite triggers refuse them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from channels.core.store import Base, _now, as_utc, iso

Role = Literal["agent", "admin"]
ROLES: tuple[str, ...] = ("agent", "admin")
_hasher = PasswordHasher()


class StaffAccount(Base):
    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(32))
    employee_no: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str] = mapped_column(String(160), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    client: Mapped[str] = mapped_column(String(64), default="")


def ensure_append_only(connection: Connection) -> None:
    """Triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on the audit log.

    The retention purge (channels/privacy/retention.py) is the one exception: in a single
    transaction it lifts the DELETE trigger, removes entries past their retention, and puts the
    trigger back. On PostgreSQL, also grant the app role INSERT/SELECT only (docs/scale-out.md):
    the trigger stops mistakes, the grant stops a compromised app role."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_PG_REFUSE)
        for verb, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            connection.exec_driver_sql(
                f"CREATE OR REPLACE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} "
                f"ON audit_log FOR EACH {level} EXECUTE FUNCTION audit_log_refuse()"
            )
        return
    if connection.dialect.name != "sqlite":
        return
    for verb in ("UPDATE", "DELETE"):
        connection.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


_PG_REFUSE = (
    "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only' "
    "USING ERRCODE = 'integrity_constraint_violation'; END $$"
)


@event.listens_for(AuditEntry.__table__, "after_create")
def _audit_append_only(target: Any, connection: Connection, **_: Any) -> None:
    ensure_append_only(connection)


@dataclass(frozen=True)
class Staff:
    username: str
    display_name: str
    employee_no: str
    role: str

    def public(self) -> dict[str, str]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "employee_no": self.employee_no,
            "role": self.role,
        }

    @property
    def label(self) -> str:
        return f"{self.display_name}（工号{self.employee_no}）"


def _staff(row: StaffAccount) -> Staff:
    return Staff(row.username, row.display_name, row.employee_no, row.role)


class AccountError(ValueError):
    pass


class ThrottledError(Exception):
    pass


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        session_ttl_s: int = 8 * 3600,
        idle_timeout_s: int = 1800,
        max_failures: int = 5,
        max_client_failures: int = 20,
        failure_window_s: int = 900,
    ) -> None:
        self._sessions = sessions
        self.session_ttl_s = session_ttl_s
        self.idle_timeout_s = idle_timeout_s
        self.max_failures = max_failures
        self.max_client_failures = max_client_failures
        self.failure_window_s = failure_window_s

    # ------------------------------------------------------------------ accounts

    def create(
        self, username: str, display_name: str, employee_no: str, role: str, password: str
    ) -> Staff:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 10:
            raise AccountError("password must have at least 10 characters")
        if not username or len(username) > 64 or not username.isascii():
            raise AccountError("username must be 1-64 ASCII characters")
        with self._sessions.begin() as db:
            if db.scalar(select(StaffAccount).where(StaffAccount.username == username)):
                raise AccountError(f"account {username!r} exists")
            row = StaffAccount(
                username=username,
                display_name=display_name,
                employee_no=employee_no,
                role=role,
                password_hash=_hasher.hash(password),
            )
            db.add(row)
            return _staff(row)

    def set_password(self, username: str, password: str) -> None:
        if len(password) < 10:
            raise AccountError("password must have at least 10 characters")
        with self._sessions.begin() as db:
            row = db.scalar(select(StaffAccount).where(StaffAccount.username == username))
            if row is None:
                raise AccountError(f"no account {username!r}")
            row.password_hash = _hasher.hash(password)
            for session in db.scalars(
                select(StaffSession).where(StaffSession.username == username)
            ):
                db.delete(session)

    def set_active(self, username: str, active: bool) -> None:
        with self._sessions.begin() as db:
            row = db.scalar(select(StaffAccount).where(StaffAccount.username == username))
            if row is None:
                raise AccountError(f"no account {username!r}")
            row.active = active
            if not active:
                for session in db.scalars(
                    select(StaffSession).where(StaffSession.username == username)
                ):
                    db.delete(session)

    def get(self, username: str) -> Staff | None:
        with self._sessions() as db:
            row = db.scalar(
                select(StaffAccount).where(
                    StaffAccount.username == username, StaffAccount.active.is_(True)
                )
            )
            return _staff(row) if row else None

    def all(self) -> list[dict[str, Any]]:
        with self._sessions() as db:
            rows = db.scalars(select(StaffAccount).order_by(StaffAccount.username)).all()
            return [
                {
                    **_staff(r).public(),
                    "active": r.active,
                    "last_login_at": iso(r.last_login_at),
                }
                for r in rows
            ]

    # ------------------------------------------------------------------ login

    def login(self, username: str, password: str, client: str) -> tuple[Staff, str, dt.datetime]:
        """Check the password; return the account, a new session token and its expiry.

        Raises ThrottledError after too many recent failures (for the username or the client),
        AccountError on a wrong username or password (the same error for both).
        """
        now = _now()
        since = now - dt.timedelta(seconds=self.failure_window_s)
        with self._sessions.begin() as db:
            failures = db.scalar(
                select(func.count(LoginAttempt.id)).where(
                    LoginAttempt.username == username,
                    LoginAttempt.ok.is_(False),
                    LoginAttempt.at >= since,
                )
            )
            client_failures = db.scalar(
                select(func.count(LoginAttempt.id)).where(
                    LoginAttempt.client == client,
                    LoginAttempt.ok.is_(False),
                    LoginAttempt.at >= since,
                )
            )
            if (failures or 0) >= self.max_failures or (
                client_failures or 0
            ) >= self.max_client_failures:
                raise ThrottledError()
            row = db.scalar(
                select(StaffAccount).where(
                    StaffAccount.username == username, StaffAccount.active.is_(True)
                )
            )
            ok = False
            if row is not None:
                try:
                    ok = _hasher.verify(row.password_hash, password)
                except (VerificationError, InvalidHashError):
                    ok = False
            else:
                # spend the same time as a real check, so timing doesn't reveal usernames
                try:
                    _hasher.verify(_DUMMY_HASH, password)
                except (VerificationError, InvalidHashError):
                    pass
            db.add(LoginAttempt(username=username[:64], client=client[:64], ok=ok))
            if not ok or row is None:
                # commit the failed attempt (raising inside the block would roll it back)
                db.commit()
                raise AccountError("bad credentials")
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            row.last_login_at = now
            token = secrets.token_urlsafe(32)
            expires = now + dt.timedelta(seconds=self.session_ttl_s)
            db.add(
                StaffSession(
                    token_sha256=_sha(token),
                    username=row.username,
                    created_at=now,
                    expires_at=expires,
                    last_seen_at=now,
                )
            )
            return _staff(row), token, expires

    def session(self, token: str) -> tuple[Staff, dt.datetime] | None:
        """The staff member behind a session token, or None (unknown, expired, idle, disabled)."""
        if not token or len(token) > 200:
            return None
        now = _now()
        with self._sessions.begin() as db:
            session = db.get(StaffSession, _sha(token))
            if session is None:
                return None
            idle = now - as_utc(session.last_seen_at)
            if as_utc(session.expires_at) <= now or idle.total_seconds() > self.idle_timeout_s:
                db.delete(session)
                return None
            row = db.scalar(
                select(StaffAccount).where(
                    StaffAccount.username == session.username, StaffAccount.active.is_(True)
                )
            )
            if row is None:
                db.delete(session)
                return None
            if idle.total_seconds() > 30:  # don't write on every request
                session.last_seen_at = now
            return _staff(row), as_utc(session.expires_at)

    def logout(self, token: str) -> None:
        with self._sessions.begin() as db:
            session = db.get(StaffSession, _sha(token))
            if session is not None:
                db.delete(session)

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        actor: Staff | str,
        action: str,
        target: str = "",
        *,
        reason: str = "",
        detail: dict[str, Any] | None = None,
        client: str = "",
    ) -> None:
        username, role = (
            (actor.username, actor.role) if isinstance(actor, Staff) else (actor, "system")
        )
        with self._sessions.begin() as db:
            db.add(
                AuditEntry(
                    actor=username,
                    role=role,
                    action=action,
                    target=target,
                    reason=reason,
                    detail=detail,
                    client=client[:64],
                )
            )

    def audit_log(
        self, action: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        with self._sessions() as db:
            query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if action:
                query = query.where(AuditEntry.action == action)
            if actor:
                query = query.where(AuditEntry.actor == actor)
            return [
                {
                    "id": r.id,
                    "at": iso(r.at),
                    "actor": r.actor,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "reason": r.reason,
                    "detail": r.detail,
                    "client": r.client,
                }
                for r in db.scalars(query)
            ]


_DUMMY_HASH = _hasher.hash("yishi-timing-equaliser")
