"""Signatures and the safe-mode envelope, against vectors made outside our code.

The vectors were computed from the protocol definition with coreutils and the OpenSSL command
line: `printf … | sha1sum` over the sorted parts, and
`openssl enc -aes-256-cbc -K <AESKey> -iv <AESKey[:16]> -nopad` over
random(16) + len(msg) (4 bytes, big-endian) + msg + AppId, PKCS#7-padded to 32 bytes.
"""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from channels.wechat.crypto import CryptoError, MessageCrypto, check_signature, sha1_signature

TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # WeChat's documented example key
APP_ID = "wxa1b2c3d4e5f6a7b8"
RANDOM16 = b"0123456789abcdef"
MESSAGE = (
    "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Content><![CDATA[你好]]></Content></xml>"
)
# openssl enc -aes-256-cbc -K 69b71d79…1051 -iv 69b71d79…fc31cb3d -nopad | base64
SEALED = (
    "Q3stYC6hdFzMh9T8HCvyDH9UTgHrzXvXNY6dSnJMj7GP6PBSWAA5ouBgYZXATrrqd7zsjLTEn8y8soLZld8E5d1t"
    "rgJ5EXS9udiZfNea/NhZHPOtZDaWmWeJPcXZ15BJx7hb9K1K+z/LC80DLP03A/77kcKkbeIL+qB29qacrTvM6Ps8"
    "AqdzuM+Ouwks/MLYfisR3nIjWKuKMp6wD0QqvA=="
)
# printf '%s' 1700000000 nonce42 test-token | sha1sum   (sorted: digits < lower case)
SIGNATURE = "ed8eb40027e7f2ba49c33bea1a8376a906914b3f"
# printf '%s' 1700000000 "$SEALED" nonce42 test-token | sha1sum
MSG_SIGNATURE = "77818af32e9b69beb390ed027e83def0304630a0"


@pytest.fixture
def crypto() -> MessageCrypto:
    return MessageCrypto(TOKEN, AES_KEY, APP_ID)


def test_signature_vector() -> None:
    assert sha1_signature(TOKEN, "1700000000", "nonce42") == SIGNATURE
    # the order the parts come in does not matter: they are sorted
    assert sha1_signature("nonce42", TOKEN, "1700000000") == SIGNATURE
    assert check_signature(TOKEN, SIGNATURE, "1700000000", "nonce42")
    assert check_signature(TOKEN, SIGNATURE.upper(), "1700000000", "nonce42")
    assert not check_signature(TOKEN, SIGNATURE, "1700000001", "nonce42")
    assert not check_signature("other-token", SIGNATURE, "1700000000", "nonce42")
    assert not check_signature(TOKEN, "", "1700000000", "nonce42")


def test_encrypt_matches_the_openssl_vector(crypto: MessageCrypto) -> None:
    assert crypto.encrypt(MESSAGE, random16=RANDOM16) == SEALED
    assert crypto.msg_signature("1700000000", "nonce42", SEALED) == MSG_SIGNATURE
    assert crypto.check_msg_signature(MSG_SIGNATURE, "1700000000", "nonce42", SEALED)
    assert not crypto.check_msg_signature(MSG_SIGNATURE, "1700000000", "nonce43", SEALED)


def test_decrypt_the_openssl_vector(crypto: MessageCrypto) -> None:
    assert crypto.decrypt(SEALED) == MESSAGE


def test_round_trip_pads_to_32_bytes(crypto: MessageCrypto) -> None:
    for size in (0, 1, 11, 12, 13, 44, 100, 2000):
        text = "好" * size
        sealed = crypto.encrypt(text)
        raw = base64.b64decode(sealed)
        # 16 random + 4 length + body + app id, padded to a multiple of 32 (a full block of
        # padding when already aligned)
        unpadded = 16 + 4 + len(text.encode()) + len(APP_ID)
        assert len(raw) % 32 == 0 and len(raw) > unpadded
        assert crypto.decrypt(sealed) == text
    assert crypto.encrypt("x") != crypto.encrypt("x")  # a fresh random prefix each time


def test_decrypt_refuses_tampering_and_other_accounts(crypto: MessageCrypto) -> None:
    other = MessageCrypto(TOKEN, AES_KEY, "wx0000000000000000")
    with pytest.raises(CryptoError, match="AppId"):
        other.decrypt(SEALED)
    wrong_key = MessageCrypto(TOKEN, "B" * 43, APP_ID)
    with pytest.raises(CryptoError):
        wrong_key.decrypt(SEALED)
    for bad in ("", "not base64!", base64.b64encode(b"short").decode(), SEALED[:-8] + "AAAAAA=="):
        with pytest.raises(CryptoError):
            crypto.decrypt(bad)


def test_length_field_past_the_end_is_refused(crypto: MessageCrypto) -> None:
    key = base64.b64decode(AES_KEY + "=")
    plain = RANDOM16 + struct.pack(">I", 9999) + b"<xml/>" + APP_ID.encode()
    plain += bytes([32 - len(plain) % 32]) * (32 - len(plain) % 32)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    sealed = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
    with pytest.raises(CryptoError):
        crypto.decrypt(sealed)
