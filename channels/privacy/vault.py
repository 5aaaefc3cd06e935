"""The form-value vault: personal values a form carries between turns, encrypted, behind tokens.

A form collects a 身份证号 in one turn and submits it several turns later, so the value must
live somewhere meanwhile. Rasa's tracker store masks every stored event, so the action server
puts a token (`pii:v…`) in the slot instead and keeps the value here, encrypted with the data
keys, until the form is submitted or cancelled (then forgotten) or the form-draft retention
runs out (`YISHI_RETENTION_FORM_DRAFTS_DAYS`). A token opens only for the conversation that
sealed it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from channels.core.store import Base, _now
from channels.privacy.crypto import DataCipher, DecryptError

TOKEN_PREFIX = "pii:"
# "v" keeps the random part from ever reading as a digit run that masking would touch
TOKEN = re.compile(r"^pii:v[0-9a-f]{24}$")


def is_token(value: object) -> bool:
    return isinstance(value, str) and bool(TOKEN.match(value))


class VaultEntry(Base):
    __tablename__ = "pii_vault"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    sender: Mapped[str] = mapped_column(String(160), index=True)
    value: Mapped[str] = mapped_column(Text)  # Fernet token
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)


class PiiVault:
    def __init__(self, sessions: sessionmaker[Session], cipher: DataCipher) -> None:
        self._sessions = sessions
        self._cipher = cipher

    def seal(self, sender: str, values: Iterable[str]) -> list[str]:
        """One new token per value, in order."""
        tokens = []
        with self._sessions.begin() as db:
            for value in values:
                token = f"{TOKEN_PREFIX}v{secrets.token_hex(12)}"
                db.add(VaultEntry(token=token, sender=sender, value=self._cipher.encrypt(value)))
                tokens.append(token)
        return tokens

    def reveal(self, sender: str, tokens: Iterable[str]) -> dict[str, str]:
        """The values of this sender's tokens; unknown, expired or foreign tokens are left out."""
        wanted = {t for t in tokens if is_token(t)}
        if not wanted:
            return {}
        found: dict[str, str] = {}
        with self._sessions() as db:
            rows = db.scalars(
                select(VaultEntry).where(VaultEntry.token.in_(wanted), VaultEntry.sender == sender)
            )
            for row in rows:
                try:
                    found[row.token] = self._cipher.decrypt(row.value)
                except DecryptError:
                    continue  # its key was retired: as good as expired
        return found

    def forget(self, sender: str) -> int:
        """Drop every value this sender's forms left behind; how many there were."""
        with self._sessions.begin() as db:
            result = db.execute(delete(VaultEntry).where(VaultEntry.sender == sender))
            return int(getattr(result, "rowcount", 0) or 0)
