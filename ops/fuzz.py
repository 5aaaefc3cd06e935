"""`make fuzz`: hundreds of bad inputs against every public endpoint of a running gateway.

Starts Rasa, the action server and the gateway on free ports with a fresh data directory
(ops.stack; or fuzzes a gateway already running with --gateway), then sends every case one
after the other: broken and hostile JSON, invalid UTF-8, control characters and emoji, SQL and
HTML injection, absurd values typed into a guided form through /api/chat, WeChat XML with XXE
and entity expansion (billion laughs), bad and missing signatures, replayed timestamps and
nonces, oversized bodies, wrong content types and methods, unknown routes and path traversal
(raw HTTP), and staff, admin and internal routes without credentials.

It prints a table by endpoint and outcome and fails when any answer is 5xx, a request fails at
the transport level, an answer breaks its case's expectation (the JSON error shape, no file
contents echoed…), a process died, /healthz is no longer ok, the number of applications
changed, or a known-good chat turn no longer works.

    python -m ops.fuzz                 # its own stack
    python -m ops.fuzz --limit 30      # a smoke: 30 cases spread over every endpoint
    python -m ops.fuzz --gateway http://127.0.0.1:8000

The default test run fuzzes its shared stack with 30 cases (tests/ops/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.table import Table

from ops.stack import RAISED_LIMITS_ENV, Stack, StackConfig

Check = Callable[[httpx.Response], str | None]
_UNSET: Any = object()

DEV_WECHAT_TOKEN = "yishi-dev-wechat-token"
DEV_ADMIN_TOKEN = "yishi-dev-admin-token"
KNOWN_GOOD = "身份证丢了怎么补办"


# ---------------------------------------------------------------------------------- cases


@dataclass
class Case:
    endpoint: str  # the table's row, e.g. "POST /api/chat"
    name: str
    method: str = "GET"
    path: str = "/"
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    json: Any = _UNSET
    content: bytes | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    raw: bytes | None = None  # sent as it is over a socket (what httpx would refuse or fix)
    check: Check | None = None
    # a fresh WeChat signature at send time (timestamps must be recent)
    wechat: bool = False
    wechat_timestamp: int | None = None
    wechat_nonce: str | None = None
    # a raw request the server may drop without an answer (a body shorter than declared)
    no_answer_ok: bool = False


@dataclass
class Result:
    case: Case
    status: int | None
    outcome: str  # 2xx 3xx 4xx 5xx closed transport
    violation: str | None
    seconds: float


def expect(*statuses: int) -> Check:
    def check(response: httpx.Response) -> str | None:
        if response.status_code not in statuses:
            return f"status {response.status_code}, expected {statuses}"
        return None

    return check


def expect_4xx(response: httpx.Response) -> str | None:
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}, expected a 4xx"
    return None


def all_of(*checks: Check) -> Check:
    def check(response: httpx.Response) -> str | None:
        for one in checks:
            problem = one(response)
            if problem:
                return problem
        return None

    return check


def not_containing(*needles: str) -> Check:
    def check(response: httpx.Response) -> str | None:
        body = response.text
        for needle in needles:
            if needle in body:
                return f"answer contains {needle!r}"
        return None

    return check


def _error_shape(response: httpx.Response) -> str | None:
    """Every 4xx of the JSON API is `{"error": ..., "detail": <Chinese>}`."""
    if response.status_code < 400 or response.status_code >= 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return "error answer is not JSON"
    if not isinstance(body, dict) or set(body) != {"error", "detail"}:
        return f"error answer is not {{error, detail}}: {str(body)[:80]}"
    if not any("\u4e00" <= ch <= "\u9fff" for ch in str(body["detail"])):
        return "error detail is not Chinese"
    return None


# Hostile text a citizen's message can carry; every one goes to the bot or is refused with 422.
HOSTILE_TEXTS: list[tuple[str, str]] = [
    ("sql-or", "' OR '1'='1"),
    ("sql-drop", "'; DROP TABLE applications; --"),
    ("sql-union", "1 UNION SELECT username, password_hash FROM staff --"),
    ("sql-comment", "admin'/*"),
    ("html-script", "<script>alert(1)</script>"),
    ("html-img", '<img src=x onerror="alert(document.cookie)">'),
    ("html-svg", '"><svg/onload=alert(1)>'),
    ("js-url", "javascript:alert(1)"),
    ("template", "{{7*7}} ${7*7} <%= 7*7 %>"),
    ("jndi", "${jndi:ldap://127.0.0.1/a}"),
    ("format", "%s%s%s%n%x %(message)s {0.__class__}"),
    ("traversal", "../../../../etc/passwd"),
    ("nul", "身份证\x00丢了"),
    ("controls", "\x01\x02\x03\x07\x1b[31m红色\x1b[0m"),
    ("only-controls", "\x00\x01\x02\x03"),
    ("rtl", "\u202e护照办理\u202c"),
    ("zero-width", "身\u200b份\u200c证\u200d丢\ufeff了"),
    ("emoji", "😀🙏🏻👨‍👩‍👧‍👦 身份证丢了怎么办 🆘"),
    ("rare-cjk", "𠀀𠀁𪚥𰻞 怎么办"),
    ("surrogate", "护照\ud800办理"),
    ("whitespace", " \t\u3000\n "),
    ("empty", ""),
    ("too-long", "证" * 501),
    ("at-limit", "问" * 500),
    ("newlines", "\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: x=1\r\n\r\n"),
    ("json-in-text", '{"sender": "web:other", "text": "hi"}'),
    ("digits", "9" * 400),
    ("pii", "身份证号11010519491231002X 手机13912345678 卡号6222020012345678901"),
    ("mixed-scripts", "مرحبا 안녕하세요 Привет こんにちは 你好"),
    ("fullwidth", "ＳＥＬＥＣＴ　＊　ＦＲＯＭ　ｓｔａｆｆ"),
]

# values typed into a guided form, one question at a time
ABSURD_VALUES = [
    "99999999999999999999999999999999",
    "-1",
    "0",
    "1e309",
    "NaN",
    "Infinity",
    "２０２６年１３月４５日",
    "9999-99-99",
    "𝟏𝟑𝟗𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖",
    "13912345678" * 20,
    "' OR 1=1 --",
    "<b>张三</b>",
    "110105194912310021" * 5,
    "-0.0000000001",
    "0x7fffffffffffffff",
    "１２３４５６７８９０１２３４５６７８",
]
FORM_STARTS = ["我要预约补办身份证", "帮我申请公积金租房提取", "我要办异地就医备案", "查进度"]


def _sender(tag: str) -> str:
    return f"web:fuzz-{tag}-{uuid.uuid4().hex[:8]}"


def chat_cases() -> list[Case]:
    ep = "POST /api/chat"
    cases = [
        Case(
            ep,
            f"text:{name}",
            "POST",
            "/api/chat",
            json={"sender": _sender(name), "text": text},
            check=expect(200, 422),
        )
        for name, text in HOSTILE_TEXTS
    ]
    bad_bodies: list[tuple[str, bytes, str]] = [
        ("empty-body", b"", "application/json"),
        ("truncated", b'{"sender": "web:abc", "text": "hi', "application/json"),
        ("array", b"[]", "application/json"),
        ("null", b"null", "application/json"),
        ("number", b"123", "application/json"),
        ("string", b'"hello"', "application/json"),
        ("trailing-comma", b'{"sender": "web:abc", "text": "hi",}', "application/json"),
        ("single-quotes", b"{'sender': 'web:abc', 'text': 'hi'}", "application/json"),
        ("invalid-utf8", b'{"sender": "web:abc", "text": "\xff\xfe\xfa"}', "application/json"),
        ("latin1", '{"sender": "web:abc", "text": "café"}'.encode("latin-1"), "application/json"),
        ("utf16", '{"sender": "web:abc", "text": "你好"}'.encode("utf-16"), "application/json"),
        ("deep-nesting", b"[" * 5000 + b"]" * 5000, "application/json"),
        ("nan", b'{"sender": "web:abc", "text": NaN}', "application/json"),
        ("huge-number", b'{"sender": "web:abc", "text": 1e999999}', "application/json"),
        ("big-int", b'{"sender": "web:abc", "text": ' + b"9" * 5000 + b"}", "application/json"),
        ("dup-keys", b'{"sender": "web:a", "sender": "web:b", "text": "hi"}', "application/json"),
        ("text-plain", b"sender=web:abc&text=hi", "text/plain"),
        ("form-encoded", b"sender=web%3Aabc&text=hi", "application/x-www-form-urlencoded"),
        ("xml", b"<xml><sender>web:abc</sender></xml>", "application/xml"),
        ("no-content-type", b'{"sender": "web:abc", "text": "hi"}', ""),
        ("bom", b'\xef\xbb\xbf{"sender": "web:abc", "text": "hi"}', "application/json"),
    ]
    for name, body, ctype in bad_bodies:
        headers = {"Content-Type": ctype} if ctype else {}
        cases.append(Case(ep, f"body:{name}", "POST", "/api/chat", content=body, headers=headers))
    bad_fields: list[tuple[str, Any]] = [
        ("sender-missing", {"text": "你好"}),
        ("text-missing", {"sender": "web:abc"}),
        ("sender-empty", {"sender": "", "text": "你好"}),
        ("sender-no-channel", {"sender": "abc", "text": "你好"}),
        ("sender-upper", {"sender": "WEB:abc", "text": "你好"}),
        ("sender-long", {"sender": "web:" + "a" * 500, "text": "你好"}),
        ("sender-slash", {"sender": "web:../../admin", "text": "你好"}),
        ("sender-cjk", {"sender": "web:张三", "text": "你好"}),
        ("sender-nul", {"sender": "web:a\x00b", "text": "你好"}),
        ("sender-number", {"sender": 12345, "text": "你好"}),
        ("text-number", {"sender": "web:abc", "text": 1.5e308}),
        ("text-list", {"sender": "web:abc", "text": ["你好"]}),
        ("text-object", {"sender": "web:abc", "text": {"$ne": ""}}),
        ("text-null", {"sender": "web:abc", "text": None}),
        ("mode-bad", {"sender": "web:abc", "text": "你好", "mode": "admin"}),
        ("mode-number", {"sender": "web:abc", "text": "你好", "mode": 1}),
    ]
    for name, payload in bad_fields:
        cases.append(
            Case(ep, f"field:{name}", "POST", "/api/chat", json=payload, check=expect(422))
        )
    cases += [
        Case(
            ep,
            "token:non-ascii",
            "POST",
            "/api/chat",
            json={"sender": _sender("tok"), "text": "你好"},
            headers={"X-Yishi-Citizen-Token": "tök€n"},
            check=expect(403),
        ),
        Case(
            ep,
            "token:wrong",
            "POST",
            "/api/chat",
            json={"sender": _sender("tok"), "text": "你好"},
            headers={"X-Yishi-Citizen-Token": "A" * 43},
            check=expect(403),
        ),
        Case(
            ep,
            "oversized:declared",
            "POST",
            "/api/chat",
            content=b'{"sender": "web:abc", "text": "' + b"a" * 300_000 + b'"}',
            headers={"Content-Type": "application/json"},
            check=expect(413),
        ),
        Case(ep, "method:get", "GET", "/api/chat", check=expect(405)),
        Case(ep, "method:delete", "DELETE", "/api/chat", check=expect(405)),
    ]
    return cases


def oversized_chunked_case() -> Case:
    body = b'{"sender": "web:abc", "text": "' + b"a" * 200_000 + b'"}'
    head = (
        b"POST /api/chat HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    chunks = b"".join(
        f"{len(body[i : i + 8192]):x}\r\n".encode() + body[i : i + 8192] + b"\r\n"
        for i in range(0, len(body), 8192)
    )
    return Case(
        "POST /api/chat",
        "oversized:chunked",
        raw=head + chunks + b"0\r\n\r\n",
        check=expect(413),
    )


def form_cases() -> list[Case]:
    """Start a form, type two absurd values (three failures would call a person), cancel."""
    ep = "POST /api/chat (form)"
    cases: list[Case] = []
    values = iter(ABSURD_VALUES * 2)
    for start in FORM_STARTS:
        for _ in range(2):
            sender = _sender("form")
            script = [start, next(values), next(values), "不办了", "是的"]
            for step, text in enumerate(script):
                cases.append(
                    Case(
                        ep,
                        f"{start[:6]}#{step}",
                        "POST",
                        "/api/chat",
                        json={"sender": sender, "text": text},
                        check=expect(200, 422),
                    )
                )
    return cases


def session_and_updates_cases() -> list[Case]:
    sess, upd = "POST /api/chat/session", "GET /api/chat/updates"
    return [
        Case(sess, "ok", "POST", "/api/chat/session", check=expect(200)),
        Case(sess, "channel-bad", "POST", "/api/chat/session", params={"channel": "admin"}),
        Case(sess, "channel-xss", "POST", "/api/chat/session", params={"channel": "<script>"}),
        Case(sess, "junk-body", "POST", "/api/chat/session", content=b"\xff" * 100),
        Case(sess, "method-get", "GET", "/api/chat/session", check=expect(405)),
        Case(upd, "no-sender", "GET", "/api/chat/updates", check=expect(422)),
        Case(upd, "bad-sender", "GET", "/api/chat/updates", params={"sender": "x"}),
        Case(
            upd,
            "no-token",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:abc"},
            check=expect(403),
        ),
        Case(
            upd,
            "token-non-ascii",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:abc"},
            headers={"X-Yishi-Citizen-Token": "ünïcödé"},
            check=expect(403),
        ),
        Case(
            upd,
            "after-negative",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:abc", "after": "-1"},
            check=expect(422),
        ),
        Case(
            upd,
            "after-huge",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:abc", "after": "9" * 30},
            check=expect_4xx,
        ),
        Case(
            upd,
            "after-text",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:abc", "after": "1; DROP TABLE chat_messages"},
            check=expect(422),
        ),
        Case(
            upd,
            "sender-long",
            "GET",
            "/api/chat/updates",
            params={"sender": "web:" + "a" * 1000},
            check=expect(422),
        ),
    ]


def kb_and_progress_cases() -> list[Case]:
    kb, prog = "POST /api/kb/search", "POST /api/progress"
    cases = [
        Case(kb, "empty", "POST", "/api/kb/search", json={"query": ""}, check=expect(422)),
        Case(kb, "spaces", "POST", "/api/kb/search", json={"query": "   "}, check=expect(422)),
        Case(kb, "long", "POST", "/api/kb/search", json={"query": "证" * 201}, check=expect(422)),
        Case(
            kb,
            "top-k-0",
            "POST",
            "/api/kb/search",
            json={"query": "护照", "top_k": 0},
            check=expect(422),
        ),
        Case(
            kb,
            "top-k-huge",
            "POST",
            "/api/kb/search",
            json={"query": "护照", "top_k": 10**30},
            check=expect(422),
        ),
        Case(
            kb,
            "top-k-float",
            "POST",
            "/api/kb/search",
            json={"query": "护照", "top_k": 2.5},
            check=expect(422),
        ),
        Case(
            kb,
            "bad-json",
            "POST",
            "/api/kb/search",
            content=b"{",
            headers={"Content-Type": "application/json"},
        ),
        Case(kb, "sql", "POST", "/api/kb/search", json={"query": "' OR 1=1 --"}, check=expect(200)),
        Case(kb, "emoji", "POST", "/api/kb/search", json={"query": "🆔😭丢了"}, check=expect(200)),
        Case(
            kb,
            "controls",
            "POST",
            "/api/kb/search",
            json={"query": "\x00\x01护照"},
            check=expect(200, 422),
        ),
        Case(
            kb,
            "surrogate",
            "POST",
            "/api/kb/search",
            json={"query": "\udfff护照"},
            check=expect(200, 422),
        ),
    ]
    lookups: list[tuple[str, Any, tuple[int, ...]]] = [
        ("sql", {"receipt": "' OR 1=1 --", "mobile_last4": "1234"}, (200,)),
        ("receipt-long", {"receipt": "Y" * 100, "mobile_last4": "1234"}, (422,)),
        ("last4-letters", {"receipt": "YS-20260101-000001", "mobile_last4": "abcd"}, (422,)),
        ("last4-long", {"receipt": "YS-20260101-000001", "mobile_last4": "123456"}, (422,)),
        ("last4-number", {"receipt": "YS-20260101-000001", "mobile_last4": 1234}, (422,)),
        ("unknown", {"receipt": "YS-20260101-999999", "mobile_last4": "0000"}, (200,)),
        ("wildcard", {"receipt": "YS-%-%", "mobile_last4": "____"}, (422,)),
        (
            "fullwidth",
            {"receipt": "ＹＳ２０２６０１０１０００００１", "mobile_last4": "1234"},
            (200,),
        ),
        ("missing", {}, (422,)),
    ]
    for name, payload, statuses in lookups:
        cases.append(
            Case(prog, name, "POST", "/api/progress", json=payload, check=expect(*statuses))
        )
    return cases


def _wav(seconds: float) -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\0\0" * int(16_000 * seconds))
    return out.getvalue()


def voice_cases() -> list[Case]:
    ep = "POST /api/voice"
    sender = {"sender": "web:fuzzvoice"}
    return [
        Case(ep, "no-audio", "POST", "/api/voice", data=sender, check=expect(422)),
        Case(
            ep,
            "no-sender",
            "POST",
            "/api/voice",
            files={"audio": ("a.wav", b"RIFF", "audio/wav")},
            check=expect(422),
        ),
        Case(
            ep,
            "bad-sender",
            "POST",
            "/api/voice",
            data={"sender": "<script>"},
            files={"audio": ("a.wav", b"RIFF", "audio/wav")},
            check=expect(422),
        ),
        Case(
            ep,
            "junk-wav",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.wav", os.urandom(4096), "audio/wav")},
            check=expect_4xx,
        ),
        Case(
            ep,
            "truncated-wav",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.wav", _wav(1.0)[:60], "audio/wav")},
            check=expect_4xx,
        ),
        Case(
            ep,
            "too-short",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.wav", _wav(0.05), "audio/wav")},
            check=expect_4xx,
        ),
        Case(
            ep,
            "text-as-audio",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.txt", "身份证丢了".encode(), "text/plain")},
            check=expect_4xx,
        ),
        Case(
            ep,
            "exe-as-audio",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.exe", b"MZ" + os.urandom(2000), "application/x-msdownload")},
            check=expect_4xx,
        ),
        Case(ep, "json-body", "POST", "/api/voice", json={"sender": "web:abc"}, check=expect(422)),
        Case(
            ep,
            "bad-boundary",
            "POST",
            "/api/voice",
            content=b'--xyz\r\nContent-Disposition: form-data; name="audio"\r\n\r\n\xff\xfe',
            headers={"Content-Type": "multipart/form-data; boundary=abc"},
            check=expect_4xx,
        ),
        Case(
            ep,
            "no-boundary",
            "POST",
            "/api/voice",
            content=b"junk",
            headers={"Content-Type": "multipart/form-data"},
            check=expect_4xx,
        ),
        Case(
            ep,
            "oversized",
            "POST",
            "/api/voice",
            data=sender,
            files={"audio": ("a.wav", b"\0" * (6 * 1024 * 1024), "audio/wav")},
            check=expect(413),
        ),
        Case(
            ep, "mode-bad", "POST", "/api/voice", data={**sender, "mode": "root"}, check=expect(422)
        ),
    ]


# ------------------------------------------------------------------------------ WeChat


def _wechat_xml(
    openid: str, msg_type: str = "text", create_time: str | None = None, **fields: str
) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        "<xml><ToUserName><![CDATA[gh_fuzz]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>"
    )


def _openid() -> str:
    return "oFuzz" + uuid.uuid4().hex[:20]


XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>oFuzzXxe</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content>"
    "<MsgId>1</MsgId></xml>"
)
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>oFuzzLol</FromUserName>"
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>"
)
QUADRATIC_BLOWUP = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "' + "a" * 5000 + '">]>'
    "<xml><Content>" + "&a;" * 500 + "</Content></xml>"
)
EXTERNAL_DTD = (
    '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd">'
    "<xml><FromUserName>oFuzzDtd</FromUserName><MsgType>text</MsgType></xml>"
)
PARAMETER_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>'
    "<xml><FromUserName>oFuzzPe</FromUserName></xml>"
)
XINCLUDE = (
    '<xml xmlns:xi="http://www.w3.org/2001/XInclude"><ToUserName>gh</ToUserName>'
    "<FromUserName>oFuzzXi</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    '<Content><xi:include href="file:///etc/passwd" parse="text"/></Content></xml>'
)


def wechat_cases() -> list[Case]:
    ep_get, ep_post = "GET /wechat", "POST /wechat"
    no_leak = not_containing("root:x:0:0", "lollollol")
    xml_headers = {"Content-Type": "text/xml"}

    def post(name: str, body: str | bytes, check: Check | None = None, **kw: Any) -> Case:
        content = body.encode() if isinstance(body, str) else body
        return Case(
            ep_post,
            name,
            "POST",
            "/wechat",
            content=content,
            headers=xml_headers,
            wechat=True,
            check=check,
            **kw,
        )

    now = int(time.time())
    cases = [
        Case(ep_get, "no-params", "GET", "/wechat", check=expect(403)),
        Case(
            ep_get,
            "bad-signature",
            "GET",
            "/wechat",
            params={"signature": "0" * 40, "timestamp": str(now), "nonce": "1", "echostr": "x"},
            check=expect(403),
        ),
        Case(
            ep_get,
            "non-ascii-signature",
            "GET",
            "/wechat",
            params={"signature": "签名" * 20, "timestamp": str(now), "nonce": "1", "echostr": "x"},
            check=expect(403),
        ),
        Case(
            ep_get,
            "timestamp-text",
            "GET",
            "/wechat",
            params={"signature": "0" * 40, "timestamp": "now", "nonce": "1"},
            check=expect(403),
        ),
        Case(
            ep_get,
            "timestamp-huge",
            "GET",
            "/wechat",
            params={"signature": "0" * 40, "timestamp": "9" * 200, "nonce": "1"},
            check=expect(403),
        ),
        Case(
            ep_get,
            "params-too-long",
            "GET",
            "/wechat",
            params={"signature": "a" * 5000, "timestamp": "1", "nonce": "1"},
            check=expect(422),
        ),
        Case(
            ep_get,
            "stale-signed",
            "GET",
            "/wechat",
            params={"echostr": "hi"},
            wechat=True,
            wechat_timestamp=now - 3600,
            check=expect(403),
        ),
        Case(
            ep_get,
            "echostr-xss",
            "GET",
            "/wechat",
            params={"echostr": "<script>alert(1)</script>"},
            wechat=True,
            check=all_of(expect(200), _plain_text),
        ),
        # XXE first, so the 30-case smoke of the test run always sends it
        post("xxe", XXE, all_of(expect(400), no_leak)),
        # no or wrong signature: refused before the body is read
        Case(
            ep_post,
            "unsigned",
            "POST",
            "/wechat",
            content=_wechat_xml("oFuzz1", Content="hi").encode(),
            headers=xml_headers,
            check=expect(403),
        ),
        Case(
            ep_post,
            "bad-signature",
            "POST",
            "/wechat",
            params={"signature": "f" * 40, "timestamp": str(now), "nonce": "n"},
            content=_wechat_xml("oFuzz1", Content="hi").encode(),
            headers=xml_headers,
            check=expect(403),
        ),
        Case(
            ep_post,
            "non-ascii-signature",
            "POST",
            "/wechat",
            params={"signature": "é" * 40, "timestamp": str(now), "nonce": "n"},
            content=b"<xml/>",
            headers=xml_headers,
            check=expect(403),
        ),
        post(
            "replayed-old-timestamp",
            _wechat_xml(_openid(), Content="hi", MsgId="1"),
            expect(403),
            wechat_timestamp=now - 86_400,
        ),
        post(
            "future-timestamp",
            _wechat_xml(_openid(), Content="hi", MsgId="2"),
            expect(403),
            wechat_timestamp=now + 86_400,
        ),
        # more entity tricks: refused as unreadable XML, nothing expanded or fetched
        post("billion-laughs", BILLION_LAUGHS, all_of(expect(400), no_leak)),
        post("quadratic-blowup", QUADRATIC_BLOWUP, expect(400)),
        post("external-dtd", EXTERNAL_DTD, expect(400)),
        post("parameter-entity", PARAMETER_ENTITY, expect(400)),
        post("xinclude", XINCLUDE, all_of(expect_4xx_or_ok, no_leak)),
        post("not-xml", "hello, world", expect(400)),
        post("empty", "", expect(400)),
        post("json", '{"MsgType": "text"}', expect(400)),
        post("wrong-root", "<message><MsgType>text</MsgType></message>", expect(400)),
        post("unclosed", "<xml><Content>hi", expect(400)),
        post("invalid-utf8", b"<xml><Content>\xff\xfe\xfd</Content></xml>", expect(400)),
        post("control-chars", "<xml><Content>\x01\x02</Content></xml>", expect(400)),
        post("deep-nesting", "<xml>" + "<a>" * 1500 + "</a>" * 1500 + "</xml>", expect(400)),
        post("oversized", "<xml><Content>" + "长" * 200_000 + "</Content></xml>", expect(413)),
        post(
            "no-openid", "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>", expect(400)
        ),
        post("openid-bad", _wechat_xml("o/../../x", Content="hi"), expect(400)),
        post("openid-long", _wechat_xml("o" * 500, Content="hi"), expect(400)),
        post("msgtype-bad", _wechat_xml(_openid(), "TEXT; DROP", Content="hi"), expect(400)),
        post(
            "createtime-text", _wechat_xml(_openid(), create_time="now", Content="hi"), expect(400)
        ),
        post(
            "createtime-huge",
            _wechat_xml(_openid(), create_time="9" * 40, Content="hi", MsgId=uuid.uuid4().hex),
            expect(200),
        ),
        post(
            "encrypted-in-plaintext",
            "<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>",
            expect_4xx,
            params={"encrypt_type": "aes", "msg_signature": "0" * 40},
        ),
        post(
            "encrypt-junk",
            "<xml><Encrypt><![CDATA[!!!not base64!!!]]></Encrypt></xml>",
            expect_4xx,
            params={"encrypt_type": "aes", "msg_signature": "x"},
        ),
        post(
            "openid-mismatch",
            _wechat_xml("oFuzzA", Content="hi"),
            expect(400),
            params={"openid": "oFuzzB"},
        ),
        post(
            "location-absurd",
            _wechat_xml(
                _openid(),
                "location",
                Location_X="1e400",
                Location_Y="nan",
                Label="<script>",
                MsgId=uuid.uuid4().hex,
            ),
            expect(200),
        ),
        post(
            "location-text",
            _wechat_xml(
                _openid(), "location", Location_X="north", Location_Y="east", MsgId=uuid.uuid4().hex
            ),
            expect(200),
        ),
        post(
            "event-unknown",
            _wechat_xml(_openid(), "event", Event="SELF_DESTRUCT", EventKey="x" * 3000),
            expect(200),
        ),
        post(
            "menu-key-unknown",
            _wechat_xml(_openid(), "event", Event="CLICK", EventKey="'; DROP TABLE x; --"),
            expect(200),
        ),
        post(
            "image",
            _wechat_xml(
                _openid(), "image", PicUrl="file:///etc/passwd", MediaId="x", MsgId=uuid.uuid4().hex
            ),
            all_of(expect(200), no_leak),
        ),
        post(
            "voice-no-media",
            _wechat_xml(
                _openid(), "voice", MediaId="../../etc/passwd", Format="amr", MsgId=uuid.uuid4().hex
            ),
            all_of(expect(200), no_leak),
        ),
        post(
            "msgtype-unknown",
            _wechat_xml(_openid(), "hologram", MsgId=uuid.uuid4().hex),
            expect(200),
        ),
        post(
            "content-cdata-break",
            _wechat_xml(_openid(), Content="]]><evil/><![CDATA[", MsgId=uuid.uuid4().hex),
            expect(200),
        ),
    ]
    for name, text in HOSTILE_TEXTS[:14]:
        cases.append(
            post(
                f"text:{name}",
                _wechat_xml(_openid(), Content=text, MsgId=uuid.uuid4().hex),
                expect(200, 400),
            )
        )
    # the same delivery three times (WeChat's retries; a replayed nonce and MsgId): one turn
    replay = _wechat_xml(_openid(), Content="护照怎么办", MsgId=uuid.uuid4().hex)
    for i in range(3):
        later = all_of(expect(200), _answer_is("success"))  # answered once, by the first
        check = expect(200) if i == 0 else later
        cases.append(post(f"replay#{i}", replay, check, wechat_nonce="fuzz-replay"))
    return cases


def _answer_is(text: str) -> Check:
    def check(response: httpx.Response) -> str | None:
        return None if response.text == text else f"answer {response.text[:60]!r}, not {text!r}"

    return check


def _plain_text(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("text/plain"):
        return "echostr not answered as text/plain"
    return None


def expect_4xx_or_ok(response: httpx.Response) -> str | None:
    return None if response.status_code in (200, 400) else f"status {response.status_code}"


# ------------------------------------------------------------------- staff and the rest


def staff_cases() -> list[Case]:
    agent, admin, internal = "agent (no session)", "admin (no credentials)", "internal (no token)"
    s = "web:abc"
    cases = [
        Case(agent, f"{method} {path}", method, path, json=body, check=expect(401))
        for method, path, body in (
            ("GET", "/api/agent/me", _UNSET),
            ("GET", "/api/agent/queue", _UNSET),
            ("GET", "/api/agent/conversations", _UNSET),
            ("GET", "/api/agent/agents", _UNSET),
            ("GET", "/api/agent/quick-replies", _UNSET),
            ("GET", f"/api/agent/conversations/{s}", _UNSET),
            ("POST", f"/api/agent/conversations/{s}/accept", {}),
            ("POST", f"/api/agent/conversations/{s}/reply", {"text": "hi"}),
            ("POST", f"/api/agent/conversations/{s}/transfer", {"to": "x"}),
            ("POST", f"/api/agent/conversations/{s}/handback", {}),
            ("POST", f"/api/agent/conversations/{s}/close", {"category": "咨询"}),
            ("POST", f"/api/agent/conversations/{s}/unmask", {"reason": "看看"}),
            ("POST", "/api/agent/logout", {}),
            ("GET", "/api/tickets", _UNSET),
            ("GET", "/api/tickets/12345-20260101-0001", _UNSET),
        )
    ]
    cases += [
        Case(
            agent,
            "bearer-junk",
            "GET",
            "/api/agent/me",
            headers={"Authorization": "Bearer ' OR 1=1 --"},
            check=expect(401),
        ),
        Case(
            agent,
            "bearer-non-ascii",
            "GET",
            "/api/agent/me",
            headers={"Authorization": "Bearer 令牌"},
            check=expect(401),
        ),
        Case(
            agent,
            "cookie-junk",
            "GET",
            "/api/agent/queue",
            headers={"Cookie": "yishi_staff=" + "A" * 3000},
            check=expect(401),
        ),
        Case(
            agent,
            "login-bad-json",
            "POST",
            "/api/agent/login",
            content=b"{",
            headers={"Content-Type": "application/json"},
        ),
        Case(
            agent,
            "login-empty",
            "POST",
            "/api/agent/login",
            json={"username": "", "password": ""},
            check=expect(422),
        ),
        Case(
            agent,
            "login-long",
            "POST",
            "/api/agent/login",
            json={"username": "a" * 65, "password": "x"},
            check=expect(422),
        ),
        Case(
            agent,
            "login-types",
            "POST",
            "/api/agent/login",
            json={"username": ["a"], "password": {"$gt": ""}},
            check=expect(422),
        ),
        Case(
            agent,
            "login-sql",
            "POST",
            "/api/agent/login",
            json={"username": "' OR '1'='1", "password": "' OR '1'='1"},
            check=expect(401),
        ),
        Case(
            agent,
            "login-unknown",
            "POST",
            "/api/agent/login",
            json={"username": "fuzz-nobody", "password": "😀" * 50},
            check=expect(401),
        ),
        Case(agent, "ws-as-http", "GET", "/api/agent/ws", check=expect_4xx),
        Case(agent, "page", "GET", "/agent", check=expect(200)),
    ]
    for method, path, body in (
        ("GET", "/api/admin/applications", _UNSET),
        ("POST", "/api/admin/applications/YS-20260101-000001/status", {"status": "已办结"}),
        ("POST", "/api/admin/applications/YS-20260101-000001/unmask", {"reason": "看看"}),
        ("GET", "/api/admin/dashboard", _UNSET),
        ("GET", "/api/admin/dashboard/export.csv", _UNSET),
        ("GET", "/api/admin/followups", _UNSET),
        ("GET", "/api/admin/ratings", _UNSET),
        ("GET", "/api/admin/audit", _UNSET),
        ("GET", "/api/admin/staff", _UNSET),
    ):
        cases.append(
            Case(admin, f"{method} {path}", method, path, json=body, check=expect(401, 404))
        )
    cases += [
        Case(
            admin,
            "token-wrong",
            "GET",
            "/api/admin/applications",
            headers={"X-Yishi-Admin-Token": "guess"},
            check=expect(403),
        ),
        Case(
            admin,
            "token-non-ascii",
            "GET",
            "/api/admin/applications",
            headers={"X-Yishi-Admin-Token": "管理员令牌"},
            check=expect(403),
        ),
        Case(
            admin,
            "token-empty",
            "GET",
            "/api/admin/applications",
            headers={"X-Yishi-Admin-Token": ""},
            check=expect(403),
        ),
        Case(admin, "page", "GET", "/admin", check=expect(200)),
    ]
    submit = {
        "form_id": "id_card_reissue",
        "sender": "web:abc",
        "idempotency_key": "fuzz-key-123",
        "mobile": "13912345678",
        "fields": {},
    }
    for method, path, body in (
        ("POST", "/internal/applications", submit),
        (
            "POST",
            "/internal/applications/lookup",
            {"receipt": "YS-20260101-000001", "mobile_last4": "1234"},
        ),
        ("GET", "/internal/appointments?hall=x&day=2026-01-01", _UNSET),
        ("GET", "/internal/history?sender=web:abc", _UNSET),
        ("GET", "/internal/insights/next?service_id=x", _UNSET),
        ("POST", "/internal/pii", {"sender": "web:abc", "values": ["13912345678"]}),
        ("POST", "/internal/pii/reveal", {"sender": "web:abc", "tokens": ["x"]}),
        ("POST", "/internal/pii/forget", {"sender": "web:abc"}),
    ):
        cases.append(
            Case(
                internal,
                f"{method} {path.split('?')[0]}",
                method,
                path,
                json=body,
                check=expect(401),
            )
        )
    cases += [
        Case(
            internal,
            "token-non-ascii",
            "POST",
            "/internal/applications",
            json=submit,
            headers={"X-Yishi-Token": "内部"},
            check=expect(401),
        ),
        Case(
            internal,
            "token-wrong",
            "POST",
            "/internal/applications",
            json=submit,
            headers={"X-Yishi-Token": "x" * 200},
            check=expect(401),
        ),
    ]
    return cases


def route_cases() -> list[Case]:
    ep, raw_ep = "unknown routes", "raw HTTP"
    leaks = not_containing("root:x:0:0", "SecretStr", "DEV_ADMIN_TOKEN", "[tool.ruff]")
    cases = [
        Case(ep, path[:48], "GET", path, check=all_of(expect(404, 405), leaks))
        for path in (
            "/api/unknown",
            "/wp-admin/setup.php",
            "/.env",
            "/.git/config",
            "/api/chat/../../etc/passwd",
            "/" + "a" * 4000,
            "/guides/" + "x" * 300,
            "/guides/<script>",
            "/guides/id_card_lost%00.yaml",
            "/static/nonexistent.js",
            "/api/%E4%BD%A0%E5%A5%BD",
            "/api/chat%00",
        )
    ]
    cases.append(Case(ep, "PUT /api/progress", "PUT", "/api/progress", check=expect(405)))
    cases.append(Case(ep, "OPTIONS /api/chat", "OPTIONS", "/api/chat", check=expect(200, 405)))
    for name, request_line in (
        ("dotdot", b"GET /../../../../etc/passwd HTTP/1.1"),
        ("static-dotdot", b"GET /static/../../pyproject.toml HTTP/1.1"),
        ("static-encoded-dotdot", b"GET /static/%2e%2e/%2e%2e/pyproject.toml HTTP/1.1"),
        ("agent-static-dotdot", b"GET /agent-static/..%2f..%2f..%2fpyproject.toml HTTP/1.1"),
        ("guide-dotdot", b"GET /guides/..%2F..%2Fpyproject HTTP/1.1"),
        ("invalid-utf8-path", b"GET /api/\xff\xfe HTTP/1.1"),
        ("bad-method", b"BREW /api/chat HTTP/1.1"),
        ("absolute-uri", b"GET http://evil.example/ HTTP/1.1"),
    ):
        cases.append(
            Case(
                raw_ep,
                name,
                raw=request_line + b"\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
                check=all_of(_status_not_2xx_unless_page, leaks),
            )
        )
    cases += [
        Case(
            raw_ep,
            "header-non-latin",
            raw=b"GET /healthz HTTP/1.1\r\nHost: fuzz\r\nX-Evil: \xe4\xbd\xa0\r\nConnection: close\r\n\r\n",
        ),
        Case(
            raw_ep,
            "header-huge",
            raw=b"GET /healthz HTTP/1.1\r\nHost: fuzz\r\nX-Big: "
            + b"a" * 70_000
            + b"\r\nConnection: close\r\n\r\n",
        ),
        Case(
            raw_ep,
            "length-mismatch",
            raw=b"POST /api/chat HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
            no_answer_ok=True,
        ),
        Case(
            raw_ep,
            "length-negative",
            raw=b"POST /api/chat HTTP/1.1\r\nHost: fuzz\r\nContent-Length: -5\r\nConnection: close\r\n\r\n",
        ),
        Case(
            raw_ep,
            "length-text",
            raw=b"POST /api/chat HTTP/1.1\r\nHost: fuzz\r\nContent-Length: lots\r\nConnection: close\r\n\r\n",
        ),
        Case(raw_ep, "garbage", raw=os.urandom(512)),
        oversized_chunked_case(),
        Case(ep, "metrics", "GET", "/metrics", check=expect(200, 401, 404)),
        Case(ep, "healthz-post", "POST", "/healthz", check=expect(405)),
    ]
    return cases


def _status_not_2xx_unless_page(response: httpx.Response) -> str | None:
    if 200 <= response.status_code < 300 and "<!doctype html" not in response.text[:200].lower():
        return f"status {response.status_code} for a path outside the site"
    return None


def all_cases() -> list[Case]:
    return (
        chat_cases()
        + form_cases()
        + session_and_updates_cases()
        + kb_and_progress_cases()
        + voice_cases()
        + wechat_cases()
        + staff_cases()
        + route_cases()
    )


def select(cases: list[Case], limit: int | None) -> list[Case]:
    """`limit` cases spread over the endpoints (shares as even as their sizes allow) and, within
    an endpoint, evenly over its cases, so a smoke touches every endpoint and kind of input."""
    if limit is None or limit >= len(cases):
        return cases
    by_endpoint: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_endpoint[case.endpoint].append(case)
    share = dict.fromkeys(by_endpoint, 0)
    while sum(share.values()) < limit:
        for endpoint, group in by_endpoint.items():
            if share[endpoint] < len(group) and sum(share.values()) < limit:
                share[endpoint] += 1
    picked = {
        id(group[i * len(group) // share[endpoint]])
        for endpoint, group in by_endpoint.items()
        for i in range(share[endpoint])
    }
    return [case for case in cases if id(case) in picked]


# ------------------------------------------------------------------------------ running


@dataclass
class Target:
    gateway_url: str
    wechat_token: str = DEV_WECHAT_TOKEN
    admin_token: str = DEV_ADMIN_TOKEN
    alive: Callable[[], dict[str, bool]] = field(default_factory=lambda: dict)


@dataclass
class Report:
    results: list[Result]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for r in self.results:
            table[r.case.endpoint][r.outcome] += 1
            if r.violation:
                table[r.case.endpoint]["violations"] += 1
        return table


def _sign(token: str, timestamp: int, nonce: str) -> dict[str, str]:
    parts = sorted([token, str(timestamp), nonce])
    return {
        "signature": hashlib.sha1("".join(parts).encode()).hexdigest(),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }


def _raw_request(
    url: str, payload: bytes, half_close: bool = False, timeout: float = 30.0
) -> httpx.Response:
    parts = urlsplit(url)
    with socket.create_connection(
        (parts.hostname or "127.0.0.1", parts.port or 80), timeout
    ) as sock:
        try:
            sock.sendall(payload)
            if half_close:  # nothing more is coming (uvicorn then drops the request)
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close before reading everything; its answer still counts
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise httpx.RemoteProtocolError("connection closed without an answer")
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = [tuple(line.split(b":", 1)) for line in head.split(b"\r\n")[1:] if b":" in line]
    return httpx.Response(
        status, headers=[(k.strip(), v.strip()) for k, v in headers], content=body
    )


def send(client: httpx.Client, target: Target, case: Case) -> httpx.Response:
    if case.raw is not None:
        return _raw_request(target.gateway_url, case.raw, half_close=case.no_answer_ok)
    params = dict(case.params or {})
    if case.wechat:
        stamp = case.wechat_timestamp if case.wechat_timestamp is not None else int(time.time())
        nonce = case.wechat_nonce or uuid.uuid4().hex[:10]
        params = {**_sign(target.wechat_token, stamp, nonce), **params}
    # header values as UTF-8 bytes: httpx refuses str outside ASCII, a hostile client does not
    headers: dict[str, str | bytes] = {k: v.encode() for k, v in (case.headers or {}).items()}
    kwargs: dict[str, Any] = {"params": params or None, "headers": headers}
    if case.json is not _UNSET:
        # json.dumps escapes lone surrogates (httpx's own encoder would refuse to send them)
        kwargs["content"] = json.dumps(case.json).encode()
        headers.setdefault("Content-Type", b"application/json")
    elif case.content is not None:
        kwargs["content"] = case.content
    if case.data is not None or case.files is not None:
        kwargs["data"] = case.data
        kwargs["files"] = case.files
    return client.request(case.method, case.path, **kwargs)


def run_case(client: httpx.Client, target: Target, case: Case) -> Result:
    started = time.monotonic()
    try:
        response = send(client, target, case)
    except httpx.RemoteProtocolError as exc:
        if case.no_answer_ok:
            return Result(case, None, "closed", None, time.monotonic() - started)
        return Result(case, None, "transport", str(exc)[:200], time.monotonic() - started)
    except (httpx.HTTPError, OSError, ValueError, IndexError) as exc:
        return Result(
            case,
            None,
            "transport",
            f"{type(exc).__name__}: {exc}"[:200],
            time.monotonic() - started,
        )
    status = response.status_code
    outcome = f"{status // 100}xx"
    violation = case.check(response) if case.check else None
    json_api = case.path.startswith(("/api/", "/internal/")) and case.raw is None
    if violation is None and json_api:
        violation = _error_shape(response)
    if violation is None and status >= 500:
        violation = f"{status}: {response.text[:160]}"
    return Result(case, status, outcome, violation, time.monotonic() - started)


def count_applications(client: httpx.Client, target: Target) -> int | None:
    response = client.get(
        "/api/admin/applications",
        params={"limit": "500"},
        headers={"X-Yishi-Admin-Token": target.admin_token},
    )
    return len(response.json()) if response.status_code == 200 else None


def known_good_chat(client: httpx.Client) -> str | None:
    response = client.post("/api/chat", json={"sender": _sender("check"), "text": KNOWN_GOOD})
    if response.status_code != 200:
        return f"known-good chat answered {response.status_code}: {response.text[:200]}"
    if not response.json().get("replies"):
        return "known-good chat got no reply"
    return None


STAFF_PREFIXES = {"/api/agent": "agent (no session)", "/api/tickets": "agent (no session)"}
OPEN_STAFF_ROUTES = {("POST", "/api/agent/login")}


def discovered_staff_cases(client: httpx.Client, known: Iterable[Case]) -> list[Case]:
    """Staff routes in the gateway's OpenAPI schema that the fixed list does not name yet
    (routes added later), each called without credentials: refused, never served."""
    try:
        schema = client.get("/openapi.json").json()
    except (httpx.HTTPError, ValueError):
        return []
    named = {(c.method, c.path.split("?")[0]) for c in known}
    cases: list[Case] = []
    for template, operations in sorted(schema.get("paths", {}).items()):
        endpoint = next((e for p, e in STAFF_PREFIXES.items() if template.startswith(p)), None)
        if template.startswith("/api/admin"):
            endpoint = "admin (no credentials)"
        if endpoint is None:
            continue
        path = re.sub(r"\{[^}]+\}", "fuzz", template)
        for method in operations:
            key = (method.upper(), path)
            if key in named or (method.upper(), template) in OPEN_STAFF_ROUTES:
                continue
            body = {} if method.upper() in ("POST", "PUT", "PATCH") else _UNSET
            cases.append(
                Case(
                    endpoint,
                    f"{key[0]} {path}",
                    key[0],
                    path,
                    json=body,
                    check=expect(401, 403, 422),
                )
            )
    return cases


def run(
    target: Target,
    cases: Iterable[Case],
    progress: Callable[[str], None] | None = None,
    discover: bool = False,
) -> Report:
    results: list[Result] = []
    problems: list[str] = []
    cases = list(cases)
    with httpx.Client(base_url=target.gateway_url, timeout=60, trust_env=False) as client:
        if discover:
            cases += discovered_staff_cases(client, cases)
        before = count_applications(client, target)
        if before is None:
            problems.append("cannot count applications (admin token?)")
        for case in cases:
            result = run_case(client, target, case)
            results.append(result)
            if progress is not None and (result.violation or result.outcome == "transport"):
                progress(f"  ! {case.endpoint} {case.name}: {result.violation}")
        dead = [name for name, alive in target.alive().items() if not alive]
        if dead:
            problems.append(f"processes died: {', '.join(dead)}")
        health = client.get("/healthz")
        if health.status_code != 200:
            problems.append(f"/healthz answered {health.status_code}: {health.text[:200]}")
        after = count_applications(client, target)
        if before is not None and after != before:
            problems.append(f"applications changed: {before} before, {after} after")
        broken = known_good_chat(client)
        if broken:
            problems.append(broken)
    for r in results:
        if r.outcome in ("5xx", "transport") or r.violation:
            problems.append(f"{r.case.endpoint} [{r.case.name}] → {r.status}: {r.violation}")
    return Report(results, problems)


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console(width=110)
    table = Table(title="Fuzz: cases by endpoint and outcome")
    columns = ("2xx", "3xx", "4xx", "5xx", "closed", "transport", "violations")
    table.add_column("endpoint")
    table.add_column("cases", justify="right")
    for col in columns:
        table.add_column(col, justify="right")
    totals: Counter[str] = Counter()
    for endpoint, counts in report.counts().items():
        n = sum(counts[c] for c in ("2xx", "3xx", "4xx", "5xx", "closed", "transport"))
        totals["cases"] += n
        totals.update({c: counts[c] for c in columns})
        table.add_row(endpoint, str(n), *(str(counts[c]) for c in columns))
    table.add_row("total", str(totals["cases"]), *(str(totals[c]) for c in columns), style="bold")
    console.print(table)
    slowest = max(report.results, key=lambda r: r.seconds, default=None)
    if slowest is not None:
        console.print(
            f"slowest case: {slowest.case.endpoint} [{slowest.case.name}] {slowest.seconds:.2f} s"
        )
    if report.ok:
        console.print(
            "[green]fuzz ok[/green]: no 5xx, no crash, /healthz ok, data intact, chat works"
        )
    else:
        console.print(f"[red]fuzz failed[/red] ({len(report.problems)} problems):")
        for problem in report.problems:
            console.print(f"  - {problem}", markup=False)


def write_results(report: Report, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for r in report.results:
            row = {
                "endpoint": r.case.endpoint,
                "case": r.case.name,
                "status": r.status,
                "outcome": r.outcome,
                "violation": r.violation,
                "seconds": round(r.seconds, 3),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def fuzz_stack(
    stack: Stack, limit: int | None = None, progress: Callable[[str], None] | None = None
) -> Report:
    """Fuzz a started `Stack` (its own WeChat token and admin token from its environment)."""
    env = {**os.environ, **stack.config.extra_env}
    target = Target(
        gateway_url=stack.config.gateway_url,
        wechat_token=env.get("YISHI_WECHAT_TOKEN", DEV_WECHAT_TOKEN),
        admin_token=env.get("YISHI_ADMIN_TOKEN", DEV_ADMIN_TOKEN),
        alive=lambda: {name: p.poll() is None for name, p in stack.processes.items()},
    )
    # the full run also calls staff routes found in /openapi.json that the list does not name
    return run(target, select(all_cases(), limit), progress, discover=limit is None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", help="fuzz this running gateway instead of starting a stack")
    parser.add_argument("--limit", type=int, help="at most this many cases (spread over endpoints)")
    parser.add_argument("--out", type=Path, help="write every case's outcome here (JSON lines)")
    args = parser.parse_args()
    console = Console(width=110)
    cases = select(all_cases(), args.limit)
    console.print(f"{len(cases)} cases over {len({c.endpoint for c in cases})} endpoints")
    if args.gateway:
        target = Target(
            gateway_url=args.gateway.rstrip("/"),
            wechat_token=os.environ.get("YISHI_WECHAT_TOKEN", DEV_WECHAT_TOKEN),
            admin_token=os.environ.get("YISHI_ADMIN_TOKEN", DEV_ADMIN_TOKEN),
        )
        report = run(target, cases, console.print, discover=args.limit is None)
    else:
        with tempfile.TemporaryDirectory(prefix="yishi-fuzz-") as tmp:
            config = StackConfig.on_free_ports(
                var_dir=Path(tmp) / "var", log_dir=Path(tmp) / "logs"
            )
            config.extra_env = {
                **RAISED_LIMITS_ENV,
                # pushes go to the simulator's stand-in for WeChat's API, not the internet
                "YISHI_WECHAT_API_BASE": f"{config.gateway_url}/wechat-sim/fake-api",
            }
            stack = Stack(config)
            console.print(f"Starting the stack (logs in {config.log_dir})…")
            stack.start_all()
            try:
                report = fuzz_stack(stack, args.limit, console.print)
            finally:
                stack.stop_all()
    print_report(report, console)
    if args.out:
        write_results(report, args.out)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
