"""Data keys and the cipher: round trips, rotation order, where keys come from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from channels.config import Settings
from channels.privacy.crypto import (
    DataCipher,
    DataKeyError,
    DecryptError,
    generate_key,
    load_keys,
    read_key_file,
    write_key_file,
)

ID_NUMBER = "11010519491231002X"


def test_values_round_trip_and_the_token_shows_nothing() -> None:
    cipher = DataCipher.ephemeral()
    token = cipher.encrypt(f"身份证{ID_NUMBER}")
    assert ID_NUMBER not in token and token.isascii()
    assert cipher.decrypt(token) == f"身份证{ID_NUMBER}"
    fields = {"name": "张三", "id_number": ID_NUMBER, "anonymous": False}
    assert cipher.decrypt_json(cipher.encrypt_json(fields)) == fields


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = generate_key(), generate_key()
    before = DataCipher([old]).encrypt("13912345678")
    both = DataCipher([new, old])
    assert both.decrypt(before) == "13912345678" and not both.is_current(before)
    rotated = both.rotate(before)
    assert both.is_current(rotated) and DataCipher([new]).decrypt(rotated) == "13912345678"
    with pytest.raises(DecryptError):
        DataCipher([new]).decrypt(before)
    with pytest.raises(DecryptError):
        DataCipher([generate_key()]).rotate(before)


def test_a_bad_key_is_named_by_position_never_shown() -> None:
    with pytest.raises(DataKeyError, match="#2") as caught:
        DataCipher([generate_key(), "not-a-key-secret"])
    assert "not-a-key-secret" not in str(caught.value)
    with pytest.raises(DataKeyError):
        DataCipher([])


def test_keys_from_the_environment_list(tmp_path: Path) -> None:
    first, second = generate_key(), generate_key()
    settings = Settings(
        data_keys=f" {first} ,{second},", database_url=f"sqlite:///{tmp_path / 'g.db'}"
    )
    assert load_keys(settings) == [first, second]
    assert not (tmp_path / "data.keys").exists()


def test_a_key_file_is_made_beside_the_database_outside_production(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'g.db'}")
    keys = load_keys(settings)
    path = tmp_path / "data.keys"
    assert len(keys) == 1 and read_key_file(path) == keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(settings) == keys  # made once, then read
    write_key_file(path, [generate_key(), *keys])
    assert load_keys(settings)[1:] == keys


def test_production_needs_keys(tmp_path: Path) -> None:
    secrets = {
        "env": "production",
        "rasa_token": "r",
        "internal_token": "i",
        "admin_token": "a",
        "citizen_secret": "c",
        "database_url": f"sqlite:///{tmp_path / 'g.db'}",
    }
    with pytest.raises(ValueError, match="YISHI_DATA_KEYS"):
        Settings(**secrets)  # type: ignore[arg-type]
    missing = Settings(**secrets, data_key_file=tmp_path / "absent.keys")  # type: ignore[arg-type]
    with pytest.raises(DataKeyError, match="production"):
        load_keys(missing)
    assert not (tmp_path / "absent.keys").exists()
    key = generate_key()
    assert load_keys(Settings(**secrets, data_keys=key)) == [key]  # type: ignore[arg-type]
