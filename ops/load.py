"""Simulated citizens for the benchmark and the soak run: scripted conversations over HTTP.

A citizen runs one script at a time, one message at a time, the way a person types: a few
knowledge questions, a guided filing to the receipt, or a request for a person and a change of
mind. Every message ends in exactly one outcome: a reply (HTTP 200), an explicit error (an HTTP
status with the gateway's JSON error), or a transport failure; `Tally` counts them.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"

FAQ_QUESTIONS = (
    "身份证丢了补办要带什么",
    "护照要多少钱",
    "良民证去哪开",
    "公积金付房租能在手机上办吗",
    "异地就医备案怎么办",
    "结婚登记需要什么材料",
    "社保卡丢了怎么办",
    "新生儿怎么上户口",
    "失业金怎么领",
    "驾驶证到期了怎么换",
    "个人所得税汇算什么时候截止",
    "营业执照怎么办",
    "你好",
    "谢谢",
    "今天天气怎么样",
)
# 异地就医备案 from the first question to the receipt (tests/e2e/test_forms.py walks the same path)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def form_script(run: int) -> list[str]:
    name = SURNAMES[run % len(SURNAMES)] + GIVEN[(run // len(SURNAMES)) % len(GIVEN)]
    return [
        "我要办异地就医备案",
        name,
        ID_NUMBER,
        "示例市",
        "广东省广州市",
        "临时外出就医",
        "今天",
        MOBILE,
        "确认提交",
    ]


HANDOFF_SCRIPT = ["转人工", "不用了", "取消排队", "护照要多少钱"]
MIX = (("faq", 0.6), ("form", 0.25), ("handoff", 0.15))
RECEIPT = re.compile(r"YS-\d{8}-\d{6}")


@dataclass
class Tally:
    """What became of every message, and how long each took."""

    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    by_script: Counter[str] = field(default_factory=Counter)

    def record(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        if outcome == "reply":
            self.latencies.append(seconds)

    def percentiles(self) -> dict[str, float]:
        if not self.latencies:
            return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        values = np.percentile(np.array(self.latencies) * 1000, [50, 95, 99])
        return {"p50": float(values[0]), "p95": float(values[1]), "p99": float(values[2])}


@dataclass
class Citizen:
    sender: str
    rng: random.Random
    sent: int = 0
    # replies, and errors after the gateway recorded the message (Rasa or actions down: 503)
    recorded: int = 0
    answered: int = 0  # turns Rasa answered (its tracker must hold each)
    form_runs_confirmed: int = 0
    receipts: set[str] = field(default_factory=set)
    runs: int = 0

    def next_script(self) -> tuple[str, list[str]]:
        roll, total = self.rng.random(), 0.0
        kind = MIX[-1][0]
        for name, share in MIX:
            total += share
            if roll < total:
                kind = name
                break
        self.runs += 1
        if kind == "faq":
            return kind, self.rng.sample(FAQ_QUESTIONS, 3)
        if kind == "form":
            return kind, form_script(self.runs * 7 + self.rng.randrange(1000))
        return kind, list(HANDOFF_SCRIPT)


async def gateway_send(
    client: httpx.AsyncClient, citizen: Citizen, text: str
) -> tuple[str, dict[str, Any] | None]:
    """One message through the gateway: ("reply", body) or ("error:<status>", body)."""
    try:
        response = await client.post("/api/chat", json={"sender": citizen.sender, "text": text})
    except httpx.HTTPError as exc:
        return f"transport:{type(exc).__name__}", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200:
        return "reply", body
    return f"error:{response.status_code}", body


async def rasa_send(
    client: httpx.AsyncClient, citizen: Citizen, text: str
) -> tuple[str, dict[str, Any] | None]:
    """The same message straight to Rasa's REST channel (no gateway in between)."""
    try:
        response = await client.post(
            "/webhooks/rest/webhook", json={"sender": citizen.sender, "message": text}
        )
    except httpx.HTTPError as exc:
        return f"transport:{type(exc).__name__}", None
    if response.status_code == 200:
        return "reply", {"replies": response.json()}
    return f"error:{response.status_code}", None


async def run_citizens(
    send: Callable[[Citizen, str], Any],
    citizens: list[Citizen],
    messages: int,
    concurrency: int,
    tally: Tally,
    deadline: float | None = None,
    on_message: Callable[[int], None] | None = None,
    error_pause: tuple[float, float] = (10.0, 30.0),
) -> None:
    """Citizens run scripts until `messages` have been sent; at most `concurrency` at a time.
    After an error a citizen waits `error_pause` seconds (a person told the system is busy
    does not resend at once), then starts over with a new script."""
    budget = {"left": messages}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(citizen: Citizen) -> None:
        while budget["left"] > 0 and (deadline is None or time.monotonic() < deadline):
            kind, script = citizen.next_script()
            tally.by_script[kind] += 1
            for text in script:
                if budget["left"] <= 0:
                    return
                budget["left"] -= 1
                async with semaphore:
                    started = time.perf_counter()
                    outcome, body = await send(citizen, text)
                    elapsed = time.perf_counter() - started
                tally.sent += 1
                citizen.sent += 1
                tally.record(outcome, elapsed)
                if on_message is not None:
                    on_message(tally.sent)
                if outcome in ("reply", "error:503"):
                    citizen.recorded += 1
                if outcome == "reply" and body is not None:
                    intent = ((body.get("trace") or {}).get("intent") or {}).get("name")
                    if intent is not None:  # a bot turn (gateway-owned questions have none)
                        citizen.answered += 1
                    found = RECEIPT.findall(
                        " ".join(r.get("text") or "" for r in body.get("replies") or [])
                    )
                    if text == "确认提交" and kind == "form":
                        citizen.form_runs_confirmed += 1
                        citizen.receipts.update(found)
                elif text == "确认提交" and kind == "form":
                    # the submission may have landed before the reply was lost
                    citizen.form_runs_confirmed += 1
                if outcome != "reply":
                    await asyncio.sleep(citizen.rng.uniform(*error_pause))
                    break  # and start over

    await asyncio.gather(*(one(c) for c in citizens))


def make_citizens(count: int, prefix: str, seed: int) -> list[Citizen]:
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    return [
        Citizen(sender=f"{prefix}:{run}{i:04d}", rng=random.Random(rng.random()))
        for i in range(count)
    ]
