"""Signatures and the safe-mode envelope of the WeChat message protocol.

- `signature` = SHA-1 of the token, timestamp and nonce, sorted and joined (URL verification
  and every push); `msg_signature` adds the `Encrypt` text to the four.
- Safe mode: AESKey = Base64_Decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with the
  first 16 key bytes as IV; the plaintext is random(16) + len(msg) as 4 bytes big-endian +
  msg + AppId, PKCS#7-padded to a multiple of 32 bytes; the result travels base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class CryptoError(Exception):
    """A safe-mode message that does not decrypt, or that was sealed for another AppId."""


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    expected = sha1_signature(token, timestamp, nonce)
    # bytes: compare_digest refuses str with non-ASCII characters (a forged query may have them)
    return hmac.compare_digest(expected.encode(), signature.lower().encode())


def _pad(data: bytes) -> bytes:
    amount = BLOCK - len(data) % BLOCK
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """Encrypts and decrypts safe-mode messages of one Official Account."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self._token = token
        self._key = key
        self._app_id = app_id.encode("utf-8")

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def msg_signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return sha1_signature(self._token, timestamp, nonce, encrypt)

    def check_msg_signature(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
        expected = self.msg_signature(timestamp, nonce, encrypt)
        return hmac.compare_digest(expected.encode(), signature.lower().encode())

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        body = message.encode("utf-8")
        random16 = os.urandom(16) if random16 is None else random16
        if len(random16) != 16:
            raise ValueError("random prefix must be 16 bytes")
        plain = _pad(random16 + struct.pack(">I", len(body)) + body + self._app_id)
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError("not base64") from exc
        if not data or len(data) % 16:
            raise CryptoError("ciphertext is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = _unpad(decryptor.update(data) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body, app_id = plain[20 : 20 + length], plain[20 + length :]
        if len(body) != length:
            raise CryptoError("length field past the end")
        if not hmac.compare_digest(app_id, self._app_id):
            raise CryptoError("sealed for another AppId")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("message is not UTF-8") from exc
