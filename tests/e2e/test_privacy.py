"""Privacy end to end: a 身份证号, a 手机号 and a 银行卡号 sent through /api/chat and a form must
not appear raw anywhere but the encrypted application record — not in the gateway's database
(transcripts, traces, applications, tickets, vault), not in Rasa's stored trackers, not in the
dashboard, the agent console or any log file. Staff see them only through an audited unmask."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from actions.forms.validators import id_check_char, luhn_ok
from channels.agent_console.accounts import AccountStore
from channels.core.store import make_engine
from ops.stack import Stack
from tests.e2e.test_handoff import PASSWORD, Agent
from yishi.privacy import mask_pii

# the at-rest checks dump the SQLite files themselves
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_files]

ADMIN = {"X-Yishi-Admin-Token": "yishi-dev-admin-token"}
# values no other test uses, so finding one anywhere means this test leaked it
ID_NUMBER = "44030419850612123" + id_check_char("44030419850612123")
MOBILE = "13698765432"
CARD = next("621700123456789012" + d for d in "0123456789" if luhn_ok("621700123456789012" + d))
FUND_ACCOUNT = "440300987654"
RAW = (ID_NUMBER, MOBILE, CARD, FUND_ACCOUNT)


def leaked(text: str) -> list[str]:
    return [raw for raw in RAW if raw in text]


def dump(db_path: Path) -> str:
    with sqlite3.connect(db_path) as db:
        return "\n".join(db.iterdump())


class Citizen:
    def __init__(self, gateway: httpx.Client) -> None:
        self.gateway = gateway
        self.sender = f"web:{uuid.uuid4().hex}"
        self.text = ""

    def say(self, text: str) -> dict[str, Any]:
        response = self.gateway.post("/api/chat", json={"sender": self.sender, "text": text})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.text = "\n".join(r["text"] for r in body["replies"])
        return body


@pytest.fixture
def agent(stack: Stack, gateway: httpx.Client) -> Iterator[Agent]:
    store = AccountStore(sessionmaker(make_engine(stack.config.database_url)))
    if store.get("e2e-privacy") is None:
        store.create("e2e-privacy", "赵敏", "1009", "agent", PASSWORD)
    person = Agent(stack, gateway, "e2e-privacy")
    person.online()
    try:
        yield person
    finally:
        person.offline()


def test_personal_numbers_stay_out_of_every_store_view_and_log(
    stack: Stack, gateway: httpx.Client, agent: Agent
) -> None:
    # a free-text message with all three, outside any form
    chatter = Citizen(gateway)
    chatter.say(f"我的身份证号是{ID_NUMBER}，手机{MOBILE}，银行卡{CARD}，能办什么")
    assert not leaked(chatter.text)

    # a whole form: 公积金租房提取 with ID, fund account, bank card and mobile
    filer = Citizen(gateway)
    filer.say("帮我申请公积金租房提取")
    for text in ("李四", ID_NUMBER, FUND_ACCOUNT, "没备案", "每月2500元", CARD, MOBILE):
        filer.say(text)
    assert "请核对" in filer.text and not leaked(filer.text)
    filer.say("确认提交")
    receipt = re.search(r"YS-\d{8}-\d{6}", filer.text)
    assert receipt, filer.text

    # half a form, then a person: the agent sees the collected values masked
    handed = Citizen(gateway)
    handed.say("我要预约补办身份证")
    for text in ("王五", ID_NUMBER, MOBILE):
        handed.say(text)
    assert "办理地点" in handed.text
    assert handed.say("转人工")["state"] == "queued"
    detail = agent.conv(handed.sender, "accept")
    assert not leaked(str(detail))
    slots = {s["name"]: s["value"] for s in detail["slots"]}
    assert slots["id_number"] == mask_pii(ID_NUMBER) and "*" * 10 in slots["id_number"]
    assert slots["mobile"] == "136****5432"
    full = agent.conv(handed.sender, "unmask", {"reason": "核对身份"})
    opened = {s["name"]: s["value"] for s in full["slots"]}
    assert opened["id_number"] == ID_NUMBER and opened["mobile"] == MOBILE
    agent.conv(handed.sender, "handback")

    # staff views: the agent console, the application list, the dashboard and its exports
    for citizen in (chatter, filer, handed):
        assert not leaked(str(agent.conv(citizen.sender)))
    listed = gateway.get("/api/admin/applications", headers=ADMIN).json()
    mine = next(a for a in listed if a["receipt"] == receipt.group(0))
    assert not leaked(str(listed)) and mine["fields"]["bank_card"].endswith(CARD[-4:])
    board = gateway.get("/api/admin/dashboard", headers=ADMIN)
    assert board.status_code == 200 and not leaked(board.text)
    for section in ("top_questions", "unanswered", "funnels"):
        export = gateway.get(
            "/api/admin/dashboard/export.csv", headers=ADMIN, params={"section": section}
        )
        assert export.status_code == 200 and not leaked(export.text)

    # the application record: raw values only through the audited unmask
    unmasked = gateway.post(
        f"/api/admin/applications/{receipt.group(0)}/unmask",
        headers=ADMIN,
        json={"reason": "复核提取申请"},
    ).json()
    assert unmasked["fields"]["id_number"] == ID_NUMBER
    assert unmasked["fields"]["bank_card"] == CARD
    audit = gateway.get("/api/admin/audit", headers=ADMIN, params={"action": "unmask"}).json()
    targets = {e["target"] for e in audit["items"]}
    assert {handed.sender, receipt.group(0)} <= targets

    # at rest: the gateway's whole database, Rasa's trackers, every log file
    var = stack.config.var_dir
    assert not leaked(dump(var / "yishi.db"))
    trackers = dump(var / "rasa_tracker.db")
    assert filer.sender in trackers and handed.sender in trackers  # the masking store is in use
    assert not leaked(trackers)
    logs = sorted(stack.config.log_dir.rglob("*"))
    assert logs
    for path in logs:
        if path.is_file():
            assert not leaked(path.read_text(errors="replace")), path
