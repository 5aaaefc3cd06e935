"""Handoff end to end: citizens over /api/chat, agents over the console's REST API and
WebSocket, the real Rasa and action server behind, and gateway restarts in between."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import sessionmaker
from websockets.sync.client import ClientConnection, connect

from channels.agent_console.accounts import AccountStore
from channels.core.store import make_engine
from ops.stack import Stack

pytestmark = pytest.mark.slow
PASSWORD = "handoff-test-pass"


class Citizen:
    def __init__(self, gateway: httpx.Client) -> None:
        self.gateway = gateway
        session = gateway.post("/api/chat/session").json()
        self.sender, self.token = session["sender"], session["token"]
        self.after = 0
        self.last: dict[str, Any] = {}

    def say(self, text: str) -> dict[str, Any]:
        response = self.gateway.post(
            "/api/chat",
            json={"sender": self.sender, "text": text},
            headers={"X-Yishi-Citizen-Token": self.token},
        )
        assert response.status_code == 200, response.text
        self.last = response.json()
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(r["text"] for r in self.last["replies"])

    def updates(self) -> dict[str, Any]:
        response = self.gateway.get(
            "/api/chat/updates",
            params={"sender": self.sender, "after": self.after},
            headers={"X-Yishi-Citizen-Token": self.token},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body["messages"]:
            self.after = body["messages"][-1]["id"]
        return body


class Agent:
    def __init__(self, stack: Stack, gateway: httpx.Client, username: str) -> None:
        self.stack = stack
        self.gateway = gateway
        self.username = username
        self.login()
        self.socket: ClientConnection | None = None

    def login(self) -> None:
        response = self.gateway.post(
            "/api/agent/login", json={"username": self.username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}

    def get(self, path: str) -> Any:
        response = self.gateway.get(path, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        response = self.gateway.post(path, json=body or {}, headers=self.headers)
        assert response.status_code == status, response.text
        return response.json()

    def conv(self, sender: str, action: str = "", body: dict[str, Any] | None = None) -> Any:
        path = f"/api/agent/conversations/{sender}" + (f"/{action}" if action else "")
        return self.post(path, body) if action else self.get(path)

    def online(self) -> ClientConnection:
        url = self.stack.config.gateway_url.replace("http://", "ws://") + "/api/agent/ws"
        self.socket = connect(url, additional_headers=self.headers, open_timeout=10)
        assert self.event("hello")["agent"]["username"] == self.username
        return self.socket

    def event(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        assert self.socket is not None
        while True:
            event = json.loads(self.socket.recv(timeout=timeout))
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    def offline(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> AccountStore:
    store = AccountStore(sessionmaker(make_engine(stack.config.database_url)))
    for username, name, number, role in (
        ("e2e-agent-a", "张敏", "1001", "agent"),
        ("e2e-agent-b", "王强", "1002", "agent"),
        ("e2e-admin", "李华", "9001", "admin"),
    ):
        if store.get(username) is None:
            store.create(username, name, number, role, PASSWORD)
    return store


@pytest.fixture
def agent(stack: Stack, gateway: httpx.Client, accounts: AccountStore) -> Iterator[Agent]:
    on_duty = Agent(stack, gateway, "e2e-agent-a")
    on_duty.online()
    yield on_duty
    on_duty.offline()


def _queued_sender(agent: Agent, sender: str) -> dict[str, Any]:
    while True:
        event = agent.event("queue")
        for item in event["items"]:
            if item["sender"] == sender:
                return item


def test_queue_accept_reply_and_hand_back(gateway: httpx.Client, agent: Agent) -> None:
    citizen = Citizen(gateway)
    citizen.say("身份证丢了补办要带什么")
    body = citizen.say("转人工")
    assert body["state"] == "queued" and body["trace"]["handoff"] is True
    assert body["queue"]["position"] >= 1 and body["queue"]["wait_minutes"] >= 1
    assert "前面还有" in citizen.text and "不等了" in str(body["replies"][-1]["buttons"])

    item = _queued_sender(agent, citizen.sender)
    assert item["reason"] == "citizen_request" and "身份证" in item["summary"]

    body = citizen.say("我的电话是13812345678，麻烦快点")
    assert body["state"] == "queued" and "已收到" in citizen.text

    detail = agent.conv(citizen.sender, "accept")
    assert detail["state"] == "agent" and detail["agent"]["username"] == "e2e-agent-a"
    authors = [m["author"] for m in detail["messages"]]
    assert authors[:2] == ["citizen", "bot"] and "system" in authors
    bot = next(m for m in detail["messages"] if m["author"] == "bot")
    assert bot["trace"]["kb"]["service_id"] == "id_card_lost"
    assert all("13812345678" not in m["text"] for m in detail["messages"])
    assert detail["suggestions"] and len(detail["suggestions"]) <= 3
    assert detail["suggestions"][0]["text"]

    updates = citizen.updates()
    assert updates["state"] == "agent"
    assert updates["agent"] == {"display_name": "张敏", "employee_no": "1001"}
    assert any("已接入" in m["text"] and "1001" in m["text"] for m in updates["messages"])

    body = citizen.say("我在中心区，身份证上周丢的")
    assert body["state"] == "agent" and body["replies"] == []
    event = agent.event("message", sender=citizen.sender)
    assert event["message"]["author"] == "citizen" and "中心区" in event["message"]["text"]

    reply = agent.conv(citizen.sender, "reply", {"text": "您好，补领身份证请带户口簿到派出所。"})
    assert reply["message"]["author"] == "agent"
    updates = citizen.updates()
    assert [m["text"] for m in updates["messages"]] == ["您好，补领身份证请带户口簿到派出所。"]
    assert updates["messages"][0]["agent_name"] == "人工客服 张敏（工号1001）"
    assert citizen.updates()["messages"] == []  # nothing twice

    assert agent.conv(citizen.sender, "handback") == {"state": "bot"}
    body = citizen.say("补办身份证要多少钱")
    assert body["state"] == "bot" and body["trace"]["kb"]["service_id"] == "id_card_lost"
    assert "40" in citizen.text


def test_only_one_agent_can_accept(
    stack: Stack, gateway: httpx.Client, agent: Agent, accounts: AccountStore
) -> None:
    other = Agent(stack, gateway, "e2e-agent-b")
    citizen = Citizen(gateway)
    citizen.say("找真人")
    agent.conv(citizen.sender, "accept")
    taken = other.post(f"/api/agent/conversations/{citizen.sender}/accept", status=409)
    assert taken["error"] == "already_taken"
    # the other agent cannot write into it either
    other.post(f"/api/agent/conversations/{citizen.sender}/reply", {"text": "你好"}, status=409)
    agent.conv(citizen.sender, "handback")


def test_transfer_to_another_agent(
    stack: Stack, gateway: httpx.Client, agent: Agent, accounts: AccountStore
) -> None:
    other = Agent(stack, gateway, "e2e-agent-b")
    citizen = Citizen(gateway)
    citizen.say("转人工")
    agent.conv(citizen.sender, "accept")
    offline = agent.post(
        f"/api/agent/conversations/{citizen.sender}/transfer", {"to": "e2e-agent-b"}, 409
    )
    assert offline["error"] == "target_offline"
    other.online()
    try:
        moved = agent.conv(citizen.sender, "transfer", {"to": "e2e-agent-b"})
        assert moved["agent"]["employee_no"] == "1002"
        assert other.event("assigned", sender=citizen.sender)["by"]["username"] == "e2e-agent-a"
        citizen.say("还在吗")
        assert other.event("message", sender=citizen.sender)["message"]["text"] == "还在吗"
        assert any("王强" in m["text"] for m in citizen.updates()["messages"])
        other.conv(citizen.sender, "handback")
    finally:
        other.offline()


def test_stop_waiting_and_emergencies_while_queued(gateway: httpx.Client, agent: Agent) -> None:
    citizen = Citizen(gateway)
    citizen.say("人工客服")
    body = citizen.say("着火了")
    assert body["state"] == "queued" and body["trace"]["emergency"] is True
    assert "119" in citizen.text
    body = citizen.say("不等了")
    assert body["state"] == "bot" and "已取消排队" in citizen.text
    assert all(i["sender"] != citizen.sender for i in agent.get("/api/agent/queue")["items"])


def test_two_unanswered_turns_and_anger_hand_over(gateway: httpx.Client, agent: Agent) -> None:
    citizen = Citizen(gateway)
    first = citizen.say("怎么养多肉植物")
    assert first["trace"]["kb"]["band"] == "none" and first["state"] == "bot"
    second = citizen.say("宇宙飞船票在哪买")
    assert second["trace"]["kb"]["band"] == "none"
    assert second["trace"]["handoff"] is True and second["state"] == "queued"
    assert _queued_sender(agent, citizen.sender)["reason"] == "kb_unanswered"
    citizen.say("不等了")

    upset = Citizen(gateway)
    body = upset.say("你们窗口工作人员态度太差了")
    assert body["trace"]["handoff"] is True and body["state"] == "queued"
    assert "抱歉" in upset.text
    assert _queued_sender(agent, upset.sender)["reason"] == "anger"
    upset.say("不等了")


def test_no_agent_online_offers_a_callback_ticket(
    gateway: httpx.Client, accounts: AccountStore, stack: Stack
) -> None:
    citizen = Citizen(gateway)
    citizen.say("东湖区的公积金租房提取怎么办")
    body = citizen.say("转人工")
    assert body["state"] == "bot" and body["trace"]["handoff"] is True
    assert "都不在线" in citizen.text and "12345" in citizen.text
    citizen.say("登记回电")
    assert "手机号" in citizen.text
    citizen.say("1381234")
    assert "格式不对" in citizen.text
    citizen.say("13812345678")
    number = re.search(r"编号(12345-\d{8}-\d{4})", citizen.text)
    assert number, citizen.text
    assert "138****5678" in citizen.text

    admin = Agent(stack, gateway, "e2e-admin")
    ticket = admin.get(f"/api/tickets/{number.group(1)}")
    assert ticket["source"] == "callback" and ticket["status"] == "派单"
    assert ticket["district"] == "东湖区" and ticket["contact_mobile"] == "138****5678"
    full = admin.post(f"/api/tickets/{number.group(1)}/unmask", {"reason": "回电核对"})
    assert full["contact_mobile"] == "13812345678"
    assert "公积金" in ticket["summary"]


def test_close_with_ticket_rating_and_followup(
    stack: Stack, gateway: httpx.Client, agent: Agent
) -> None:
    citizen = Citizen(gateway)
    citizen.say("我家小区在西山区，物业一直不修电梯")
    citizen.say("转人工")
    agent.conv(citizen.sender, "accept")
    closed = agent.conv(
        citizen.sender,
        "close",
        {"category": "转12345工单", "summary": "西山区某小区电梯长期未修", "ticket": True},
    )
    assert closed["state"] == "closed" and closed["ticket"]["number"].startswith("12345-")
    updates = citizen.updates()
    assert updates["state"] == "closed"
    texts = [m["text"] for m in updates["messages"]]
    assert any(closed["ticket"]["number"] in t for t in texts)
    rating = updates["messages"][-1]
    assert [b["title"] for b in rating["buttons"]] == [
        "非常满意", "满意", "一般", "不满意", "非常不满意",
    ]  # fmt: skip

    citizen.say("不满意")
    assert "哪里做得不好" in citizen.text
    citizen.say("等了太久才有人接")
    assert "已记录" in citizen.text

    admin = Agent(stack, gateway, "e2e-admin")
    followups = admin.get("/api/admin/followups")["items"]
    mine = [f for f in followups if f["rating"]["sender"] == citizen.sender]
    assert mine and mine[0]["status"] == "待处理" and mine[0]["rating"]["score"] == 2
    assert mine[0]["rating"]["comment"] == "等了太久才有人接"
    moved = admin.post(
        f"/api/admin/followups/{mine[0]['id']}/transition",
        {"status": "整改中", "note": "排班调整"},
    )
    assert moved["status"] == "整改中"

    # the ticket's answer and closing reach the citizen, who rates it
    number = closed["ticket"]["number"]
    admin.post(f"/api/tickets/{number}/transition", {"status": "办理"})
    admin.post(
        f"/api/tickets/{number}/transition",
        {"status": "答复", "answer": "已督促物业三日内修复电梯。"},
    )
    assert any("已督促物业" in m["text"] for m in citizen.updates()["messages"])
    admin.post(f"/api/tickets/{number}/transition", {"status": "办结"})
    assert "打分" in citizen.updates()["messages"][-1]["text"]
    citizen.say("5分")
    assert "感谢您的评价" in citizen.text
    assert admin.get(f"/api/tickets/{number}")["status"] == "回访"


def test_gateway_restart_keeps_queue_and_agent(
    stack: Stack, gateway: httpx.Client, accounts: AccountStore
) -> None:
    agent = Agent(stack, gateway, "e2e-agent-a")
    agent.online()
    citizen = Citizen(gateway)
    citizen.say("我要人工")
    assert citizen.last["state"] == "queued"
    agent.offline()

    stack.restart("gateway")
    assert any(i["sender"] == citizen.sender for i in agent.get("/api/agent/queue")["items"])
    agent.online()
    try:
        body = citizen.say("请问还要等多久")
        assert body["state"] == "queued"
        agent.conv(citizen.sender, "accept")
    finally:
        agent.offline()

    stack.restart("gateway")
    body = citizen.say("你好，我还在")
    assert body["state"] == "agent" and body["replies"] == []
    agent.conv(citizen.sender, "reply", {"text": "我在，请讲。"})
    assert citizen.updates()["messages"][-1]["text"] == "我在，请讲。"
    history = agent.conv(citizen.sender)["messages"]
    assert [m["text"] for m in history if m["author"] == "citizen"][-2:] == [
        "请问还要等多久",
        "你好，我还在",
    ]
    agent.conv(citizen.sender, "handback")


def test_authorisation(stack: Stack, gateway: httpx.Client, accounts: AccountStore) -> None:
    citizen = Citizen(gateway)
    citizen.say("你好")
    # agent routes need a session
    for method, path in (
        ("GET", "/api/agent/queue"),
        ("GET", f"/api/agent/conversations/{citizen.sender}"),
        ("POST", f"/api/agent/conversations/{citizen.sender}/accept"),
        ("GET", "/api/tickets"),
        ("GET", "/api/admin/followups"),
        ("GET", "/api/admin/audit"),
    ):
        response = gateway.request(method, path)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "not_authenticated"
    # an agent is not an admin
    agent = Agent(stack, gateway, "e2e-agent-a")
    response = gateway.get("/api/admin/audit", headers=agent.headers)
    assert response.status_code == 403
    # a citizen reads only their own conversation
    stranger = Citizen(gateway)
    response = gateway.get(
        "/api/chat/updates",
        params={"sender": citizen.sender},
        headers={"X-Yishi-Citizen-Token": stranger.token},
    )
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert gateway.get("/api/chat/updates", params={"sender": citizen.sender}).status_code == 403
    # the WebSocket refuses strangers
    url = stack.config.gateway_url.replace("http://", "ws://") + "/api/agent/ws"
    with connect(url, open_timeout=10) as socket:
        with pytest.raises(Exception):  # noqa: B017 - closed with 4401 before any event
            socket.recv(timeout=5)
        assert socket.close_code == 4401
    # a cookie session needs the CSRF header to change anything
    login = gateway.post("/api/agent/login", json={"username": "e2e-agent-b", "password": PASSWORD})
    cookies = {"yishi_staff": login.cookies["yishi_staff"]}
    with httpx.Client(base_url=gateway.base_url, cookies=cookies, trust_env=False) as browser:
        assert browser.get("/api/agent/me").json()["agent"]["employee_no"] == "1002"
        refused = browser.post(f"/api/agent/conversations/{citizen.sender}/accept")
        assert refused.status_code == 403 and refused.json()["error"] == "csrf"


def test_unmask_needs_a_reason_and_is_audited(
    stack: Stack, gateway: httpx.Client, agent: Agent
) -> None:
    citizen = Citizen(gateway)
    citizen.say("我要预约补办身份证")
    citizen.say("张三")
    citizen.say("110101199003071233")
    citizen.say("转人工")
    assert citizen.last["state"] == "queued", citizen.last
    agent.conv(citizen.sender, "accept")
    slots = {s["name"]: s["value"] for s in agent.conv(citizen.sender)["slots"]}
    assert slots.get("id_number") and "110101199003071233" not in slots["id_number"]
    refused = agent.post(
        f"/api/agent/conversations/{citizen.sender}/unmask", {"reason": ""}, status=422
    )
    assert refused["error"] == "reason_required"
    raw = agent.conv(citizen.sender, "unmask", {"reason": "核实补证人身份"})["slots"]
    assert {s["name"]: s["value"] for s in raw}["id_number"] == "110101199003071233"
    admin = Agent(stack, gateway, "e2e-admin")
    entries = admin.get("/api/admin/audit?action=unmask")["items"]
    assert any(
        e["target"] == citizen.sender
        and e["reason"] == "核实补证人身份"
        and e["actor"] == "e2e-agent-a"
        for e in entries
    )
    agent.conv(citizen.sender, "handback")


def test_login_is_throttled(gateway: httpx.Client, accounts: AccountStore) -> None:
    name = f"nobody-{uuid.uuid4().hex[:6]}"
    codes = [
        gateway.post("/api/agent/login", json={"username": name, "password": "x"}).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
