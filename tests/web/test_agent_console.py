"""The 12345 agent console and the citizen web chat together: two browser contexts, one
citizen and one agent, on the real stack (Rasa, action server, gateway)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ops.paths import ROOT
from ops.stack import Stack

pytestmark = pytest.mark.slow

AGENT_USERNAME = "agent1001"
AGENT_PASSWORD = "demo-agent-pass-1001"
AGENT_NAME = "张敏"
AGENT_NO = "1001"
# The citizen page polls every 2 s while queued or served, and the first knowledge-base search
# of a fresh gateway loads the embedding model: leave room for a slow machine.
WAIT_MS = 30_000
AGENT_REPLY = "您好，我是人工客服张敏。护照在出入境接待大厅办理，费用120元。"


def database_url(stack: Stack) -> str:
    """The gateway's database, as ops.stack gives it to the gateway process."""
    return f"sqlite:///{stack.config.var_dir / 'yishi.db'}"


@pytest.fixture(scope="module")
def agent_account(stack: Stack) -> str:
    result = subprocess.run(
        [
            sys.executable, "-m", "channels.admin", "create-agent",
            "--username", AGENT_USERNAME, "--display-name", AGENT_NAME,
            "--employee-no", AGENT_NO, "--role", "agent", "--password-stdin",
        ],
        input=AGENT_PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "YISHI_DATABASE_URL": database_url(stack)},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"create-agent failed:\n{result.stdout}\n{result.stderr}"
    return AGENT_USERNAME


@pytest.fixture
def citizen(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    opened = context.new_page()
    opened.goto(f"{stack.config.gateway_url}/")
    yield opened
    context.close()


@pytest.fixture
def agent(browser: Browser, stack: Stack, agent_account: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    opened = context.new_page()
    opened.goto(f"{stack.config.gateway_url}/agent")
    yield opened
    context.close()


def log_in(agent: Page) -> None:
    expect(agent).to_have_title(re.compile("坐席工作台"))
    agent.fill("#login-username", AGENT_USERNAME)
    agent.fill("#login-password", "wrong-password")
    agent.click("#login-submit")
    expect(agent.locator("#login-error")).not_to_be_empty()
    agent.fill("#login-password", AGENT_PASSWORD)
    agent.click("#login-submit")
    expect(agent.locator("#me")).to_contain_text(AGENT_NAME)
    expect(agent.locator("#me")).to_contain_text(AGENT_NO)
    expect(agent.locator("#ws-status")).to_have_attribute("data-state", "online")


def say(citizen: Page, text: str) -> None:
    citizen.fill("#chat-input", text)
    citizen.click("#chat-send")


def sender_of(citizen: Page) -> str:
    sender = citizen.evaluate("() => localStorage.getItem('yishi.sender')")
    assert isinstance(sender, str) and sender.startswith("web:"), sender
    return sender


def ask_for_agent(citizen: Page, agent: Page, sender: str) -> float:
    """Citizen asks for a person; returns seconds until the agent sees the queue item."""
    item = agent.locator(f'#queue .queue-item[data-sender="{sender}"]')
    started = time.monotonic()
    say(citizen, "转人工")
    expect(item).to_be_visible(timeout=WAIT_MS)
    elapsed = time.monotonic() - started
    bar = citizen.locator("#state-bar")
    expect(bar).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
    expect(bar).to_contain_text("正在为您转接人工客服")
    expect(bar.locator("#state-cancel")).to_be_visible()
    return elapsed


def accept(agent: Page, sender: str) -> None:
    agent.locator(f'#queue .queue-item[data-sender="{sender}"] .accept').click()
    mine = agent.locator(f'#my-conversations .conv-item[data-sender="{sender}"]')
    expect(mine).to_be_visible(timeout=WAIT_MS)
    expect(agent.locator(f'#queue .queue-item[data-sender="{sender}"]')).to_have_count(0)
    expect(agent.locator("#reply-input")).to_be_enabled()


def test_agent_serves_hands_back_and_closes(citizen: Page, agent: Page, tmp_path: Path) -> None:
    log_in(agent)

    # A question the bot answers first, so the console has a trace and suggestions to show.
    say(citizen, "办护照要多少钱")
    expect(citizen.locator(".msg.bot").last).to_contain_text("120元", timeout=WAIT_MS)
    sender = sender_of(citizen)

    elapsed = ask_for_agent(citizen, agent, sender)
    sys.stderr.write(f"\n转人工 → queue item on the agent's screen: {elapsed:.2f} s\n")
    (tmp_path / "handoff_latency.txt").write_text(f"{elapsed:.3f}\n")
    assert elapsed < WAIT_MS / 1000, f"queue item took {elapsed:.2f} s to appear"

    item = agent.locator(f'#queue .queue-item[data-sender="{sender}"]')
    expect(item.locator(".wait")).to_contain_text("已等待")
    accept(agent, sender)

    transcript = agent.locator("#transcript")
    expect(
        transcript.locator('.msg[data-author="citizen"]', has_text="办护照要多少钱")
    ).to_be_visible()
    expect(transcript.locator('.msg[data-author="citizen"]', has_text="转人工")).to_be_visible()
    expect(transcript.locator('.msg[data-author="bot"] .chip').first).to_be_visible()
    expect(agent.locator("#suggestions .suggestion").first).to_be_visible()

    # Suggestions and quick replies go into the reply box; the agent sends its own text.
    reply = agent.locator("#reply-input")
    agent.locator("#suggestions .suggestion .insert").first.click()
    expect(reply).not_to_have_value("")
    reply.fill("")
    agent.locator("#quick-replies .quick-reply").first.click()
    expect(reply).not_to_have_value("")
    reply.fill(AGENT_REPLY)
    reply.press("Control+Enter")
    expect(transcript.locator('.msg[data-author="agent"]', has_text=AGENT_REPLY)).to_be_visible()
    expect(reply).to_have_value("")
    agent.screenshot(path=str(tmp_path / "agent.png"))

    # The citizen sees the answer with the agent's name, and who is serving them.
    answer = citizen.locator(".row-agent", has_text=AGENT_REPLY)
    expect(answer).to_be_visible(timeout=WAIT_MS)
    expect(answer.locator(".agent-name")).to_contain_text(AGENT_NAME)
    expect(answer.locator(".agent-name")).to_contain_text(AGENT_NO)
    bar = citizen.locator("#state-bar")
    expect(bar).to_have_attribute("data-state", "agent", timeout=WAIT_MS)
    expect(bar).to_contain_text(f"人工客服 {AGENT_NAME}")
    citizen.screenshot(path=str(tmp_path / "citizen.png"))

    # Back to the bot: the citizen's status bar goes away.
    agent.click("#handback")
    expect(agent.locator("#reply-input")).to_be_disabled()
    expect(bar).to_be_hidden(timeout=WAIT_MS)

    # A second conversation: the agent closes it and the citizen is asked for a rating.
    ask_for_agent(citizen, agent, sender)
    accept(agent, sender)
    agent.click("#close-open")
    dialog = agent.locator("#close-dialog")
    expect(dialog).to_be_visible()
    agent.locator("#close-category").select_option(index=1)
    agent.fill("#close-summary", "市民咨询护照办理费用，已解答。")
    agent.click("#close-submit")
    expect(dialog).to_be_hidden()
    expect(agent.locator("#reply-input")).to_be_disabled()

    rating = citizen.locator(".reply-buttons").filter(
        has=citizen.get_by_role("button", name="非常满意", exact=True)
    )
    expect(rating.last).to_be_visible(timeout=WAIT_MS)
    expect(rating.last.locator("button")).to_have_count(5)
    expect(bar).to_be_hidden(timeout=WAIT_MS)
    rating.last.get_by_role("button", name="非常满意", exact=True).click()
    expect(citizen.locator(".msg.user").last).to_have_text("非常满意")
    expect(citizen.locator(".msg").last).to_contain_text(re.compile("感谢|谢谢"), timeout=WAIT_MS)
