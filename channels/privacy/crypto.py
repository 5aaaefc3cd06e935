"""Encryption of personal data at rest: Fernet tokens under keys from the settings.

Keys come from `YISHI_DATA_KEYS` (comma-separated) or, when that is empty, from a key file
(`YISHI_DATA_KEY_FILE`; one key per line; by default `data.keys` beside the SQLite database).
The first key encrypts; every key decrypts, so keys can be rotated: put a new key first, restart,
run `python -m channels.admin rotate-keys` (re-encrypts every value with the first key), then
drop the old key. Outside production a missing key file is created with a fresh key (mode 0600);
production refuses to start without keys.

A value is stored as a Fernet token (cryptography.fernet): version byte, timestamp, 128-bit IV,
AES-128-CBC ciphertext, HMAC-SHA256 — URL-safe base64, so it fits a text column.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from channels.config import Settings

logger = logging.getLogger(__name__)
KEY_FILE_HEADER = "# Yishi data keys: the first encrypts, all decrypt. Never commit this file.\n"


class DataKeyError(RuntimeError):
    """The data keys are missing or malformed (the message never contains a key)."""


class DecryptError(ValueError):
    """No configured key opens this value (a key was dropped too early, or it is corrupt)."""


def generate_key() -> str:
    """A new random key (32 bytes, URL-safe base64) for YISHI_DATA_KEYS or the key file."""
    return Fernet.generate_key().decode("ascii")


class DataCipher:
    """Encrypts with the first key, decrypts with any; re-encrypts old values with the first."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise DataKeyError("no data key configured")
        fernets = []
        for position, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                raise DataKeyError(
                    f"data key #{position} is not a valid key (32 bytes, URL-safe base64; "
                    "make one with `python -m channels.admin new-key`)"
                ) from exc
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def ephemeral(cls) -> DataCipher:
        """A cipher with a throw-away key (tests)."""
        return cls([generate_key()])

    def encrypt(self, text: str) -> str:
        return self._all.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptError("no configured data key opens this value") from exc

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))

    def is_current(self, token: str) -> bool:
        """Whether the value is already encrypted with the first key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same value encrypted with the first key (DecryptError if no key opens it)."""
        try:
            return self._all.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptError("no configured data key opens this value") from exc


def read_key_file(path: Path) -> list[str]:
    """Keys in a key file: one per line, the first encrypts; blank lines and # comments skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Write (or replace) a key file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".new")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(KEY_FILE_HEADER + "".join(f"{key}\n" for key in keys))
    os.replace(staging, path)


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first: use theirs
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{KEY_FILE_HEADER}{generate_key()}\n")
    logger.warning("no data key configured: created a new key file at %s", path)


def load_keys(settings: Settings) -> list[str]:
    """The configured keys, first one encrypting; creates a key file outside production."""
    configured = settings.data_keys.get_secret_value()
    if configured.strip():
        return [key.strip() for key in configured.split(",") if key.strip()]
    path = settings.data_key_path
    if not path.is_file():
        if settings.env == "production":
            raise DataKeyError(
                "YISHI_DATA_KEYS (or an existing YISHI_DATA_KEY_FILE) must hold the data keys "
                "in production"
            )
        _create_key_file(path)
    keys = read_key_file(path)
    if not keys:
        raise DataKeyError(f"the key file {path} holds no key")
    return keys


def cipher_from_settings(settings: Settings) -> DataCipher:
    return DataCipher(load_keys(settings))
