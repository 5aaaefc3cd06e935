"""Inbound XML → `Inbound`; replies → WeChat's passive-reply XML and numbered text.

Every XML body goes through defusedxml with DTDs forbidden: WeChat never sends one, so a
document type declaration (the door to XXE and entity-expansion bombs) is refused outright.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

OPENID = re.compile(r"^[A-Za-z0-9_.@=\-]{1,128}$")
_MSG_TYPE = re.compile(r"^[a-z_]{1,32}$")
# characters XML 1.0 cannot carry, even inside CDATA
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NUMBER = re.compile(r"^(\d{1,2})[.。、)）]?$")
CHOOSE_HINT = "（回复数字即可选择）"


class BadMessage(Exception):
    """The body is not a WeChat message we can read."""


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The child elements of `<xml>` as a flat dict (nested elements are left out)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise BadMessage(f"unreadable XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise BadMessage("the root element is not <xml>")
    return {child.tag: child.text or "" for child in root if len(child) == 0}


@dataclass(frozen=True)
class Inbound:
    """One message or event pushed by WeChat."""

    to_user: str  # the Official Account's original id (gh_…)
    openid: str  # the citizen (FromUserName)
    create_time: int
    msg_type: str
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def sender(self) -> str:
        return f"wechat:{self.openid}"

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def msg_id(self) -> str:
        return self.get("MsgId").strip()

    @property
    def event(self) -> str:
        return self.get("Event").strip().lower()

    @property
    def event_key(self) -> str:
        return self.get("EventKey").strip()

    @property
    def dedup_key(self) -> str:
        """MsgId for messages; FromUserName + CreateTime (and the event) for events."""
        if self.msg_id:
            return f"m:{self.msg_id}"
        return f"e:{self.openid}:{self.create_time}:{self.event}:{self.event_key}"[:200]

    @property
    def location(self) -> tuple[float, float] | None:
        try:
            return float(self.get("Location_X")), float(self.get("Location_Y"))
        except ValueError:
            return None


def parse_inbound(fields: Mapping[str, str]) -> Inbound:
    openid = fields.get("FromUserName", "").strip()
    if not OPENID.fullmatch(openid):
        raise BadMessage("FromUserName is not an openid")
    msg_type = fields.get("MsgType", "").strip().lower()
    if not _MSG_TYPE.fullmatch(msg_type):
        raise BadMessage("MsgType missing or malformed")
    try:
        create_time = int(fields.get("CreateTime", "").strip())
    except ValueError as exc:
        raise BadMessage("CreateTime is not a number") from exc
    return Inbound(
        to_user=fields.get("ToUserName", "").strip(),
        openid=openid,
        create_time=create_time,
        msg_type=msg_type,
        fields=dict(fields),
    )


# ------------------------------------------------------------------ outbound XML


def cdata(text: str) -> str:
    text = _XML_INVALID.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int) -> str:
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_reply_xml(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    return (
        f"<xml><Encrypt>{cdata(encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{cdata(timestamp)}</TimeStamp>"
        f"<Nonce>{cdata(nonce)}</Nonce></xml>"
    )


# ------------------------------------------------------------------ text rendering


@dataclass
class Rendered:
    """What one turn says on WeChat: the text, and the buttons its numbers stand for."""

    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


def _button(raw: Any) -> dict[str, str] | None:
    data = raw.model_dump() if hasattr(raw, "model_dump") else raw
    if not isinstance(data, Mapping):
        return None
    title = str(data.get("title") or "").strip()
    payload = str(data.get("payload") or "").strip() or title
    return {"title": title, "payload": payload} if title else None


def render(messages: Sequence[tuple[str, Sequence[Any]]]) -> Rendered:
    """Join a turn's messages into one text; buttons become numbered lines across the turn."""
    blocks: list[str] = []
    buttons: list[dict[str, str]] = []
    for text, raw_buttons in messages:
        lines = [text.strip()] if text and text.strip() else []
        for raw in raw_buttons:
            button = _button(raw)
            if button is not None:
                buttons.append(button)
                lines.append(f"{len(buttons)}. {button['title']}")
        if lines:
            blocks.append("\n".join(lines))
    if buttons:
        blocks[-1] += "\n" + CHOOSE_HINT
    return Rendered("\n\n".join(blocks), buttons)


def pick_button(text: str, buttons: Sequence[Mapping[str, str]]) -> str | None:
    """The payload of the button a reply like "2" (or "２", "2.") picks, else None."""
    if not buttons:
        return None
    found = _NUMBER.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if found is None:
        return None
    number = int(found.group(1))
    if not 1 <= number <= len(buttons):
        return None
    chosen = buttons[number - 1]
    return chosen.get("payload") or chosen.get("title") or None


def split_text(text: str, max_bytes: int) -> list[str]:
    """Cut text into messages of at most `max_bytes` UTF-8 bytes, at line ends where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > max_bytes:  # one very long line: cut by characters
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > max_bytes:
                cut = cut * max_bytes // len(line[:cut].encode("utf-8")) or 1
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) > max_bytes:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [c.strip("\n") for c in chunks if c.strip()]
