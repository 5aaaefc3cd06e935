"""Masking of personal data (身份证号, 手机号, 银行卡号) before anything is logged or stored.

Masking is deliberately generous: a long digit run that merely looks like a card number is
masked too. Validation code sees the raw value; logs, transcripts and analytics never do.
"""

from __future__ import annotations

import re

# 18-digit resident ID (GB 11643): 6-digit area, birth date 18xx/19xx/20xx, sequence, check digit.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})([\dXx])(?![0-9A-Za-z])"
)
# Mainland mobile numbers, optionally written 138 1234 5678 / 138-1234-5678 / +86 prefix.
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z])((?:\+?86[ -]?)?1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![0-9A-Za-z])"
)
# Bank cards and other long account numbers: 12-19 digits, optionally grouped by spaces.
# A digit run glued to letters (a receipt number like YS20261123000123) is an identifier, not PII.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d(?:[ -]?\d){11,18})(?![0-9A-Za-z])")


def _mask_id(match: re.Match[str]) -> str:
    return f"{match.group(1)[:4]}{'*' * 10}{match.group(2)[-3:]}{match.group(3)}"


def _mask_mobile(match: re.Match[str]) -> str:
    return f"{match.group(1)}****{match.group(3)}"


def _mask_long_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(1))
    return f"{'*' * (len(digits) - 4)}{digits[-4:]}"


# Our own reference numbers are not personal data: receipts (YS-20261123-000123) and 12345
# tickets (12345-20261123-0001) are left as they are.
_REFERENCE = re.compile(r"(?<![0-9A-Za-z])(?:YS-\d{8}-\d{6}|12345-\d{8}-\d{4,5})(?![0-9A-Za-z])")


def _mask_part(text: str) -> str:
    text = _ID_CARD.sub(_mask_id, text)
    text = _LONG_NUMBER.sub(_mask_long_number, text)
    return _MOBILE.sub(_mask_mobile, text)


def mask_pii(text: str) -> str:
    """Return `text` with ID numbers, mobile numbers and long account numbers masked."""
    if not text:
        return text
    out, last = [], 0
    for ref in _REFERENCE.finditer(text):
        out += [_mask_part(text[last : ref.start()]), ref.group()]
        last = ref.end()
    out.append(_mask_part(text[last:]))
    return "".join(out)
