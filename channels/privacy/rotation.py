"""Key rotation: every encrypted value re-encrypted with the first data key.

`python -m channels.admin rotate-keys` runs `rotate_keys`. It also encrypts what was stored
before encryption existed (an application's plain `fields`, a ticket's plain contact mobile),
leaving the masked copy in the plain column. A value no configured key opens is counted as
`unreadable` and left as it is. Rows are handled in batches, each batch its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from channels.applications.store import Application, masked_fields
from channels.privacy.crypto import DataCipher, DecryptError
from channels.privacy.vault import VaultEntry
from channels.tickets.store import Ticket
from yishi.privacy import mask_pii

BATCH = 500


def _batches(sessions: sessionmaker[Session], model: Any) -> Iterator[tuple[Session, list[Any]]]:
    last = None
    key = model.id if hasattr(model, "id") else model.token
    while True:
        with sessions.begin() as db:
            query = select(model).order_by(key).limit(BATCH)
            if last is not None:
                query = query.where(key > last)
            rows = list(db.scalars(query))
            if not rows:
                return
            yield db, rows
            last = getattr(rows[-1], key.key)


def _rotate(cipher: DataCipher, token: str, counts: dict[str, int]) -> str:
    if cipher.is_current(token):
        return token
    try:
        rotated = cipher.rotate(token)
    except DecryptError:
        counts["unreadable"] += 1
        return token
    counts["rotated"] += 1
    return rotated


def _applications(cipher: DataCipher, row: Application, counts: dict[str, int]) -> None:
    if row.fields_enc:
        row.fields_enc = _rotate(cipher, row.fields_enc, counts)
    elif row.fields and masked_fields(row.fields) != row.fields:
        row.fields_enc = cipher.encrypt_json(row.fields)
        row.fields = masked_fields(row.fields)
        counts["encrypted"] += 1


def _tickets(cipher: DataCipher, row: Ticket, counts: dict[str, int]) -> None:
    if row.contact_mobile_enc:
        row.contact_mobile_enc = _rotate(cipher, row.contact_mobile_enc, counts)
    elif row.contact_mobile and mask_pii(row.contact_mobile) != row.contact_mobile:
        row.contact_mobile_enc = cipher.encrypt(row.contact_mobile)
        row.contact_mobile = mask_pii(row.contact_mobile)
        counts["encrypted"] += 1


def _vault(cipher: DataCipher, row: VaultEntry, counts: dict[str, int]) -> None:
    row.value = _rotate(cipher, row.value, counts)


def rotate_keys(sessions: sessionmaker[Session], cipher: DataCipher) -> dict[str, dict[str, int]]:
    """Re-encrypt every stored value with the first key; counts per table."""
    handlers: dict[str, tuple[Any, Callable[[DataCipher, Any, dict[str, int]], None]]] = {
        "applications": (Application, _applications),
        "tickets": (Ticket, _tickets),
        "pii_vault": (VaultEntry, _vault),
    }
    result: dict[str, dict[str, int]] = {}
    for name, (model, handle) in handlers.items():
        counts = {"rotated": 0, "encrypted": 0, "unreadable": 0}
        for _db, rows in _batches(sessions, model):
            for row in rows:
                handle(cipher, row, counts)
        result[name] = counts
    return result
